"""What an install sent as a device since removed, when it sends it again signed in anew.

A device removed is gone: the same install signing in again is a new device, with a
queue of its own. But the app still has the batch it sent (or had queued) before, and
resends it under the same operation ids — for the new device, new operations: a delete
that had run ran again (on a file brought back since), an upload the removal cancelled
waited again. Those ids are answered as the removed device left them instead (``done``,
``cancelled`` with ``DEVICE_REMOVED``, …), stored or pruned, and never run: the removal
stopped what that device had queued, and the user redoes, under new ids, what they still
want. The same id with another operation is ``409``, as for the device's own, and so
is cancelling (``DELETE /queue/{id}``) one that ran.
"""

from __future__ import annotations

from homesync.models import Principal
from homesync.store import devices, queue
from homesync.store.db import Conn, Row

__all__ = ["sent_before_removal", "sent_by_removed_device"]


async def sent_before_removal(conn: Conn, principal: Principal,
                              op_ids: list[str]) -> dict[str, Row]:
    """The operations of ``op_ids`` that the caller's install sent as a device removed
    since, and its own device never got (by op id; the last removed device's first), in
    the columns of ``queue.forgotten_many``."""
    removed = await devices.removed_ids_by_client_id(conn, principal.user_id,
                                                     principal.client_id)
    if not removed or not op_ids:
        return {}
    own = {r["op_id"] for r in await queue.get_many(conn, principal.device_id, op_ids)}
    wanted = [op_id for op_id in op_ids if op_id not in own]
    found: dict[str, Row] = {}
    for device_id in removed:
        if not wanted:
            break
        for row in [*await queue.get_many(conn, device_id, wanted),
                    *await queue.forgotten_many(conn, device_id, wanted)]:
            found.setdefault(row["op_id"], row)
        wanted = [op_id for op_id in wanted if op_id not in found]
    return found


async def sent_by_removed_device(conn: Conn, principal: Principal,
                                 op_id: str) -> tuple[Row, bool] | None:
    """The operation ``op_id`` the caller's install sent as a device removed since (the
    last removed device's first), and whether it was pruned; the caller checked that its
    own device has no such id."""
    for device_id in await devices.removed_ids_by_client_id(conn, principal.user_id,
                                                            principal.client_id):
        if (row := await queue.get(conn, device_id, op_id)) is not None:
            return row, False
        if pruned := await queue.forgotten_many(conn, device_id, [op_id]):
            return pruned[0], True
    return None
