"""I1/I2 over every route: bad input is a 4xx in the contract's envelope and changes nothing.

tests/uploads/test_fuzz.py throws random bodies at upload/init and the chunk PUT; this walks
the whole route table. Each example takes a route's valid request and breaks one thing about
it: a body field (null, arrays and objects where scalars go, huge, negative and float
numbers, NaN/Infinity, NUL, a lone surrogate, very long text, RTL and combining marks,
NFC/NFD pairs), the body as a whole (duplicate keys, empty, not JSON, a wrong Content-Type),
a query parameter (with invalid percent-encoded UTF-8 too), a path parameter (very long,
non-ASCII, encoded NUL and slashes) or a header (If-None-Match, Range, Content-Range,
X-Chunk-Checksum, Authorization, with odd bytes). Every answer is below 500; every error is
exactly ``{"success": false, "error": {"code", "message", "details"}}``; an error leaves
every row of the database as it was; and when an odd body is let in, what it stored breaks
no read (every listing, in JSON and in MessagePack).

``test_every_route_has_a_fuzz_case`` fails when a route is added without a case here.
``PROPERTY_EXAMPLES_SCALE`` runs more examples (see tests.helpers.examples).
"""

from __future__ import annotations

import asyncio
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from homesync.app import create_app
from homesync.services.container import Services
from tests.auth_helpers import FrozenClock
from tests.helpers import API, PASSWORD, Device, device_from, device_info, examples, make_settings
from tests.sync.helpers import change, checksum, pull, push, store
from tests.uploads.conftest import SMALL_CHUNKS
from tests.uploads.flow import file_entry, init, put_chunks

PENDING = bytes(range(256)) * 24  # two 4 KiB chunks, the second one short

# -- odd values -------------------------------------------------------------------------

NFC, NFD = unicodedata.normalize("NFC", "é.txt"), unicodedata.normalize("NFD", "é.txt")
ODD_TEXT = [
    "", " ", "\x00", "a\x00b", "\ud800", "a\udfffb", "x" * 5000, "é" * 3000, "\u202egnp.exe",
    "e\u0301" * 50, NFC, NFD, "\u200b", "\ufeff", "../..", "/", "//", "/a/../..", "\\", "C:\\x",
    "\n", "\r\n", "\t", "\x7f", "\U0001f600", "%00", "%ff", "null", "true", "0", "-1", "1e999",
    "NaN", "sha256:" + "a" * 64, "sha256:" + "G" * 64, "2024-01-20T15:30:00Z",
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "99999-01-01T00:00:00Z",
]
ODD_NUMBERS = [0, -1, 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**30,
               -(10**30), 1.5, -0.0, 1e308, -1e308, 5e-324, float("nan"), float("inf"),
               float("-inf")]
# What only a MessagePack body can carry: bytes, map keys that are not strings, timestamps.
MSGPACK_ODD = [b"\x00\xff", {None: 1}, {1: "a"}, {True: {}}, {1.5: None}, {b"k": 1},
               {(1, 2): 3}, datetime(2024, 1, 20, tzinfo=UTC), msgspec.msgpack.Ext(5, b"x")]
odd_scalars = st.one_of(st.sampled_from([None, True, False, [], {}, *MSGPACK_ODD]),
                       st.sampled_from(ODD_NUMBERS), st.sampled_from(ODD_TEXT),
                       st.integers(), st.floats(), st.text(max_size=40))
odd_values = st.recursive(
    odd_scalars,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)

# Header values as bytes: latin-1 bytes past ASCII, controls, very long ones.
ODD_HEADER = [b"", b" ", b"\x80\xff", b"\xc3\xa9", b"\x01\x02", b"a" * 9000, b'"', b'W/"', b"*",
              b'"a", W/"b", *', b"bytes=0-0", b"bytes=-1", b"bytes=0-", b"bytes=5-1",
              b"bytes=99999999999999999999999-", b"bytes=0-99999999999999999999999",
              b"bytes=-99999999999999999999999", b"bytes=0-0,1-1,2-2,3-3,4-4,5-5",
              b"bytes=\xff-1", b"bytes 0-4095/6144", b"bytes 0-4095/*", b"bytes */6144",
              b"bytes 99999999999999999999-1/2", b"bytes -1-5/6144", b"bytes 0-4095/-1",
              b"sha256:" + b"a" * 64, b"sha256:" + b"A" * 64, b"sha256:", b"md5:x",
              b"Bearer", b"Bearer ", b"Bearer a.b.c", b"Bearer \xff", b"Basic Zm9vOmJhcg==",
              b"Sat, 29 Feb 2025 00:00:00 GMT", b"Mon, 01 Jan 0001 00:00:00 GMT",
              b"Fri, 31 Dec 9999 23:59:59 GMT", b"99999999999", b"-1", b"0", b"1e3"]
