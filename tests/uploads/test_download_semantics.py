"""Downloads against RFC 9110: precondition order, range units, HEAD = GET, stored types."""

from __future__ import annotations

import asyncio
import itertools
import os
import threading

import pytest

from homesync.store import files
from homesync.store.db import execute
from tests.helpers import API
from tests.uploads.flow import (
    checksum,
    complete,
    file_entry,
    init,
    put_chunks,
    random_bytes,
    upload,
)


@pytest.fixture
async def small(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(10_000)
    done = await upload(client, dev.auth, data, name="notes.txt", mimeType="text/plain")
    return dev, data, f"{API}/files/{done['fileId']}/content"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_if_range_of_other_content_sends_it_all_even_past_its_end(client, small, method):
    # A phone resumes at byte 20000 of the old, longer version: the range is about that
    # content, so the new one comes whole (RFC 9110 §13.2.2: If-Range before Range).
    dev, data, url = small
    r = await client.request(method, url, headers={**dev.auth, "Range": "bytes=20000-",
                                                   "If-Range": '"sha256:old"'})
    assert r.status_code == 200, r.text
    assert r.headers["content-length"] == str(len(data)) and "content-range" not in r.headers
    if method == "GET":
        assert r.content == data


@pytest.mark.parametrize("if_range", ['W/"{}"', "{}", "Fri, 27 Nov 2026 19:29:17 GMT"])
async def test_if_range_needs_the_exact_quoted_etag(client, small, if_range):
    dev, data, url = small
    r = await client.get(url, headers={**dev.auth, "Range": "bytes=0-1",
                                       "If-Range": if_range.format(checksum(data))})
    assert r.status_code == 200 and r.content == data
    r = await client.get(url, headers={**dev.auth, "Range": "bytes=0-1",
                                       "If-Range": f'"{checksum(data)}"'})
    assert r.status_code == 206 and r.content == data[:2]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_if_none_match_wins_over_an_unsatisfiable_range(client, small, method):
    dev, data, url = small
    for tag in (f'"{checksum(data)}"', f'W/"{checksum(data)}"', "*"):
        r = await client.request(method, url, headers={**dev.auth, "Range": "bytes=20000-",
                                                       "If-None-Match": tag})
        assert r.status_code == 304, (tag, r.text)
        assert r.headers["etag"] == f'"{checksum(data)}"' and r.content == b""


async def test_the_range_unit_is_case_insensitive(client, small):
    dev, data, url = small
    for unit in ("Bytes", "BYTES"):
        r = await client.get(url, headers={**dev.auth, "Range": f"{unit}=2-5"})
        assert r.status_code == 206 and r.content == data[2:6], unit
        assert r.headers["content-range"] == f"bytes 2-5/{len(data)}"


async def test_get_and_head_carry_the_uploaded_type_as_is(client, small):
    dev, _, url = small
    got = await client.get(url, headers=dev.auth)
    head = await client.head(url, headers=dev.auth)
    assert got.headers["content-type"] == "text/plain"  # was "text/plain; charset=utf-8"
    drop = {"x-request-id"}
    assert ({k: v for k, v in got.headers.items() if k not in drop}
            == {k: v for k, v in head.headers.items() if k not in drop})


@pytest.mark.parametrize("mime_type", ["image/jpeg\n", "image/jpeg\r\n;x=y", "text/plain;\x7f"])
async def test_a_type_that_cannot_be_a_header_is_refused(client, make_user, sign_in, mime_type):
    await make_user()
    dev = await sign_in()
    data = random_bytes(100)
    r = await init(client, dev.auth, file_entry(data, mimeType=mime_type))
    assert r.status_code == 400 and r.json()["error"]["code"] == "VALIDATION_ERROR", r.text
    await upload(client, dev.auth, data, name="orig.bin")
    r = await client.post(f"{API}/sync/files", headers=dev.auth, json={"localChanges": [{
        "action": "upload", "localId": "l1", "name": "copy.bin", "folder": "/photos",
        "size": len(data), "checksum": checksum(data), "mimeType": mime_type}]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "VALIDATION_ERROR", r.text


async def test_a_stored_type_that_cannot_be_a_header_goes_out_as_octet_stream(client, services,
                                                                              small):
    # Stored before the checks above existed: served, not a 500 or a split header.
    dev, data, url = small
    async with services.db.transaction() as tx:
        await execute(tx, "UPDATE file_versions SET mime_type = ?", ("a\r\nSet-Cookie: x=y",))
    for method in ("GET", "HEAD"):
        r = await client.request(method, url, headers=dev.auth)
        assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
        assert "set-cookie" not in r.headers


async def test_a_download_under_way_keeps_streaming_the_version_it_began(client, services,
                                                                          make_user, sign_in):
    user_id = await make_user()
    dev = await sign_in()
    old, new = random_bytes(5 * 4096), random_bytes(5 * 4096)
    fid = (await upload(client, dev.auth, old, name="clip.mov"))["fileId"]
    content = await services.downloads.open_content(user_id, fid)
    got = [await anext(content.body)]
    done = await upload(client, dev.auth, new, name="clip.mov", fileId=fid)
    assert done["fileId"] == fid
    got += [piece async for piece in content.body]
    assert b"".join(got) == old
    # The next request, resuming with If-Range of the old content, gets the new one whole.
    r = await client.get(f"{API}/files/{fid}/content", headers={
        **dev.auth, "Range": f"bytes={len(got[0])}-", "If-Range": f'"{checksum(old)}"'})
    assert r.status_code == 200 and r.content == new


# When the server stored the content, 2023-11-14 22:13:20.500 UTC: Last-Modified shows
# whole seconds.
MODIFIED_MS = 1_700_000_000_500
LAST_MODIFIED = "Tue, 14 Nov 2023 22:13:20 GMT"


@pytest.fixture
async def dated(client, services, small):
    dev, data, url = small
    async with services.db.transaction() as tx:
        await execute(tx, "UPDATE file_versions SET created_at = ?", (MODIFIED_MS,))
    r = await client.get(url, headers=dev.auth)
    assert r.headers["last-modified"] == LAST_MODIFIED
    return dev, data, url


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("since", [
    LAST_MODIFIED,  # the very second: the .500 is not "after" what the client was told
    "Wed, 15 Nov 2023 00:00:00 GMT",
    "Tuesday, 14-Nov-23 22:13:20 GMT",  # the two obsolete forms count too
    "Tue Nov 14 22:13:20 2023",
])
async def test_if_modified_since_not_before_the_file_is_304(client, dated, method, since):
    dev, data, url = dated
    r = await client.request(method, url, headers={**dev.auth, "If-Modified-Since": since,
                                                   "Range": "bytes=20000-"})
    assert r.status_code == 304, (since, r.text)
    assert r.headers["etag"] == f'"{checksum(data)}"' and r.content == b""


@pytest.mark.parametrize("since", [
    "Tue, 14 Nov 2023 22:13:19 GMT",  # a second before: modified since
    "yesterday", "Tue, 14 Nov 2023 22:13:20 GMT, Wed, 15 Nov 2023 00:00:00 GMT",
    "Thu, 30 Feb 2023 00:00:00 GMT", "Tue, 14 Nov 2023 22:13:20 +0000", "",
])
async def test_if_modified_since_before_the_file_or_unparseable_sends_it(client, dated, since):
    dev, data, url = dated
    r = await client.get(url, headers={**dev.auth, "If-Modified-Since": since})
    assert r.status_code == 200 and r.content == data, since


async def test_if_none_match_overrules_if_modified_since(client, dated):
    dev, data, url = dated
    later = "Wed, 15 Nov 2023 00:00:00 GMT"
    r = await client.get(url, headers={**dev.auth, "If-Modified-Since": later,
                                       "If-None-Match": '"sha256:other"'})
    assert r.status_code == 200 and r.content == data
    r = await client.get(url, headers={**dev.auth, "If-Modified-Since": "Mon, 01 Jan 1990 "
                                       "00:00:00 GMT", "If-None-Match": f'"{checksum(data)}"'})
    assert r.status_code == 304


async def test_a_new_version_with_an_older_modified_at_is_never_not_modified(client, dated):
    """Last-Modified is when the server stored the bytes, not the modifiedAt the phone
    sent: a new version with an older one still counts as modified since the last copy."""
    dev, data, url = dated  # the first version stored in 2023
    file_id = url.split("/")[-2]
    first = await client.get(url, headers=dev.auth)
    newer = random_bytes(10_000)
    r = await init(client, dev.auth, file_entry(newer, name="notes.txt", mimeType="text/plain",
                                                fileId=file_id))
    item = r.json()["data"]["files"][0]
    assert "chunks" in item, item
    await put_chunks(client, item, newer)
    r = await complete(client, dev.auth, item["uploadId"], newer,
                       metadata={"modifiedAt": "2001-01-01T00:00:00Z"})
    assert r.status_code == 200, r.text
    meta = (await client.get(f"{API}/files/{file_id}", headers=dev.auth)).json()["data"]
    assert meta["modifiedAt"] == "2001-01-01T00:00:00Z"  # the file keeps the phone's time
    r = await client.get(url, headers={**dev.auth,
                                       "If-Modified-Since": first.headers["last-modified"]})
    assert r.status_code == 200 and r.content == newer
    r = await client.get(url, headers={**dev.auth,
                                       "If-Modified-Since": r.headers["last-modified"]})
    assert r.status_code == 304


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_a_304_does_not_need_the_chunks(client, services, dated, method):
    # A 304 sends no bytes: a file with a chunk gone still tells a current client so,
    # and only requests that would send the bytes fail.
    dev, data, url = dated
    file_id = url.split("/")[-2]
    version = (await client.get(f"{API}/files/{file_id}", headers=dev.auth)).json()["data"]
    (last_chunk, _) = (await files.manifest(services.db.reader, version["versionId"]))[-1]
    services.chunks.path_for(last_chunk).unlink()
    for headers in ({"If-None-Match": f'"{checksum(data)}"'},
                    {"If-Modified-Since": LAST_MODIFIED}):
        r = await client.request(method, url, headers={**dev.auth, **headers})
        assert r.status_code == 304, (headers, r.text)
    r = await client.request(method, url, headers=dev.auth)
    assert r.status_code == 500
    if method == "GET":
        assert "missing chunk" in r.json()["error"]["message"]


@pytest.fixture
async def many_chunks(client, make_user, sign_in):
    """A file of 40 chunks of 4 KiB: (device, its bytes, its content URL, its chunks)."""
    await make_user()
    dev = await sign_in()
    data = random_bytes(40 * 4096)
    done = await upload(client, dev.auth, data, name="big.bin")
    version = (await client.get(f"{API}/files/{done['fileId']}", headers=dev.auth)).json()
    return dev, data, f"{API}/files/{done['fileId']}/content", version["data"]["versionId"]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_a_chunk_missing_in_the_middle_is_found_before_the_first_byte(
        client, services, many_chunks, method):
    # Not a 200 cut short where the chunk is missing: the download is refused before it
    # starts. A range that does not need that chunk is served.
    dev, data, url, version_id = many_chunks
    manifest = await files.manifest(services.db.reader, version_id)
    assert len(manifest) == 40
    services.chunks.path_for(manifest[17][0]).unlink()
    r = await client.request(method, url, headers=dev.auth)
    assert r.status_code == 500
    if method == "GET":
        assert f"missing chunk {manifest[17][0][:12]}" in r.json()["error"]["message"]
    r = await client.request(method, url, headers={**dev.auth, "Range": "bytes=0-69631"})
    assert r.status_code == 206  # chunks 0-16
    if method == "GET":
        assert r.content == data[:69632]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_the_chunks_are_checked_off_the_event_loop_in_one_trip(
        live_client, services, many_chunks, monkeypatch, method):
    """Before the first byte, a download checks that every chunk it will send is there.
    That was one stat per chunk on the event loop (a file of 10 000 chunks held up every
    other request for about 300 ms); beyond a few chunks it is one trip to a worker thread
    for them all.
    (live_client: the app runs on this test's event loop, in this thread.)"""
    dev, data, url, _ = many_chunks
    loop = asyncio.get_running_loop()
    loop_thread = threading.get_ident()
    trips = itertools.count(1)
    on_a_trip = threading.local()
    chunk_stats: list[tuple[int, int | None]] = []  # (thread, trip) of each look at a chunk
    run_in_executor, stat, access = loop.run_in_executor, os.stat, os.access
    chunk_dir = str(services.chunks.chunk_dir)

    def counted(executor, fn, *args):
        trip = next(trips)

        def on_its_trip(*inner):
            on_a_trip.id = trip
            try:
                return fn(*inner)
            finally:
                on_a_trip.id = None
        return run_in_executor(executor, on_its_trip, *args)

    def seen(look):
        def looked_at(path, *args, **kwargs):
            if str(path).startswith(chunk_dir):
                chunk_stats.append((threading.get_ident(), getattr(on_a_trip, "id", None)))
            return look(path, *args, **kwargs)
        return looked_at

    monkeypatch.setattr(loop, "run_in_executor", counted)
    monkeypatch.setattr(os, "stat", seen(stat))
    monkeypatch.setattr(os, "access", seen(access))
    r = await live_client.request(method, url, headers=dev.auth)
    monkeypatch.undo()
    assert r.status_code == 200
    assert len(chunk_stats) == 40, chunk_stats
    assert all(thread != loop_thread and trip is not None for thread, trip in chunk_stats), \
        "chunks looked at on the event loop"
    assert len({trip for _, trip in chunk_stats}) == 1, "more than one trip to a thread"
    if method == "GET":
        assert r.content == data


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_if_unmodified_since_before_the_file_is_412(client, dated, method):
    dev, data, url = dated
    headers = {**dev.auth, "If-Unmodified-Since": "Tue, 14 Nov 2023 22:13:19 GMT",
               "If-None-Match": f'"{checksum(data)}"'}  # looked at first, before a 304
    r = await client.request(method, url, headers=headers)
    assert r.status_code == 412, r.text
    if method == "GET":
        assert r.json()["error"]["code"] == "PRECONDITION_FAILED"


@pytest.mark.parametrize("headers", [
    {"If-Unmodified-Since": LAST_MODIFIED},  # not after it, to the second
    {"If-Unmodified-Since": "not a date"},
    {"If-Unmodified-Since": "Tue, 14 Nov 2023 22:13:19 GMT", "If-Match": "*"},
])
async def test_if_unmodified_since_that_holds_or_is_ignored_sends_it(client, dated, headers):
    dev, data, url = dated
    r = await client.get(url, headers={**dev.auth, **headers})
    assert r.status_code == 200 and r.content == data, headers
