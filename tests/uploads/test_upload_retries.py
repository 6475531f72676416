"""Retries and races of the upload protocol through HTTP: an init that resumes an upload
beside a new file of the same name, completes retried or run at once, complete racing the
upload's expiry."""

from __future__ import annotations

from typing import Any

from homesync import clock
from homesync.store import uploads as store_uploads
from homesync.store.db import fetchall
from tests.helpers import API
from tests.uploads.flow import (
    checksum,
    complete,
    file_entry,
    init,
    path_of,
    put_chunks,
    random_bytes,
    upload,
)


async def test_a_resumed_upload_keeps_its_name_whatever_the_order_of_the_batch(
        client, make_user, sign_in):
    """A phone asks again for the upload it started (some bytes already sent) and, in the
    same init, for a new file of that name with other content: the upload it started keeps
    the name, whichever comes first in the request, and the new file is the conflict."""
    await make_user()
    dev = await sign_in()
    started, other = random_bytes(9000), random_bytes(5000)
    for order in ("new first", "resume first"):
        name = f"{order.replace(' ', '_')}.jpg"
        item = (await init(client, dev.auth, file_entry(started, name=name, local_id="s"))
                ).json()["data"]["files"][0]
        r = await client.put(path_of(item["chunks"][0]["uploadUrl"]), content=started[:4096])
        assert r.status_code == 200, r.text
        resume = file_entry(started, name=name, local_id="again")
        new = file_entry(other, name=name.upper(), local_id="new")
        r = await init(client, dev.auth, *([new, resume] if order == "new first"
                                           else [resume, new]))
        assert r.status_code == 200, r.text
        answers = {f["localId"]: f for f in r.json()["data"]["files"]}
        assert answers["again"]["uploadId"] == item["uploadId"], (order, answers)
        assert answers["again"]["completedChunks"] == [0], (order, answers)
        assert answers["new"]["status"] == "conflict", (order, answers)
        assert answers["new"]["error"]["code"] == "NAME_CONFLICT"
        assert "uploadId" not in answers["new"]


async def test_a_complete_overtaken_by_another_complete_answers_the_file(
        client, services, make_user, sign_in, monkeypatch):
    """Two completes of one upload (a phone retrying one it thought lost): the one that
    looks at the received chunks just after the other committed (which lets them go)
    answers the same file, not 409 MISSING_CHUNKS for every chunk."""
    await make_user()
    dev = await sign_in()
    data = random_bytes(9000)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    await put_chunks(client, item, data, dev.auth)
    real = store_uploads.received
    other: list[Any] = []

    async def other_complete_first(conn: Any, upload_id: str) -> Any:
        if not other:  # the other complete runs to its end between our two looks
            monkeypatch.setattr(store_uploads, "received", real)
            # (straight to the service: the test client serves one request at a time)
            other.append(await services.uploads.complete(
                user_id=dev.user_id, device_id=dev.device_id, upload_id=item["uploadId"],
                checksum=checksum(data), metadata={}))
        return await real(conn, upload_id)

    monkeypatch.setattr(store_uploads, "received", other_complete_first)
    r = await complete(client, dev.auth, item["uploadId"], data)
    assert other, r.text
    assert r.status_code == 200, r.text
    assert r.json()["data"]["fileId"] == other[0].file.id


async def test_a_complete_begun_before_the_upload_expired_is_not_refused_after_hashing(
        client, services, make_user, sign_in, monkeypatch):
    """The last moment of an upload's life: complete checks it is open, hashes the
    content (long for a big file), and the expiry passes meanwhile. Every byte is there
    and the phone asked in time: the file is made, not 410."""
    await make_user()
    start = clock.now()
    clock.set_now(lambda: start)
    dev = await sign_in()
    data = random_bytes(9000)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    await put_chunks(client, item, data, dev.auth)
    ttl = services.uploads.planner.ttl_ms / 1000
    clock.set_now(lambda: start + ttl - 1)
    dev = await sign_in()  # its access token would have expired
    real = services.uploads.digests.finish

    async def slow_finish(upload_id: str, chunk_hashes: Any) -> Any:
        clock.set_now(lambda: start + ttl + 1)
        return await real(upload_id, chunk_hashes)

    monkeypatch.setattr(services.uploads.digests, "finish", slow_finish)
    r = await complete(client, dev.auth, item["uploadId"], data)
    assert r.status_code == 200, r.text
    got = await client.get(f"{API}/files/{r.json()['data']['fileId']}/content",
                           headers=dev.auth)
    assert got.content == data


async def test_gc_running_while_complete_hashes_does_not_expire_the_upload(
        client, services, make_user, sign_in, monkeypatch):
    """As above, with a gc round (the server's, or `homesync gc`) while the content is
    hashed, past the upload's expiry: asking to complete is a sign of life, so gc does
    not expire the upload under it (it did: 410 after every byte was sent and checked)."""
    uid = await make_user()
    start = clock.now()
    clock.set_now(lambda: start)
    dev = await sign_in()
    data = random_bytes(9000)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    await put_chunks(client, item, data, dev.auth)
    ttl = services.uploads.planner.ttl_ms / 1000
    clock.set_now(lambda: start + ttl - 1)
    dev = await sign_in()
    real = services.uploads.digests.finish
    rounds = []

    async def finish_beside_gc(upload_id: str, chunk_hashes: Any) -> Any:
        clock.set_now(lambda: start + ttl + 1)
        rounds.append(await services.gc.collect())
        return await real(upload_id, chunk_hashes)

    monkeypatch.setattr(services.uploads.digests, "finish", finish_beside_gc)
    r = await complete(client, dev.auth, item["uploadId"], data)
    assert r.status_code == 200, r.text
    assert rounds[0].expired_uploads == 0
    events = await fetchall(services.db.reader, "SELECT kind FROM notifications"
                            " WHERE user_id = ? AND category = 'uploads'", (uid,))
    assert [e[0] for e in events] == ["upload_completed"]


