"""B2: `backup verify --read-data --subset 25% --seed S` is repeatable. With every chunk of
the backup damaged, each chunk a run reads is named in its report, so the report shows the
sample itself: the same seed reads the same chunks, another seed other ones."""

from __future__ import annotations

from pathlib import Path

from homesync.services.container import Services
from tests.operations.cli import homesync
from tests.operations.data import chunk_files, flip_byte
from tests.operations.restored import photos_backed_up


async def test_a_seeded_sample_reads_the_same_chunks_every_run(services: Services, make_user,
                                                                tmp_path: Path) -> None:
    dest = tmp_path / "usb-disk" / "homesync"
    await photos_backed_up(services, make_user, dest, count=8)
    stored = chunk_files(dest)
    assert len(stored) >= 16
    for path in stored.values():
        flip_byte(path)

    def sample(seed: int) -> set[str]:
        run = homesync("backup", "verify", dest, "--read-data", "--subset", "25%",
                       "--seed", str(seed))
        assert run.returncode == 1, run.stdout + run.stderr
        report = run.stderr.replace("\n", "")
        return {chunk for chunk in stored if chunk in report}

    first = sample(1)
    assert len(first) == round(len(stored) * 0.25)
    assert sample(1) == first
    assert sample(2) != first  # else --seed would pick nothing
