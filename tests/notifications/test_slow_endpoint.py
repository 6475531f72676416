"""One slow push endpoint must not hold up everyone else's pushes: the worker keeps
claiming and sending while a send hangs, and still sends each push once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from homesync.app import create_app
from homesync.services.container import Services
from homesync.services.notifications.events import security_event
from tests.conftest import MakeUser, SignIn
from tests.helpers import Device
from tests.notifications.conftest import Clock, RegisterPush, alert, delivery_rows
from tests.push.receivers import Reply

# Only a bound for a broken worker to fail on rather than hang; nothing waits for it.
_GIVE_UP = 60


@pytest.fixture
async def client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """The app called on the test's own loop, where these tests run the push worker (as a
    server runs both on one). Litestar's test client runs the app on a loop of its own,
    in a thread, and blocks the test's loop meanwhile: a request that found the worker in
    a transaction failed with a 500 (the database's write lock "is bound to a different
    event loop"), or would have waited for ever for a worker that cannot run."""
    app = create_app(services.settings, services)
    app.state.services = services  # what the lifespan does when the server starts
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
                                 base_url="http://testserver.local") as http:
        yield http


async def alice_slow_bob_fast(make_user: MakeUser, sign_in: SignIn,
                              register_push: RegisterPush, slow: Any,
                              fast: Any) -> tuple[Device, Device]:
    """Alice's phone, pushed through the receiver ``slow``, and Bob's, through ``fast``."""
    await make_user()
    await make_user("bob@example.com", name="Bob Builder")
    alice_phone = await sign_in()
    await register_push(alice_phone, f"{slow.url}/up/alice")
    bob_phone = await sign_in("bob@example.com", client_id="bob-phone")
    await register_push(bob_phone, f"{fast.url}/up/bob")
    return alice_phone, bob_phone


def answering_at_once(arrived: asyncio.Event) -> Any:
    """A receiver's handler that accepts at once, setting ``arrived``."""
    def answer(request: Any) -> Reply:
        arrived.set()
        return Reply(201)
    return answer


def hanging_until(may_answer: asyncio.Event, reply: Reply, receiver: Any,
                  full: asyncio.Event) -> Any:
    """A receiver's handler that hangs (a distributor 30-60 s slow) until ``may_answer``,
    then gives ``reply``; ``full`` is set once it holds 8 requests (the send slots one
    push service may take)."""
    async def answer(request: Any) -> Reply:
        if len(receiver.requests) == 8:
            full.set()
        await may_answer.wait()
        return reply
    return answer


async def test_a_fast_endpoint_is_pushed_while_a_slow_one_still_hangs(
    services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, make_receiver: Any, frozen: Clock,
) -> None:
    slow, fast = await make_receiver(), await make_receiver()
    slow_arrived, slow_may_answer, fast_arrived = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def answer_late(request: Any) -> Reply:
        slow_arrived.set()
        await slow_may_answer.wait()  # 30-60 s in real life; here: until the test says
        return Reply(201)

    slow.handler, fast.handler = answer_late, answering_at_once(fast_arrived)
    alice_phone, bob_phone = await alice_slow_bob_fast(make_user, sign_in, register_push,
                                                       slow, fast)
    await services.start_background()  # the server's push worker
    frozen.advance(60)

    # Alice signs in on a tablet: her phone is told, through the endpoint that hangs.
    await sign_in(client_id="alice-tablet", model="Galaxy Tab")
    async with asyncio.timeout(_GIVE_UP):
        await slow_arrived.wait()
    # Then Bob does: his phone's push goes out while Alice's still hangs.
    await sign_in("bob@example.com", client_id="bob-tablet", model="Galaxy Tab")
    async with asyncio.timeout(_GIVE_UP):
        await fast_arrived.wait()
    (alice_row,) = await delivery_rows(services, device_id=alice_phone.device_id)
    assert (alice_row["status"], alice_row["attempts"], alice_row["last_error"]) == (
        "pending", 1, None)  # still in flight: not timed out and retried before Bob's went
    assert alice_row["lease_until"] is not None

    slow_may_answer.set()
    await services.outbox.drain()  # waits for the sends in flight too
    for phone, receiver in ((alice_phone, slow), (bob_phone, fast)):
        (row,) = await delivery_rows(services, device_id=phone.device_id)
        assert (row["status"], row["attempts"]) == ("delivered", 1)
        assert len(receiver.requests) == 1  # each sent once