odd_header_values = st.sampled_from(ODD_HEADER) | st.binary(max_size=40).map(
    lambda b: b.replace(b"\r", b"").replace(b"\n", b""))

# Query and path values, already percent-encoded: invalid UTF-8 and encoded NUL too.
ODD_ENCODED = ["%00", "%FF", "%ED%A0%80", "%C3", "%2F", "%2F..%2F..", "%25", "%", "%zz", "+",
               "%E2%80%AE", "a%00b", "x" * 5000, "%C3%A9" * 1000]


def encoded(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


odd_encoded = st.sampled_from(ODD_ENCODED) | st.sampled_from(ODD_TEXT).map(encoded) \
    | st.text(max_size=30).map(encoded) | st.integers().map(str) \
    | st.sampled_from(ODD_NUMBERS).map(lambda n: encoded(str(n)))

# -- the routes, each with a valid request to break --------------------------------------


@dataclass
class World:
    """Alice's things, made once for every example: her phone makes the requests."""

    services: Services
    phone: Device
    laptop: Device
    bob: Device  # Alice shares /docs with him
    ids: dict[str, str] = field(default_factory=dict)
    now: float = 0.0  # the frozen clock's time
    made: int = 0  # uploads made ready for upload/complete
    rows: dict[str, list[str]] | None = None  # the database as the last error left it


@dataclass(frozen=True)
class Case:
    """A route's valid request: path parameters, query, body, headers (``{id}`` names an id
    of ``World.ids``). ``gentle`` routes may get Alice's real ids: sending them again
    does no harm to the next example (the others get made-up ids only)."""

    params: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    gentle: bool = True


SIGNED = {"X-Chunk-Checksum": checksum(PENDING[:4096])}
CASES: dict[str, Case] = {
    "POST /auth/register": Case(body={"email": "nobody@example.com", "password": "wrong",
                                      "deviceInfo": device_info("fuzz-install")}),
    "POST /auth/refresh": Case(body={"refreshToken": "rt_nope", "deviceId": "app-install-1"}),
    "POST /auth/logout": Case(gentle=False),
    "GET /devices": Case(),
    "PUT /devices/{device_id}/settings": Case(
        params={"device_id": "{laptop}"},
        body={"autoUpload": True, "backgroundSync": True, "wifiOnly": False,
              "uploadQuality": "original", "syncFolders": ["/docs"], "maxCacheSize": 1024}),
    "DELETE /devices/{device_id}": Case(params={"device_id": "{laptop}"}, gentle=False),
    "POST /notifications/register": Case(body={
        "deviceId": "app-install-1", "pushToken": None, "platform": "android",
        "preferences": {"uploads": True, "shares": True, "storage": True, "security": True,
                        "quietHours": {"enabled": True, "start": "22:00", "end": "07:00",
                                       "timezone": "Europe/Berlin"}}}),
    "GET /notifications/preferences": Case(),
    "PUT /notifications/preferences": Case(body={
        "uploads": True, "quietHours": {"enabled": False, "start": "23:00", "end": "06:30",
                                        "timezone": "UTC"}}),
    "GET /notifications": Case(query={"unread": "true", "category": "security", "limit": "5"}),
    "POST /notifications/read-all": Case(),
    "POST /notifications/{notification_id}/read": Case(
        params={"notification_id": "{notification}"}),
    "POST /upload/init": Case(body={"files": [file_entry(b"fuzz", name="f.bin", folder="/up"),
                                              file_entry(b"fuzz 2", name="g.bin", folder="/up",
                                                         local_id="local_2")],
                                    "uploadOptions": {"wifiOnly": True, "chunkSize": 4096,
                                                      "maxRetries": 3}}),
    "PUT /upload/chunk/{upload_id}/{index}": Case(params={"upload_id": "{upload}", "index": "0"},
                                                  body=PENDING[:4096], headers=SIGNED),
    "PUT /upload/chunk/{upload_id}": Case(params={"upload_id": "{upload}"}, body=PENDING[:4096],
                                          headers={"Content-Range": "bytes 0-4095/6144",
                                                   "X-Chunk-Index": "0", **SIGNED}),
    "GET /upload/{upload_id}": Case(params={"upload_id": "{upload}"}),
    "DELETE /upload/{upload_id}": Case(params={"upload_id": "{upload}"}, gentle=False),
    "POST /upload/progress": Case(body={"uploadId": "{upload}", "status": "uploading",
                                        "completedChunks": [0, 1], "bytesUploaded": 6144}),
    "POST /upload/complete": Case(body={"uploadId": "{ready}", "checksum": "{ready_checksum}",
                                        "metadata": {"capturedAt": "2024-01-20T15:30:00Z",
                                                     "location": {"lat": 1.5, "lon": 2}}}),
    "GET /files": Case(query={"folder": "/docs", "limit": "10"}),
    "GET /files/{file_id}": Case(params={"file_id": "{file}"}),
    "GET /files/{file_id}/content": Case(params={"file_id": "{file}"}, headers={
        "Range": "bytes=0-2", "If-None-Match": '"x"', "If-Range": '"x"',
        "If-Modified-Since": "Sat, 20 Jan 2024 15:30:00 GMT"}),
    "HEAD /files/{file_id}/content": Case(params={"file_id": "{file}"}, headers={
        "Range": "bytes=1-", "If-Match": "*", "If-Unmodified-Since": "Sat, 20 Jan 2024 15:30:00 GMT"}),
    "GET /files/{file_id}/versions": Case(params={"file_id": "{file}"}),
    "POST /files/{file_id}/versions/{version_id}/restore": Case(
        params={"file_id": "{file}", "version_id": "{old_version}"}, gentle=False),
    "GET /sync/status": Case(query={"syncToken": "{token}", "lastSync": "2024-01-20T15:30:00Z",
                                    "limit": "5", "wait": "0"}),
    "POST /sync/files": Case(body={"syncToken": "{token}", "localChanges": [
        change("rename", "l1", fileId="{file}", name="a.txt"),
        change("upload", "l2", name="n.txt", folder="/docs", size=4,
               checksum="sha256:" + "c" * 64, lastModified="2024-01-20T15:30:00Z",
               mimeType="text/plain"),
        change("mkdir", "l3", name="new", folder="/docs")]}),
    "GET /conflicts": Case(),
    "POST /conflicts/resolve": Case(body={"conflicts": [{
        "conflictId": "{conflict}", "resolution": "keep_both", "fileId": "{conflicted_file}",
        "localData": {"name": "n.txt", "folder": "/docs", "modifiedAt": "2024-01-20T15:30:00Z",
                      "checksum": "sha256:" + "d" * 64, "size": 3}}]}, gentle=False),
    "POST /queue/add": Case(body={"syncToken": "{token}", "operations": [{
        "id": "op_fuzz", "type": "move", "localPath": "/sdcard/a.txt", "remotePath": "/x/a.txt",
        "fileId": "{file}", "priority": "high", "createdAt": "2024-01-20T15:00:00Z"}, {
        "id": "op_fuzz2", "type": "mkdir", "remotePath": "/x/new", "priority": "low"}]},
        gentle=False),
    "GET /queue": Case(query={"status": "pending", "limit": "5"}),
    "DELETE /queue/{op_id}": Case(params={"op_id": "{op}"}, gentle=False),
    "GET /trash": Case(query={"limit": "5", "offset": "0"}),
    "POST /trash/{file_id}/restore": Case(params={"file_id": "{trashed}"}, gentle=False),
    "DELETE /trash/{file_id}": Case(params={"file_id": "{trashed}"}, gentle=False),
    "POST /shares": Case(body={"fileId": "{file}", "email": "bob@example.com",
                               "permission": "read"}, gentle=False),
    "GET /shares": Case(),
    "DELETE /shares/{share_id}": Case(params={"share_id": "{share}"}, gentle=False),
    "GET /shares/{share_id}/files": Case(params={"share_id": "{share}"},
                                         query={"folder": "/", "limit": "5"}),
}
# What the unbroken request of a case gets, when not 200.
ACCEPTED: dict[str, tuple[int, ...]] = {
    "POST /auth/register": (401,), "POST /auth/refresh": (401,),
    "POST /shares": (201,), "GET /files/{file_id}/content": (200, 206),
    "HEAD /files/{file_id}/content": (206,),
    **{k: (404,) for k, case in CASES.items() if case.params and not case.gentle},
}
ROOT_CASES = {"GET /healthz": Case(), "GET /readyz": Case(),
              "HEAD /healthz": Case(), "HEAD /readyz": Case()}


def _route_keys() -> set[str]:
    """Every "METHOD /path" the app serves (path types stripped, the mobile prefix too)."""
    app = create_app(make_settings(Path("/nonexistent-fuzz-data")))
    keys: set[str] = set()
    for route in app.routes:
        assert isinstance(route, HTTPRoute), f"{route.path}: not an HTTP route"
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path).removeprefix(API)
        for handler in route.route_handlers:
            keys.update(f"{method} {path}" for method in handler.http_methods
                        if method != "OPTIONS")
    return keys


