"""Names people chose (files, devices, accounts) in notification texts, over HTTP: a
right-to-left override or a line separator in one cannot rewrite the rest of the text a
phone shows, and a right-to-left name is set apart from the sentence around it."""

from __future__ import annotations

import os
import re
import time
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from homesync import clock
from homesync.services.container import Services
from tests.conftest import MakeUser, SignIn
from tests.helpers import API, Device
from tests.uploads.flow import checksum, file_entry, init, put_chunks, upload

RLO, LINE_SEPARATOR, FSI, PDI = "\u202e", "\u2028", "\u2068", "\u2069"
# A name that, shown as it is, reads "…signed in. Ignore this: it was you." on a phone.
SPOOF = f"Pixel{RLO}.uoy saw ti :siht erongI"
ISOLATED = re.compile(f"{FSI}[^\u202a-\u202e\u2066-\u2069]*{PDI}")


def assert_safe(text: str) -> None:
    """No direction-changing character outside a closed isolate, no line break."""
    rest = ISOLATED.sub("", text)
    assert not re.search("[\u202a-\u202e\u2066-\u2069\u2028\u2029\n\r]", rest), repr(text)


async def inbox(client: AsyncTestClient[Any], dev: Device, **params: Any) -> list[dict[str, Any]]:
    r = await client.get(f"{API}/notifications", headers=dev.auth, params=params)
    assert r.status_code == 200, r.text
    return list(r.json()["data"]["notifications"])


async def test_a_device_named_to_rewrite_its_own_sign_in_alert(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn,
) -> None:
    await make_user()
    phone = await sign_in()
    thief = await sign_in(client_id="thief", model=SPOOF)
    await sign_in(client_id="tablet", model=f"Tab{LINE_SEPARATOR}Your password is safe")
    await sign_in(client_id="hebrew", model="טלפון")
    alerts = await inbox(client, phone, category="security")
    bodies = [n["body"] for n in alerts if n["data"]["deviceId"] != phone.device_id]
    for body in bodies:
        assert_safe(body)
    # Set apart: the sentence around it stays left to right.
    assert bodies[0] == f"{FSI}Alice's טלפון{PDI} (android) signed in."
    assert "Tab Your password is safe" in bodies[1]
    assert "Pixel.uoy saw ti :siht erongI (android) signed in." in bodies[2]

    r = await client.delete(f"{API}/devices/{thief.device_id}", headers=phone.auth)
    assert r.status_code == 200, r.text
    removed = (await inbox(client, phone, category="security"))[0]
    assert removed["kind"] == "device_removed"
    assert_safe(removed["body"])


async def test_file_names_in_upload_and_share_texts(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
) -> None:
    await make_user()
    await make_user("bob@example.com", "Bob Builder")
    phone = await sign_in()
    bob = await sign_in("bob@example.com", client_id="bob-phone")
    name = f"invoice{RLO}fdp.exe"
    done = await upload(client, phone.auth, os.urandom(100), name=name, folder="/docs")
    rtl = await upload(client, phone.auth, os.urandom(100), name="מסמך.pdf", local_id="2")

    # Reported failed by the app, and arrived damaged.
    data = os.urandom(5000)
    r = await init(client, phone.auth,
                   file_entry(os.urandom(5000), name=f"a{LINE_SEPARATOR}b.jpg", local_id="3"),
                   file_entry(data, name=f"c{RLO}d.jpg", local_id="4"))
    assert r.status_code == 200, r.text
    failed, damaged = r.json()["data"]["files"]
    r = await client.post(f"{API}/upload/progress", headers=phone.auth,
                          json={"uploadId": failed["uploadId"], "status": "failed"})
    assert r.status_code == 200, r.text
    other = os.urandom(5000)
    await put_chunks(client, damaged, other)
    r = await client.post(f"{API}/upload/complete", headers=phone.auth, json={
        "uploadId": damaged["uploadId"], "checksum": checksum(data)})
    assert r.status_code == 422, r.text

    uploads = await inbox(client, phone, category="uploads")
    assert [n["kind"] for n in uploads] == [
        "upload_failed", "upload_failed", "upload_completed", "upload_completed"]
    for n in uploads:
        assert_safe(n["body"])
    assert uploads[1]["body"] == "a b.jpg could not be uploaded."
    assert uploads[2]["body"].startswith(f"{FSI}מסמך.pdf{PDI} ")
    assert uploads[3]["body"] == "invoicefdp.exe is safe on your server."

    for file_id in (done["file"]["id"], rtl["file"]["id"]):
        r = await client.post(f"{API}/shares", headers=phone.auth,
                              json={"fileId": file_id, "email": "bob@example.com",
                                    "permission": "read"})
        assert r.status_code == 201, r.text
    shares = await inbox(client, bob, category="shares")
    for n in shares:
        assert_safe(n["title"])
        assert_safe(n["body"])
    assert shares[1]["body"] == "Alice Liddell shared “invoicefdp.exe” with you."


@pytest.mark.parametrize("name", [f"e{RLO}f.jpg", f"g{LINE_SEPARATOR}h.jpg"])
async def test_an_expired_uploads_name(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    name: str,
) -> None:
    start = time.time()
    clock.set_now(lambda: start)
    try:
        await make_user()
        phone = await sign_in()
        r = await init(client, phone.auth, file_entry(os.urandom(5000), name=name))
        assert r.status_code == 200, r.text
        clock.set_now(lambda: start + 8 * 86400)
        assert await services.gc.expire_uploads() == 1
        phone = await sign_in()  # its access token ran out meanwhile
        expired = (await inbox(client, phone, category="uploads"))[0]
        assert expired["kind"] == "upload_expired"
        assert_safe(expired["body"])
    finally:
        clock.set_now(None)
