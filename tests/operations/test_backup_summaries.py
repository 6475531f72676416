"""What `backup create` and `backup verify` say they did, in their summaries and bars."""

from __future__ import annotations

import re
from pathlib import Path

from homesync.services.container import Services
from tests.operations.cli import homesync
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
