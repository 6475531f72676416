"""What a restore does to sign-ins, as the README's restore section says: the backup's
sign-ins go on (its server key and signing keys come back), a refresh token newer than the
backup is unknown (that phone signs in again), and sign-ins ended after the backup are
back (through HTTP, on a restored data dir)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient

from homesync import clock
from homesync.services.container import Services
from tests.helpers import API
from tests.operations.test_restore_tokens import restore_at, serving

DEVICES = f"{API}/devices"


async def refresh(client: AsyncTestClient[Any], token: str, client_id: str) -> Any:
    return await client.post(f"{API}/auth/refresh",
                             json={"refreshToken": token, "deviceId": client_id})


async def test_the_backups_sign_ins_go_on_and_later_ones_end(
        services: Services, client: AsyncTestClient[Any], make_user, sign_in,
        tmp_path: Path) -> None:
    await make_user()
    idle = await sign_in(client_id="tablet")      # does not refresh after the backup
    active = await sign_in(client_id="phone")     # refreshes after it
    stolen = await sign_in(client_id="stolen")    # removed after it
    dest = tmp_path / "backup"
    await services.backups.create(dest)
    r = await refresh(client, active.refresh, active.client_id)
    newer = r.json()["tokens"]
    assert (await client.delete(f"{DEVICES}/{stolen.device_id}",
                                headers=active.auth)).status_code == 200
    await restore_at(dest, tmp_path / "restored", clock.now_ms())

    async with serving(tmp_path / "restored") as c:
        assert (await c.get(DEVICES, headers=idle.auth)).status_code == 200
        assert (await refresh(c, idle.refresh, idle.client_id)).status_code == 200
        # The phone's access token is of a sign-in the backup has; its refresh token is not.
        assert (await c.get(DEVICES, headers={
            "Authorization": f"Bearer {newer['accessToken']}"})).status_code == 200
        r = await refresh(c, newer["refreshToken"], active.client_id)
        assert r.status_code == 401 and r.json()["error"]["code"] == "INVALID_REFRESH_TOKEN"
        # Removed after the backup: signed in again until revoked again.
        assert (await c.get(DEVICES, headers=stolen.auth)).status_code == 200
