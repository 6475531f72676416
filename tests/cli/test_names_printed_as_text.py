"""Names a user, an app or the filesystem chose are printed as they are, never as Rich markup.

Read as markup, a stray ``[/]`` in an account's email, a file name or a data dir path made
the command that prints it crash (MarkupError: the admin's whole listing lost), ``[red]``
restyled it, ``[x]`` vanished and ``:smile:`` became an emoji.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from homesync.services.container import Services
from tests.cli.conftest import Cli
from tests.helpers import PASSWORD
from tests.operations.data import chunk_files, flip_byte, photo, put_file

HOSTILE = ["[/]", "[red]x[/red]", "[x]", ":smile:", "\\[/]", "[bold]x\\"]


def flat(output: str) -> str:
    """``output`` without the spaces, line breaks and table borders a long line may get."""
    return "".join(output.split()).replace("│", "").replace("┃", "")


@pytest.fixture(params=HOSTILE)
def hostile(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def cli_in(tmp_path: Path, hostile: str) -> Cli:
    """A CLI whose data dir's path holds the hostile text (a folder may be named anything)."""
    return Cli(data_dir=tmp_path / f"data {hostile} dir", runner=CliRunner())


def test_account_names_and_emails(cli_in: Cli, hostile: str) -> None:
    cli = cli_in
    email = f"eve{hostile}@example.com"  # the email validator allows brackets and colons
    added = cli("user", "add", email, "--name", f"Eve {hostile}", "--password-stdin",
                input=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    assert f"Created account {email} (" in added.stdout
    assert flat(f"new data dir {cli.data_dir}") in flat(added.stderr)

    listed = cli("user", "list")
    assert listed.exit_code == 0, listed.output
    assert email in listed.stdout and f"Eve {hostile}" in listed.stdout

    cli.sign_in(email, "phone-1", f"Pixel {hostile}")
    devices = cli("device", "list")
    assert devices.exit_code == 0, devices.output
    assert f"Eve's Pixel {hostile}" in devices.stdout

    quota = cli("user", "quota", email, "1GiB")
    assert quota.exit_code == 0, quota.output
    assert f"Quota of {email}: 1.0 GiB" in quota.stdout

    passwd = cli("user", "passwd", email, "--password-stdin", input=PASSWORD + "2\n")
    assert passwd.exit_code == 0, passwd.output
    assert f"Password of {email} changed" in passwd.stdout

    unlocked = cli("user", "unlock", email)
    assert unlocked.exit_code == 0, unlocked.output
    assert f"{email} can sign in again." in unlocked.stdout

    # Errors quote what was typed as it was typed.
    bad_quota = cli("user", "quota", email, f"{hostile}GiB")
    assert bad_quota.exit_code == 2, bad_quota.output
    assert f"bad quota {hostile + 'GiB'!r}" in bad_quota.stderr
    unknown = cli("user", "unlock", f"bob{hostile}@example.com")
    assert unknown.exit_code == 3, unknown.output
    assert f"No account bob{hostile}@example.com" in unknown.stderr

    removed = cli("user", "remove", email, "--yes")
    assert removed.exit_code == 0, removed.output
    assert f"Deleted account {email}." in removed.stdout


def test_data_dir_and_backup_paths(cli_in: Cli, hostile: str, tmp_path: Path) -> None:
    cli = cli_in
    init = cli("init")
    assert init.exit_code == 0, init.output
    assert flat(f"Wrote {cli.data_dir / 'homesync.toml'} (data dir {cli.data_dir}).") \
        in flat(init.stdout)

    status = cli("status")
    assert status.exit_code == 0, status.output
    assert flat(f"— {cli.data_dir}") in flat(status.stdout)
    assert flat("never — see `homesync backup create`") in flat(status.stdout)

    dest = tmp_path / f"backup {hostile}"
    backup = cli("backup", "create", str(dest))
    assert backup.exit_code == 0, backup.output
    assert flat(f"→ {dest}") in flat(backup.stdout)
    status = cli("status")
    assert status.exit_code == 0, status.output
    assert flat(f" to {dest} (") in flat(status.stdout)

    listed = cli("backup", "list", str(dest))
    assert listed.exit_code == 0, listed.output
    assert flat(f"Snapshots in {dest}") in flat(listed.stdout)
    pruned = cli("backup", "prune", str(dest), "--keep-last", "1")
    assert pruned.exit_code == 0, pruned.output
    assert flat(f"Prune {dest}") in flat(pruned.stdout)
    restored = cli("backup", "restore", str(dest), "--force")  # into the CLI's data dir
    assert restored.exit_code == 0, restored.output
    assert flat(f"Into {cli.data_dir}") in flat(restored.stdout)
    assert flat(f"moved to {cli.data_dir}") in flat(restored.stdout)


def test_file_names_in_fsck_damage(cli_in: Cli, hostile: str) -> None:
    cli = cli_in
    cli.add_user()
    folder, name = f"/camera {hostile}", f"IMG {hostile}.jpg"

    async def store(s: Services) -> None:
        uid = (await s.accounts.get("alice@example.com")).id
        await put_file(s, uid, folder, name, photo(1, 1000))

    cli.with_services(store)
    [path] = chunk_files(cli.data_dir).values()
    flip_byte(path)
    fsck = cli("fsck")
    assert fsck.exit_code == 1, fsck.output  # 1: damage found, not a crash
    assert f"used by alice@example.com:{folder}/{name}" in fsck.stderr
    assert "DAMAGE FOUND" in fsck.stdout
