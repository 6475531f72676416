"""The data dir holds everyone's files and the server key: private when homesync creates it."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from homesync.services.container import Services
from tests.helpers import make_settings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_new_data_dir_is_private(tmp_path: Path) -> None:
    data = tmp_path / "new" / "data"
    services = await Services.open(make_settings(data))
    await services.close()
    assert mode(data) == 0o700


async def test_an_open_existing_data_dir_is_left_alone_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    data = tmp_path / "shared"
    data.mkdir()
    data.chmod(0o750)
    with caplog.at_level(logging.WARNING, logger="homesync.storage"):
        services = await Services.open(make_settings(data))
        await services.close()
    assert mode(data) == 0o750
    assert [r.getMessage() for r in caplog.records] == [
        f"data dir {data} is open to other users (mode 750); it holds everyone's files and "
        "the server key: chmod 700 it"]


async def test_a_private_existing_data_dir_gives_no_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    data = tmp_path / "private"
    data.mkdir(mode=0o700)
    with caplog.at_level(logging.WARNING, logger="homesync.storage"):
        services = await Services.open(make_settings(data))
        await services.close()
    assert caplog.records == []
