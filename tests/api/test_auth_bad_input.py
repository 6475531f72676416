"""I2: bad bodies on the auth and device routes get a 4xx envelope and change nothing;
every failure, even an unexpected one, is the contract's envelope."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from tests.auth_helpers import concurrent_client, db_state
from tests.helpers import API, Device

JSON = {"Content-Type": "application/json"}
MIB = 1 << 20


@pytest.fixture
async def alice(client, make_user, sign_in) -> Device:
    await make_user()
    device = await sign_in()
    # The first authenticated request records last_active_at; get that out of the way.
    assert (await client.get(f"{API}/devices", headers=device.auth)).status_code == 200
    return device


def routes(device: Device) -> list[tuple[str, str, dict[str, str]]]:
    """(method, path, auth headers) of every route that reads a body."""
    return [
        ("POST", f"{API}/auth/register", {}),
        ("POST", f"{API}/auth/refresh", {}),
        ("PUT", f"{API}/devices/{device.device_id}/settings", device.auth),
    ]


def nested(depth: int) -> bytes:
    return b'{"email":' + b"[" * depth + b"]" * depth + b"}"


BAD_BODIES: list[tuple[str, bytes, dict[str, str], int]] = [
    ("malformed JSON", b'{"email": "a@b.c",', JSON, 400),
    ("not an object", b'"hello"', JSON, 400),
    ("array", b"[1, 2, 3]", JSON, 400),
    ("null", b"null", JSON, 400),
    ("empty body", b"", JSON, 400),
    ("wrong types", b'{"email": 1, "password": true, "refreshToken": [], "autoUpload": "no"}',
     JSON, 400),
    ("deeply nested", nested(100_000), JSON, 400),
    ("deeply nested msgpack", b"\x91" * 100_000, {"Content-Type": "application/msgpack"}, 400),
    ("invalid UTF-8", b'{"email": "\xff\xfe\xfd", "password": "\xc3\x28"}', JSON, 400),
    ("lone surrogate", b'{"email": "\\ud800"}', JSON, 400),
    ("garbage msgpack", b"\xc1\xc1\xc1", {"Content-Type": "application/msgpack"}, 400),
    ("text/plain", b'{"email": "a@b.c"}', {"Content-Type": "text/plain"}, 415),
    ("form", b"email=a%40b.c", {"Content-Type": "application/x-www-form-urlencoded"}, 415),
    ("xml", b"<email/>", {"Content-Type": "application/xml"}, 415),
    ("2 MiB", b'{"email": "' + b"a" * (2 * MIB) + b'"}', JSON, 413),
    ("bad Content-Length", b"{}", {**JSON, "Content-Length": "lots"}, 400),
]


@pytest.mark.parametrize("name, content, headers, status", BAD_BODIES,
                         ids=[case[0] for case in BAD_BODIES])
async def test_bad_bodies_get_a_4xx_envelope_and_change_nothing(
        client, services, alice, name, content, headers, status):
    before = await db_state(services)
    for method, path, auth in routes(alice):
        r = await client.request(method, path, content=content, headers={**auth, **headers})
        assert r.status_code == status, (name, path, r.status_code, r.text[:200])
        body = r.json()
        assert body["success"] is False
        assert set(body["error"]) == {"code", "message", "details"}
        assert body["error"]["message"]
    assert await db_state(services) == before


async def test_a_streamed_body_over_the_limit_is_cut_off(services, alice):
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: Transfer-Encoding chunked
        nonlocal sent
        yield b'{"email": "'
        for _ in range(64):
            sent += 65536
            yield b"a" * 65536
        yield b'"}'

    before = await db_state(services)
    async with concurrent_client(services) as client:  # streams the body as it is read
        r = await client.post(f"{API}/auth/register", content=chunks(), headers=JSON)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert sent <= services.settings.server.max_json_body_bytes + 2 * 65536  # stopped reading
    assert await db_state(services) == before


async def test_unknown_routes_are_a_404_envelope(client):
    for path in ("/nope", f"{API}/nope", f"{API}/devices/x/y/z"):
        r = await client.get(path)
        assert r.status_code == 404
        assert r.json() == {"success": False,
                            "error": {"code": "NOT_FOUND", "message": "Not found", "details": {}}}


async def test_a_wrong_method_is_a_405_envelope(client, alice):
    for method, path in (("GET", f"{API}/auth/register"), ("DELETE", f"{API}/devices"),
                         ("PATCH", f"{API}/auth/refresh")):
        r = await client.request(method, path, headers=alice.auth)
        assert r.status_code == 405, (method, path)
        assert r.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
        assert r.json()["success"] is False


async def test_an_unexpected_exception_is_a_500_envelope_without_internals(
        client, services, alice, monkeypatch, caplog):
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database exploded at /srv/secret/path")

    monkeypatch.setattr(services.devices, "list_for", broken)
    caplog.set_level(logging.ERROR)

    r = await client.get(f"{API}/devices", headers=alice.auth)

    assert r.status_code == 500
    assert r.json() == {"success": False, "error": {"code": "INTERNAL_ERROR",
                                                    "message": "Internal server error",
                                                    "details": {}}}
    for leak in ("Traceback", "RuntimeError", "exploded", "/srv/secret"):
        assert leak not in r.text
    # The operator still gets the whole story in the log.
    assert "exploded" in caplog.text

    packed = await client.get(f"{API}/devices",
                              headers={**alice.auth, "Accept": "application/msgpack"})
    assert packed.status_code == 500
    assert msgspec.msgpack.decode(packed.content)["error"]["code"] == "INTERNAL_ERROR"
