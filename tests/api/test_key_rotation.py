"""A6: access-token signing keys rotate with ``kid``.

The rotation and retirement are made by a second :class:`Services` on the same data dir,
the way ``homesync keys`` does from another process, while the first one serves HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from homesync.config import Settings
from homesync.errors import Conflict, NotFound
from homesync.services.auth.tokens import LEEWAY_S, derived_access_key
from homesync.services.container import Services
from homesync.store import signing_keys
from tests.auth_helpers import FrozenClock, claims_of, header_of, sign
from tests.helpers import API, PASSWORD, Device, device_info

DEVICES = f"{API}/devices"
REFRESH = f"{API}/auth/refresh"


@pytest.fixture
def frozen() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def alice(frozen: FrozenClock, make_user: Any, sign_in: Any) -> Device:
    await make_user()
    device: Device = await sign_in()
    return device


@pytest.fixture
async def admin(settings: Settings) -> AsyncIterator[Services]:
    """What `homesync keys ...` opens: another Services on the server's data dir."""
    other = await Services.open(settings)
    try:
        yield other
    finally:
        await other.close()


async def status_of(client: Any, token: str) -> int:
    r = await client.get(DEVICES, headers={"Authorization": f"Bearer {token}"})
    return int(r.status_code)


async def assert_401(client: Any, token: str) -> None:
    r = await client.get(DEVICES, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, r.text
    body = r.json()
    assert body["success"] is False and body["error"]["code"] == "UNAUTHORIZED"
    assert set(body["error"]) == {"code", "message", "details"}


async def test_old_tokens_work_after_rotate_new_ones_carry_the_new_kid_and_retire_ends_them(
        client: Any, services: Services, admin: Services, alice: Device, sign_in: Any) -> None:
    k1 = header_of(alice.access)["kid"]
    new, old = await admin.signing_keys.rotate()
    assert old is not None and old.kid == k1 and old.state == "previous"
    k2 = new.kid
    assert k2 != k1 and new.state == "active" and not new.from_server_key

    # The server notices nothing yet, and needs to: k1's token still works.
    assert await status_of(client, alice.access) == 200
    # A refresh (opaque, unaffected) and a new sign-in both sign with k2.
    r = await client.post(REFRESH, json={"refreshToken": alice.refresh,
                                         "deviceId": alice.client_id})
    assert r.status_code == 200, r.text
    refreshed = r.json()["tokens"]["accessToken"]
    assert header_of(refreshed)["kid"] == k2
    laptop = await sign_in(client_id="laptop-1")
    assert header_of(laptop.access)["kid"] == k2
    assert await status_of(client, refreshed) == 200
    assert await status_of(client, alice.access) == 200

    # Retired in the other process: k1's tokens are refused at the server's next request.
    await admin.signing_keys.retire(k1, force=True)
    await assert_401(client, alice.access)
    # Also a token k1 signs just now (k1 is derived from server.key, so the test can).
    await assert_401(client, sign(services, claims_of(alice.access),
                                  key=derived_access_key(services.secret), headers={"kid": k1}))
    assert await status_of(client, refreshed) == 200
    assert await status_of(client, laptop.access) == 200


async def test_a_token_of_a_key_rotated_elsewhere_is_picked_up_at_most_once_a_second(
        client: Any, services: Services, admin: Services, alice: Device,
        frozen: FrozenClock) -> None:
    claims = claims_of(alice.access)
    # A made-up kid makes the server reload its keys (finding nothing new): 401.
    await assert_401(client, sign(services, claims, headers={"kid": "k-made-up"}))
    await admin.signing_keys.rotate()
    k2_token = sign(admin, claims)  # signed with the new key, which only the database knows
    # Within the same second another unknown kid does not reload: still 401.
    await assert_401(client, k2_token)
    frozen.advance(1)
    assert await status_of(client, k2_token) == 200


async def test_a_known_kid_costs_no_key_lookup(client: Any, alice: Device,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = signing_keys.all_keys

    async def counting(conn: Any) -> Any:
        calls.append(1)
        return await real(conn)

    monkeypatch.setattr(signing_keys, "all_keys", counting)
    for _ in range(5):
        assert await status_of(client, alice.access) == 200
    assert calls == []


async def test_retiring_needs_a_previous_key_whose_tokens_have_expired(
        client: Any, admin: Services, alice: Device, frozen: FrozenClock) -> None:
    token_life_s = admin.settings.auth.access_ttl_s + LEEWAY_S
    k1 = header_of(alice.access)["kid"]
    with pytest.raises(Conflict, match="active key"):
        await admin.signing_keys.retire(k1)
    with pytest.raises(NotFound, match="No signing key 'nope'"):
        await admin.signing_keys.retire("nope")

    new, _ = await admin.signing_keys.rotate()
    with pytest.raises(Conflict, match="active key"):
        await admin.signing_keys.retire(new.kid, force=True)
    frozen.advance(token_life_s - 1)
    with pytest.raises(Conflict, match="--force"):
        await admin.signing_keys.retire(k1)
    assert await status_of(client, alice.access) == 200  # the last second of its life
    frozen.advance(1)
    retired = await admin.signing_keys.retire(k1)
    assert retired.state == "retired"
    assert (await admin.signing_keys.retire(k1)).retired_at == retired.retired_at  # no-op
    assert [(k.kid, k.state) for k in await admin.signing_keys.list()] == \
        [(k1, "retired"), (new.kid, "active")]


async def test_a_retired_key_is_forgotten(admin: Services, frozen: FrozenClock) -> None:
    """Nothing signs or verifies with a retired key again: its secret is not kept."""
    first = (await admin.signing_keys.list())[0]
    second, _ = await admin.signing_keys.rotate()
    await admin.signing_keys.rotate()
    await admin.signing_keys.retire(second.kid, force=True)
    stored = await admin.db.fetchone("SELECT secret FROM signing_keys WHERE kid = ?",
                                     (second.kid,))
    assert stored is not None and stored["secret"] is None
    listed = {k.kid: (k.state, k.from_server_key) for k in await admin.signing_keys.list()}
    assert listed[second.kid] == ("retired", False)
    assert listed[first.kid] == ("previous", True)


async def test_no_usable_signing_key_answers_503_not_500(
        client: Any, services: Services, make_user: Any) -> None:
    """server.key replaced since the only key was made: sign-ins fail in the envelope."""
    await make_user()
    async with services.db.transaction() as tx:  # as if made from another server.key
        await tx.execute("UPDATE signing_keys SET kid = 'a0a0a0a0a0a0' WHERE secret IS NULL")
    r = await client.post(f"{API}/auth/register", json={
        "email": "alice@example.com", "password": PASSWORD, "deviceInfo": device_info("p")})
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "UNAVAILABLE"
    assert "homesync keys rotate" in r.json()["error"]["message"]
