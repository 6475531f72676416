"""Every write of a signed-in device, whose token was good when the request came in and
whose device was removed while it waited for the database: 401, and nothing of it written.

The race: the request passes its token check and asks for the write lock (held by a CLI
command, say); the device is removed (``DELETE /devices/{id}``, ``homesync device
revoke``) before the request gets it. Here the removal runs when the request first asks
for it: the test client runs the app on a loop of its own and blocks the test's loop until
the answer, so a lock held from the test could not be let go while the request waits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tests.helpers import API, Device
from tests.sync.helpers import change, pull, push, store
from tests.sync.test_conflicts import modify_modify
from tests.sync.test_queue import add, op
from tests.uploads.flow import file_entry, init

Write = tuple[str, str, dict[str, Any] | None]  # method, path, JSON body
Setup = Callable[[Any, Any, Device, Device], Awaitable[Write]]

# What the writes below change, and the removal does not (it marks the phone removed, ends
# its sign-in, cancels its waiting queue operations and its open uploads, and tells the
# account's other devices). An upload's status, updated_at and finished_at are the
# removal's to change; what a progress report records (reported_at, expires_at) is not.
_UPLOADS = ("SELECT id, session_id, user_id, device_id, local_id, folder, name, size,"
            " checksum, received_chunks, received_bytes, reported_bytes, reported_at,"
            " checksum_failed, file_id, version_id, created_at, expires_at, owner_id, base_seq"
            " FROM uploads")
WATCHED = (
    "SELECT * FROM files", "SELECT * FROM file_versions", "SELECT * FROM journal",
    _UPLOADS, "SELECT * FROM upload_sessions", "SELECT * FROM shares",
    "SELECT * FROM conflicts", "SELECT * FROM notification_preferences",
    "SELECT id, settings, push_token FROM devices",
    "SELECT id FROM devices WHERE removed_at IS NOT NULL AND id != :phone",
    "SELECT id, read_at FROM notifications WHERE kind != 'device_removed'",
)


async def snapshot(services: Any, phone: Device) -> list[list[tuple[Any, ...]]]:
    return [[tuple(row) for row in await services.db.reader.execute_fetchall(
        sql, {"phone": phone.device_id})] for sql in WATCHED]


def removed_when_it_asks_for_the_writer(services: Any, device: Device,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The next write transaction (the request's) first waits for ``device``'s removal."""
    db, removed = services.db, []
    transaction = db.transaction

    @asynccontextmanager
    async def after_the_removal() -> AsyncIterator[Any]:
        if not removed:
            removed.append(device.device_id)  # the removal's own transaction goes through
            await services.devices.admin_revoke(device.device_id)
        async with transaction() as tx:
            yield tx

    monkeypatch.setattr(db, "transaction", after_the_removal)


# -- the writes, each with what it needs in place --------------------------------------


async def upload_init(client: Any, services: Any, phone: Device, laptop: Device) -> Write:
    return "POST", "/upload/init", {"files": [file_entry(b"new photo")]}


async def open_upload(client: Any, phone: Device) -> str:
    r = await init(client, phone.auth, file_entry(b"half sent"))
    assert r.status_code == 200, r.text
    return str(r.json()["data"]["files"][0]["uploadId"])


async def upload_progress(client: Any, services: Any, phone: Device, laptop: Device) -> Write:
    return "POST", "/upload/progress", {"uploadId": await open_upload(client, phone),
                                        "status": "paused"}


async def upload_cancel(client: Any, services: Any, phone: Device, laptop: Device) -> Write:
    return "DELETE", f"/upload/{await open_upload(client, phone)}", None


async def in_trash(client: Any, laptop: Device) -> str:
    file_id = await store(client, laptop, b"deleted", name="gone.txt")
    token = (await pull(client, laptop))["nextSyncToken"]
    await push(client, laptop, token, change("delete", fileId=file_id))
    return file_id


async def trash_restore(client: Any, services: Any, phone: Device, laptop: Device) -> Write:
    return "POST", f"/trash/{await in_trash(client, laptop)}/restore", None


async def trash_purge(client: Any, services: Any, phone: Device, laptop: Device) -> Write:
    return "DELETE", f"/trash/{await in_trash(client, laptop)}", None


