"""`homesync serve` checks its options and settings, then becomes `python -m homesync.server`
(same process): the server must load exactly the settings the command checked."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from homesync.cli.common import settings_from
from homesync.cli.serve import server_environ
from homesync.config import load_settings

FILE = """data_dir = "/from/the/file"
[server]
host = "10.1.2.3"
port = 1111
[auth]
access_token_ttl = "5m"
"""


@pytest.mark.parametrize("flags", [
    {},
    {"data_dir": "flag-data", "host": "::1", "port": 3333},
    {"config": "CONFIG"},
    {"config": "CONFIG", "data_dir": "flag-data", "port": 3333},
])
@pytest.mark.parametrize("environ", [
    {},
    {"HOMESYNC_SERVER_PORT": "2222", "HOMESYNC_DATA_DIR": "/from/env",
     "HOMESYNC_AUTH_ACCESS_TOKEN_TTL": "7m"},
    {"HOMESYNC_CONFIG": "CONFIG", "HOMESYNC_SERVER_HOST": "0.0.0.0"},
])
def test_the_server_loads_the_settings_serve_checked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        flags: dict[str, Any], environ: dict[str, str]) -> None:
    config = tmp_path / "homesync.toml"
    config.write_text(FILE)
    environ = {k: str(config) if v == "CONFIG" else v for k, v in environ.items()}
    for var in [v for v in os.environ if v.startswith("HOMESYNC_")]:
        monkeypatch.delenv(var)
    for var, value in environ.items():
        monkeypatch.setenv(var, value)
    # What typer hands `serve`: a flag, else its variable (HOMESYNC_CONFIG, _DATA_DIR).
    config_opt = config if flags.get("config") else (
        Path(environ["HOMESYNC_CONFIG"]) if "HOMESYNC_CONFIG" in environ else None)
    data_opt = Path(flags["data_dir"]) if "data_dir" in flags else (
        Path(environ["HOMESYNC_DATA_DIR"]) if "HOMESYNC_DATA_DIR" in environ else None)
    host, port = flags.get("host"), flags.get("port")
    server = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}

    checked = settings_from(config_opt, data_opt, server=server or None)
    handed = server_environ(environ, config=config_opt, data_dir=data_opt, host=host, port=port)
    assert load_settings(environ=handed) == checked
