"""How much upload work one device, and the whole server, may have going at once.

reliability-plan §2 "Rate limits": at most 4 chunk PUTs in flight per device and 32 in
all, and at most 20 open upload sessions per device (configurable under ``[uploads]``).
A phone's background uploader that opens more connections than that gets 429 with
``Retry-After`` and tries again, instead of one device's first photo-library backup
taking every slot (each chunk in flight holds a file handle, a hash and a socket).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from homesync.errors import RateLimited

__all__ = ["ChunkSlots"]

# A chunk PUT takes about a second at phone speeds: a slot is likely free by then.
_CHUNK_RETRY_AFTER_S = 1


class ChunkSlots:
    """Counts chunk PUTs in flight, per device and in all; :meth:`hold` one for each."""

    def __init__(self, *, per_device: int, total: int) -> None:
        self.per_device = per_device
        self.total = total
        self._by_device: dict[str, int] = {}
        self._in_flight = 0

    @contextmanager
    def hold(self, device_id: str) -> Iterator[None]:
        """A slot for one chunk PUT of ``device_id``, or 429 when none is free."""
        mine = self._by_device.get(device_id, 0)
        if mine >= self.per_device:
            raise RateLimited(_CHUNK_RETRY_AFTER_S,
                              f"At most {self.per_device} chunk uploads at once per device")
        if self._in_flight >= self.total:
            raise RateLimited(_CHUNK_RETRY_AFTER_S,
                              "The server is receiving as many chunks as it takes at once")
        self._by_device[device_id] = mine + 1
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1
            left = self._by_device[device_id] - 1
            if left:
                self._by_device[device_id] = left
            else:
                del self._by_device[device_id]

    def in_flight(self, device_id: str | None = None) -> int:
        """Chunk PUTs streaming now, of one device or in all."""
        return self._in_flight if device_id is None else self._by_device.get(device_id, 0)
