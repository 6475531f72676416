"""Sessions, rotation and throttling rules, called directly (no HTTP)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from homesync.config import AuthSettings
from homesync.errors import InvalidCredentials, RateLimited
from homesync.services.auth.login_throttle import LoginThrottle, Strikes
from homesync.services.auth.rotation import RotationPolicy, Verdict
from homesync.services.auth.sessions import DeviceRegistration, device_name
from homesync.services.auth.throttle import SlidingWindow
from tests.auth_helpers import FrozenClock
from tests.helpers import PASSWORD

# -- the rotation rule ----------------------------------------------------------------

POLICY = RotationPolicy(idle_ms=30_000, absolute_ms=90_000, grace_ms=60)


def judge(**overrides: Any) -> Verdict:
    case: dict[str, Any] = dict(bound_client_id="phone", client_id="phone", issued_at=0,
                                used_at=None, family_created_at=0, successor_used=None, now=10)
    case.update(overrides)
    return POLICY.judge(**case)


@pytest.mark.parametrize("overrides, verdict", [
    ({}, Verdict.ROTATE),
    ({"now": 30_000}, Verdict.ROTATE),                        # idle limit is inclusive
    ({"now": 30_001}, Verdict.EXPIRED),
    ({"issued_at": 80_000, "now": 90_001}, Verdict.EXPIRED),  # absolute, however fresh
    ({"client_id": "tablet"}, Verdict.WRONG_DEVICE),
    ({"client_id": "tablet", "used_at": 5, "successor_used": False}, Verdict.WRONG_DEVICE),
    ({"used_at": 5, "successor_used": False, "now": 65}, Verdict.REPLAY),
    ({"used_at": 5, "successor_used": False, "now": 66}, Verdict.REUSED),
    ({"used_at": 5, "successor_used": True, "now": 6}, Verdict.REUSED),
    ({"used_at": 5, "successor_used": None, "now": 6}, Verdict.REUSED),
    # Reuse is judged before expiry: an old token replayed late is theft, not "expired".
    ({"used_at": 5, "successor_used": True, "now": 10**9}, Verdict.REUSED),
])
def test_rotation_verdicts(overrides: dict[str, Any], verdict: Verdict) -> None:
    assert judge(**overrides) is verdict


# -- login throttling -----------------------------------------------------------------

def throttle(**settings: Any) -> LoginThrottle:
    return LoginThrottle(AuthSettings(**settings))


def test_backoff_schedule() -> None:
    t = throttle(login_free_failures=5, login_max_backoff="15m")
    assert [t.delay_after(n) for n in range(1, 12)] == [0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64]
    assert t.delay_after(15) == 900 and t.delay_after(10_000) == 900


def test_strikes_lock_at_the_limit_and_stay_locked() -> None:
    t = throttle(login_lockout_after=3)
    s = Strikes()
    for _ in range(2):
        s = t.after_failure(s, now_ms=0)
    assert not s.locked
    s = t.after_failure(s, now_ms=0)
    assert s.locked and s.failures == 3
    with pytest.raises(RateLimited) as exc:
        t.check(s, now_ms=10**12)
    assert exc.value.retry_after == 3600


def test_check_reports_the_remaining_wait_rounded_up() -> None:
    t = throttle()
    with pytest.raises(RateLimited) as exc:
        t.check(Strikes(failures=7, blocked_until_ms=10_001), now_ms=8_000)  # a 4 s wait
    assert exc.value.retry_after == 3
    t.check(Strikes(failures=7, blocked_until_ms=10_000), now_ms=10_000)  # over: no error
    # Longer than 7 failures earn (4 s): the clock was set back since; the wait is over.
    t.check(Strikes(failures=7, blocked_until_ms=14_001), now_ms=10_000)


async def test_attempts_on_one_account_take_turns_and_leave_nothing_behind() -> None:
    t = throttle()
    active: dict[str, int] = {"a": 0, "b": 0}
    peak: dict[str, int] = {"a": 0, "b": 0}

    async def one(key: str) -> None:
        async with t.attempt(key, "10.0.0.1"):
            active[key] += 1
            peak[key] = max(peak[key], active[key])
            await asyncio.sleep(0)
            active[key] -= 1

    await asyncio.gather(*(one(k) for k in "ababab"))
    assert peak == {"a": 1, "b": 1}
    assert t._account_locks == {}


def test_unknown_accounts_are_remembered_within_bounds() -> None:
    t = throttle(login_free_failures=1)
    for n in range(10_050):
        t.record_unknown_failure(f"user{n}@example.com", now_ms=0)
    assert t.unknown_strikes("user10049@example.com").failures == 1
    assert t.unknown_strikes("user0@example.com") == Strikes()  # the oldest were forgotten


def test_sliding_window_forgive_gives_back_the_last_event() -> None:
    FrozenClock(1000)
    w = SlidingWindow(2, 60)
    w.check_and_hit("k")
    w.check_and_hit("k")
    with pytest.raises(RateLimited):
        w.check("k")
    w.forgive("k")
    w.check("k")
    w.forgive("never-seen")  # harmless


# -- the services ---------------------------------------------------------------------

def registration(client_id: str = "phone", **kw: Any) -> DeviceRegistration:
    fields: dict[str, Any] = dict(platform="android", model="Pixel 7", os_version="14",
                                  app_version="1.0", client_id=client_id)
    fields.update(kw)
    return DeviceRegistration(**fields)


def test_device_names() -> None:
    assert device_name("John Doe", "Pixel 7") == "John's Pixel 7"
    assert device_name("Cher", "iPhone 15") == "Cher's iPhone 15"
    assert len(device_name("A", "x" * 500)) == 200


async def test_register_then_principal(services) -> None:
    await services.accounts.create_user("alice@example.com", PASSWORD, name="Alice Liddell")
    first = await services.sessions.register("alice@example.com", PASSWORD, registration(),
                                             "127.0.0.1")
    again = await services.sessions.register("alice@example.com", PASSWORD, registration(),
                                             "127.0.0.1")
    assert first.created and not again.created
    assert first.device["id"] == again.device["id"]

    principal = await services.sessions.principal(again.tokens.access_token)
    assert principal.device_id == again.device["id"] and principal.client_id == "phone"
    assert principal.name == "Alice Liddell" and principal.is_admin is False
    # Other areas read settings from the principal: defaults are filled in.
    assert principal.settings["syncFolders"] == [] and principal.settings["wifiOnly"] is True


async def test_pending_uploads_hook_feeds_sync_data(services) -> None:
    await services.accounts.create_user("alice@example.com", PASSWORD)
    seen: list[str] = []

    async def pending(device_id: str) -> int:
        seen.append(device_id)
        return 3

    services.sessions.pending_uploads = pending
    result = await services.sessions.register("alice@example.com", PASSWORD, registration(),
                                              "127.0.0.1")
    assert result.pending_uploads == 3 and seen == [result.device["id"]]


async def test_unknown_email_costs_one_verification(services) -> None:
    calls: list[str] = []
    real = services.passwords._verify

    def counting(stored_hash: str, password: str) -> bool:
        calls.append(stored_hash)
        return real(stored_hash, password)

    services.passwords._verify = counting
    with pytest.raises(InvalidCredentials):
        await services.accounts.authenticate("nobody@example.com", PASSWORD, "127.0.0.1")
    with pytest.raises(InvalidCredentials):
        await services.accounts.authenticate("nobody@example.com", "x" * 5000, "127.0.0.1")
    assert len(calls) == 2


async def test_a_failure_recorded_after_an_unlock_counts_from_zero(services) -> None:
    """Strikes are computed from the row inside the write, not from a stale read."""
    FrozenClock()
    await services.accounts.create_user("alice@example.com", PASSWORD)
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            await services.accounts.authenticate("alice@example.com", "wrong one!", "1.2.3.4")
    await services.accounts.unlock("alice@example.com")
    with pytest.raises(InvalidCredentials):
        await services.accounts.authenticate("alice@example.com", "wrong one!", "1.2.3.4")
    row = await services.db.fetchone("SELECT failed_logins FROM users")
    assert row["failed_logins"] == 1
