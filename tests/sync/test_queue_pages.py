"""GET /queue a page at a time: limit, cursor, hasMore; the status filter before the page."""

from __future__ import annotations

from typing import Any

from homesync.cursors import encode_cursor
from tests.helpers import API
from tests.sync.plans import plan_of, reads_during
from tests.sync.test_queue import add, op
from tests.uploads.flow import file_entry, init


async def page(client, dev, **params) -> dict[str, Any]:
    r = await client.get(f"{API}/queue", params=params, headers=dev.auth)
    assert r.status_code == 200, r.text
    return r.json()["data"]


async def all_pages(client, dev, **params) -> list[list[str]]:
    """The ids of each page, following nextCursor to the end."""
    pages, cursor = [], None
    while True:
        data = await page(client, dev, **params, **({"cursor": cursor} if cursor else {}))
        pages.append([o["id"] for o in data["operations"]])
        assert data["hasMore"] == (data["nextCursor"] is not None)
        if not data["hasMore"]:
            return pages
        cursor = data["nextCursor"]


async def test_pages_follow_the_order_of_arrival(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    await add(client, phone, *[op(f"up{i}", "upload", remotePath=f"/p/{i}.jpg")
                               for i in range(3)])
    await add(client, phone, op("mk", "mkdir", remotePath="/p"),
              op("up3", "upload", remotePath="/p/3.jpg"))
    everything = await page(client, phone)  # no parameters: the whole list, as before
    ids = [o["id"] for o in everything["operations"]]
    assert ids == ["up0", "up1", "up2", "mk", "up3"]
    assert (everything["hasMore"], everything["nextCursor"]) == (False, None)
    assert await all_pages(client, phone, limit=2) == [["up0", "up1"], ["up2", "mk"], ["up3"]]
    assert await all_pages(client, phone, limit=5) == [ids]
    # A page that ends at the last operation says so: no empty page after it.
    assert await all_pages(client, phone, limit=1) == [[i] for i in ids]


async def test_status_filters_before_the_page(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    await add(client, phone, *[op(f"mk{i}", "mkdir", remotePath=f"/d{i}") for i in range(4)])
    await add(client, phone, op("wait1", "upload", remotePath="/p/1.jpg"),
              op("mk4", "mkdir", remotePath="/d4"),
              op("busy", "upload", remotePath="/p/busy.jpg"),
              op("wait2", "upload", remotePath="/p/2.jpg"))
    r = await init(client, phone.auth, file_entry(b"uploading", name="busy.jpg", folder="/P"))
    assert r.json()["data"]["files"][0]["status"] == "pending"
    # The waiting operations come after the first page of all operations, and still
    # fill the first page of those pending.
    assert await all_pages(client, phone, status="pending", limit=1) == [["wait1"], ["wait2"]]
    assert await all_pages(client, phone, status="processing", limit=1) == [["busy"]]
    assert await all_pages(client, phone, status="done", limit=3) == [
        ["mk0", "mk1", "mk2"], ["mk3", "mk4"]]
    assert await all_pages(client, phone, status="failed") == [[]]


async def test_bad_paging_parameters_are_400(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    await add(client, phone, op("up", "upload", remotePath="/p/1.jpg"))
    for params in ({"limit": 0}, {"limit": 10_001}, {"limit": "many"},
                   {"cursor": "not-a-cursor"}, {"cursor": "x" * 500}, {"status": "weird"},
                   # base64url of "q" + full-width digits: digits to str.isdigit(), not to SQL
                   {"cursor": encode_cursor("q\uff11\uff12")}, {"cursor": encode_cursor("q-1")}):
        r = await client.get(f"{API}/queue", params=params, headers=phone.auth)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["success"] is False
    data = await page(client, phone, limit=1)
    assert [o["id"] for o in data["operations"]] == ["up"] and not data["hasMore"]


async def test_more_than_ten_thousand_operations(client, make_user, sign_in):
    """Without parameters the answer is the first 10 000, as it was; the rest are on the
    next page, and a pending one among them is found by status on the first page."""
    await make_user()
    phone = await sign_in()
    for start in range(0, 10_000, 500):  # deletes of files that are not there: failed
        await add(client, phone, *[op(f"d{i}", "delete", fileId=f"file_gone{i}")
                                   for i in range(start, start + 500)])
    await add(client, phone, op("last", "upload", remotePath="/p/last.jpg"))
    first = await page(client, phone)
    assert len(first["operations"]) == 10_000 and first["hasMore"]
    assert {o["status"] for o in first["operations"]} == {"failed"}
    rest = await page(client, phone, cursor=first["nextCursor"])
    assert [o["id"] for o in rest["operations"]] == ["last"] and not rest["hasMore"]
    pending = await page(client, phone, status="pending")
    assert [o["id"] for o in pending["operations"]] == ["last"] and not pending["hasMore"]


async def test_processing_is_found_past_many_pending(client, make_user, sign_in):
    # Told apart from pending after reading: the server reads on until the page is full.
    await make_user()
    phone = await sign_in()
    for start in range(0, 2_500, 500):
        await add(client, phone, *[op(f"w{i}", "upload", remotePath=f"/p/{i}.jpg")
                                   for i in range(start, start + 500)])
    await add(client, phone, op("busy", "upload", remotePath="/p/busy.jpg"),
              op("w2500", "upload", remotePath="/p/2500.jpg"))
    await init(client, phone.auth, file_entry(b"uploading", name="busy.jpg", folder="/p"))
    assert await all_pages(client, phone, status="processing", limit=1) == [["busy"]]
    pages = await all_pages(client, phone, status="pending", limit=2_000)
    assert [len(p) for p in pages] == [2_000, 501] and pages[1][-2:] == ["w2499", "w2500"]


async def test_a_page_walks_the_devices_operations_in_order(client, services, make_user,
                                                            sign_in):
    """Each page reads the device's operations from an index in arrival order (with or
    without a status), from the cursor on; unfiltered, every page sorted all of the
    device's operations (7 ms a page of 100 at 50 000)."""
    await make_user()
    phone = await sign_in()
    await add(client, phone, *[op(f"mk{i}", "mkdir", remotePath=f"/d{i}") for i in range(3)])
    await add(client, phone, op("up", "upload", remotePath="/p/1.jpg"))
    async with reads_during(services) as reads:
        assert await all_pages(client, phone, limit=2) == [["mk0", "mk1"], ["mk2", "up"]]
        assert await all_pages(client, phone, status="pending", limit=2) == [["up"]]
    pages = [sql for sql in reads if "FROM queue_ops" in sql and "ORDER BY rowid LIMIT" in sql]
    assert len(pages) == 3, reads
    for sql in pages:
        plan = await plan_of(services, sql)
        assert "USING INDEX queue_ops_device" in plan and "TEMP B-TREE" not in plan, plan
