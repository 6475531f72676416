"""The offline queue over time: an operation id remembered after its operation is pruned,
the operations of a removed device, and upload operations that no upload to their
``remotePath`` will ever settle."""

from __future__ import annotations

from typing import Any

from homesync import clock
from homesync.services.sync import queue as queue_service
from tests.conftest import MakeUser, SignIn
from tests.helpers import API, Device
from tests.sync.helpers import change, checksum, pull, push, store
from tests.sync.test_queue import add, op, queued, sign_in_again
from tests.uploads.flow import file_entry, init

DAY_MS = 86_400_000


def upload_op(op_id: str, remote_path: str) -> dict[str, Any]:
    """A queued upload of a file the app has to ``remote_path``."""
    return op(op_id, "upload", remotePath=remote_path)


async def phone_and_laptop(make_user: MakeUser, sign_in: SignIn) -> tuple[Device, Device]:
    """Alice signed in on two devices."""
    await make_user()
    return await sign_in(client_id="phone"), await sign_in(client_id="laptop")


async def init_in_p(client: Any, dev: Device, data: bytes, name: str) -> dict[str, Any]:
    """upload/init's answer for ``data`` as /p/``name``."""
    r = await init(client, dev.auth, file_entry(data, name=name, folder="/p"))
    item: dict[str, Any] = r.json()["data"]["files"][0]
    return item


async def test_an_operation_sent_again_after_it_was_pruned_is_not_applied_again(
        client, services, make_user, sign_in):
    # A phone sends a delete, its answer is lost, and it is offline for 8 days: by then
    # the finished operation is pruned (queue_retention, 7 days). Its retry must not
    # delete the file the user has brought back from the trash meanwhile.
    await make_user()
    phone = await sign_in()
    file_id = await store(client, phone, b"keep me", name="a.txt")
    token = (await pull(client, phone))["nextSyncToken"]
    deletion = op("del-1", "delete", fileId=file_id)
    [first] = await add(client, phone, deletion, token=token)
    assert first["status"] == "done"
    r = await client.post(f"{API}/trash/{file_id}/restore", headers=phone.auth)
    assert r.status_code == 200, r.text
    report = await services.sync.retention.run_once(clock.now_ms() + 8 * DAY_MS)
    assert report.queue_ops == 1
    assert "del-1" not in await queued(client, phone)  # pruned: no longer listed
    [again] = await add(client, phone, deletion, token=token)
    assert (again["status"], again["id"], again["updatedAt"]) == (
        "done", "del-1", first["updatedAt"])
    r = await client.get(f"{API}/files/{file_id}", headers=phone.auth)
    assert r.status_code == 200 and r.json()["data"].get("deletedAt") is None, r.text
    # Still another operation under a used id, and still not cancellable.
    r = await add(client, phone, op("del-1", "mkdir", remotePath="/x"), expect=409)
    assert r["error"]["details"]["existing"]["status"] == "done"
    r = await client.delete(f"{API}/queue/del-1", headers=phone.auth)
    assert r.status_code == 409, r.text
    # The id is remembered for [sync] history_retention (180 days), then forgotten too.
    report = await services.sync.retention.run_once(clock.now_ms() + 181 * DAY_MS)
    assert report.queue_ids == 1


async def test_pending_operations_of_a_removed_device_are_cancelled(client, services,
                                                                    make_user, sign_in):
    phone, laptop = await phone_and_laptop(make_user, sign_in)
    await add(client, phone, upload_op("up-1", "/p/1.jpg"),
              upload_op("up-2", "/p/2.jpg"))
    r = await client.delete(f"{API}/devices/{phone.device_id}", headers=laptop.auth)
    assert r.status_code == 200, r.text
    rows = await services.db.reader.execute_fetchall(
        "SELECT status, error FROM queue_ops WHERE device_id = ?", (phone.device_id,))
    assert [(s, '"DEVICE_REMOVED"' in e) for s, e in rows] == [("cancelled", True)] * 2
    # Finished now, they go with the next retention pass after queue_retention.
    report = await services.sync.retention.run_once(clock.now_ms() + 8 * DAY_MS)
    assert report.queue_ops == 2
    # The same install signed in again is a new device with an empty queue.
    again = await sign_in(client_id="phone")
    assert await queued(client, again) == {}


