"""What the recipient of a ``write`` share may change, and where the change lands.

A recipient's change to something shared with them is made in its OWNER's tree: the
owner's journal (so the owner's devices and every other recipient see it through their
sync), quota, version history and trash. The rules (README "Sharing"):

- A place is writable when a share of the recipient with ``write`` covers it: the shared
  file itself (new versions only), or a shared folder it lies in at any depth. When
  several shares cover it, ``write`` wins if any of them is ``write``.
- Inside a write-shared folder the recipient adds files and folders, uploads new
  versions, renames, moves (within that same shared folder) and deletes (to the owner's
  trash).
- The shared item itself stays where its owner put it: renaming, moving or deleting it is
  403 (the recipient leaves a share with ``DELETE /shares/{id}``).
- A move between a share and anything else (the recipient's own files, another share) is
  403: content is never carried out of, or into, an owner's tree by a move.
- ``/Shared with me`` and the owner folders in it are virtual: creating them, or writing
  directly into them, is 403.
- Writing to what a ``read`` share shows is 403 FORBIDDEN: the recipient can see the entry,
  so "not found" would be a lie. What no share shows them stays 404.

Every check reads the shares live in the caller's transaction: a revoked or downgraded
share stops the very next request.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from homesync.errors import Forbidden, HomesyncError, NotFound
from homesync.paths import is_under, join, name_key, normalize_folder, normalize_name
from homesync.services.sharing.view import SHARED_FOLDER, SharedRoot, shared_roots
from homesync.services.sync.types import Actor, LocalChange
from homesync.store import changes, shares, tree
from homesync.store.db import Conn, Row

__all__ = [
    "SharedEntry",
    "SharedPlace",
    "Routed",
    "UploadPlace",
    "as_seen",
    "is_reserved",
    "resolve_entry",
    "resolve_folder",
    "route_change",
    "upload_place",
    "upload_place_now",
]

_READ_ONLY = "This was shared with you read-only"
_VIRTUAL = (f"{SHARED_FOLDER} and the folders of the people in it are made by the server:"
            " add files inside a folder shared with you")
_ITEM_ITSELF = ("Only its owner can rename, move or delete a shared item; leave the share"
                " with DELETE /shares/{id}")
_ACROSS = ("Moving between a share and other folders is not possible: upload a copy, then"
           " delete the original")


@dataclass(frozen=True)
class SharedPlace:
    """A folder path under /Shared with me, in its owner's tree."""

    owner_id: str
    seen: SharedRoot  # the share it is seen through
    path: str  # the folder in the owner's tree
    writable: SharedRoot | None  # the outermost write-shared folder holding ``path``


@dataclass(frozen=True)
class SharedEntry:
    """Someone else's entry that a share shows the recipient."""

    owner_id: str
    seen: SharedRoot  # the share it is seen through
    row: Row  # the owner's ``files`` row (tree columns; live or trashed)
    inside: SharedRoot | None  # the outermost write-shared folder the entry lies inside
    item_write: bool  # the entry itself is shared with write (new versions allowed)

    @property
    def content_writable(self) -> bool:
        return self.inside is not None or self.item_write


@dataclass(frozen=True)
class UploadPlace:
    """Where a recipient's upload lands in the owner's tree."""

    owner_id: str
    seen: SharedRoot  # the share it is seen through
    folder: str  # the owner's folder (for a new version: the file's)
    target: Row | None  # the owner's live file a new version is for

    @property
    def owner_name(self) -> str:
        """The owner as the recipient sees them (the name of their owner folder)."""
        return self.seen.folder.rsplit("/", 1)[1]


@dataclass(frozen=True)
class Routed:
    """A change to a shared entry, made as the owner's tree's change."""

    actor: Actor  # the recipient's device, in the owner's tree
    change: LocalChange  # with the owner's paths
    seen: SharedRoot  # the share it is seen through (for :func:`as_seen`)


def is_reserved(folder: str) -> bool:
    """True for ``/Shared with me`` and anything below it (case-insensitively)."""
    key, base = folder.casefold(), SHARED_FOLDER.casefold()
    return key == base or key.startswith(base + "/")


def _segments(path: str) -> list[str]:
    return [s.casefold() for s in path.split("/") if s]


def as_seen(exc: HomesyncError, seen: SharedRoot) -> HomesyncError:
    """``exc`` with the owner's paths in its message shown where the recipient sees them
    (a name conflict names a path; the owner's tree above the shared item stays unseen)."""
    exc.message = exc.message.replace(seen.path, seen.virtual_path)
    return exc


