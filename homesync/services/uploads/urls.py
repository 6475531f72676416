"""Signed chunk URLs: a capability to PUT chunks of one upload, without the Bearer header.

An operating system's background uploader keeps sending chunks while the app sleeps and
its access token expires, so a chunk URL carries its own proof: ``?exp=<unix s>&sig=<mac>``
where ``sig`` is an HMAC over the upload id and ``exp`` with a key derived from the server
secret. It is useless for any other upload (the id is inside the MAC) and dies with the
upload (completed, cancelled, expired) and stops with its device's sign-in (removed, signed
out, password changed, refresh token stolen; it works again once the device signs in).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

__all__ = ["ChunkUrlSigner"]

_SIG_BYTES = 16  # 128-bit tags: forging one is out of reach, and URLs stay short


class ChunkUrlSigner:
    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"homesync chunk-url key v1", hashlib.sha256).digest()

    def sign(self, upload_id: str, exp_s: int) -> str:
        message = f"{upload_id}\n{exp_s}".encode("utf-8", "surrogatepass")
        mac = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:_SIG_BYTES]).rstrip(b"=").decode()

    def verify(self, upload_id: str, exp: str, sig: str) -> bool:
        """True when ``sig`` was issued by this server for ``upload_id`` and ``exp``.

        Whether the upload is still live is the caller's check (its expiry slides forward
        with activity, so a URL stays good while its upload does).
        """
        if not exp.isascii() or not exp.isdigit() or len(exp) > 12 or not sig or len(sig) > 64:
            return False
        # As bytes: compare_digest refuses non-ASCII str, and a URL may carry anything.
        return hmac.compare_digest(self.sign(upload_id, int(exp)).encode(),
                                   sig.encode("utf-8", "replace"))
