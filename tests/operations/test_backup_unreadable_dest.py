"""A backup DEST part of which the command's user may not read (its snapshots/ made 0700
by the backup's user, say): `backup list`, `verify` and `prune` say which path and whose,
as `restore` and `create` do, instead of a traceback or a bare errno."""

from __future__ import annotations

import json
import os
import pwd
from pathlib import Path

import pytest

from homesync.services.container import Services
from tests.operations.cli import homesync_as_stranger
from tests.operations.restored import photos_backed_up
from tests.stranger import skip_unless_a_stranger_can_run


@pytest.fixture(autouse=True)
def _barred_by_chmod() -> None:
    skip_unless_a_stranger_can_run("to be barred by a chmod")


@pytest.mark.parametrize("command", [["list"], ["verify"], ["prune", "--keep-last", "1"]])
async def test_a_snapshots_directory_it_may_not_read_is_named(
        services: Services, make_user, tmp_path: Path, command: list[str]) -> None:
    """`list` ended in a PermissionError traceback; verify and prune printed
    "[Errno 13] Permission denied: '…/snapshots'"."""
    dest = tmp_path / "backup"
    await photos_backed_up(services, make_user, dest)
    (dest / "snapshots").chmod(0)
    try:
        done = homesync_as_stranger("backup", *command, dest, "--json")
    finally:
        (dest / "snapshots").chmod(0o700)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert json.loads(done.stdout) == {"ok": False,
                                       "error": f"Permission denied: {dest / 'snapshots'}"}


@pytest.mark.parametrize("command", [["create"], ["list"], ["verify"], ["restore"],
                                     ["prune", "--keep-last", "1"]])
async def test_a_dest_it_may_not_read_at_all_is_refused_naming_whose_it_is(
        services: Services, make_user, tmp_path: Path, command: list[str]) -> None:
    """DEST itself another user's and 0700 (a disk mounted for the backup's user): Typer
    took it for bad usage (exit 2, "path … is not readable", whose not said); it is an
    unusable DEST like any other, exit code 1."""
    dest = tmp_path / "backup"
    await photos_backed_up(services, make_user, dest)
    data = services.settings.data_path if command[0] == "create" else tmp_path / "restored"
    os.chown(dest, 4242, 4242)
    dest.chmod(0o700)
    done = homesync_as_stranger("backup", *command, dest, "--json", "--data-dir", data)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert json.loads(done.stdout) == {
        "ok": False, "error": f"Permission denied: {dest / 'homesync-backup.json'}"
                              f" ({dest} belongs to user {_name_of(4242)})"}
    assert not (tmp_path / "restored").exists()


def _name_of(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"id {uid}"


@pytest.mark.parametrize("read_data", [[], ["--read-data"]])
async def test_a_chunk_directory_it_may_not_read_is_damage_named_and_verify_goes_on(
        services: Services, make_user, tmp_path: Path, read_data: list[str]) -> None:
    """One chunks/ab/cd/ made 0000 stopped verify at its first chunk ("Permission denied:
    …"), the rest of the backup unchecked; its chunks are now named as damage (exit 1)
    and every other chunk is checked."""
    dest = tmp_path / "backup"
    await photos_backed_up(services, make_user, dest, count=3)
    chunks = sorted((dest / "chunks").glob("*/*/*"))
    barred = chunks[0].parent
    inside = {c.name for c in barred.iterdir()}
    barred.chmod(0)
    try:
        done = homesync_as_stranger("backup", "verify", dest, *read_data, "--json")
    finally:
        barred.chmod(0o700)

    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is False and report["chunks"] == len(chunks)
    assert report["databaseProblems"] == [] and report["serverKeyProblems"] == []
    assert {p["hash"]: p["problem"] for p in report["problems"]} == {
        h: f"cannot be checked in the backup: Permission denied ({barred / h})"
        for h in inside}
    assert all(p["files"] for p in report["problems"])  # with the photos they hold
    if read_data:
        assert report["chunksRead"] == len(chunks) - len(inside)
