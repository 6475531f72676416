"""Removing a device (``DELETE /devices/{id}``, ``homesync device revoke``) cancels its
uploads still open: its chunk PUTs are refused from then on and no other device finds
them, so nothing could finish them, yet they held the quota until they expired (24 h)."""

from __future__ import annotations

import os
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from homesync.services.container import Services
from tests.conftest import MakeUser, SignIn
from tests.helpers import API, Device
from tests.uploads.flow import complete, file_entry, init, put_chunks


async def _started(client: AsyncTestClient[Any], dev: Device, data: bytes,
                   **entry: Any) -> dict[str, Any]:
    r = await init(client, dev.auth, file_entry(data, **entry))
    assert r.status_code == 200, r.text
    item: dict[str, Any] = r.json()["data"]["files"][0]
    return item


async def _has_room(client: AsyncTestClient[Any], dev: Device, size: int) -> bool:
    r = await init(client, dev.auth, file_entry(os.urandom(size), name=f"room{size}.jpg",
                                                local_id=f"room{size}"))
    assert r.status_code in (200, 507), r.text
    return r.status_code == 200


async def _status(client: AsyncTestClient[Any], dev: Device, upload_id: str) -> str:
    r = await client.get(f"{API}/upload/{upload_id}", headers=dev.auth)
    assert r.status_code == 200, r.text
    return str(r.json()["data"]["status"])


@pytest.mark.parametrize("how", ["api", "cli"])
async def test_removing_a_device_cancels_its_open_uploads_and_frees_the_quota(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    how: str,
) -> None:
    await make_user()
    await services.accounts.set_quota("alice@example.com", 12_000)
    phone = await sign_in(client_id="phone")
    laptop = await sign_in(client_id="laptop")
    data = os.urandom(9000)
    item = await _started(client, phone, data)
    await put_chunks(client, item, data, only=[0])
    assert not await _has_room(client, laptop, 5000)  # the phone's open upload holds 9000

    if how == "api":
        r = await client.delete(f"{API}/devices/{phone.device_id}", headers=laptop.auth)
        assert r.status_code == 200, r.text
    else:
        await services.devices.admin_revoke(phone.device_id)

    assert await _status(client, laptop, item["uploadId"]) == "cancelled"
    assert await _has_room(client, laptop, 5000)
    # Signed in again, the install is a new device: the old upload stays cancelled.
    again = await sign_in(client_id="phone")
    assert again.device_id != phone.device_id
    assert await _status(client, again, item["uploadId"]) == "cancelled"
    r = await complete(client, again.auth, item["uploadId"], data)
    assert r.status_code == 409, r.text
    assert "cancelled" in r.json()["error"]["message"]


async def test_the_other_devices_uploads_go_on(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn,
) -> None:
    await make_user()
    phone = await sign_in(client_id="phone")
    laptop = await sign_in(client_id="laptop")
    phones, laptops = os.urandom(5000), os.urandom(6000)
    on_phone = await _started(client, phone, phones, name="p.jpg", local_id="p")
    on_laptop = await _started(client, laptop, laptops, name="l.jpg", local_id="l")

    r = await client.delete(f"{API}/devices/{phone.device_id}", headers=laptop.auth)
    assert r.status_code == 200, r.text

    assert await _status(client, laptop, on_phone["uploadId"]) == "cancelled"
    await put_chunks(client, on_laptop, laptops)
    r = await complete(client, laptop.auth, on_laptop["uploadId"], laptops)
    assert r.status_code == 200, r.text
