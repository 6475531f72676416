"""`homesync gc` on a data dir where something odd stands at a chunk's place."""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from homesync.services.container import Services
from homesync.store import local_chunks
from tests.cli.conftest import Cli, alices_photo
from tests.helpers import PASSWORD
from tests.operations.data import chunk_files, delete_file, photo, put_file


def _two_deleted_photos(cli: Cli) -> list[str]:
    """Alice stores two one-chunk photos and deletes them: their chunks, waiting for gc."""
    cli.add_user()

    async def store(s: Services) -> None:
        uid = (await s.accounts.get("alice@example.com")).id
        for seed in (1, 2):
            await delete_file(s, uid, await put_file(s, uid, "/camera", f"IMG_{seed}.jpg",
                                                      photo(seed, 1000)))

    cli.with_services(store)
    return sorted(chunk_files(cli.data_dir))


def test_a_directory_at_an_unused_chunks_place_does_not_stop_gc(cli: Cli) -> None:
    """A directory made by hand where a deleted file's chunk was: gc failed at it with
    'Is a directory', exit 1, every round (the server's too), and freed nothing after
    it. It is left alone (fsck lists it as not a chunk) and the rest is collected."""
    first, second = _two_deleted_photos(cli)
    path = chunk_files(cli.data_dir)[first]
    path.unlink()
    path.mkdir()
    os.utime(path, (0, 0))

    result = cli("gc", "--grace", "0s", "--json")
    assert result.exit_code == 0, result.output
    assert not chunk_files(cli.data_dir).get(second)  # collected
    assert path.is_dir()  # left for the operator
    report = cli.json("fsck")
    assert report["ok"] is True and report["unusedMissing"] == 0  # its row was forgotten
    assert report["strayFiles"] == [f"{first[:2]}/{first[2:4]}/{first}/"]


def test_gc_keeps_the_bytes_of_a_chunk_a_version_uses_whose_row_is_gone(cli: Cli) -> None:
    """A chunk row deleted by hand (foreign keys off) under a stored photo: its file is
    still the photo's bytes. gc took it for an orphan (a file without a row) and deleted
    it, and fsck announced that it would; now gc keeps it, and fsck names the version."""
    chunk_hash, path = alices_photo(cli)
    db = sqlite3.connect(cli.settings.db_path)
    with db:  # foreign keys are off unless asked for: what a hand-made edit does
        db.execute("DELETE FROM chunks WHERE hash = ?", (chunk_hash,))
    db.close()
    os.utime(path, (0, 0))  # written long ago: past any grace

    before = cli("fsck", "--json")
    assert before.exit_code == 1
    assert json.loads(before.stdout)["unknownFiles"] == 0
    done = cli.json("gc", "--grace", "0s")
    assert done["orphanFiles"] == 0
    assert path.read_bytes() == photo(1, 1000)
    after = cli("fsck", "--json")
    [version] = json.loads(after.stdout)["manifests"]
    assert version["file"] == "alice@example.com:/camera/IMG_1.jpg" and version["damaged"]


