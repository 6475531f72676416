"""Where the files of one ``upload/init`` would go, and what stops a new file from
getting there: init answers ``conflict`` for those at once, because ``complete`` would
answer NAME_CONFLICT only after every byte was sent."""

from __future__ import annotations

from homesync.paths import join, name_key
from homesync.services.sharing.access import UploadPlace
from homesync.services.uploads.types import FileRequest
from homesync.store import files
from homesync.store.db import Conn, Row

__all__ = ["NameClaims", "claim_names", "file_in_the_way", "new_file_folder", "same_file_key"]

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
    """The paths (owner, and path without case) the new files of one init take, and the
    folders they need: a later file asking for a path taken with other content is
    ``taken``; one needing a folder where an earlier one is a file, or the reverse,
    ``blocked`` — only one of the two could complete."""

    def __init__(self) -> None:
        self._files: dict[tuple[str, str], str] = {}  # → the content
        self._folders: set[tuple[str, str]] = set()

    async def check(self, tx: Conn, user_id: str, req: FileRequest, place: UploadPlace | None,
                    kind: str | None) -> str | None:
        """``kind``, or ``blocked`` (a file stands in the folder's path) or ``taken`` (an
        earlier file of this init, with other content, takes the name)."""
        where = new_file_folder(user_id, req, place)
        if where is None or kind not in _MAKES_A_FILE:
            return kind
        owner, folder = where
        folders = {(owner, name_key(f)) for f in _folder_and_parents(folder)}
        path = (owner, name_key(join(folder, req.name)))
        if (await file_in_the_way(tx, owner, folder) is not None
                or not folders.isdisjoint(self._files) or path in self._folders):
            return "blocked"
        if self._files.setdefault(path, req.checksum) != req.checksum:
            return "taken"
        self._folders |= folders
        return kind


Planned = list[tuple[FileRequest, UploadPlace | None, str | None]]


async def claim_names(tx: Conn, user_id: str, decided: Planned) -> Planned:
    """``decided`` with the kinds :meth:`NameClaims.check` gives them. Uploads being
    resumed claim their names first (some of their bytes may be on the server already),
    then the rest in the request's order: which of a resume and a new file of one name
    gets the conflict does not depend on the order of the request."""
    claims = NameClaims()
    kinds = [kind for _, _, kind in decided]
    for i in sorted(range(len(decided)), key=lambda i: kinds[i] != "resume"):
        req, place, kind = decided[i]
        kinds[i] = await claims.check(tx, user_id, req, place, kind)
    return [(req, place, kind) for (req, place, _), kind in zip(decided, kinds, strict=True)]


def _folder_and_parents(folder: str) -> list[str]:
    """``/a/b`` → ``/a/b``, ``/a`` (never ``/``)."""
    found = []
    while folder != "/":
        found.append(folder)
        folder = folder.rsplit("/", 1)[0] or "/"
    return found
