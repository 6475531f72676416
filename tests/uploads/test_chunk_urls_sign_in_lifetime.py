"""A sign-in also ends on its own: unused for ``auth.refresh_idle_ttl``, or
``auth.refresh_absolute_ttl`` after it began. The server only records that at the
device's next refresh attempt, but a signed chunk URL must not wait for one: from the
moment the sign-in is over, its device's background uploader gets 401 and nothing is
stored, and the upload resumes once the install signs in again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from homesync import clock
from homesync.config import Settings
from tests.helpers import API, Device, make_settings
from tests.uploads.conftest import SMALL_CHUNKS
from tests.uploads.flow import random_bytes
from tests.uploads.test_chunk_urls_sign_out import (
    DATA_SIZE,
    assert_refused,
    put_signed,
    received,
    resumes_after_signing_in_again,
    started,
)

MINUTE = 60.0
START = 1_717_408_800.0  # 2024-06-03 10:00:00 UTC


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Lifetimes far shorter than the upload's (session_ttl, 24h), so the sign-in ends
    # while the upload is still open.
    return make_settings(tmp_path / "data", uploads=SMALL_CHUNKS, storage={"disk_reserve": "0"},
                         auth={"refresh_idle_ttl": "1h", "refresh_absolute_ttl": "3h"})


@pytest.fixture
def at() -> Any:
    """Sets the frozen clock to ``minutes`` after START."""
    def move(minutes: float) -> None:
        clock.set_now(lambda: START + minutes * MINUTE)
    move(0)
    return move


async def refreshed(client: Any, dev: Device) -> Device:
    r = await client.post(f"{API}/auth/refresh",
                          json={"refreshToken": dev.refresh, "deviceId": dev.client_id})
    assert r.status_code == 200, r.text
    tokens = r.json()["tokens"]
    return Device(user_id=dev.user_id, email=dev.email, device_id=dev.device_id,
                  client_id=dev.client_id, access=tokens["accessToken"],
                  refresh=tokens["refreshToken"])


async def test_a_sign_in_left_unused_past_its_idle_lifetime_stops_its_signed_urls(
        client, make_user, sign_in, at):
    await make_user()
    phone = await sign_in(client_id="phone")
    data = random_bytes(DATA_SIZE)
    item = await started(client, phone, data)
    at(59)
    assert (await put_signed(client, item, data, 0)).status_code == 200

    at(61)  # no refresh for over an hour: the sign-in is over, though nothing recorded it
    assert_refused(await put_signed(client, item, data, 1))

    await resumes_after_signing_in_again(client, sign_in, phone, item, data)


async def test_a_sign_in_past_its_total_lifetime_stops_its_signed_urls(
        client, make_user, sign_in, at):
    await make_user()
    phone = await sign_in(client_id="phone")
    data = random_bytes(DATA_SIZE)
    item = await started(client, phone, data)
    for minutes in (50, 100, 150):  # refreshed well within the idle hour, every time
        at(minutes)
        phone = await refreshed(client, phone)
    at(179)
    assert (await put_signed(client, item, data, 0)).status_code == 200

    at(181)  # three hours after signing in, however active
    assert_refused(await put_signed(client, item, data, 1))
    assert await received(client, await sign_in(client_id="phone"), item["uploadId"]) == [0]
