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

from homesync.errors import HomesyncError
from homesync.paths import name_key, split_path
from homesync.services.sync.types import LocalChange
from homesync.store import queue, since_token, tree
from homesync.store.db import Conn, Row

__all__ = ["relocation"]


async def relocation(tx: Conn, user_id: str, op: Row) -> LocalChange:
    """The sync change the queued ``move`` or ``rename`` ``op`` (a row of
    ``queue.pending_server_ops``) stands for."""
    folder, name = split_path(op["remote_path"])
    seen = await _seen(tx, user_id, op)
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


async def _seen(tx: Conn, user_id: str, op: Row) -> tuple[str, str] | None:
    """(folder, name) of the entry as the app saw it when it queued ``op``, or None when
    that cannot be told: where it was at ``base_seq``, with the parts the device's own
    moves and renames since changed as they made them (the app knows where it put it: a
    rename back to the old name, later in the batch, is a rename) — but for those of
    operations it queued after ``op``, applied before it (a higher priority, or sent in an
    earlier request): it had not made them yet."""
    found = await since_token.relocations_since(tx, user_id, op["file_id"], op["base_seq"])
    if found is None:
        return None
    now, moves = found
    queued_later = await queue.spans_queued_after(
        tx, op["device_id"], op["created_at"], op["position"], op["base_seq"]) if any(
        m["device_id"] == op["device_id"] for m in moves) else []
    # The path each move left, and the one the last one made: where the entry is now.
    paths = [m["from_path"] for m in moves] + [now]
    if None in paths:  # a move journaled before paths were: where from is unknown
        return None
    try:
        folder, name = split_path(paths[0])
        for move, before, after in zip(moves, paths, paths[1:], strict=False):
            if move["device_id"] != op["device_id"] or any(
                    lo < move["seq"] <= hi for lo, hi in queued_later):
                continue
            (old_folder, old_name), (new_folder, new_name) = map(split_path, (before, after))
            if name_key(new_folder) != name_key(old_folder):
                folder = new_folder
            if new_name != old_name:
                name = new_name
    except HomesyncError:  # a path stored before today's rules: not comparable
        return None
    return folder, name
