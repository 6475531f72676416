"""`homesync user ...`: accounts from the terminal, with exit codes scripts can rely on."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from argon2.exceptions import HashingError

from homesync.errors import InvalidCredentials, Unauthorized
from homesync.server.first_admin import INITIAL_PASSWORD_FILE, announce_first_admin
from homesync.services.container import Services
from homesync.store import users
from tests.cli.conftest import Cli
from tests.helpers import PASSWORD


def test_add_then_list(cli: Cli) -> None:
    result = cli.add_user("alice@example.com", "--name", "Alice Liddell", "--quota", "10GiB")
    assert "Created account alice@example.com" in result.stdout
    cli.add_user("root@example.com", "--admin")
    listed = {u["email"]: u for u in cli.json("user", "list")}
    alice = listed["alice@example.com"]
    assert alice["name"] == "Alice Liddell"
    assert alice["quotaBytes"] == 10 * 2**30
    assert alice["usedBytes"] == 0
    assert alice["isAdmin"] is False
    assert alice["locked"] is False
    assert alice["id"].startswith("user_")
    assert alice["createdAt"].endswith("Z")
    assert listed["root@example.com"]["isAdmin"] is True
    assert listed["root@example.com"]["name"] == "root"


def test_add_says_when_it_made_a_new_data_dir(cli: Cli) -> None:
    # `user add` without the server's --config would otherwise quietly make a second,
    # empty data dir (the default one) that the running server never sees.
    first = cli.add_user("alice@example.com")
    assert f"new data dir {cli.data_dir}" in " ".join(first.stderr.split())
    assert "--config" in first.stderr
    second = cli.add_user("bob@example.com")
    assert "new data dir" not in second.stderr


def test_list_table_and_empty(cli: Cli) -> None:
    cli.data_dir.mkdir()
    assert "No accounts yet" in cli("user", "list").stdout
    cli.add_user("alice@example.com", "--name", "Alice")
    table = cli("user", "list").stdout
    assert "alice@example.com" in table and "unlimited" in table


def test_the_new_password_signs_in(cli: Cli) -> None:
    cli.add_user()
    row = cli.with_services(lambda s: s.accounts.authenticate("alice@example.com", PASSWORD, "t"))
    assert row["email"] == "alice@example.com"


def test_duplicate_account_exits_4(cli: Cli) -> None:
    cli.add_user("alice@example.com")
    result = cli("user", "add", "ALICE@example.com", "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 4
    assert "already exists" in result.stderr
    assert len(cli.json("user", "list")) == 1


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (["not-an-email"], PASSWORD, "Not a valid email address"),
        (["a b@example.com"], PASSWORD, "Not a valid email address"),
        (["bob@example.com"], "short", "at least 8 characters"),
        (["bob@example.com"], "", "no password on standard input"),
        (["bob@example.com", "--quota", "lots"], PASSWORD, "bad quota 'lots'"),
        (["bob@example.com", "--quota", "5 parsecs"], PASSWORD, "bad quota"),
        (["bob@example.com", "--quota", "99999999999999999999TiB"], PASSWORD, "too large"),
        # Names were checked only once the data dir (database, key) had been made.
        (["bob@example.com", "--name", "x" * 201], PASSWORD, "Name must have 1 to 200"),
        (["bob@example.com", "--name", "   "], PASSWORD, "Name must have 1 to 200"),
    ],
)
def test_bad_input_exits_2_and_creates_nothing(cli: Cli, args: list[str], stdin: str,
                                               says: str) -> None:
    result = cli("user", "add", *args, "--password-stdin", input=stdin + "\n")
    assert result.exit_code == 2, result.output
    assert says in result.stderr
    assert "Traceback" not in result.output
    # Not even the data dir: a mistyped --data-dir with a typo'd email makes nothing.
    assert not cli.data_dir.exists()


def test_a_bad_push_setting_stops_add_before_it_makes_a_data_dir(cli: Cli) -> None:
    # Push settings were checked only as the services opened: after a new data dir had
    # been given its database and key.
    result = cli("user", "add", "bob@example.com", "--password-stdin", input=PASSWORD + "\n",
                 env={"HOMESYNC_NOTIFICATIONS_NTFY_SERVER": "ntfy.lan"})
    assert result.exit_code == 2, result.output
    assert "configuration: notifications.ntfy_server: not an http(s) URL: 'ntfy.lan'" \
        in result.stderr
    assert not cli.data_dir.exists()


def test_an_argon2_cost_the_machine_cannot_give_is_a_configuration_error(
        cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    # As argon2 answers an auth.argon2_memory_kib beyond the machine's memory (a real one
    # could have the kernel's OOM killer answer instead, so it is simulated).
    cli.add_user()

    def no_memory(self: PasswordHasher, password: str, **kw: object) -> str:
        raise HashingError("Memory allocation error")

    monkeypatch.setattr(PasswordHasher, "hash", no_memory)
    result = cli("user", "add", "bob@example.com", "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 2, result.output
    assert ("error: configuration: cannot hash a password with auth.argon2_memory_kib = 8,"
            " argon2_time_cost = 1, argon2_parallelism = 1: Memory allocation error") \
        in " ".join(result.stderr.split())
    result = cli("user", "passwd", "alice@example.com", "--password-stdin",
                 input="another long password\n")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    monkeypatch.undo()
    assert [u["email"] for u in cli.json("user", "list")] == ["alice@example.com"]
    cli.with_services(lambda s: s.accounts.authenticate("alice@example.com", PASSWORD, "t"))


def test_no_terminal_and_no_password_stdin_is_refused(cli: Cli) -> None:
    result = cli("user", "add", "bob@example.com")
    assert result.exit_code == 2
    assert "--password-stdin" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["user", "passwd", "nobody@example.com", "--password-stdin"],
        ["user", "quota", "nobody@example.com", "1GiB"],
        ["user", "unlock", "nobody@example.com"],
        ["user", "remove", "nobody@example.com", "--yes"],
    ],
)
def test_unknown_account_exits_3(cli: Cli, args: list[str]) -> None:
    cli.add_user()
    result = cli(*args, input="another password\n")
    assert result.exit_code == 3, result.output
    assert "No account nobody@example.com" in result.stderr


def test_passwd_changes_the_password_and_signs_devices_out(cli: Cli) -> None:
    cli.add_user()
    signed_in = cli.sign_in()
    result = cli("user", "passwd", "alice@example.com", "--password-stdin",
                 input="a brand new password\n")
    assert result.exit_code == 0, result.output
    with pytest.raises(Unauthorized):
        cli.with_services(lambda s: s.sessions.principal(signed_in.tokens.access_token))
    with pytest.raises(InvalidCredentials):
        cli.with_services(lambda s: s.accounts.authenticate("alice@example.com", PASSWORD, "t"))
    cli.with_services(lambda s: s.accounts.authenticate("alice@example.com",
                                                        "a brand new password", "t"))


def test_passwd_beside_a_damaged_first_start_password_file(cli: Cli) -> None:
    # Not the account's (unreadable as text): left alone, and no traceback after the change.
    cli.add_user()
    saved = cli.data_dir / "initial-admin-password.txt"
    saved.write_bytes(b"\xff\xfe not text\n")
    result = cli("user", "passwd", "alice@example.com", "--password-stdin",
                 input="another long password\n")
    assert result.exit_code == 0, result.output
    assert saved.read_bytes() == b"\xff\xfe not text\n"


def test_passwd_rejects_a_short_password_and_keeps_the_old(cli: Cli) -> None:
    cli.add_user()
    result = cli("user", "passwd", "alice@example.com", "--password-stdin", input="short\n")
    assert result.exit_code == 2
    cli.with_services(lambda s: s.accounts.authenticate("alice@example.com", PASSWORD, "t"))


@pytest.mark.parametrize(("given", "stored"), [("2GiB", 2 * 2**30), ("500MB", 500 * 10**6),
                                               ("0", 0), ("unlimited", 0), ("1 TiB", 2**40)])
def test_quota(cli: Cli, given: str, stored: int) -> None:
    cli.add_user("alice@example.com", "--quota", "1GiB")
    result = cli("user", "quota", "alice@example.com", given)
    assert result.exit_code == 0, result.output
    assert cli.json("user", "list")[0]["quotaBytes"] == stored


def test_the_quota_help_says_0_is_unlimited(cli: Cli) -> None:
    # "0 for none" read as "no storage at all"; it is the opposite.
    for command in (["user", "quota"], ["user", "add"]):
        text = " ".join(cli(*command, "--help", data_dir=False).stdout.split())
        assert "0 = unlimited" in text or "0 or unlimited: no limit" in text, command


@pytest.mark.parametrize("given", ["much", "10XB", "1e99", "9223372036854775808",
                                   "99999999999999999999TiB"])
def test_bad_quota_exits_2_and_keeps_the_old_one(cli: Cli, given: str) -> None:
    cli.add_user("alice@example.com", "--quota", "1GiB")
    result = cli("user", "quota", "alice@example.com", given)
    assert result.exit_code == 2, result.output
    assert f"bad quota {given!r}" in result.stderr
    assert cli.json("user", "list")[0]["quotaBytes"] == 2**30


def test_unlock(cli: Cli) -> None:
    cli.add_user()

    async def lock(services: Services) -> None:
        async with services.db.transaction() as tx:
            row = await users.by_email(tx, "alice@example.com")
            await users.set_lock(tx, row["id"], True)

    cli.with_services(lock)
    assert cli.json("user", "list")[0]["locked"] is True
    assert "locked" in cli("user", "list").stdout
    result = cli("user", "unlock", "alice@example.com")
    assert result.exit_code == 0, result.output
    assert cli.json("user", "list")[0]["locked"] is False
    cli.with_services(lambda s: s.accounts.authenticate("alice@example.com", PASSWORD, "t"))


def test_remove(cli: Cli) -> None:
    cli.add_user("alice@example.com")
    cli.add_user("bob@example.com")
    refused = cli("user", "remove", "alice@example.com")
    assert refused.exit_code == 2
    assert "--yes" in refused.stderr
    assert len(cli.json("user", "list")) == 2
    result = cli("user", "remove", "alice@example.com", "--yes")
    assert result.exit_code == 0, result.output
    assert [u["email"] for u in cli.json("user", "list")] == ["bob@example.com"]


def test_removing_the_first_admin_forgets_its_saved_password(
        cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    # Each start then said "choose your own with: homesync user passwd admin@localhost",
    # which could only answer "No account", and the file kept a password of nobody's.
    cli.with_services(announce_first_admin)  # the first start
    saved = cli.data_dir / INITIAL_PASSWORD_FILE
    assert saved.exists()
    cli.add_user("bob@example.com")
    result = cli("user", "remove", "admin@localhost", "--yes")
    assert result.exit_code == 0, result.output
    assert not saved.exists()
    capsys.readouterr()
    cli.with_services(announce_first_admin)  # the next start
    assert "admin@localhost" not in capsys.readouterr().out


def test_a_start_drops_the_saved_password_of_an_account_removed_before(
        cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    cli.add_user("bob@example.com")
    saved = cli.data_dir / INITIAL_PASSWORD_FILE
    saved.write_text("admin@localhost\nold-first-password\n", encoding="utf-8")
    cli.with_services(announce_first_admin)
    assert "admin@localhost" not in capsys.readouterr().out
    assert not saved.exists()
    # The first admin's own, still there, is still pointed at.
    cli.add_user("admin@localhost")
    saved.write_text("admin@localhost\nold-first-password\n", encoding="utf-8")
    cli.with_services(announce_first_admin)
    assert "choose your own with: homesync user passwd admin@localhost" \
        in capsys.readouterr().out.replace("\n", " ")
    assert saved.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["user", "passwd", "user_bob@example.com", "--password-stdin"],
        ["user", "quota", "user_bob@example.com", "1GiB"],
        ["user", "unlock", "user_bob@example.com"],
        ["device", "list", "user_bob@example.com"],
        ["user", "remove", "user_bob@example.com", "--yes"],
    ],
)
def test_an_email_that_starts_like_an_account_id_is_found(cli: Cli, args: list[str]) -> None:
    # Account ids are "user_…" too, but never hold an "@": this is an email.
    cli.add_user("user_bob@example.com")
    result = cli(*args, input="a brand new password\n")
    assert result.exit_code == 0, result.output


def test_an_email_is_found_as_sign_in_finds_it(cli: Cli) -> None:
    # Stored with its domain lower-cased (ÉXAMPLE → éxample), which NOCASE alone does not
    # fold back: the commands normalise the email the way sign-in does.
    cli.add_user("bob@ÉXAMPLE.com")
    result = cli("user", "quota", "bob@ÉXAMPLE.com", "1GiB")
    assert result.exit_code == 0, result.output
    cli.with_services(lambda s: s.accounts.authenticate("bob@ÉXAMPLE.com", PASSWORD, "t"))


def test_sizes_in_the_list_roll_over_to_the_next_unit(cli: Cli) -> None:
    # 1 048 575 bytes rounds to 1024.0 KiB: written "1.0 MiB", as the server's texts do.
    cli.add_user("alice@example.com", "--quota", "1048575B")
    table = " ".join(cli("user", "list").stdout.split())
    assert "1.0 MiB" in table and "1024.0 KiB" not in table
