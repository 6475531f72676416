"""`homesync device list|revoke`."""

from __future__ import annotations

import pytest

from homesync.errors import InvalidRefreshToken, Unauthorized
from homesync.services.container import Services
from tests.cli.conftest import Cli
from tests.cli.test_names_printed_as_text import flat


@pytest.fixture
def two_users(cli: Cli) -> Cli:
    cli.add_user("alice@example.com", "--name", "Alice Liddell")
    cli.add_user("bob@example.com", "--name", "Bob")
    return cli


def test_list_everyone_and_one_account(two_users: Cli) -> None:
    cli = two_users
    assert cli.json("device", "list") == []
    assert "No devices." in cli("device", "list").stdout
    phone = cli.sign_in("alice@example.com", "phone-1", "Pixel 7")
    cli.sign_in("alice@example.com", "tablet-1", "Galaxy Tab")
    cli.sign_in("bob@example.com", "phone-9", "iPhone 15")

    everyone = cli.json("device", "list")
    assert len(everyone) == 3
    alices = cli.json("device", "list", "alice@example.com")
    assert {d["name"] for d in alices} == {"Alice's Pixel 7", "Alice's Galaxy Tab"}
    first = next(d for d in alices if d["id"] == phone.device["id"])
    assert first["email"] == "alice@example.com"
    assert first["userId"] == phone.user["id"]
    assert (first["platform"], first["model"], first["osVersion"], first["appVersion"]) == \
        ("android", "Pixel 7", "14", "1.0")
    assert first["registeredAt"].endswith("Z")
    assert first["lastSyncAt"] is None
    assert first["pushEnabled"] is False

    table = cli("device", "list", "bob@example.com").stdout
    assert "Bob's iPhone 15" in table and "Alice" not in table


def test_list_of_one_account_is_that_account_only(cli: Cli) -> None:
    # "Ärger@…" and "ärger@…" are two accounts (emails match without case for A-Z only).
    cli.add_user("Ärger@example.com")
    cli.add_user("ärger@example.com")
    upper = cli.sign_in("Ärger@example.com", "phone-1", "Pixel 7")
    lower = cli.sign_in("ärger@example.com", "phone-2", "Pixel 8")
    assert [d["id"] for d in cli.json("device", "list", "Ärger@example.com")] == [
        upper.device["id"]]
    assert [d["id"] for d in cli.json("device", "list", "ärger@example.com")] == [
        lower.device["id"]]
    assert [d["id"] for d in cli.json("device", "list", upper.user["id"])] == [
        upper.device["id"]]


def test_list_of_an_unknown_account_exits_3(two_users: Cli) -> None:
    result = two_users("device", "list", "nobody@example.com")
    assert result.exit_code == 3
    assert "No account nobody@example.com" in result.stderr


def test_revoke_kills_the_tokens_and_spares_the_others(two_users: Cli) -> None:
    cli = two_users
    phone = cli.sign_in("alice@example.com", "phone-1")
    tablet = cli.sign_in("alice@example.com", "tablet-1")
    result = cli("device", "revoke", phone.device["id"])
    assert result.exit_code == 0, result.output
    assert "of alice@example.com" in result.stdout

    with pytest.raises(Unauthorized):
        cli.with_services(lambda s: s.sessions.principal(phone.tokens.access_token))
    with pytest.raises(InvalidRefreshToken):
        cli.with_services(lambda s: s.sessions.refresh(phone.tokens.refresh_token, "phone-1"))
    still = cli.with_services(lambda s: s.sessions.principal(tablet.tokens.access_token))
    assert still.device_id == tablet.device["id"]
    assert [d["id"] for d in cli.json("device", "list")] == [tablet.device["id"]]


def test_revoke_unknown_or_already_revoked_exits_3(two_users: Cli) -> None:
    cli = two_users
    assert cli("device", "revoke", "device_nope").exit_code == 3
    phone = cli.sign_in("alice@example.com", "phone-1")
    assert cli("device", "revoke", phone.device["id"]).exit_code == 0
    again = cli("device", "revoke", phone.device["id"])
    assert again.exit_code == 3
    assert "No device" in again.stderr


