"""The real command line run as a stranger: root without the capabilities that let it
into any file (so a chmod 000 or another user's 0700 bars it), for tests of what the
commands say when they may not read something."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

__all__ = ["AS_A_STRANGER", "homesync_as_a_stranger", "skip_unless_a_stranger_can_run"]

AS_A_STRANGER = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


def skip_unless_a_stranger_can_run(why: str) -> None:
    """Skip the test (saying ``why``) unless this is root with setpriv able to drop them."""
    if os.geteuid() != 0 or not shutil.which("setpriv") \
            or subprocess.run([*AS_A_STRANGER, "true"]).returncode != 0:
        pytest.skip(f"needs root and setpriv {why}")


def homesync_as_a_stranger(*args: str | Path, env: Mapping[str, str] | None = None,
                           timeout: float = 120, **run: object
                           ) -> subprocess.CompletedProcess[str]:
    """``homesync *args`` as the stranger; ``env``: this process's environment by default."""
    return subprocess.run(  # type: ignore[call-overload,no-any-return]
        [*AS_A_STRANGER, sys.executable, "-m", "homesync", *map(str, args)],
        capture_output=True, text=True, env=dict(os.environ if env is None else env),
        timeout=timeout, **run)