def test_a_directory_where_a_used_chunk_belongs_is_that_chunk_missing(cli: Cli) -> None:
    """fsck said 'wrong size (4096 bytes, expected 1000)' (the directory's size) and, of
    the same entry, 'not a chunk ... no file uses it': the photo's chunk is missing."""
    chunk_hash, path = alices_photo(cli)
    path.unlink()
    path.mkdir()

    result = cli("fsck", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["damaged"] == [{"hash": chunk_hash, "problem": "missing",
                                  "files": ["alice@example.com:/camera/IMG_1.jpg"]}]
    assert report["strayFiles"] == [f"{chunk_hash[:2]}/{chunk_hash[2:4]}/{chunk_hash}/"]
    text = cli("fsck").stderr.replace("\n", "")
    assert "no file uses it" not in text
    assert f"{chunk_hash}/ (left alone; where a missing chunk listed above belongs)" in text


def test_fsck_goes_on_when_gc_deletes_a_chunk_it_is_listing(
        cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's gc deletes an unused chunk between fsck's listing of its directory and
    the stat of it: fsck ended there, 'No such file or directory', exit 1, no report
    ("Both are safe while the server runs", says the README)."""
    gone, kept = _two_deleted_photos(cli)
    path = chunk_files(cli.data_dir)[gone]
    real_scandir = os.scandir

    def gc_meanwhile(where: Any) -> Any:
        listed = list(real_scandir(where))
        if path.parent == Path(where) and path.exists():
            path.unlink()  # after the listing, before its stat
        return iter(listed)

    monkeypatch.setattr(local_chunks.os, "scandir", gc_meanwhile)
    result = cli("fsck", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["checkedChunks"] == 2 and report["unknownFiles"] == 0


def test_a_chunk_row_whose_hash_is_no_chunk_name_is_reported_not_a_traceback(cli: Cli) -> None:
    """A chunk row edited in by hand with a name no chunk can have ('ABC', an upper-case
    hash): fsck and gc ended in a ValueError traceback ('not a chunk hash'). fsck names
    it with the files that use it; gc forgets it once nothing does."""
    chunk_hash, _ = alices_photo(cli)
    db = sqlite3.connect(cli.settings.db_path)
    with db:  # foreign keys are off unless asked for: what a hand-made edit does
        db.execute("INSERT INTO chunks VALUES ('ABC', 3, 0), (?, 1000, 0)",
                   (chunk_hash.upper(),))
        db.execute("UPDATE version_chunks SET chunk_hash = upper(chunk_hash)")
    db.close()

    result = cli("fsck", "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["damaged"] == [{"hash": chunk_hash.upper(),
                                  "problem": "not a chunk hash (no chunk file can have it)",
                                  "files": ["alice@example.com:/camera/IMG_1.jpg"]}]
    assert report["unusedDamaged"] == 1  # 'ABC'
    assert cli("gc", "--grace", "0s", "--json").exit_code == 0
    assert json.loads(cli("fsck", "--json").stdout)["checkedChunks"] == 1  # only the used one


@pytest.mark.parametrize("command", ["gc", "fsck"])
def test_a_data_dir_without_its_database_is_refused(cli: Cli, command: str) -> None:
    """The database moved aside (or lost), the chunk files and the key still there: gc made
    a new, empty database and deleted every chunk file past the grace as one it does not
    know (every stored file gone); fsck made one too and said 'ok'."""
    _two_deleted_photos(cli)
    cli.add_user("bob@example.com")

    async def store(s: Services) -> None:
        uid = (await s.accounts.get("bob@example.com")).id
        await put_file(s, uid, "/camera", "IMG_9.jpg", photo(9, 1000))

    cli.with_services(store)
    files = chunk_files(cli.data_dir)
    for path in files.values():
        os.utime(path, (0, 0))  # stored long ago
    cli.settings.db_path.rename(cli.data_dir.parent / "aside.sqlite3")

    result = cli(command, "--json")
    assert result.exit_code == 1, result.output
    assert "no database in the data dir" in json.loads(result.stdout)["error"]
    assert chunk_files(cli.data_dir) == files
    assert not cli.settings.db_path.exists()


def test_gc_deletes_no_chunk_file_a_new_empty_database_does_not_know(cli: Cli) -> None:
    """The database lost, a new one put in its place (commands no longer make one over
    chunk files, but a database copied in from elsewhere is one too): every chunk file
    looked unknown and gc deleted them all. It keeps them while the database knows no
    chunk."""
    _two_deleted_photos(cli)
    files = chunk_files(cli.data_dir)
    cli.settings.db_path.rename(cli.data_dir.parent / "aside.sqlite3")
    elsewhere = cli.data_dir.parent / "elsewhere"
    assert cli("user", "add", "bob@example.com", "--password-stdin", "--data-dir",
               str(elsewhere), data_dir=False, input=PASSWORD + "\n").exit_code == 0
    with closing(sqlite3.connect(elsewhere / "homesync.sqlite3")) as empty, \
            closing(sqlite3.connect(cli.settings.db_path)) as copy:
        empty.backup(copy)  # a new, empty database

    result = cli("gc", "--grace", "0s", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["orphanFiles"] == 0 and report["unknownKept"] is True
    assert chunk_files(cli.data_dir) == files
    assert "none was deleted" in " ".join(cli("gc", "--grace", "0s").stderr.split())
    # fsck said gc would remove them "after the grace period".
    checked = " ".join(cli("fsck").stdout.split())
    assert "removed by gc" not in checked and "kept by gc" in checked
