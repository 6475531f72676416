"""A new version uploaded with the device's syncToken never silently replaces a change
another device made after that token: at init it is a conflict, and once the bytes are
sent it becomes a conflicted copy beside the file."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from homesync.services.container import Services
from tests.conftest import MakeUser, SignIn
from tests.helpers import API
from tests.sync.helpers import pull
from tests.uploads.flow import (
    checksum,
    complete,
    file_entry,
    init,
    put_chunks,
    random_bytes,
    upload,
)


async def _content(client: AsyncTestClient[Any], auth: dict[str, str], file_id: str) -> bytes:
    r = await client.get(f"{API}/files/{file_id}/content", headers=auth)
    assert r.status_code == 200, r.text
    return r.content


async def test_init_answers_conflict_when_another_device_changed_the_file_after_the_token(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
) -> None:
    await make_user()
    phone, laptop = await sign_in(), await sign_in(client_id="laptop", model="ThinkPad")
    first = await upload(client, phone.auth, random_bytes(5000), name="notes.txt")
    token = (await pull(client, phone))["nextSyncToken"]
    await upload(client, laptop.auth, random_bytes(5000), name="notes.txt",
                 fileId=first["fileId"])  # the laptop's edit, after the phone's token
    count = "SELECT count(*) FROM uploads"
    uploads_before = (await services.db.fetchone(count) or [None])[0]

    mine = random_bytes(5000)
    r = await init(client, phone.auth, file_entry(mine, name="notes.txt", folder="/photos",
                                                  fileId=first["fileId"], syncToken=token))
    assert r.status_code == 200, r.text
    (entry,) = r.json()["data"]["files"]
    assert entry["status"] == "conflict" and entry["fileId"] == first["fileId"]
    assert entry["error"]["code"] == "CONFLICT" and "chunks" not in entry
    assert (await services.db.fetchone(count) or [None])[0] == uploads_before

    # After syncing, the phone's token knows the laptop's edit: its version goes in.
    token = (await pull(client, phone, token))["nextSyncToken"]
    r = await init(client, phone.auth, file_entry(mine, name="notes.txt", folder="/photos",
                                                  fileId=first["fileId"], syncToken=token))
    assert r.json()["data"]["files"][0]["status"] == "pending"


async def test_a_change_that_lands_during_the_upload_makes_a_conflicted_copy(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn,
) -> None:
    await make_user()
    phone, laptop = await sign_in(), await sign_in(client_id="laptop", model="ThinkPad")
    first = await upload(client, phone.auth, random_bytes(5000), name="notes.txt",
                         folder="/docs")
    token = (await pull(client, phone))["nextSyncToken"]
    mine = random_bytes(9000)
    r = await init(client, phone.auth, file_entry(mine, name="notes.txt", folder="/docs",
                                                  fileId=first["fileId"], syncToken=token))
    entry = r.json()["data"]["files"][0]
    await put_chunks(client, entry, mine, phone.auth)
    theirs = random_bytes(7000)  # the laptop saves while the phone's bytes are on their way
    await upload(client, laptop.auth, theirs, name="notes.txt", folder="/docs",
                 fileId=first["fileId"])

    r = await complete(client, phone.auth, entry["uploadId"], mine)
    assert r.status_code == 200, r.text
    done = r.json()["data"]
    assert done["conflictedWith"] == first["fileId"] and done["fileId"] != first["fileId"]
    assert done["file"]["folder"] == "/docs"
    assert done["file"]["name"].startswith("notes (conflicted copy ")
    assert done["file"]["name"].endswith(".txt")
    assert await _content(client, phone.auth, first["fileId"]) == theirs  # not replaced
    assert await _content(client, phone.auth, done["fileId"]) == mine  # nothing lost
    again = await complete(client, phone.auth, entry["uploadId"], mine)
    assert again.json()["data"]["fileId"] == done["fileId"]


async def test_the_devices_own_later_changes_are_no_conflict(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn,
) -> None:
    await make_user()
    phone = await sign_in()
    first = await upload(client, phone.auth, random_bytes(5000), name="notes.txt")
    token = (await pull(client, phone))["nextSyncToken"]
    await upload(client, phone.auth, random_bytes(5000), name="notes.txt",
                 fileId=first["fileId"])  # its own edit, queued offline with the old token
    mine = random_bytes(6000)
    done = await upload(client, phone.auth, mine, name="notes.txt", fileId=first["fileId"],
                        syncToken=token)
    assert done["fileId"] == first["fileId"] and "conflictedWith" not in done
    assert await _content(client, phone.auth, first["fileId"]) == mine


async def test_a_forged_sync_token_is_refused(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn,
) -> None:
    await make_user()
    phone = await sign_in()
    first = await upload(client, phone.auth, random_bytes(5000), name="notes.txt")
    r = await init(client, phone.auth, file_entry(random_bytes(10), name="notes.txt",
                                                  fileId=first["fileId"],
                                                  syncToken="sync_AAAAAAAAAAAAAAAAAAAA"))
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "syncToken"


async def _half_sent_edit(client: AsyncTestClient[Any], phone: Any, laptop: Any,
                          ) -> tuple[str, str, bytes, bytes, dict[str, Any]]:
    """The phone starts uploading its edit of notes.txt with its token and sends chunk 0;
    the laptop then saves its own edit. The file id, the phone's token, both contents
    and the phone's upload."""
    first = await upload(client, phone.auth, random_bytes(5000), name="notes.txt",
                         folder="/docs")
    token = (await pull(client, phone))["nextSyncToken"]
    mine, theirs = random_bytes(9000), random_bytes(7000)
    r = await init(client, phone.auth, file_entry(mine, name="notes.txt", folder="/docs",
                                                  fileId=first["fileId"], syncToken=token))
    entry = r.json()["data"]["files"][0]
    await put_chunks(client, entry, mine, phone.auth, only=[0])
    await upload(client, laptop.auth, theirs, name="notes.txt", folder="/docs",
                 fileId=first["fileId"])
    return first["fileId"], token, mine, theirs, entry


