"""Conflict records: one per change however the app spells it (README "Conflicts")."""

from __future__ import annotations

import pytest

from tests.helpers import API
from tests.sync.helpers import change, checksum, pull, push, store


def upload_change(data: bytes, local_id: str = "l1", **fields):
    fields.setdefault("name", "notes.txt")
    fields.setdefault("folder", "/docs")
    fields.setdefault("checksum", checksum(data))
    return change("upload", local_id, size=len(data), **fields)


@pytest.fixture
async def devices(client, make_user, sign_in):
    await make_user()
    laptop = await sign_in(client_id="laptop", model="ThinkPad")
    phone = await sign_in(client_id="phone", model="Pixel 7")
    return laptop, phone


async def test_the_same_change_spelt_otherwise_finds_its_conflict(client, devices):
    """'/docs/', '/DOCS' and '/docs' are one folder (a trailing slash is tolerated, names
    collide in any case), and 'sha256:ABC…' is 'sha256:abc…': sent again in another
    spelling, a change finds its open conflict instead of making a second one."""
    laptop, phone = devices
    await store(client, laptop, b"laptop's notes", name="notes.txt")
    mine = b"phone's notes"
    spellings = [{"folder": "/docs"}, {"folder": "/docs/"}, {"folder": "/DOCS"},
                 {"folder": "/Docs/", "name": "NOTES.txt"},
                 {"checksum": "sha256:" + checksum(mine).partition(":")[2].upper()}]
    ids = set()
    for fields in spellings:
        out = await push(client, phone, None, upload_change(mine, **fields))
        assert out["results"][0]["status"] == "conflict", (fields, out)
        ids.add(out["results"][0]["conflictId"])
    assert len(ids) == 1, ids
    assert len((await pull(client, phone))["conflicts"]) == 1
    r = await client.get(f"{API}/conflicts", headers=phone.auth)
    assert len(r.json()["data"]["conflicts"]) == 1

