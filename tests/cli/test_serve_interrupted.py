"""The server entry (``python -m homesync.server``, what ``homesync serve`` becomes) on a
Ctrl-C that reaches it while it stops: an exit code, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

import homesync.server.__main__ as entry
from homesync.config import Settings
from homesync.exit_codes import EXIT_INTERRUPTED


def test_a_second_ctrl_c_while_stopping_exits_130_without_a_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[Settings] = []

    def interrupted_while_closing(settings: Settings) -> None:
        served.append(settings)
        raise KeyboardInterrupt  # as asyncio.Runner re-raises it once close() has finished

    monkeypatch.setenv("HOMESYNC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(entry, "serve", interrupted_while_closing)
    # The real one would swap the root logger's handlers for the rest of this worker's tests.
    monkeypatch.setattr(entry, "configure_logging", lambda *args, **kwargs: None)
    with pytest.raises(SystemExit) as exited:
        try:
            entry.main()
        except KeyboardInterrupt:  # what the interpreter would print as a traceback
            pytest.fail("the KeyboardInterrupt escaped main()")
    assert exited.value.code == EXIT_INTERRUPTED == 130
    assert [s.data_path for s in served] == [tmp_path / "data"]