def _within(path: str, root: str) -> bool:
    """``path`` is ``root`` or inside it, compared as names collide: a path the recipient
    sent may spell the owner's folders in another case (``/TRIP`` is ``/trip``)."""
    return is_under(name_key(path), name_key(root))


def _outermost_write(roots: list[SharedRoot], owner_id: str, path: str) -> SharedRoot | None:
    """The outermost write-shared folder of ``owner_id`` that ``path`` is in (or is)."""
    best: SharedRoot | None = None
    for root in roots:
        if root.owner_id == owner_id and root.kind == "folder" and root.permission == "write" \
                and _within(path, root.path) and (best is None or len(root.path) < len(best.path)):
            best = root
    return best


def _shown(roots: list[SharedRoot]) -> list[SharedRoot]:
    """The roots the recipient sees as items (one inside another owner's shared folder
    shows under that folder instead)."""
    return [r for r in roots if r.shown]


async def resolve_folder(conn: Conn, user_id: str, folder: str) -> SharedPlace | None:
    """``folder`` (normalised, as the recipient sent it) in its owner's tree; None when it
    is not under /Shared with me (the user's own). 403 for the virtual folders, 404 when
    no share shows it."""
    if not is_reserved(folder):
        return None
    wanted = _segments(folder)
    if len(wanted) <= 2:
        raise Forbidden(_VIRTUAL)
    roots = shared_roots(await shares.incoming(conn, user_id))
    for root in _shown(roots):
        seen = _segments(root.virtual_path)
        if wanted[:len(seen)] != seen:
            continue
        if root.kind != "folder":
            raise NotFound("No such shared folder")
        rest = folder.split("/")[len(seen) + 1:]
        path = root.path if not rest else join(root.path, "/".join(rest))
        return SharedPlace(owner_id=root.owner_id, seen=root, path=path,
                           writable=_outermost_write(roots, root.owner_id, path))
    raise NotFound("No such shared folder")


async def resolve_entry(conn: Conn, user_id: str, file_id: str) -> SharedEntry | None:
    """Someone else's entry ``file_id`` as a share shows it to ``user_id``; None when no
    share does (the caller answers 404, as for any unknown id)."""
    owner_id = await shares.grant_owner(conn, user_id, file_id)
    if owner_id is None:
        return None
    row = await tree.get(conn, owner_id, file_id)
    if row is None:
        return None
    roots = [r for r in shared_roots(await shares.incoming(conn, user_id))
             if r.owner_id == owner_id]
    seen = next((r for r in _shown(roots) if r.file_id == file_id or (
        r.kind == "folder" and is_under(row["folder"], r.path))), None)
    if seen is None:
        return None
    inside = _outermost_write(roots, owner_id, row["folder"])
    item_write = any(r.file_id == file_id and r.permission == "write" for r in roots)
    return SharedEntry(owner_id=owner_id, seen=seen, row=row, inside=inside,
                       item_write=item_write)


async def upload_place(conn: Conn, user_id: str, *, folder: str,
                       file_id: str | None) -> UploadPlace | None:
    """Where an upload of ``user_id`` lands when it goes into something shared with them
    (a new version of ``file_id``, else a new file in ``folder``, normalised); None for
    their own tree and for ids no share shows them. 403 without a write grant."""
    if file_id is not None:
        if await tree.get(conn, user_id, file_id) is not None:
            return None
        entry = await resolve_entry(conn, user_id, file_id)
        if entry is None or entry.row["deleted_at"] is not None or entry.row["kind"] != "file":
            return None
        if not entry.content_writable:
            raise Forbidden(_READ_ONLY)
        return UploadPlace(owner_id=entry.owner_id, seen=entry.seen, folder=entry.row["folder"],
                           target=entry.row)
    place = await resolve_folder(conn, user_id, folder)
    if place is None:
        return None
    if place.writable is None:
        raise Forbidden(_READ_ONLY)
    return UploadPlace(owner_id=place.owner_id, seen=place.seen, folder=place.path,
                       target=None)


