"""A conditional header sent as several field lines is read as all of them (RFC 9110 §5.3):
an If-None-Match list split over two lines still names the client's copy, and a second
Range line makes a list of ranges, which is ignored like one written on a single line."""

from __future__ import annotations

import httpx
import pytest

from homesync.app import create_app
from tests.helpers import API
from tests.uploads.flow import random_bytes, upload


@pytest.fixture
async def raw_client(services):
    """httpx's ASGI transport passes repeated header lines on as they are (the test
    client's transport folds them into one line, as no real server does)."""
    app = create_app(services.settings, services)
    app.state.services = services
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver.local") as c:
        yield c


@pytest.fixture
async def stored(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(10_000)
    done = await upload(client, dev.auth, data, name="notes.txt", mimeType="text/plain")
    return dev, data, f"{API}/files/{done['fileId']}/content", done["file"]["checksum"]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_if_none_match_over_two_lines_answers_304(raw_client, stored, method):
    dev, _, url, checksum = stored
    headers = [*dev.auth.items(), ("If-None-Match", '"sha256:other"'),
               ("If-None-Match", f'"{checksum}"')]
    r = await raw_client.request(method, url, headers=headers)
    assert r.status_code == 304, r.status_code
    assert r.headers["etag"] == f'"{checksum}"'


async def test_a_range_over_two_lines_is_a_list_and_ignored(raw_client, stored):
    dev, data, url, _ = stored
    headers = [*dev.auth.items(), ("Range", "bytes=0-1"), ("Range", "bytes=3-4")]
    r = await raw_client.get(url, headers=headers)
    assert r.status_code == 200 and "content-range" not in r.headers, r.status_code
    assert r.content == data
