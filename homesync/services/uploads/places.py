"""Where the files of one ``upload/init`` would go, and what stops a new file from
getting there: init answers ``conflict`` for those at once, because ``complete`` would
answer NAME_CONFLICT only after every byte was sent."""

from __future__ import annotations

from homesync.paths import join, name_key
from homesync.services.sharing.access import UploadPlace
from homesync.services.uploads.types import FileRequest
from homesync.store import files
from homesync.store.db import Conn, Row

__all__ = ["NameClaims", "file_in_the_way", "new_file_folder", "same_file_key"]

# What a new file would make: an upload to send, or a file made from stored chunks.
_MAKES_A_FILE = ("new", "resume", "copy")


def same_file_key(req: FileRequest) -> tuple[object, ...]:
    """What makes two files of one init the same ask (as a re-init would resume it):
    place and name compared without case, content, and the file a new version is for
    (with the same restore flag and syncToken)."""
    return (name_key(req.folder), name_key(req.name), req.checksum, req.size, req.file_id,
            req.restore, req.sync_token)


def new_file_folder(user_id: str, req: FileRequest,
                    place: UploadPlace | None) -> tuple[str, str] | None:
    """The tree (its owner) and folder a new file goes into; None for a new version,
    which takes no name and needs no folder."""
    if req.file_id is not None or (place is not None and place.target is not None):
        return None
    return (place.owner_id, place.folder) if place is not None else (user_id, req.folder)


async def file_in_the_way(conn: Conn, owner_id: str, folder: str) -> Row | None:
    """A live file where ``folder`` (or one of its parents) needs a folder."""
    parent = "/"
    for segment in folder.strip("/").split("/") if folder != "/" else []:
        row = await files.find_by_name(conn, owner_id, parent, segment)
        if row is None:
            return None  # the rest is made at complete
        if row["kind"] != "folder":
            return row
        parent = join(parent, row["name"])
    return None


class NameClaims:
    """The places (owner, folder and name without case) new files of one init take, with
    their content: another content asking for a place taken is ``taken``."""

    def __init__(self) -> None:
        self._taken: dict[tuple[str, str, str], str] = {}

    async def check(self, tx: Conn, user_id: str, req: FileRequest, place: UploadPlace | None,
                    kind: str | None) -> str | None:
        """``kind``, or ``blocked`` (a file stands in the folder's path) or ``taken`` (an
        earlier file of this init, with other content, takes the name)."""
        where = new_file_folder(user_id, req, place)
        if where is None or kind not in _MAKES_A_FILE:
            return kind
        if await file_in_the_way(tx, *where) is not None:
            return "blocked"
        spot = (where[0], name_key(where[1]), name_key(req.name))
        return "taken" if self._taken.setdefault(spot, req.checksum) != req.checksum else kind