async def upload_place_now(conn: Conn, user_id: str, *, owner_id: str, folder: str,
                           file_id: str | None, root_id: str | None = None) -> UploadPlace:
    """Where an upload into a shared item lands, checked again when it completes: 404
    when the share is gone (or now shows another owner's folder there), 403 when it is
    read-only. A new version whose file was deleted meanwhile becomes a new file beside
    it, as for the user's own uploads (never lost). ``root_id``: the shared folder a new
    file was sent into, found by its id, so a rename by its owner since moves it along."""
    gone = NotFound("What this upload was going into is no longer shared with you")
    folder = await _seen_now(conn, user_id, folder, root_id)
    place = await upload_place(conn, user_id, folder=folder, file_id=file_id)
    if place is None and file_id is not None:
        try:
            place = await upload_place(conn, user_id, folder=folder, file_id=None)
        except (NotFound, Forbidden):  # a shared file's own folder is not the recipient's
            raise gone from None
    if place is None or place.owner_id != owner_id:
        raise gone
    return place


async def _seen_now(conn: Conn, user_id: str, folder: str, root_id: str | None) -> str:
    """``folder`` (as the recipient sent it, inside the shared folder ``root_id``) with
    that folder's part as the recipient sees it now: its owner may have renamed it (the
    path is /Shared with me/<owner>/<its name>/...). As it was when no share shows it."""
    if root_id is None:
        return folder
    roots = _shown(shared_roots(await shares.incoming(conn, user_id)))
    root = next((r for r in roots if r.file_id == root_id and r.kind == "folder"), None)
    if root is None:
        return folder
    rest = folder.split("/")[len(_segments(root.virtual_path)) + 1:]
    return root.virtual_path if not rest else join(root.virtual_path, "/".join(rest))


async def route_change(tx: Conn, actor: Actor, change: LocalChange) -> Routed | None:
    """Where a ``POST /sync/files`` change applies: None for the user's own tree (as
    always, and for ids nobody shows them: the engine's 404), else the same change for the
    owner's tree, made by ``actor``'s device and judged against what that device had seen
    of the shared entries (``Actor.shared_seq``). 403/404 per the module docstring."""
    # A mkdir names no entry: it makes one at folder/name. A fileId sent with it must not
    # pick the tree it is made in (a shared entry's id made folders anywhere in its
    # owner's tree, and a name taken there answered with the id of what holds it).
    file_id = None if change.action == "mkdir" else change.file_id
    own = file_id is not None and await tree.get(tx, actor.user_id, file_id) is not None
    entry = None
    if file_id is not None and not own:
        entry = await resolve_entry(tx, actor.user_id, file_id)
        if entry is None:
            return None
        _check_entry(entry, change)
    place = await _destination(tx, actor.user_id, change)
    if own:
        if place is not None:
            raise Forbidden(_ACROSS)  # one of the user's own entries into a share
        return None
    if entry is None:
        if place is None:
            return None
        if place.writable is None:
            raise Forbidden(_READ_ONLY)
        owner_id, seen = place.owner_id, place.seen
    else:
        owner_id, seen = entry.owner_id, entry.seen
        if change.action in ("rename", "move") and change.folder is not None and (
                place is None or place.owner_id != owner_id or entry.inside is None
                or not _within(place.path, entry.inside.path)):
            raise Forbidden(_ACROSS)
    if place is not None:
        change = msgspec.structs.replace(
            change, folder=place.path,
            name=None if change.action == "mkdir" else change.name)
    shared_seq = actor.shared_seq
    if shared_seq is None:
        shared_seq = (await changes.seq_before(tx, owner_id, actor.queued_at)
                      if actor.queued_at is not None else actor.base_seq)
    return Routed(actor=msgspec.structs.replace(actor, user_id=owner_id, base_seq=shared_seq,
                                                via_share=True),
                  change=change, seen=seen)


async def _destination(tx: Conn, user_id: str, change: LocalChange) -> SharedPlace | None:
    """The shared folder a change puts something in: None for the user's own folders and
    for changes that name no destination. For ``mkdir`` it is the folder made; making one
    directly in an owner folder is 403."""
    if change.folder is None or (change.action == "upload" and change.file_id is not None) \
            or change.action == "delete":
        return None
    folder = normalize_folder(change.folder)
    if change.action != "mkdir":
        return await resolve_folder(tx, user_id, folder)
    if change.name is not None:
        folder = join(folder, normalize_name(change.name))
    try:
        return await resolve_folder(tx, user_id, folder)
    except NotFound:
        if len(_segments(folder)) == 3:
            raise Forbidden(_VIRTUAL) from None
        raise


def _check_entry(entry: SharedEntry, change: LocalChange) -> None:
    """403 unless ``change`` may touch ``entry``."""
    if change.action == "upload":
        if not entry.content_writable:
            raise Forbidden(_READ_ONLY)
        return
    if entry.inside is None:
        raise Forbidden(_ITEM_ITSELF if entry.item_write else _READ_ONLY)
