"""What `backup create` and `backup verify` say they did, in their summaries and bars."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from homesync.services.container import Services
from tests.operations.cli import homesync
from tests.operations.data import chunk_files, photo, put_file
from tests.operations.restored import photos_backed_up


def _row(stdout: str, name: str) -> str:
    """The value of one row of a summary table."""
    line = next(line for line in stdout.splitlines() if f" {name} " in line)
    return line.split("│")[2].strip()


async def test_a_structure_only_verify_shows_what_it_checked_not_a_rate(
        services: Services, make_user, tmp_path: Path) -> None:
    """Without --read-data no chunk is read: it showed "Took 0.0 s (0 B/s)", a rate of
    nothing, as if the disk had stalled."""
    dest = tmp_path / "backup"
    await photos_backed_up(services, make_user, dest, count=2)

    checked = homesync("backup", "verify", dest)
    assert checked.returncode == 0, checked.stderr
    took = _row(checked.stdout, "Took")
    chunks = _row(checked.stdout, "Chunks").split()[0]  # "6 (1.2 MiB)"
    assert re.fullmatch(rf"\d+\.\d s \({chunks} chunk size\(s\) checked, no chunk read\)",
                        took), took
    assert "B/s" not in checked.stdout

    read = homesync("backup", "verify", dest, "--read-data")
    assert read.returncode == 0, read.stderr
    assert "re-hashed at " in _row(read.stdout, "Took")


def _bars(*args: str | Path) -> tuple[list[str], str]:
    """`homesync …` run as in a terminal 80 columns wide: the lines of its bars as last
    drawn, and its standard error."""
    env = {**os.environ, "HOMESYNC_STORAGE_FSYNC": "false", "TTY_COMPATIBLE": "1",
           "COLUMNS": "80"}
    env.pop("HOMESYNC_DATA_DIR", None)
    done = subprocess.run([sys.executable, "-m", "homesync", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", done.stderr).replace("\r", "\n")
    return [line.rstrip() for line in drawn.splitlines() if "━" in line], done.stderr


def _copy_bar(bars: list[str]) -> str:
    return next(line for line in reversed(bars) if line.startswith("Copy chunks"))


async def test_the_copy_bar_counts_only_the_chunks_copied(
        services: Services, make_user, tmp_path: Path) -> None:
    """Chunks already in DEST were counted as copied bytes: an incremental backup that
    copied one photo showed every chunk's size at the rate of a stat. It counts what is
    copied, and says how many were there already."""
    uid = await make_user()
    await put_file(services, uid, "/camera", "IMG_0.jpg", photo(0, 300_000))
    data, dest = services.settings.data_path, tmp_path / "backup"
    first, _ = _bars("backup", "create", dest, "--data-dir", data)
    all_chunks = len(chunk_files(dest))
    assert re.search(rf"  {all_chunks}/{all_chunks}$", _copy_bar(first)), first

    again, said = _bars("backup", "create", dest, "--data-dir", data)
    assert re.fullmatch(r"Copy chunks +━+ 0 B/0 B +0/0", _copy_bar(again)), again
    assert f"{all_chunks} chunk(s) already in the backup: not copied again" in said
    unchanged = homesync("backup", "create", dest, "--data-dir", data)
    assert re.fullmatch(r"\d+\.\d s \(nothing to copy\)", _row(unchanged.stdout, "Took"))

    await put_file(services, uid, "/camera", "IMG_1.jpg", photo(1, 1000))  # one chunk
    third, said = _bars("backup", "create", dest, "--data-dir", data)
    assert re.fullmatch(r"Copy chunks +━+ 1000 B/1000 B .* 1/1", _copy_bar(third)), third
    assert f"{all_chunks} chunk(s) already in the backup" in said
