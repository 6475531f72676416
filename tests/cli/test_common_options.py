"""Every command takes --data-dir and --config (API.md § CLI), even where they mean nothing."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.core import TyperGroup

from homesync.cli import app
from homesync.services.container import Services
from tests.cli.conftest import FAST_ENV, Cli
from tests.helpers import PASSWORD


def _leaf_commands(cmd: Any, path: str = "homesync") -> dict[str, Any]:
    if not isinstance(cmd, TyperGroup):
        return {path: cmd}
    leaves: dict[str, Any] = {}
    for name, sub in cmd.commands.items():
        leaves |= _leaf_commands(sub, f"{path} {name}")
    return leaves


def test_every_command_takes_data_dir_and_config() -> None:
    commands = _leaf_commands(typer.main.get_command(app))
    assert len(commands) >= 15
    for path, cmd in commands.items():
        options = {opt for param in cmd.params for opt in param.opts}
        assert {"--data-dir", "--config"} <= options, path


def test_backup_list_and_verify_accept_but_do_not_use_them(cli: Cli, tmp_path: Path) -> None:
    """A backup stays checkable when the data dir and its config are gone."""
    cli.add_user()
    dest = tmp_path / "usb" / "homesync"
    assert cli("backup", "create", str(dest)).exit_code == 0
    gone, bad_config = tmp_path / "lost-data-dir", tmp_path / "broken.toml"
    bad_config.write_text("this is [not toml", "utf-8")
    for command in ("list", "verify"):
        result = cli("backup", command, str(dest), "--data-dir", str(gone),
                     "--config", str(bad_config), data_dir=False)
        assert result.exit_code == 0, result.output
    assert not gone.exists()


@pytest.mark.parametrize("command", ["status", "fsck"])
def test_looking_at_a_missing_data_dir_does_not_create_it(cli: Cli, tmp_path: Path,
                                                         command: str) -> None:
    missing = tmp_path / "typo"
    result = cli(command, "--data-dir", str(missing), data_dir=False)
    assert result.exit_code == 1
    assert f"no data dir at {missing}" in result.stderr.replace("\n", "")
    assert not missing.exists()


@pytest.mark.parametrize("command", [["status"], ["user", "list"], ["gc"], ["keys", "list"]])
def test_a_directory_holding_other_things_is_not_made_a_data_dir(cli: Cli, tmp_path: Path,
                                                                 command: list[str]) -> None:
    # --data-dir ~ (a typo, or the wrong variable) must not fill a home directory.
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text("mine")
    result = cli(*command, "--data-dir", str(home), data_dir=False)
    assert result.exit_code == 1
    assert f"{home} is not a homesync data dir" in result.stderr.replace("\n", "")
    assert [p.name for p in home.iterdir()] == ["notes.txt"]


def test_an_empty_directory_or_one_init_made_is_a_data_dir(cli: Cli, tmp_path: Path) -> None:
    empty = tmp_path / "state"  # what systemd's StateDirectory= or init --config F leave
    empty.mkdir()
    assert cli("user", "list", "--data-dir", str(empty), data_dir=False).exit_code == 0
    fresh = tmp_path / "fresh"
    assert cli("init", "--data-dir", str(fresh), data_dir=False).exit_code == 0
    assert cli("status", "--data-dir", str(fresh), data_dir=False).exit_code == 0


@pytest.mark.parametrize("command", [["user", "add", "alice@example.com", "--password-stdin"],
                                     ["init"]])
def test_commands_that_make_a_data_dir_do_not_make_one_among_other_things(
        cli: Cli, tmp_path: Path, command: list[str]) -> None:
    home = tmp_path / "home"  # --data-dir ~, or /srv for /srv/homesync
    home.mkdir()
    (home / "notes.txt").write_text("mine")
    result = cli(*command, "--data-dir", str(home), data_dir=False, input=PASSWORD + "\n")
    assert result.exit_code == 1, result.output
    assert f"{home} is not a homesync data dir" in result.stderr.replace("\n", "")
    assert [p.name for p in home.iterdir()] == ["notes.txt"]


def test_serve_does_not_make_a_data_dir_among_other_things(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text("mine")
    # A real process: serve replaces itself with the server (it would run, not exit).
    done = subprocess.run([sys.executable, "-m", "homesync", "serve", "--data-dir", str(home),
                           "--port", "0"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **FAST_ENV})
    assert done.returncode == 1, done.stderr
    assert f"{home} is not a homesync data dir" in done.stderr
    assert [p.name for p in home.iterdir()] == ["notes.txt"]


def test_a_mount_point_or_a_failed_first_start_is_still_a_data_dir(cli: Cli,
                                                                  tmp_path: Path) -> None:
    disk = tmp_path / "disk"  # a fresh filesystem's root holds lost+found
    (disk / "lost+found").mkdir(parents=True)
    assert cli("user", "list", "--data-dir", str(disk), data_dir=False).exit_code == 0
    assert cli("user", "add", "alice@example.com", "--password-stdin", "--data-dir", str(disk),
               data_dir=False, input=PASSWORD + "\n").exit_code == 0
    failed = tmp_path / "failed"  # a first `serve` that could not listen left its lock
    failed.mkdir()
    (failed / "server.lock").write_text("")
    assert cli("status", "--data-dir", str(failed), data_dir=False).exit_code == 0


# Relative, as typed: mkdir said only "File exists" (a symbolic link to a disk not mounted)
# or "Not a directory", and the looking commands "no data dir".
NOT_A_DIRECTORY = {
    "notes.txt": "cannot use notes.txt as the data dir: it is a file, not a directory",
    "notes.txt/data": "cannot use notes.txt/data as the data dir: notes.txt is a file, "
                      "not a directory",
    "unmounted": "cannot use unmounted as the data dir: it is a symbolic link to "
                 "/nonexistent/disk/homesync, which does not exist",
}


@pytest.fixture
def not_directories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "unmounted").symlink_to("/nonexistent/disk/homesync")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("data_dir", NOT_A_DIRECTORY)
@pytest.mark.parametrize("command", [["user", "add", "alice@example.com", "--password-stdin"],
                                     ["init"], ["status"], ["user", "list"]])
def test_a_data_dir_that_is_not_a_directory_is_named_so(
        cli: Cli, not_directories: Path, data_dir: str, command: list[str]) -> None:
    result = cli(*command, "--data-dir", data_dir, data_dir=False, input=PASSWORD + "\n")
    assert result.exit_code == 1, result.output
    assert NOT_A_DIRECTORY[data_dir] in result.stderr.replace("\n", "")
    assert (not_directories / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("data_dir", NOT_A_DIRECTORY)
def test_serve_on_a_data_dir_that_is_not_a_directory(not_directories: Path,
                                                     data_dir: str) -> None:
    done = subprocess.run([sys.executable, "-m", "homesync", "serve", "--data-dir", data_dir,
                           "--port", "0"], capture_output=True, text=True, timeout=60,
                          cwd=not_directories, env={**os.environ, **FAST_ENV, "COLUMNS": "200"})
    assert done.returncode == 1, done.stderr
    assert NOT_A_DIRECTORY[data_dir] in done.stderr


def test_a_data_dir_that_cannot_be_written_is_named_as_serve_names_it(
        cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    # A read-only mount, say (writing the server key is the first write): the message was
    # Python's "[Errno 30] Read-only file system: '<data dir>/.server.key.1.tmp'".
    cli.add_user()

    async def read_only(settings: Any) -> Services:
        raise OSError(errno.EROFS, "Read-only file system",
                      str(settings.data_path / ".server.key.1.tmp"))

    monkeypatch.setattr(Services, "open", read_only)
    result = cli("status", "--json")
    assert result.exit_code == 1
    said = f"cannot open the data dir {cli.data_dir}: Read-only file system (.server.key.1.tmp)"
    assert json.loads(result.stdout) == {"ok": False, "error": said}
    assert f"error: {said}" in " ".join(result.stderr.split())



def _data_dir_that_lost_its_database(cli: Cli) -> Path:
    """A data dir with a stored file whose database was moved aside (or lost)."""
    assert cli.add_user().exit_code == 0
    chunk = "ab" * 32  # what a stored chunk looks like; its bytes do not matter here
    stored = cli.data_dir / "chunks" / chunk[:2] / chunk[2:4] / chunk
    stored.parent.mkdir(parents=True)
    stored.write_bytes(b"a photo")
    for db in cli.data_dir.glob("homesync.sqlite3*"):
        db.rename(db.with_name(f"moved-aside-{db.name}"))
    return stored


@pytest.mark.parametrize("command", [["user", "list"], ["status"],
                                     ["user", "add", "bob@example.com", "--password-stdin"]])
def test_a_data_dir_whose_database_is_gone_is_not_given_a_new_one(cli: Cli,
                                                                  command: list[str]) -> None:
    # A new, empty database there left every stored file unreachable, and once it knew
    # a chunk of its own (the first upload) gc deleted all the others.
    stored = _data_dir_that_lost_its_database(cli)
    result = cli(*command, input=PASSWORD + "\n")
    assert result.exit_code == 1, result.output
    assert (f"{cli.data_dir} holds stored files (chunks/) but no database (homesync.sqlite3)"
            in result.stderr.replace("\n", "")), result.stderr
    assert not (cli.data_dir / "homesync.sqlite3").exists()
    assert stored.read_bytes() == b"a photo"


def test_serve_does_not_give_a_data_dir_whose_database_is_gone_a_new_one(cli: Cli) -> None:
    _data_dir_that_lost_its_database(cli)
    done = subprocess.run([sys.executable, "-m", "homesync", "serve", "--data-dir",
                           str(cli.data_dir), "--port", "0"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **FAST_ENV})
    assert done.returncode == 1, done.stderr
    assert "holds stored files (chunks/) but no database" in done.stderr
    assert not (cli.data_dir / "homesync.sqlite3").exists()
