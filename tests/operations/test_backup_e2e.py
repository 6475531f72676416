"""The backup and restore drill against real `homesync serve` processes.

Phones upload and delete through HTTP while `homesync backup create` runs (twice), and
`homesync gc --grace 0s` runs alongside (B1, B3). The backups verify with --read-data;
one is restored into a new data dir, a new server starts on it, every file the snapshot
holds downloads with its checksum, the old sync token and access token still work, and
the journal continues after the restore gap.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from homesync.store.operations import CLOCK_POSITIONS_PER_MS
from tests.helpers import PASSWORD, ServerProcess
from tests.operations.phone import CHUNK, ENV, Phone, sha

pytestmark = pytest.mark.e2e

@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for proc in started:
        proc.stop()


def homesync(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOMESYNC_STORAGE_FSYNC": "false", **ENV}
    env.pop("HOMESYNC_DATA_DIR", None)
    return subprocess.run([sys.executable, "-m", "homesync", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300)


def test_backup_under_load_restore_serve_download(servers: list[ServerProcess],
                                                  tmp_path: Path) -> None:
    # The load below is one device calling as fast as it can, far past the per-device
    # request limit (20/s, bursts of 60): this test is about backups, so the limit is off.
    live = ServerProcess(tmp_path / "live", env={**ENV, "HOMESYNC_AUTH_API_REQUESTS_PER_SECOND": "0"})
    servers.append(live)
    live.start()
    added = live.cli("user", "add", "alice@example.com", "--password-stdin", input=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    phone = Phone(live.base, "alice@example.com", "pixel")
    library = {f"IMG_{i:03d}.jpg": os.urandom(CHUNK + 1000 * i) for i in range(6)}
    ids = {name: phone.upload("/camera", name, data) for name, data in library.items()}
    token_before = phone.sync_status()["nextSyncToken"]

    # The load: a second phone keeps uploading new photos and deleting every other one.
    stop = threading.Event()
    churned: list[str] = []
    errors: list[BaseException] = []

    def load() -> None:
        other = Phone(live.base, "alice@example.com", "tablet")
        try:
            n = 0
            while not stop.is_set() and n < 200:
                fid = other.upload("/churn", f"{n}.jpg", os.urandom(CHUNK // 2 + n))
                if n % 2:
                    other.delete_and_purge(fid)
                churned.append(fid)
                n += 1
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    loader = threading.Thread(target=load)
    loader.start()
    dest = tmp_path / "backup"
    try:
        reports = []
        for _ in range(2):
            created = homesync("backup", "create", dest, "--json", "--data-dir", live.data_dir)
            assert created.returncode == 0, created.stdout + created.stderr
            reports.append(json.loads(created.stdout))
            collected = homesync("gc", "--grace", "0s", "--json", "--data-dir", live.data_dir)
            assert collected.returncode == 0, collected.stderr
    finally:
        stop.set()
        loader.join(timeout=120)
    assert not errors, errors
    assert len(churned) > 0
    live.stop()

    for report in reports:
        verified = homesync("backup", "verify", dest, "--snapshot", report["snapshot"],
                            "--read-data", "--json")
        assert verified.returncode == 0, verified.stdout + verified.stderr

    target = tmp_path / "restored"
    restore_began_ms = time.time_ns() // 1_000_000
    restored = homesync("backup", "restore", dest, "--data-dir", target, "--json")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    result = json.loads(restored.stdout)
    assert result["snapshot"] == reports[-1]["snapshot"]
    fsck = homesync("fsck", "--json", "--data-dir", target)
    assert fsck.returncode == 0 and json.loads(fsck.stdout)["ok"], fsck.stdout

    again = ServerProcess(target, env=ENV)
    servers.append(again)
    again.start()
    # The server key came back with the backup: the phone's access token still works.
    phone.http = httpx.Client(base_url=again.base, timeout=60)
    everything = phone.sync_status()
    present = {f["id"]: f for f in everything["changes"]["created"] if f.get("checksum")}
    for name, data in library.items():
        assert present[ids[name]]["checksum"] == sha(data)
    assert len(present) == reports[-1]["files"]
    for file_id, info in present.items():
        r = phone.download(file_id)
        assert r.status_code == 200, r.text
        assert sha(r.content) == info["checksum"]

    # The journal continues: the token from before the backup still syncs, and a new
    # upload lands after the restore gap.
    since_before = phone.sync_status(token_before)
    assert since_before["hasChanges"]
    fresh_token = phone.sync_status()["nextSyncToken"]
    new_id = phone.upload("/after", "restored.jpg", os.urandom(5000))
    delta = phone.sync_status(fresh_token)
    assert [f["id"] for f in delta["changes"]["created"] if f.get("checksum")] == [new_id]
    # New changes are numbered from the restore's clock mark on (operations.resume_point).
    assert result["resumedSeq"] >= restore_began_ms * CLOCK_POSITIONS_PER_MS > result["snapshotSeq"]
