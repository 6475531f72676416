"""Backup speed: first and unchanged-incremental `backup create` against a plain `cp -r`.

    python bench/backup.py                      # 20 000 files, 2 GiB (the issue's figures)
    python bench/backup.py --files 2000 --size 200MiB --keep /tmp/bench-backup

Builds a real data dir (SQLite schema, one account, 20 000 files of one chunk each, sizes
spread around the mean, incompressible bytes), then times in the same run:

* ``cp -r`` of the data dir (the baseline), and ``cp -r`` followed by ``sync``;
* the first ``backup create`` into an empty destination (fsync on, as in production);
* ``backup create`` again with nothing changed (incremental: every chunk is skipped).

Goals (issue 6): first backup within 1.5x ``cp -r``; the unchanged incremental under 5 %
of the first. Caches are warm for every run alike (dropping them needs root on the host).
Exit status 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from homesync.config import load_settings, parse_size  # noqa: E402
from homesync.services.container import Services  # noqa: E402
from homesync.store import files  # noqa: E402
from homesync.store.local_chunks import LocalChunkStore  # noqa: E402

_BATCH = 500


async def build_store(data_dir: Path, n_files: int, total: int, seed: int) -> int:
    """A data dir holding ``n_files`` files of ``total`` bytes together; returns the bytes."""
    settings = load_settings(None, environ={}, overrides={"data_dir": str(data_dir),
                                                          "storage": {"fsync": False}})
    services = await Services.open(settings)
    rng = random.Random(seed)
    mean = total // n_files
    sizes = [rng.randint(mean // 2, mean * 3 // 2) for _ in range(n_files)]
    store = LocalChunkStore(data_dir, fsync=False)
    written = 0
    try:
        user = await services.accounts.create_user("bench@example.com", "bench password 1",
                                                   name="Bench")
        for start in range(0, n_files, _BATCH):
            batch = []
            for i in range(start, min(start + _BATCH, n_files)):
                content = rng.randbytes(sizes[i])
                digest = hashlib.sha256(content).hexdigest()
                path = store.path_for(digest)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
                batch.append((i, digest, len(content)))
                written += len(content)
            async with services.db.transaction() as tx:
                for i, digest, size in batch:
                    await tx.execute(
                        "INSERT OR IGNORE INTO chunks (hash, size, created_at) VALUES (?, ?, 0)",
                        (digest, size))
                    await files.commit_version(
                        tx, user_id=user.id, file_id=None, folder=f"/photos/{i // 1000:03d}",
                        name=f"IMG_{i:06d}.jpg", size=size, checksum=f"sha256:{digest}",
                        mime_type="image/jpeg", metadata={}, modified_at=0,
                        chunk_hashes=[digest], device_id=None, now=0)
            print(f"\r  built {min(start + _BATCH, n_files):,}/{n_files:,} files", end="",
                  flush=True)
        await services.db.checkpoint()
    finally:
        await services.close()
    print()
    return written


async def backup_once(data_dir: Path, dest: Path) -> tuple[float, int]:
    settings = load_settings(None, environ={}, overrides={"data_dir": str(data_dir)})
    services = await Services.open(settings)
    try:
        t0 = time.perf_counter()
        report = await services.backups.create(dest)
        elapsed = time.perf_counter() - t0
    finally:
        await services.close()
    assert report.ok, report.problems
    return elapsed, report.copied_bytes


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--size", default="2GiB", help="total size, e.g. 2GiB, 200MiB")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="work here and keep it (default: a temp dir)")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="homesync-bench-backup-"))
    work.mkdir(parents=True, exist_ok=True)
    data, dest, copy = work / "data", work / "backup", work / "cp-copy"
    for d in (data, dest, copy):
        shutil.rmtree(d, ignore_errors=True)
    try:
        print(f"Building {args.files:,} files / {args.size} in {data}")
        total = asyncio.run(build_store(data, args.files, parse_size(args.size), args.seed))
        subprocess.run(["sync"], check=True)

        cp = timed(["cp", "-r", str(data), str(copy)])
        cp_sync = cp + timed(["sync"])
        shutil.rmtree(copy)
        subprocess.run(["sync"], check=True)
        first, first_bytes = asyncio.run(backup_once(data, dest))
        again, again_bytes = asyncio.run(backup_once(data, dest))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    mb = total / 1e6
    rows = [
        ("cp -r (baseline)", cp, total),
        ("cp -r + sync", cp_sync, total),
        ("backup create, first", first, first_bytes),
        ("backup create, unchanged", again, again_bytes),
    ]
    print(f"\n{args.files:,} files, {mb:,.0f} MB, {os.cpu_count()} cores, warm caches\n")
    print(f"{'run':<28}{'seconds':>10}{'MB/s':>10}{'copied MB':>12}{'vs cp -r':>10}")
    for name, seconds, copied in rows:
        print(f"{name:<28}{seconds:>10.2f}{mb / seconds:>10.0f}{copied / 1e6:>12.0f}"
              f"{seconds / cp:>9.2f}x")
    goals = [
        (f"first backup within 1.5x cp -r ({first / cp:.2f}x)", first <= 1.5 * cp),
        (f"unchanged incremental under 5% of the first ({again / first:.1%})",
         again < 0.05 * first),
    ]
    print()
    for text, met in goals:
        print(f"  {'PASS' if met else 'FAIL'}  {text}")
    return 0 if all(met for _, met in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
