"""Which ``storage`` notifications quota crossings make, over HTTP (uploads, and the
admin's ``homesync user quota`` through its service)."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from homesync.services.container import Services
from tests.conftest import MakeUser, SignIn
from tests.helpers import API, Device
from tests.uploads.flow import random_bytes, upload


async def storage_inbox(client: AsyncTestClient[Any], dev: Device) -> list[dict[str, Any]]:
    """The storage notifications, oldest first."""
    r = await client.get(f"{API}/notifications", headers=dev.auth, params={"category": "storage"})
    assert r.status_code == 200, r.text
    return list(reversed(r.json()["data"]["notifications"]))


async def test_a_raised_quota_filled_again_the_same_day_is_announced(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
) -> None:
    """"Storage full" is typically followed by the admin raising the quota, and the phone's
    uploads refused meanwhile then fill the new one at once: that is news about another
    quota, not the level announced an hour ago, and uploads fail again without it."""
    uid = await make_user(quota_bytes=10_000)
    phone = await sign_in()
    await upload(client, phone.auth, random_bytes(10_000), name="a")
    await services.accounts.set_quota(uid, 12_500)  # 80 %: already past under the old one
    await upload(client, phone.auth, random_bytes(2_500), name="b")  # 100 % of the new one
    shown = [(n["title"], n["data"]["quotaBytes"]) for n in await storage_inbox(client, phone)]
    assert shown == [("Storage full", "10000"), ("Storage full", "12500")]


async def test_the_same_quota_crossed_again_within_a_day_is_not_announced_again(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
) -> None:
    uid = await make_user(quota_bytes=10_000)
    phone = await sign_in()
    await upload(client, phone.auth, random_bytes(8_500), name="a")  # 85 %
    await services.accounts.set_quota(uid, 20_000)  # 42 %
    await services.accounts.set_quota(uid, 10_000)  # 85 % again, the same quota: said already
    await upload(client, phone.auth, random_bytes(300), name="b")  # 88 %
    assert [n["title"] for n in await storage_inbox(client, phone)] == ["Storage 80% full"]
