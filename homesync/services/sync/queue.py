"""The offline queue (``POST /queue/add``, ``GET /queue``, ``DELETE /queue/{id}``).

An app records what the user did offline as operations with its own ids and sends them
when it is back. The server:

- stores each operation once per device and op id (sending it again changes nothing and
  answers with its current state; the id sent with another type, ``remotePath`` or
  ``fileId`` is 409, as the app would otherwise take the old operation's state for the
  new one's);
- applies the server-side ones (``delete``, ``move``, ``rename``, ``mkdir``) at once, in
  priority order (high, normal, low), then by the app's ``createdAt`` — through the same
  engine as ``POST /sync/files``, so a delete of a file another device edited since is a
  conflict, not a loss (:mod:`homesync.services.sync.queue_apply`). What the app had seen
  is the request's ``syncToken``, or without one the journal position at the operation's
  ``createdAt``;
- keeps an ``upload`` pending until this device completes an upload to its
  ``remotePath`` (shown as ``processing`` while such an upload is open).

A batch is stored and applied in one transaction, so one that fails leaves nothing queued.
Server-side operations an older version left pending (a crash between its two
transactions) are applied when the server starts (:meth:`recover`).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from homesync import clock
from homesync.cursors import decode_cursor, encode_cursor, not_a_cursor
from homesync.errors import Conflict, NotFound, TooManyItems, ValidationError
from homesync.models import Principal
from homesync.paths import join, normalize_folder, split_path
from homesync.services.auth.still_signed_in import check_still_signed_in
from homesync.services.sync.changes import Changes
from homesync.services.sync.engine import SyncEngine
from homesync.services.sync.notifier import ChangeNotifier
from homesync.services.sync.queue_apply import apply_pending
from homesync.services.sync.queue_predecessors import (
    sent_before_removal,
    sent_by_removed_device,
)
from homesync.services.sync.queue_uploads import (
    op_place,
    open_places,
    settle_upload_ops,
    settled_op_ids,
)
from homesync.services.sync.types import ErrorInfo
from homesync.store import changes, devices, queue
from homesync.store.db import Conn, Database, Row

__all__ = ["MAX_PAGE", "STATUSES", "OfflineQueue", "QueueOp", "QueueOpView", "QueuePage"]

OpType = Literal["upload", "delete", "move", "rename", "mkdir"]
Priority = Literal["high", "normal", "low"]
STATUSES = ("pending", "processing", "done", "failed", "conflict", "cancelled")
_MAX_OP_ID = 200
_MAX_LOCAL_PATH = 8192  # the app's path; it may mirror a long one under /Shared with me
# GET /queue's page size: also its default, what it listed before it had pages.
MAX_PAGE = 10_000
_STEP = 1_000  # rows read at a time for a status told apart from "pending" in Python
_DEVICE_REMOVED = {"code": "DEVICE_REMOVED",
                   "message": "The device was removed before the operation could run"}


class QueueOp(msgspec.Struct, frozen=True, kw_only=True):
    """One operation as the app sent it (``created_at`` in ms)."""

    op_id: str
    type: OpType
    local_path: str | None = None
    remote_path: str | None = None
    file_id: str | None = None
    priority: Priority = "normal"
    created_at: int


class QueueOpView(msgspec.Struct, frozen=True, kw_only=True):
    op_id: str
    type: str
    local_path: str | None
    remote_path: str | None
    file_id: str | None
    priority: str
    created_at: int
    received_at: int
    updated_at: int
    status: str
    error: ErrorInfo | None
    result_file_id: str | None
    conflict_id: str | None


class QueuePage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[QueueOpView]
    next_cursor: str | None  # None: this was the last page


def _view(row: Row, status: str | None = None) -> QueueOpView:
    error = msgspec.json.decode(row["error"], type=ErrorInfo) if row["error"] else None
    return QueueOpView(
        op_id=row["op_id"], type=row["type"], local_path=row["local_path"],
        remote_path=row["remote_path"], file_id=row["file_id"], priority=row["priority"],
        created_at=row["created_at"], received_at=row["received_at"],
        updated_at=row["updated_at"], status=status or row["status"], error=error,
        # A failed operation made no file; rows stored before this rule echo its fileId.
        result_file_id=None if row["status"] == "failed" else row["result_file_id"],
        conflict_id=row["conflict_id"],
    )


def _checked(op: QueueOp) -> QueueOp:
    """The operation with its paths normalised, or ValidationError naming what is wrong."""
    if not 1 <= len(op.op_id) <= _MAX_OP_ID:
        raise ValidationError(f"id must have 1 to {_MAX_OP_ID} characters", field="id")
    remote = op.remote_path
    if op.type in ("upload", "move", "rename", "mkdir") and remote is None:
        raise ValidationError(f"a {op.type} operation needs remotePath", field="remotePath",
                              id=op.op_id)
    if op.type in ("delete", "move", "rename") and not op.file_id:
        raise ValidationError(f"a {op.type} operation needs fileId", field="fileId",
                              id=op.op_id)
    if remote is not None:
        try:
            remote = normalize_folder(remote) if op.type == "mkdir" else join(*split_path(remote))
        except ValidationError as exc:  # INVALID_PATH: say which operation
            exc.details.update(field="remotePath", id=op.op_id)
            raise
    if op.local_path is not None and len(op.local_path) > _MAX_LOCAL_PATH:
        raise ValidationError("localPath is too long", field="localPath", id=op.op_id)
    return msgspec.structs.replace(op, remote_path=remote)


def _check_same_operation(row: Row, op: QueueOp) -> None:
    """Conflict (and the request changes nothing) when the device's stored (or pruned)
    operation ``row`` does something else than ``op``, sent under its id: the id was used
    again for another operation, whose answer would otherwise be the old one's state
    ("done", say) while it was never applied. localPath, priority and createdAt may
    differ in a retry."""
    if (row["type"], row["remote_path"], row["file_id"]) != (op.type, op.remote_path,
                                                              op.file_id):
        raise Conflict(
            f"Operation id {op.op_id!r} was used for another operation: give each operation"
            " its own id", field="id", id=op.op_id,
            existing={"type": row["type"], "remotePath": row["remote_path"],
                      "fileId": row["file_id"], "status": row["status"]})


def _already(op_id: str, status: str) -> Conflict:
    return Conflict(f"The operation is already {status}", id=op_id, status=status)


async def _cancel_sent_by_removed_device(tx: Conn, principal: Principal, op_id: str,
                                         now: int) -> QueueOpView:
    """Cancel ``op_id`` as the install's removed device left it, as for the device's own:
    the removal cancelled what still waited (cancelling again changes nothing; once
    pruned, 409 as for its own), what ran is 409; 404 if no device of it sent ``op_id``."""
    sent = await sent_by_removed_device(tx, principal, op_id)
    if sent is None:
        raise NotFound("No such operation on this device", id=op_id)
    row, pruned = sent
    if pruned or row["status"] not in ("pending", "processing", "cancelled"):
        raise _already(op_id, row["status"])
    if row["status"] != "cancelled":  # an older version left it waiting: the sweep's job
        await queue.set_status(tx, row["device_id"], op_id, status="cancelled",
                               error=_DEVICE_REMOVED, now=now)
        cancelled = await queue.get(tx, row["device_id"], op_id)
        assert cancelled is not None
        return _view(cancelled)
    return _view(row)


class OfflineQueue:
    def __init__(self, db: Database, engine: SyncEngine, changes_: Changes,
                 notifier: ChangeNotifier, max_ops: int) -> None:
        self._db = db
        self._engine = engine
        self._changes = changes_
        self._notifier = notifier
        self._max_ops = max_ops

    async def add(self, principal: Principal, ops: list[QueueOp],
                  sync_token: str | None = None) -> list[QueueOpView]:
        """Queue the operations (each once), apply the server-side ones, answer with the
        state of every operation sent, in the order sent. 400/422 change nothing."""
        if len(ops) > self._max_ops:
            raise TooManyItems(f"At most {self._max_ops} operations per request",
                               field="operations", maxItems=self._max_ops)
        checked = [_checked(op) for op in ops]
        token_base, token_shared = (
            (await self._changes.base_seq(principal.user_id, sync_token),
             await self._changes.shared_seq(principal.user_id, sync_token))
            if sync_token is not None else (None, None))
        now = clock.now_ms()
        # Without a token, what each operation had seen: read before the write lock is
        # taken, as found then (a change committed meanwhile is after every one of them).
        seen_at = {} if token_base is not None else await changes.seqs_before(
            self._db.reader, principal.user_id, [min(op.created_at, now) for op in checked])
        # Queued and applied in one transaction: a batch that fails (a full disk, say)
        # leaves nothing queued that a later batch or a restart would apply unasked.
        async with self._db.transaction() as tx:
            # Removed while this request waited (its token was good when it came in): its
            # waiting operations were cancelled, and none of this batch may run either.
            await check_still_signed_in(tx, principal)
            # Sent before and pruned since (queue_retention): answered, never run again.
            forgotten = {r["op_id"]: r for r in await queue.forgotten_many(
                tx, principal.device_id, [op.op_id for op in checked])}
            # Sent by this install as a device since removed: answered so, never run.
            forgotten |= await sent_before_removal(
                tx, principal, [op.op_id for op in checked if op.op_id not in forgotten])
            for op in checked:
                if op.op_id in forgotten:
                    _check_same_operation(forgotten[op.op_id], op)
                    continue
                base = token_base if token_base is not None else \
                    seen_at[min(op.created_at, now)]
                if not await queue.insert_if_new(
                        tx, device_id=principal.device_id, op_id=op.op_id,
                        user_id=principal.user_id, type=op.type, local_path=op.local_path,
                        remote_path=op.remote_path, file_id=op.file_id, priority=op.priority,
                        created_at=op.created_at, base_seq=base, shared_seq=token_shared,
                        now=now):
                    row = await queue.get(tx, principal.device_id, op.op_id)
                    assert row is not None  # the insert found it
                    _check_same_operation(row, op)
            changed = await apply_pending(tx, self._engine, principal.user_id,
                                          principal.device_id, principal.device_name, now)
        self._notify(changed)
        await settle_upload_ops(self._db, principal.device_id)
        rows = {r["op_id"]: r for r in await queue.get_many(
            self._db.reader, principal.device_id, [op.op_id for op in checked])}
        # The retention sweep may have pruned one since (a retry of one finished long ago).
        known = rows.keys() | forgotten.keys()
        if missing := [op.op_id for op in checked if op.op_id not in known]:
            forgotten |= {r["op_id"]: r for r in await queue.forgotten_many(
                self._db.reader, principal.device_id, missing)}
        uploading = await open_places(self._db, principal.device_id)
        return [_derived(rows[op.op_id], uploading) if op.op_id in rows
                # The local path is not kept with a pruned operation: the retry's.
                else msgspec.structs.replace(_view(forgotten[op.op_id]),
                                             local_path=op.local_path)
                for op in checked]

    async def list_ops(self, principal: Principal, *, status: str | None = None,
                       limit: int = MAX_PAGE, cursor: str | None = None) -> QueuePage:
        """The device's operations in the order they arrived (finished ones for a while),
        ``limit`` at a time; pass ``next_cursor`` for the next page."""
        if status is not None and status not in STATUSES:
            raise ValidationError(f"status must be one of {', '.join(STATUSES)}",
                                  field="status")
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationError(f"limit must be between 1 and {MAX_PAGE}", field="limit")
        after = _decode_cursor(cursor) if cursor else 0
        await settle_upload_ops(self._db, principal.device_id)
        uploading = await open_places(self._db, principal.device_id)
        # "processing" is derived from "pending" (an upload is open), so those two are
        # read as pending, in big steps, and told apart here until the page is full.
        derived = status in ("pending", "processing")
        stored = "pending" if derived else status
        step = max(limit + 1, _STEP) if derived else limit + 1
        found: list[tuple[int, QueueOpView]] = []
        while True:
            rows = await queue.list_page(self._db.reader, principal.device_id, after=after,
                                         limit=step, status=stored)
            for row in rows:
                view = _derived(row, uploading)
                if status is None or view.status == status:
                    found.append((row["position"], view))
            if len(found) > limit or len(rows) < step:
                break
            after = rows[-1]["position"]
        more = len(found) > limit
        return QueuePage(items=[v for _, v in found[:limit]],
                         next_cursor=_encode_cursor(found[limit - 1][0]) if more else None)

    async def cancel(self, principal: Principal, op_id: str) -> QueueOpView:
        """Cancel a pending operation (again: harmless). 404 if the device (nor the
        install as a device removed since) has no such operation, 409 when it already ran."""
        await settle_upload_ops(self._db, principal.device_id)  # a completed upload ran it
        now = clock.now_ms()
        async with self._db.transaction() as tx:
            await check_still_signed_in(tx, principal)  # it may have ended while we waited
            row = await queue.get(tx, principal.device_id, op_id)
            if row is None:
                pruned = await queue.forgotten_many(tx, principal.device_id, [op_id])
                if pruned:  # it finished long ago
                    raise _already(op_id, pruned[0]["status"])
                return await _cancel_sent_by_removed_device(tx, principal, op_id, now)
            if row["status"] == "pending":
                await queue.set_status(tx, principal.device_id, op_id, status="cancelled",
                                       now=now)
            elif row["status"] != "cancelled":
                raise _already(op_id, row["status"])
            row = await queue.get(tx, principal.device_id, op_id)
        assert row is not None
        return _view(row)

    async def pending_uploads(self, device_id: str) -> int:
        """Upload operations of the device still waiting, not counting those whose upload
        is open (the uploads service counts those), nor those settling would end. Read
        only (sign-in asks after its commit): the settling itself waits for the next
        queue call."""
        ending = await settled_op_ids(self._db, device_id)
        uploading = await open_places(self._db, device_id)
        return sum(op_place(row) not in uploading and row["op_id"] not in ending
                   for row in await queue.pending_uploads(self._db.reader, device_id))

    async def recover(self) -> None:
        """Apply server-side operations that a crash left pending."""
        for row in await queue.devices_with_pending(self._db.reader):
            device = await devices.by_id(self._db.reader, row["device_id"])
            # A removed device's are cancelled, never applied (:meth:`device_removed`).
            if device is not None and device["removed_at"] is None:
                await self._process(row["user_id"], row["device_id"], device["name"])

    async def prune(self, before: int) -> int:
        """Prune finished operations last changed before ``before``; how many went. Their
        ids stay known (:meth:`forget_ids`), so that a retry is not applied again. What
        removed devices left waiting is cancelled first (:meth:`device_removed`)."""
        now = clock.now_ms()
        await self._db.in_batches(
            lambda tx: queue.cancel_pending_of_removed_devices(tx, _DEVICE_REMOVED, now))
        return await self._db.in_batches(lambda tx: queue.forget_finished(tx, before))

    async def forget_ids(self, before: int) -> int:
        """Forget for good the ids of pruned operations that finished before ``before``
        (``[sync] history_retention``); how many went."""
        return await self._db.in_batches(lambda tx: queue.drop_forgotten(tx, before))

    async def device_removed(self, tx: Conn, user_id: str, device_id: str) -> None:
        """A device removal hook (``Devices.removal_hooks``, in the removal's transaction):
        its operations still waiting are cancelled, never applied (a crash's leftovers at
        :meth:`recover`) and no longer waiting for good; they are pruned like finished
        ones. Its install signed in again that resends them gets their state
        (queue_predecessors), the ids of its pruned ones too."""
        await queue.cancel_pending(tx, device_id, _DEVICE_REMOVED, clock.now_ms())

    async def _process(self, user_id: str, device_id: str, device_name: str) -> None:
        now = clock.now_ms()
        async with self._db.transaction() as tx:
            changed = await apply_pending(tx, self._engine, user_id, device_id, device_name,
                                          now)
        self._notify(changed)

    def _notify(self, changed: set[str]) -> None:
        for tree_owner in changed:
            self._notifier.changed(tree_owner)


def _derived(row: Row, uploading: set[tuple[str, str]]) -> QueueOpView:
    """The operation as listed: a pending upload is ``processing`` while the device has an
    upload open to its place (``uploading``, from ``open_places``)."""
    if row["type"] == "upload" and row["status"] == "pending" and op_place(row) in uploading:
        return _view(row, "processing")
    return _view(row)


def _encode_cursor(position: int) -> str:
    return encode_cursor(f"q{position}")


def _decode_cursor(cursor: str) -> int:
    raw = decode_cursor(cursor, max_chars=40)
    digits = raw[1:]
    # ASCII digits under 2**63 (SQLite's integers): else a 500 from the query.
    if raw[:1] != "q" or not (digits.isascii() and digits.isdigit()) or len(raw) > 19:
        raise not_a_cursor()
    return int(digits)
