"""What ``backup create`` and ``backup prune`` say when they wait (``--wait``) for another
one writing to the same DEST: one at a time holds DEST's writer lock."""

from __future__ import annotations

from pathlib import Path

from homesync.config.units import format_duration

__all__ = ["waited", "waiting_note"]


def waiting_note(root: Path, wait: float) -> str:
    return (f"another backup is writing to {root}: waiting for it to finish"
            f" (up to {format_duration(round(wait))})")


def waited(wait: float) -> str:
    """What to add to the busy refusal: how long it waited, if at all."""
    return f" (still, after waiting {format_duration(round(wait))})" if wait > 0 else ""
