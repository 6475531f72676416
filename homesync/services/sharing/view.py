"""Where what was shared with someone appears for them: under ``/Shared with me``.

The rule (README "Sharing"):

- A share's item appears at ``/Shared with me/<owner's name>/<item's name>``, and what is
  inside a shared folder below it, as in the owner's folder. Nothing of the owner's tree
  above the shared item is ever shown.
- When two shares would appear at the same path (the same owner shares two items with the
  same name, or two owners with the same name share same-named items), the older share
  keeps the name and the others get `` (2)``, `` (3)`` … before the extension
  (``IMG_1 (2).jpg``), in the order they were shared.
- An owner's name that is not usable as a folder name (a ``/`` in it, say) is replaced
  by their email (with ``_`` for what a name may not hold, such as ``\\``).
- When a shared folder and something in it are both shared with the same person, the
  entry appears once, under the outer share; the inner share takes no name (it pushes no
  same-named item to `` (2)``).

``/Shared with me`` and the owner folders are virtual: they have no ids and are not in
``GET /files``; clients create them as they place the entries.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

import msgspec

from homesync.errors import InvalidPath
from homesync.paths import MAX_NAME_BYTES, SHARED_WITH_ME, is_under, join, nameable, normalize_name
from homesync.store.db import Row

__all__ = ["SHARED_FOLDER", "SharedRoot", "locate", "shared_roots"]

SHARED_FOLDER = "/" + SHARED_WITH_ME


class SharedRoot(msgspec.Struct, frozen=True, kw_only=True):
    """One live share as its recipient sees it."""

    share_id: str
    owner_id: str
    file_id: str
    kind: str
    path: str  # the shared item in its owner's tree (never shown to the recipient)
    folder: str  # where the recipient sees the item: /Shared with me/<owner>
    name: str  # the item's name there (with " (2)" … when it had to be told apart)
    permission: str  # 'read' or 'write'
    shown: bool  # False: inside another shared folder of its owner, seen there (``name`` unused)

    @property
    def virtual_path(self) -> str:
        return join(self.folder, self.name)


def _owner_folder(name: str, email: str) -> str:
    try:
        return join(SHARED_FOLDER, normalize_name(name))
    except InvalidPath:
        pass
    # An email may hold what a name may not ("\\", control characters): "_" for those.
    usable = nameable(email, "_")
    return join(SHARED_FOLDER, normalize_name(
        usable.encode()[:MAX_NAME_BYTES].decode("utf-8", errors="ignore")))


def _numbered(name: str, n: int) -> str:
    stem, dot, ext = name.rpartition(".")
    suffix = f" ({n}).{ext}"
    if not dot or not stem or len(suffix.encode()) >= MAX_NAME_BYTES:
        # No extension, a dotfile, or one too long to keep: the number goes at the end.
        stem, suffix = name, f" ({n})"
    # Within a name's byte limit, as the recipient must send it back (the stem shortened,
    # as for conflicted copies): a 255-byte name with " (2)" was refused in every path.
    room = MAX_NAME_BYTES - len(suffix.encode())
    if len(stem.encode()) > room:
        stem = unicodedata.normalize(
            "NFC", stem.encode()[:room].decode("utf-8", errors="ignore"))
        while len(stem.encode()) > room:  # NFC may compose into more bytes, rarely
            stem = stem[:-1]
    return stem + suffix


def shared_roots(rows: Iterable[Row]) -> list[SharedRoot]:
    """The recipient's live shares (rows of ``store.shares.incoming``), oldest first,
    each with the place it appears at."""
    ordered = sorted(rows, key=lambda r: (r["created_at"], r["id"]))
    folders = {(r["owner_id"], join(r["folder"], r["name"])) for r in ordered
               if r["kind"] == "folder"}
    taken: set[str] = set()
    roots: list[SharedRoot] = []
    for row in ordered:
        folder = _owner_folder(row["owner_name"], row["owner_email"])
        name, n = row["name"], 1
        shown = not _in_shared_folder(row["owner_id"], row["folder"], folders)
        # Case-insensitively, as names within a folder are on the devices. A share seen
        # inside another one takes no name: nothing of it shows here.
        while shown and join(folder, name).casefold() in taken:
            n += 1
            name = _numbered(row["name"], n)
        if shown:
            taken.add(join(folder, name).casefold())
        roots.append(SharedRoot(share_id=row["id"], owner_id=row["owner_id"],
                                file_id=row["file_id"], kind=row["kind"],
                                path=join(row["folder"], row["name"]), folder=folder,
                                name=name, permission=row["permission"], shown=shown))
    return roots


def _in_shared_folder(owner_id: str, folder: str, shared: set[tuple[str, str]]) -> bool:
    """``folder`` (of the owner's) or a folder above it is one of ``shared``."""
    while (owner_id, folder) not in shared:
        if folder == "/":
            return False
        folder = folder.rsplit("/", 1)[0] or "/"
    return True


def locate(roots: list[SharedRoot], *, owner_id: str, file_id: str, folder: str,
           name: str) -> tuple[str, str] | None:
    """(folder, name) where the recipient sees the owner's entry; None when no share of
    theirs covers it."""
    best: SharedRoot | None = None
    for root in roots:
        if root.owner_id != owner_id:
            continue
        if root.file_id == file_id or (root.kind == "folder" and is_under(folder, root.path)):
            if best is None or len(root.path) < len(best.path):
                best = root
    if best is None:
        return None
    if best.file_id == file_id:
        return best.folder, best.name
    return best.virtual_path + folder[len(best.path):], name
