"""Upload tests run with small chunks (4 KiB minimum) so multi-chunk files stay tiny."""

from __future__ import annotations

from pathlib import Path

import pytest

from homesync.config import Settings
from tests.helpers import make_settings
from tests.sync.conftest import live_client  # noqa: F401  (fixture)

SMALL_CHUNKS = {"min_chunk_size": "4KiB", "default_chunk_size": "16KiB", "max_chunk_size": "64KiB"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data", uploads=SMALL_CHUNKS, storage={"disk_reserve": "0"})
