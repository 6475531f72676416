"""`homesync backup …` and `homesync status` as an operator runs them (real subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from homesync.services.container import Services
from tests.operations.data import chunk_files, flip_byte, photo, put_file


def homesync(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOMESYNC_STORAGE_FSYNC": "false", "COLUMNS": "200"}
    env.pop("HOMESYNC_DATA_DIR", None)
    return subprocess.run([sys.executable, "-m", "homesync", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=120)


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(result.stdout)


async def test_backup_verify_restore_status_commands(services: Services, make_user,
                                                     tmp_path: Path) -> None:
    uid = await make_user()
    for i in range(5):
        await put_file(services, uid, "/camera", f"IMG_{i}.jpg", photo(i))
    data = services.settings.data_path
    dest = tmp_path / "usb-disk" / "homesync"

    created = homesync("backup", "create", dest, "--json", "--data-dir", data)
    assert created.returncode == 0, created.stderr
    report = as_json(created)
    assert report["ok"] and report["files"] == 5 and report["copied_chunks"] == report["chunks"]

    human = homesync("backup", "create", dest, "--data-dir", data)
    assert human.returncode == 0, human.stderr
    assert "Copied now" in human.stdout and "Already in the backup" in human.stdout

    listed = as_json(homesync("backup", "list", dest, "--json"))
    assert len(listed["snapshots"]) == 2 and listed["latest"] == listed["snapshots"][-1]["name"]

    ok = homesync("backup", "verify", dest, "--read-data", "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert as_json(ok)["chunks_read"] == report["chunks"]

    runs = [as_json(homesync("backup", "verify", dest, "--read-data", "--subset", "40%",
                             "--seed", "1", "--json")) for _ in range(2)]
    assert runs[0]["chunks_read"] == runs[1]["chunks_read"] == round(report["chunks"] * 0.4)
    assert runs[0]["subset"]["seed"] == 1

    bad_hash, bad = sorted(chunk_files(dest).items())[0]
    flip_byte(bad)
    damaged = homesync("backup", "verify", dest, "--read-data")
    assert damaged.returncode == 1
    assert bad_hash in damaged.stderr and "damaged" in damaged.stderr
    assert "alice@example.com:/camera/IMG_" in damaged.stderr.replace("\n", "")
    flip_byte(bad)

    usage = homesync("backup", "verify", dest, "--read-data", "--subset", "lots")
    assert usage.returncode == 2
    assert homesync("backup", "verify", dest, "--subset", "10%").returncode == 2
    assert homesync("backup", "verify", tmp_path, "--json").returncode == 1

    target = tmp_path / "new-disk"
    restored = homesync("backup", "restore", dest, "--data-dir", target, "--json")
    assert restored.returncode == 0, restored.stderr
    assert as_json(restored)["ok"] and as_json(restored)["chunks"] == report["chunks"]
    refused = homesync("backup", "restore", dest, "--data-dir", target)
    assert refused.returncode == 1 and "not empty" in refused.stderr

    status = homesync("status", "--json", "--data-dir", data)
    assert status.returncode == 0, status.stderr
    st = as_json(status)
    assert st["users"] == 1 and st["files"] == 5
    assert st["logical_bytes"] == 5 * 150_000 and st["stored_bytes"] == 5 * 150_000
    assert st["last_backup"]["destination"] == str(dest)
    assert st["backup_running"] is False

    restored_status = as_json(homesync("status", "--json", "--data-dir", target))
    # The restored database remembers the backups taken before its snapshot.
    assert restored_status["files"] == 5
    assert restored_status["last_backup"]["snapshot"] == listed["snapshots"][0]["name"]
    text = homesync("status", "--data-dir", data)
    assert "Deduplication" in text.stdout and "Last backup" in text.stdout
