"""A signed chunk URL writes into the account only while its device is signed in: after
a logout, a password change or a caught refresh-token theft, an operating system's
background uploader still holding the URL gets 401, and the upload resumes once the
device signs in again."""

from __future__ import annotations

from typing import Any

from tests.conftest import SignIn
from tests.helpers import API, Device
from tests.uploads.flow import complete, file_entry, init, path_of, random_bytes

DATA_SIZE = 9000  # three chunks of 4096


async def started(client: Any, dev: Device, data: bytes) -> dict[str, Any]:
    r = await init(client, dev.auth, file_entry(data))
    assert r.status_code == 200, r.text
    item: dict[str, Any] = r.json()["data"]["files"][0]
    return item


async def put_signed(client: Any, item: dict[str, Any], data: bytes, index: int) -> Any:
    """Chunk ``index`` PUT to its signed URL, without any Bearer header."""
    chunk = item["chunks"][index]
    return await client.put(path_of(chunk["uploadUrl"]),
                            content=data[chunk["start"]:chunk["end"] + 1])


def assert_refused(r: Any) -> None:
    assert r.status_code == 401, r.text
    assert r.json()["success"] is False and r.json()["error"]["code"] == "UNAUTHORIZED"


async def received(client: Any, dev: Device, upload_id: str) -> list[int]:
    r = await client.get(f"{API}/upload/{upload_id}", headers=dev.auth)
    assert r.status_code == 200, r.text
    chunks: list[int] = r.json()["data"]["completedChunks"]
    return chunks


async def resumes_after_signing_in_again(client: Any, sign_in: SignIn, dev: Device,
                                         item: dict[str, Any], data: bytes) -> None:
    """The same install signs in again: it is the same device, and its open upload goes on
    from where it was (chunk 0 only) to complete, over the same signed URLs."""
    again = await sign_in(client_id=dev.client_id)
    assert again.device_id == dev.device_id
    assert await received(client, again, item["uploadId"]) == [0]
    for index in (1, 2):
        assert (await put_signed(client, item, data, index)).status_code == 200
    done = await complete(client, again.auth, item["uploadId"], data)
    assert done.status_code == 200, done.text


async def test_a_logout_stops_the_devices_signed_urls_until_it_signs_in_again(
        client, make_user, sign_in):
    await make_user()
    phone = await sign_in(client_id="phone")
    data = random_bytes(DATA_SIZE)
    item = await started(client, phone, data)
    assert (await put_signed(client, item, data, 0)).status_code == 200

    r = await client.post(f"{API}/auth/logout", headers=phone.auth)
    assert r.status_code == 200, r.text
    assert_refused(await put_signed(client, item, data, 1))

    await resumes_after_signing_in_again(client, sign_in, phone, item, data)


async def test_a_password_change_stops_every_devices_signed_urls(
        client, services, make_user, sign_in):
    await make_user()
    phone = await sign_in(client_id="phone")
    tablet = await sign_in(client_id="tablet")
    data = random_bytes(DATA_SIZE)
    on_phone, on_tablet = await started(client, phone, data), await started(client, tablet, data)

    await services.accounts.set_password("alice@example.com", "a brand new passphrase")

    assert_refused(await put_signed(client, on_phone, data, 0))
    assert_refused(await put_signed(client, on_tablet, data, 0))
    # Nothing was written into the account.
    row = await services.db.fetchone(
        "SELECT count(*) FROM upload_chunks WHERE upload_id IN (?, ?)",
        (on_phone["uploadId"], on_tablet["uploadId"]))
    assert row[0] == 0


async def test_a_stolen_refresh_token_stops_the_devices_signed_urls(client, make_user, sign_in):
    await make_user()
    phone = await sign_in(client_id="phone")
    laptop = await sign_in(client_id="laptop")
    data = random_bytes(DATA_SIZE)
    on_phone, on_laptop = await started(client, phone, data), await started(client, laptop, data)

    # The phone's refresh token presented by another install: theft, the phone is signed out.
    r = await client.post(f"{API}/auth/refresh", json={
        "refreshToken": phone.refresh, "deviceId": "someone-elses-phone"})
    assert r.status_code == 401, r.text

    assert_refused(await put_signed(client, on_phone, data, 0))
    # The laptop's sign-in is untouched, and so are its uploads' URLs.
    assert (await put_signed(client, on_laptop, data, 0)).status_code == 200
