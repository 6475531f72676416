"""Applying a device's pending server-side queued operations (``delete``, ``move``,
``rename``, ``mkdir``) and recording how each went.

Kept apart from :mod:`homesync.services.sync.queue` (which stores, lists and cancels
operations) because this is the part that changes files: each operation becomes the
sync change it stands for and goes through the same engine as ``POST /sync/files``, as
the device, with what the app had seen when it queued it (``base_seq``), in the order
``queue.pending_server_ops`` reads them. A move or rename changes the parts of the path
the app changed (:mod:`homesync.services.sync.queue_moves`), and records the journal
span it wrote, so that one the app queued before it but applied later is judged without
it. Runs in the caller's transaction: a batch's, or a crash's leftovers at start-up.
"""

from __future__ import annotations

import msgspec

from homesync.services.sync.engine import SyncEngine
from homesync.services.sync.queue_moves import AppliedMoves, relocation
from homesync.services.sync.types import Actor, ChangeResult, ErrorInfo, LocalChange
from homesync.store import journal, queue
from homesync.store.db import Conn, Row

__all__ = ["apply_pending"]


async def apply_pending(tx: Conn, engine: SyncEngine, user_id: str, device_id: str,
                        device_name: str, now: int) -> set[str]:
    """Apply the device's pending server-side operations in order; whose trees changed
    (shared items are their owner's), to wake once committed."""
    changed: set[str] = set()
    applied_moves = AppliedMoves(device_id)
    for row in await queue.pending_server_ops(tx, device_id):
        actor = Actor(user_id=user_id, device_id=device_id, device_name=device_name,
                      base_seq=row["base_seq"], shared_seq=row["shared_seq"],
                      queued_at=min(row["created_at"], row["received_at"]), now=now)
        change = await _change(tx, user_id, row, applied_moves)
        # What a move or rename wrote to the journal: one the app queued before it but
        # applied later is judged without it (queue_moves).
        relocates = change.action in ("move", "rename")
        after = await journal.newest_seq(tx) if relocates else 0
        result = await engine.apply(tx, actor, change)
        applied = (after, await journal.newest_seq(tx)) if relocates else None
        if applied is not None:
            applied_moves.add(row, *applied)
        status, error = _outcome(result)
        if status == "done":
            changed.add(result.owner_id or user_id)
        await queue.set_status(
            tx, device_id, row["op_id"], status=status, now=now,
            error=msgspec.to_builtins(error) if error else None,
            result_file_id=result.file_id if status != "failed" else None,
            conflict_id=result.conflict_id, applied=applied)
    return changed


async def _change(tx: Conn, user_id: str, row: Row, applied: AppliedMoves) -> LocalChange:
    """The sync change a server-side operation stands for."""
    if row["type"] == "mkdir":
        return LocalChange(action="mkdir", local_id=row["op_id"], folder=row["remote_path"])
    if row["type"] == "delete":
        return LocalChange(action="delete", local_id=row["op_id"], file_id=row["file_id"])
    # What the app changed of the entry's path.
    return await relocation(tx, user_id, row, applied)


def _outcome(result: ChangeResult) -> tuple[str, ErrorInfo | None]:
    if result.status in ("applied", "deduplicated"):
        return "done", None
    if result.status == "conflict":  # an error only in a shared item (no conflictId)
        return "conflict", result.error
    if result.status == "deleted_on_server":
        return "failed", ErrorInfo("DELETED_ON_SERVER", "The entry was deleted on the server")
    return "failed", result.error or ErrorInfo("REJECTED", "The operation was not applied")