async def test_a_resumed_upload_is_judged_by_the_later_token_that_saw_the_other_change(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn,
) -> None:
    """The phone syncs (its new token has seen the laptop's edit), keeps its own version
    and asks again with that token: the upload it started is resumed, and its version
    replaces the laptop's (kept in the history) rather than becoming a conflicted copy
    judged by the first init's older token."""
    await make_user()
    phone, laptop = await sign_in(), await sign_in(client_id="laptop", model="ThinkPad")
    file_id, token, mine, theirs, entry = await _half_sent_edit(client, phone, laptop)
    token = (await pull(client, phone, token))["nextSyncToken"]
    r = await init(client, phone.auth, file_entry(mine, name="notes.txt", folder="/docs",
                                                  fileId=file_id, syncToken=token))
    resumed = r.json()["data"]["files"][0]
    assert resumed["uploadId"] == entry["uploadId"] and resumed["completedChunks"] == [0]
    await put_chunks(client, resumed, mine, phone.auth, only=[1, 2])
    r = await complete(client, phone.auth, entry["uploadId"], mine)
    assert r.status_code == 200, r.text
    done = r.json()["data"]
    assert done["fileId"] == file_id and "conflictedWith" not in done, done
    assert await _content(client, phone.auth, file_id) == mine
    versions = (await client.get(f"{API}/files/{file_id}/versions", headers=phone.auth)).text
    assert checksum(theirs) in versions  # the laptop's edit stays in the history


async def test_a_resume_without_a_token_keeps_the_base(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn,
) -> None:
    """Asking again with the same token, then without one, does not let the upload
    overwrite the laptop's edit the phone never saw: a conflicted copy, as before."""
    await make_user()
    phone, laptop = await sign_in(), await sign_in(client_id="laptop", model="ThinkPad")
    file_id, token, mine, theirs, entry = await _half_sent_edit(client, phone, laptop)
    for again in ({"syncToken": token}, {}):
        r = await init(client, phone.auth, file_entry(mine, name="notes.txt", folder="/docs",
                                                      fileId=file_id, **again))
        assert r.json()["data"]["files"][0]["uploadId"] == entry["uploadId"], r.text
    await put_chunks(client, entry, mine, phone.auth, only=[1, 2])
    r = await complete(client, phone.auth, entry["uploadId"], mine)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["conflictedWith"] == file_id
    assert await _content(client, phone.auth, file_id) == theirs


async def test_a_resume_with_an_older_token_keeps_the_newer_base(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn,
) -> None:
    """The upload began with a token that had seen the laptop's edit; an ask again with
    an older token (an app retrying a stale request) does not make that edit unseen."""
    await make_user()
    phone, laptop = await sign_in(), await sign_in(client_id="laptop", model="ThinkPad")
    first = await upload(client, phone.auth, random_bytes(5000), name="notes.txt",
                         folder="/docs")
    old = (await pull(client, phone))["nextSyncToken"]
    await upload(client, laptop.auth, random_bytes(7000), name="notes.txt", folder="/docs",
                 fileId=first["fileId"])
    new = (await pull(client, phone, old))["nextSyncToken"]
    mine = random_bytes(9000)
    entries = [(await init(client, phone.auth, file_entry(
        mine, name="notes.txt", folder="/docs", fileId=first["fileId"], syncToken=token))
    ).json()["data"]["files"][0] for token in (new, old)]
    assert entries[1]["uploadId"] == entries[0]["uploadId"], entries
    await put_chunks(client, entries[0], mine, phone.auth)
    r = await complete(client, phone.auth, entries[0]["uploadId"], mine)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["fileId"] == first["fileId"] and "conflictedWith" not in r.json()["data"]
    assert await _content(client, phone.auth, first["fileId"]) == mine
