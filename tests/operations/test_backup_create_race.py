"""Two `homesync backup create` into one brand-new DEST at the same time (real
subprocesses, a real server the phone uploads to): the first one's marker, half written,
does not make the second call DEST "not empty and not a homesync backup"."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import PASSWORD, ServerProcess
from tests.operations.paused import paused_command, resume
from tests.operations.phone import ENV, Phone
from tests.operations.test_backup_cli import as_json, homesync

# `backup create` stopped with DEST's marker written to its temp file, not yet renamed.
PAUSE_AT_MARKER = """
import os, sys
real_replace = os.replace

def replace(src, dst, *args, **kwargs):
    if os.path.basename(dst) == "homesync-backup.json" and sys.stdin:
        print("paused", flush=True)
        sys.stdin.readline()  # until the test closes our stdin
        sys.stdin = None
    real_replace(src, dst, *args, **kwargs)

os.replace = replace
sys.argv = ["homesync", "backup", "create", *sys.argv[1:]]
from homesync.cli import main
main()
"""


@pytest.fixture
def live(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path / "live", env=ENV)
    server.start()
    try:
        added = server.cli("user", "add", "alice@example.com", "--password-stdin",
                           input=PASSWORD + "\n")
        assert added.returncode == 0, added.stderr
        yield server
    finally:
        server.stop()


@contextmanager
def create_paused(*args: str | Path) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "HOMESYNC_STORAGE_FSYNC": "false"}
    env.pop("HOMESYNC_DATA_DIR", None)
    with paused_command(PAUSE_AT_MARKER, *args, env=env) as proc:
        yield proc


def test_second_create_into_a_new_dest_is_not_refused(live: ServerProcess,
                                                     tmp_path: Path) -> None:
    phone = Phone(live.base, "alice@example.com", "pixel")
    phone.upload("/camera", "IMG_0.jpg", os.urandom(300_000))
    dest = tmp_path / "usb-disk" / "homesync"

    with create_paused(dest, "--json", "--data-dir", live.data_dir) as first:
        # The first has not taken DEST's writer lock yet: the second backs up (had the
        # first taken it, the second would be busy, exit code 5; see test_backup_cli).
        second = homesync("backup", "create", dest, "--json", "--data-dir", live.data_dir)
        assert second.returncode == 0, second.stdout + second.stderr
        assert as_json(second)["ok"]
        out = resume(first)  # the first one goes on
    assert json.loads(out.splitlines()[-1])["ok"]

    listed = as_json(homesync("backup", "list", dest, "--json"))
    assert len(listed["snapshots"]) == 2
    verified = homesync("backup", "verify", dest, "--read-data")
    assert verified.returncode == 0, verified.stdout + verified.stderr
