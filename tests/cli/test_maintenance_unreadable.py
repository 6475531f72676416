"""`homesync fsck` and `gc` meeting what they may not read (chmod 000, another user's)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest

from homesync.services.container import Services
from tests.cli.conftest import FAST_ENV, Cli
from tests.operations.data import chunk_files, photo, put_file
from tests.stranger import homesync_as_a_stranger, skip_unless_a_stranger_can_run


def _run(cli: Cli, *args: str) -> subprocess.CompletedProcess[str]:
    return homesync_as_a_stranger(*args, "--json", "--data-dir", cli.data_dir,
                                  env={**os.environ, **FAST_ENV}, timeout=60)


@pytest.fixture
def two_photos(cli: Cli) -> dict[str, str]:
    """Alice's two one-chunk photos: their paths by chunk hash."""
    skip_unless_a_stranger_can_run("to be barred by a chmod")
    cli.add_user()

    async def store(s: Services) -> None:
        uid = (await s.accounts.get("alice@example.com")).id
        for seed in (1, 2):
            await put_file(s, uid, "/camera", f"IMG_{seed}.jpg", photo(seed, 1000))

    cli.with_services(store)
    return {h: f"alice@example.com:/camera/IMG_{1 if h == _hash(1) else 2}.jpg"
            for h in chunk_files(cli.data_dir)}


def _hash(seed: int) -> str:
    return hashlib.sha256(photo(seed, 1000)).hexdigest()


def test_a_chunk_directory_that_cannot_be_listed_is_damage_not_the_end(
        cli: Cli, two_photos: dict[str, str]) -> None:
    """chunks/ab/cd at chmod 000: fsck named its chunk unreadable, then, listing the
    chunk files, ended with 'cannot open the data dir D: Permission denied', the whole
    report lost; gc ended the same way, each round, freeing nothing."""
    barred, fine = sorted(two_photos)
    where = chunk_files(cli.data_dir)[barred].parent
    where.chmod(0)
    try:
        checked = _run(cli, "fsck")
        assert checked.returncode == 1, checked.stderr
        report = json.loads(checked.stdout)
        assert report["damaged"] == [{"hash": barred, "problem":
                                      "unreadable (Permission denied)",
                                      "files": [two_photos[barred]]}]
        assert report["checkedChunks"] == 2
        collected = _run(cli, "gc")
        assert collected.returncode == 0, collected.stderr
    finally:
        where.chmod(0o755)


def test_a_temp_file_that_cannot_be_opened_does_not_stop_gc(
        cli: Cli, two_photos: dict[str, str]) -> None:
    """A temp file left by a `sudo` run (root's, 0600): gc could not open it to see if a
    writer holds it and ended there, 'Permission denied (chunk-1.part)', every round."""
    stale = cli.data_dir / "tmp" / "chunk-1.part"
    stale.write_bytes(b"left by a writer that died")
    stale.chmod(0)
    collected = _run(cli, "gc")
    assert collected.returncode == 0, collected.stderr
    assert json.loads(collected.stdout)["removedTemp"] == 0
    assert stale.exists()


@pytest.mark.parametrize("mode", [0o555, 0])
def test_an_unused_chunk_gc_may_not_delete_does_not_stop_it(
        cli: Cli, two_photos: dict[str, str], mode: int) -> None:
    """Alice's photos deleted; one chunk's directory read-only (another user's, from a
    `sudo` run) or not even listable: gc ended at it, 'Permission denied', each round,
    and freed nothing after it. It leaves that one and frees the other."""
    async def delete_all(s: Services) -> None:
        async with s.db.transaction() as tx:
            await tx.execute("DELETE FROM files")

    cli.with_services(delete_all)
    barred, freed = sorted(two_photos)
    where = chunk_files(cli.data_dir)[barred].parent
    where.chmod(mode)
    try:
        collected = _run(cli, "gc", "--grace", "0s")
        assert collected.returncode == 0, collected.stderr
    finally:
        where.chmod(0o755)
    assert set(chunk_files(cli.data_dir)) == {barred}
