"""The one shape every chunk check reports in: backup, backup verify, restore and fsck."""

from __future__ import annotations

import msgspec

__all__ = ["ChunkProblem"]


class ChunkProblem(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """A chunk that is missing or damaged, and the files (``email:/path``) that use it."""

    hash: str
    problem: str  # "missing", "wrong size", "content does not match its hash", ...
    files: list[str] = msgspec.field(default_factory=list)
