"""Control characters (and bidi overrides) in a new email are refused: an email becomes the
account's name and its devices' ("eve\\x1b[2J's Pixel 7"), shown on other phones and in
the admin's terminal. Accounts made before the rule still sign in."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.auth_helpers import row_counts, running
from tests.helpers import API, PASSWORD, device_info, make_settings
from tests.sync.helpers import store

REGISTER = f"{API}/auth/register"

# ESC (an ANSI sequence), NUL, DEL, a C1 control (CSI), a right-to-left override, an isolate.
BAD_EMAILS = ["eve\x1b[2J@example.com", "eve\x00@example.com", "eve\x7f@example.com",
              "eve\x9b2J@example.com", "eve\u202egnp.@example.com", "eve@exa\u2066mple.com"]


def _register(email: str) -> dict[str, object]:
    return {"email": email, "password": PASSWORD, "deviceInfo": device_info("install-1")}


def _refused_for_the_email(r) -> None:  # type: ignore[no-untyped-def]
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and error["details"] == {"field": "email"}


@pytest.mark.parametrize("email", BAD_EMAILS)
async def test_open_sign_up_refuses_control_characters(tmp_path: Path, email: str):
    settings = make_settings(tmp_path / "d", auth={"open_signup": True})
    async with running(settings) as (services, client):
        _refused_for_the_email(await client.post(REGISTER, json=_register(email)))
        assert (await row_counts(services))["users"] == 0
        # Letters of any script are still fine.
        r = await client.post(REGISTER, json=_register("ärger@example.com"))
        assert r.status_code == 201, r.text


async def _made_before_the_rule(services, email: str) -> None:  # type: ignore[no-untyped-def]
    user = await services.accounts.create_user("eve@example.com", PASSWORD, name="Eve")
    async with services.db.transaction() as tx:
        await tx.execute("UPDATE users SET email = ? WHERE id = ?", (email, user.id))


@pytest.mark.parametrize("open_signup", [False, True])
async def test_an_account_made_before_the_rule_still_signs_in(tmp_path: Path, open_signup: bool):
    settings = make_settings(tmp_path / "d", auth={"open_signup": open_signup})
    async with running(settings) as (services, client):
        await _made_before_the_rule(services, "eve\x1b@example.com")
        r = await client.post(REGISTER, json=_register("eve\x1b@example.com"))
        assert r.status_code == 201, r.text
        assert r.json()["user"]["email"] == "eve\x1b@example.com"
        assert (await services.accounts.get("eve\x1b@example.com")).name == "Eve"


@pytest.mark.parametrize("email", BAD_EMAILS[:2])
async def test_sharing_with_such_an_email_is_refused(client, services, make_user, sign_in,
                                                     email):
    await make_user()
    alice = await sign_in()
    file_id = await store(client, alice, b"x", name="x.txt")
    r = await client.post(f"{API}/shares", headers=alice.auth,
                          json={"fileId": file_id, "email": email, "permission": "read"})
    _refused_for_the_email(r)
    row = await services.db.fetchone("SELECT count(*) FROM shares")
    assert row is not None and row[0] == 0

