"""Which devices a notification is pushed to: those signed in before it was made, also
when the sign-in and the event fall in the same millisecond (the clock here is frozen,
so everything below happens in one)."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from homesync.services.container import Services
from tests.conftest import MakeUser, SignIn
from tests.notifications.conftest import Clock, RegisterPush, alert, delivery_rows
from tests.push.receivers import Receiver


async def test_a_device_gets_what_happens_after_its_sign_in_in_the_same_millisecond_only(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, receiver: Receiver, frozen: Clock,
) -> None:
    user_id = await make_user()
    phone = await sign_in()
    await register_push(phone, f"{receiver.url}/up/phone")
    before = await alert(services, user_id, kind="before", title="Before the tablet")
    tablet = await sign_in(client_id="tablet", pushToken=f"{receiver.url}/up/tablet")
    after = await alert(services, user_id, kind="after", title="After the tablet")
    await services.outbox.drain()

    got = sorted((r.path, r.json()["notificationId"]) for r in receiver.requests)
    new_device = [r.json()["notificationId"] for r in receiver.requests
                  if r.json()["data"]["kind"] == "new_device"]
    assert got == sorted([("/up/phone", before), ("/up/phone", new_device[0]),
                          ("/up/phone", after), ("/up/tablet", after)])
    rows = await delivery_rows(services, device_id=tablet.device_id)
    assert [r["notification_id"] for r in rows] == [after]
