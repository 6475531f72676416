"""The offline queue: idempotent op ids, priority order, conflicts, uploads, cancelling."""

from __future__ import annotations

import errno
import time
from urllib.parse import quote

from homesync import clock
from tests.helpers import API, PASSWORD, device_from, device_info
from tests.sync.helpers import change, pull, push, store
from tests.uploads.flow import complete, file_entry, init, put_chunks


def op(op_id: str, type_: str, priority: str = "normal",
       created_at: str = "2024-01-20T15:00:00Z", **fields):
    return {"id": op_id, "type": type_, "priority": priority, "createdAt": created_at, **fields}


async def add(client, dev, *ops, token=None, expect=200):
    body = {"operations": list(ops)}
    if token:
        body["syncToken"] = token
    r = await client.post(f"{API}/queue/add", json=body, headers=dev.auth)
    assert r.status_code == expect, r.text
    return r.json()["data"]["operations"] if expect == 200 else r.json()


async def sign_in_again(client, dev):
    """Sign ``dev``'s install in again: (its ``syncData.pendingUploads``, the device with
    its new tokens; signing in again ends the previous sign-in)."""
    r = await client.post(f"{API}/auth/register", json={
        "email": dev.email, "password": PASSWORD, "deviceInfo": device_info(dev.client_id)})
    assert r.status_code in (200, 201), r.text
    return r.json()["syncData"]["pendingUploads"], device_from(r.json(), dev.email, dev.client_id)


async def queued(client, dev, **params):
    r = await client.get(f"{API}/queue", params=params, headers=dev.auth)
    assert r.status_code == 200, r.text
    return {o["id"]: o for o in r.json()["data"]["operations"]}