async def test_a_slow_push_service_takes_only_its_share_of_the_send_slots(
    services: Services, make_user: MakeUser, sign_in: SignIn, register_push: RegisterPush,
    make_receiver: Any, frozen: Clock,
) -> None:
    """Alice's phone has 40 pushes waiting for a distributor that hangs: more than all the
    worker's send slots. Bob's push, to another service, still goes at once."""
    slow, fast = await make_receiver(), await make_receiver()
    slow_full, slow_may_answer, fast_arrived = asyncio.Event(), asyncio.Event(), asyncio.Event()

    slow.handler = hanging_until(slow_may_answer, Reply(201), slow, slow_full)
    fast.handler = answering_at_once(fast_arrived)
    alice_phone, bob_phone = await alice_slow_bob_fast(make_user, sign_in, register_push,
                                                       slow, fast)
    frozen.advance(60)
    for _ in range(40):
        await alert(services, alice_phone.user_id)
    await services.start_background()
    async with asyncio.timeout(_GIVE_UP):
        await slow_full.wait()

    await sign_in("bob@example.com", client_id="bob-tablet", model="Galaxy Tab")
    async with asyncio.timeout(_GIVE_UP):
        await fast_arrived.wait()
    assert len(slow.requests) == 8  # the slow service's share; the others wait their turn

    slow_may_answer.set()
    await services.outbox.drain()
    rows = await delivery_rows(services, device_id=alice_phone.device_id)
    assert [(r["status"], r["attempts"]) for r in rows] == [("delivered", 1)] * 40
    assert len(slow.requests) == 40  # each once
    assert len(fast.requests) == 1


async def test_a_backlog_longer_than_one_claim_does_not_hide_other_services_pushes(
    services: Services, make_user: MakeUser, sign_in: SignIn, register_push: RegisterPush,
    make_receiver: Any, frozen: Clock,
) -> None:
    """Alice's phone has more pushes waiting for a distributor that hangs than one claim
    looks through (1000 due rows): Bob's push, due after all of them and to another
    service, still goes at once, not once her backlog has gone."""
    slow, fast = await make_receiver(), await make_receiver()
    slow_full, slow_may_answer, fast_arrived = asyncio.Event(), asyncio.Event(), asyncio.Event()

    # It comes back only to say the endpoint is gone.
    slow.handler = hanging_until(slow_may_answer, Reply(410), slow, slow_full)
    fast.handler = answering_at_once(fast_arrived)
    alice_phone, bob_phone = await alice_slow_bob_fast(make_user, sign_in, register_push,
                                                       slow, fast)
    frozen.advance(60)
    async with services.db.transaction() as tx:
        for _ in range(1200):
            await security_event(tx, user_id=alice_phone.user_id, kind="password_changed",
                                 title="Password changed", body="x", now=frozen.ms)
    await services.start_background()
    async with asyncio.timeout(_GIVE_UP):
        await slow_full.wait()

    frozen.advance(1)  # Bob's push falls due after every one of Alice's
    await sign_in("bob@example.com", client_id="bob-tablet", model="Galaxy Tab")
    async with asyncio.timeout(_GIVE_UP):
        await fast_arrived.wait()
    assert len(slow.requests) == 8

    slow_may_answer.set()  # the rest of the backlog is cancelled, not sent
    await services.outbox.drain()
    rows = await delivery_rows(services, device_id=alice_phone.device_id)
    assert sorted(r["status"] for r in rows) == ["cancelled"] * 1192 + ["dropped"] * 8
    assert len(slow.requests) == 8
    (bob_row,) = await delivery_rows(services, device_id=bob_phone.device_id)
    assert (bob_row["status"], bob_row["attempts"]) == ("delivered", 1)


