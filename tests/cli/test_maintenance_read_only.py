"""`homesync gc` and `fsck` on a data dir mounted read-only."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import Cli


@pytest.fixture
def read_only(cli: Cli, tmp_path: Path) -> Iterator[Cli]:
    """Alice's data dir, bind-mounted read-only (skipped where mounting is not allowed)."""
    cli.add_user()
    mount = tmp_path / "ro"
    mount.mkdir()
    done = subprocess.run(["mount", "--bind", "-o", "ro", str(cli.data_dir), str(mount)],
                          capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot bind-mount here: {done.stderr.strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(mount)], check=True)
        yield Cli(data_dir=mount, runner=cli.runner)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize("command", [["fsck"], ["fsck", "--repair-offsets"], ["gc"]])
def test_a_read_only_data_dir_is_named_as_such(read_only: Cli, command: list[str]) -> None:
    """Its server key already there, SQLite was the first to fail: 'database
    <dir>/homesync.sqlite3: unable to open database file', which says nothing of why."""
    result = read_only(*command, "--json")
    assert result.exit_code == 1
    said = (f"cannot open the data dir {read_only.data_dir}: Read-only file system"
            " (homesync.sqlite3)")
    assert json.loads(result.stdout) == {"ok": False, "error": said}
    assert f"error: {said}" in " ".join(result.stderr.split())
