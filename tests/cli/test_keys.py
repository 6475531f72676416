"""`homesync keys list|rotate|retire` (A6)."""

from __future__ import annotations

import pytest

from homesync.errors import Unauthorized
from tests.auth_helpers import FrozenClock, header_of
from tests.cli.conftest import Cli

KEY_FIELDS = {"kid", "state", "createdAt", "replacedAt", "retiredAt", "fromServerKey",
              "retireAfter"}


@pytest.fixture
def signed_in(cli: Cli) -> Cli:
    cli.add_user("alice@example.com")
    return cli


def test_a_data_dir_starts_with_the_key_derived_from_server_key(signed_in: Cli) -> None:
    phone = signed_in.sign_in()
    [key] = signed_in.json("keys", "list")
    assert set(key) == KEY_FIELDS  # never the secret
    assert key["kid"] == header_of(phone.tokens.access_token)["kid"]
    assert (key["state"], key["fromServerKey"], key["retiredAt"]) == ("active", True, None)
    table = signed_in("keys", "list").stdout
    assert key["kid"] in table and "active" in table and "derived from server.key" in table


def test_rotate_then_retire_the_previous_key(signed_in: Cli) -> None:
    cli = signed_in
    clock = FrozenClock()
    phone = cli.sign_in()
    k1 = header_of(phone.tokens.access_token)["kid"]

    rotated = cli("keys", "rotate")
    assert rotated.exit_code == 0, rotated.output
    old, new = cli.json("keys", "list")
    assert (old["kid"], old["state"], new["state"]) == (k1, "previous", "active")
    assert new["kid"] in rotated.stdout and f"homesync keys retire {k1}" in rotated.stdout
    assert new["fromServerKey"] is False and old["retireAfter"].endswith("Z")
    # The old token still works; a new sign-in carries the new kid.
    assert cli.with_services(lambda s: s.sessions.principal(phone.tokens.access_token))
    tablet = cli.sign_in(client_id="tablet-1")
    assert header_of(tablet.tokens.access_token)["kid"] == new["kid"]

    # Too soon: the old key's tokens may still be unexpired.
    early = cli("keys", "retire", k1)
    assert early.exit_code == 4
    assert "--force" in early.stderr
    assert cli.json("keys", "list")[0]["state"] == "previous"

    clock.advance(15 * 60 + 30)  # the default TTL plus the leeway
    done = cli("keys", "retire", k1)
    assert done.exit_code == 0, done.output
    assert f"Key {k1} is retired" in done.stdout
    assert [k["state"] for k in cli.json("keys", "list")] == ["retired", "active"]
    with pytest.raises(Unauthorized):
        cli.with_services(lambda s: s.sessions.principal(phone.tokens.access_token))
    # The active key's tokens still work (a new one: the tablet's first one has expired).
    tablet = cli.sign_in(client_id="tablet-1")
    assert cli.with_services(lambda s: s.sessions.principal(tablet.tokens.access_token))


def test_force_retires_a_key_at_once(signed_in: Cli) -> None:
    cli = signed_in
    phone = cli.sign_in()
    k1 = header_of(phone.tokens.access_token)["kid"]
    assert cli("keys", "rotate").exit_code == 0
    assert cli("keys", "retire", k1, "--force").exit_code == 0
    with pytest.raises(Unauthorized):
        cli.with_services(lambda s: s.sessions.principal(phone.tokens.access_token))
    # The refresh token is opaque and unaffected: the device carries on with the new key.
    fresh = cli.with_services(lambda s: s.sessions.refresh(phone.tokens.refresh_token,
                                                           "phone-1"))
    assert header_of(fresh.access_token)["kid"] != k1
    assert cli.with_services(lambda s: s.sessions.principal(fresh.access_token))


def test_the_active_key_cannot_be_retired(signed_in: Cli) -> None:
    [key] = signed_in.json("keys", "list")
    for extra in ((), ("--force",)):
        result = signed_in("keys", "retire", key["kid"], *extra)
        assert result.exit_code == 4
        assert "active key" in result.stderr and "homesync keys rotate" in result.stderr
    assert signed_in.json("keys", "list")[0]["state"] == "active"


def test_retiring_an_unknown_kid_exits_3(signed_in: Cli) -> None:
    result = signed_in("keys", "retire", "k-nope")
    assert result.exit_code == 3
    assert "No signing key 'k-nope'" in result.stderr and "homesync keys list" in result.stderr


def test_keys_commands_need_an_existing_data_dir(cli: Cli) -> None:
    for args in (("keys", "list"), ("keys", "rotate"), ("keys", "retire", "x")):
        result = cli(*args)
        assert result.exit_code == 1
        assert "no data dir" in result.stderr
    assert not cli.data_dir.exists()
