"""The sync horizon: history past sync.history_retention is compacted, and a device whose
position is older syncs from scratch (reset: true) or has its changes judged as conflicts."""

from __future__ import annotations

from typing import Any

from homesync import clock
from homesync.services.container import Services
from homesync.services.sync.horizon import HistoryCompactor
from tests.helpers import API, PASSWORD, Device, make_settings
from tests.shares.test_shares_api import share
from tests.sync.helpers import change, checksum, pull, push, store

DAY = 86400.0
START = float(int(clock.now()))  # whole seconds: times survive the wire unchanged


def at(days: float) -> None:
    clock.set_now(lambda: START + days * DAY)


async def purge(client: Any, dev: Device, file_id: str) -> None:
    await push(client, dev, None, change("delete", f"del-{file_id}", fileId=file_id))
    r = await client.delete(f"{API}/trash/{file_id}", headers=dev.auth)
    assert r.status_code in (200, 204), r.text


async def journal(services: Services, user_id: str) -> list[Any]:
    return await services.db.fetchall("SELECT seq, at FROM journal WHERE user_id = ?"
                                      " ORDER BY seq", (user_id,))


async def file_row(services: Services, file_id: str) -> Any:
    return await services.db.fetchone("SELECT id, purged_at FROM files WHERE id = ?",
                                      (file_id,))


def ids(entries: list[dict[str, Any]]) -> set[str]:
    return {e["id"] for e in entries}


async def test_an_old_token_gets_a_full_listing_after_compaction(client, services, make_user,
                                                                 sign_in):
    at(0)
    user_id = await make_user()
    phone = await sign_in()
    kept = await store(client, phone, b"kept", name="kept.txt")
    gone = await store(client, phone, b"gone", name="gone.txt")
    old_token = (await pull(client, phone))["nextSyncToken"]
    await purge(client, phone, gone)
    at(181)  # past the default 180 days
    report = await services.sync.retention.run_once()
    assert report.history.tombstones == 1 and report.history.journal > 0
    assert await file_row(services, gone) is None  # the purged file is forgotten
    rows = await journal(services, user_id)
    assert len(rows) == 1  # only the head: the user's latest position stays
    phone = await sign_in()  # a new sign-in: the old tokens expired meanwhile
    new = await store(client, phone, b"new", name="new.txt")
    data = await pull(client, phone, old_token)
    assert data["reset"] is True
    assert {kept, new} <= ids(data["changes"]["created"])
    assert gone not in ids(data["changes"]["created"] + data["changes"]["updated"])
    assert data["changes"]["deleted"] == []
    # The token of the full listing is a normal one again.
    again = await pull(client, phone, data["nextSyncToken"])
    assert again["reset"] is False and again["hasChanges"] is False
    assert (await journal(services, user_id))[-1]["seq"] > rows[0]["seq"]  # never reused


async def test_a_recent_token_still_gets_exact_deltas_with_deletions(client, services,
                                                                     make_user, sign_in):
    at(0)
    user_id = await make_user()
    phone = await sign_in()
    ancient = await store(client, phone, b"ancient", name="ancient.txt")
    await purge(client, phone, ancient)
    at(100)
    phone = await sign_in()
    doomed = await store(client, phone, b"doomed", name="doomed.txt")
    edited = await store(client, phone, b"v1", name="edited.txt")
    token = (await pull(client, phone))["nextSyncToken"]
    await purge(client, phone, doomed)
    await store(client, phone, b"v2", name="edited.txt", file_id=edited)
    at(200)  # the horizon is now day 20: the day-0 history goes, day 100 stays
    await services.sync.retention.run_once()
    assert await file_row(services, ancient) is None
    assert (await file_row(services, doomed))["purged_at"] is not None
    assert all(r["at"] >= (START + 20 * DAY) * 1000 for r in await journal(services, user_id))
    phone = await sign_in()
    data = await pull(client, phone, token)
    assert data["reset"] is False
    assert [e["id"] for e in data["changes"]["deleted"]] == [doomed]
    assert [e["id"] for e in data["changes"]["updated"]] == [edited]
    # lastSync after the horizon is exact as well; before it, a full listing.
    data = await pull(client, phone, lastSync=clock.rfc3339(int((START + 50 * DAY) * 1000)))
    assert data["reset"] is False and edited in ids(data["changes"]["created"])
    assert doomed not in ids(data["changes"]["deleted"])  # created after it: never seen
    data = await pull(client, phone, lastSync=clock.rfc3339(int((START + 10 * DAY) * 1000)))
    assert data["reset"] is True and data["changes"]["deleted"] == []
    assert edited in ids(data["changes"]["created"])


