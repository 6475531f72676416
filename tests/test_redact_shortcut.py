"""homesync.logs.redact skips its patterns on lines without trigger words: same answers."""

from __future__ import annotations

import pytest

from homesync.logs import _SECRETS, redact


def redact_every_pattern(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


LINES = [
    "GET /api/mobile/devices 200 1.2ms method=GET path=/api/mobile/devices status=200",
    "Authorization: BEARER abc.def",
    "authorization: Basic dXNlcjpwYXNz",
    "GET /api/mobile/content?exp=1&SIG=deadbeef",
    "/x?Signature=abc&token=def&access_token=ghi",
    '{"Password": "hunter22", "REFRESHTOKEN": "x", "pushtoken": y}',
    "access eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln done",
    "next rt_mobile_AbC123xyz_-9 done",
    "ToKeN=1 BaSiC x",
    # Non-ASCII case folding: (?i) maps the Kelvin sign onto k and long s onto s.
    "/x?to\u212aen=secret",
    "ba\u017fic c2VjcmV0",
    "caf\u00e9 /photos/\u00e9t\u00e9.jpg 200",
]


@pytest.mark.parametrize("line", LINES)
def test_redact_matches_running_every_pattern(line: str) -> None:
    assert redact(line) == redact_every_pattern(line)


def test_lines_with_secrets_are_still_scrubbed() -> None:
    assert "deadbeef" not in redact("GET /api/mobile/content?exp=1&SIG=deadbeef")
    assert "secret" not in redact("/x?to\u212aen=secret")
