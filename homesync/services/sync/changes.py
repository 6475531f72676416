"""``GET /sync/status``: what changed since a device's sync token, and the long poll.

A delta lists each changed entry once, as it is now, in journal order: ``created`` if it
appeared after the token, ``updated`` if the device may know it, ``deleted`` if it is gone
(or, for a device that syncs only some folders, moved out of them). Entries created and
deleted since the token are left out — the device never saw them — unless the device made
or changed them itself (an upload, a mkdir) and another deleted them. Clients apply ``created``
and ``updated`` alike, as "this entry is now like this".

Shared items (what others shared with the user) follow the user's own changes, under
``/Shared with me`` (:mod:`homesync.services.sharing.sync`); the token's second position
tracks them.

The long poll parks the request on the :class:`ChangeNotifier` — no database
connection, thread or task is held while it waits — and answers at once when changes
are already there. It also ends when its sign-in does (device removed, signed out) or
the key that signed its access token is retired, and it never parks past the token's
expiry: the caller, checking the token again before it answers, then answers 401.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import msgspec

from homesync import clock
from homesync.config import SyncSettings
from homesync.errors import ValidationError
from homesync.models import Principal
from homesync.services.sharing.sync import SharedChanges
from homesync.services.sync.conflicts import Conflicts, ConflictView
from homesync.services.sync.notifier import ChangeNotifier, Wake
from homesync.services.sync.tokens import SyncTokens
from homesync.store import changes, devices, horizon, share_feed
from homesync.store.changes import DeltaRow
from homesync.store.db import Database, Row

__all__ = ["Changes", "SyncStatus"]

# Writing lastSyncAt on every poll would turn every read into a write (and an fsync).
_SYNC_TOUCH_INTERVAL_MS = 30_000
# A lastSync this far in the future is a broken clock or garbage, not a time.
_MAX_CLOCK_SKEW_MS = 5 * 60_000


class SyncStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One page of changes. Rows have the columns of ``store.changes.DELTA_COLUMNS``."""

    synced_at: int
    created: list[DeltaRow]
    updated: list[DeltaRow]
    deleted: list[DeltaRow]
    has_more: bool
    next_token: str
    conflicts: list[ConflictView]
    # A full listing: the token named changes this server does not have, or history
    # older than the sync horizon.
    reset: bool


class _Page(msgspec.Struct, frozen=True):
    rows: list[DeltaRow]
    has_more: bool
    next_seq: int