async def test_history_retention_0d_keeps_everything(tmp_path):
    settings = make_settings(tmp_path / "keep", sync={"history_retention": "0d"})
    svc = await Services.open(settings)
    try:
        at(0)
        user = await svc.accounts.create_user("k@example.com", PASSWORD, name="K")
        at(1000)
        report = await svc.sync.retention.run_once()
        assert report.history.journal == report.history.tombstones == 0
        row = await svc.db.fetchone("SELECT sync_horizon_seq FROM users WHERE id = ?",
                                    (user.id,))
        assert row is not None and row[0] == 0
    finally:
        await svc.close()


async def test_an_override_of_0_keeps_history_as_the_setting_does(client, services, make_user,
                                                                  sign_in):
    """``gc --history-retention 0s`` must not mean the opposite of ``history_retention = "0d"``."""
    at(0)
    user_id = await make_user()
    phone = await sign_in()
    for name in ("a.txt", "b.txt"):
        await store(client, phone, name.encode(), name=name)
    before = len(await journal(services, user_id))
    at(365)
    report = await services.sync.history.compact(clock.now_ms(), older_than_ms=0)
    assert report.kept and report.journal == 0
    assert len(await journal(services, user_id)) == before
    report = await services.sync.history.compact(clock.now_ms(), older_than_ms=1000)
    assert not report.kept and report.journal == before - 1


async def test_a_change_from_below_the_horizon_is_a_conflict_not_an_overwrite(
        client, services, make_user, sign_in):
    at(0)
    await make_user()
    phone = await sign_in()
    laptop = await sign_in(client_id="laptop")
    edited = await store(client, phone, b"phone's", name="edited.txt")
    untouched = await store(client, phone, b"same", name="untouched.txt")
    old_token = (await pull(client, phone))["nextSyncToken"]
    at(1)
    laptop = await sign_in(client_id="laptop")
    await store(client, laptop, b"laptop's edit", name="edited.txt", file_id=edited)
    at(190)
    laptop = await sign_in(client_id="laptop")
    await store(client, laptop, b"recent", name="recent.txt")  # the head moves on
    await services.sync.retention.run_once()  # the laptop's edit leaves the journal
    phone = await sign_in()
    upload = {"name": "edited.txt", "folder": "/docs", "size": 7, "lastModified":
              clock.rfc3339(clock.now_ms())}
    data = await push(client, phone, old_token,
                      change("upload", "u1", fileId=edited, checksum=checksum(b"phone 2"),
                             **upload),
                      change("upload", "u2", fileId=untouched, checksum=checksum(b"other 2"),
                             **{**upload, "name": "untouched.txt"}))
    results = data["results"]
    assert results[0]["status"] == "conflict"  # who changed it is gone: both kept
    assert results[1]["status"] == "upload_required"  # unchanged since the token
    # A delete queued offline before the horizon, without a token, is judged the same way.
    r = await client.post(f"{API}/queue/add", headers=phone.auth, json={"operations": [
        {"id": "q1", "type": "delete", "fileId": edited, "priority": "normal",
         "createdAt": clock.rfc3339(int((START + 0.5 * DAY) * 1000))}]})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["operations"][0]["status"] == "conflict"


