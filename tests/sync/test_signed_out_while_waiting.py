"""A write whose token was good when the request came in, and whose sign-in ended while
it waited for the database (device removed, password changed): 401, nothing written."""

from __future__ import annotations

from typing import Any

from tests.conftest import MakeUser, SignIn
from tests.helpers import API, Device
from tests.sync.helpers import change, pull, push, store
from tests.uploads.flow import complete, file_entry, init, put_chunks


async def phone_and_laptop(make_user: MakeUser, sign_in: SignIn) -> tuple[Device, Device]:
    await make_user()
    return await sign_in(client_id="phone"), await sign_in(client_id="laptop")


async def test_a_delete_from_a_device_removed_while_it_waits_changes_nothing(
        client, services, make_user, sign_in, monkeypatch):
    # A stolen phone sends a delete; the owner removes the phone (DELETE /devices/{id})
    # after its token was checked and before its batch gets the write lock.
    phone, laptop = await phone_and_laptop(make_user, sign_in)
    file_id = await store(client, laptop, b"keep me", name="keep.txt")
    token = (await pull(client, phone))["nextSyncToken"]
    local = services.sync.local
    shared_seq = local._changes.shared_seq

    async def removed_meanwhile(*args: Any) -> int | None:
        await services.devices.admin_revoke(phone.device_id)  # as DELETE /devices/{id}
        return await shared_seq(*args)

    monkeypatch.setattr(local._changes, "shared_seq", removed_meanwhile)
    body = await push(client, phone, token, change("delete", fileId=file_id), expect=401)
    assert body["error"]["code"] == "UNAUTHORIZED"
    r = await client.get(f"{API}/files/{file_id}", headers=laptop.auth)
    assert r.status_code == 200 and r.json()["data"].get("deletedAt") is None, r.text


async def test_an_upload_completed_by_a_device_signed_out_while_it_waits_makes_no_file(
        client, services, make_user, sign_in, monkeypatch):
    # The password is changed (every device signed out) while the phone's complete is
    # hashing its content, before it gets the write lock.
    phone, laptop = await phone_and_laptop(make_user, sign_in)
    data = b"from a phone signed out meanwhile"
    r = await init(client, phone.auth, file_entry(data, name="late.jpg"))
    assert r.status_code == 200, r.text
    item = r.json()["data"]["files"][0]
    await put_chunks(client, item, data)
    finish = services.uploads.digests.finish

    async def signed_out_meanwhile(*args: Any) -> Any:
        await services.accounts.set_password("alice@example.com", "a whole new password")
        return await finish(*args)

    monkeypatch.setattr(services.uploads.digests, "finish", signed_out_meanwhile)
    r = await complete(client, phone.auth, item["uploadId"], data)
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED", r.text
    rows = await services.db.reader.execute_fetchall(
        "SELECT id FROM files WHERE name = ?", ("late.jpg",))
    assert list(rows) == []
