"""The push worker: turns inbox notifications into pushes, durably.

One round (:meth:`PushOutbox.run_once`):

1. **Fan out.** Each notification not yet dispatched becomes one ``push_deliveries`` row
   per device of its user that has a push token, a provider that can reach it and the
   category switched on (``only_device_id``/``except_device_id`` respected). Upload
   notifications wait for the device's uploads to pause (``uploads_digest_delay``).
2. **Claim.** In one transaction, due rows are looked at with the device's *current*
   state: gone device, switched-off category, a share that has ended or a notification
   already read in the app → cancelled (a security alert is pushed all the same: see
   ``_unread``); quiet hours in the device's time zone → held until they end (security
   notifications are never held); several upload notifications → one summary push.
   The rest are leased (``lease_until``) and their attempt counted.
3. **Send** the leased rows concurrently through their providers, and record each
   outcome in its own transaction: delivered; retry later with exponential backoff and
   jitter (``Retry-After`` honoured) until ``give_up_after`` has passed since the first
   attempt; failed; or endpoint dropped (the device's token is forgotten).

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
from typing import Any

from msgspec import Struct

from homesync import clock
from homesync.config import NotificationSettings, parse_duration
from homesync.push.base import DeliveryResult, Provider, PushMessage, PushTarget
from homesync.push.registry import ClientOnFirstUse, build_providers, pick
from homesync.services.notifications.messages import build_message, part_from_row
from homesync.services.notifications.quiet_hours import QuietHours, is_timezone, quiet_until
from homesync.store import deliveries, push_registrations
from homesync.store.db import Conn, Database, Row
from homesync.store.tokens import SignInLifetimes

__all__ = ["PushOutbox", "PushProviders", "backoff_ms"]

log = logging.getLogger("homesync.push")

_FAN_OUT_BATCH = 200
_CLAIM_BATCH = 100
_MAX_CONCURRENT_SENDS = 16
_PRUNE_EVERY_MS = 3600_000
# A Retry-After of 0 must not make a tight loop against a struggling service.
_MIN_RETRY_MS = 1000


def backoff_ms(attempts: int, *, initial_ms: int, max_ms: int, rng: random.Random) -> int:
    """Wait before attempt ``attempts + 1``: ``initial · 2^(attempts-1)``, capped at ``max``,
    then "equal jitter" (a random point in its upper half) so that many devices failing
    together do not retry in lockstep."""
    ceiling = min(max_ms, initial_ms * 2 ** max(0, min(attempts - 1, 30)))
    return int(ceiling / 2 + rng.random() * ceiling / 2)


class _Attempt(Struct, frozen=True, kw_only=True):
    """One leased row on its way to a provider."""

    delivery_id: int
    device_id: str
    token: str
    attempts: int
    first_attempt_at: int
    provider: Any  # Provider (a Protocol: not a msgspec field type)
    target: PushTarget
    message: PushMessage


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
        # Longer than any provider can take for one send (FCM: token exchange, send, one
        # re-authentication), so a live worker never loses its lease mid-send.
        self._lease_ms = (5 * parse_duration(settings.send_timeout) + 10) * 1000
        self._wake = asyncio.Event()
        self._in_flight: set[int] = set()
        self._sends = asyncio.Semaphore(_MAX_CONCURRENT_SENDS)
        self._last_prune = 0

    def wake(self) -> None:
        """Look for work now (call after committing a notification or a preference change)."""
        self._wake.set()

    # -- driving --------------------------------------------------------------------

    async def run_forever(self) -> None:
        """The server's background job: rounds until cancelled, sleeping while idle."""
        while True:
            self._wake.clear()
            try:
                done = await self.run_once()
            except Exception:
                log.exception("push worker round failed; trying again shortly")
                done = 0
            if done:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), await self._idle_seconds())

    async def drain(self, max_rounds: int = 1000) -> int:
        """Run rounds until nothing is due now; how much was done (tests, shutdown)."""
        total = 0
        for _ in range(max_rounds):
            done = await self.run_once()
            if not done:
                return total
            total += done
        raise RuntimeError("push outbox did not settle")

    async def run_once(self) -> int:
        """One round: fan out, claim, send, record. Returns the number of rows handled."""
        now = clock.now_ms()
        done = await self._fan_out(now)
        attempts, decided = await self._claim(now)
        if attempts:
            results = await asyncio.gather(*(self._send(a) for a in attempts),
                                           return_exceptions=True)
            for error in results:
                # Recording failed (the database?): the lease runs out and it is retried.
                if isinstance(error, Exception):
                    log.error("recording a push outcome failed", exc_info=error)
        if now - self._last_prune >= _PRUNE_EVERY_MS:
            self._last_prune = now
            async with self._db.transaction() as tx:
                await deliveries.prune_inbox(tx, now - self._retention_ms)
        return done + decided + len(attempts)

    async def aclose(self) -> None:
        """Hand back leases of sends cut short (shutdown), so a restart retries them at once."""
        if self._in_flight:
            async with self._db.transaction() as tx:
                await deliveries.release(tx, sorted(self._in_flight))
            self._in_flight.clear()

    async def _idle_seconds(self) -> float:
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
            if pick(self._providers, self._target(device["id"], device)) is None:
                continue  # nothing can reach it: inbox only
            await deliveries.add(tx, notification_id=notification["id"], device_id=device["id"],
                                 category=category, due=now, now=now)
            if category == "uploads":
                await deliveries.postpone_uploads(
                    tx, device["id"], latest_at=notification["created_at"],
                    delay_ms=self._digest_delay_ms, max_ms=self._digest_max_ms,
                )

    # -- 2. claim -------------------------------------------------------------------

    async def _claim(self, now: int) -> tuple[list[_Attempt], int]:
        """Leased attempts to make now, and how many rows were held or cancelled instead."""
        attempts: list[_Attempt] = []
        decided = 0
        if not await deliveries.has_due(self._db.reader, now):
            return attempts, decided
        async with self._db.transaction() as tx:
            merged: set[int] = set()
            for row in await deliveries.due(tx, now, _CLAIM_BATCH, self._sign_ins):
                if row["id"] in merged:
                    continue
                attempt = await self._claim_one(tx, row, now, merged)
                if attempt is None:
                    decided += 1
                else:
                    attempts.append(attempt)
                    self._in_flight.add(attempt.delivery_id)
        return attempts, decided

    async def _claim_one(self, tx: Conn, row: Row, now: int, merged: set[int]) -> _Attempt | None:
        delivery_id = row["id"]
        target = self._target(row["device_id"], row)
        provider = pick(self._providers, target) if row["push_token"] else None
        reason = _cancel_reason(row, provider)
        if reason:
            await deliveries.finish(tx, delivery_id, "cancelled", now=now, error=reason)
            return None
        if row["category"] != "security":  # security alerts are never held
            until = quiet_until(_quiet_hours(row), now)
            if until is not None:
                await deliveries.hold(tx, delivery_id, until)
                return None
        if row["category"] == "uploads" and row["attempts"] == 0:
            merged.update(await deliveries.merge_uploads(tx, delivery_id, row["device_id"], now))
        parts = [part_from_row(p) for p in await deliveries.message_parts(tx, delivery_id)
                 if _unread(p)]
        if not parts:
            await deliveries.finish(tx, delivery_id, "cancelled", now=now, error="read in the app")
            return None
        await deliveries.claim(tx, delivery_id, lease_until=now + self._lease_ms, now=now)
        return _Attempt(
            delivery_id=delivery_id, device_id=row["device_id"], token=row["push_token"],
            attempts=row["attempts"] + 1, first_attempt_at=row["first_attempt_at"] or now,
            provider=provider, target=target, message=build_message(parts),
        )

    @staticmethod
    def _target(device_id: str, row: Row) -> PushTarget:
        return PushTarget(platform=row["platform"], token=row["push_token"] or "",
                          device_id=device_id)

    # -- 3. send and record ---------------------------------------------------------

    async def _send(self, attempt: _Attempt) -> None:
        provider: Provider = attempt.provider
        async with self._sends:
            try:
                result = await provider.send(attempt.message, attempt.target)
            except Exception:
                # A provider must not raise (push.base); if one does, it is a bug, and
                # the message is still worth another try.
                log.exception("push provider %s raised", provider.name)
                result = DeliveryResult.retry(f"internal error in {provider.name} provider")
        await self._record(attempt, provider.name, result)
        self._in_flight.discard(attempt.delivery_id)

    async def _record(self, attempt: _Attempt, provider: str, result: DeliveryResult) -> None:
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


