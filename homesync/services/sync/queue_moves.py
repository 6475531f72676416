"""Where a queued ``move`` or ``rename`` puts its entry.

The app sends the entry's new full path (``remotePath``), made from the path it saw when
it queued the operation. Another device may have moved or renamed the entry since, and
taking the whole path would undo that. So an operation changes what the app changed: the
folder when ``remotePath``'s differs from the folder the entry was in at the operation's
``base_seq`` (what the app had seen), the name when it differs from the name then; the
other part stays as it is now. Renames and moves never conflict: the last one wins, part
by part.

Where the journal cannot tell the path then (an entry shared with the user, whose
owner's journal the app's token does not measure; a token below the sync horizon), a
``rename`` takes the name and a ``move`` the whole path.
"""

from __future__ import annotations

from homesync.errors import HomesyncError
from homesync.paths import name_key, split_path
from homesync.services.sync.types import LocalChange
from homesync.store import since_token, tree
from homesync.store.db import Conn, Row

__all__ = ["relocation"]


async def relocation(tx: Conn, user_id: str, op: Row) -> LocalChange:
    """The sync change the queued ``move`` or ``rename`` ``op`` stands for."""
    folder, name = split_path(op["remote_path"])
    seen = await _seen(tx, user_id, op["file_id"], op["base_seq"])
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


async def _seen(tx: Conn, user_id: str, file_id: str, base_seq: int) -> tuple[str, str] | None:
    """(folder, name) of the entry at ``base_seq``, or None when that cannot be told."""
    path = await since_token.path_at(tx, user_id, file_id, base_seq)
    if path is None:
        return None
    try:
        return split_path(path)
    except HomesyncError:  # a path stored before today's rules: not comparable
        return None
