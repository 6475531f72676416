"""`homesync fsck` checks where each chunk begins in its file (``version_chunks.byte_offset``,
which Range downloads go by) and `fsck --repair-offsets` recomputes wrong ones: run as an
operator runs it (a real process beside the server's services), the downloads through HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from homesync.config import Settings
from homesync.services.container import Services
from homesync.store.db import execute
from tests.helpers import API, make_settings
from tests.uploads.conftest import SMALL_CHUNKS
from tests.uploads.flow import random_bytes, upload

CHUNK = 4096


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data", uploads=SMALL_CHUNKS, storage={"disk_reserve": "0"})


def fsck(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOMESYNC_STORAGE_FSYNC": "false", "COLUMNS": "300"}
    env.pop("HOMESYNC_DATA_DIR", None)
    return subprocess.run([sys.executable, "-m", "homesync", "fsck", *args, "--data-dir",
                           str(data)], capture_output=True, text=True, env=env, timeout=120)


async def _stored(client: Any, make_user: Any, sign_in: Any,
                  **entry: Any) -> tuple[dict[str, str], bytes, str, str]:
    """A file of 10 chunks of 4 KiB: (auth, its bytes, its content URL, its version)."""
    await make_user()
    dev = await sign_in()
    data = random_bytes(10 * CHUNK)
    done = await upload(client, dev.auth, data, **entry)
    version = (await client.get(f"{API}/files/{done['fileId']}", headers=dev.auth)).json()
    return dev.auth, data, f"{API}/files/{done['fileId']}/content", version["data"]["versionId"]


async def test_wrong_offsets_are_named_per_file_and_repair_offsets_mends_range_downloads(
        client, services: Services, make_user, sign_in) -> None:
    auth, data, url, version_id = await _stored(client, make_user, sign_in,
                                                folder="/photos", name="big.bin")
    # Chunk 3 on are said to begin a byte earlier than they do.
    async with services.db.transaction() as tx:
        await execute(tx, "UPDATE version_chunks SET byte_offset = byte_offset - 1"
                          " WHERE version_id = ? AND idx >= 3", (version_id,))
    ranged = {**auth, "Range": "bytes=10000-20000"}
    r = await client.get(url, headers=ranged)
    assert r.status_code == 206 and r.content != data[10000:20001]  # wrong, and no error
    expected = {"file": "alice@example.com:/photos/big.bin", "versionId": version_id,
                "problem": "7 of its 10 chunk offsets are wrong (the first at chunk 3):"
                           " a Range download of it returns wrong bytes",
                "wrongOffsets": 7, "repaired": False, "damaged": False}
    data_dir = services.settings.data_path

    checked = fsck(data_dir, "--json")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert report["ok"] is False and report["damaged"] == []
    assert report["manifests"] == [expected]
    assert report["checkedOffsets"] == 10
    text = fsck(data_dir)
    assert text.returncode == 1
    said = " ".join(text.stderr.split())
    assert (f"file alice@example.com:/photos/big.bin, version {version_id}:"
            " 7 of its 10 chunk offsets are wrong (the first at chunk 3)") in said, said
    assert "run `homesync fsck --repair-offsets`" in " ".join(text.stdout.split())
    r = await client.get(url, headers=ranged)
    assert r.content != data[10000:20001]  # checking changed nothing

    repaired = fsck(data_dir, "--repair-offsets", "--json")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    report = json.loads(repaired.stdout)
    assert report["ok"] is True and report["manifests"] == [{**expected, "repaired": True}]
    r = await client.get(url, headers=ranged)
    assert r.status_code == 206 and r.content == data[10000:20001]
    again = fsck(data_dir, "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["manifests"] == []


async def test_a_version_whose_chunks_do_not_add_up_to_its_size_is_damage_repair_or_not(
        client, services: Services, make_user, sign_in) -> None:
    """Recomputing offsets cannot mend it (its content is wrong): fsck names it, which the
    download's error ("run `homesync fsck`") sends the operator to, and stays exit 1."""
    auth, data, url, version_id = await _stored(client, make_user, sign_in,
                                                folder="/photos", name="short.bin")
    async with services.db.transaction() as tx:
        await execute(tx, "UPDATE file_versions SET size = size + 5 WHERE id = ?", (version_id,))
        await execute(tx, "UPDATE files SET size = size + 5 WHERE version_id = ?", (version_id,))
    r = await client.get(url, headers=auth)
    assert r.status_code == 500 and "run `homesync fsck`" in r.json()["error"]["message"]

    for args in ((), ("--repair-offsets",)):
        checked = fsck(services.settings.data_path, *args, "--json")
        assert checked.returncode == 1, checked.stdout + checked.stderr
        [problem] = json.loads(checked.stdout)["manifests"]
        assert problem == {
            "file": "alice@example.com:/photos/short.bin", "versionId": version_id,
            "problem": f"its chunks add up to {len(data):,} bytes, not its size"
                       f" {len(data) + 5:,}",
            "wrongOffsets": 0, "repaired": False, "damaged": True}
    text = fsck(services.settings.data_path)
    assert "restore the files listed above" in " ".join(text.stdout.split())
