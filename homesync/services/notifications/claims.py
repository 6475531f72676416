"""Step 2 of the push worker (:mod:`.outbox`): the claim. In one transaction, due rows are
looked at with the device's *current* state and cancelled, held by quiet hours, merged
into a summary, or leased (``lease_until``) for an attempt, their attempt counted; as many
as there are free send slots: at most :data:`MAX_CONCURRENT_SENDS` in all and
:data:`MAX_SENDS_PER_ENDPOINT` to one push service (an endpoint URL's origin, or the
FCM/APNs/ntfy/webhook service), so that one slow service cannot take every slot."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from msgspec import Struct

from homesync.push.base import Provider, PushMessage, PushTarget
from homesync.push.registry import pick
from homesync.services.notifications.messages import build_message, part_from_row
from homesync.services.notifications.push_rules import (
    cancel_reason,
    endpoint_of,
    is_news,
    push_target,
    quiet_hours_of,
)
from homesync.services.notifications.quiet_hours import quiet_until
from homesync.store import deliveries, delivery_claims
from homesync.store.db import Conn, Database, Row
from homesync.store.tokens import SignInLifetimes

__all__ = ["MAX_CONCURRENT_SENDS", "MAX_SENDS_PER_ENDPOINT", "Attempt", "DueClaims"]

_CLAIM_BATCH = 100
# Due rows one claim looks at for free slots, so that one transaction is never endless. The
# devices of a push service with no free slot are passed over (all of them, from the start
# or from its first such row on), so its backlog, however long and however many devices
# it spans, does not hide the rows behind it (another service's).
_CLAIM_SCAN = 1000
MAX_CONCURRENT_SENDS = 32
MAX_SENDS_PER_ENDPOINT = 8


class Attempt(Struct, frozen=True, kw_only=True):
    """One leased row on its way to a provider."""

    delivery_id: int
    device_id: str
    token: str
    endpoint: str  # the push service it goes to (see push_rules.endpoint_of)
    attempts: int
    first_attempt_at: int
    provider: Any  # Provider (a Protocol: not a msgspec field type)
    target: PushTarget
    message: PushMessage


class _Full(Struct, frozen=True):
    """A row's push service (see push_rules.endpoint_of) has no free send slot."""

    endpoint: str


class _DevicesByService:
    """The devices with pushes waiting, by the push service their pushes go to."""

    def __init__(self) -> None:
        self._devices: dict[str, set[str]] = {}

    def add(self, endpoint: str, device_id: str) -> None:
        self._devices.setdefault(endpoint, set()).add(device_id)

    def of(self, endpoint: str) -> set[str]:
        return self._devices.get(endpoint, set())

    def of_full(self, busy: dict[str, int]) -> set[str]:
        """The devices of every service with no free slot (``busy``: sends in flight)."""
        return {device for endpoint, count in busy.items() if count >= MAX_SENDS_PER_ENDPOINT
                for device in self.of(endpoint)}


