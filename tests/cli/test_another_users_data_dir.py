"""A data dir that belongs to another user (the service's, run as yourself): the error
says whose it is and how to run as them, not a bare "[Errno 13] Permission denied"."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.cli.conftest import FAST_ENV, Cli
from tests.stranger import homesync_as_a_stranger, skip_unless_a_stranger_can_run

NOBODY = 65534


@pytest.fixture
def strangers_data_dir(cli: Cli) -> Path:
    skip_unless_a_stranger_can_run("to give the data dir to another user")
    cli.add_user()
    # Open to look into, as a hand-made data dir may be; the key and database stay private.
    cli.data_dir.chmod(0o755)
    (cli.data_dir / "homesync.sqlite3").chmod(0o600)
    for path in [cli.data_dir, *cli.data_dir.rglob("*")]:
        os.chown(path, NOBODY, NOBODY)
    return cli.data_dir


def run_as_a_stranger(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **FAST_ENV, "COLUMNS": "300"}
    return homesync_as_a_stranger(*args, env=env, timeout=60)


@pytest.mark.parametrize("command", [["status"], ["user", "list"], ["serve", "--port", "0"]])
def test_the_error_names_the_owner_and_how_to_run_as_them(strangers_data_dir: Path,
                                                         command: list[str]) -> None:
    done = run_as_a_stranger(*command, "--data-dir", str(strangers_data_dir))
    assert done.returncode == 1, done.stderr
    message = " ".join(done.stderr.split())
    assert "Errno" not in message and "Traceback" not in message
    assert f"the data dir {strangers_data_dir}: Permission denied" in message
    assert "it belongs to user nobody: run homesync as that user (sudo -u nobody homesync" \
        in message


@pytest.mark.parametrize("command", [["status"], ["user", "add", "bob@example.com",
                                                  "--password-stdin"]])
def test_a_closed_data_dir_named_by_the_config(strangers_data_dir: Path, tmp_path: Path,
                                              command: list[str]) -> None:
    """What `--config /etc/homesync/homesync.toml` run as yourself meets: a 0700 data dir."""
    strangers_data_dir.chmod(0o700)
    config = tmp_path / "homesync.toml"
    config.write_text(f'data_dir = "{strangers_data_dir}"\n')
    env = {**os.environ, **FAST_ENV, "COLUMNS": "300"}
    done = homesync_as_a_stranger(*command, "--config", config, env=env, timeout=60,
                                  input="correct horse battery\n")
    assert done.returncode == 1, done.stderr
    message = " ".join(done.stderr.split())
    assert "Traceback" not in message
    assert f"the data dir {strangers_data_dir}: Permission denied" in message
    assert "it belongs to user nobody" in message


@pytest.mark.parametrize("command", [["backup", "create"], ["backup", "restore"]])
def test_a_place_of_another_user_outside_the_data_dir_is_named(cli: Cli, tmp_path: Path,
                                                              command: list[str]) -> None:
    """A DEST (or restore target) in another user's directory: the message names that path
    and its owner, not the data dir (which is fine)."""
    skip_unless_a_stranger_can_run("to act as a stranger")
    cli.add_user()
    backup = tmp_path / "backup"
    assert cli("backup", "create", str(backup)).exit_code == 0
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, NOBODY, NOBODY)
    target = theirs / "new"
    args = [str(target), "--data-dir", str(cli.data_dir)] if command[1] == "create" else \
        [str(backup), "--data-dir", str(target)]
    done = run_as_a_stranger(*command, *args)
    assert done.returncode == 1, done.stderr
    message = " ".join(done.stderr.split())
    assert "Errno" not in message and "Traceback" not in message
    assert f"Permission denied: {target} ({theirs} belongs to user nobody)" in message
    assert not target.exists()
