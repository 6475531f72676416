"""The inbox over HTTP: GET /notifications (paging, filters), read marks, isolation."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from homesync.services.container import Services
from tests.conftest import MakeUser, SignIn
from tests.helpers import API, Device
from tests.notifications.conftest import Clock, uploaded


async def inbox(client: AsyncTestClient[Any], dev: Device, **params: Any) -> dict[str, Any]:
    r = await client.get(f"{API}/notifications", headers=dev.auth, params=params)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


async def test_security_events_land_in_the_inbox(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn, frozen: Clock,
) -> None:
    await make_user()
    phone = await sign_in()
    frozen.advance(60)
    tablet = await sign_in(client_id="tablet", model="Galaxy Tab")
    data = await inbox(client, phone)
    # Each sign-in of a new device is recorded, the phone's own first one included.
    assert data["unreadCount"] == 2 and data["hasMore"] is False and data["nextCursor"] is None
    item, first = data["notifications"]
    assert first["data"] == {"deviceId": phone.device_id}
    assert item == {
        "id": item["id"], "category": "security", "kind": "new_device",
        "title": "New device login detected", "body": item["body"],
        "data": {"deviceId": tablet.device_id}, "createdAt": "2024-06-03T10:01:00Z",
        "read": False, "readAt": None,
    }
    assert item["id"].startswith("notif_") and "Galaxy Tab" in item["body"]
    # The inbox is the user's: the new tablet sees it as well.
    assert (await inbox(client, tablet))["notifications"] == [item, first]


async def test_paging_newest_first_with_filters(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn, services: Services,
    frozen: Clock,
) -> None:
    await make_user()
    phone = await sign_in()
    ids = []
    for i in range(5):
        frozen.advance(1)
        ids.append(await uploaded(services, phone, f"IMG_{i}.jpg", ok=i != 3))
    frozen.advance(1)
    await sign_in(client_id="tablet")  # a security notification, newest
    page1 = await inbox(client, phone, limit=2)
    assert [n["kind"] for n in page1["notifications"]] == ["new_device", "upload_completed"]
    assert page1["hasMore"] is True and page1["unreadCount"] == 7
    seen = [n["id"] for n in page1["notifications"]]
    cursor = page1["nextCursor"]
    while cursor:
        page = await inbox(client, phone, limit=2, cursor=cursor)
        seen += [n["id"] for n in page["notifications"]]
        cursor = page["nextCursor"]
    assert seen[1:6] == ids[::-1] and len(set(seen)) == 7  # the phone's own sign-in is last

    uploads = await inbox(client, phone, category="uploads")
    assert [n["id"] for n in uploads["notifications"]] == ids[::-1]
    failed = [n for n in uploads["notifications"] if n["kind"] == "upload_failed"]
    assert failed[0]["title"] == "Upload failed" and "IMG_3.jpg" in failed[0]["body"]
    assert failed[0]["data"] == {"uploadId": "upload_IMG_3.jpg", "uploadSession": "session_1",
                                 "localId": "local_IMG_3.jpg"}


async def test_unread_count_follows_the_category_filter(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn, services: Services,
    frozen: Clock,
) -> None:
    """What an app showing one badge per category needs: each category's own count."""
    await make_user()
    phone = await sign_in()  # one security notification (the phone's own sign-in)
    ids = []
    for i in range(3):
        frozen.advance(1)
        ids.append(await uploaded(services, phone, f"IMG_{i}.jpg"))
    r = await client.post(f"{API}/notifications/{ids[0]}/read", headers=phone.auth)
    assert r.status_code == 200, r.text

    assert (await inbox(client, phone))["unreadCount"] == 3
    assert (await inbox(client, phone, category="uploads"))["unreadCount"] == 2
    assert (await inbox(client, phone, category="security"))["unreadCount"] == 1
    assert (await inbox(client, phone, category="shares"))["unreadCount"] == 0
    # Neither `unread` nor paging changes it: it is the category's count, not the page's.
    assert (await inbox(client, phone, category="uploads", unread=True))["unreadCount"] == 2
    page1 = await inbox(client, phone, category="uploads", limit=1)
    page2 = await inbox(client, phone, category="uploads", limit=1, cursor=page1["nextCursor"])
    assert page1["unreadCount"] == page2["unreadCount"] == 2


