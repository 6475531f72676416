"""Reading spans of a local chunk store's files in pieces of about ``READ_PIECE``, each
piece one trip to a worker thread however many chunks it takes.

A file of 10 000 chunks of 4 KiB took two trips per chunk (open, then read): 20 000 thread
hops and as many body messages for 40 MB, about 3.5 s. Filling each piece from as many
chunks as it holds makes that 40 trips.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence

from homesync.store.chunks import is_chunk_hash

__all__ = ["SpanReader", "chunk_path"]


def chunk_path(chunk_dir: str, chunk_hash: str) -> str:
    """Where a chunk lives, as a string (a Path per chunk costs more than its open or
    stat); refuses anything that is not a sha256 hex (no path tricks)."""
    if not is_chunk_hash(chunk_hash):
        raise ValueError(f"not a chunk hash: {chunk_hash!r}")
    return f"{chunk_dir}/{chunk_hash[:2]}/{chunk_hash[2:4]}/{chunk_hash}"


class SpanReader:
    """The bytes of ``spans`` ((chunk, start, end exclusive or None for its end)), one after
    another, by :meth:`next_piece` calls on a worker thread, one at a time.

    At most one chunk file is open at once, from the piece that reaches it until the piece
    that finishes it: a chunk is opened only when its turn comes (an open file survives
    gc deleting it; one not opened yet does not). :meth:`close` once done, off any trip.
    """

    def __init__(self, chunk_dir: str, spans: Sequence[tuple[str, int, int | None]],
                 piece: int) -> None:
        self._dir = chunk_dir
        self._spans = spans
        self._piece = piece
        self._next = 0  # index of the span being read
        self._fd: int | None = None  # its file, once opened
        self._pos = 0  # where in it the next read starts
        self._end = 0  # where its span ends

    @property
    def done(self) -> bool:
        return self._next >= len(self._spans)

    def next_piece(self) -> bytes:
        """Up to ``piece`` bytes: the rest of the current span and as many of the next as
        fit. Raises FileNotFoundError naming the chunk (``filename``) that is missing."""
        parts: list[bytes] = []
        room = self._piece
        while room and self._next < len(self._spans):
            chunk_hash = self._spans[self._next][0]
            if self._fd is None:
                self._open(chunk_hash)
            assert self._fd is not None
            if self._pos < self._end:
                data = os.pread(self._fd, min(room, self._end - self._pos), self._pos)
                if not data:
                    raise OSError(errno.EIO, f"chunk {chunk_hash} is shorter than expected")
                parts.append(data)
                room -= len(data)
                self._pos += len(data)
            if self._pos >= self._end:
                self.close()
                self._next += 1
        return b"".join(parts)

    def _open(self, chunk_hash: str) -> None:
        _, start, end = self._spans[self._next]
        try:
            fd = os.open(chunk_path(self._dir, chunk_hash), os.O_RDONLY)
        except FileNotFoundError:
            raise FileNotFoundError(errno.ENOENT, "chunk not in storage", chunk_hash) from None
        self._fd = fd
        if end is None:
            try:
                end = os.fstat(fd).st_size
            except BaseException:
                self.close()
                raise
        self._pos, self._end = start, end

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
