"""The caller's sign-in checked again inside a write transaction.

A request's token is checked when it comes in (``Sessions.principal``); a write that then
waits for the write lock may get it after the device was removed, signed out by a password
change, or its key retired. Checked again with the writer, nothing of the request's is
written on a sign-in that ended before it.
"""

from __future__ import annotations

from homesync.errors import Unauthorized
from homesync.models import Principal
from homesync.store import tokens
from homesync.store.db import Conn

__all__ = ["check_still_signed_in"]


async def check_still_signed_in(tx: Conn, principal: Principal | None) -> None:
    """401, as for the token itself, unless ``principal``'s sign-in, device and signing
    key are still alive in ``tx`` (call it first in the write transaction). ``None``: no
    signed-in caller (the CLI, a background round), nothing to check."""
    if principal is None:
        return
    if await tokens.active_principal(tx, principal.family_id, principal.device_id,
                                     principal.user_id, principal.kid) is None:
        raise Unauthorized("Session revoked, device removed or signing key retired")
