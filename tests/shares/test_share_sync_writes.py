"""POST /sync/files (and the offline queue) on what was shared with write: changes land in
the owner's tree, only inside the shared folder; read shares answer FORBIDDEN, the owner's
other entries NOT_FOUND; stale changes to shared content are conflicts."""

from __future__ import annotations

import os
from typing import Any

from litestar.testing import AsyncTestClient

from homesync import clock
from tests.helpers import API, Device
from tests.shares.test_shares_api import World, share
from tests.sync.helpers import change, checksum, pull, push, store
from tests.uploads.flow import file_entry, init

BOBS = "/Shared with me/Alice Liddell"


async def alice_paths(client: AsyncTestClient[Any], w: World) -> dict[str, str]:
    """id → path of Alice's live entries, as her sync lists them."""
    data = await pull(client, w.alice)
    return {e["id"]: e["folder"].rstrip("/") + "/" + e["name"]
            for e in data["changes"]["created"]}


async def trashed(client: AsyncTestClient[Any], dev: Device) -> set[str]:
    r = await client.get(f"{API}/trash", headers=dev.auth)
    return {i["id"] for i in r.json()["data"]["items"]}


def codes(data: dict[str, Any]) -> list[str]:
    return [r["error"]["code"] if r["status"] == "rejected" else r["status"]
            for r in data["results"]]


