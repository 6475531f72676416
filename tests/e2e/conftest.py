"""End-to-end fixtures: real `homesync serve` processes, stopped when the test ends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.devices import ParkedPolls
from tests.helpers import ServerProcess

MakeServer = Callable[[dict[str, str]], ServerProcess]


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[MakeServer]:
    """``make_server(env)``: a server on a fresh data dir (started by the test, which may
    first set it up with its CLI); every one made is stopped afterwards."""
    made: list[ServerProcess] = []

    def make(env: dict[str, str]) -> ServerProcess:
        proc = ServerProcess(tmp_path / "data", env=env)
        made.append(proc)
        return proc

    yield make
    for proc in made:
        proc.stop()


@pytest.fixture
def parked_polls() -> ParkedPolls:
    """Add ``parked_polls.env`` to a server's environment to count its parked long polls."""
    return ParkedPolls()