def _cancel_reason(row: Row, provider: Provider | None) -> str | None:
    """Why a due row should not be pushed at all any more, if it should not."""
    if row["removed_at"] is not None:
        return "device removed"
    if not row["signed_in"]:  # a password change, a stolen refresh token, run out
        return "signed out"
    if not row["push_token"]:
        return "device has no push registration"
    if provider is None:
        return "no push service configured for this device"
    if not row[row["category"]]:
        return f"{row['category']} notifications switched off on this device"
    if not row["share_live"]:  # revoked (shared with the wrong person?), left, trashed
        return "the share has ended"
    return None


def _unread(part: Row) -> bool:
    """Whether a notification the push carries is still news: not read in the app. A
    security alert always is: the inbox is the account's, and whoever signed in on a new
    device can read "New device login detected" there while its push waits for a retry;
    their read mark must not keep the alert from the owner's other devices."""
    return part["read_at"] is None or part["category"] == "security"


def _quiet_hours(row: Row) -> QuietHours:
    # A zone dropped from a newer tzdata keeps its hours, read in UTC.
    timezone = row["quiet_timezone"] if is_timezone(row["quiet_timezone"]) else "UTC"
    return QuietHours(enabled=bool(row["quiet_enabled"]), start=row["quiet_start"],
                      end=row["quiet_end"], timezone=timezone)


class PushProviders:
    """The providers ``[notifications]`` configures, and the HTTP clients they share.

    Built when the services start, so a half-configured provider or an unreadable key
    file stops start-up with a :class:`~homesync.config.ConfigError` naming the option.
    Close with :meth:`aclose`.
    """

    def __init__(self, settings: NotificationSettings) -> None:
        self._clients: list[ClientOnFirstUse] = []
        self.providers: list[Provider] = []
        if not settings.enabled:
            return
        timeout = float(parse_duration(settings.send_timeout))
        client = ClientOnFirstUse(timeout=timeout)
        self._clients.append(client)
        apns_client = None
        if settings.apns_key_file and settings.apns_base_url.startswith("http://"):
            # Real APNs is HTTP/2 over TLS; a cleartext base URL is a test server, which
            # speaks HTTP/2 only with prior knowledge.
            apns_client = ClientOnFirstUse(h2c=True, timeout=timeout)
            self._clients.append(apns_client)
        self.providers = build_providers(settings, client, apns_client=apns_client,
                                         timeout=timeout)

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
        self._clients.clear()