async def version_restore(client: Any, services: Any, phone: Device, laptop: Device) -> Write:
    file_id = await store(client, laptop, b"first", name="v.txt")
    await store(client, laptop, b"second", name="v.txt", file_id=file_id)
    r = await client.get(f"{API}/files/{file_id}/versions", headers=laptop.auth)
    older = r.json()["data"]["versions"][-1]["id"]
    return "POST", f"/files/{file_id}/versions/{older}/restore", None


async def shared_with_bob(client: Any, laptop: Device) -> tuple[str, str]:
    file_id = await store(client, laptop, b"for bob", name="bob.txt")
    r = await client.post(f"{API}/shares", headers=laptop.auth, json={
        "fileId": file_id, "email": "bob@example.com", "permission": "read"})
    assert r.status_code == 201, r.text
    return file_id, str(r.json()["data"]["share"]["id"])


async def share_create(client: Any, services: Any, phone: Device, laptop: Device) -> Write:
    file_id = await store(client, laptop, b"for bob", name="bob.txt")
    return "POST", "/shares", {"fileId": file_id, "email": "bob@example.com",
                               "permission": "read"}


async def share_permission(client: Any, services: Any, phone: Device, laptop: Device) -> Write:
    file_id, _ = await shared_with_bob(client, laptop)
    return "POST", "/shares", {"fileId": file_id, "email": "bob@example.com",
                               "permission": "write"}


async def share_delete(client: Any, services: Any, phone: Device, laptop: Device) -> Write:
    _, share_id = await shared_with_bob(client, laptop)
    return "DELETE", f"/shares/{share_id}", None


async def queue_cancel(client: Any, services: Any, phone: Device, laptop: Device) -> Write:
    await add(client, phone, op("up", "upload", remotePath="/p/1.jpg"))  # waits for its upload
    return "DELETE", "/queue/up", None


async def device_settings(client: Any, services: Any, phone: Device, laptop: Device) -> Write:
    return "PUT", f"/devices/{phone.device_id}/settings", {"wifiOnly": False}


async def device_remove(client: Any, services: Any, phone: Device, laptop: Device) -> Write:
    return "DELETE", f"/devices/{laptop.device_id}", None


QUIET = {"quietHours": {"enabled": True, "start": "23:00", "end": "06:00", "timezone": "UTC"}}


async def push_register(client: Any, services: Any, phone: Device, laptop: Device) -> Write:
    return "POST", "/notifications/register", {
        "deviceId": phone.client_id, "pushToken": None, "platform": "android",
        "preferences": QUIET}


async def push_preferences(client: Any, services: Any, phone: Device, laptop: Device) -> Write:
    return "PUT", "/notifications/preferences", QUIET


async def notification_read(client: Any, services: Any, phone: Device, laptop: Device) -> Write:
    (row,) = await services.db.reader.execute_fetchall(  # a sign-in's alert, unread
        "SELECT id FROM notifications WHERE kind = 'new_device' LIMIT 1")
    return "POST", f"/notifications/{row[0]}/read", None


async def notifications_read(client: Any, services: Any, phone: Device, laptop: Device) -> Write:
    return "POST", "/notifications/read-all", None


async def conflict_resolve(client: Any, services: Any, phone: Device, laptop: Device) -> Write:
    _, conflict_id = await modify_modify(client, laptop, phone)
    return "POST", "/conflicts/resolve", {"conflicts": [
        {"conflictId": conflict_id, "resolution": "keep_local"}]}


WRITES: list[Setup] = [
    upload_init, upload_progress, upload_cancel, trash_restore, trash_purge, version_restore,
    share_create, share_permission, share_delete, queue_cancel, device_settings, device_remove,
    push_register, push_preferences, notification_read, notifications_read, conflict_resolve,
]


@pytest.mark.parametrize("setup", WRITES, ids=[w.__name__ for w in WRITES])
async def test_a_write_whose_device_was_removed_while_it_waited_changes_nothing(
        setup, client, services, make_user, sign_in, monkeypatch):
    await make_user()
    await make_user("bob@example.com", name="Bob")
    phone = await sign_in(client_id="phone")
    laptop = await sign_in(client_id="laptop")
    method, path, body = await setup(client, services, phone, laptop)
    before = await snapshot(services, phone)
    removed_when_it_asks_for_the_writer(services, phone, monkeypatch)
    r = await client.request(method, f"{API}{path}", json=body, headers=phone.auth)
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED", r.text
    assert await snapshot(services, phone) == before
