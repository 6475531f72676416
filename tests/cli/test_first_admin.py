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
