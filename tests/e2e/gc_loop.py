"""``homesync gc`` in a process of its own beside a running server, for crash tests."""

from __future__ import annotations

import subprocess
import sys
import threading

from tests.helpers import ServerProcess


class GcLoop:
    """``homesync gc --grace 0s`` again and again beside the server, until stopped."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.stop = threading.Event()
        self.proc: subprocess.Popen[str] | None = None
        self.lock = threading.Lock()
        self.runs = 0
        self.killed = 0
        self.failures: list[str] = []
        self.thread = threading.Thread(target=self._loop)

    def _loop(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                if self.stop.is_set():
                    return
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "homesync", "gc", "--grace", "0s", "--json",
                     "--data-dir", str(self.server.data_dir)],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                    env=self.server.env)
            _, err = self.proc.communicate()
            if self.proc.returncode == -9:
                self.killed += 1
            elif self.proc.returncode != 0:
                self.failures.append(err)
            self.runs += 1

    def start(self) -> None:
        self.thread.start()

    def halt(self, kill: bool) -> None:
        with self.lock:
            self.stop.set()
            if kill and self.proc is not None and self.proc.poll() is None:
                self.proc.kill()
        self.thread.join()
