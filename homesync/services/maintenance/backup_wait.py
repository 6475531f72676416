"""What ``backup create``, ``prune`` and ``verify`` say when they wait (``--wait``) for
DEST's lock: one writer at a time holds it (create, prune), or any number of readers
(verify, restore, list, a dry-run prune)."""

from __future__ import annotations

from homesync.config.units import format_duration

__all__ = ["waited", "waiting_note"]


def waiting_note(busy: str, wait: float) -> str:
    """``busy``: what holds the lock ("another backup is writing to DEST")."""
    return f"{busy}: waiting for it to finish (up to {format_duration(round(wait))})"


def waited(wait: float) -> str:
    """What to add to the busy refusal: how long it waited, if at all."""
    return f" (still, after waiting {format_duration(round(wait))})" if wait > 0 else ""
