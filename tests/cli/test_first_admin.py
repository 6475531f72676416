"""The first start's admin password file: owner-only from its creation, and on disk (file
and directory entry fsynced) before the server announces it."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from homesync.server import first_admin
from homesync.services.container import Services


async def test_the_password_file_is_private_from_creation_and_durable_before_announced(
        services: Services, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    data = services.settings.data_path
    path = data / first_admin.INITIAL_PASSWORD_FILE
    events: list[str] = []
    real_open, real_fsync, real_replace = os.open, os.fsync, os.replace

    def opened(file: Any, flags: int, mode: int = 0o777, *args: Any, **kw: Any) -> int:
        if flags & os.O_CREAT and Path(file).parent == data:
            events.append(f"create {oct(mode)}")
        return real_open(file, flags, mode, *args, **kw)

    def fsync(fd: int) -> None:
        events.append("fsync(dir)" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync(file)")
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        # Until here the final name must not exist: nobody can read half a password there.
        events.append("rename" if Path(dst) == path and not path.exists() else "rename?")
        real_replace(src, dst)

    monkeypatch.setattr(os, "open", opened)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    await first_admin.announce_first_admin(services)
    printed = capsys.readouterr().out

    assert events == ["create 0o600", "fsync(file)", "rename", "fsync(dir)"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    email, password = path.read_text(encoding="utf-8").splitlines()
    assert password in printed and email in printed
    await services.accounts.authenticate(email, password, "test")
    assert sorted(p.name for p in data.iterdir() if p.name.endswith(".tmp")) == []


async def test_the_commands_it_suggests_carry_the_servers_config(
        services: Services, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    # As `homesync serve --config F` hands it over. Without it, the advice sent
    # `user passwd` to the default data dir ("No account" there, or no data dir at all).
    config = tmp_path / "etc dir" / "homesync.toml"
    monkeypatch.setenv("HOMESYNC_CONFIG", str(config))
    monkeypatch.delenv("HOMESYNC_DATA_DIR", raising=False)
    await first_admin.announce_first_admin(services)
    printed = capsys.readouterr().out
    assert f"homesync user passwd admin@localhost --config '{config}'\n" in printed
    assert f"homesync user add you@example.com --config '{config}'\n" in printed
    await first_admin.announce_first_admin(services)  # a later start reminds the same way
    assert capsys.readouterr().out.endswith(
        f"homesync user passwd admin@localhost --config '{config}'\n")
    # A --data-dir given with it (the systemd unit's HOMESYNC_DATA_DIR) wins over the
    # config's data_dir, so it is suggested too.
    monkeypatch.setenv("HOMESYNC_DATA_DIR", str(services.settings.data_path))
    await first_admin.announce_first_admin(services)
    assert capsys.readouterr().out.endswith(
        f" --config '{config}' --data-dir {services.settings.data_path.absolute()}\n")
