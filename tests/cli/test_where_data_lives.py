"""A relative --data-dir: messages that say where the data lives give the absolute path
(to find it later, from anywhere); what is stored is unchanged."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import FAST_ENV, Cli
from tests.helpers import PASSWORD


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_user_add_names_the_new_data_dir_absolute(cli: Cli, in_tmp: Path) -> None:
    result = cli("user", "add", "alice@example.com", "--password-stdin", "--data-dir", "./x",
                 data_dir=False, input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    # Rich wraps to the terminal, inside a long path too: compare without the whitespace.
    assert f"Theaccountisinanewdatadir{in_tmp / 'x'}(" in "".join(result.stderr.split())


def test_status_names_the_data_dir_absolute(cli: Cli, in_tmp: Path) -> None:
    cli.add_user()
    (in_tmp / "x").symlink_to(cli.data_dir)
    human = cli("status", "--data-dir", "x", data_dir=False)
    assert human.exit_code == 0, human.output
    # The table's title, wrapped to the table's width, inside the path too when it is long.
    assert f"—{in_tmp / 'x'}┌" in "".join(human.stdout.split())
    document = cli("status", "--data-dir", "x", "--json", data_dir=False)
    assert json.loads(document.stdout)["dataDir"] == str(in_tmp / "x")


def test_serve_names_the_data_dir_and_the_first_password_absolute(tmp_path: Path) -> None:
    env = {**os.environ, **FAST_ENV, "COLUMNS": "200"}
    env.pop("HOMESYNC_DATA_DIR", None)
    proc = subprocess.Popen([sys.executable, "-m", "homesync", "serve", "--data-dir", "x",
                             "--port", "0"], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    try:
        printed = []
        for line in proc.stdout:  # ends when it exits, if it could not start
            printed.append(line)
            if line.startswith("homesync serving"):
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    out = "".join(printed)
    password_file = tmp_path / "x" / "initial-admin-password.txt"
    assert f"The password is also in {password_file} until" in out
    assert out.splitlines()[-1].endswith(f" with data in {tmp_path / 'x'}")
    assert password_file.is_file()
    # The commands it suggests work on this data dir, not on the default one (where
    # `user passwd` found no account and `user add` made a data dir of its own).
    assert f"homesync user passwd admin@localhost --data-dir {tmp_path / 'x'}\n" in out
    assert f"homesync user add you@example.com --data-dir {tmp_path / 'x'}\n" in out
