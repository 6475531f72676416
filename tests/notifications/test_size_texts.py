"""Sizes in texts, over HTTP: they roll over to the next unit once rounding reaches 1024,
and a storage notification's figures agree with the level its title says."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from tests.conftest import MakeUser, SignIn
from tests.helpers import API, Device
from tests.uploads.flow import complete, file_entry, init, put_chunks, random_bytes, upload


async def storage_inbox(client: AsyncTestClient[Any], dev: Device) -> list[dict[str, Any]]:
    r = await client.get(f"{API}/notifications", headers=dev.auth, params={"category": "storage"})
    assert r.status_code == 200, r.text
    return list(reversed(r.json()["data"]["notifications"]))


async def test_a_storage_notification_says_the_level_its_sizes_round_under(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn,
) -> None:
    """8 000 of 10 000 bytes is "7.8 KiB of 9.8 KiB", which reads as 79.6 %, under the
    title's 80 %: the body says the percentage too."""
    await make_user(quota_bytes=10_000)
    phone = await sign_in()
    await upload(client, phone.auth, random_bytes(8_000), name="a")
    [note] = await storage_inbox(client, phone)
    assert (note["title"], note["body"]) == (
        "Storage 80% full", "You are using 7.8 KiB of your 9.8 KiB quota (80%).")


async def test_a_size_just_under_a_mebibyte_is_shown_in_mebibytes(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn,
) -> None:
    """1 048 575 bytes is 1023.999 KiB: "1.0 MiB", never "1024.0 KiB"."""
    await make_user(quota_bytes=1_048_576)
    phone = await sign_in()
    data = random_bytes(1_048_575)
    r = await init(client, phone.auth, file_entry(data), chunk_size=262_144)
    assert r.status_code == 200, r.text
    item = r.json()["data"]["files"][0]
    await put_chunks(client, item, data, phone.auth)
    r = await complete(client, phone.auth, item["uploadId"], data)
    assert r.status_code == 200, r.text
    [note] = await storage_inbox(client, phone)
    assert note["body"] == "You are using 1.0 MiB of your 1.0 MiB quota (99%)."
    # The 507 of an upload that does not fit names the same sizes the same way.
    r = await init(client, phone.auth, file_entry(data, name="b.jpg", local_id="local_2"))
    assert r.status_code == 507, r.text
    assert r.json()["error"]["message"] == (
        "Needs 1.0 MiB, but only 1 B of the 1.0 MiB quota is free")
