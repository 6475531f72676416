"""A homesync command run in a subprocess that stops at a chosen point: its script
patches the step to pause at, prints "paused" there and waits for a line on stdin."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def paused_command(script: str, *args: str | Path,
                   env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    """``python -c script args...``, yielded once it says it is paused; killed on exit
    if it has not ended by then."""
    proc = subprocess.Popen([sys.executable, "-c", script, *map(str, args)], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline() == "paused\n", proc.communicate(timeout=60)
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.communicate()


def resume(proc: subprocess.Popen[str]) -> str:
    """Let the paused ``proc`` go on to its end; its stdout, once it exited 0."""
    assert proc.stdin is not None
    proc.stdin.close()
    proc.stdin = None
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    return out
