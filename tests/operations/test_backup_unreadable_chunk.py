"""A chunk that cannot be read (a bad sector; here a chmod 000 that bars root without its
capabilities) is named as a damaged one is, and the rest goes on: on the backup disk a
restore leaves it out, in the data dir a backup does."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from homesync.services.container import Services
from homesync.services.maintenance.restore_target import unfinished_restore
from tests.operations.cli import as_json, homesync_as_stranger
from tests.operations.data import CHUNK, chunk_files, photo, put_file
from tests.operations.restored import assert_photos_download, photos_backed_up
from tests.stranger import skip_unless_a_stranger_can_run


@pytest.fixture(autouse=True)
def _barred_by_chmod() -> None:
    skip_unless_a_stranger_can_run("to be barred by a chmod")


def _chunk_of(seed: int) -> str:
    """The first of photo ``seed``'s chunks."""
    return hashlib.sha256(photo(seed)[:CHUNK]).hexdigest()


async def test_a_chunk_the_backup_disk_cannot_read_is_named_and_the_restore_finishes(
        services: Services, make_user, tmp_path: Path) -> None:
    """It ended the restore ("Permission denied: DEST/chunks/…"), and so did every run
    again: the data dir stayed marked half restored, no server could start on it."""
    dest = tmp_path / "backup"
    photo_ids = await photos_backed_up(services, make_user, dest, count=2)
    barred = chunk_files(dest)[_chunk_of(1)]
    barred.chmod(0)
    target = tmp_path / "restored"

    restored = homesync_as_stranger("backup", "restore", dest, "--data-dir", target, "--json")

    assert restored.returncode == 1, restored.stdout + restored.stderr
    report = as_json(restored)
    assert [(p["hash"], p["problem"], p["files"]) for p in report["problems"]] == [
        (_chunk_of(1), "cannot be read from the backup (Permission denied)",
         ["alice@example.com:/camera/IMG_1.jpg"])]
    assert unfinished_restore(target) is None  # the restore is done: the server may start
    assert_photos_download(target, photo_ids[:1])


async def test_a_chunk_the_data_dir_cannot_read_is_left_out_and_the_backup_published(
        services: Services, make_user, tmp_path: Path) -> None:
    """It ended the backup with "cannot open the data dir D: Permission denied (<hash>)",
    no snapshot at all: one bad sector in the data dir kept every other file unbacked."""
    uid = await make_user()
    for seed in (0, 1):
        await put_file(services, uid, "/camera", f"IMG_{seed}.jpg", photo(seed))
    data_dir = services.settings.data_path
    barred = chunk_files(data_dir)[_chunk_of(1)]
    barred.chmod(0)
    dest = tmp_path / "backup"

    created = homesync_as_stranger("backup", "create", dest, "--data-dir", data_dir, "--json")

    assert created.returncode == 1, created.stdout + created.stderr
    report = as_json(created)
    everything = set(chunk_files(data_dir))
    assert report["snapshot"] and report["copiedChunks"] == len(everything) - 1
    assert [(p["hash"], p["problem"], p["files"]) for p in report["problems"]] == [
        (_chunk_of(1), "cannot be read in the data dir (Permission denied)",
         ["alice@example.com:/camera/IMG_1.jpg"])]
    barred.chmod(0o644)
    assert set(chunk_files(dest)) == everything - {_chunk_of(1)}
    assert not list((dest / "tmp").iterdir())
