"""`backup prune` in the drill against real `homesync serve` processes.

A phone uploads; a backup; the phone deletes one photo for good and uploads another; a
second backup; prune to the newest snapshot. The first snapshot's own chunks are gone
from DEST, the shared ones stayed, and a server started on a restore of what is left
serves every photo byte for byte.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import PASSWORD, ServerProcess
from tests.operations.data import chunk_files
from tests.operations.phone import CHUNK, ENV, Phone

pytestmark = pytest.mark.e2e


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for proc in started:
        proc.stop()


def homesync(*args: str | Path) -> Any:
    env = {**os.environ, "HOMESYNC_STORAGE_FSYNC": "false", **ENV}
    env.pop("HOMESYNC_DATA_DIR", None)
    done = subprocess.run([sys.executable, "-m", "homesync", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_two_backups_pruned_to_one_restore_and_download(servers: list[ServerProcess],
                                                        tmp_path: Path) -> None:
    live = ServerProcess(tmp_path / "live", env=ENV)
    servers.append(live)
    live.start()
    added = live.cli("user", "add", "alice@example.com", "--password-stdin", input=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    phone = Phone(live.base, "alice@example.com", "pixel")
    dest = tmp_path / "backup"

    kept = {"kept.jpg": os.urandom(CHUNK + 1000)}
    gone = os.urandom(2 * CHUNK + 500)  # three chunks only the first backup holds
    ids = {name: phone.upload("/camera", name, data) for name, data in kept.items()}
    gone_id = phone.upload("/camera", "gone.jpg", gone)
    first = homesync("backup", "create", dest, "--json", "--data-dir", live.data_dir)

    phone.delete_and_purge(gone_id)
    kept["new.jpg"] = os.urandom(CHUNK + 2000)
    ids["new.jpg"] = phone.upload("/camera", "new.jpg", kept["new.jpg"])
    homesync("gc", "--grace", "0s", "--json", "--data-dir", live.data_dir)
    second = homesync("backup", "create", dest, "--json", "--data-dir", live.data_dir)
    live.stop()
    pool_before = len(chunk_files(dest))

    pruned = homesync("backup", "prune", dest, "--keep-last", "1", "--json")
    assert [s["name"] for s in pruned["removed"]] == [first["snapshot"]]
    assert [s["name"] for s in pruned["kept"]] == [second["snapshot"]]
    assert pruned["removedChunks"] == 3 and len(chunk_files(dest)) == pool_before - 3
    assert homesync("backup", "list", dest, "--json")["latest"] == second["snapshot"]
    assert homesync("backup", "verify", dest, "--read-data", "--json")["ok"]

    target = tmp_path / "restored"
    restored = homesync("backup", "restore", dest, "--data-dir", target, "--json")
    assert restored["ok"] and restored["snapshot"] == second["snapshot"]
    again = ServerProcess(target, env=ENV)
    servers.append(again)
    again.start()
    phone.http = httpx.Client(base_url=again.base, timeout=60)
    for name, data in kept.items():
        r = phone.download(ids[name])
        assert r.status_code == 200, r.text
        assert r.content == data, name
    assert phone.download(gone_id).status_code == 404