def test_every_route_has_a_fuzz_case() -> None:
    assert _route_keys() == CASES.keys() | ROOT_CASES.keys()


# -- the world and its state ------------------------------------------------------------

async def _make_world(data_dir: Path) -> tuple[World, AsyncTestClient[Any]]:
    # No per-device request limit (past its burst every example would be a 429 that tests
    # nothing), nor a per-address login limit, for the same reason; no long polls either
    # (a made-up wait=299 would hold an example for minutes).
    services = await Services.open(make_settings(
        data_dir, uploads=SMALL_CHUNKS, storage={"disk_reserve": "0"}, sync={"max_wait": 0},
        auth={"api_requests_per_second": 0, "login_failures_per_ip": 10**9,
              "login_free_failures": 10**9, "refresh_per_minute": 0}))
    client = AsyncTestClient(app=create_app(services.settings, services),
                             base_url="http://testserver.local")
    await client.__aenter__()
    for email, name in (("alice@example.com", "Alice Liddell"), ("bob@example.com", "Bob")):
        await services.accounts.create_user(email, PASSWORD, name=name)

    async def sign_in(client_id: str, email: str = "alice@example.com") -> Device:
        r = await client.post(f"{API}/auth/register", json={
            "email": email, "password": PASSWORD, "deviceInfo": device_info(client_id)})
        assert r.status_code in (200, 201), r.text
        return device_from(r.json(), email, client_id)

    laptop = await sign_in("alice-laptop")
    phone = await sign_in("app-install-1")
    w = World(services, phone, laptop, await sign_in("bob-phone", "bob@example.com"))
    ids = w.ids
    ids["laptop"] = laptop.device_id
    ids["file"] = await store(client, phone, b"first", name="a.txt")
    await store(client, phone, b"second", name="a.txt", file_id=ids["file"])
    r = await client.get(f"{API}/files/{ids['file']}/versions", headers=phone.auth)
    ids["old_version"] = r.json()["data"]["versions"][1]["id"]
    ids["trashed"] = await store(client, phone, b"bin me", name="gone.txt")
    await push(client, phone, None, change("delete", fileId=ids["trashed"]))
    # A conflict: the laptop edits notes.txt while the phone edits a stale copy.
    ids["conflicted_file"] = await store(client, laptop, b"original", name="notes.txt")
    stale = (await pull(client, phone))["nextSyncToken"]
    await store(client, laptop, b"laptop's edit", name="notes.txt", file_id=ids["conflicted_file"])
    out = await push(client, phone, stale, change(
        "upload", name="notes.txt", folder="/docs", fileId=ids["conflicted_file"], size=3,
        checksum="sha256:" + "e" * 64))
    ids["conflict"] = str(out["results"][0]["conflictId"])
    await store(client, phone, b"up", name="up.txt", folder="/up")  # where uploads go
    r = await init(client, phone.auth, file_entry(PENDING, name="pending.bin", folder="/up"))
    ids["upload"] = r.json()["data"]["files"][0]["uploadId"]
    r = await client.post(f"{API}/queue/add", headers=phone.auth, json={"operations": [
        {"id": "op_a", "type": "upload", "createdAt": "2024-01-20T15:00:00Z",
         "localPath": "/sdcard/later.txt", "remotePath": "/later/later.txt"}]})
    ids["op"] = "op_a"
    r = await client.get(f"{API}/notifications", headers=phone.auth)
    ids["notification"] = r.json()["data"]["notifications"][0]["id"]
    r = await client.get(f"{API}/files", headers=phone.auth)
    docs = next(f["id"] for f in r.json()["data"]["files"] if f["name"] == "docs")
    r = await client.post(f"{API}/shares", headers=phone.auth, json={
        "fileId": docs, "email": "bob@example.com", "permission": "read"})
    ids["share"] = r.json()["data"]["share"]["id"]
    ids["token"] = (await pull(client, phone))["nextSyncToken"]
    await ready_upload(client, w)
    return w, client


