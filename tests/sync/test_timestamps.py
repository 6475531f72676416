"""The fast RFC 3339 formatter writes exactly what clock.rfc3339 writes, and times it
could not write are refused where they come in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from homesync import clock
from homesync.api.timestamps import format_ms, format_optional
from tests.helpers import API
from tests.sync.helpers import checksum, pull, store
from tests.uploads.flow import complete, file_entry, init, put_chunks

# Valid RFC 3339, but UTC year 0 and year 10000: no answer could show them.
OUT_OF_RANGE = ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00")


@given(st.integers(min_value=0, max_value=253_402_300_799_999))  # through 9999-12-31
def test_same_text_as_the_clock(ms):
    assert format_ms(ms) == clock.rfc3339(ms)


def test_edges():
    assert format_ms(0) == "1970-01-01T00:00:00Z"
    assert format_ms(1_705_764_600_000) == "2024-01-20T15:30:00Z"
    assert format_ms(1_705_764_600_007) == "2024-01-20T15:30:00.007Z"
    assert format_ms(86_399_999) == "1970-01-01T23:59:59.999Z"
    assert format_optional(None) is None


async def test_a_time_no_answer_could_show_is_refused(client, make_user, sign_in):
    # One file whose modifiedAt was UTC year 0 made every full GET /sync/status of its
    # account a 500, for all its devices, until the file changed.
    await make_user()
    phone = await sign_in()
    data = b"taken long ago"
    await store(client, phone, data, name="kept.txt")
    for when in OUT_OF_RANGE:  # that change is rejected (not its batch)
        r = await client.post(f"{API}/sync/files", headers=phone.auth, json={"localChanges": [
            {"action": "upload", "localId": "l", "name": "copy.txt", "folder": "/docs",
             "size": len(data), "checksum": checksum(data), "lastModified": when}]})
        assert r.status_code == 200, r.text
        result = r.json()["data"]["results"][0]
        assert result["status"] == "rejected" and "lastModified" in result["error"]["message"]
    # upload/complete's metadata is the app's own: a time there that cannot be shown is
    # not the file's modifiedAt (the upload's time is, as when there is none).
    fresh = b"fresh bytes"
    r = await init(client, phone.auth, file_entry(fresh, name="new.jpg"))
    item = r.json()["data"]["files"][0]
    await put_chunks(client, item, fresh)
    r = await complete(client, phone.auth, item["uploadId"], fresh,
                       metadata={"modifiedAt": OUT_OF_RANGE[0]})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["file"]["modifiedAt"] > "2000"
    listed = await pull(client, phone)
    assert {e["name"] for e in listed["changes"]["created"]} >= {"kept.txt", "new.jpg"}
