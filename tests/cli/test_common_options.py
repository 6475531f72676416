"""Every command takes --data-dir and --config (API.md § CLI), even where they mean nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from typer.core import TyperGroup

from homesync.cli import app
from tests.cli.conftest import Cli


def _leaf_commands(cmd: Any, path: str = "homesync") -> dict[str, Any]:
    if not isinstance(cmd, TyperGroup):
        return {path: cmd}
    leaves: dict[str, Any] = {}
    for name, sub in cmd.commands.items():
        leaves |= _leaf_commands(sub, f"{path} {name}")
    return leaves


def test_every_command_takes_data_dir_and_config() -> None:
    commands = _leaf_commands(typer.main.get_command(app))
    assert len(commands) >= 15
    for path, cmd in commands.items():
        options = {opt for param in cmd.params for opt in param.opts}
        assert {"--data-dir", "--config"} <= options, path


def test_backup_list_and_verify_accept_but_do_not_use_them(cli: Cli, tmp_path: Path) -> None:
    """A backup stays checkable when the data dir and its config are gone."""
    cli.add_user()
    dest = tmp_path / "usb" / "homesync"
    assert cli("backup", "create", str(dest)).exit_code == 0
    gone, bad_config = tmp_path / "lost-data-dir", tmp_path / "broken.toml"
    bad_config.write_text("this is [not toml", "utf-8")
    for command in ("list", "verify"):
        result = cli("backup", command, str(dest), "--data-dir", str(gone),
                     "--config", str(bad_config), data_dir=False)
        assert result.exit_code == 0, result.output
    assert not gone.exists()


@pytest.mark.parametrize("command", ["status", "fsck"])
def test_looking_at_a_missing_data_dir_does_not_create_it(cli: Cli, tmp_path: Path,
                                                         command: str) -> None:
    missing = tmp_path / "typo"
    result = cli(command, "--data-dir", str(missing), data_dir=False)
    assert result.exit_code == 1
    assert f"no data dir at {missing}" in result.stderr.replace("\n", "")
    assert not missing.exists()
