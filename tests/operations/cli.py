"""`homesync …` run as an operator runs it: a subprocess, its output read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def homesync(*args: str | Path, fsync: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOMESYNC_STORAGE_FSYNC": str(fsync).lower(), "COLUMNS": "200"}
    env.pop("HOMESYNC_DATA_DIR", None)
    return subprocess.run([sys.executable, "-m", "homesync", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=120)


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(result.stdout)