async def test_server_side_operations_apply_once(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    file_id = await store(client, phone, b"bye", name="old.txt")
    ops = [op("op_1", "mkdir", remotePath="/trips/2024"),
           op("op_2", "move", fileId=file_id, remotePath="/trips/2024/old.txt"),
           op("op_3", "rename", fileId=file_id, remotePath="/trips/2024/new.txt")]
    first = await add(client, phone, *ops)
    assert [o["status"] for o in first] == ["done", "done", "done"]
    assert first[1]["resultFileId"] == file_id
    again = await add(client, phone, *ops)  # the same ids: not a second operation
    assert [o["status"] for o in again] == ["done", "done", "done"]
    assert [o["updatedAt"] for o in again] == [o["updatedAt"] for o in first]
    r = await client.get(f"{API}/files/{file_id}", headers=phone.auth)
    assert (r.json()["data"]["folder"], r.json()["data"]["name"]) == ("/trips/2024", "new.txt")
    listed = await queued(client, phone)
    assert list(listed) == ["op_1", "op_2", "op_3"]


async def test_priority_then_created_at_order(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    file_id = await store(client, phone, b"x", name="x.txt", folder="/a")
    # Applied high first, then normal by createdAt: rename to y, then z, then move to /b.
    await add(client, phone,
              op("late", "rename", "normal", "2024-01-20T15:05:00Z", fileId=file_id,
                 remotePath="/a/z.txt"),
              op("low", "move", "low", "2024-01-20T14:00:00Z", fileId=file_id,
                 remotePath="/b/z.txt"),
              op("early", "rename", "normal", "2024-01-20T15:01:00Z", fileId=file_id,
                 remotePath="/a/y.txt"),
              op("urgent", "mkdir", "high", "2024-01-20T16:00:00Z", remotePath="/b"))
    r = await client.get(f"{API}/files/{file_id}", headers=phone.auth)
    assert (r.json()["data"]["folder"], r.json()["data"]["name"]) == ("/b", "z.txt")
    journal = await pull(client, phone)  # all applied
    assert journal["hasChanges"]


async def test_queued_rename_keeps_a_move_made_elsewhere(client, make_user, sign_in):
    # A rename changes the name: the folder in its remotePath is where the phone last saw
    # the file, not a move, so the laptop's move meanwhile stays.
    await make_user()
    laptop = await sign_in(client_id="laptop")
    phone = await sign_in(client_id="phone")
    file_id = await store(client, laptop, b"scan", name="a.pdf", folder="/inbox")
    offline_since = (await pull(client, phone))["nextSyncToken"]
    token = (await pull(client, laptop))["nextSyncToken"]
    await push(client, laptop, token, change("move", "m", fileId=file_id, folder="/archive"))
    for body_token in (offline_since, None):  # judged by the token, or by createdAt
        name = "b.pdf" if body_token else "c.pdf"
        [result] = await add(client, phone, op(f"ren-{name}", "rename", fileId=file_id,
                                               remotePath=f"/inbox/{name}"), token=body_token)
        assert (result["status"], result["resultFileId"]) == ("done", file_id)
        r = await client.get(f"{API}/files/{file_id}", headers=phone.auth)
        assert (r.json()["data"]["folder"], r.json()["data"]["name"]) == ("/archive", name)


async def test_queued_moves_change_what_the_phone_changed(client, make_user, sign_in):
    # remotePath is the whole new path, made from the one the phone saw: a move takes the
    # folder, and the name only where the phone changed it too; a rename likewise.
    await make_user()
    laptop = await sign_in(client_id="laptop")
    phone = await sign_in(client_id="phone")
    ids = {n: await store(client, laptop, n.encode(), name=f"{n}.jpg", folder="/camera")
           for n in ("a", "b", "c")}
    offline_since = (await pull(client, phone))["nextSyncToken"]
    token = (await pull(client, laptop))["nextSyncToken"]
    await push(client, laptop, token, *(change("rename", n, fileId=ids[n], name=f"{n}-2.jpg")
                                        for n in ("a", "b")),
               change("move", "c", fileId=ids["c"], folder="/sorted"))
    answers = await add(
        client, phone,
        op("mv-a", "move", fileId=ids["a"], remotePath="/album/a.jpg"),  # the laptop's name
        op("mv-b", "move", fileId=ids["b"], remotePath="/album/b-phone.jpg"),  # renamed too
        op("rn-c", "rename", fileId=ids["c"], remotePath="/trips/c.jpg"),  # moved too
        token=offline_since)
    assert [o["status"] for o in answers] == ["done", "done", "done"]
    where = {}
    for n, file_id in ids.items():
        r = await client.get(f"{API}/files/{file_id}", headers=phone.auth)
        where[n] = f"{r.json()['data']['folder']}/{r.json()['data']['name']}"
    assert where == {"a": "/album/a-2.jpg", "b": "/album/b-phone.jpg", "c": "/trips/c.jpg"}


async def test_a_queued_move_or_rename_undone_later_in_the_batch_is_undone(client, make_user,
                                                                         sign_in):
    # The phone renamed a.jpg to b.jpg and back, and moved c.jpg to /album and back: each
    # later operation is judged against where the phone's own earlier one put the entry
    # (it knows), not where it was at the token; both were "done" and left as b / in /album.
    await make_user()
    laptop = await sign_in(client_id="laptop")
    phone = await sign_in(client_id="phone")
    ids = {n: await store(client, laptop, n.encode(), name=f"{n}.jpg", folder="/camera")
           for n in ("a", "c")}
    offline_since = (await pull(client, phone))["nextSyncToken"]
    token = (await pull(client, laptop))["nextSyncToken"]
    # Meanwhile the laptop moved a and renamed c: the phone's operations keep that.
    await push(client, laptop, token, change("move", "a", fileId=ids["a"], folder="/sorted"),
               change("rename", "c", fileId=ids["c"], name="c-2.jpg"))
    answers = await add(
        client, phone,
        op("rn-1", "rename", created_at="2024-01-20T15:00:00Z", fileId=ids["a"],
           remotePath="/camera/b.jpg"),
        op("rn-2", "rename", created_at="2024-01-20T15:01:00Z", fileId=ids["a"],
           remotePath="/camera/a.jpg"),
        op("mv-1", "move", created_at="2024-01-20T15:02:00Z", fileId=ids["c"],
           remotePath="/album/c.jpg"),
        op("mv-2", "move", created_at="2024-01-20T15:03:00Z", fileId=ids["c"],
           remotePath="/camera/c.jpg"),
        token=offline_since)
    assert [o["status"] for o in answers] == ["done"] * 4
    where = {}
    for n, file_id in ids.items():
        r = await client.get(f"{API}/files/{file_id}", headers=phone.auth)
        where[n] = f"{r.json()['data']['folder']}/{r.json()['data']['name']}"
    assert where == {"a": "/sorted/a.jpg", "c": "/camera/c-2.jpg"}


async def test_a_queued_move_applied_first_was_not_seen_before(client, make_user, sign_in):
    # The phone moved a.jpg to /album, then renamed it there to b.jpg, at high priority:
    # applied first (in the same request, or sent first in one of its own), the rename is
    # not what the phone had seen when it queued the move, so the move keeps the new name
    # (it moved the folder only).
    await make_user()
    phone = await sign_in()
    for n in range(2):
        file_id = await store(client, phone, b"a%d" % n, name="a.jpg", folder=f"/camera{n}")
        offline_since = (await pull(client, phone))["nextSyncToken"]
        ops = [op(f"mv{n}", "move", "normal", "2024-01-20T15:00:00Z", fileId=file_id,
                  remotePath=f"/album{n}/a.jpg"),
               op(f"rn{n}", "rename", "high", "2024-01-20T15:01:00Z", fileId=file_id,
                  remotePath=f"/album{n}/b.jpg")]
        if n == 0:
            answers = await add(client, phone, *ops, token=offline_since)
        else:  # the rename in a request of its own, first
            answers = await add(client, phone, ops[1], token=offline_since)
            answers += await add(client, phone, ops[0], token=offline_since)
        assert [o["status"] for o in answers] == ["done", "done"]
        r = await client.get(f"{API}/files/{file_id}", headers=phone.auth)
        assert (r.json()["data"]["folder"], r.json()["data"]["name"]) == (f"/album{n}",
                                                                          "b.jpg")


async def test_queued_delete_of_a_file_edited_elsewhere_is_a_conflict(client, make_user,
                                                                      sign_in):
    await make_user()
    laptop = await sign_in(client_id="laptop")
    phone = await sign_in(client_id="phone")
    file_id = await store(client, laptop, b"v1", name="doc.txt")
    offline_since = (await pull(client, phone))["nextSyncToken"]
    await store(client, laptop, b"v2", name="doc.txt", file_id=file_id)
    [result] = await add(client, phone, op("del", "delete", fileId=file_id),
                         token=offline_since)
    assert result["status"] == "conflict" and result["conflictId"].startswith("conflict_")
    r = await client.get(f"{API}/files/{file_id}", headers=phone.auth)
    assert r.status_code == 200
    # Without a token, the op's createdAt says what the phone had seen: long ago here.
    [result] = await add(client, phone, op("del2", "delete", fileId=file_id,
                                           createdAt="2020-01-01T00:00:00Z"))
    assert result["status"] == "conflict"


async def test_each_operation_of_a_batch_is_judged_by_its_own_created_at(client, make_user,
                                                                        sign_in):
    # Without a token, every operation is judged by what the server held at its
    # createdAt, however many of them one batch brings: the journal since the earliest is
    # read once for all (not once each, under the write lock), still one answer each.
    await make_user()
    laptop = await sign_in(client_id="laptop")
    phone = await sign_in(client_id="phone")
    start = time.time()
    at = lambda seconds: start + seconds  # noqa: E731
    clock.set_now(lambda: at(0))
    ids = {n: await store(client, laptop, f"{n} v1".encode(), name=f"{n}.txt") for n in "abcd"}
    for second, name in ((60, "a"), (120, "b"), (30, "c")):  # c: the clock stepped back
        clock.set_now(lambda second=second: at(second))
        await store(client, laptop, f"{name} v2".encode(), name=f"{name}.txt",
                    file_id=ids[name])
    clock.set_now(lambda: at(180))
    when = {"a": 10, "b": 90, "c": 20, "d": 150}  # c's edit is stamped 30, after its 20
    answers = await add(client, phone, *(
        op(f"del-{n}", "delete", created_at=clock.rfc3339(int(at(m) * 1000)), fileId=ids[n])
        for n, m in when.items()), op("del-c-again", "delete", fileId=ids["c"],
                                      created_at=clock.rfc3339(int(at(130) * 1000))))
    # a, b and c were edited after the phone's createdAt: kept. Queued at 130, after every
    # change was stamped, the second delete of c had seen them all.
    assert [o["status"] for o in answers] == ["conflict", "conflict", "conflict", "done",
                                             "done"]


async def test_failed_operations_say_why(client, make_user, sign_in):
    await make_user()
    phone = await sign_in(client_id="phone")
    laptop = await sign_in(client_id="laptop")
    [missing, bad] = await add(client, phone, op("m", "delete", fileId="file_gone"),
                               op("b", "mkdir", remotePath="/x"))
    assert missing["status"] == "failed" and missing["error"]["code"] == "NOT_FOUND"
    assert bad["status"] == "done"
    # A failed operation made no file: resultFileId is null, not the fileId sent.
    file_id = await store(client, laptop, b"x", name="x.txt")
    token = (await pull(client, laptop))["nextSyncToken"]
    await push(client, laptop, token, change("delete", "d", fileId=file_id))
    [gone] = await add(client, phone, op("r", "rename", fileId=file_id,
                                         remotePath="/docs/y.txt"))
    assert gone["status"] == "failed" and gone["error"]["code"] == "DELETED_ON_SERVER"
    listed = await queued(client, phone)
    assert [(listed[i]["resultFileId"], listed[i]["fileId"]) for i in ("m", "r")] == [
        (None, "file_gone"), (None, file_id)]
    assert missing["resultFileId"] is None and gone["resultFileId"] is None


async def test_upload_operation_waits_for_its_upload(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    data = b"IMG_001 bytes"
    [queued_op] = await add(client, phone, op("up", "upload", localPath="/storage/IMG_001.jpg",
                                              remotePath="/photos/IMG_001.jpg"))
    assert queued_op["status"] == "pending"
    r = await init(client, phone.auth, file_entry(data, name="IMG_001.jpg", folder="/photos"))
    item = r.json()["data"]["files"][0]
    assert (await queued(client, phone))["up"]["status"] == "processing"
    await put_chunks(client, item, data)
    r = await complete(client, phone.auth, item["uploadId"], data)
    file_id = r.json()["data"]["fileId"]
    listed = await queued(client, phone)
    assert listed["up"]["status"] == "done" and listed["up"]["resultFileId"] == file_id
    # The path spelt in another case is the same place, for the upload and for the queue.
    await add(client, phone, op("up2", "upload", remotePath="/PHOTOS/IMG_002.jpg"))
    r = await init(client, phone.auth, file_entry(b"two", name="IMG_002.jpg", folder="/Photos"))
    item = r.json()["data"]["files"][0]
    await put_chunks(client, item, b"two")
    r = await complete(client, phone.auth, item["uploadId"], b"two")
    assert r.json()["data"]["file"]["folder"] == "/photos"
    assert (await queued(client, phone))["up2"]["status"] == "done"


async def test_pending_uploads_at_register(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    await add(client, phone, op("u1", "upload", remotePath="/photos/1.jpg"),
              op("u2", "upload", remotePath="/photos/2.jpg"))
    data = b"three"
    await init(client, phone.auth, file_entry(data, name="3.jpg", folder="/photos",
                                              local_id="three"))
    pending, phone = await sign_in_again(client, phone)
    assert pending == 3
    await store(client, phone, b"one", name="1.jpg", folder="/photos")
    assert (await sign_in_again(client, phone))[0] == 2


async def test_cancel(client, make_user, sign_in):
    await make_user()
    phone = await sign_in(client_id="phone")
    tablet = await sign_in(client_id="tablet")
    await add(client, phone, op("up", "upload", remotePath="/p/1.jpg"),
              op("mk", "mkdir", remotePath="/p"))
    r = await client.delete(f"{API}/queue/up", headers=tablet.auth)
    assert r.status_code == 404  # another device's operation
    r = await client.delete(f"{API}/queue/up", headers=phone.auth)
    assert r.status_code == 200 and r.json()["data"]["operation"]["status"] == "cancelled"
    r = await client.delete(f"{API}/queue/up", headers=phone.auth)
    assert r.status_code == 200  # again: harmless
    r = await client.delete(f"{API}/queue/mk", headers=phone.auth)
    assert r.status_code == 409  # already done
    r = await client.delete(f"{API}/queue/nothing", headers=phone.auth)
    assert r.status_code == 404
    assert [o["id"] for o in (await queued(client, phone, status="cancelled")).values()] == ["up"]
    # A cancelled upload operation is not completed by a later upload.
    await store(client, phone, b"late", name="1.jpg", folder="/p")
    assert (await queued(client, phone))["up"]["status"] == "cancelled"


async def test_an_id_with_a_slash_can_be_cancelled(client, make_user, sign_in):
    # The id is the app's own ("camera/IMG_1.jpg", say): DELETE must reach it, escaped or not.
    await make_user()
    phone = await sign_in()
    await add(client, phone, op("camera/IMG_1.jpg", "upload", remotePath="/p/1.jpg"),
              op("camera/IMG_2.jpg", "upload", remotePath="/p/2.jpg"))
    for path in ("camera%2FIMG_1.jpg", "camera/IMG_2.jpg"):
        r = await client.delete(f"{API}/queue/{path}", headers=phone.auth)
        assert r.status_code == 200, (path, r.text)
        assert r.json()["data"]["operation"]["status"] == "cancelled"
    assert set(await queued(client, phone, status="cancelled")) == {
        "camera/IMG_1.jpg", "camera/IMG_2.jpg"}
    r = await client.delete(f"{API}/queue/camera", headers=phone.auth)
    assert r.status_code == 404
    # A local path as the id (a leading "/"), a trailing "/", "//", "%": each its own id
    # (the router's path value collapsed "//" and dropped the outer "/": another id).
    odd = ["/storage/DCIM/IMG_3.jpg", "camera/", "a//b", "50%25", "%41"]
    await add(client, phone, *(op(i, "upload", remotePath=f"/p/{n}.jpg")
                               for n, i in enumerate(odd, start=3)))
    for op_id in odd:
        for path in (quote(op_id, safe=""), quote(op_id, safe="/")):
            r = await client.delete(f"{API}/queue/{path}", headers=phone.auth)
            assert r.status_code == 200, (op_id, path, r.text)
            assert r.json()["data"]["operation"]["id"] == op_id
    assert set(await queued(client, phone, status="cancelled")) >= set(odd)


async def test_batches_are_bounded_and_validated(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    too_many = [op(f"op_{i}", "mkdir", remotePath=f"/d{i}") for i in range(501)]
    body = await add(client, phone, *too_many, expect=422)
    assert body["error"]["code"] == "TOO_MANY_ITEMS"
    for bad in (op("x", "move", remotePath="/a/b"),  # no fileId
                op("x", "upload"),  # no remotePath
                op("x", "upload", remotePath="/a/../b"),
                op("x", "mkdir", remotePath="/ok", priority="urgent"),
                op("x", "mkdir", remotePath="/ok", createdAt="tomorrow"),
                op("", "mkdir", remotePath="/ok")):
        await add(client, phone, bad, expect=400)
    # A bad path says which operation it is in, and nothing of the batch is queued.
    body = await add(client, phone, op("fine", "mkdir", remotePath="/ok"),
                     op("bad", "rename", remotePath="/a/..", fileId="file_x"), expect=400)
    assert body["error"]["code"] == "INVALID_PATH"
    assert body["error"]["details"] == {"field": "remotePath", "id": "bad"}
    assert await queued(client, phone) == {}
    r = await client.get(f"{API}/queue", params={"status": "weird"}, headers=phone.auth)
    assert r.status_code == 400


async def test_an_id_used_again_for_another_operation_is_409(client, make_user, sign_in):
    # An app whose op counter started over (reinstalled, same deviceId) must not be told
    # "done" for a move that never ran: the old op's state is not the new one's.
    await make_user()
    phone = await sign_in()
    file_id = await store(client, phone, b"x", name="x.txt")
    await add(client, phone, op("op_1", "mkdir", remotePath="/old"))
    for reused in (op("op_1", "move", fileId=file_id, remotePath="/new/x.txt"),
                   op("op_1", "mkdir", remotePath="/other")):
        body = await add(client, phone, op("op_2", "mkdir", remotePath="/fresh"), reused,
                         expect=409)
        assert body["error"]["code"] == "CONFLICT"
        assert body["error"]["details"]["id"] == "op_1"
        assert body["error"]["details"]["existing"]["remotePath"] == "/old"
    # The same id twice in one batch, for two operations: the same.
    body = await add(client, phone, op("op_3", "mkdir", remotePath="/a"),
                     op("op_3", "mkdir", remotePath="/b"), expect=409)
    assert body["error"]["details"]["id"] == "op_3"
    # Nothing of those requests was queued or done.
    assert list(await queued(client, phone)) == ["op_1"]
    r = await client.get(f"{API}/files/{file_id}", headers=phone.auth)
    assert r.json()["data"]["folder"] == "/docs"
    r = await client.get(f"{API}/files", params={"folder": "/"}, headers=phone.auth)
    assert {e["name"] for e in r.json()["data"]["files"]} == {"docs", "old"}
    # A retry is still one operation, even with another priority, createdAt or localPath,
    # or its folder spelt with a trailing slash.
    [again] = await add(client, phone, op("op_1", "mkdir", "high", "2024-02-01T00:00:00Z",
                                          remotePath="/old/", localPath="/sdcard/old"))
    assert again["status"] == "done" and again["remotePath"] == "/old"


async def test_a_batch_that_fails_queues_nothing(client, services, make_user, sign_in,
                                                 monkeypatch):
    # The disk filling while the operations are applied answers 507: then nothing may be
    # left queued, or the next batch (or a restart) would apply an operation the app was
    # told failed and may have dropped since.
    await make_user()
    phone = await sign_in()
    file_id = await store(client, phone, b"keep me", name="keep.txt")
    engine = services.sync.queue._engine
    apply = engine.apply

    async def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(engine, "apply", disk_full)
    body = await add(client, phone, op("del", "delete", fileId=file_id), expect=507)
    assert body["error"]["code"] == "DISK_FULL"
    monkeypatch.setattr(engine, "apply", apply)
    assert await queued(client, phone) == {}
    [made] = await add(client, phone, op("mk", "mkdir", remotePath="/later"))
    assert made["status"] == "done"
    assert list(await queued(client, phone)) == ["mk"]
    r = await client.get(f"{API}/files/{file_id}", headers=phone.auth)
    assert r.status_code == 200 and r.json()["data"]["name"] == "keep.txt"


async def test_a_created_at_outside_years_1_to_9999_utc_is_400(client, make_user, sign_in):
    # RFC 3339 with an offset can name UTC year 0 or 10000: such an operation was applied,
    # then every answer listing it (this one, GET /queue) was 500 until it was pruned.
    await make_user()
    phone = await sign_in()
    for when in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        body = await add(client, phone, op("x", "mkdir", created_at=when, remotePath="/q"),
                         expect=400)
        assert body["error"]["details"] == {"field": "createdAt"}
    assert await queued(client, phone) == {}
    [edge] = await add(client, phone, op("y", "mkdir", created_at="0001-01-01T00:00:00Z",
                                         remotePath="/q"))
    assert edge["createdAt"] == "0001-01-01T00:00:00Z"


async def test_an_id_with_a_nul_is_answered(client, make_user, sign_in):
    # The id is the app's own: one holding a NUL was applied, then answered 500 (its row
    # not found again), so the app's retry saw 500 for an operation that had run.
    await make_user()
    phone = await sign_in()
    [first, second] = await add(client, phone, op("a\u0000b", "mkdir", remotePath="/one"),
                                op("a", "mkdir", remotePath="/two"))
    assert (first["id"], first["status"]) == ("a\u0000b", "done")
    assert (second["id"], second["remotePath"]) == ("a", "/two")
    [again] = await add(client, phone, op("a\u0000b", "mkdir", remotePath="/one"))
    assert again["updatedAt"] == first["updatedAt"]
    assert list(await queued(client, phone)) == ["a\u0000b", "a"]


async def test_a_path_with_an_empty_segment_is_invalid(client, make_user, sign_in):
    # As the contract says and sync/files does: "/docs//b.txt" is not read as "/docs/b.txt".
    await make_user()
    phone = await sign_in()
    file_id = await store(client, phone, b"x", name="a.txt")
    for path in ("/docs//b.txt", "//b.txt", "/docs///b.txt"):
        for bad in (op("r", "rename", fileId=file_id, remotePath=path),
                    op("m", "move", fileId=file_id, remotePath=path),
                    op("u", "upload", remotePath=path)):
            body = await add(client, phone, bad, expect=400)
            assert body["error"]["code"] == "INVALID_PATH", (path, body)
            assert body["error"]["details"]["field"] == "remotePath"
    assert await queued(client, phone) == {}
    r = await client.get(f"{API}/files/{file_id}", headers=phone.auth)
    assert (r.json()["data"]["folder"], r.json()["data"]["name"]) == ("/docs", "a.txt")


async def test_queue_is_per_device(client, make_user, sign_in):
    await make_user()
    phone = await sign_in(client_id="phone")
    tablet = await sign_in(client_id="tablet")
    await add(client, phone, op("same-id", "mkdir", remotePath="/from-phone"))
    [t] = await add(client, tablet, op("same-id", "mkdir", remotePath="/from-tablet"))
    assert t["status"] == "done" and t["remotePath"] == "/from-tablet"
    assert list(await queued(client, phone)) == ["same-id"]
    assert (await queued(client, phone))["same-id"]["remotePath"] == "/from-phone"
