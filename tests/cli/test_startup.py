"""The CLI starts without the web stack and the services: they are loaded by the commands
that use them (serve; run_with_services), so --help and quick commands answer fast."""

from __future__ import annotations

import subprocess
import sys

# A module here, or any module inside it, is loaded only by the commands that use it.
HEAVY = ("litestar", "uvicorn", "jwt", "homesync.app", "homesync.services", "homesync.store.db",
         "homesync.server.run", "aiosqlite", "asyncio", "rich.progress", "rich.table")


def test_importing_the_cli_leaves_the_server_and_the_services_unloaded() -> None:
    probe = ("import sys, homesync.cli; "
             f"print(','.join(sorted({{h for m in sys.modules for h in {HEAVY!r}"
             " if m == h or m.startswith(h + '.')})))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == ""
