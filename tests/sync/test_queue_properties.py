"""D9 as a property, over HTTP: a phone sends random batches of queued operations (some
again, as after a lost answer) and uploads, while a laptop edits, renames and deletes the
same files, and whatever happens

- no answer is a 5xx, and nothing the server acknowledged is lost (retention is off);
- an operation sent again answers exactly what it answered the first time;
- ``GET /queue`` lists every operation once, in the order first sent, as it was answered;
- an upload operation is done with the file of the first upload to its path after it,
  even if that file was renamed or deleted since, and pending until then;
- a queued delete judged against a token from before another device's edit is never done.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from homesync.store import files as file_store
from tests.helpers import PASSWORD, Device, examples
from tests.server_on_loop import ServerOnLoop
from tests.sync.conftest import SMALL_CHUNKS
from tests.uploads.flow import checksum, complete, file_entry, init, put_chunks

FILES = 3
NAMES = ["a.txt", "b.txt", "A.TXT", "c.txt"]  # A.TXT collides with a.txt
FOLDERS = ["/docs", "/Docs", "/other", "/docs/sub"]
# What the answer to an operation says about what was done with it.
STATE = ("status", "error", "resultFileId", "conflictId", "updatedAt")


class World(ServerOnLoop):
    """One server for all the examples (each has its own user), retention off."""

    _emails = itertools.count()

    def __init__(self, root: Path) -> None:
        super().__init__(
            root, uploads=SMALL_CHUNKS, storage={"disk_reserve": "0"},
            auth={"api_requests_per_second": 0},  # a scenario is many calls from one device
            sync={"keep_versions": 0, "version_retention": "0d", "trash_retention": "0d"})
        self.last_answer: dict[str, Any] | None = None  # store()'s init answer, if any

    async def devices(self) -> list[Device]:
        email = f"user{next(self._emails)}@example.com"
        await self.svc.accounts.create_user(email, PASSWORD, name="Pat Doe")
        return [await self.sign_in(email, client_id) for client_id in ("phone", "laptop")]

    async def store(self, dev: Device, data: bytes, name: str, file_id: str | None = None,
                    folder: str = "/docs") -> str | None:
        """Upload over HTTP; the file id once the server acknowledged it, else None."""
        extra = {"fileId": file_id} if file_id else {}
        r = await init(self.http, dev.auth, file_entry(data, name=name, folder=folder, **extra))
        assert r.status_code < 500, r.text
        self.last_answer = None
        if r.status_code != 200:
            return None
        item = self.last_answer = r.json()["data"]["files"][0]
        if item["status"] == "deduplicated":
            return str(item["fileId"])
        if item["status"] != "pending":
            return None
        await put_chunks(self.http, item, data)
        r = await complete(self.http, dev.auth, item["uploadId"], data)
        assert r.status_code < 500, r.text
        return str(r.json()["data"]["fileId"]) if r.status_code == 200 else None

    async def retrievable(self, user_id: str) -> set[str]:
        """Checksums whose bytes the server can still produce, read back from the chunks."""
        rows = await self.svc.db.fetchall(
            "SELECT id, checksum FROM file_versions WHERE user_id = ?", (user_id,))
        found = set()
        for version_id, digest in rows:
            chunks = await file_store.manifest(self.svc.db.reader, version_id)
            sha, _ = await self.svc.chunks.sha256_of([h for h, _ in chunks])
            assert f"sha256:{sha}" == digest
            found.add(digest)
        return found


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with World.in_temp_dir() as w:
        yield w


target = st.integers(0, FILES)  # FILES: an id the server never made
queued_op = st.one_of(
    st.tuples(st.just("delete"), target),
    st.tuples(st.just("move"), target, st.sampled_from(FOLDERS), st.sampled_from(NAMES)),
    st.tuples(st.just("rename"), target, st.sampled_from(NAMES)),
    st.tuples(st.just("mkdir"), st.sampled_from(FOLDERS)),
)
batch = st.tuples(st.just("queue"), st.lists(st.tuples(
    queued_op, st.sampled_from(["high", "normal", "low"]), st.integers(0, 9)),
    min_size=1, max_size=4), st.booleans())
any_file = st.integers(0, 20)  # of the files there are, modulo their number
steps = st.lists(st.one_of(
    batch,
    st.tuples(st.just("retry"), st.integers(0, 20)),
    st.tuples(st.just("queue_upload"), st.integers(0, 2)),
    st.tuples(st.just("upload"), st.integers(0, 2)),
    st.tuples(st.just("edit"), st.integers(0, FILES - 1), st.integers(0, 9)),
    st.tuples(st.just("rename"), any_file, st.sampled_from(NAMES)),
    st.tuples(st.just("delete"), any_file),
), min_size=1, max_size=12)


@settings(max_examples=examples(25), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=steps)
def test_queued_operations_are_idempotent_and_lose_nothing(world: World, steps):
    world.run(_scenario(world, steps))


def _op(op_id: str, spec: tuple[Any, ...], priority: str, minute: int,
        ids: list[str]) -> dict[str, Any]:
    kind = spec[0]
    out: dict[str, Any] = {"id": op_id, "type": kind, "priority": priority,
                           "createdAt": f"2030-01-01T00:{minute:02d}:00Z"}
    if kind != "mkdir":
        out["fileId"] = ids[spec[1]] if spec[1] < len(ids) else "file_neverMadeHere0000"
    if kind == "move":
        out["remotePath"] = f"{spec[2]}/{spec[3]}"
    elif kind == "rename":
        out["remotePath"] = f"/docs/{spec[2]}"
    elif kind == "mkdir":
        out["remotePath"] = spec[1]
    return out


async def live(world: World, dev: Device, file_id: str) -> bool:
    r = await world.call("GET", f"/files/{file_id}", dev)
    return r.status_code == 200 and not r.json()["data"].get("deletedAt")


async def _scenario(world: World, steps: list[tuple[Any, ...]]) -> None:
    phone, laptop = await world.devices()
    acked: set[str] = set()
    ids = []
    for i in range(FILES):
        data = f"initial {i} of {phone.email}".encode()
        file_id = await world.store(laptop, data, f"f{i}.txt")
        assert file_id is not None
        ids.append(file_id)
        acked.add(checksum(data))
    r = await world.call("GET", "/sync/status", phone)
    offline_since = r.json()["data"]["nextSyncToken"]  # the phone's view before going offline
    edited: set[str] = set()  # content the laptop changed after offline_since
    uploaded: list[str] = []  # files the phone's uploads made
    sent: list[dict[str, Any]] = []  # each batch as first sent
    answered: dict[str, dict[str, Any]] = {}  # server-side op id → its first answer
    # Upload op id → (status, resultFileId) it must have: done by the first upload to its
    # path after it was sent, whatever the laptop did with that file afterwards.
    uploads: dict[str, tuple[str, str | None]] = {}
    waiting: dict[int, list[str]] = {}  # path number → its upload ops still pending
    order: list[str] = []
    for step in steps:
        if step[0] in ("queue", "retry", "queue_upload"):
            if step[0] == "queue":
                ops = [_op(f"op{len(order) + n}", spec, prio, minute, ids)
                       for n, (spec, prio, minute) in enumerate(step[1])]
                body = {"operations": ops, **({"syncToken": offline_since} if step[2] else {})}
                sent.append(body)
            elif step[0] == "queue_upload":  # the folder spelt as the upload will not be
                op_id = f"op{len(order)}"
                body = {"operations": [{"id": op_id, "type": "upload", "priority": "normal",
                                        "remotePath": f"/Up/p{step[1]}.jpg"}]}
                sent.append(body)
                uploads[op_id] = ("pending", None)
                waiting.setdefault(step[1], []).append(op_id)
            elif sent:
                body = sent[step[1] % len(sent)]  # the same request again: its answer was lost
            else:
                continue
            # A delete judged against offline_since of a file the laptop edited since must
            # not go through — unless the file is gone already or the batch touches it twice.
            targets = [op.get("fileId") for op in body["operations"]]
            guarded = {f for f in edited & set(targets) if targets.count(f) == 1
                       and await live(world, laptop, f)}
            r = await world.call("POST", "/queue/add", phone, json=body)
            assert r.status_code == 200, r.text
            for op, got in zip(body["operations"], r.json()["data"]["operations"], strict=True):
                assert got["id"] == op["id"], got
                if op["id"] not in order:
                    order.append(op["id"])
                    event(f"{op['type']} {got['status']}")  # --hypothesis-show-statistics
                if op["type"] == "upload":
                    assert (got["status"], got["resultFileId"]) == uploads[op["id"]], got
                    continue
                first = answered.setdefault(op["id"], got)
                assert {k: got[k] for k in STATE} == {k: first[k] for k in STATE}
                assert got["status"] != "pending", got
                if (first is got and op["type"] == "delete" and "syncToken" in body
                        and op["fileId"] in guarded):
                    assert got["status"] in ("conflict", "failed"), got
        elif step[0] == "upload":
            data = f"photo {step[1]} at step {len(order)} of {phone.email}".encode()
            file_id = await world.store(phone, data, f"p{step[1]}.jpg", folder="/up")
            if file_id is not None:
                acked.add(checksum(data))
                uploaded.append(file_id)
                for op_id in waiting.pop(step[1], []):
                    uploads[op_id] = ("done", file_id)
            elif world.last_answer is not None and world.last_answer["status"] == "conflict":
                # The name is taken: the ops still pending take that answer, with the
                # file in the way; an upload that gets there later still makes them done.
                for op_id in waiting.get(step[1], []):
                    if uploads[op_id][0] == "pending":
                        uploads[op_id] = ("conflict", world.last_answer["fileId"])
        elif step[0] == "edit":
            data = f"edit {step[2]} of {step[1]} by the laptop".encode()
            r = await world.call("GET", f"/files/{ids[step[1]]}", laptop)
            if await live(world, laptop, ids[step[1]]):
                if await world.store(laptop, data, r.json()["data"]["name"], ids[step[1]]):
                    acked.add(checksum(data))
                    edited.add(ids[step[1]])
        elif step[0] in ("rename", "delete"):
            pool = ids + uploaded
            change = {"action": step[0], "localId": "l", "fileId": pool[step[1] % len(pool)]}
            if step[0] == "rename":
                change["name"] = step[2]
            await world.call("POST", "/sync/files", laptop, json={"localChanges": [change]})
        assert acked <= await world.retrievable(phone.user_id)
    r = await world.call("GET", "/queue", phone)
    listed = r.json()["data"]["operations"]
    assert [o["id"] for o in listed] == order
    for o in listed:
        if o["type"] == "upload":
            assert (o["status"], o["resultFileId"]) == uploads[o["id"]], o
        else:
            assert {k: o[k] for k in STATE} == {k: answered[o["id"]][k] for k in STATE}


relocations = st.lists(st.tuples(st.sampled_from(["move", "rename"]), st.sampled_from(FOLDERS),
                                 st.sampled_from(NAMES)), min_size=1, max_size=6)


@settings(max_examples=examples(25), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=relocations, priority=st.sampled_from(["high", "normal", "low"]),
       cuts=st.sets(st.integers(1, 5)))
def test_the_phones_own_moves_end_where_its_last_one_put_the_file(world: World, ops, priority,
                                                                  cuts):
    # Alone on the file, the phone's moves and renames (offline, one after the other, sent
    # in one batch or a few, all with the token from before) end where its last one put
    # it, whatever came between: each is judged against where the phone's earlier ones
    # put the file, not where it was at the token (a rename back to the old name is one).
    world.run(_own_moves(world, ops, priority, cuts))


async def _own_moves(world: World, ops: list[tuple[str, str, str]], priority: str,
                     cuts: set[int]) -> None:
    phone, _ = await world.devices()
    file_id = await world.store(phone, f"alone {phone.email}".encode(), "a.txt")
    assert file_id is not None
    r = await world.call("GET", "/sync/status", phone)
    offline_since = r.json()["data"]["nextSyncToken"]
    at = ""
    sent = []
    for n, (kind, folder, name) in enumerate(ops):
        if kind == "rename":  # in the folder the phone last put it in
            folder = at.rpartition("/")[0] or "/docs"
        at = f"{folder}/{name}"
        sent.append({"id": f"op{n}", "type": kind, "fileId": file_id, "remotePath": at,
                     "priority": priority, "createdAt": f"2030-01-01T00:{n:02d}:00Z"})
    bounds = [0, *sorted(c for c in cuts if c < len(ops)), len(ops)]
    for start, end in itertools.pairwise(bounds):
        body = {"syncToken": offline_since, "operations": sent[start:end]}
        r = await world.call("POST", "/queue/add", phone, json=body)
        assert r.status_code == 200, r.text
        assert {o["status"] for o in r.json()["data"]["operations"]} == {"done"}, r.text
    r = await world.call("GET", f"/files/{file_id}", phone)
    got = r.json()["data"]
    folder, _, name = at.rpartition("/")
    # Folders are one whatever their case ("/Docs" is "/docs"); names are as sent.
    assert (got["folder"].casefold(), got["name"]) == (folder.casefold(), name), sent
