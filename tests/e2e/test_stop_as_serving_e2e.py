"""A stop signal that comes as `homesync serve` says "homesync serving", before uvicorn has
put its own handlers in place: a supervisor (or a test) that waits for the line and stops
the server at once. It killed the process where it stood (-15, the database left open).

The moment is caught without timing: the server's standard output is a pipe the test
filled, so writing the line blocks until the test reads it, and the signal comes while
the server waits there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.test_upload_e2e import ENV

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path("/proc/self/wchan").exists(), reason="needs /proc/PID/wchan"),
]


def _full_pipe() -> tuple[int, int]:
    """A pipe (read end, write end) whose buffer is full: the next write to it waits."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    for size in (4096, 1):
        try:
            while True:
                os.write(write_end, b"." * size)
        except BlockingIOError:
            pass
    os.set_blocking(write_end, True)
    return read_end, write_end


def _wait_until_writing_to_a_pipe(proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    # Polling: the kernel's word for where the process waits is all it tells us.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server ended before it said anything"
        if Path(f"/proc/{proc.pid}/wchan").read_text().endswith("pipe_write"):
            return
        time.sleep(0.02)
    raise AssertionError("the server never wrote to its standard output")


def _drain(read_end: int) -> bytes:
    out = bytearray()
    while chunk := os.read(read_end, 65536):
        out += chunk
    os.close(read_end)
    return bytes(out)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_as_serving_is_said_stops_cleanly(tmp_path: Path,
                                                        stop: signal.Signals) -> None:
    data_dir = tmp_path / "data"
    env = {**os.environ, "HOMESYNC_STORAGE_FSYNC": "false", **ENV}
    base = [sys.executable, "-m", "homesync"]
    # An account first: a first start would print the first admin's password before.
    added = subprocess.run([*base, "user", "add", "alice@example.com", "--password-stdin",
                            "--data-dir", str(data_dir)], input="correct horse battery\n",
                           capture_output=True, text=True, env=env, timeout=60)
    assert added.returncode == 0, added.stderr
    read_end, write_end = _full_pipe()
    with open(tmp_path / "server.log", "wb") as log:
        proc = subprocess.Popen([*base, "serve", "--data-dir", str(data_dir), "--port", "0"],
                                stdout=write_end, stderr=log, env=env)
    os.close(write_end)
    try:
        _wait_until_writing_to_a_pipe(proc)  # its first line: "homesync serving ..."
        proc.send_signal(stop)
        said = _drain(read_end).lstrip(b".").decode()
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log_text = (tmp_path / "server.log").read_text()
    assert code == 0, f"exit {code}\n{said}\n{log_text}"
    assert said.startswith("homesync serving http://127.0.0.1:"), said
    assert not (data_dir / "homesync.sqlite3-wal").exists()  # closed, not abandoned
