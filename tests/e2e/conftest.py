"""End-to-end fixtures: real `homesync serve` processes, stopped when the test ends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from tests.helpers import ServerProcess


class MakeServer(Protocol):
    def __call__(self, env: dict[str, str], *, metrics: bool = False) -> ServerProcess: ...


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[MakeServer]:
    """``make_server(env)``: a server on a fresh data dir (started by the test, which may
    first set it up with its CLI); every one made is stopped afterwards. ``metrics=True``
    serves its metrics too (for :class:`tests.e2e.devices.ParkedPolls`)."""
    made: list[ServerProcess] = []

    def make(env: dict[str, str], *, metrics: bool = False) -> ServerProcess:
        proc = ServerProcess(tmp_path / "data", env=env, metrics=metrics)
        made.append(proc)
        return proc

    yield make
    for proc in made:
        proc.stop()