async def test_a_full_push_service_shared_by_many_phones_does_not_hide_other_services_pushes(
    services: Services, make_user: MakeUser, sign_in: SignIn, register_push: RegisterPush,
    make_receiver: Any, frozen: Clock,
) -> None:
    """Twelve phones (a family's, a server's users) push through one distributor that
    hangs, each with 100 pushes waiting, in turn: more due rows of that one service than
    one claim looks through (1000). Bob's push, due after them and to another service,
    still goes at once; passing over each phone's backlog as it was found waiting did
    not get past them."""
    slow, fast = await make_receiver(), await make_receiver()
    slow_full, slow_may_answer, fast_arrived = asyncio.Event(), asyncio.Event(), asyncio.Event()

    # It comes back only to say the endpoint is gone.
    slow.handler = hanging_until(slow_may_answer, Reply(410), slow, slow_full)
    fast.handler = answering_at_once(fast_arrived)
    phones = []
    for n in range(12):
        email = f"user{n}@example.com"
        await make_user(email, name=f"User {n}")
        phone = await sign_in(email, client_id=f"phone-{n}")
        await register_push(phone, f"{slow.url}/up/{n}")
        phones.append(phone)
    await make_user("bob@example.com", name="Bob Builder")
    bob_phone = await sign_in("bob@example.com", client_id="bob-phone")
    await register_push(bob_phone, f"{fast.url}/up/bob")
    frozen.advance(60)
    for phone in phones:  # one phone's pushes after another's
        frozen.advance(1)
        async with services.db.transaction() as tx:
            for _ in range(100):
                await security_event(tx, user_id=phone.user_id, kind="password_changed",
                                     title="Password changed", body="x", now=frozen.ms)
    await services.start_background()
    async with asyncio.timeout(_GIVE_UP):
        await slow_full.wait()

    frozen.advance(1)  # Bob's push falls due after every one of theirs
    await sign_in("bob@example.com", client_id="bob-tablet", model="Galaxy Tab")
    async with asyncio.timeout(_GIVE_UP):
        await fast_arrived.wait()
    assert len(slow.requests) == 8

    slow_may_answer.set()
    await services.outbox.drain()
    (bob_row,) = await delivery_rows(services, device_id=bob_phone.device_id)
    assert (bob_row["status"], bob_row["attempts"]) == ("delivered", 1)
    for phone in phones:  # each phone's endpoint is gone: its first answer said so
        rows = await delivery_rows(services, device_id=phone.device_id)
        assert len(rows) == 100 and "pending" not in {r["status"] for r in rows}


async def test_drain_waits_for_a_round_the_worker_has_claimed_in(
    services: Services, make_user: MakeUser, sign_in: SignIn, register_push: RegisterPush,
    make_receiver: Any, frozen: Clock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``drain`` (shutdown, tests) while the background worker's round has leased rows but
    not started their sends yet: it waits for that round and its sends. It found nothing
    due (the rows were leased) and nothing sending, and returned with them pending."""
    receiver, arrived = await make_receiver(), asyncio.Event()
    receiver.handler = answering_at_once(arrived)
    await make_user()
    phone = await sign_in()
    await register_push(phone, f"{receiver.url}/up/alice")
    frozen.advance(60)
    for _ in range(5):
        await alert(services, phone.user_id)
    claims = services.outbox._claims
    real_claim, claimed, may_go_on = claims.claim, asyncio.Event(), asyncio.Event()

    async def claim_then_pause(now: int) -> Any:
        monkeypatch.setattr(claims, "claim", real_claim)  # the worker's first claim only
        result = await real_claim(now)
        claimed.set()
        await may_go_on.wait()  # leased, sends not started yet
        return result

    monkeypatch.setattr(claims, "claim", claim_then_pause)
    drain_waits = asyncio.Event()

    class RoundLockTellingWaits(asyncio.Lock):
        async def acquire(self) -> bool:
            if self.locked():
                drain_waits.set()
            return await super().acquire()

    monkeypatch.setattr(services.outbox, "_one_round", RoundLockTellingWaits(), raising=False)
    await services.start_background()
    async with asyncio.timeout(_GIVE_UP):
        await claimed.wait()
    draining = asyncio.create_task(services.outbox.drain())
    # Until drain has gone as far as it can while the worker's round is paused: ended
    # (before the fix), or waiting for that round.
    waiting = asyncio.create_task(drain_waits.wait())
    async with asyncio.timeout(_GIVE_UP):
        await asyncio.wait([draining, waiting], return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    may_go_on.set()
    async with asyncio.timeout(_GIVE_UP):
        await draining
    rows = await delivery_rows(services, device_id=phone.device_id)
    assert [(r["status"], r["attempts"]) for r in rows] == [("delivered", 1)] * 5