async def test_a_batch_whose_device_is_removed_while_it_waits_changes_nothing(
        client, services, make_user, sign_in, monkeypatch):
    # The phone (stolen, say) sends a delete; its token was good when the request came in,
    # and the owner removes the device before the batch gets to the database: the delete
    # ran on a removed device's say, after its waiting operations had been cancelled.
    phone, laptop = await phone_and_laptop(make_user, sign_in)
    file_id = await store(client, laptop, b"keep me", name="keep.txt")
    seqs_before = queue_service.changes.seqs_before

    async def removed_meanwhile(*args: Any) -> dict[int, int]:
        await services.devices.admin_revoke(phone.device_id)  # as DELETE /devices/{id}
        return await seqs_before(*args)

    monkeypatch.setattr(queue_service.changes, "seqs_before", removed_meanwhile)
    deletion = op("del", "delete", created_at=clock.rfc3339(clock.now_ms()), fileId=file_id)
    body = await add(client, phone, deletion, expect=401)
    assert body["error"]["code"] == "UNAUTHORIZED"
    r = await client.get(f"{API}/files/{file_id}", headers=laptop.auth)
    assert r.status_code == 200 and r.json()["data"].get("deletedAt") is None, r.text
    rows = await services.db.reader.execute_fetchall(
        "SELECT op_id FROM queue_ops WHERE device_id = ?", (phone.device_id,))
    assert list(rows) == []


async def test_a_retention_pass_cancels_what_a_removed_device_left_pending(
        client, services, make_user, sign_in):
    # Operations of a device removed by an older version stayed pending for good.
    phone, laptop = await phone_and_laptop(make_user, sign_in)
    await add(client, phone, upload_op("up-1", "/p/1.jpg"))
    r = await client.delete(f"{API}/devices/{phone.device_id}", headers=laptop.auth)
    assert r.status_code == 200, r.text
    async with services.db.transaction() as tx:
        await tx.execute("UPDATE queue_ops SET status = 'pending', error = NULL")
    assert (await services.sync.retention.run_once()).queue_ops == 0
    report = await services.sync.retention.run_once(clock.now_ms() + 8 * DAY_MS)
    assert report.queue_ops == 1


async def test_upload_done_when_its_upload_completed_before_it_arrived_and_moved_on(
        client, make_user, sign_in):
    # The app queued the upload offline (at its token), uploaded once back online, and
    # sent the queue after that; the file was moved meanwhile.
    phone, laptop = await phone_and_laptop(make_user, sign_in)
    older = await store(client, phone, b"before the token", name="0.jpg", folder="/p")
    token = (await pull(client, phone))["nextSyncToken"]
    uploaded = await store(client, phone, b"after the token", name="1.jpg", folder="/p")
    laptop_token = (await pull(client, laptop))["nextSyncToken"]
    await push(client, laptop, laptop_token,
               change("move", "a", fileId=uploaded, folder="/archive"),
               change("move", "b", fileId=older, folder="/archive"))
    answers = await add(client, phone, upload_op("up-1", "/p/1.jpg"),
                        upload_op("up-0", "/p/0.jpg"), token=token)
    assert (answers[0]["status"], answers[0]["resultFileId"]) == ("done", uploaded)
    # An upload there from before what the app had seen is not this operation's.
    assert answers[1]["status"] == "pending"


async def test_upload_is_a_conflict_when_init_answers_conflict(client, make_user, sign_in):
    # upload/init says another file has the name: the app keeps the server's file, or
    # sends its own under another name. No upload to remotePath will come.
    phone, laptop = await phone_and_laptop(make_user, sign_in)
    laptops = await store(client, laptop, b"laptop's photo", name="1.jpg", folder="/p")
    await add(client, phone, upload_op("up", "/p/1.jpg"))
    answer = await init_in_p(client, phone, b"phone's photo", "1.jpg")
    assert answer["status"] == "conflict", answer
    listed = (await queued(client, phone))["up"]
    assert (listed["status"], listed["resultFileId"], listed["error"]["code"]) == (
        "conflict", laptops, "NAME_CONFLICT")
    await store(client, phone, b"phone's photo", name="1 (1).jpg", folder="/p")
    assert (await queued(client, phone))["up"]["status"] == "conflict"
    assert (await sign_in_again(client, phone))[0] == 0


async def test_upload_is_a_conflict_when_sync_files_answers_conflict(client, make_user,
                                                                      sign_in):
    phone, laptop = await phone_and_laptop(make_user, sign_in)
    laptops = await store(client, laptop, b"laptop's photo", name="1.jpg", folder="/p")
    token = (await pull(client, phone))["nextSyncToken"]
    await add(client, phone, upload_op("up", "/p/1.jpg"), token=token)
    mine = b"phone's photo"
    sent = await push(client, phone, token, change("upload", "a", name="1.jpg", folder="/p",
                                                   size=len(mine), checksum=checksum(mine)))
    [answer] = sent["results"]
    assert answer["status"] == "conflict", answer
    listed = (await queued(client, phone))["up"]
    assert (listed["status"], listed["conflictId"], listed["resultFileId"]) == (
        "conflict", answer["conflictId"], laptops)
    assert (await sign_in_again(client, phone))[0] == 0


