"""Where a queued ``move`` or ``rename`` puts its entry.

The app sends the entry's new full path (``remotePath``), made from the path it saw when
it queued the operation. Another device may have moved or renamed the entry since, and
taking the whole path would undo that. So an operation changes what the app changed: the
folder when ``remotePath``'s differs from the folder the entry was in at the operation's
``base_seq`` (what the app had seen), the name when it differs from the name then; the
other part stays as it is now. What the app had seen includes its own moves and renames
since (an earlier operation of the batch): the app knows where it put the entry, so a
rename back to the old name is a rename. Renames and moves never conflict: the last one
wins, part by part.

Where the journal cannot tell the path then (an entry shared with the user, whose
owner's journal the app's token does not measure; a token below the sync horizon), a
``rename`` takes the name and a ``move`` the whole path.
"""

from __future__ import annotations

import bisect

from homesync.paths import name_key, split_path
from homesync.services.sync.queue_move_history import MoveHistory
from homesync.services.sync.types import LocalChange
from homesync.store import queue, since_token, tree
from homesync.store.db import Conn, Row

__all__ = ["AppliedMoves", "relocation"]


class AppliedMoves:
    """What a batch of the device's queued operations needs to know of its moves and
    renames: the journal spans ``(after, up_to]`` its applied ones wrote, by when the app
    queued them (read once for a batch, when needed, and added to as its operations are
    applied), and each entry's moves (:class:`MoveHistory`, read once)."""

    def __init__(self, device_id: str) -> None:
        self._device_id = device_id
        # By (created_at, position): found after an operation by bisection (a batch
        # applied in the order queued finds none, not all of them).
        self._queued: list[tuple[int, int]] | None = None
        self._spans: list[tuple[int, int]] = []
        self._histories: dict[str, MoveHistory] = {}

    async def queued_after(self, tx: Conn, op: Row) -> _Spans:
        """The spans of those queued after ``op`` (a row of ``queue.pending_server_ops``)
        that reach past its ``base_seq``."""
        if self._queued is None:
            rows = sorted(((r["created_at"], r["position"]), r["applied_after"],
                           r["applied_up_to"])
                          for r in await queue.applied_spans(tx, self._device_id))
            self._queued = [when for when, _, _ in rows]
            self._spans = [(after, up_to) for _, after, up_to in rows]
        first = bisect.bisect_right(self._queued, (op["created_at"], op["position"]))
        return _Spans([span for span in self._spans[first:] if span[1] > op["base_seq"]])

    def add(self, op: Row, after: int, up_to: int) -> None:
        """``op`` was applied, writing the journal positions ``(after, up_to]``."""
        if self._queued is not None and up_to > after:
            when = (op["created_at"], op["position"])
            i = bisect.bisect_right(self._queued, when)
            self._queued.insert(i, when)
            self._spans.insert(i, (after, up_to))

    async def history(self, tx: Conn, file_id: str, base_seq: int) -> MoveHistory:
        """The moves of ``file_id`` after ``base_seq`` (at least), up to date."""
        history = self._histories.get(file_id)
        if history is None or history.since > base_seq:
            history = self._histories[file_id] = MoveHistory(file_id, self._device_id,
                                                             base_seq)
        await history.read_new(tx)
        return history


async def relocation(tx: Conn, user_id: str, op: Row, applied: AppliedMoves) -> LocalChange:
    """The sync change the queued ``move`` or ``rename`` ``op`` (a row of
    ``queue.pending_server_ops``) stands for; ``applied``: the device's moves so far."""
    folder, name = split_path(op["remote_path"])
    seen = await _seen(tx, user_id, op, applied)
    entry = await tree.get(tx, user_id, op["file_id"]) if seen is not None else None
    if seen is None or entry is None:
        return LocalChange(action=op["type"], local_id=op["op_id"], file_id=op["file_id"],
                           folder=folder if op["type"] == "move" else None, name=name)
    seen_folder, seen_name = seen
    return LocalChange(
        action=op["type"], local_id=op["op_id"], file_id=op["file_id"],
        # Folders are found without case (as everywhere), names are compared exactly:
        # a rename that changes only the case is a rename.
        folder=entry["folder"] if name_key(folder) == name_key(seen_folder) else folder,
        name=entry["name"] if name == seen_name else name)


async def _seen(tx: Conn, user_id: str, op: Row,
                applied: AppliedMoves) -> tuple[str, str] | None:
    """(folder, name) of the entry as the app saw it when it queued ``op``, or None when
    that cannot be told: where it was at ``base_seq``, with the parts the device's own
    moves and renames since changed as they made them (the app knows where it put it: a
    rename back to the old name, later in the batch, is a rename) — but for those of
    operations it queued after ``op``, applied before it (a higher priority, or sent in an
    earlier request): it had not made them yet."""
    now = await since_token.entry_path(tx, user_id, op["file_id"], op["base_seq"])
    if now is None:
        return None
    history = await applied.history(tx, op["file_id"], op["base_seq"])
    later = (await applied.queued_after(tx, op) if history.own_after(op["base_seq"])
             else _Spans([]))
    return history.seen(now, op["base_seq"], later.hold)


class _Spans:
    """Disjoint journal spans ``(after, up_to]``, to ask whether a position is in one."""

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        spans.sort()
        self._after = [after for after, _ in spans]
        self._up_to = [up_to for _, up_to in spans]

    def hold(self, seq: int) -> bool:
        i = bisect.bisect_left(self._after, seq) - 1  # the last span starting before seq
        return i >= 0 and seq <= self._up_to[i]
