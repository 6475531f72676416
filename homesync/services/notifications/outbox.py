"""The push worker: turns inbox notifications into pushes, durably.

One round (:meth:`PushOutbox.run_once`):

1. **Fan out.** Each notification not yet dispatched becomes one ``push_deliveries`` row
   per device of its user that has a push token, a provider that can reach it and the
   category switched on (``only_device_id``/``except_device_id`` respected). Upload
   notifications wait for the device's uploads to pause (``uploads_digest_delay``).
2. **Claim.** In one transaction, due rows are looked at with the device's *current*
   state: gone device, switched-off category, a share that has ended or a notification
   already read in the app → cancelled (a security alert is pushed all the same: see
   ``push_rules.is_news``); quiet hours in the device's time zone → held until they end (security
   notifications are never held); several upload notifications → one summary push.
   The rest are leased (``lease_until``) and their attempt counted, as many as there
   are free send slots: at most ``claims.MAX_CONCURRENT_SENDS`` in all and
   ``claims.MAX_SENDS_PER_ENDPOINT`` to one push service (an endpoint URL's origin, or
   the FCM/APNs/ntfy/webhook service), so that one slow service cannot take every slot.
3. **Send** each leased row as a task of its own, which records its outcome in its own
   transaction: delivered; retry later with exponential backoff and jitter
   (``Retry-After`` honoured) until ``give_up_after`` has passed since the first attempt;
   failed; or endpoint dropped (the device's token is forgotten). The server's worker
   does not wait for its sends: while one push service takes its time (up to the
   attempt's deadline, well within the lease), the next rounds claim and send the rest.

Nothing is lost across crashes: rows are written in the transaction that dispatches
their notification, and a row leased by a process that died is sent again when the lease
runs out. A push therefore goes out at least once and, unless the process dies between
the push service's answer and the commit, exactly once; the payload carries the
notification id so apps can drop the rare duplicate.

Tests drive the worker with :meth:`PushOutbox.drain` and a frozen :mod:`homesync.clock`;
the server runs :meth:`PushOutbox.run_forever` as a background job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence

from homesync import clock
from homesync.config import NotificationSettings, parse_duration
from homesync.push.base import DeliveryResult, Provider
from homesync.push.registry import pick
from homesync.services.background_rounds import RoundLog
from homesync.services.notifications.claims import Attempt, DueClaims
from homesync.services.notifications.push_rules import backoff_ms, push_target
from homesync.store import deliveries, delivery_claims, push_registrations
from homesync.store.db import Conn, Database, Row
from homesync.store.tokens import SignInLifetimes

__all__ = ["PushOutbox"]

log = logging.getLogger("homesync.push")

_FAN_OUT_BATCH = 200
_PRUNE_EVERY_MS = 3600_000
# A Retry-After of 0 must not make a tight loop against a struggling service.
_MIN_RETRY_MS = 1000


class PushOutbox:
    """Delivers the notification outbox through push providers (see the module docstring).

    Args:
        db: The database.
        settings: The ``[notifications]`` section.
        providers: From :func:`homesync.push.registry.build_providers`; empty: inbox only.
        sign_ins: How long sign-ins last (``[auth]``): a device whose sign-in ran out is
            pushed to no more than one signed out.
        rng: Randomness for retry jitter (tests pass a seeded one).
    """

    def __init__(self, db: Database, settings: NotificationSettings,
                 providers: Sequence[Provider], *, sign_ins: SignInLifetimes,
                 rng: random.Random | None = None) -> None:
        self._db = db
        self._sign_ins = sign_ins
        self._providers = list(providers)
        self._rng = rng or random.Random()
        self._give_up_ms = parse_duration(settings.give_up_after) * 1000
        self._retry_initial_ms = parse_duration(settings.retry_initial_delay) * 1000
        self._retry_max_ms = parse_duration(settings.retry_max_delay) * 1000
        self._poll_s = float(parse_duration(settings.poll_interval))
        self._digest_delay_ms = parse_duration(settings.uploads_digest_delay) * 1000
        self._digest_max_ms = parse_duration(settings.uploads_digest_max) * 1000
        self._retention_ms = parse_duration(settings.inbox_retention) * 1000
        # One attempt may take this long in all (FCM: token exchange, send, one
        # re-authentication and resend, each up to send_timeout); then it is a timeout,
        # retried. Providers bound each request, not always the whole exchange, and a
        # service dribbling its answer must not hold a send slot for ever.
        send_timeout = parse_duration(settings.send_timeout)
        self._attempt_deadline_s = float(4 * send_timeout + 5)
        # Longer than an attempt and its recording, so a live worker never loses its
        # lease mid-send (and never sends a push again that it is still sending).
        self._lease_ms = (5 * send_timeout + 10) * 1000
        self._wake = asyncio.Event()
        # Leased by this process and not recorded yet: delivery id -> its endpoint.
        self._in_flight: dict[int, str] = {}
        self._claims = DueClaims(db, self._providers, sign_ins=sign_ins, lease_ms=self._lease_ms,
                                 in_flight=self._in_flight)
        self._sending: set[asyncio.Task[None]] = set()
        # One round at a time: drain (shutdown, tests) beside the background loop waits for
        # a round that has leased rows to start their sends, instead of finding nothing
        # due and nothing sending and returning with those rows still to send.
        self._one_round = asyncio.Lock()
        # The worker's last round left due rows for want of a free slot (a send ending
        # wakes it).
        self._starved = False
        self._last_prune = 0
        self._rounds = RoundLog(log, "push worker", "push worker round failed; trying again shortly")

    def wake(self) -> None:
        """Look for work now (call after committing a notification or a preference change)."""
        self._wake.set()

    # -- driving --------------------------------------------------------------------

    async def run_forever(self) -> None:
        """The server's background job: rounds until cancelled, sleeping while idle. Sends
        run on their own (each wakes the loop as it ends): a slow push service holds up
        its own pushes, not the next round's."""
        try:
            while True:
                self._wake.clear()
                if await self.worker_round():
                    continue
                idle = await self._idle_seconds()
                # Not asyncio.wait_for: Python 3.11's returns a wake-up that comes with a
                # cancellation and drops the cancellation, and the worker never stopped.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(idle):
                        await self._wake.wait()
        finally:
            # Shutdown: sends cut short keep their rows in _in_flight for aclose.
            await self._cancel_sends()

    async def worker_round(self) -> int:
        """One round as :meth:`run_forever` runs it: a failure is logged (once while the
        database stays busy: :class:`RoundLog`) and counts as nothing done."""
        done, self._starved = 0, False
        with self._rounds:
            done, self._starved = await self._round()
        return done

    async def drain(self, max_rounds: int = 1000) -> int:
        """Run rounds, and wait for their sends, until nothing is due now or in flight;
        how much was done (tests, shutdown)."""
        total = 0
        for _ in range(max_rounds):
            done, starved = await self._round()
            # A send that ends frees a slot for rows a full push service left due (and
            # may have ended already, while this round was committing).
            if not await self._sends_recorded() and not done and not starved:
                return total
            total += done
        raise RuntimeError("push outbox did not settle")

    async def run_once(self) -> int:
        """One round (fan out, claim, send) and then every send in flight recorded.
        Returns the number of rows the round handled."""
        done, _ = await self._round()
        await self._sends_recorded()
        return done

    async def aclose(self) -> None:
        """Hand back leases of sends cut short (shutdown), so a restart retries them at once."""
        await self._cancel_sends()
        if self._in_flight:
            async with self._db.transaction() as tx:
                await delivery_claims.release(tx, sorted(self._in_flight))
            self._in_flight.clear()

    async def _round(self) -> tuple[int, bool]:
        """Fan out, claim, and start a send task per leased row. Returns the rows handled,
        and whether due rows were left for want of a free send slot."""
        async with self._one_round:
            return await self._round_alone()

    async def _round_alone(self) -> tuple[int, bool]:
        now = clock.now_ms()
        done = await self._fan_out(now)
        attempts, decided, starved = await self._claims.claim(now)
        for attempt in attempts:
            task = asyncio.create_task(self._send(attempt), name="homesync:push-send")
            self._sending.add(task)
            task.add_done_callback(self._sent)
        if now - self._last_prune >= _PRUNE_EVERY_MS:
            async with self._db.transaction() as tx:
                # Before pruning: a push waiting for a sign-in that ran out keeps its
                # notification in the inbox until cancelled.
                await deliveries.cancel_run_out(tx, lifetimes=self._sign_ins, now=now)
                await deliveries.prune_inbox(tx, now - self._retention_ms)
            self._last_prune = now  # only once done: a busy database retries next round
        return done + decided + len(attempts), starved

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            # Recording failed (the database?): the lease runs out and it is retried.
            self._rounds.failed(error, "recording a push outcome failed")
        self.wake()  # a slot is free: rows left for want of one can go now

    async def _sends_recorded(self) -> bool:
        """Wait until the sends in flight have recorded their outcomes; whether there were
        any. Cancelling this cancels them too, as a dying process would."""
        if not self._sending:
            return False
        await asyncio.gather(*self._sending, return_exceptions=True)
        return True

    async def _cancel_sends(self) -> None:
        for task in list(self._sending):
            task.cancel()
        await asyncio.gather(*self._sending, return_exceptions=True)

    async def _idle_seconds(self) -> float:
        if self._starved:  # due rows wait for a slot; the send freeing one wakes us
            return self._poll_s
        wakeup = await deliveries.next_wakeup(self._db.reader)
        if wakeup is None:
            return self._poll_s
        return min(self._poll_s, max(0.0, (wakeup - clock.now_ms()) / 1000))

    # -- 1. fan out -----------------------------------------------------------------

    async def _fan_out(self, now: int) -> int:
        # Looked at on a reader first: an idle server should not take the writer every poll.
        if not await deliveries.has_undispatched(self._db.reader):
            return 0
        async with self._db.transaction() as tx:
            pending = await deliveries.undispatched(tx, _FAN_OUT_BATCH)
            for notification in pending:
                # A notification older than give_up_after (made while push was off, say)
                # stays in the inbox but is not pushed: it would only be noise now.
                if self._providers and now - notification["created_at"] < self._give_up_ms:
                    await self._fan_out_one(tx, notification, now)
                await deliveries.mark_dispatched(tx, notification["id"], now)
        return len(pending)

    async def _fan_out_one(self, tx: Conn, notification: Row, now: int) -> None:
        category = notification["category"]
        devices = await deliveries.push_devices(tx, notification["user_id"],
                                                notification_id=notification["id"],
                                                category=category,
                                                created_at=notification["created_at"],
                                                lifetimes=self._sign_ins, now=now)
        for device in devices:
            if notification["only_device_id"] not in (None, device["id"]):
                continue
            if notification["except_device_id"] == device["id"] or not device[category]:
                continue
            if pick(self._providers, push_target(device["id"], device)) is None:
                continue  # nothing can reach it: inbox only
            await deliveries.add(tx, notification_id=notification["id"], device_id=device["id"],
                                 category=category, due=now, now=now)
            if category == "uploads":
                await deliveries.postpone_uploads(
                    tx, device["id"], latest_at=notification["created_at"],
                    delay_ms=self._digest_delay_ms, max_ms=self._digest_max_ms,
                )

    # -- 3. send and record ---------------------------------------------------------

    async def _send(self, attempt: Attempt) -> None:
        provider: Provider = attempt.provider
        try:
            async with asyncio.timeout(self._attempt_deadline_s):
                result = await provider.send(attempt.message, attempt.target)
        except TimeoutError:
            result = DeliveryResult.retry("timeout")
        except Exception:
            # A provider must not raise (push.base); if one does, it is a bug, and
            # the message is still worth another try.
            log.exception("push provider %s raised", provider.name)
            result = DeliveryResult.retry(f"internal error in {provider.name} provider")
        try:
            await self._record(attempt, provider.name, result)
        except Exception:
            # Not recorded (the database?): the lease runs out and it is claimed again.
            self._in_flight.pop(attempt.delivery_id, None)
            raise
        # (Cancelled, at shutdown, it stays in _in_flight: aclose hands its lease back.)
        self._in_flight.pop(attempt.delivery_id, None)

    async def _record(self, attempt: Attempt, provider: str, result: DeliveryResult) -> None:
        now = clock.now_ms()
        detail = result.detail[:200] or result.outcome
        async with self._db.transaction() as tx:
            if result.outcome == "delivered":
                await deliveries.finish(tx, attempt.delivery_id, "delivered", now=now,
                                        provider=provider)
            elif result.outcome == "drop_endpoint":
                await deliveries.finish(tx, attempt.delivery_id, "dropped", now=now,
                                        provider=provider, error=detail)
                await push_registrations.drop_token(tx, attempt.device_id, attempt.token)
                log.info("push endpoint of device %s dropped (%s)", attempt.device_id, detail)
            elif result.outcome == "failed":
                await deliveries.finish(tx, attempt.delivery_id, "failed", now=now,
                                        provider=provider, error=detail)
                log.warning("push to device %s failed: %s", attempt.device_id, detail)
            elif now - attempt.first_attempt_at >= self._give_up_ms:
                await deliveries.finish(
                    tx, attempt.delivery_id, "failed", now=now, provider=provider,
                    error=f"gave up after {attempt.attempts} attempts: {detail}",
                )
                log.warning("push to device %s given up: %s", attempt.device_id, detail)
            else:
                if result.retry_after is not None:
                    wait = max(_MIN_RETRY_MS, int(result.retry_after * 1000))
                else:
                    wait = backoff_ms(attempt.attempts, initial_ms=self._retry_initial_ms,
                                      max_ms=self._retry_max_ms, rng=self._rng)
                await deliveries.reschedule(tx, attempt.delivery_id, at=now + wait,
                                            provider=provider, error=detail)
