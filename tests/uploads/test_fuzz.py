"""I1 (names cannot escape and are normalised) and I2 (bad numbers and bodies are 4xx,
never 500) for the upload and file routes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient

from homesync.app import create_app
from homesync.services.container import Services
from homesync.store.db import fetchone
from tests.helpers import API, PASSWORD, device_info, examples, make_settings
from tests.uploads.conftest import SMALL_CHUNKS
from tests.uploads.flow import complete, file_entry, init, put_chunks, random_bytes

BAD_NAMES = ["../x", "..", ".", "", "a/b", "a\\b", "C:\\x", "\\\\srv\\s", "a\0b", "tab\there",
             "x" * 256, "é" * 128, "new\nline", "\x7f", "\ud800"]
BAD_FOLDERS = ["photos", "../x", "/a/../../x", "/a//b", "/./a", "/a/..", "C:\\x", "/a\0b",
               "/" + "/".join(["d"] * 65), "/" + "x" * 4100, "\\\\srv\\s", ""]


async def nothing_created(services) -> bool:
    row = await fetchone(services.db.reader, "SELECT (SELECT count(*) FROM uploads)"
                         " + (SELECT count(*) FROM files)")
    return row[0] == 0


@pytest.mark.parametrize("name", BAD_NAMES)
async def test_bad_names_are_400(client, services, make_user, sign_in, name):
    await make_user()
    dev = await sign_in()
    body = {"files": [file_entry(b"x", name=name)]}
    # json.dumps escapes a lone surrogate (\\ud800) the way a buggy client would send it.
    r = await client.post(f"{API}/upload/init", content=json.dumps(body),
                          headers={**dev.auth, "Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] in ("INVALID_PATH", "VALIDATION_ERROR")
    assert await nothing_created(services)


@pytest.mark.parametrize("folder", BAD_FOLDERS)
async def test_bad_folders_are_400(client, services, make_user, sign_in, folder):
    await make_user()
    dev = await sign_in()
    r = await init(client, dev.auth, file_entry(b"x", folder=folder))
    assert r.status_code == 400, r.text
    r = await client.get(f"{API}/files", params={"folder": folder}, headers=dev.auth)
    assert r.status_code == 400, r.text
    assert await nothing_created(services)


async def test_chunk_paths_only_ever_hashes(client, services, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(5000)
    r = await init(client, dev.auth, file_entry(data, name="é.jpg", folder="/ü"))
    assert r.status_code == 200
    item = r.json()["data"]["files"][0]
    await put_chunks(client, item, data, dev.auth)
    assert (await complete(client, dev.auth, item["uploadId"], data)).status_code == 200
    import re

    stored = [p for p in services.chunks.chunk_dir.rglob("*") if p.is_file()]
    assert len(stored) == item["totalChunks"]  # else the check below sees nothing
    for path in services.chunks.chunk_dir.rglob("*"):
        rel = path.relative_to(services.chunks.chunk_dir).as_posix()
        assert re.fullmatch(r"[0-9a-f]{2}(/[0-9a-f]{2}(/[0-9a-f]{64})?)?", rel), rel


def body_with(**changes: Any) -> dict[str, Any]:
    entry = file_entry(b"hello")
    options: dict[str, Any] = {"chunkSize": 4096}
    for key, value in changes.items():
        if key in ("chunkSize", "maxRetries", "wifiOnly"):
            options[key] = value
        else:
            entry[key] = value
    return {"files": [entry], "uploadOptions": options}


@pytest.mark.parametrize("changes", [
    {"size": -1}, {"size": 2**63}, {"size": "10"}, {"size": 1.5}, {"size": None},
    {"size": 200 * 2**30},                      # over max_file_size → 413
    {"chunkSize": -1}, {"chunkSize": "big"}, {"maxRetries": -1}, {"maxRetries": 10**9},
    {"wifiOnly": "yes"}, {"priority": "urgent"}, {"checksum": "md5:abc"},
    {"checksum": "sha256:" + "g" * 64}, {"mimeType": "image/jpeg\r\nX-Evil: 1"},
    {"mimeType": "not a type"}, {"localId": ""}, {"localId": "x" * 201}, {"fileId": ""},
    {"role": "admin"},
])
async def test_bad_init_values_are_4xx(client, services, make_user, sign_in, changes):
    await make_user()
    dev = await sign_in()
    r = await client.post(f"{API}/upload/init", json=body_with(**changes), headers=dev.auth)
    assert 400 <= r.status_code < 500, (changes, r.status_code, r.text)
    assert r.json()["success"] is False and r.json()["error"]["code"]
    assert await nothing_created(services)


async def test_bad_bodies_are_4xx(client, services, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    headers = {**dev.auth, "Content-Type": "application/json"}
    cases = [
        b"", b"not json", b"\xff\xfe\xfd", b"[" * 100_000 + b"]" * 100_000,
        json.dumps({"files": []}).encode(),
        json.dumps({"files": [file_entry(b"x", localId=f"l{i}", name=f"n{i}")
                              for i in range(101)]}).encode(),
        json.dumps({"files": [file_entry(b"x"), file_entry(b"y", name="other")]}).encode(),
        b'{"files": "' + b"a" * (5 * 2**20) + b'"}',
    ]
    for raw in cases:
        r = await client.post(f"{API}/upload/init", content=raw, headers=headers)
        assert 400 <= r.status_code < 500, (raw[:40], r.status_code, r.text[:200])
        assert r.json()["success"] is False
    for path, raw in ((f"{API}/upload/progress", b'{"uploadId": 5}'),
                      (f"{API}/upload/progress", b'{"uploadId": "u", "status": "done"}'),
                      (f"{API}/upload/complete", b'{"uploadId": "u"}'),
                      (f"{API}/upload/complete", b'{"uploadId": "u", "checksum": "x", "metadata": 3}'),
                      (f"{API}/upload/complete",
                       b'{"uploadId": "\\ud800", "checksum": "sha256:' + b"a" * 64 + b'"}')):
        r = await client.post(path, content=raw, headers=headers)
        assert r.status_code in (400, 404), (path, raw, r.text)
    assert await nothing_created(services)


# -- property-based: arbitrary bodies never make a 500 ------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
file_dicts = st.fixed_dictionaries(
    {},
    optional={"localId": json_values | st.text(max_size=10), "name": st.text(max_size=40),
              "folder": st.text(max_size=40).map(lambda s: "/" + s) | json_values,
              "size": st.integers(min_value=-5, max_value=2**64) | json_values,
              "mimeType": json_values, "checksum": st.just("sha256:" + "a" * 64) | json_values,
              "priority": st.sampled_from(["high", "normal", "low", "x"]), "fileId": json_values},
)
init_bodies = st.fixed_dictionaries(
    {"files": st.lists(file_dicts, max_size=3)},
    optional={"uploadOptions": st.dictionaries(
        st.sampled_from(["wifiOnly", "chunkSize", "maxRetries", "other"]), json_values)},
) | json_values


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, dict[str, str]]]:
    """One server for every generated example (a loop of its own: Hypothesis is sync).

    Without the per-device request limit: past its burst of 60 every example would be
    answered 429 before its body was even read, and test nothing."""
    loop = asyncio.new_event_loop()
    data_dir: Path = tmp_path_factory.mktemp("fuzz") / "data"

    async def setup() -> tuple[Services, Any, dict[str, str]]:
        services = await Services.open(make_settings(data_dir, uploads=SMALL_CHUNKS,
                                                     auth={"api_requests_per_second": 0}))
        await services.accounts.create_user("fuzz@example.com", PASSWORD)
        client = AsyncTestClient(app=create_app(services.settings, services),
                                 base_url="http://testserver.local")
        await client.__aenter__()
        r = await client.post(f"{API}/auth/register", json={
            "email": "fuzz@example.com", "password": PASSWORD, "deviceInfo": device_info()})
        return services, client, {"Authorization": f"Bearer {r.json()['tokens']['accessToken']}"}

    services, client, auth = loop.run_until_complete(setup())
    yield loop, client, auth
    loop.run_until_complete(client.__aexit__(None, None, None))
    loop.run_until_complete(services.close())
    loop.close()


@settings(max_examples=examples(150), deadline=None, suppress_health_check=list(HealthCheck))
@given(body=init_bodies)
def test_init_never_500(fuzz_env, body):
    loop, client, auth = fuzz_env
    r = loop.run_until_complete(client.post(f"{API}/upload/init", json=body, headers=auth))
    assert r.status_code < 500, (body, r.text)
    assert r.json()["success"] is (r.status_code == 200)


@settings(max_examples=examples(100), deadline=None, suppress_health_check=list(HealthCheck))
@given(upload_id=st.text(max_size=40), index=st.text(max_size=12),
       query=st.dictionaries(st.sampled_from(["exp", "sig", "x"]), st.text(max_size=20)),
       content_range=st.none() | st.text(max_size=40))
def test_chunk_put_never_500(fuzz_env, upload_id, index, query, content_range):
    loop, client, auth = fuzz_env
    headers = dict(auth)
    if content_range is not None and content_range.isascii() and content_range.isprintable():
        headers["Content-Range"] = content_range
    from urllib.parse import quote

    path = f"{API}/upload/chunk/{quote(upload_id, safe='') or 'x'}/{quote(index, safe='') or '0'}"
    for url in (path, path.rsplit("/", 1)[0]):
        r = loop.run_until_complete(client.put(url, params=query, content=b"abc", headers=headers))
        assert r.status_code < 500, (url, r.text)
