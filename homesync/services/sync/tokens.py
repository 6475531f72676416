"""Sync tokens: two positions, opaque to clients and bound to one user.

``sync_`` + base64url(version byte, 8-byte journal position, 8-byte share-feed position,
12-byte HMAC-SHA256 tag). The tag covers the user id and the positions under a key
derived from the server secret, so a token that was edited, made up, or taken from
another user's device is refused (400) instead of answering with someone's data.
Positions are all a token needs to hold: the journal and the share feed are append-only,
and every entry's ``files`` row records its last journal position. Version 1 tokens (a
journal position only, from before sharing reached sync) still read, at share position 0.

A token in the middle of a paged delta (``hasMore``) is version 4: it adds the journal
and share-feed positions the delta started from (``since``, ``shared_since``; 0 for a full
listing), by which the next pages still judge what the device may hold (entries moved out
of its ``syncFolders``, entries deleted since) and whether it may have missed compacted
history (the sync horizon): the page positions alone would judge by what the pages read
so far, and a full listing's pages, in journal order from its oldest entries, would each
be "below the horizon" and start the listing over. Version 3 (the journal start only) still
reads, its share-feed start taken as its share position.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from typing import NamedTuple

from homesync.errors import ValidationError

__all__ = ["SyncTokens", "TokenPositions"]

_PREFIX = "sync_"
_VERSION = 2
_TAG_BYTES = 12
_BODY = struct.Struct(">BQQ")
_BODY_V1 = struct.Struct(">BQ")
_BODY_V3 = struct.Struct(">BQQQ")
_BODY_V4 = struct.Struct(">BQQQQ")
_MAX_CHARS = 80


class TokenPositions(NamedTuple):
    seq: int  # journal position
    shared: int  # share-feed position
    since: int  # the journal position its paged delta started from (``seq`` outside one)
    shared_since: int  # the share-feed position it started from (``shared`` outside one)


class SyncTokens:
    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"homesync sync-token key v1", hashlib.sha256).digest()

    def _tag(self, user_id: str, body: bytes) -> bytes:
        return hmac.new(self._key, user_id.encode() + b"\x00" + body,
                        hashlib.sha256).digest()[:_TAG_BYTES]

    def encode(self, user_id: str, seq: int, shared: int = 0, since: int | None = None,
               shared_since: int | None = None) -> str:
        """A token for journal position ``seq`` and share-feed position ``shared``; with
        ``since`` below ``seq`` or ``shared_since`` below ``shared``, of a paged delta that
        started from those positions."""
        since = seq if since is None else min(since, seq)
        shared_since = shared if shared_since is None else min(shared_since, shared)
        if since < seq or shared_since < shared:
            body = _BODY_V4.pack(4, seq, shared, since, shared_since)
        else:
            body = _BODY.pack(_VERSION, seq, shared)
        raw = body + self._tag(user_id, body)
        return _PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def decode(self, user_id: str, token: str) -> int:
        """The journal position in ``token``; ValidationError unless this server made it
        for ``user_id``."""
        return self.decode_positions(user_id, token)[0]

    def decode_positions(self, user_id: str, token: str) -> tuple[int, int]:
        """(journal position, share-feed position) in ``token``; ValidationError unless
        this server made it for ``user_id``."""
        positions = self.decode_all(user_id, token)
        return positions.seq, positions.shared

    def decode_all(self, user_id: str, token: str) -> TokenPositions:
        """The positions in ``token``, with where its paged delta started (its positions
        themselves outside one); ValidationError unless this server made it for
        ``user_id``."""
        invalid = ValidationError("Invalid syncToken: sync again without one", field="syncToken")
        if not token.startswith(_PREFIX) or len(token) > _MAX_CHARS:
            raise invalid
        text = token[len(_PREFIX):]
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raise invalid from None
        body, tag = raw[:-_TAG_BYTES], raw[-_TAG_BYTES:]
        if len(body) not in (_BODY.size, _BODY_V1.size, _BODY_V3.size, _BODY_V4.size) \
                or not hmac.compare_digest(tag, self._tag(user_id, body)):
            raise invalid
        if body[0] == 1 and len(body) == _BODY_V1.size:
            seq = int(_BODY_V1.unpack(body)[1])
            return TokenPositions(seq, 0, seq, 0)
        if body[0] == 3 and len(body) == _BODY_V3.size:
            _, seq, shared, since = _BODY_V3.unpack(body)
            return TokenPositions(int(seq), int(shared), int(min(since, seq)), int(shared))
        if body[0] == 4 and len(body) == _BODY_V4.size:
            _, seq, shared, since, shared_since = _BODY_V4.unpack(body)
            return TokenPositions(int(seq), int(shared), int(min(since, seq)),
                                  int(min(shared_since, shared)))
        if body[0] != _VERSION or len(body) != _BODY.size:
            raise invalid
        _, seq, shared = _BODY.unpack(body)
        return TokenPositions(int(seq), int(shared), int(seq), int(shared))
