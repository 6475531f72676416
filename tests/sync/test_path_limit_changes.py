"""The 4096-byte / 64-level folder path limit (3990953, 00ba23f) on the ways a folder path
can grow that test_local_changes.py does not go through: a folder's rename, the offline
queue's move and rename, and a keep_both resolution that brings a file back from the
trash. Each refused change is INVALID_PATH and changes nothing."""

from __future__ import annotations

from tests.helpers import API
from tests.sync.helpers import change, checksum, pull, push, resolve, store
from tests.sync.test_queue import add, op

SEGMENT = "d" * 200
# /top/ + 19 segments of 200 bytes + /<250 bytes>: a folder path of 4074 bytes.
INNER = "/" + "/".join([SEGMENT] * 19) + "/" + "e" * 250
assert len(("/top" + INNER).encode()) == 4074


async def mkdir(client, dev, folder: str) -> str:
    out = await push(client, dev, None, change("mkdir", folder=folder))
    assert out["results"][0]["status"] == "applied", out
    return str(out["results"][0]["fileId"])


async def test_a_folder_rename_that_makes_a_subfolder_path_too_long_is_refused(
        client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    top = await mkdir(client, phone, "/top")
    kept = await store(client, phone, b"x", name="x.txt", folder="/top" + INNER)
    before = await pull(client, phone)
    # 22 more bytes make the deepest folder 4096 bytes: the limit; 23 are one too many.
    out = await push(client, phone, None,
                     change("rename", "long", fileId=top, name="top" + "t" * 23))
    assert [(r["status"], r["error"]["code"]) for r in out["results"]] == [
        ("rejected", "INVALID_PATH")], out
    after = await pull(client, phone, before["nextSyncToken"])
    assert not after["hasChanges"]
    r = await client.get(f"{API}/files/{kept}", headers=phone.auth)
    assert r.json()["data"]["folder"] == "/top" + INNER
    out = await push(client, phone, None,
                     change("rename", "fits", fileId=top, name="top" + "t" * 22))
    assert [r["status"] for r in out["results"]] == ["applied"], out
    r = await client.get(f"{API}/files/{kept}", headers=phone.auth)
    assert r.json()["data"]["folder"] == "/top" + "t" * 22 + INNER


async def test_queued_moves_and_renames_that_make_a_folder_path_too_long_fail(
        client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    top = await mkdir(client, phone, "/top")
    kept = await store(client, phone, b"x", name="x.txt", folder="/top" + INNER)
    levels = "/" + "/".join("l" for _ in range(63))  # 63 levels: /top below it makes 64 +
    await mkdir(client, phone, levels)
    before = await pull(client, phone)
    done = await add(client, phone,
                     op("rename", "rename", fileId=top, remotePath="/top" + "t" * 23),
                     op("move", "move", fileId=top, remotePath="/" + "m" * 30 + "/top"),
                     op("deeper", "move", fileId=top, remotePath=levels + "/top"))
    assert [(o["id"], o["status"], (o["error"] or {}).get("code")) for o in done] == [
        ("rename", "failed", "INVALID_PATH"), ("move", "failed", "INVALID_PATH"),
        ("deeper", "failed", "INVALID_PATH")], done
    after = await pull(client, phone, before["nextSyncToken"])
    assert not after["hasChanges"]  # not even the folder a move makes on the way
    r = await client.get(f"{API}/files/{kept}", headers=phone.auth)
    assert r.json()["data"]["folder"] == "/top" + INNER


async def test_keep_both_that_would_restore_a_folder_path_too_long_is_refused(
        client, make_user, sign_in):
    """The phone edited a file whose folders the laptop deleted; a file took the top
    folder's name since. keep_both brings the server's file back, which makes its folders
    again, the top one as 'top (restored)': over the limit. The resolution is rejected
    with INVALID_PATH, and nothing of it is left: no folders, no copy, the file still in
    the trash, the conflict still open."""
    await make_user()
    laptop = await sign_in(client_id="laptop")
    phone = await sign_in(client_id="phone")
    top = await mkdir(client, laptop, "/top")
    deep = "/top/" + "/".join([SEGMENT] * 20) + "/" + "e" * 62
    assert len(deep.encode()) == 4087  # restored as '/top (restored)/…': 4098
    photo = await store(client, laptop, b"v1", name="p.jpg", folder=deep)
    await store(client, laptop, b"phone's v2", name="elsewhere.jpg", folder="/")
    stale = (await pull(client, phone))["nextSyncToken"]
    await push(client, laptop, None, change("delete", fileId=top))
    await store(client, laptop, b"in the way", name="top", folder="/")
    out = await push(client, phone, stale, change(
        "upload", fileId=photo, size=10, checksum=checksum(b"phone's v2"),
        lastModified="2024-01-20T14:00:00Z"))
    assert out["results"][0]["status"] == "conflict", out
    conflict_id = out["results"][0]["conflictId"]
    before = await pull(client, phone)
    [result] = await resolve(client, phone, {"conflictId": conflict_id,
                                             "resolution": "keep_both", "fileId": photo})
    assert (result["status"], result["error"]["code"]) == ("rejected", "INVALID_PATH"), result
    after = await pull(client, phone, before["nextSyncToken"])
    assert not after["hasChanges"], after
    assert [c["id"] for c in after["conflicts"]] == [conflict_id]
    r = await client.get(f"{API}/trash", headers=phone.auth)
    assert top in [i["id"] for i in r.json()["data"]["items"]]


async def test_keep_both_fits_the_conflicted_copy_name_in_a_folder_at_the_limit(
        client, make_user, sign_in):
    """A name already at 255 bytes in a folder near 4096: the copy's name is shortened
    (its stem) to 255 bytes, keeping the extension; folder paths do not grow."""
    await make_user()
    laptop = await sign_in(client_id="laptop")
    phone = await sign_in(client_id="phone")
    deep = "/top/" + "/".join([SEGMENT] * 20) + "/" + "e" * 66
    assert len(deep.encode()) == 4091
    name = "n" * 251 + ".jpg"
    photo = await store(client, laptop, b"v1", name=name, folder=deep)
    await store(client, laptop, b"phone's v2", name="elsewhere.jpg", folder="/")
    stale = (await pull(client, phone))["nextSyncToken"]
    await push(client, laptop, None, change("delete", fileId=photo))
    out = await push(client, phone, stale, change(
        "upload", fileId=photo, size=10, checksum=checksum(b"phone's v2"),
        lastModified="2024-01-20T14:00:00Z"))
    assert out["results"][0]["status"] == "conflict", out
    [result] = await resolve(client, phone, {"conflictId": out["results"][0]["conflictId"],
                                             "resolution": "keep_both", "fileId": photo})
    assert result["status"] == "resolved", result
    r = await client.get(f"{API}/files/{photo}", headers=phone.auth)
    assert (r.json()["data"]["folder"], r.json()["data"]["name"]) == (deep, name)
    r = await client.get(f"{API}/files/{result['copyFileId']}", headers=phone.auth)
    copy = r.json()["data"]
    assert copy["folder"] == deep and copy["checksum"] == checksum(b"phone's v2")
    assert len(copy["name"].encode()) == 255 and copy["name"].endswith(").jpg")
    assert copy["name"].startswith("n" * 100) and "conflicted copy" in copy["name"]
