"""Opaque, prefixed server ids (``user_…``, ``file_…``): clients never build them."""

from __future__ import annotations

import secrets

__all__ = ["new_id"]


def new_id(prefix: str) -> str:
    """A fresh id such as ``file_3kTq9…``: the type prefix plus 128 random bits (url-safe)."""
    return f"{prefix}_{secrets.token_urlsafe(16)}"
