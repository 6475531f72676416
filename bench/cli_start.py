"""CLI start-up: wall time of quick ``homesync`` commands, median of N runs each.

    python bench/cli_start.py                        # this checkout, 10 runs per command
    python bench/cli_start.py --runs 20 --against /tmp/old-checkout

Every command is a fresh ``python -m homesync`` process (what each ``homesync ...`` a
user types, and each CLI test that runs a subprocess, pays). ``user list`` and
``status`` run on a data dir with one account, made once before timing (one per
checkout: they may be at different schema versions). With
``--against DIR`` (another checkout, e.g. ``git archive HEAD~3 | tar -x -C DIR``), that
checkout's code is timed too, interleaved run by run with this one's, so a busy machine
slows both alike; its columns are first, this checkout's second.

Two figures per command: wall time, and CPU time (user + system) of the process, which
other work on a busy machine inflates far less. Bytecode is written and used (as for an
installed homesync), even when PYTHONDONTWRITEBYTECODE is set here.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COMMANDS: list[tuple[str, ...]] = [
    ("--version",),
    ("--help",),
    ("serve", "--help"),
    ("user", "--help"),
    ("user", "list", "--data-dir", "{data}"),
    ("status", "--data-dir", "{data}"),
]

FAST_ENV = {
    "HOMESYNC_STORAGE_FSYNC": "false",
    "HOMESYNC_AUTH_ARGON2_TIME_COST": "1",
    "HOMESYNC_AUTH_ARGON2_MEMORY_KIB": "8",
    "HOMESYNC_AUTH_ARGON2_PARALLELISM": "1",
}


def run(checkout: Path, args: tuple[str, ...], data: Path,
        stdin: str | None = None) -> tuple[float, float]:
    """Wall and CPU seconds one ``python -m homesync ARGS`` took, importing from
    ``checkout``."""
    env = {**os.environ, **FAST_ENV, "PYTHONPATH": str(checkout)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    argv = [sys.executable, "-m", "homesync", *(a.format(data=data) for a in args)]
    cpu_before = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, input=stdin, capture_output=True, text=True,
                          cwd=checkout)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited with {done.returncode}:\n{done.stderr}")
    return wall, _children_cpu() - cpu_before


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="runs per command (default 10)")
    parser.add_argument("--against", type=Path, metavar="DIR",
                        help="another checkout to time the same way, interleaved")
    args = parser.parse_args()
    checkouts = [args.against.resolve(), ROOT] if args.against else [ROOT]

    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        data = {checkout: Path(tmp) / f"data{i}" for i, checkout in enumerate(checkouts)}
        for checkout in checkouts:
            add = ("user", "add", "alice@example.com", "--password-stdin", "--data-dir", "{data}")
            run(checkout, add, data[checkout], stdin="correct horse battery\n")
        times: dict[tuple[Path, tuple[str, ...]], list[tuple[float, float]]] = {}
        for _ in range(args.runs):
            for command in COMMANDS:
                for checkout in checkouts:
                    times.setdefault((checkout, command), []).append(
                        run(checkout, command, data[checkout]))

    labels = [" ".join(c).replace(" --data-dir {data}", "") for c in COMMANDS]
    width = max(map(len, labels)) + 2
    print(f"{args.runs} runs per command, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}; median milliseconds")
    for i, checkout in enumerate(checkouts):
        print(f"  {i + 1}: {checkout}")
    header = "".join(f"{'wall ' + str(i + 1):>9}{'cpu ' + str(i + 1):>9}"
                     for i in range(len(checkouts)))
    print(f"\n{'homesync':<{width}}{header}")
    for label, command in zip(labels, COMMANDS, strict=True):
        cells = ""
        for checkout in checkouts:
            runs = times[(checkout, command)]
            cells += f"{statistics.median(w for w, _ in runs) * 1000:>9.0f}"
            cells += f"{statistics.median(c for _, c in runs) * 1000:>9.0f}"
        print(f"{label:<{width}}{cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
