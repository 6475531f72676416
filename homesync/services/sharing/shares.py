"""Sharing a file or folder with another user of the server, by email.

- The owner shares one of their live files or folders with an email address and a
  permission (``read`` or ``write``). An email with no account behind it gets exactly the
  answer a real one gets, so sharing cannot be used to find out who has an account; such
  a share waits for that account: when one is made for the email (``homesync user add``,
  open sign-up) it reaches it, as if just shared (:meth:`Shares.account_created`), and
  nothing the owner sees changes.
- The recipient gets a ``shares`` notification, sees the share in ``GET /shares``, lists
  a shared folder's contents through the share, and reads shared files (metadata and
  content) by id through the files API (see :attr:`Downloads.shared_owner`).
- The recipient sees shared entries under ``/Shared with me/<owner>/…`` (the rule is in
  :mod:`.view`), in ``GET /shares``, ``GET /files/{id}`` and their sync
  (:mod:`.sync`); the owner's path above the shared item is never shown.
- Access is checked on every request: deleting the share (the owner revokes it, or the
  recipient leaves it) ends it at once, as does the owner trashing the file; the
  recipient's sync shows the entries as deleted and their long polls wake.

- With ``write``, the recipient changes what was shared (uploads, ``POST /sync/files``,
  the offline queue) and the change is made in the owner's tree: the owner's journal,
  quota, version history and trash, so the owner and every other recipient see it through
  their sync. What may be changed, and the 403 answers for the rest, are in
  :mod:`.access`; changing the permission takes effect on the next request. Ending the
  recipient's write access (revoked, left, turned to read) cancels their uploads still
  open into the owner's files that no other ``write`` share covers: they would be refused
  anyway, and they hold the owner's quota.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec
from msgspec import Struct

from homesync import clock
from homesync.errors import Forbidden, NotFound, ValidationError
from homesync.ids import new_id
from homesync.models import Principal
from homesync.paths import is_under, join, normalize_folder
from homesync.services.auth.accounts import normalize_email
from homesync.services.auth.still_signed_in import check_still_signed_in
from homesync.services.files.downloads import Downloads
from homesync.services.files.views import FileInfo
from homesync.services.notifications.events import share_event
from homesync.services.notifications.names import shown
from homesync.services.sharing.access import upload_place_now
from homesync.services.sharing.view import SharedRoot, locate, shared_roots
from homesync.services.uploads.events import upload_event
from homesync.store import files, share_feed, shares, uploads, users
from homesync.store.db import Conn, Database, Row

__all__ = ["PERMISSIONS", "Share", "SharedListing", "Shares"]

PERMISSIONS = ("read", "write")


class Share(Struct, frozen=True, kw_only=True):
    """One share as its owner or its recipient sees it."""

    id: str
    file_id: str
    kind: str  # 'file' or 'folder'
    name: str
    size: int
    mime_type: str | None
    checksum: str | None
    modified_at: int
    permission: str
    email: str  # the recipient's, as the owner typed it
    owner_name: str
    owner_email: str
    created_at: int
    path: str  # the owner's: in their tree; the recipient's: under /Shared with me


class SharedListing(Struct, frozen=True, kw_only=True):
    """One page of a shared folder; paths are relative to the shared folder (``/``)."""

    share_id: str
    folder: str
    entries: list[tuple[str, FileInfo]]  # (path inside the share, entry)
    next_cursor: str | None


class Shares:
    """Share rules (see the module docstring).

    Args:
        db: The database.
        downloads: Listing of the owner's folders (a shared folder's contents).
        wake: Called after a share made a notification (the push worker).
        changed: Called with a user id after their shared entries changed (wakes the
            recipient's long polls: ``services.sync.notifier.changed``).
    """

    def __init__(self, db: Database, downloads: Downloads, wake: Callable[[], None],
                 changed: Callable[[str], None]) -> None:
        self._db = db
        self._downloads = downloads
        self._wake = wake
        self._changed = changed

    async def share(self, principal: Principal, *, file_id: str, email: str,
                    permission: str) -> tuple[Share, bool]:
        """Share one of the caller's live files or folders; ``(share, created)``.

        Sharing the same item with the same email again changes the permission.
        """
        if permission not in PERMISSIONS:
            raise ValidationError("permission must be read or write", field="permission")
        email = normalize_email(email)
        now = clock.now_ms()
        async with self._db.transaction() as tx:
            await check_still_signed_in(tx, principal)  # it may have ended while we waited
            recipient = await users.by_email(tx, email)
            # The account the email names, as sign-in finds it ("É" and "é" are two).
            if recipient is not None and recipient["id"] == principal.user_id:
                raise ValidationError("You cannot share with yourself", field="email")
            item = await files.get_file(tx, principal.user_id, file_id)
            if item is None or item["deleted_at"] is not None:
                raise NotFound("No such file")
            before = shared_roots(await shares.incoming(tx, recipient["id"])) \
                if recipient is not None else []
            share_id, created = await shares.upsert(
                tx, share_id=new_id("share"), owner_id=principal.user_id, file_id=file_id,
                email=email, recipient_id=recipient["id"] if recipient else None,
                permission=permission, now=now,
            )
            if not created and recipient is not None and permission == "read":
                await _cancel_shut_out_uploads(tx, recipient["id"], principal.user_id, now,
                                               tell=True)
            # The account it reaches from now on: new, or made for an email whose account
            # came later, on a server that did not link it then (see account_created).
            reached: str | None = None
            if recipient is not None and (
                    created or await shares.link(tx, share_id, recipient["id"])):
                reached = recipient["id"]
                kind: Literal["file", "folder"] = "folder" if item["kind"] == "folder" else "file"
                await share_event(tx, recipient_id=reached, owner_name=principal.name,
                                  item=kind, name=item["name"], share_id=share_id, now=now,
                                  file_id=file_id)
                await share_feed.add_subtree(tx, recipient_id=reached, file_id=file_id)
                # A shared folder holding an older share frees that one's name: a younger
                # same-named item may lose its " (2)".
                await _feed_moved(tx, reached, before, file_id)
            row = await shares.by_id(tx, share_id)
        assert row is not None
        if reached is not None:
            self._wake()
            self._changed(reached)
        return _share(row, path=join(row["folder"], row["name"])), created

    async def overview(self, principal: Principal) -> tuple[list[Share], list[Share]]:
        """What the caller shared, and what was shared with them (newest first)."""
        conn = self._db.reader
        mine = [_share(r, path=join(r["folder"], r["name"]))
                for r in await shares.outgoing(conn, principal.user_id)]
        incoming = await shares.incoming(conn, principal.user_id)
        roots = shared_roots(incoming)
        theirs = [_share(r, path=_seen_at(roots, r)) for r in incoming]
        return mine, theirs

    async def remove(self, principal: Principal, share_id: str) -> None:
        """The owner revokes a share, or its recipient leaves it; 404 for anyone else, for
        the recipient while its item is in the owner's trash, and once it is deleted for good.

        The recipient's sync shows what it reached as deleted, and entries of their other
        shares that now appear elsewhere (a `` (2)`` name that is free again) as updated.
        """
        async with self._db.transaction() as tx:
            await check_still_signed_in(tx, principal)  # it may have ended while we waited
            row = await self._visible(tx, principal, share_id)
            recipient_id = row["recipient_id"]
            if recipient_id is not None:
                before = shared_roots(await shares.incoming(tx, recipient_id))
                await share_feed.add_subtree(tx, recipient_id=recipient_id,
                                             file_id=row["file_id"])
            await shares.delete(tx, share_id)
            if recipient_id is not None:
                await _feed_moved(tx, recipient_id, before, row["file_id"])
                await _cancel_shut_out_uploads(tx, recipient_id, row["owner_id"],
                                               clock.now_ms(),
                                               tell=principal.user_id != recipient_id)
        if recipient_id is not None:
            self._changed(recipient_id)

    async def account_created(self, tx: Conn, user_id: str, email: str) -> Callable[[], None]:
        """In the transaction that made ``user_id``'s account for ``email``: the shares made
        for that email before it had an account reach it now, each with its notification
        and its entries in the new account's sync. Returns the wake-up of the push worker
        and of the account's long polls, for once it committed."""
        waiting = await shares.waiting_for(tx, email)
        now = clock.now_ms()
        for row in waiting:
            await shares.link(tx, row["id"], user_id)
            kind: Literal["file", "folder"] = "folder" if row["kind"] == "folder" else "file"
            await share_event(tx, recipient_id=user_id, owner_name=row["owner_name"], item=kind,
                              name=row["name"], share_id=row["id"], now=now,
                              file_id=row["file_id"])
            await share_feed.add_subtree(tx, recipient_id=user_id, file_id=row["file_id"])

        def wake() -> None:
            if waiting:
                self._wake()
                self._changed(user_id)
        return wake

    async def owner_removing(self, tx: Conn, owner_id: str) -> Callable[[], None]:
        """Before ``owner_id``'s account and files go (``homesync user remove``), in that
        transaction: each recipient's sync shows what it shared as deleted, and their
        other shares that take a freed name (a `` (2)`` dropped) as updated. Returns the
        wake-up of their long polls, for once it committed."""
        recipients = await shares.recipients(tx, owner_id)
        for recipient_id in recipients:
            rows = await shares.incoming(tx, recipient_id)
            before = shared_roots(rows)
            after = shared_roots(r for r in rows if r["owner_id"] != owner_id)
            for root in before:
                if root.owner_id == owner_id:
                    await share_feed.add_subtree(tx, recipient_id=recipient_id,
                                                 file_id=root.file_id)
            for moved in set(after) - set(before):
                await share_feed.add_subtree(tx, recipient_id=recipient_id,
                                             file_id=moved.file_id)

        def wake() -> None:
            for recipient_id in recipients:
                self._changed(recipient_id)
        return wake

    async def list_folder(self, principal: Principal, share_id: str, folder: str = "/", *,
                          after: str | None = None, limit: int = 1000) -> SharedListing:
        """A page of the shared folder ``share_id``; ``folder`` is relative to it."""
        row = await self._visible(self._db.reader, principal, share_id)
        if row["kind"] != "folder" or row["deleted_at"] is not None:
            raise NotFound("No such shared folder")
        root = join(row["folder"], row["name"])
        inner = normalize_folder(folder)
        absolute = root if inner == "/" else root + inner
        page = await self._downloads.list_folder(row["owner_id"], absolute, after=after,
                                                 limit=limit)
        entries = [(join(_relative(e.folder, root), e.name), e) for e in page.entries]
        # As GET /files answers: the folder as stored ("/2024/TRIP" lists "/2024/trip").
        return SharedListing(share_id=share_id, folder=_relative(page.folder, root),
                             entries=entries,
                             next_cursor=page.next_cursor)

    async def place(self, user_id: str, owner_id: str, info: FileInfo) -> FileInfo:
        """``info`` (the owner's entry) as ``user_id`` sees it, under /Shared with me (the
        files API's hook: :attr:`homesync.services.files.downloads.Downloads.shared_place`)."""
        roots = shared_roots(await shares.incoming(self._db.reader, user_id))
        spot = locate(roots, owner_id=owner_id, file_id=info.id, folder=info.folder,
                      name=info.name)
        if spot is None:  # the share ended since the access check: show nothing of theirs
            raise NotFound("No such file")
        return msgspec.structs.replace(info, folder=spot[0], name=spot[1])

    async def owner_for(self, user_id: str, file_id: str) -> str | None:
        """Whose file ``file_id`` is, if a share lets ``user_id`` read it (the files API's
        hook: :attr:`homesync.services.files.downloads.Downloads.shared_owner`)."""
        return await shares.grant_owner(self._db.reader, user_id, file_id)

    @staticmethod
    async def _visible(conn: Conn, principal: Principal, share_id: str) -> Row:
        row = await shares.by_id(conn, share_id)
        if row is None or principal.user_id not in (row["owner_id"], row["recipient_id"]) \
                or row["purged_at"] is not None:  # its item deleted for good: gone
            raise NotFound("No such share")
        if row["deleted_at"] is not None and principal.user_id != row["owner_id"]:
            raise NotFound("No such share")  # in its owner's trash: nothing of it shows
        return row


async def _feed_moved(tx: Conn, recipient_id: str, before: list[SharedRoot],
                      changed: str) -> None:
    """Feed the recipient's shares other than ``changed`` that appear elsewhere than
    ``before`` (a `` (2)`` name taken or freed), with everything in them."""
    after = shared_roots(await shares.incoming(tx, recipient_id))
    for moved in set(after) - set(before):
        if moved.file_id != changed:
            await share_feed.add_subtree(tx, recipient_id=recipient_id, file_id=moved.file_id)


async def _cancel_shut_out_uploads(tx: Conn, recipient_id: str, owner_id: str,
                                   now: int, *, tell: bool) -> None:
    """Cancel the recipient's open uploads into the owner's files that no share lets them
    write any more (revoked, left, turned to read; another ``write`` share may still cover
    one): their chunks and completion are refused from now on, yet their bytes would hold
    the owner's quota until they expire.

    ``tell`` (the owner ended the access): an ``uploads`` notification to the device that
    was sending each, as for one that expired: the app may be in the background, and the
    photo is not backed up. Not when the recipient left: that was their own doing."""
    for row in await uploads.open_into(tx, user_id=recipient_id, owner_id=owner_id, now=now):
        try:
            await upload_place_now(tx, recipient_id, owner_id=owner_id, folder=row["folder"],
                                   file_id=row["target_file_id"], root_id=row["share_root_id"])
        except (NotFound, Forbidden):
            await uploads.mark_ended(tx, row["id"], "cancelled", now)
            if tell:
                await upload_event(tx, row, "upload_cancelled", "Upload stopped",
                                   f"{shown(row['name'])} was not uploaded: the share it was"
                                   " going into no longer lets you add to it.", now)


def _relative(folder: str, root: str) -> str:
    assert is_under(folder, root)
    return folder[len(root):] or "/"


def _seen_at(roots: list[SharedRoot], row: Row) -> str:
    spot = locate(roots, owner_id=row["owner_id"], file_id=row["file_id"], folder=row["folder"],
                  name=row["name"])
    assert spot is not None  # every live incoming share has a root
    return join(*spot)


def _share(row: Row, *, path: str) -> Share:
    return Share(
        id=row["id"], file_id=row["file_id"], kind=row["kind"], name=row["name"],
        size=row["size"], mime_type=row["mime_type"], checksum=row["checksum"],
        modified_at=row["modified_at"], permission=row["permission"],
        email=row["recipient_email"], owner_name=row["owner_name"],
        owner_email=row["owner_email"], created_at=row["created_at"],
        path=path,
    )