class Changes:
    def __init__(self, db: Database, settings: SyncSettings, tokens: SyncTokens,
                 notifier: ChangeNotifier, conflicts: Conflicts, shared: SharedChanges) -> None:
        self._db = db
        self._shared = shared
        self._settings = settings
        self._tokens = tokens
        self._notifier = notifier
        self._conflicts = conflicts
        self._sync_written: dict[str, int] = {}

    def token(self, user_id: str, token: str | None) -> str:
        """The token to pull from after changes sent with ``token`` (``POST /sync/files``):
        its own positions, with where its paged delta started if it is in the middle of
        one; position 0 without one. Not the position the changes were judged against: for
        a token this database never issued (a restored backup) that is 0, and a delta from
        0 lists what is there but never tells the device to drop what the restored server
        no longer has; the token itself still gets the full listing with ``reset``."""
        if token is None:
            return self._tokens.encode(user_id, 0)
        seq, shared, since, shared_since = self._tokens.decode_all(user_id, token)
        return self._tokens.encode(user_id, seq, shared, since=since, shared_since=shared_since)

    async def base_seq(self, user_id: str, token: str | None) -> int:
        """The position a change made with ``token`` is judged against (0: knows nothing).

        A token this database never issued (a restored backup) counts as knowing nothing,
        so every change since is a conflict rather than an overwrite. A token below the
        sync horizon keeps its position: the journal after the horizon still judges
        exactly, and for what came before it, whose entries may be compacted away,
        ``since_token.content_changed_since`` reports any file changed since the position as
        changed by another device — a conflict, never a silent overwrite.
        """
        if token is None:
            return 0
        seq = self._tokens.decode(user_id, token)
        pos = await changes.positions(self._db.reader, user_id, seq)
        return 0 if seq > pos["head"] or pos["in_gap"] else seq

    async def shared_seq(self, user_id: str, token: str | None) -> int:
        """The journal position up to which a device with ``token`` had seen what others
        share with the user (0: nothing): changes it makes to shared entries are judged
        against it, as :meth:`base_seq` judges changes to the user's own. Below the
        shared horizon the feed entry it names may be compacted away; an earlier one (or
        none: 0) answers, a lower position, so more counts as unseen, never less."""
        if token is None:
            return 0
        shared = self._tokens.decode_positions(user_id, token)[1]
        return await share_feed.seen_seq(self._db.reader, user_id, shared)

    async def status(self, principal: Principal, *, sync_token: str | None = None,
                     last_sync: int | None = None, limit: int | None = None,
                     wait: int = 0) -> SyncStatus:
        """The changes after ``sync_token`` (or since ``last_sync``, or all live entries).

        ``limit`` entries per page (``has_more`` and ``next_token`` continue); ``wait``
        seconds of long poll when there is nothing new. Records the device's lastSyncAt.
        """
        user_id = principal.user_id
        page_size = self._page_size(limit)
        if wait < 0:
            raise ValidationError("wait cannot be negative", field="wait")
        wait = min(wait, self._settings.max_wait)
        seq, shared_pos, since, shared_since = (self._tokens.decode_all(user_id, sync_token)
                                                if sync_token is not None else (0, 0, 0, 0))
        if last_sync is not None and last_sync > clock.now_ms() + _MAX_CLOCK_SKEW_MS:
            raise ValidationError("lastSync is in the future", field="lastSync")
        folders = _sync_folders(principal)
        deadline = time.monotonic() + _park_limit(principal, wait)
        base: int | None = None
        reset = False
        first = True
        owners: tuple[str, ...] = ()  # who shares with the user: their changes wake us too
        signed_out = False
        while True:
            # Subscribe before looking, so a change committed in between still wakes us.
            with self._notifier.subscribe(user_id, *owners, sign_in=principal.family_id,
                                          kid=principal.kid or None,
                                          device=principal.device_id) as wake:
                # The head is read before the page: every change up to it is committed,
                # so the page (read after) sees them all and the next token may skip to it.
                # A handful of indexed lookups, on every sync call: inline (store.connections).
                synced_at = _seen_until(self._db.writing_since)
                pos = await changes.positions(self._db.inline, user_id, seq, shared_pos)
                listed = pos["share_owners"]
                sharers = tuple(sorted(listed.split(","))) if listed else ()
                if sharers != owners:  # listen to them too before looking any further
                    owners = sharers
                    continue
                if first:
                    base, shared_base, reset = await self._base(
                        user_id, sync_token, seq, shared_pos, last_sync, pos, since,
                        shared_since)
                    if sync_token is None:  # lastSync: from the feed position for it
                        shared_pos = shared_since = shared_base
                    first = False
                shared_head = pos["shared_head"]
                # Where this paged delta started: the token's own start while its base
                # holds, else the base it falls back to (see tokens); 0 for a full listing,
                # whose device held nothing before it.
                started = 0 if base is None else since if base == seq else base
                page = await self._page(user_id, base, page_size, folders, pos["head"],
                                        principal.device_id, since=started)
                if shared_pos > shared_head or reset:
                    shared_pos = 0  # a feed this database never had: list shared items anew
                shared_started = min(shared_since, shared_pos)
                shared = await self._shared.delta(
                    user_id, after=shared_pos, head=shared_head,
                    limit=0 if page.has_more else page_size - len(page.rows), folders=folders,
                    device_id=principal.device_id)
                if not reset and await self._horizon_passed(user_id, base, shared_pos, pos,
                                                            started, shared_started):
                    base, reset = None, True
                    continue
                remaining = deadline - time.monotonic()
                # A moved share position is news too (if none of it is for this device,
                # the token still moves on past it).
                if page.rows or shared.next_pos != shared_pos or reset or remaining <= 0:
                    break
                why = await wake.wait(remaining)
                if why is Wake.SIGNED_OUT:
                    signed_out = True  # nothing to record for a device that is gone
                    break
                if why in (Wake.STOPPING, Wake.SUPERSEDED):  # answered like a wait run out
                    break
        if not signed_out:
            await self._record_sync(principal.device_id, synced_at)
        created: list[DeltaRow] = []
        updated: list[DeltaRow] = []
        deleted: list[DeltaRow] = []
        for row in page.rows:
            # row[8] deleted_at, row[9] created_seq, row[11] in_view (see DELTA_COLUMNS)
            if row[8] is not None or not row[11]:
                deleted.append(row)
            elif base is None or row[9] > base:
                created.append(row)
            else:
                updated.append(row)
        return SyncStatus(
            synced_at=synced_at, created=created + shared.created, updated=updated + shared.updated,
            deleted=deleted + shared.deleted, has_more=page.has_more or shared.has_more,
            # In the middle of a paged delta, the token keeps where it started (tokens).
            next_token=self._tokens.encode(
                user_id, page.next_seq, shared.next_pos,
                since=started if page.has_more else None,
                shared_since=shared_started if page.has_more or shared.has_more else None),
            conflicts=await self._conflicts.open_for(user_id) if pos["open_conflicts"] else [],
            reset=reset,
        )

    def _page_size(self, limit: int | None) -> int:
        if limit is None:
            return self._settings.default_page_size
        if limit < 1:
            raise ValidationError("limit must be at least 1", field="limit")
        return min(limit, self._settings.max_page_size)

    async def _base(self, user_id: str, token: str | None, seq: int, shared_pos: int,
                    last_sync: int | None, pos: Row, since: int,
                    shared_since: int) -> tuple[int | None, int, bool]:
        """(position to list after — None for everything live —, share-feed position to
        list after, whether that is a reset).

        A reset is a full listing the device replaces its state with: for a token this
        database never issued, and for a position below the sync horizon (a device that
        has not synced for ``sync.history_retention``): the deletions since may have been
        compacted away, and a delta would silently leave deleted files on the device.
        Position 0 (saw nothing, own or shared) needs no history: never a reset. In the
        middle of a paged delta it is where the delta started (``since``,
        ``shared_since``) that must not be below the horizon: a full listing's later pages
        continue from its oldest entries, far below it.

        A ``lastSync`` maps to a position in each: the journal's and the share feed's
        before their first entry at or after it. The feed's from position 0 would list
        every shared item again as created and none that went as deleted.
        """
        if token is not None:
            if seq > pos["head"] or pos["in_gap"] or pos["in_shared_gap"] \
                    or _below_horizon(since, shared_since, pos):
                return None, shared_pos, True
            return seq, shared_pos, False
        if last_sync is not None:
            if last_sync < (pos["horizon_at"] or 0):
                return None, 0, True  # the journal from then, which maps it to a position, is gone
            shared = await share_feed.pos_before(self._db.reader, user_id, last_sync)
            if shared is None or _below_horizon(0, shared, pos):
                return None, 0, True  # the feed from then has no times, or may be compacted
            return await changes.seq_before(self._db.reader, user_id, last_sync), shared, False
        return None, shared_pos, False

    async def _horizon_passed(self, user_id: str, base: int | None, shared_pos: int,
                              pos: Row, started: int, shared_started: int) -> bool:
        """Whether the horizon rose past where the device's paged delta started (its
        position, outside one) while this call read.

        Compaction commits the new horizon before it deletes anything, so once a page has
        been read, a horizon read after it covers every row the page may have missed.
        Only a call that read history (a position below the head) asks: one lookup.
        """
        read_own = base is not None and base < pos["head"]
        read_shared = 0 < shared_pos < pos["shared_head"]
        if not (read_own or read_shared):
            return False
        now = await horizon.horizon(self._db.inline, user_id)
        return now is not None and _below_horizon(started, shared_started, now)

    async def _page(self, user_id: str, base: int | None, size: int,
                    folders: Sequence[str], head: int, device_id: str, *,
                    since: int | None) -> _Page:
        if base is not None and head <= base:
            return _Page([], False, base)  # nothing after the token: no need to look
        rows = await changes.page(self._db.reader, user_id, after=base, limit=size + 1,
                                  folders=folders, device_id=device_id, since=since)
        if len(rows) > size:
            rows = rows[:size]
            return _Page(rows, True, rows[-1][10])
        last = rows[-1][10] if rows else 0
        return _Page(rows, False, max(base or 0, head, last))

    async def _record_sync(self, device_id: str, now: int) -> None:
        if now - self._sync_written.get(device_id, 0) < _SYNC_TOUCH_INTERVAL_MS:
            return
        self._sync_written[device_id] = now
        # A full disk must not fail the read: this is retried at a later call.
        await self._db.bookkeeping(lambda tx: devices.touch_sync(tx, device_id, now))


