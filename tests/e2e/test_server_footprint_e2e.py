"""A running server holds the web stack and the services, not the CLI's libraries: typer,
rich and pydantic (typer's converters) stay in `homesync serve`'s checking of its options,
httpx (push) until the first push goes out, prometheus_client unless metrics are served.
~15 MiB of what an idle server took (bench/upload.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ServerProcess

# Not click: uvicorn imports it. prometheus_client: metrics are off by default.
CLI_ONLY = ("pydantic", "pydantic_core", "typer", "rich", "httpx", "prometheus_client")

# The server's own entry (what `homesync serve` becomes) run to the point where it would
# start serving, then asked which modules it holds; it stops cleanly from there.
PROBE = """
import runpy, sys
from homesync.server import graceful

async def report(self, sockets=None):
    print("loaded:", ",".join(sorted(m for m in sys.modules if m.split(".")[0] in {cli_only!r})))

graceful.GracefulServer.serve = report
runpy.run_module("homesync.server", run_name="__main__")
"""


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")
def test_a_running_server_has_not_loaded_pydantic(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    server.start()
    try:
        assert server.proc is not None
        maps = Path(f"/proc/{server.proc.pid}/maps").read_text()
    finally:
        server.stop()
    assert "pydantic_core" not in maps
    assert "_pydantic_core" not in maps


def test_the_server_entry_loads_none_of_the_cli_libraries(tmp_path: Path) -> None:
    env = {**os.environ, "HOMESYNC_DATA_DIR": str(tmp_path / "data"),
           "HOMESYNC_SERVER_PORT": "0", "HOMESYNC_STORAGE_FSYNC": "false"}
    probe = subprocess.run([sys.executable, "-c", PROBE.format(cli_only=set(CLI_ONLY))],
                           capture_output=True, text=True, env=env, timeout=60)
    assert probe.returncode == 0, probe.stderr
    [loaded] = [line for line in probe.stdout.splitlines() if line.startswith("loaded:")]
    assert loaded == "loaded: "
