"""The CLI starts without the web stack and the services: they are loaded by the commands
that use them (serve; run_with_services), so --help and quick commands answer fast."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("litestar", "uvicorn", "homesync.app", "homesync.services.container", "jwt")


def test_importing_the_cli_leaves_the_server_and_the_services_unloaded() -> None:
    probe = ("import sys, homesync.cli; "
             f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == ""
