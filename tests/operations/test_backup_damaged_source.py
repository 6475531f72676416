"""`homesync backup create` re-hashes what it copies: a chunk damaged in the data dir is
named, left out of the backup, and the backup says it is incomplete (real subprocesses)."""

from __future__ import annotations

from pathlib import Path

from homesync.services.container import Services
from tests.operations.data import chunk_files, flip_byte, photo, put_file
from tests.operations.test_backup_cli import as_json, homesync


async def test_a_damaged_live_chunk_is_named_not_copied_and_the_backup_exits_1(
        services: Services, make_user, tmp_path: Path) -> None:
    uid = await make_user()
    for i in range(3):
        await put_file(services, uid, "/camera", f"IMG_{i}.jpg", photo(i, 1000))
    data = services.settings.data_path
    dest = tmp_path / "usb-disk"
    bad_hash, bad = sorted(chunk_files(data).items())[0]
    flip_byte(bad)  # same size, other bytes: only hashing finds it

    created = homesync("backup", "create", dest, "--json", "--data-dir", data)
    assert created.returncode == 1, created.stdout + created.stderr
    report = as_json(created)
    assert report["ok"] is False and report["copiedChunks"] == 2
    [problem] = report["problems"]
    assert problem["hash"] == bad_hash
    assert problem["problem"].startswith("is damaged in the data dir: its content hashes to ")
    assert problem["files"][0].startswith("alice@example.com:/camera/IMG_")
    assert bad_hash not in chunk_files(dest)

    # The snapshot is published (the other files are safe) but marked incomplete, and
    # verify fails without --read-data, naming the chunk and its file.
    [snapshot] = as_json(homesync("backup", "list", dest, "--json"))["snapshots"]
    assert snapshot["missingChunks"] == [bad_hash]
    verified = homesync("backup", "verify", dest)
    assert verified.returncode == 1
    assert bad_hash in verified.stderr and problem["files"][0] in verified.stderr
    assert "damaged in the data dir when the backup was taken" in verified.stderr
    last = as_json(homesync("status", "--json", "--data-dir", data))["lastBackup"]
    assert last["missingChunks"] == 1

    # For people: named once, with its file; the result says the backup is incomplete.
    human = homesync("backup", "create", dest, "--data-dir", data)
    assert human.returncode == 1
    assert human.stderr.count(bad_hash) == 1, human.stderr
    assert problem["files"][0] in human.stderr
    assert "missing or damaged in the data dir" in human.stdout
    # The table may wrap that cell (a long data dir path widens the title): read its words.
    status = homesync("status", "--data-dir", data).stdout
    words = " ".join(w for w in status.split() if w.strip("│┃┌┐└┘├┤─┬┴┼╭╮╰╯"))
    assert "were missing or damaged" in words, status