async def ready_upload(client: AsyncTestClient[Any], world: World) -> None:
    """An upload with every byte sent, for upload/complete: a new one once that let one
    in, so that each example's metadata may be stored (completing again answers the
    first completion)."""
    world.made += 1
    data = b"ready %d" % world.made
    r = await init(client, world.phone.auth, file_entry(data, name=f"r{world.made}.bin",
                                                        folder="/up"))
    entry = r.json()["data"]["files"][0]
    await put_chunks(client, entry, data)
    world.ids["ready"], world.ids["ready_checksum"] = entry["uploadId"], checksum(data)


@pytest.fixture(scope="module")
def fuzz_world(tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[tuple[asyncio.AbstractEventLoop, AsyncTestClient[Any], World]]:
    """One server for every example, on a loop of its own (Hypothesis is sync)."""
    loop = asyncio.new_event_loop()
    frozen = FrozenClock()
    world, client = loop.run_until_complete(_make_world(tmp_path_factory.mktemp("fuzz") / "data"))
    world.now = frozen.now
    yield loop, client, world
    loop.run_until_complete(client.__aexit__(None, None, None))
    loop.run_until_complete(world.services.close())
    loop.close()


async def _rows(services: Services) -> dict[str, list[str]]:
    tables = await services.db.fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    return {t[0]: sorted(repr(tuple(row)) for row in
                       await services.db.fetchall(f'SELECT * FROM "{t[0]}"'))
            for t in tables}


# -- breaking a request -----------------------------------------------------------------

@dataclass
class Request:
    method: str
    url: str
    headers: dict[str, Any]
    content: bytes | None
    odd_body: bool = False  # a body with an odd value in it (what a success may store)


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return re.sub(r"\{(\w+)\}", lambda m: ids.get(m[1], m[0]), value)
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _spots(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Where a value may be replaced: every key and index of a JSON body, nested too."""
    spots = [at]
    if isinstance(value, dict):
        for k, v in value.items():
            spots += _spots(v, (*at, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            spots += _spots(v, (*at, i))
    return spots


def _replaced(value: Any, at: tuple[Any, ...], new: Any) -> Any:
    if not at:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[at[0]] = _replaced(value[at[0]], at[1:], new)
    return copy


def _dumps(body: Any, duplicate: tuple[str, Any] | None) -> bytes:
    """JSON as a careless client may write it: NaN and Infinity as bare words, a lone
    surrogate as its \\u escape, and maybe a key twice."""
    text = json.dumps(body, ensure_ascii=True, skipkeys=True, default=repr)
    if duplicate is not None and text.startswith("{") and len(text) > 2:
        key, value = duplicate
        text = text[:-1] + f", {json.dumps(key)}: {json.dumps(value, skipkeys=True, default=repr)}" + "}"
    return text.encode()


def _msgpack(body: Any) -> bytes | None:
    """MessagePack, which carries what JSON cannot (see ``MSGPACK_ODD``); None when even it
    has no form for the value (a lone surrogate, an integer past 64 bits)."""
    try:
        return msgspec.msgpack.encode(body)
    except (TypeError, OverflowError, UnicodeEncodeError):
        return None


ODD_BODIES = [b"", b"{", b"[]", b"null", b"0", b'"x"', b"{}", b"\xff\xfe", b"\x00", b'{"a": NaN}',
              b'{"\\ud800": 1}', b"\x91" * 10000, b"[" * 10000, b" " * 10000]
CONTENT_TYPES: list[str | bytes] = ["application/json", "", "text/plain", "application/msgpack",
                 "application/json; charset=latin-1", "application/x-www-form-urlencoded",
                 "multipart/form-data; boundary=x", "application/octet-stream", b"\x80\xff",
                 "application/problem+json", "APPLICATION/JSON"]
FUZZ_HEADERS = ["If-None-Match", "If-Match", "If-Range", "If-Modified-Since",
                "If-Unmodified-Since", "Range", "Content-Range", "X-Chunk-Checksum",
                "X-Chunk-Index", "Authorization", "Accept", "X-Forwarded-For"]


@dataclass
class Parts:
    """A request before it is written: what a breaking step changes."""

    key: str
    params: dict[str, str]
    query: list[tuple[str, str]]  # percent-encoded values; a name may come twice
    body: Any
    headers: dict[str, Any]
    raw: bytes | None = None  # the body as sent, when not written from ``body``
    duplicate: tuple[str, Any] | None = None  # a key to write twice

    def request(self, encode: Any = None, odd_body: bool = False) -> Request:
        method, template = self.key.split(" ", 1)
        headers, raw = dict(self.headers), self.raw
        if raw is None and isinstance(self.body, bytes):
            raw = self.body
        elif raw is None and self.body is not None:
            raw = encode(self.body) if encode else None
            if raw is None:
                raw = _dumps(self.body, self.duplicate)
                headers.setdefault("Content-Type", "application/json")
            else:
                headers.setdefault("Content-Type", "application/msgpack")
        prefix = "" if self.key in ROOT_CASES else API
        url = prefix + template.format(**self.params)
        if self.query:
            url += "?" + "&".join(f"{k}={v}" for k, v in self.query)
        return Request(method, url, headers, raw, odd_body)


def unbroken(key: str, world: World) -> Parts:
    case = {**CASES, **ROOT_CASES}[key]
    ids = world.ids
    return Parts(key, params={k: _fill(v, ids) if case.gentle else "made_up"
                              for k, v in case.params.items()},
                 query=[(k, quote(_fill(v, ids), safe="")) for k, v in case.query.items()],
                 body=_fill(case.body, ids), headers={**world.phone.auth, **case.headers})


@st.composite
def broken_requests(draw: st.DrawFn, key: str, world: World) -> Request:
    """``key``'s valid request with one thing broken."""
    case = {**CASES, **ROOT_CASES}[key]
    parts = unbroken(key, world)
    what = draw(st.sampled_from(["body", "whole body", "query", "path", "header"]))
    if not case.gentle and not case.params:
        what = "header"  # logout: a request that works would sign the phone out
    if what == "body" and isinstance(parts.body, (dict, list)):
        at = draw(st.sampled_from(_spots(parts.body)))
        if at and len(at) == 1 and isinstance(parts.body, dict) and draw(st.booleans()):
            parts.body = {k: v for k, v in parts.body.items() if k != at[0]}  # left out
        else:
            parts.body = _replaced(parts.body, at, draw(odd_values))
        if isinstance(parts.body, dict) and parts.body and draw(st.integers(0, 4)) == 0:
            parts.duplicate = (draw(st.sampled_from(sorted(parts.body))), draw(odd_values))
    elif what in ("body", "whole body"):
        parts.raw = draw(st.sampled_from(ODD_BODIES) | st.binary(max_size=64))
        parts.headers["Content-Type"] = draw(st.sampled_from(CONTENT_TYPES))
    elif what == "query":
        names = [*case.query, "folder", "limit", "cursor", "syncToken", "wait", "x"]
        for _ in range(draw(st.integers(1, 3))):
            name, value = draw(st.sampled_from(names)), draw(odd_encoded)
            if draw(st.booleans()):  # in place of the valid one, else beside it
                parts.query = [(k, v) for k, v in parts.query if k != name]
            parts.query.append((name, value))
    elif what == "path" and case.params:
        parts.params[draw(st.sampled_from(sorted(parts.params)))] = draw(
            odd_encoded | st.sampled_from([quote(v, safe="") + "x" for v in world.ids.values()]))
    else:
        name = draw(st.sampled_from(FUZZ_HEADERS) if case.gentle or case.params
                    else st.just("Authorization"))
        value = draw(odd_header_values)
        if name == "Authorization" and draw(st.booleans()):
            value = b"Bearer " + value
        parts.headers[name] = value
    if draw(st.integers(0, 3)) == 0:  # the answer (an error too) in MessagePack
        parts.headers.setdefault("Accept", "application/msgpack")
    return parts.request(_msgpack if draw(st.integers(0, 3)) == 0 else None,
                         odd_body=what == "body")


# -- the property -----------------------------------------------------------------------

def _is_envelope(body: Any) -> bool:
    if not isinstance(body, dict) or set(body) != {"success", "error"} or body["success"] is not False:
        return False
    error = body["error"]
    return isinstance(error, dict) and set(error) == {"code", "message", "details"} and \
        isinstance(error["code"], str) and error["code"] != "" and \
        isinstance(error["message"], str) and isinstance(error["details"], dict)


def _reads(world: World) -> list[tuple[Device, str]]:
    """What the phones show: every listing, and the things the world's ids name."""
    ids = world.ids
    return [(world.phone, f"{API}/{path}") for path in (
        "devices", "files", "files?folder=/docs", "files?folder=/up", "sync/status", "conflicts", "queue", "trash",
        "shares", "notifications", "notifications/preferences", f"upload/{ids['upload']}",
        f"files/{ids['file']}", f"files/{ids['file']}/versions")] + [
        (world.laptop, f"{API}/sync/status"), (world.laptop, f"{API}/devices"),
        (world.bob, f"{API}/shares"), (world.bob, f"{API}/shares/{ids['share']}/files"),
        (world.bob, f"{API}/sync/status")]


def reads_still_work(loop: asyncio.AbstractEventLoop, client: AsyncTestClient[Any],
                     world: World, shown: Any) -> None:
    """A write that was let in stored nothing that breaks a read, in either encoding (as a
    timestamp outside the years 1-9999 once broke every GET /sync/status showing it, and
    a metadata integer past 64 bits every MessagePack answer showing its file)."""
    for device, url in _reads(world):
        for accept in ("application/json", "application/msgpack"):
            r = loop.run_until_complete(client.get(url, headers={**device.auth,
                                                                 "Accept": accept}))
            assert r.status_code == 200, ("after", shown, accept, url, r.status_code, r.text[:300])


def check(loop: asyncio.AbstractEventLoop, client: AsyncTestClient[Any], world: World,
          request: Request) -> None:
    before = world.rows or loop.run_until_complete(_rows(world.services))
    world.rows = None
    r = _send(loop, client, request)
    shown = (request.method, request.url[:300], {k: v for k, v in request.headers.items()
                                                 if k != "Authorization" or v != world.phone.auth[k]},
             (request.content or b"")[:300])
    assert r.status_code < 500, (shown, r.status_code, r.text[:500])
    if r.status_code < 400:
        if request.odd_body:
            reads_still_work(loop, client, world, shown)
        if request.url.startswith(f"{API}/upload/complete"):
            loop.run_until_complete(ready_upload(client, world))
        return
    if request.method != "HEAD":
        accept = request.headers.get("Accept", b"")
        msgpack = "msgpack" in (accept.decode("latin-1") if isinstance(accept, bytes) else accept)
        media_type = "application/msgpack" if msgpack else "application/json"
        assert r.headers.get("content-type", "").startswith(media_type), \
            (shown, r.status_code, r.headers, r.text[:300])
        body = msgspec.msgpack.decode(r.content) if msgpack else r.json()
        assert _is_envelope(body), (shown, r.status_code, r.text[:500])
    after = world.rows = loop.run_until_complete(_rows(world.services))
    changed = {t: (sorted(set(before[t]) - set(after[t]))[:3], sorted(set(after[t]) - set(before[t]))[:3])
               for t in before if before[t] != after.get(t)}
    assert not changed, (shown, r.status_code, r.text[:300], changed)


def _send(loop: asyncio.AbstractEventLoop, client: AsyncTestClient[Any],
          request: Request) -> Any:
    return loop.run_until_complete(client.request(request.method, request.url,
                                                  headers=request.headers,
                                                  content=request.content))


@pytest.mark.parametrize("key", sorted(CASES) + sorted(ROOT_CASES))
def test_broken_requests_get_4xx_envelopes_and_change_nothing(fuzz_world: Any, key: str) -> None:
    loop, client, world = fuzz_world
    # A frozen clock (conftest puts the real one back after each test): a device's
    # last-seen time does not move between two snapshots.
    FrozenClock(world.now)
    world.rows = None
    # The unbroken request is let in (the phone's token works, the ids are live), so what
    # a broken one gets is about what was broken. Logout's would sign the phone out.
    valid = unbroken("GET /devices" if key == "POST /auth/logout" else key, world).request()
    r = _send(loop, client, valid)
    assert r.status_code in ACCEPTED.get(key, (200,)), (key, r.status_code, r.text)

    @settings(max_examples=examples(4), deadline=None, suppress_health_check=list(HealthCheck),
              database=None)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        check(loop, client, world, data.draw(broken_requests(key, world)))

    run()
