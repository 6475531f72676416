"""Whether this process may do something to a path, asked of the kernel (access(2))
without doing it: mode bits (which root overrides, as it does when writing), a read-only
filesystem or mount (EROFS, for root too), an immutable file."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["may"]

_EFFECTIVE = os.access in os.supports_effective_ids  # the ids the server writes as


def may(path: Path, mode: int) -> bool:
    """``os.access(path, mode)`` for the ids the server reads and writes as (effective)."""
    return os.access(path, mode, effective_ids=_EFFECTIVE)
