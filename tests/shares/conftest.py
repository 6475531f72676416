"""Shares tests: push allowed to local receivers, no disk reserve (tiny uploads)."""

from __future__ import annotations

from pathlib import Path

import pytest

from homesync.config import Settings
from tests.helpers import make_settings
from tests.notifications.conftest import (  # noqa: F401  (fixtures)
    PUSH_SETTINGS,
    frozen,
    make_receiver,
    receiver,
    register_push,
)
from tests.shares.test_shares_api import world  # noqa: F401  (fixture)
from tests.sync.conftest import live_client  # noqa: F401  (fixture)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data", notifications=dict(PUSH_SETTINGS),
                         storage={"disk_reserve": "0"})
