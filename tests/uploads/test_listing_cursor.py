"""GET /files?folder= (and a shared folder's listing) hand out an opaque, URL-safe
nextCursor. It was the last entry's lower-cased name as it is (``1:n0&x+y #%.txt``): an
app that put it into the query string without encoding it asked for another page (``&``
ends the parameter, ``#`` the whole query, ``+`` is a space, ``%`` an escape)."""

from __future__ import annotations

import base64
import re
from typing import Any

from tests.helpers import API, Device
from tests.sync.helpers import change, checksum, push, store

FOLDERS = ["x&y", "#tag", "a+b c", "100% sure"]
FILES = ["n0&x+y #%.txt", "50%25off.txt", "k=v&w.txt", "Ärger é.txt", "日本語.txt",
         "plain.txt", "Plain2.txt"]
URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")


async def odd_folder(client: Any, dev: Device) -> None:
    """/odd with folders and files whose names a query string gives meaning to."""
    await store(client, dev, b"odd", name="seed.txt", folder="/")
    made = await push(client, dev, None, *[
        change("mkdir", f"m{i}", folder=f"/odd/{name}") for i, name in enumerate(FOLDERS)], *[
        change("upload", f"u{i}", folder="/odd", name=name, size=3, checksum=checksum(b"odd"))
        for i, name in enumerate(FILES)])
    assert {r["status"] for r in made["results"]} <= {"applied", "deduplicated"}, made


async def pages_by_hand(client: Any, dev: Device, path: str) -> list[str]:
    """Every name, page by page (2 a page), the cursor pasted into the URL unencoded."""
    names: list[str] = []
    cursor = None
    for _ in range(20):  # a cursor that is misread may start over: never loop forever
        url = path + (f"&cursor={cursor}" if cursor else "")
        r = await client.get(url, headers=dev.auth)
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        names += [f["name"] for f in data["files"]]
        if not data["hasMore"]:
            return names
        cursor = data["nextCursor"]
        assert URL_SAFE.fullmatch(cursor), cursor
    raise AssertionError(f"never reached the last page: {names}")


async def test_a_cursor_pasted_into_the_url_unencoded_pages_through_everything(
        client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    await odd_folder(client, phone)
    whole = await client.get(f"{API}/files", params={"folder": "/odd"}, headers=phone.auth)
    in_order = [f["name"] for f in whole.json()["data"]["files"]]
    assert sorted(in_order) == sorted(FOLDERS + FILES)

    paged = await pages_by_hand(client, phone, f"{API}/files?folder=/odd&limit=2")
    assert paged == in_order  # every entry once, in the listing's order


async def test_a_shared_folders_cursor_is_url_safe_too(client, make_user, sign_in):
    await make_user("alice@example.com", "Alice")
    await make_user("bob@example.com", "Bob")
    alice = await sign_in("alice@example.com", client_id="alice-phone")
    bob = await sign_in("bob@example.com", client_id="bob-phone")
    await odd_folder(client, alice)
    root = (await client.get(f"{API}/files", headers=alice.auth)).json()["data"]["files"]
    odd_id = next(f["id"] for f in root if f["name"] == "odd")
    r = await client.post(f"{API}/shares", headers=alice.auth,
                          json={"fileId": odd_id, "email": "bob@example.com"})
    assert r.status_code == 201, r.text
    share_id = r.json()["data"]["share"]["id"]

    paged = await pages_by_hand(client, bob, f"{API}/shares/{share_id}/files?folder=/&limit=2")
    assert sorted(paged) == sorted(FOLDERS + FILES) and len(paged) == len(set(paged))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def test_a_malformed_cursor_is_a_validation_error(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    await odd_folder(client, phone)
    for bad in ("1:plain.txt",           # the old, raw form
                "MTpwbGFpbi50eHQ=",      # padded
                "MTpwbGFpbi50eHQ!",      # outside the alphabet
                "a",                     # no whole byte
                _b64(b"2:plain.txt"),    # neither folders (0) nor files (1)
                _b64(b"1:\xff\xfe"),     # not UTF-8
                _b64(b"1:" + b"z" * 2000)):  # far longer than a name
        r = await client.get(f"{API}/files", params={"folder": "/odd", "cursor": bad},
                             headers=phone.auth)
        assert r.status_code == 400, (bad, r.text)
        body = r.json()
        assert body["success"] is False and body["error"]["code"] == "VALIDATION_ERROR", body
