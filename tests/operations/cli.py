"""`homesync …` run as an operator runs it: a subprocess, its output read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.stranger import homesync_as_a_stranger


def homesync(*args: str | Path, fsync: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "homesync", *map(str, args)],
                          capture_output=True, text=True, env=_env(fsync), timeout=120)


def homesync_as_stranger(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """:func:`homesync` run by a user file modes bar (tests.stranger)."""
    return homesync_as_a_stranger(*args, env=_env(fsync=False))


def _env(fsync: bool) -> dict[str, str]:
    env = {**os.environ, "HOMESYNC_STORAGE_FSYNC": str(fsync).lower(), "COLUMNS": "200"}
    env.pop("HOMESYNC_DATA_DIR", None)
    return env


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(result.stdout)
