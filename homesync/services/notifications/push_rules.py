"""What the push worker (:mod:`.outbox`) decides about one push, apart from doing it:
whether it should still go, to which push service it goes (whose slowness its sends
share), when a failed one is tried again, and the device's quiet hours."""

from __future__ import annotations

import random

from homesync.push.base import Provider, PushTarget, is_endpoint_url
from homesync.services.notifications.quiet_hours import QuietHours, is_timezone
from homesync.store.db import Row

__all__ = ["backoff_ms", "cancel_reason", "endpoint_of", "is_news", "push_target",
           "quiet_hours_of"]


def backoff_ms(attempts: int, *, initial_ms: int, max_ms: int, rng: random.Random) -> int:
    """Wait before attempt ``attempts + 1``: ``initial · 2^(attempts-1)``, capped at ``max``,
    then "equal jitter" (a random point in its upper half) so that many devices failing
    together do not retry in lockstep."""
    ceiling = min(max_ms, initial_ms * 2 ** max(0, min(attempts - 1, 30)))
    return int(ceiling / 2 + rng.random() * ceiling / 2)


def push_target(device_id: str, row: Row) -> PushTarget:
    """Where a push to the device goes: ``row`` has its ``platform`` and ``push_token``."""
    return PushTarget(platform=row["platform"], token=row["push_token"] or "",
                      device_id=device_id)


def endpoint_of(provider: Provider, target: PushTarget) -> str:
    """The push service a send goes to, whose slowness its sends share: a UnifiedPush
    endpoint's origin (a user's own distributor at home, or ntfy.sh), else the provider's
    one service (FCM, APNs, the ntfy server, the webhook relay)."""
    if is_endpoint_url(target.token):
        scheme, _, rest = target.token.partition("://")
        return f"{provider.name} {scheme.lower()}://{rest.split('/', 1)[0].lower()}"
    return provider.name


def cancel_reason(row: Row, provider: Provider | None) -> str | None:
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


def is_news(part: Row) -> bool:
    """Whether a notification the push carries is still news: not read in the app. A
    security alert always is: the inbox is the account's, and whoever signed in on a new
    device can read "New device login detected" there while its push waits for a retry;
    their read mark must not keep the alert from the owner's other devices."""
    return part["read_at"] is None or part["category"] == "security"


def quiet_hours_of(row: Row) -> QuietHours:
    # A zone dropped from a newer tzdata keeps its hours, read in UTC.
    timezone = row["quiet_timezone"] if is_timezone(row["quiet_timezone"]) else "UTC"
    return QuietHours(enabled=bool(row["quiet_enabled"]), start=row["quiet_start"],
                      end=row["quiet_end"], timezone=timezone)
