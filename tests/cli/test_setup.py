"""`homesync init`, where the CLI finds its settings, and how it fails on bad ones."""

from __future__ import annotations

import errno
import socket
import stat
from pathlib import Path

import pytest

from homesync import __version__
from homesync.config import Settings, load_settings
from homesync.server.run import StartError, bind_listener
from tests.cli.conftest import Cli
from tests.helpers import PASSWORD


def test_version(cli: Cli) -> None:
    result = cli("--version", data_dir=False)
    assert result.exit_code == 0
    assert result.stdout.strip() == __version__


def test_init_writes_a_private_loadable_config(cli: Cli) -> None:
    result = cli("init")
    assert result.exit_code == 0, result.output
    config = cli.data_dir / "homesync.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(cli.data_dir.stat().st_mode) == 0o700
    settings = load_settings(config, environ={})
    assert Path(settings.data_dir) == cli.data_dir.absolute()
    assert settings.server == Settings().server  # everything else is the documented default


def test_init_does_not_overwrite_without_force(cli: Cli) -> None:
    assert cli("init").exit_code == 0
    config = cli.data_dir / "homesync.toml"
    config.write_text("# mine\n")
    again = cli("init")
    assert again.exit_code == 4
    assert "exists" in again.stderr
    assert config.read_text() == "# mine\n"
    assert cli("init", "--force").exit_code == 0
    assert "[server]" in config.read_text()


def test_init_at_a_chosen_path(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "etc" / "homesync.toml"
    result = cli("init", "--config", str(target))
    assert result.exit_code == 0, result.output
    assert load_settings(target, environ={}).data_path == cli.data_dir.absolute()


def test_data_dir_from_the_environment(cli: Cli) -> None:
    result = cli("user", "add", "alice@example.com", "--password-stdin",
                 input="correct horse battery\n",
                 env={"HOMESYNC_DATA_DIR": str(cli.data_dir)}, data_dir=False)
    assert result.exit_code == 0, result.output
    assert [u["email"] for u in cli.json("user", "list")] == ["alice@example.com"]


def test_data_dir_from_a_config_file(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "homesync.toml"
    config.write_text(f'data_dir = "{cli.data_dir}"\n')
    cli.add_user()
    result = cli("user", "list", "--json", "--config", str(config), data_dir=False)
    assert result.exit_code == 0, result.output
    assert "alice@example.com" in result.stdout
    via_env = cli("user", "list", "--json", env={"HOMESYNC_CONFIG": str(config)}, data_dir=False)
    assert "alice@example.com" in via_env.stdout


def test_bad_configuration_exits_2_naming_option_and_source(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "homesync.toml"
    config.write_text('[auth]\naccess_token_ttl = "a while"\n')
    for args in (["user", "list"], ["serve"], ["device", "list"]):
        result = cli(*args, "--config", str(config))
        assert result.exit_code == 2, result.output
        assert f"{config}: option auth.access_token_ttl: expected a duration" in result.stderr
        assert "Traceback" not in result.output
    result = cli("serve", env={"HOMESYNC_SERVER_PORT": "eighty"})
    assert result.exit_code == 2
    assert "HOMESYNC_SERVER_PORT: option server.port: expected an integer, got 'eighty'" \
        in result.stderr
    result = cli("user", "list", env={"HOMESYNC_AUTH_TOKEN_TTL": "1h"})
    assert result.exit_code == 2
    assert "HOMESYNC_AUTH_TOKEN_TTL: no such option" in result.stderr


def test_a_misspelt_section_suggests_the_section(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "homesync.toml"
    config.write_text("[sever]\nport = 8080\n")
    result = cli("serve", "--config", str(config))
    assert result.exit_code == 2, result.output
    assert f"{config}: unknown section [sever] (did you mean [server]?)" in result.stderr


def test_missing_config_file(cli: Cli, tmp_path: Path) -> None:
    result = cli("serve", "--config", str(tmp_path / "nope.toml"))
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_unusable_data_dir_exits_1(cli: Cli, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = cli("user", "add", "alice@example.com", "--password-stdin", "--data-dir",
                 str(blocker / "data"), data_dir=False, input=PASSWORD + "\n")
    assert result.exit_code == 1
    assert f"{blocker} is a file, not a directory" in result.stderr.replace("\n", "")
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args", [
    ["backup", "create", "BACKUP"], ["gc"], ["fsck"], ["status"], ["user", "list"],
    ["user", "quota", "alice@example.com", "1GiB"], ["device", "list"], ["keys", "list"],
])
def test_a_missing_data_dir_is_refused_not_made(cli: Cli, tmp_path: Path,
                                                args: list[str]) -> None:
    # A mistyped --data-dir must not become an empty one that a backup (say) then
    # reports on as "ok".
    args = [str(tmp_path / "backup") if a == "BACKUP" else a for a in args]
    result = cli(*args)
    assert result.exit_code == 1, result.output
    assert f"no data dir at {cli.data_dir}" in result.stderr
    assert not cli.data_dir.exists() and not (tmp_path / "backup").exists()


def test_usage_errors_exit_2(cli: Cli) -> None:
    assert cli("user", "frobnicate").exit_code == 2
    assert cli("user", "quota", "alice@example.com").exit_code == 2  # missing SIZE


def test_the_listening_socket_says_it_is_tcp() -> None:
    # asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP; without it
    # every answer waited ~40 ms for a delayed ACK (seen in bench/api.py at 1 connection).
    with bind_listener("127.0.0.1", 0) as sock:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockname()[1] > 0


def test_binding_a_taken_port_fails_cleanly() -> None:
    with bind_listener("127.0.0.1", 0) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(StartError) as info:
            bind_listener("127.0.0.1", port)
        assert info.value.code == 1
        assert "choose another port with --port or server.port" in info.value.message


class _PrivilegedPortSocket(socket.socket):
    """A socket whose bind fails as a non-root user's does on a port below 1024 (these
    tests may run as root, who may bind any port)."""

    def bind(self, address: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")


def test_a_privileged_port_says_to_use_another_or_a_reverse_proxy(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("homesync.server.run.socket.socket", _PrivilegedPortSocket)
    with pytest.raises(StartError) as info:
        bind_listener("127.0.0.1", 443)
    assert info.value.message == (
        "cannot listen on 127.0.0.1:443: Permission denied (port 443 is below 1024, which"
        " only root may listen on: use a port of 1024 or more, and a reverse proxy in front"
        " for 80 or 443)")


def test_a_privileged_metrics_port_says_to_use_another(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The real serve, in this process, up to the metrics listener (root may bind any port).
    from homesync.server.run import serve
    from tests.helpers import make_settings

    def refused(port: int, addr: str, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr("homesync.api.metrics.start_http_server", refused)
    settings = make_settings(tmp_path / "data", server={
        "port": 0, "metrics_address": "127.0.0.1:443"})
    with pytest.raises(StartError) as info:
        serve(settings)
    assert info.value.message == (
        "cannot serve metrics on 127.0.0.1:443 (server.metrics_address): Permission denied"
        " (port 443 is below 1024, which only root may listen on: use a port of 1024 or"
        " more)")
