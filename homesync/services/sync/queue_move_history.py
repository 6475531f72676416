"""One entry's moves and renames, as a batch of queued operations reads them.

Each queued ``move`` or ``rename`` asks where the app had seen its entry: where it was at
the operation's ``base_seq``, with the parts the device's own moves and renames since
changed as they made them (:mod:`homesync.services.sync.queue_moves`). A batch of 500
renames of one file would read and go through all the file's moves for each: work
quadratic in the moves of one entry. A :class:`MoveHistory` reads them from the journal
once, then only those written since (the batch's own, in its write transaction), and
keeps for each of the device's own moves the last one up to it that changed the folder
(the name), so that an operation finds the one that counts without going through all.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

from homesync.errors import HomesyncError
from homesync.paths import name_key, split_path
from homesync.store import since_token
from homesync.store.db import Conn

__all__ = ["MoveHistory"]


class MoveHistory:
    """The moves and renames of the entry ``file_id`` after journal position ``since``,
    oldest first; :meth:`read_new` adds those written since the last read."""

    def __init__(self, file_id: str, device_id: str, since: int) -> None:
        self.file_id = file_id
        self.since = since
        self._device_id = device_id
        self._read_up_to = since
        self._seqs: list[int] = []
        self._from: list[str | None] = []  # the path each one left
        self._own: list[bool] = []
        # For each move but the last (whose new path is the next one's from_path): the
        # last of the device's own moves up to it that changed the folder (the name), -1
        # when none did.
        self._folder_by: list[int] = []
        self._name_by: list[int] = []
        self._last_unknown = -1  # the last move journaled before paths were
        self._last_own = -1

    async def read_new(self, conn: Conn) -> None:
        """Read the moves journaled since the last read."""
        for row in await since_token.relocations_after(conn, self.file_id, self._read_up_to):
            self._append(row["seq"], row["device_id"], row["from_path"])

    def own_after(self, base_seq: int) -> bool:
        """Whether the device made any of the moves after ``base_seq``."""
        return self._last_own >= self._first_after(base_seq)

    def seen(self, now: str, base_seq: int,
             held: Callable[[int], bool]) -> tuple[str, str] | None:
        """(folder, name) where the entry was at ``base_seq`` (``base_seq >= since``), with
        the parts the device's own moves since changed as they made them, but for those at
        the journal positions ``held`` holds; None when that cannot be told (a move
        journaled before paths were, a path stored before today's rules). ``now``: where
        the entry is now, the new path of the last move."""
        start = self._first_after(base_seq)
        if self._last_unknown >= start:
            return None
        try:
            folder, name = split_path(self._path(start) if start < len(self._seqs) else now)
        except HomesyncError:  # a path stored before today's rules: not comparable
            return None
        if self._last_own < start:
            return folder, name
        last = len(self._seqs) - 1
        folder_changed = name_changed = False
        if self._own[last] and not held(self._seqs[last]):
            folder_changed, name_changed = _changes(self._path(last), now)
        now_folder, now_name = _parts(now)
        if folder_changed:
            folder = now_folder
        elif (i := self._latest(self._folder_by, last - 1, start, held)) >= 0:
            folder = _parts(self._path(i + 1))[0]
        if name_changed:
            name = now_name
        elif (i := self._latest(self._name_by, last - 1, start, held)) >= 0:
            name = _parts(self._path(i + 1))[1]
        return folder, name

    def _path(self, i: int) -> str:
        """The path move ``i`` left: known from the first move :meth:`seen` reads on."""
        path = self._from[i]
        assert path is not None  # seen answered None first
        return path

    def _first_after(self, base_seq: int) -> int:
        return bisect.bisect_right(self._seqs, base_seq)

    def _latest(self, by: list[int], upto: int, start: int, held: Callable[[int], bool]) -> int:
        """The last of ``by``'s moves at or before index ``upto`` and from ``start`` on
        that ``held`` does not hold, or -1."""
        i = by[upto] if upto >= 0 else -1
        while i >= start and held(self._seqs[i]):
            i = by[i - 1] if i > 0 else -1
        return i if i >= start else -1

    def _append(self, seq: int, device_id: str | None, from_path: str | None) -> None:
        if self._seqs:  # the move before now has its new path: this one's from_path
            self._close(len(self._seqs) - 1, from_path)
        index = len(self._seqs)
        self._seqs.append(seq)
        self._from.append(from_path)
        self._own.append(device_id == self._device_id)
        if from_path is None:
            self._last_unknown = index
        if device_id == self._device_id:
            self._last_own = index
        self._read_up_to = seq

    def _close(self, i: int, new_path: str | None) -> None:
        folder_changed = name_changed = False
        old_path = self._from[i]
        # A move next to one of unknown path is never asked about (seen: None).
        if self._own[i] and old_path is not None and new_path is not None:
            folder_changed, name_changed = _changes(old_path, new_path)
        folder_before = self._folder_by[-1] if self._folder_by else -1
        name_before = self._name_by[-1] if self._name_by else -1
        self._folder_by.append(i if folder_changed else folder_before)
        self._name_by.append(i if name_changed else name_before)


def _changes(old_path: str, new_path: str) -> tuple[bool, bool]:
    """Whether a move from ``old_path`` to ``new_path`` changed the folder (found without
    case, as everywhere), and the name (compared exactly: a change of case is a rename)."""
    (old_folder, old_name), (new_folder, new_name) = _parts(old_path), _parts(new_path)
    return (new_folder != old_folder and name_key(new_folder) != name_key(old_folder),
            new_name != old_name)


def _parts(path: str) -> tuple[str, str]:
    """(folder, name) of a path the journal recorded (normal already: not checked again)."""
    folder, _, name = path.rpartition("/")
    return folder or "/", name