async def test_read_one_and_read_all(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn, services: Services,
    frozen: Clock,
) -> None:
    await make_user()
    phone = await sign_in()
    first = await uploaded(services, phone, "a.jpg")
    frozen.advance(5)
    await uploaded(services, phone, "b.jpg")
    r = await client.post(f"{API}/notifications/{first}/read", headers=phone.auth)
    assert r.status_code == 200, r.text
    item = r.json()["data"]["notification"]
    assert item["id"] == first and item["read"] is True
    assert item["readAt"] == "2024-06-03T10:00:05Z"
    frozen.advance(5)
    again = await client.post(f"{API}/notifications/{first}/read", headers=phone.auth)
    assert again.json()["data"]["notification"]["readAt"] == item["readAt"]  # first read kept

    unread = await inbox(client, phone, unread="true", category="uploads")
    assert [n["data"]["fileId"] for n in unread["notifications"]] == ["file_b.jpg"]
    assert unread["unreadCount"] == 1  # b.jpg: the sign-in is not an upload

    r = await client.post(f"{API}/notifications/read-all", headers=phone.auth)
    assert r.status_code == 200 and r.json()["data"] == {"markedRead": 2}
    assert (await inbox(client, phone, unread=True))["notifications"] == []
    assert len((await inbox(client, phone))["notifications"]) == 3


async def test_one_user_never_sees_anothers_notifications(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn, services: Services,
) -> None:
    await make_user()
    await make_user("bob@example.com", "Bob Builder")
    alice = await sign_in()
    bob = await sign_in("bob@example.com", client_id="bob-phone")
    secret = await uploaded(services, alice, "private.jpg")
    assert [n["data"] for n in (await inbox(client, bob))["notifications"]] == [
        {"deviceId": bob.device_id}]
    r = await client.post(f"{API}/notifications/{secret}/read", headers=bob.auth)
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    assert (await client.post(f"{API}/notifications/read-all", headers=bob.auth)).json()[
        "data"] == {"markedRead": 1}  # Bob's own sign-in only
    assert (await inbox(client, alice))["notifications"][0]["read"] is False
    missing = await client.post(f"{API}/notifications/notif_nope/read", headers=alice.auth)
    assert missing.status_code == 404


@pytest.mark.parametrize("params", [
    {"limit": 0}, {"limit": 201}, {"limit": "many"}, {"unread": "maybe"},
    {"category": "spam"}, {"cursor": "not-a-cursor"}, {"cursor": "bm9jb2xvbg"},
    # numbers too large for SQLite, and a negative one: once a 500
    {"cursor": "OTk5OTk5OTk5OTk5OTk5OTk5OTk5OjE"}, {"cursor": "MTotOTk5OTk5OTk5OTk5OTk5OTk5OTk"},
])
async def test_bad_queries_are_400(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn,
    params: dict[str, Any],
) -> None:
    await make_user()
    phone = await sign_in()
    r = await client.get(f"{API}/notifications", headers=phone.auth, params=params)
    assert r.status_code == 400, r.text
    assert r.json()["success"] is False
    assert r.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_inbox_needs_auth(client: AsyncTestClient[Any]) -> None:
    for method, path in (("GET", "/notifications"), ("POST", "/notifications/read-all"),
                         ("POST", "/notifications/notif_x/read")):
        r = await client.request(method, f"{API}{path}")
        assert r.status_code == 401, (method, path)


async def test_entries_older_than_the_retention_are_deleted(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn, services: Services,
    frozen: Clock,
) -> None:
    await make_user()
    phone = await sign_in()  # its sign-in notification is the oldest
    await services.outbox.drain()
    old = await uploaded(services, phone, "old.jpg")
    frozen.advance(2 * 86400)
    kept = await uploaded(services, phone, "kept.jpg")
    frozen.advance(89 * 86400)  # old.jpg is 91 days old, kept.jpg 89 (inbox_retention 90d)
    await services.outbox.drain()
    phone = await sign_in()  # the first access token has long expired
    page = await inbox(client, phone)
    assert [n["id"] for n in page["notifications"]] == [kept] and page["unreadCount"] == 1
    r = await client.post(f"{API}/notifications/{old}/read", headers=phone.auth)
    assert r.status_code == 404
