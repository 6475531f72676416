"""Range downloads as a property: any file size (0, chunk multiples, ±1 around chunk
boundaries) and any Range header give exactly RFC 9110's answer, on GET and HEAD."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient

from homesync.app import create_app
from homesync.services.container import Services
from tests.helpers import API, PASSWORD, device_info, examples, make_settings
from tests.uploads.conftest import SMALL_CHUNKS
from tests.uploads.flow import random_bytes, upload

CHUNK = 4096
SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 5]


@pytest.fixture(scope="module")
def files_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, ...]]:
    """One server with one file of each size (a loop of its own: Hypothesis is sync)."""
    loop = asyncio.new_event_loop()
    data_dir: Path = tmp_path_factory.mktemp("ranges") / "data"

    async def setup() -> tuple[Services, Any, dict[str, str], dict[int, tuple[str, bytes]]]:
        services = await Services.open(make_settings(data_dir, uploads=SMALL_CHUNKS,
                                                     auth={"api_requests_per_second": 0}))
        await services.accounts.create_user("ranges@example.com", PASSWORD)
        client = AsyncTestClient(app=create_app(services.settings, services),
                                 base_url="http://testserver.local")
        await client.__aenter__()
        r = await client.post(f"{API}/auth/register", json={
            "email": "ranges@example.com", "password": PASSWORD, "deviceInfo": device_info()})
        auth = {"Authorization": f"Bearer {r.json()['tokens']['accessToken']}"}
        stored = {}
        for size in SIZES:
            data = random_bytes(size)
            done = await upload(client, auth, data, name=f"f{size}.bin", local_id=f"l{size}")
            stored[size] = (f"{API}/files/{done['fileId']}/content", data)
        return services, client, auth, stored

    services, client, auth, stored = loop.run_until_complete(setup())
    yield loop, client, auth, stored
    loop.run_until_complete(client.__aexit__(None, None, None))
    loop.run_until_complete(services.close())


# Positions near the interesting places: 0, chunk boundaries, every file's end, far out.
positions = st.sampled_from(sorted({p + d for p in [0, *SIZES, 2 * CHUNK]
                                    for d in (-1, 0, 1) if p + d >= 0})) \
    | st.integers(min_value=0, max_value=4 * CHUNK) | st.just(10**25)
unit = st.sampled_from(["bytes", "Bytes", "BYTES"])
ranges = (
    st.tuples(st.just("closed"), unit, positions, positions)
    | st.tuples(st.just("open"), unit, positions, st.none())
    | st.tuples(st.just("suffix"), unit, st.none(), positions)
)
ignored = st.sampled_from([
    "bytes=0-1,5-6", "bytes=-", "bytes=", "items=0-5", "bytes 0-5", "bytes=0-1-2", "bytes=a-b",
    "bytes = 0-5", "bytes=0 -5", "bytes=+1-2", "bytes=0x10-20", "=0-5", "bytes=-1,-2",
]) | st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20)


def expected(kind: str, first: int | None, last: int | None,
             size: int) -> tuple[int, int] | str | None:
    """(start, end inclusive), "whole" for a 200, or None for 416: RFC 9110
    §14.1.1-§14.1.3 (a suffix of an empty file is satisfiable, but no 206 can say so),
    plus this server's choice of 416 (not 200) for a last-pos before the first-pos."""
    if kind == "suffix":
        assert last is not None
        if last > 0 and size == 0:
            return "whole"
        return (max(0, size - last), size - 1) if last > 0 else None
    assert first is not None
    if first >= size or (last is not None and last < first):
        return None
    return first, size - 1 if last is None else min(last, size - 1)


def _get(env: tuple[Any, ...], method: str, url: str, headers: dict[str, str]) -> Any:
    loop, client, auth, _ = env
    return loop.run_until_complete(client.request(method, url, headers={**auth, **headers}))


@settings(max_examples=examples(200), deadline=None, suppress_health_check=list(HealthCheck))
@given(size=st.sampled_from(SIZES), spec=ranges)
def test_a_single_range_is_exactly_its_bytes_or_416(files_env, size, spec):
    kind, unit_name, first, last = spec
    url, data = files_env[3][size]
    header = f"{unit_name}={'' if first is None else first}-{'' if last is None else last}"
    want = expected(kind, first, last, size)
    r = _get(files_env, "GET", url, {"Range": header})
    head = _get(files_env, "HEAD", url, {"Range": header})
    assert head.status_code == r.status_code and head.content == b"", header
    if want is None:
        assert r.status_code == 416, (header, size, r.status_code)
        assert r.headers["content-range"] == f"bytes */{size}"
        assert r.json()["error"]["code"] == "RANGE_NOT_SATISFIABLE"
        return
    if want == "whole":
        assert r.status_code == 200 and r.content == data, (header, size, r.status_code)
        assert "content-range" not in r.headers and "content-range" not in head.headers
        return
    assert not isinstance(want, str)
    start, end = want
    assert r.status_code == 206, (header, size, r.status_code)
    assert r.content == data[start:end + 1]
    for resp in (r, head):
        assert resp.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert resp.headers["content-length"] == str(end - start + 1)


@settings(max_examples=examples(100), deadline=None, suppress_health_check=list(HealthCheck))
@given(size=st.sampled_from(SIZES), header=ignored)
def test_any_other_range_header_is_ignored_or_answered_consistently(files_env, size, header):
    url, data = files_env[3][size]
    r = _get(files_env, "GET", url, {"Range": header})
    assert r.status_code in (200, 206, 416), (header, r.status_code)
    if r.status_code == 200:
        assert r.content == data and "content-range" not in r.headers
    elif r.status_code == 416:
        assert r.headers["content-range"] == f"bytes */{size}"
    else:
        span, total = r.headers["content-range"].removeprefix("bytes ").split("/")
        start, end = (int(x) for x in span.split("-"))
        assert int(total) == size and r.content == data[start:end + 1]
