"""The progress bars of `homesync gc` and `fsck` in an 80-column terminal."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from homesync.services.container import Services
from tests.cli.conftest import FAST_ENV, Cli
from tests.operations.data import delete_file, photo, put_file


def _last_frame(cli: Cli, *args: str) -> list[str]:
    """The lines of the bars as last drawn, run as in a terminal 80 columns wide."""
    env = {**os.environ, **FAST_ENV, "TTY_COMPATIBLE": "1", "COLUMNS": "80"}
    done = subprocess.run([sys.executable, "-m", "homesync", *args, "--data-dir",
                           str(cli.data_dir)], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", done.stderr).replace("\r", "\n")
    lines = [line.rstrip() for line in drawn.splitlines() if "━" in line]
    assert lines, done.stderr
    return lines


def test_the_counts_fit_and_gc_counts_what_it_freed(cli: Cli) -> None:
    """fsck's step names (50 columns: 'Looking for chunk files the database does not
    know') cut its 'Re-hashing chunks' line to '293.0 KiB/293.0…', the count lost; gc's
    steps have no total, and it showed no count at all (100 000 chunks freed in silence)."""
    cli.add_user()

    async def store(s: Services) -> None:
        uid = (await s.accounts.get("alice@example.com")).id
        for seed in range(3):
            await put_file(s, uid, "/camera", f"IMG_{seed}.jpg", photo(seed, 150_000))
        for seed in range(3, 5):
            await delete_file(s, uid, await put_file(s, uid, "/camera", f"IMG_{seed}.jpg",
                                                      photo(seed, 1000)))

    cli.with_services(store)
    checked = _last_frame(cli, "fsck")
    assert not [line for line in checked if "…" in line or len(line) > 80], checked
    assert any(re.search(r"/s +11/11$", line) for line in checked), checked
    assert any(re.fullmatch(r"Find unknown files ━+ 11", line) for line in checked), checked

    freed = _last_frame(cli, "gc", "--grace", "0s")
    assert any(re.fullmatch(r"Free chunks +━+ 2", line) for line in freed), freed
