"""A trash restore or purge sent again (its first answer lost on the way) answers what the
first did, not 404: the app would report an error for something that worked. Ids that
never existed, or are another user's, still answer 404, the same 404."""

from __future__ import annotations

from tests.helpers import API
from tests.sync.helpers import change, pull, push, store

_NOTHING = {"created": [], "updated": [], "deleted": []}


async def test_a_retried_restore_answers_the_entry_where_it_now_is(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    file_id = await store(client, phone, b"notes", name="a.txt", folder="/docs")
    await push(client, phone, None, change("delete", fileId=file_id))
    await store(client, phone, b"in the way", name="a.txt", folder="/docs")
    first = await client.post(f"{API}/trash/{file_id}/restore", headers=phone.auth)
    assert first.status_code == 200, first.text
    assert first.json()["data"]["file"]["name"] == "a (restored).txt"
    token = (await pull(client, phone))["nextSyncToken"]
    again = await client.post(f"{API}/trash/{file_id}/restore", headers=phone.auth)
    assert again.status_code == 200, again.text
    assert again.json()["data"] == first.json()["data"]
    assert (await pull(client, phone, token))["changes"] == _NOTHING  # nothing done twice


async def test_a_retried_purge_answers_success_and_frees_nothing_twice(client, make_user,
                                                                      sign_in):
    await make_user()
    phone = await sign_in()
    file_id = await store(client, phone, b"photo bytes", name="p.jpg")
    await push(client, phone, None, change("delete", fileId=file_id))
    first = await client.delete(f"{API}/trash/{file_id}", headers=phone.auth)
    assert first.status_code == 200, first.text
    assert first.json()["data"]["freedBytes"] == len(b"photo bytes")
    again = await client.delete(f"{API}/trash/{file_id}", headers=phone.auth)
    assert again.status_code == 200, again.text
    assert again.json()["data"] == {"fileId": file_id, "purged": True, "freedBytes": 0}
    # Purged stays purged: a restore of it is still 404.
    r = await client.post(f"{API}/trash/{file_id}/restore", headers=phone.auth)
    assert r.status_code == 404


async def test_unknown_and_other_users_ids_stay_404_alike(client, make_user, sign_in):
    await make_user()
    await make_user("bob@example.com", "Bob")
    alice = await sign_in()
    bob = await sign_in("bob@example.com", client_id="bob")
    purged = await store(client, bob, b"bob's old", name="old.txt")
    restored = await store(client, bob, b"bob's back", name="back.txt")
    for file_id in (purged, restored):
        await push(client, bob, None, change("delete", fileId=file_id))
    assert (await client.delete(f"{API}/trash/{purged}", headers=bob.auth)).status_code == 200
    r = await client.post(f"{API}/trash/{restored}/restore", headers=bob.auth)
    assert r.status_code == 200
    never = "file_" + "x" * 22
    for method, action in (("POST", "/restore"), ("DELETE", "")):
        answers = []
        for file_id in (never, purged, restored):
            r = await client.request(method, f"{API}/trash/{file_id}{action}", headers=alice.auth)
            assert r.status_code == 404, (method, file_id, r.text)
            answers.append(r.json())
        assert answers[1] == answers[0] and answers[2] == answers[0]  # no oracle


async def test_purging_a_live_file_is_still_404(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    file_id = await store(client, phone, b"keep me", name="k.txt")
    r = await client.delete(f"{API}/trash/{file_id}", headers=phone.auth)
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    got = await client.get(f"{API}/files/{file_id}/content", headers=phone.auth)
    assert got.content == b"keep me"


async def test_a_retried_restore_of_a_folder_merged_into_a_live_one_answers_that_folder(
        client, make_user, sign_in):
    """The first restore merged the trashed folder into the live one at its place (its
    trash item is gone); sent again, it answers that folder where it now is, as the
    restore of an entry back already does, not 404. Once that folder is gone too, 404."""
    await make_user()
    phone = await sign_in()
    photos = [await store(client, phone, b"photo %d" % n, name=f"{n}.jpg",
                          folder="/Photos/Trip") for n in range(3)]
    done = await push(client, phone, None, change("mkdir", folder="/Photos/Trip"))
    trip = done["results"][0]["fileId"]
    await push(client, phone, None, change("delete", fileId=trip))
    one = await client.post(f"{API}/trash/{photos[0]}/restore", headers=phone.auth)
    assert one.status_code == 200, one.text  # made /Photos/Trip again: a new folder
    first = await client.post(f"{API}/trash/{trip}/restore", headers=phone.auth)
    assert first.status_code == 200, first.text
    live = first.json()["data"]["file"]
    assert live["id"] != trip and (live["folder"], live["name"]) == ("/Photos", "Trip")
    token = (await pull(client, phone))["nextSyncToken"]
    again = await client.post(f"{API}/trash/{trip}/restore", headers=phone.auth)
    assert again.status_code == 200, again.text
    assert again.json()["data"] == first.json()["data"]
    assert (await pull(client, phone, token))["changes"] == _NOTHING  # nothing done twice

    # Where the folder is now: renamed since, the retry answers it under its new name.
    await push(client, phone, token, change("rename", fileId=live["id"], name="Trip 2024"))
    again = await client.post(f"{API}/trash/{trip}/restore", headers=phone.auth)
    assert again.status_code == 200, again.text
    assert (again.json()["data"]["file"]["id"], again.json()["data"]["file"]["name"]) == (
        live["id"], "Trip 2024")
    # That folder deleted too: the merged one's restore is 404 (not the other's restore).
    await push(client, phone, None, change("delete", fileId=live["id"]))
    r = await client.post(f"{API}/trash/{trip}/restore", headers=phone.auth)
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    r = await client.get(f"{API}/trash", headers=phone.auth)
    assert [i["id"] for i in r.json()["data"]["items"]] == [live["id"]]


async def test_a_purged_folder_stays_404_once_its_trashed_parent_is_restored(
        client, make_user, sign_in):
    """Purged by hand, a folder's restore stays 404, also after the folder it was trashed
    with comes back (a merge's record is no purge's)."""
    await make_user()
    phone = await sign_in()
    await store(client, phone, b"deep", name="d.txt", folder="/a/b")
    listing = (await pull(client, phone))["changes"]["created"]
    ids = {(e["folder"], e["name"]): e["id"] for e in listing}
    a, b = ids[("/", "a")], ids[("/a", "b")]
    await push(client, phone, None, change("delete", fileId=a))
    assert (await client.delete(f"{API}/trash/{b}", headers=phone.auth)).status_code == 200
    assert (await client.post(f"{API}/trash/{a}/restore", headers=phone.auth)).status_code \
        == 200
    r = await client.post(f"{API}/trash/{b}/restore", headers=phone.auth)
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
