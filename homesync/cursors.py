"""Opaque paging cursors (``nextCursor``): base64url, unpadded, of a page's position as text.

A position written out as it is (a lower-cased file name, say) may hold characters a
query string gives a meaning to — ``&``, ``#``, ``+``, ``%``, spaces: an app that puts the
cursor into a URL without encoding it would ask for another page. base64url has none.
"""

from __future__ import annotations

import base64
import binascii
import re

from homesync.errors import ValidationError

__all__ = ["decode_cursor", "encode_cursor", "not_a_cursor"]

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


def encode_cursor(position: str) -> str:
    """The cursor handed out for ``position``."""
    return base64.urlsafe_b64encode(position.encode()).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, *, max_chars: int) -> str:
    """The position ``cursor`` holds, else 400 VALIDATION_ERROR naming ``cursor``.

    Strict: the decoder would skip characters outside the alphabet, so that a cursor an
    app mangled could still name some position.
    """
    if len(cursor) > max_chars or not _BASE64URL.fullmatch(cursor):
        raise not_a_cursor()
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error):  # UnicodeDecodeError is a ValueError
        raise not_a_cursor() from None


def not_a_cursor() -> ValidationError:
    """The error for a cursor whose position makes no sense to the page it was sent to."""
    return ValidationError("cursor is not one this server handed out", field="cursor")