async def test_bob_changes_alices_shared_folder_and_she_sees_it(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    alice_token = (await pull(client, w.alice))["nextSyncToken"]
    token = (await pull(client, w.bob))["nextSyncToken"]
    data = os.urandom(200)
    done = await push(
        client, w.bob, token,
        change("mkdir", "m", folder=f"{BOBS}/photos/2025", name="summer"),
        change("rename", "r", fileId=w.a_jpg["id"], name="renamed.jpg"),
        change("move", "v", fileId=w.b_jpg["id"], folder=f"{BOBS}/photos/2025/summer"),
        change("upload", "u", folder=f"{BOBS}/photos/2025", name="new.jpg", size=len(data),
               checksum=checksum(data)),
    )
    assert codes(done) == ["applied", "applied", "applied", "upload_required"]
    paths = await alice_paths(client, w)
    summer = done["results"][0]["fileId"]
    assert paths[summer] == "/photos/2025/summer"
    assert paths[w.a_jpg["id"]] == "/photos/2024/renamed.jpg"
    assert paths[w.b_jpg["id"]] == "/photos/2025/summer/b.jpg"
    # Bob's own tree got nothing; Alice's sync since her token has exactly these.
    r = await client.get(f"{API}/files", headers=w.bob.auth)
    assert r.json()["data"]["files"] == []
    since = await pull(client, w.alice, alice_token)
    assert {e["id"] for e in since["changes"]["created"] + since["changes"]["updated"]} >= {
        summer, w.a_jpg["id"], w.b_jpg["id"]}

    # Deleting goes to Alice's trash (a folder with what is in it).
    token = (await pull(client, w.bob))["nextSyncToken"]
    done = await push(client, w.bob, token, change("delete", "d", fileId=summer))
    assert codes(done) == ["applied"]
    assert summer in await trashed(client, w.alice)
    r = await client.get(f"{API}/files/{w.b_jpg['id']}", headers=w.bob.auth)
    assert r.status_code == 404


async def test_moves_stay_inside_the_share_and_the_item_itself_stays_put(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    made = await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    mine = await store(client, w.bob, os.urandom(50), name="mine.jpg", folder="/bob")
    others = await store(client, w.carol, os.urandom(50), name="c.jpg", folder="/carol")
    await share(client, w.carol, others, "bob@example.com", "write")
    token = (await pull(client, w.bob))["nextSyncToken"]
    done = await push(
        client, w.bob, token,
        change("move", "1", fileId=w.a_jpg["id"], folder="/bob"),  # out of the share
        change("move", "2", fileId=mine, folder=f"{BOBS}/photos"),  # into it
        change("move", "3", fileId=w.a_jpg["id"], folder="/Shared with me/Carol Danvers"),
        change("rename", "4", fileId=w.photos_id, name="pics"),  # the shared item itself
        change("move", "5", fileId=w.photos_id, folder=f"{BOBS}/elsewhere"),
        change("delete", "6", fileId=w.photos_id),
        change("mkdir", "7", folder="/Shared with me"),
        change("mkdir", "8", folder=BOBS),
        change("mkdir", "9", folder=BOBS, name="new"),
        change("upload", "10", folder=BOBS, name="x.jpg", size=1, checksum=checksum(b"x")),
        change("move", "11", fileId=w.a_jpg["id"], folder=f"{BOBS}/photos/../../Carol Danvers"),
        change("move", "12", fileId=w.a_jpg["id"], folder=f"{BOBS}/documents"),
    )
    assert codes(done) == ["FORBIDDEN"] * 10 + ["INVALID_PATH", "NOT_FOUND"]
    paths = await alice_paths(client, w)
    assert paths[w.photos_id] == "/photos" and paths[w.a_jpg["id"]] == "/photos/2024/a.jpg"
    r = await client.get(f"{API}/files/{mine}", headers=w.bob.auth)
    assert r.json()["data"]["folder"] == "/bob"
    # Leaving is how a recipient gets rid of a share.
    r = await client.delete(f"{API}/shares/{made['id']}", headers=w.bob.auth)
    assert r.status_code == 200


async def test_read_shares_answer_forbidden_and_other_files_not_found(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    made = await share(client, w.alice, w.photos_id, "bob@example.com", "read")
    token = (await pull(client, w.bob))["nextSyncToken"]
    data = os.urandom(10)
    attempts = [
        change("rename", "1", fileId=w.a_jpg["id"], name="x.jpg"),
        change("delete", "2", fileId=w.a_jpg["id"]),
        change("mkdir", "3", folder=f"{BOBS}/photos/new"),
        change("upload", "4", fileId=w.a_jpg["id"], size=len(data), checksum=checksum(data)),
        change("upload", "5", folder=f"{BOBS}/photos", name="n.jpg", size=len(data),
               checksum=checksum(data)),
    ]
    assert codes(await push(client, w.bob, token, *attempts)) == ["FORBIDDEN"] * 5
    # Alice's unshared document: the same answer as for an id that does not exist.
    secret = w.secret["id"]
    done = await push(
        client, w.bob, token,
        change("rename", "1", fileId=secret, name="mine.pdf"),
        change("move", "2", fileId=secret, folder=f"{BOBS}/photos"),
        change("delete", "3", fileId=secret),
        change("upload", "4", fileId=secret, size=len(data), checksum=checksum(data)),
    )
    assert codes(done) == ["NOT_FOUND"] * 4
    # Upgraded to write: the same change goes through; revoked: not found.
    await share(client, w.alice, w.photos_id, "bob@example.com", "write", status=200)
    assert codes(await push(client, w.bob, token, attempts[0])) == ["applied"]
    await client.delete(f"{API}/shares/{made['id']}", headers=w.alice.auth)
    assert codes(await push(client, w.bob, token, attempts[1])) == ["NOT_FOUND"]
    r = await client.get(f"{API}/files/{w.secret['id']}", headers=w.alice.auth)
    assert r.json()["data"]["name"] == "taxes.pdf"
    assert w.a_jpg["id"] not in await trashed(client, w.alice)


async def test_stale_changes_to_shared_content_are_conflicts(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    stale = (await pull(client, w.bob))["nextSyncToken"]
    alices = os.urandom(100)
    await store(client, w.alice, alices, name="a.jpg", folder="/photos/2024",
                file_id=w.a_jpg["id"])
    bobs = os.urandom(100)
    done = await push(
        client, w.bob, stale,
        change("upload", "1", fileId=w.a_jpg["id"], size=len(bobs), checksum=checksum(bobs)),
        change("delete", "2", fileId=w.a_jpg["id"]),
        change("upload", "3", folder=f"{BOBS}/photos/2024", name="A.JPG", size=len(bobs),
               checksum=checksum(bobs)),
    )
    assert codes(done) == ["conflict"] * 3
    assert all(r["fileId"] == w.a_jpg["id"] and "conflictId" not in r for r in done["results"])
    # No conflict records: Bob's resolutions work on his own tree, Alice's are her devices'.
    assert (await pull(client, w.bob))["conflicts"] == []
    assert (await pull(client, w.alice))["conflicts"] == []
    # After pulling, the device knows Alice's version: the same changes apply.
    fresh = (await pull(client, w.bob, stale))["nextSyncToken"]
    done = await push(client, w.bob, fresh, change(
        "upload", "1", fileId=w.a_jpg["id"], size=len(bobs), checksum=checksum(bobs)))
    assert codes(done) == ["upload_required"]
    # The device's own new version never conflicts with its later delete.
    await store(client, w.bob, bobs, name="a.jpg", folder=f"{BOBS}/photos/2024",
                file_id=w.a_jpg["id"])
    done = await push(client, w.bob, fresh, change("delete", "2", fileId=w.a_jpg["id"]))
    assert codes(done) == ["applied"]
    assert w.a_jpg["id"] in await trashed(client, w.alice)


async def test_a_taken_name_in_a_shared_folder_says_what_works_instead_of_pulling(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    alices = await store(client, w.alice, os.urandom(60), name="a.jpg",
                         folder="/photos/2024/trip")
    bobs = os.urandom(100)
    trip = f"{BOBS}/photos/2024/trip"
    new_b = change("upload", "1", folder=trip, name="b.jpg", size=len(bobs),
                   checksum=checksum(bobs))
    onto_a = change("rename", "2", fileId=w.b_jpg["id"], name="a.jpg")
    # Bob's token has seen both names: pulling (again) frees neither, so "pull, then
    # send it again" would never end; the answer says what does work.
    for _ in range(2):
        token = (await pull(client, w.bob))["nextSyncToken"]
        done = await push(client, w.bob, token, new_b, onto_a)
        assert codes(done) == ["conflict"] * 2
        assert [r["fileId"] for r in done["results"]] == [w.b_jpg["id"], alices]
        assert {r["error"]["code"] for r in done["results"]} == {"NAME_CONFLICT"}
        assert "another name" in done["results"][0]["error"]["message"]
    r = await client.post(f"{API}/queue/add", headers=w.bob.auth, json={
        "syncToken": token, "operations": [
            {"id": "op1", "type": "rename", "fileId": w.b_jpg["id"],
             "remotePath": f"{trip}/a.jpg", "createdAt": "2024-01-20T10:00:00Z"}]})
    op = r.json()["data"]["operations"][0]
    assert (op["status"], op["error"]["code"]) == ("conflict", "NAME_CONFLICT")
    # What it says works: another name, or the upload as that file's new version.
    done = await push(
        client, w.bob, token, change("rename", "2", fileId=w.b_jpg["id"], name="a (Bob).jpg"),
        change("upload", "1", fileId=w.b_jpg["id"], size=len(bobs), checksum=checksum(bobs)))
    assert codes(done) == ["applied", "upload_required"]
    # A stale change is still "pull, then send it again" (that works: see above).
    await store(client, w.alice, os.urandom(70), name="a.jpg", folder="/photos/2024/trip",
                file_id=alices)
    done = await push(client, w.bob, token, change("delete", "3", fileId=alices))
    assert (codes(done), done["results"][0]["error"]["code"]) == (["conflict"], "CONFLICT")


async def test_the_offline_queue_applies_to_shared_folders_too(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    token = (await pull(client, w.bob))["nextSyncToken"]
    r = await client.post(f"{API}/queue/add", headers=w.bob.auth, json={
        "syncToken": token, "operations": [
            {"id": "op1", "type": "mkdir", "remotePath": f"{BOBS}/photos/queued",
             "createdAt": "2024-01-20T10:00:00Z"},
            {"id": "op2", "type": "move", "fileId": w.b_jpg["id"],
             "remotePath": f"{BOBS}/photos/queued/b.jpg", "createdAt": "2024-01-20T10:00:01Z"},
            {"id": "op3", "type": "delete", "fileId": w.secret["id"],
             "createdAt": "2024-01-20T10:00:02Z"},
        ]})
    assert r.status_code == 200, r.text
    ops = {o["id"]: o for o in r.json()["data"]["operations"]}
    assert (ops["op1"]["status"], ops["op2"]["status"]) == ("done", "done")
    assert (ops["op3"]["status"], ops["op3"]["error"]["code"]) == ("failed", "NOT_FOUND")
    paths = await alice_paths(client, w)
    assert paths[w.b_jpg["id"]] == "/photos/queued/b.jpg"


async def queue_delete(client: AsyncTestClient[Any], dev: Device, file_id: str, *,
                       created_at: int, sync_token: str | None = None) -> dict[str, Any]:
    """Queue one delete; the operation's state as the server answers it."""
    body: dict[str, Any] = {"operations": [{"id": "del", "type": "delete", "fileId": file_id,
                                             "createdAt": clock.rfc3339(created_at)}]}
    if sync_token is not None:
        body["syncToken"] = sync_token
    r = await client.post(f"{API}/queue/add", headers=dev.auth, json=body)
    assert r.status_code == 200, r.text
    op: dict[str, Any] = r.json()["data"]["operations"][0]
    return op


async def test_queued_changes_to_shared_content_are_judged_by_what_the_device_saw_of_it(
    client: AsyncTestClient[Any], world: World,
) -> None:
    """With a token, by its share-feed position, not by the user's own journal position:
    Bob's own tree has not changed since the share, yet his token has seen Alice's edit."""
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    await store(client, w.alice, os.urandom(100), name="a.jpg", folder="/photos/2024",
                file_id=w.a_jpg["id"])
    token = (await pull(client, w.bob))["nextSyncToken"]
    op = await queue_delete(client, w.bob, w.a_jpg["id"], created_at=clock.now_ms(),
                            sync_token=token)
    assert op["status"] == "done", op
    assert w.a_jpg["id"] in await trashed(client, w.alice)


async def test_queued_changes_without_a_token_are_judged_by_the_owners_journal(
    client: AsyncTestClient[Any], world: World,
) -> None:
    """Without a token, by when the app queued the change, in the owner's journal: Alice's
    edit after that is a conflict, even though Bob's own tree changed later still."""
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    queued_at = clock.now_ms()  # Bob's phone, offline, deletes a.jpg
    await store(client, w.alice, os.urandom(100), name="a.jpg", folder="/photos/2024",
                file_id=w.a_jpg["id"])
    await store(client, w.bob, b"from the laptop", name="notes.txt", folder="/mine")
    op = await queue_delete(client, w.bob, w.a_jpg["id"], created_at=queued_at)
    assert op["status"] == "conflict", op
    assert w.a_jpg["id"] not in await trashed(client, w.alice)


async def test_write_wins_where_shares_overlap_and_owner_paths_stay_hidden(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    r = await client.get(f"{API}/files", params={"folder": "/photos"}, headers=w.alice.auth)
    year = next(f["id"] for f in r.json()["data"]["files"] if f["name"] == "2024")
    await share(client, w.alice, w.photos_id, "bob@example.com", "read")
    await share(client, w.alice, year, "bob@example.com", "write")
    token = (await pull(client, w.bob))["nextSyncToken"]
    done = await push(
        client, w.bob, token,
        change("mkdir", "1", folder=f"{BOBS}/photos/2024/inner"),  # under the write share
        change("mkdir", "2", folder=f"{BOBS}/photos/outer"),  # only the read share
        change("rename", "3", fileId=w.a_jpg["id"], name="renamed.jpg"),
    )
    assert codes(done) == ["applied", "FORBIDDEN", "applied"]

    # Alone, the write share shows 2024 at the top of Bob's owner folder; an error about
    # a path names it there, never as /photos/2024 in Alice's tree.
    carol_sees = "/Shared with me/Alice Liddell/2024"
    await share(client, w.alice, year, "carol@example.com", "write")
    token = (await pull(client, w.carol))["nextSyncToken"]
    done = await push(client, w.carol, token,
                      change("mkdir", "1", folder=f"{carol_sees}/renamed.jpg/sub"))
    error = done["results"][0]["error"]
    assert error["code"] == "NAME_CONFLICT"
    assert f"{carol_sees}/renamed.jpg" in error["message"] and "/photos" not in error["message"]


async def test_what_the_recipient_made_is_deleted_for_them_when_it_goes(
    client: AsyncTestClient[Any], world: World,
) -> None:
    """Bob makes folders in Alice's shared folder; she deletes one, then ends the share,
    before Bob's phone pulls again. Never listed to the phone (no feed entry at or before
    its token), they were left out as "never seen", and the phone kept both for good."""
    w = world
    made = await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    token = (await pull(client, w.bob))["nextSyncToken"]
    done = await push(client, w.bob, token,
                      change("mkdir", "a", folder=f"{BOBS}/photos", name="one"),
                      change("mkdir", "b", folder=f"{BOBS}/photos", name="two"))
    one, two = (r["fileId"] for r in done["results"])
    alice_token = (await pull(client, w.alice))["nextSyncToken"]
    assert codes(await push(client, w.alice, alice_token, change("delete", fileId=one))) == [
        "applied"]
    data = await pull(client, w.bob, token)
    assert one in {e["id"] for e in data["changes"]["deleted"]}
    assert two in {e["id"] for e in data["changes"]["created"]}
    r = await client.delete(f"{API}/shares/{made['id']}", headers=w.alice.auth)
    assert r.status_code == 200, r.text
    data = await pull(client, w.bob, token)
    assert {one, two} <= {e["id"] for e in data["changes"]["deleted"]}


async def test_nothing_of_ones_own_takes_the_shared_with_me_name(
    client: AsyncTestClient[Any], world: World,
) -> None:
    """/Shared with me is where the server shows what others share: mkdir and uploads into
    it were 403, but a rename or move could still give one's own folder that name, and an
    upload could put a *file* there. Writes into the folder were then 403 (one's own
    files in it out of reach by path), and with a file there, a device had nowhere to put
    what is shared with it. Every way of making that name at the root is 403 now."""
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com")
    mine = await store(client, w.bob, b"mine", name="mine.txt", folder="/own")
    own = {e["name"]: e["id"] for e in (await pull(client, w.bob))["changes"]["created"]}
    token = (await pull(client, w.bob))["nextSyncToken"]
    done = await push(
        client, w.bob, token,
        change("rename", "r", fileId=own["own"], name="Shared with me"),
        change("move", "m", fileId=own["own"], folder="/", name="SHARED WITH ME"),
        change("move", "f", fileId=mine, folder="/", name="shared with me"),
        change("upload", "u", folder="/", name="Shared with me", size=4,
               checksum=checksum(b"mine")),
        change("upload", "n", folder="/", name="Shared with me", size=3,
               checksum=checksum(b"new")),
    )
    assert codes(done) == ["FORBIDDEN"] * 5
    r = await client.post(f"{API}/queue/add", headers=w.bob.auth, json={"operations": [
        {"id": "q", "type": "rename", "fileId": own["own"], "remotePath": "/Shared with me",
         "priority": "normal", "createdAt": "2024-01-20T15:00:00Z"}]})
    [queued] = r.json()["data"]["operations"]
    assert (queued["status"], queued["error"]["code"]) == ("failed", "FORBIDDEN")
    r = await client.post(f"{API}/upload/init", headers=w.bob.auth, json={
        "files": [{"localId": "i", "name": "Shared with me", "folder": "/", "size": 3,
                   "mimeType": "text/plain", "checksum": checksum(b"new"),
                   "priority": "normal"}], "uploadOptions": {}})
    assert r.status_code == 403, r.text
    # Nothing changed; the name beside it is anybody's.
    after = await pull(client, w.bob, token)
    assert not after["changes"]["created"] + after["changes"]["updated"]
    done = await push(client, w.bob, token,
                      change("rename", "ok", fileId=own["own"], name="Shared with me 2"))
    assert codes(done) == ["applied"]


async def test_a_queued_upload_onto_a_name_taken_in_the_owners_folder_ends_as_a_conflict(
    client: AsyncTestClient[Any], world: World,
) -> None:
    """Bob's phone, back online, uploads its photo a.jpg into Alice's folder first (init
    answers NAME_CONFLICT: her a.jpg is there) and sends its queue after: the queued upload
    waited for an upload to that path that will never come. It ends as the answer said."""
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    token = (await pull(client, w.bob))["nextSyncToken"]
    folder = f"{BOBS}/photos/2024"
    r = await init(client, w.bob.auth, file_entry(os.urandom(500), name="A.jpg", folder=folder))
    answer = r.json()["data"]["files"][0]
    assert (answer["status"], answer["error"]["code"]) == ("conflict", "NAME_CONFLICT")
    r = await client.post(f"{API}/queue/add", headers=w.bob.auth, json={
        "syncToken": token, "operations": [
            {"id": "up", "type": "upload", "remotePath": f"{folder}/a.JPG",
             "createdAt": "2024-01-20T10:00:00Z"},
            {"id": "dir", "type": "upload", "remotePath": f"{folder}/Trip",  # a folder
             "createdAt": "2024-01-20T10:00:00Z"},
            {"id": "free", "type": "upload", "remotePath": f"{folder}/c.jpg",
             "createdAt": "2024-01-20T10:00:01Z"}]})
    assert r.status_code == 200, r.text
    ops = {o["id"]: o for o in r.json()["data"]["operations"]}
    assert (ops["up"]["status"], ops["up"]["error"]["code"]) == ("conflict", "NAME_CONFLICT")
    assert ops["up"]["resultFileId"] == w.a_jpg["id"]
    assert (ops["dir"]["status"], ops["dir"]["error"]["code"]) == ("conflict", "NAME_CONFLICT")
    assert ops["free"]["status"] == "pending"  # nothing in its way: it waits