async def test_a_shared_position_below_the_horizon_resets(client, services, make_user,
                                                          sign_in):
    at(0)
    await make_user()
    await make_user("bob@example.com", name="Bob")
    alice = await sign_in()
    bob = await sign_in("bob@example.com", client_id="bobs-phone")
    folder = await store(client, alice, b"x", name="x.txt", folder="/shared")
    row = await services.db.fetchone("SELECT id FROM files WHERE name = 'shared'")
    assert row is not None
    await share(client, alice, row["id"], "bob@example.com")
    old_token = (await pull(client, bob))["nextSyncToken"]
    await purge(client, alice, folder)  # bob's feed: x.txt is deleted
    at(1)
    alice = await sign_in()
    keep = await store(client, alice, b"y", name="y.txt", folder="/shared")
    at(190)
    await services.sync.retention.run_once()
    bob = await sign_in("bob@example.com", client_id="bobs-phone")
    data = await pull(client, bob, old_token)
    assert data["reset"] is True
    assert keep in ids(data["changes"]["created"]) and folder not in ids(data["changes"]["created"])


async def test_compaction_runs_in_batches_between_other_writes(client, services, make_user,
                                                               sign_in):
    at(0)
    user_id = await make_user()
    phone = await sign_in()
    made = await push(client, phone, None, *[change("mkdir", f"m{i}", folder=f"/many/d{i}")
                                             for i in range(250)])
    assert all(r["status"] == "applied" for r in made["results"])
    root = await services.db.fetchone("SELECT id FROM files WHERE name = 'many'")
    assert root is not None
    await purge(client, phone, root["id"])
    before = len(await journal(services, user_id))
    assert before > 500
    at(181)
    phone = await sign_in()
    compactor = HistoryCompactor(services.db, 180 * 86400 * 1000, batch=100)
    steps = 0
    wrote: list[int] = []
    report = None
    async for running in compactor.batches(clock.now_ms()):
        steps, report = steps + 1, running
        if steps == 3:  # the writer is free between steps: another change lands
            await push(client, phone, None, change("mkdir", "late", folder="/late"))
            wrote.append(len(await journal(services, user_id)))
    assert report is not None and steps > 5
    assert report.tombstones == 251 and report.journal == before - 1
    rows = await journal(services, user_id)
    assert wrote and len(rows) == 2  # the old head (the next run takes it) and the late one
    assert await services.db.fetchone("SELECT 1 FROM files WHERE purged_at IS NOT NULL") is None
    again = await compactor.compact(clock.now_ms() + 1000)
    assert again.journal == 1 and len(await journal(services, user_id)) == 1


async def test_a_removed_owners_shares_are_deleted_for_a_recent_token_after_compaction(
        client, services, make_user, sign_in):
    """The feed entries that tell a recipient's device it has a file stay while a later
    entry (the owner's removal) still needs them, though the file itself is gone."""
    at(0)
    await make_user()
    await make_user("bob@example.com", name="Bob")
    await make_user("carol@example.com", name="Carol")
    alice = await sign_in()
    carol = await sign_in("carol@example.com", client_id="carols-phone")
    old = await store(client, alice, b"x", name="x.txt", folder="/shared")
    row = await services.db.fetchone("SELECT id FROM files WHERE name = 'shared'")
    assert row is not None
    await share(client, alice, row["id"], "bob@example.com")
    at(150)  # Carol shares too: Bob's position moves past the coming horizon
    carol = await sign_in("carol@example.com", client_id="carols-phone")
    await store(client, carol, b"c", name="c.txt", folder="/hers")
    hers = await services.db.fetchone("SELECT id FROM files WHERE name = 'hers'")
    assert hers is not None
    await share(client, carol, hers["id"], "bob@example.com")
    bob = await sign_in("bob@example.com", client_id="bobs-phone")
    token = (await pull(client, bob))["nextSyncToken"]
    at(199)
    await services.accounts.remove_user("alice@example.com")
    at(200)  # the horizon is now day 20: Bob's day-0 feed entries of Alice's files go
    await services.sync.retention.run_once()
    bob = await sign_in("bob@example.com", client_id="bobs-phone")
    data = await pull(client, bob, token)
    assert data["reset"] is False
    assert ids(data["changes"]["deleted"]) == {row["id"], old}


