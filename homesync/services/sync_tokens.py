"""Sync tokens: a journal position, opaque to clients and bound to one user.

``sync_`` + base64url(version byte, 8-byte position, 12-byte HMAC-SHA256 tag). The tag
covers the user id and the position under a key derived from the server secret, so a
token that was edited, made up, or taken from another user's device is refused (400)
instead of answering with someone's data. A position is all a token needs to hold: the
journal is append-only and every entry's ``files`` row records its last position.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct

from homesync.errors import ValidationError

__all__ = ["SyncTokens"]

_PREFIX = "sync_"
_VERSION = 1
_TAG_BYTES = 12
_BODY = struct.Struct(">BQ")
_MAX_CHARS = 64


class SyncTokens:
    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"homesync sync-token key v1", hashlib.sha256).digest()

    def _tag(self, user_id: str, body: bytes) -> bytes:
        return hmac.new(self._key, user_id.encode() + b"\x00" + body,
                        hashlib.sha256).digest()[:_TAG_BYTES]

    def encode(self, user_id: str, seq: int) -> str:
        body = _BODY.pack(_VERSION, seq)
        raw = body + self._tag(user_id, body)
        return _PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def decode(self, user_id: str, token: str) -> int:
        """The position in ``token``; ValidationError unless this server made it for ``user_id``."""
        invalid = ValidationError("Invalid syncToken: sync again without one", field="syncToken")
        if not token.startswith(_PREFIX) or len(token) > _MAX_CHARS:
            raise invalid
        text = token[len(_PREFIX):]
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raise invalid from None
        if len(raw) != _BODY.size + _TAG_BYTES:
            raise invalid
        body, tag = raw[:_BODY.size], raw[_BODY.size:]
        if not hmac.compare_digest(tag, self._tag(user_id, body)):
            raise invalid
        version, seq = _BODY.unpack(body)
        if version != _VERSION:
            raise invalid
        return int(seq)
