"""The push worker's claim while one push service hangs with a big backlog.

    /work/venv/bin/python bench/push_claim.py [--backlog 5000] [--phones 1] [--seconds 10]

``--phones`` phones (Alice's, then other users') have ``--backlog`` pushes due in all,
one phone's after another's, for a UnifiedPush distributor that never answers (its 8
send slots stay full), while Bob's phone, on another service, gets a security alert
every 100 ms. In process (real SQLite, fsync off, local receivers, the
worker's own loop), for ``--seconds``, it reports:

- claims: how many the worker ran, per second, and the time in them (waiting for the
  writer included), with the due rows they read and the time in those queries
  (``delivery_claims.due``, run on the event loop's thread);
- Bob's pushes: how many arrived, and how long after the alert was committed;
- other writers: how long a small transaction (every 20 ms) waited to begin.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from homesync.services.auth.sessions import DeviceRegistration  # noqa: E402
from homesync.services.container import Services  # noqa: E402
from homesync.services.notifications.events import security_event  # noqa: E402
from homesync.store import delivery_claims  # noqa: E402
from tests.helpers import PASSWORD, make_settings  # noqa: E402
from tests.push.receivers import Receiver, Reply  # noqa: E402


async def phone(services: Services, email: str, token: str) -> str:
    await services.accounts.create_user(email, PASSWORD, name=email.split("@")[0])
    result = await services.sessions.register(
        email, PASSWORD, DeviceRegistration(platform="android", model="Pixel", os_version="14",
                                            app_version="1", client_id=f"{email}-phone",
                                            push_token=token), "127.0.0.1")
    return str(result.user["id"])


async def alerts(services: Services, user_id: str, count: int) -> None:
    async with services.db.transaction() as tx:
        for _ in range(count):
            await security_event(tx, user_id=user_id, kind="password_changed", title="Alert",
                                 body="x", now=int(time.time() * 1000))


def ms(values: list[float]) -> str:
    if not values:
        return "none"
    return (f"n={len(values)} mean={statistics.fmean(values) * 1000:.1f} ms"
            f" p50={statistics.median(values) * 1000:.1f} ms max={max(values) * 1000:.1f} ms")


async def run(backlog: int, phones: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(Path(tmp) / "data", notifications={
            "allowed_hosts": ["127.0.0.1"], "send_timeout": "60s"})
        services = await Services.open(settings)
        async with Receiver() as hanging, Receiver() as fast:
            arrived: dict[str, float] = {}
            hang_up = asyncio.Event()

            async def hang(request: Any) -> Reply:
                await hang_up.wait()  # until the end: its send slots stay full
                return Reply(201)

            def answer(request: Any) -> Reply:
                arrived[request.json()["notificationId"]] = time.perf_counter()
                return Reply(201)

            hanging.handler, fast.handler = hang, answer
            users = [await phone(services, email, f"{hanging.url}/up/{n}") for n, email
                     in enumerate(["alice@example.com"]
                                  + [f"user{n}@example.com" for n in range(1, phones)])]
            alice = users[0]
            bob = await phone(services, "bob@example.com", f"{fast.url}/up/bob")
            for n, user in enumerate(users):
                await alerts(services, user, backlog // phones + (n < backlog % phones))
                await asyncio.sleep(0.002)  # the next phone's fall due after these
            outbox = services.outbox
            while await outbox._fan_out(int(time.time() * 1000)):  # noqa: SLF001
                pass

            claims: list[float] = []
            rows_read = [0]
            due_times: list[float] = []
            real_claim, real_due = outbox._claims.claim, delivery_claims.due  # noqa: SLF001

            async def timed_claim(now: int) -> Any:
                began = time.perf_counter()
                try:
                    return await real_claim(now)
                finally:
                    claims.append(time.perf_counter() - began)

            async def counted_due(*args: Any, **kwargs: Any) -> Any:
                began = time.perf_counter()
                rows = await real_due(*args, **kwargs)
                due_times.append(time.perf_counter() - began)
                rows_read[0] += len(rows)
                return rows

            outbox._claims.claim = timed_claim  # type: ignore[method-assign]  # noqa: SLF001
            delivery_claims.due = counted_due  # type: ignore[assignment]
            worker = asyncio.create_task(outbox.run_forever())
            sent: dict[str, float] = {}
            waits: list[float] = []
            end = time.perf_counter() + seconds

            async def bob_stream() -> None:
                while time.perf_counter() < end:
                    async with services.db.transaction() as tx:
                        nid = await security_event(tx, user_id=bob, kind="password_changed",
                                                   title="Alert", body="x",
                                                   now=int(time.time() * 1000))
                    sent[nid] = time.perf_counter()
                    await asyncio.sleep(0.1)

            async def other_writer() -> None:
                while time.perf_counter() < end:
                    began = time.perf_counter()
                    async with services.db.transaction() as tx:
                        waits.append(time.perf_counter() - began)
                        await tx.execute("UPDATE users SET name = name WHERE id = ?", (alice,))
                    await asyncio.sleep(0.02)

            started = time.perf_counter()
            await asyncio.gather(bob_stream(), other_writer())
            await asyncio.sleep(1)  # the last alerts' pushes
            elapsed = time.perf_counter() - started
            hang_up.set()
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
            delivery_claims.due = real_due
            latencies = [arrived[n] - t for n, t in sent.items() if n in arrived]
            print(f"backlog {backlog} on {phones} phone(s), {elapsed:.1f} s")
            print(f"  claims: {len(claims) / elapsed:.0f}/s, {ms(claims)},"
                  f" due rows read {rows_read[0]} ({rows_read[0] / max(1, len(claims)):.0f}/claim)")
            print(f"  due-row queries: {ms(due_times)}")
            print(f"  Bob's pushes: {len(latencies)} of {len(sent)} arrived, {ms(latencies)}")
            print(f"  other writers' wait: {ms(waits)}")
            print(f"  requests to the hanging service: {len(hanging.requests)}")
        await services.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backlog", type=int, default=5000)
    parser.add_argument("--phones", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    asyncio.run(run(args.backlog, args.phones, args.seconds))


if __name__ == "__main__":
    main()