def _seen_until(writing_since: int | None) -> int:
    """The answer's lastSyncAt, taken before it reads, so that every change it does not
    show is stamped at or after it and a ``lastSync`` delta from it misses none. A change
    is stamped when it is written (``store.journal.stamp``) but not seen until its
    transaction commits: while a write transaction is open, the time it began."""
    now = clock.now_ms()
    return now if writing_since is None else min(now, writing_since)


def _below_horizon(seq: int, shared_pos: int, pos: Row) -> bool:
    """Whether a device at (``seq``, ``shared_pos``) may have missed compacted history;
    ``pos`` has the horizon columns (:func:`changes.positions`, :func:`horizon.horizon`)."""
    return 0 < seq < (pos["horizon_seq"] or 0) or 0 < shared_pos < (pos["shared_horizon"] or 0)


def _park_limit(principal: Principal, wait: int) -> float:
    """How many seconds the poll may park: ``wait``, but not past the moment its access
    token is refused as expired. The caller checks the token again before answering, so
    the device then gets 401 TOKEN_EXPIRED (and refreshes) at once, not up to ``max_wait``
    later."""
    if principal.token_refused_at is None:
        return wait
    left = (principal.token_refused_at - clock.now_ms()) / 1000
    return max(0.0, min(wait, left))


def _sync_folders(principal: Principal) -> list[str]:
    folders = principal.settings.get("syncFolders")
    if not isinstance(folders, list):
        return []
    return [f for f in folders if isinstance(f, str)]