class DueClaims:
    """Claims due rows for one worker.

    Args:
        db: The database.
        providers: The configured providers.
        sign_ins: How long sign-ins last (a device signed out is pushed to no more).
        lease_ms: How long a claimed row is the worker's (longer than an attempt).
        in_flight: The worker's rows leased and not recorded yet (delivery id -> its
            endpoint), shared: a claim adds to it, the worker removes what it recorded.
    """

    def __init__(self, db: Database, providers: Sequence[Provider], *,
                 sign_ins: SignInLifetimes, lease_ms: int, in_flight: dict[int, str]) -> None:
        self._db = db
        self._providers = providers
        self._sign_ins = sign_ins
        self._lease_ms = lease_ms
        self._in_flight = in_flight

    async def claim(self, now: int) -> tuple[list[Attempt], int, bool]:
        """Leased attempts to make now, how many rows were held or cancelled instead, and
        whether due rows were left for want of a free send slot.

        Only as many as there are free send slots; rows for a push service whose slots
        are full stay due, untouched, for a later round."""
        attempts: list[Attempt] = []
        decided = 0
        if len(self._in_flight) >= MAX_CONCURRENT_SENDS:
            return attempts, decided, True
        if not await delivery_claims.has_due(self._db.reader, now):
            return attempts, decided, False
        starved = False
        async with self._db.transaction() as tx:
            busy: dict[str, int] = {}  # counted in the transaction: another round's are in
            for endpoint in self._in_flight.values():
                busy[endpoint] = busy.get(endpoint, 0) + 1
            merged: set[int] = set()
            # Devices whose push service has no free slot: their rows are passed over in
            # SQL, so that a full service's backlog, however many devices it spans, neither
            # hides the rows behind it nor is read again.
            services: _DevicesByService | None = None
            waiting: set[str] = set()
            if any(count >= MAX_SENDS_PER_ENDPOINT for count in busy.values()):
                services = await self._devices_by_service(tx)
                waiting = services.of_full(busy)
            after: tuple[int, int] | None = None
            for _ in range(_CLAIM_SCAN // _CLAIM_BATCH):
                rows = await delivery_claims.due(tx, now, _CLAIM_BATCH, self._sign_ins,
                                                 after=after, skip=waiting)
                for row in rows:
                    if len(self._in_flight) >= MAX_CONCURRENT_SENDS:
                        return attempts, decided, True
                    # Merged into a summary this round; or (a lease run out mid-send,
                    # which the attempt deadline prevents) still being sent by us.
                    if row["id"] in merged or row["id"] in self._in_flight:
                        continue
                    attempt = await self._claim_one(tx, row, now, merged, busy)
                    if attempt is None:
                        decided += 1
                    elif isinstance(attempt, _Full):
                        starved = True
                        if services is None:
                            services = await self._devices_by_service(tx)
                        waiting.add(row["device_id"])
                        waiting.update(services.of(attempt.endpoint))
                    else:
                        attempts.append(attempt)
                        self._in_flight[attempt.delivery_id] = attempt.endpoint
                        busy[attempt.endpoint] = busy.get(attempt.endpoint, 0) + 1
                if len(rows) < _CLAIM_BATCH or not starved:
                    break
                after = (rows[-1]["next_attempt_at"], rows[-1]["id"])
            if waiting and not starved:  # passed over from the start: are any due?
                starved = await delivery_claims.has_due(tx, now, among=waiting)
        return attempts, decided, starved

    async def _devices_by_service(self, tx: Conn) -> _DevicesByService:
        services = _DevicesByService()
        for device in await delivery_claims.devices_waiting(tx):
            target = push_target(device["id"], device)
            provider = pick(self._providers, target)
            if provider is not None:
                services.add(endpoint_of(provider, target), device["id"])
        return services

    async def _claim_one(self, tx: Conn, row: Row, now: int, merged: set[int],
                         busy: dict[str, int]) -> Attempt | _Full | None:
        """The row leased for an attempt; None when cancelled or held instead; _Full when
        its push service has no free slot (left as it is)."""
        delivery_id = row["id"]
        target = push_target(row["device_id"], row)
        provider = pick(self._providers, target) if row["push_token"] else None
        reason = cancel_reason(row, provider)
        if reason:
            await deliveries.finish(tx, delivery_id, "cancelled", now=now, error=reason)
            return None
        if row["category"] != "security":  # security alerts are never held
            until = quiet_until(quiet_hours_of(row), now)
            if until is not None:
                await delivery_claims.hold(tx, delivery_id, until)
                return None
        assert provider is not None  # else push_rules.cancel_reason
        endpoint = endpoint_of(provider, target)
        if busy.get(endpoint, 0) >= MAX_SENDS_PER_ENDPOINT:
            return _Full(endpoint)
        if row["category"] == "uploads" and row["attempts"] == 0:
            merged.update(
                await delivery_claims.merge_uploads(tx, delivery_id, row["device_id"], now))
        parts = [part_from_row(p) for p in await delivery_claims.message_parts(tx, delivery_id)
                 if is_news(p)]
        if not parts:
            await deliveries.finish(tx, delivery_id, "cancelled", now=now, error="read in the app")
            return None
        await delivery_claims.claim(tx, delivery_id, lease_until=now + self._lease_ms, now=now)
        return Attempt(
            delivery_id=delivery_id, device_id=row["device_id"], token=row["push_token"],
            endpoint=endpoint, attempts=row["attempts"] + 1,
            first_attempt_at=row["first_attempt_at"] or now,
            provider=provider, target=target, message=build_message(parts),
        )