async def test_an_upload_after_the_conflict_still_makes_it_done(client, make_user, sign_in):
    # The app kept its own: a new version of the file in the way, to the same path.
    phone, laptop = await phone_and_laptop(make_user, sign_in)
    laptops = await store(client, laptop, b"laptop's photo", name="1.jpg", folder="/p")
    await add(client, phone, upload_op("up", "/p/1.jpg"))
    answer = await init_in_p(client, phone, b"phone's photo", "1.jpg")
    assert answer["status"] == "conflict", answer
    assert (await queued(client, phone))["up"]["status"] == "conflict"
    await store(client, phone, b"phone's photo", name="1.jpg", folder="/p", file_id=laptops)
    listed = (await queued(client, phone))["up"]
    assert (listed["status"], listed["resultFileId"], listed["error"]) == ("done", laptops, None)


async def test_upload_failed_when_init_answers_deleted_on_server(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    data = b"a photo the user deleted"
    file_id = await store(client, phone, data, name="1.jpg", folder="/p")
    token = (await pull(client, phone))["nextSyncToken"]
    await push(client, phone, token, change("delete", "d", fileId=file_id))
    await add(client, phone, upload_op("up", "/p/again.jpg"))
    answer = await init_in_p(client, phone, data, "again.jpg")
    assert answer["status"] == "deleted_on_server", answer
    listed = (await queued(client, phone))["up"]
    assert (listed["status"], listed["error"]["code"]) == ("failed", "DELETED_ON_SERVER")
    assert (await sign_in_again(client, phone))[0] == 0


async def test_a_retry_pruned_while_it_is_answered_gets_its_state(client, services, make_user,
                                                                  sign_in, monkeypatch):
    # The retention sweep pruned the retried operation after the request found it queued
    # and before its answer was read: the answer was 500 (its row was in neither table the
    # request had read), for an operation that had run.
    await make_user()
    phone = await sign_in()
    made = op("mk-1", "mkdir", remotePath="/trips")
    [first] = await add(client, phone, made)
    settle = queue_service.settle_upload_ops

    async def pruned_meanwhile(db: Any, device_id: str) -> None:
        await services.sync.retention.run_once(clock.now_ms() + 8 * DAY_MS)
        await settle(db, device_id)

    monkeypatch.setattr(queue_service, "settle_upload_ops", pruned_meanwhile)
    [again] = await add(client, phone, made)
    assert (again["status"], again["updatedAt"]) == ("done", first["updatedAt"])
    assert await queued(client, phone) == {}  # pruned indeed


async def test_a_removed_device_signed_in_again_resending_its_batch_runs_none_of_it(
        client, services, make_user, sign_in):
    # The phone's delete ran and its upload waited when the laptop removed it (lost, say);
    # the user restored the file meanwhile. Found again, the install signs in (a new
    # device) and resends the batch whose answers it never got: the delete must not run a
    # second time, nor the cancelled upload wait again; each answers as the removed
    # device left it — also once those operations are pruned.
    phone, laptop = await phone_and_laptop(make_user, sign_in)
    file_id = await store(client, laptop, b"keep me", name="keep.txt")
    batch = [op("del", "delete", fileId=file_id), upload_op("up", "/p/1.jpg")]
    token = (await pull(client, phone))["nextSyncToken"]
    first = await add(client, phone, *batch, token=token)
    assert [o["status"] for o in first] == ["done", "pending"]
    r = await client.delete(f"{API}/devices/{phone.device_id}", headers=laptop.auth)
    assert r.status_code == 200, r.text
    r = await client.post(f"{API}/trash/{file_id}/restore", headers=laptop.auth)
    assert r.status_code == 200, r.text
    again = await sign_in(client_id="phone")
    for days in (0, 8):  # 8: past queue_retention, the operations pruned
        await services.sync.retention.run_once(clock.now_ms() + days * DAY_MS)
        answers = await add(client, again, *batch, token=token)  # the same request
        assert [(o["id"], o["status"], (o["error"] or {}).get("code")) for o in answers] == [
            ("del", "done", None), ("up", "cancelled", "DEVICE_REMOVED")]
        assert answers[0]["updatedAt"] == first[0]["updatedAt"]
        r = await client.get(f"{API}/files/{file_id}", headers=laptop.auth)
        assert r.status_code == 200 and r.json()["data"].get("deletedAt") is None, r.text
        assert await queued(client, again) == {}  # the removed device's, not listed
        # Another operation under one of those ids is 409, as for the device's own.
        r = await add(client, again, op("del", "mkdir", remotePath="/x"), expect=409)
        assert r["error"]["details"]["existing"]["status"] == "done"


async def test_cancelling_an_operation_of_the_removed_device_answers_as_for_its_own(
        client, services, make_user, sign_in):
    # The install signed in again cancels, by the ids it had, what it queued as the
    # removed device: as for its own ids, what ran is 409 with its status, what the
    # removal cancelled stays cancelled (pruned: 409), and nothing changes; not 404
    # ("no such operation") for ids the app did use.
    phone, laptop = await phone_and_laptop(make_user, sign_in)
    file_id = await store(client, laptop, b"keep me", name="keep.txt")
    token = (await pull(client, phone))["nextSyncToken"]
    first = await add(client, phone, op("del", "delete", fileId=file_id),
                      upload_op("up", "/p/1.jpg"), token=token)
    assert [o["status"] for o in first] == ["done", "pending"]
    r = await client.delete(f"{API}/devices/{phone.device_id}", headers=laptop.auth)
    assert r.status_code == 200, r.text
    again = await sign_in(client_id="phone")
    r = await client.delete(f"{API}/queue/del", headers=again.auth)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["details"]["status"] == "done"
    r = await client.delete(f"{API}/queue/up", headers=again.auth)
    assert r.status_code == 200, r.text
    data = r.json()["data"]["operation"]
    assert (data["status"], data["error"]["code"]) == ("cancelled", "DEVICE_REMOVED")
    await services.sync.retention.run_once(clock.now_ms() + 8 * DAY_MS)  # pruned
    for op_id, status in (("del", "done"), ("up", "cancelled")):
        r = await client.delete(f"{API}/queue/{op_id}", headers=again.auth)
        assert r.status_code == 409, r.text
        assert r.json()["error"]["details"]["status"] == status
    r = await client.delete(f"{API}/queue/never", headers=again.auth)
    assert r.status_code == 404, r.text
    assert await queued(client, again) == {}


async def test_a_queued_new_file_onto_a_name_taken_since_ends_as_init_answers(
        client, make_user, sign_in):
    # Back online, the phone uploads its new notes.txt first: upload/init answers
    # NAME_CONFLICT (the laptop made a notes.txt meanwhile), so the app sends it as
    # "notes (2).txt"; then it sends its queue. The queued upload to notes.txt waited
    # for good: no upload to that path comes. It ends as init answered, as one into a
    # shared folder does. Where a folder stands, too. An upload to a file the phone had
    # seen there is its offline edit: it waits for that version.
    phone, laptop = await phone_and_laptop(make_user, sign_in)
    known = await store(client, laptop, b"known", name="known.txt", folder="/p")
    token = (await pull(client, phone))["nextSyncToken"]
    laptops = await store(client, laptop, b"laptop's notes", name="notes.txt", folder="/p")
    done = await push(client, laptop, (await pull(client, laptop))["nextSyncToken"],
                      change("mkdir", "d", folder="/p/trip"))
    assert done["results"][0]["status"] == "applied", done
    answer = await init_in_p(client, phone, b"phone's notes", "notes.txt")
    assert (answer["status"], answer["error"]["code"]) == ("conflict", "NAME_CONFLICT")
    await store(client, phone, b"phone's notes", name="notes (2).txt", folder="/p")
    answers = await add(client, phone, upload_op("new", "/p/Notes.txt"),
                        upload_op("dir", "/p/trip"), upload_op("edit", "/p/known.txt"),
                        upload_op("free", "/p/other.txt"), token=token)
    outcome = {o["id"]: (o["status"], (o["error"] or {}).get("code")) for o in answers}
    assert outcome == {"new": ("conflict", "NAME_CONFLICT"), "dir": ("conflict", "NAME_CONFLICT"),
                       "edit": ("pending", None), "free": ("pending", None)}
    assert answers[0]["resultFileId"] == laptops
    assert (await sign_in_again(client, phone))[0] == 2  # edit and free still wait
    # The app keeps its own as that file's new version after all: done.
    phone = (await sign_in_again(client, phone))[1]
    await store(client, phone, b"phone's notes", name="notes.txt", folder="/p",
                file_id=laptops)
    await store(client, phone, b"edited", name="known.txt", folder="/p", file_id=known)
    listed = await queued(client, phone)
    assert [(listed[k]["status"], listed[k]["resultFileId"]) for k in ("new", "edit")] == [
        ("done", laptops), ("done", known)]