def test_names_the_app_chose_are_printed_as_they_are(two_users: Cli) -> None:
    # The model is the app's to say: as Rich markup, "[/]" made `device list` (everyone's
    # devices, the admin's way to find one to revoke) crash, "[red]" restyled the table.
    cli = two_users
    model = "Pixel [/] [red]7 :smile:"
    phone = cli.sign_in("alice@example.com", "phone-1", model)
    listed = cli("device", "list")
    assert listed.exit_code == 0, listed.output
    assert f"Alice's {model}" in listed.stdout
    revoked = cli("device", "revoke", phone.device["id"])
    assert revoked.exit_code == 0, revoked.output
    assert f"Revoked Alice's {model} (" in revoked.stdout


def test_control_characters_in_names_are_shown_not_sent_to_the_terminal(cli: Cli) -> None:
    # An escape sequence in a name would be run by the admin's terminal: clear the screen,
    # retitle the window, hide what follows. Sign-in refuses control characters in
    # deviceInfo and emails now, but accounts and devices registered before kept them.
    cli.add_user("eve@example.com")
    phone = cli.sign_in("eve@example.com", "phone-1", "Pixel 7")
    model = "Pixel\x1b[2J 7\nRevoked everything\x9b31m"

    async def registered_before_the_check(s: Services) -> None:
        async with s.db.transaction() as tx:
            await tx.execute("UPDATE devices SET name = ?, model = ?, app_version = ?"
                             " WHERE id = ?", (f"Eve's {model}", model, "1.0\x00",
                                               phone.device["id"]))
            await tx.execute("UPDATE users SET email = ?, name = ? WHERE email = ?",
                             ("eve\x1b]0;owned\x07@example.com", "Eve\x7f\x9d",
                              "eve@example.com"))

    cli.with_services(registered_before_the_check)
    shown_email = "eve\\x1b]0;owned\\x07@example.com"
    shown_name = "Eve's Pixel\\x1b[2J 7\\nRevoked everything\\x9b31m"
    for result in (cli("device", "list"), cli("user", "list")):
        assert result.exit_code == 0, result.output
        assert not any(ch in result.stdout for ch in "\x1b\x07\x9b\x00"), repr(result.stdout)
        assert shown_email in flat(result.stdout)
    assert shown_name.replace(" ", "") in flat(cli("device", "list").stdout)
    assert "1.0\\x00" in cli("device", "list").stdout
    # --json keeps the text as it is, JSON-escaped: DEL and C1 too (\u009b), which JSON
    # itself would let through raw to the terminal.
    for command in ("device", "user"):
        listed = cli(command, "list", "--json")
        assert listed.exit_code == 0, listed.output
        assert not any(ch in listed.stdout for ch in "\x1b\x07\x9b\x00\x7f\x9d"), \
            repr(listed.stdout)
    assert "\\u009b31m" in cli("device", "list", "--json").stdout
    assert cli.json("device", "list")[0]["name"] == f"Eve's {model}"
    [user] = cli.json("user", "list")
    assert (user["email"], user["name"]) == ("eve\x1b]0;owned\x07@example.com", "Eve\x7f\x9d")

    revoked = cli("device", "revoke", phone.device["id"])
    assert revoked.exit_code == 0, revoked.output
    assert not any(ch in revoked.stdout for ch in "\x1b\x07\x9b"), repr(revoked.stdout)
    assert f"Revoked {shown_name} ({phone.device['id']}) of {shown_email};" in revoked.stdout


def test_direction_overrides_in_names_are_shown_not_sent_to_the_terminal(cli: Cli) -> None:
    # U+202E turns the rest of a line around: a phone naming itself "Pixel\u202e..." would
    # make the admin's device list read another name. Sign-in accepts it (notification
    # texts drop it), so the command line writes it out, in tables and in --json.
    cli.add_user("eve@example.com")
    phone = cli.sign_in("eve@example.com", "phone-1", "Pixel\u202e7 ledoM\u2066x\u2069")
    assert phone.device["name"] == "eve's Pixel\u202e7 ledoM\u2066x\u2069"
    table = cli("device", "list")
    listed = cli("device", "list", "--json")
    for result in (table, listed):
        assert result.exit_code == 0, result.output
        assert not any(ch in result.stdout for ch in "\u202e\u2066\u2069"), repr(result.stdout)
    assert "Pixel\\u202e7ledoM\\u2066x\\u2069" in flat(table.stdout)
    assert cli.json("device", "list")[0]["name"] == "eve's Pixel\u202e7 ledoM\u2066x\u2069"
