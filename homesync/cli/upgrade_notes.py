"""A database upgrade's messages on a command's standard error.

The first command to open a data dir after homesync was upgraded applies the new
migrations, which can take minutes on a big database (see store/migrate.py). The server
logs what it applies; a command has no log, so without this it would sit silent. Only
those lines are shown, without the log's time and level: a command's own output stays
as it was.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["upgrade_said"]


class _ToStderr(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        # sys.stderr as it is now (a test runner swaps it), flushed: a slow step is seen
        # while it lasts.
        print(record.getMessage(), file=sys.stderr, flush=True)


@contextmanager
def upgrade_said() -> Iterator[None]:
    """While the block runs, the upgrade's INFO lines go to standard error."""
    # Here, not at the top: the store (aiosqlite) loads with the services, not with the CLI.
    from homesync.store.migrate import LOG_NAME

    logger = logging.getLogger(LOG_NAME)
    handler, level = _ToStderr(logging.INFO), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