async def test_a_removed_owners_shares_are_deleted_for_a_recent_last_sync_after_compaction(
        client, services, make_user, sign_in):
    """The same with ``lastSync``: its share-feed position (from the feed's times) is past
    the horizon, so the delta is exact and lists the deletions."""
    at(0)
    await make_user()
    await make_user("bob@example.com", name="Bob")
    alice = await sign_in()
    old = await store(client, alice, b"x", name="x.txt", folder="/shared")
    row = await services.db.fetchone("SELECT id FROM files WHERE name = 'shared'")
    assert row is not None
    await share(client, alice, row["id"], "bob@example.com")
    at(150)
    bob = await sign_in("bob@example.com", client_id="bobs-phone")
    synced = await pull(client, bob)
    assert ids(synced["changes"]["created"]) == {row["id"], old}
    at(199)
    await services.accounts.remove_user("alice@example.com")
    at(200)  # the horizon is now day 20: Bob's day-0 feed entries of Alice's files go
    await services.sync.retention.run_once()
    bob = await sign_in("bob@example.com", client_id="bobs-phone")
    data = await pull(client, bob, lastSync=synced["lastSyncAt"])
    assert data["reset"] is False and data["changes"]["created"] == []
    assert ids(data["changes"]["deleted"]) == {row["id"], old}


async def pages(client: Any, dev: Device, token: str | None, limit: int) -> list[dict[str, Any]]:
    """Every page of a paged delta from ``token`` (at most 10: it must come to an end)."""
    got: list[dict[str, Any]] = []
    while len(got) < 10:
        got.append(await pull(client, dev, token, limit=limit))
        token = got[-1]["nextSyncToken"]
        if not got[-1]["hasMore"]:
            break
    return got


def listed(got: list[dict[str, Any]]) -> set[str]:
    return set().union(*(ids(p["changes"]["created"] + p["changes"]["updated"]) for p in got))


async def test_a_full_listing_longer_than_a_page_ends_after_compaction(client, services,
                                                                      make_user, sign_in):
    """Its later pages continue from its oldest entries, below the horizon: each was
    answered as a token too old, with the first page again (reset: true), for ever."""
    at(0)
    await make_user()
    phone = await sign_in()
    made = {await store(client, phone, b"f%d" % i, name=f"f{i}.txt") for i in range(2)}
    old_token = (await pull(client, phone))["nextSyncToken"]
    made.add(await store(client, phone, b"f2", name="f2.txt"))
    at(181)
    await services.sync.retention.run_once()
    phone = await sign_in()
    for token in (None, old_token):  # a first sync, and a device back after the horizon
        got = await pages(client, phone, token, limit=2)
        assert not got[-1]["hasMore"] and len(got) == 2
        assert [p["reset"] for p in got] == [token is not None, False]
        assert made <= listed(got)


async def test_shared_items_longer_than_a_page_end_after_compaction(client, services,
                                                                   make_user, sign_in):
    """The same for the share-feed positions of what others share with the user."""
    at(0)
    await make_user()
    await make_user("bob@example.com", name="Bob")
    alice = await sign_in()
    made = {await store(client, alice, b"f%d" % i, name=f"f{i}.txt", folder="/shared")
            for i in range(4)}
    row = await services.db.fetchone("SELECT id FROM files WHERE name = 'shared'")
    assert row is not None
    await share(client, alice, row["id"], "bob@example.com")
    at(181)
    await services.sync.retention.run_once()
    bob = await sign_in("bob@example.com", client_id="bobs-phone")
    got = await pages(client, bob, None, limit=2)
    assert not got[-1]["hasMore"] and not any(p["reset"] for p in got)
    assert made | {row["id"]} <= listed(got)