async def test_a_retried_complete_answers_as_the_first_did(client, make_user, sign_in):
    """The phone lost the answer of a complete that kept its file as a conflicted copy
    (another device took the name after its init): asking again answers exactly the same,
    ``conflictedWith`` included, so the phone learns of the conflict either way."""
    await make_user()
    phone = await sign_in(client_id="phone", model="Pixel 8")
    tablet = await sign_in(client_id="tablet", model="Galaxy Tab")
    mine, theirs = random_bytes(9000), random_bytes(9000)
    item = (await init(client, phone.auth, file_entry(mine))).json()["data"]["files"][0]
    taken = await upload(client, tablet.auth, theirs)
    await put_chunks(client, item, mine)
    r = await complete(client, phone.auth, item["uploadId"], mine)
    assert r.status_code == 200, r.text
    first = r.json()["data"]
    assert first["conflictedWith"] == taken["fileId"]
    for _ in range(2):
        again = await complete(client, phone.auth, item["uploadId"], mine)
        assert again.status_code == 200, again.text
        assert again.json()["data"] == first


async def test_a_retried_complete_answers_the_version_it_made(client, make_user, sign_in):
    """Another device made a new version of the file before the phone asked again: the
    answer is still the version the phone uploaded (its checksum, its versionId), or the
    phone would take the other device's content for its own and never fetch it."""
    await make_user()
    phone = await sign_in(client_id="phone")
    laptop = await sign_in(client_id="laptop", model="ThinkPad")
    mine, newer = random_bytes(9000), random_bytes(5000)
    item = (await init(client, phone.auth, file_entry(mine))).json()["data"]["files"][0]
    await put_chunks(client, item, mine)
    r = await complete(client, phone.auth, item["uploadId"], mine,
                       metadata={"capturedAt": "2024-01-20T15:30:00Z"})
    assert r.status_code == 200, r.text
    first = r.json()["data"]
    edited = await upload(client, laptop.auth, newer, fileId=first["fileId"])
    assert edited["file"]["checksum"] == checksum(newer)

    again = await complete(client, phone.auth, item["uploadId"], mine)
    assert again.status_code == 200, again.text
    assert again.json()["data"] == first
    assert again.json()["data"]["file"]["checksum"] == checksum(mine)


async def test_asking_again_for_a_file_kept_as_a_conflicted_copy_answers_that_copy(
        client, make_user, sign_in):
    """A phone whose complete kept its photo as a conflicted copy lost both the answer and
    its upload id, and asks init again, as for any upload it lost track of: its content is
    on the server already, as that copy. The answer says so (deduplicated, the copy, and
    ``conflictedWith``), not a NAME_CONFLICT with the other device's file that would have
    the phone send its photo again under another name, a third file."""
    await make_user()
    phone = await sign_in(client_id="phone", model="Pixel 8")
    tablet = await sign_in(client_id="tablet", model="Galaxy Tab")
    mine = random_bytes(9000)
    item = (await init(client, phone.auth, file_entry(mine))).json()["data"]["files"][0]
    taken = await upload(client, tablet.auth, random_bytes(9000))
    await put_chunks(client, item, mine)
    done = (await complete(client, phone.auth, item["uploadId"], mine)).json()["data"]

    r = await init(client, phone.auth, file_entry(mine, local_id="again"))
    assert r.status_code == 200, r.text
    again = r.json()["data"]["files"][0]
    assert again == {"localId": "again", "status": "deduplicated", "fileId": done["fileId"],
                     "conflictedWith": taken["fileId"]}
    listing = await client.get(f"{API}/files", params={"folder": "/photos"},
                               headers=phone.auth)
    assert len(listing.json()["data"]["files"]) == 2
    # Another device asking for the same content there has no copy of its own: conflict.
    r = await init(client, tablet.auth, file_entry(mine, local_id="t"))
    assert r.json()["data"]["files"][0]["status"] == "conflict", r.text


async def test_asking_again_for_an_upload_whose_name_was_taken_meanwhile_resumes_it(
        client, make_user, sign_in):
    """A phone sent part of a photo, lost its upload id, and meanwhile a tablet made a
    file of that name: asking init again resumes the upload (its chunks are on the
    server), as it would with the id kept, and complete keeps it as a conflicted copy;
    a NAME_CONFLICT would have it send every byte again under another name."""
    await make_user()
    phone = await sign_in(client_id="phone", model="Pixel 8")
    tablet = await sign_in(client_id="tablet", model="Galaxy Tab")
    mine = random_bytes(9000)
    item = (await init(client, phone.auth, file_entry(mine))).json()["data"]["files"][0]
    await put_chunks(client, item, mine, only=[0])
    taken = await upload(client, tablet.auth, random_bytes(9000))

    r = await init(client, phone.auth, file_entry(mine, local_id="again"))
    assert r.status_code == 200, r.text
    again = r.json()["data"]["files"][0]
    assert again.get("uploadId") == item["uploadId"], again
    assert again["completedChunks"] == [0]
    await put_chunks(client, again, mine, only=[1, 2])
    r = await complete(client, phone.auth, item["uploadId"], mine)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["conflictedWith"] == taken["fileId"]
