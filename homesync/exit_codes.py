"""Exit codes scripts can rely on (documented in README.md), for the CLI and the server
process it becomes (``homesync serve``). Typer's own usage errors are 2."""

from __future__ import annotations

__all__ = ["EXIT_BUSY", "EXIT_CONFLICT", "EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_NOT_FOUND",
           "EXIT_OK", "EXIT_USAGE"]

EXIT_OK = 0
EXIT_ERROR = 1  # anything else: I/O, the data dir, the server could not start
EXIT_USAGE = 2  # bad usage or input: bad email, short password, bad size, bad config
EXIT_NOT_FOUND = 3  # no such account or device
EXIT_CONFLICT = 4  # already there (an account, a config, a backup target's contents)
EXIT_BUSY = 5  # another backup or prune holds the same DEST: nothing done, try again later
EXIT_INTERRUPTED = 130  # serve: Ctrl-C again while stopping (128 + SIGINT, as shells say)
