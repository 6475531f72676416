"""`homesync fsck` (and `gc` beside it) as an operator reads them."""

from __future__ import annotations

import errno
import hashlib
import json
from typing import Any

import pytest

from homesync.services.container import Services
from homesync.store.backup_lock import hold_for_backup
from homesync.store.local_chunks import LocalChunkStore
from tests.cli.conftest import Cli, alices_photo
from tests.operations.data import chunk_files, delete_file, flip_byte, photo, put_file


def _damaged_photo(cli: Cli) -> str:
    """Alice stores one photo (one chunk); a byte of it flips on disk. Its hash."""
    chunk_hash, path = alices_photo(cli)
    flip_byte(path)
    return chunk_hash


def test_a_damaged_chunk_is_named_once_with_the_files_it_touches(cli: Cli) -> None:
    chunk_hash = _damaged_photo(cli)

    result = cli("fsck")
    assert result.exit_code == 1, result.output
    assert result.stderr.count(chunk_hash) == 1, result.stderr
    line = result.stderr.replace("\n", "")
    assert "content does not match its hash" in line
    assert "alice@example.com:/camera/IMG_1.jpg" in line
    assert "DAMAGE FOUND" in result.stdout

    as_json = cli("fsck", "--json")
    assert as_json.exit_code == 1
    [damage] = json.loads(as_json.stdout)["damaged"]
    assert damage["hash"] == chunk_hash
    assert damage["files"] == ["alice@example.com:/camera/IMG_1.jpg"]


def test_a_chunk_that_cannot_be_read_is_named_and_the_check_goes_on(
        cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad sector (EIO) under one chunk is what fsck is run for: that chunk is named
    with its files, and every other chunk is still checked (fsck stopped at it: exit 1
    with only 'Input/output error', no report, the other damage unnamed)."""
    cli.add_user()

    async def store(s: Services) -> None:
        uid = (await s.accounts.get("alice@example.com")).id
        await put_file(s, uid, "/camera", "IMG_1.jpg", photo(1, 1000))
        await put_file(s, uid, "/camera", "IMG_2.jpg", photo(2, 1000))

    cli.with_services(store)
    files = chunk_files(cli.data_dir)
    unreadable, flipped = sorted(files)
    flip_byte(files[flipped])
    real = LocalChunkStore._hash_files

    def bad_sector(self: LocalChunkStore, digest: Any, chunk_hashes: Any) -> int:
        if unreadable in chunk_hashes:
            raise OSError(errno.EIO, "Input/output error")
        return real(self, digest, chunk_hashes)

    monkeypatch.setattr(LocalChunkStore, "_hash_files", bad_sector)
    result = cli("fsck", "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["checkedChunks"] == 2
    assert sorted((d["hash"], d["problem"], d["files"]) for d in report["damaged"]) == sorted([
        (unreadable, "unreadable (Input/output error)",
         [f"alice@example.com:/camera/IMG_{1 if unreadable == _hash_of(1) else 2}.jpg"]),
        (flipped, "content does not match its hash",
         [f"alice@example.com:/camera/IMG_{1 if flipped == _hash_of(1) else 2}.jpg"]),
    ])


def _hash_of(seed: int) -> str:
    return hashlib.sha256(photo(seed, 1000)).hexdigest()


def test_a_damaged_chunk_nothing_uses_is_not_damage(cli: Cli) -> None:
    """A chunk of a deleted file, waiting for gc, with a flipped byte: no file can ever
    read it (an upload sending it again writes it anew), so it is counted apart, as a
    missing one is, not 'DAMAGE FOUND ... restore from a backup' with exit 1."""
    cli.add_user()

    async def store(s: Services) -> str:
        uid = (await s.accounts.get("alice@example.com")).id
        await put_file(s, uid, "/camera", "IMG_1.jpg", photo(1, 1000))
        gone = await put_file(s, uid, "/camera", "IMG_2.jpg", photo(2, 1000))
        await delete_file(s, uid, gone)
        return gone

    cli.with_services(store)
    kept = {h for h in chunk_files(cli.data_dir)} - {h for h in _unused_chunks(cli)}
    [unused] = _unused_chunks(cli)
    flip_byte(chunk_files(cli.data_dir)[unused])

    report = cli.json("fsck")
    assert report["ok"] is True and report["damaged"] == []
    assert report["unusedDamaged"] == 1 and report["checkedChunks"] == 2
    text = cli("fsck")
    assert text.exit_code == 0, text.output
    assert "DAMAGE FOUND" not in text.stdout and unused not in text.stderr
    assert "Unused chunks with damaged bytes" in text.stdout
    # The file still in use is checked as ever: its damage is damage.
    [used] = kept
    flip_byte(chunk_files(cli.data_dir)[used])
    assert cli("fsck").exit_code == 1


def _unused_chunks(cli: Cli) -> list[str]:
    async def unused(s: Services) -> list[str]:
        rows = await s.db.fetchall(
            "SELECT hash FROM chunks c WHERE NOT EXISTS"
            " (SELECT 1 FROM version_chunks v WHERE v.chunk_hash = c.hash)")
        return [r[0] for r in rows]

    return cli.with_services(unused)


def test_stray_files_in_chunks_are_reported_by_fsck_and_left_alone_by_gc(cli: Cli) -> None:
    chunk_hash, path = alices_photo(cli)
    chunks = cli.data_dir / "chunks"
    strays = {
        "notes.txt": chunks / "notes.txt",                    # at the top, beside ab/
        chunk_hash: chunks / chunk_hash,                      # a chunk copied in flat
        f"{chunk_hash[:2]}/README": path.parent.parent / "README",
        f"{chunk_hash[:2]}/{chunk_hash[2:4]}/{chunk_hash}.bak": path.with_name(path.name + ".bak"),
    }
    for stray in strays.values():
        stray.write_bytes(b"not a chunk")
    (chunks / "zz").mkdir()
    (chunks / "zz" / "old").write_bytes(b"x")
    listed = sorted([*strays, "zz/"])

    report = cli.json("fsck")  # exit 0: nobody's file is damaged
    assert report["ok"] is True and report["damaged"] == []
    assert report["strayFiles"] == listed
    assert report["unknownFiles"] == 0
    text = cli("fsck")
    assert text.exit_code == 0, text.output
    for name in listed:
        assert f"not a chunk: chunks/{name}" in text.stderr.replace("\n", "")
    assert "Other files in chunks/" in text.stdout

    done = cli.json("gc", "--grace", "0s")
    assert done["removedChunks"] == 0 and done["orphanFiles"] == 0
    for stray in strays.values():
        assert stray.read_bytes() == b"not a chunk"
    assert (chunks / "zz" / "old").exists() and path.exists()
    assert cli.json("fsck")["strayFiles"] == listed


def test_gc_beside_a_backup_says_so_once(cli: Cli) -> None:
    cli.add_user()
    with hold_for_backup(cli.data_dir):  # a backup is copying chunks now
        result = cli("gc")
    assert result.exit_code == 0, result.output
    said = (result.stdout + result.stderr).lower().count("a backup is running")
    assert said == 1, result.stdout + result.stderr
