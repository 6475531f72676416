"""The recipient's inbox shows "Alice shared … with you" only while the share still gives
them the item: once it is revoked or left the notification is gone from
``GET /notifications`` (and its unread count, read marks), and while the item is in its
owner's trash it is not shown, until a restore brings the share and it back."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from tests.helpers import API, Device
from tests.shares.test_shares_api import World, share


async def _shares_inbox(client: AsyncTestClient[Any], who: Device) -> tuple[list[str], int]:
    """(the share ids of the ``shares`` notifications listed, their unread count)."""
    r = await client.get(f"{API}/notifications", headers=who.auth, params={"category": "shares"})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    return [n["data"]["shareId"] for n in data["notifications"]], data["unreadCount"]


async def _notification_of(client: AsyncTestClient[Any], who: Device, share_id: str) -> str:
    r = await client.get(f"{API}/notifications", headers=who.auth, params={"category": "shares"})
    return str(next(n["id"] for n in r.json()["data"]["notifications"]
                    if n["data"]["shareId"] == share_id))


async def test_a_revoked_or_left_share_leaves_the_inbox(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    photo = await share(client, w.alice, w.a_jpg["id"], "bob@example.com")
    folder = await share(client, w.alice, w.photos_id, "bob@example.com")
    assert await _shares_inbox(client, w.bob) == ([folder["id"], photo["id"]], 2)
    revoked = await _notification_of(client, w.bob, photo["id"])

    r = await client.delete(f"{API}/shares/{photo['id']}", headers=w.alice.auth)
    assert r.status_code == 200, r.text
    assert await _shares_inbox(client, w.bob) == ([folder["id"]], 1)
    r = await client.post(f"{API}/notifications/{revoked}/read", headers=w.bob.auth)
    assert r.status_code == 404, r.text
    everything = (await client.get(f"{API}/notifications", headers=w.bob.auth)).json()["data"]
    assert revoked not in [n["id"] for n in everything["notifications"]]
    r = await client.post(f"{API}/notifications/read-all", headers=w.bob.auth)
    assert r.json()["data"]["markedRead"] == everything["unreadCount"]

    # Left by the recipient: gone as well.
    r = await client.delete(f"{API}/shares/{folder['id']}", headers=w.bob.auth)
    assert r.status_code == 200, r.text
    assert await _shares_inbox(client, w.bob) == ([], 0)
    # Shared again, it is a new share with a new notification.
    again = await share(client, w.alice, w.a_jpg["id"], "bob@example.com")
    assert await _shares_inbox(client, w.bob) == ([again["id"]], 1)


async def test_while_the_item_is_in_the_trash_its_notification_is_not_shown(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    made = await share(client, w.alice, w.a_jpg["id"], "bob@example.com")
    r = await client.post(f"{API}/sync/files", headers=w.alice.auth, json={
        "localChanges": [{"action": "delete", "localId": "d", "fileId": w.a_jpg["id"]}]})
    assert r.json()["data"]["results"][0]["status"] == "applied", r.text
    assert await _shares_inbox(client, w.bob) == ([], 0)

    r = await client.post(f"{API}/trash/{w.a_jpg['id']}/restore", headers=w.alice.auth)
    assert r.status_code == 200, r.text
    assert await _shares_inbox(client, w.bob) == ([made["id"]], 1)
