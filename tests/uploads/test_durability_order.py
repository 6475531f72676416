"""D2: a 2xx means durable. For a chunk PUT the order is write → fsync(file) → rename →
fsync(dir) → COMMIT → response, and a complete commits only after every chunk it uses."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from homesync.config import Settings
from tests.helpers import make_settings
from tests.uploads.conftest import SMALL_CHUNKS
from tests.uploads.flow import complete, file_entry, init, path_of, random_bytes


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data", uploads=SMALL_CHUNKS,
                         storage={"disk_reserve": "0", "fsync": True})


@pytest.fixture
def events(services, monkeypatch) -> list[str]:
    log: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        log.append("fsync(dir)" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync(file)")
        real_fsync(fd)

    def replace(src, dst) -> None:
        if "/chunks/" in str(dst):
            log.append("rename")
        real_replace(src, dst)

    writer = services.db._writer
    real_execute = writer.execute

    def execute(sql, *args, **kw):  # aiosqlite's execute is awaitable *and* a context manager
        if sql == "COMMIT":
            log.append("COMMIT")
        return real_execute(sql, *args, **kw)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(writer, "execute", execute)
    return log


async def test_chunk_is_durable_before_it_counts(client, make_user, sign_in, events):
    await make_user()
    dev = await sign_in()
    data = random_bytes(6000)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    events.clear()
    r = await client.put(path_of(item["chunks"][0]["uploadUrl"]), content=data[:4096])
    assert r.status_code == 200
    events.append("response")
    # New directories (chunks/ab, chunks/ab/cd) may add directory fsyncs before the rename.
    cut = events.index("rename")
    order = [e for i, e in enumerate(events) if not (e == "fsync(dir)" and i < cut)]
    assert order == ["fsync(file)", "rename", "fsync(dir)", "COMMIT", "response"], events
    events.clear()
    r = await client.put(path_of(item["chunks"][1]["uploadUrl"]), content=data[4096:])
    events.append("response")
    r = await complete(client, dev.auth, item["uploadId"], data)
    assert r.status_code == 200
    events.append("response")
    assert events[-2:] == ["COMMIT", "response"]
    assert events.index("rename") < events.index("COMMIT")
