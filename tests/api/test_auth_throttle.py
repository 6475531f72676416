"""A2/A3: sign-in throttling per account and per address, hard lock, hashing bounded."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from homesync.app import create_app
from homesync.config import Settings
from tests.auth_helpers import FrozenClock, concurrent_client, running
from tests.helpers import API, PASSWORD, device_from, device_info, make_settings

REGISTER = f"{API}/auth/register"


def behind(settings: Settings, *proxies: str) -> Settings:
    """``settings`` trusting ``proxies``: set after loading, as the test client's peer
    address is "testclient", which the config refuses (proxies are IP addresses)."""
    settings.server.trusted_proxies = list(proxies)
    return settings


@contextlib.asynccontextmanager
async def server_with_alice(tmp_path: Path, *proxies: str,
                         **auth: Any) -> AsyncIterator[tuple[Any, Any]]:
    """A server with ``auth`` settings trusting ``proxies`` (if any), and alice's account
    on it: its services and test client."""
    settings = make_settings(tmp_path / "d", auth=auth)
    async with running(behind(settings, *proxies) if proxies else settings) as (services, client):
        await services.accounts.create_user("alice@example.com", PASSWORD)
        yield services, client


async def attempt(client: Any, email: str = "alice@example.com", password: str = "wrong guess!",
                  ip: str | None = None, client_id: str = "app-install-1") -> Any:
    headers = {"X-Forwarded-For": ip} if ip else {}
    return await client.post(REGISTER, headers=headers, json={
        "email": email, "password": password, "deviceInfo": device_info(client_id)})


async def guess_from(client: Any, *ips: str) -> None:
    """A wrong guess from each of ``ips``, each for another unknown email: they count
    against the address's window only, not against any account's."""
    for n, ip in enumerate(ips):
        assert (await attempt(client, f"guess{n}@example.com", ip=ip)).status_code == 401


async def strikes(services: Any, email: str = "alice@example.com") -> tuple[int, int, int]:
    row = await services.db.fetchone(
        "SELECT failed_logins, login_blocked_until, locked FROM users WHERE email = ?", (email,))
    return row["failed_logins"], row["login_blocked_until"], row["locked"]


async def test_backoff_after_five_failures_doubles_and_refuses_even_the_right_password(
        client, services, make_user):
    frozen = FrozenClock()
    await make_user()
    for _ in range(5):
        assert (await attempt(client)).status_code == 401

    # Checked before the password: otherwise the wait would not slow a guesser down.
    r = await attempt(client, password=PASSWORD)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "1"
    assert r.json()["error"]["code"] == "RATE_LIMITED"
    assert r.json()["error"]["details"] == {"retryAfter": 1}

    waits = []
    for _ in range(4):
        frozen.advance(int((await attempt(client)).headers.get("retry-after", "0") or 0) or 0)
        r = await attempt(client)
        assert r.status_code == 401, r.text  # the wait is over: one more real try
        r = await attempt(client)
        assert r.status_code == 429
        waits.append(int(r.headers["retry-after"]))
    assert waits == [2, 4, 8, 16]

    frozen.advance(16)
    assert (await attempt(client, password=PASSWORD)).status_code == 201
    assert await strikes(services) == (0, 0, 0)  # a success clears the strikes


async def test_backoff_is_capped(tmp_path: Path):
    frozen = FrozenClock()
    async with server_with_alice(tmp_path, login_free_failures=1,
                                 login_max_backoff="3s") as (_, client):
        for _ in range(5):
            assert (await attempt(client)).status_code == 401
            frozen.advance(3)
        assert (await attempt(client)).status_code == 401
        assert (await attempt(client)).headers["retry-after"] == "3"


async def test_a_clock_set_back_does_not_stretch_the_wait(client, services, make_user):
    # Failures while the server's clock ran a day ahead; then NTP set it right. The wait
    # those failures earned (1 s) must not become a day and a second.
    frozen = FrozenClock()
    await make_user()
    frozen.advance(86400)
    for _ in range(5):
        assert (await attempt(client)).status_code == 401
    assert (await attempt(client)).status_code == 429
    frozen.advance(-86400)
    assert (await attempt(client, password=PASSWORD)).status_code == 201


async def test_a_clock_set_back_does_not_stretch_the_address_window(tmp_path: Path):
    frozen = FrozenClock()
    async with server_with_alice(tmp_path, "testclient", login_failures_per_ip=2,
                                 login_ip_window="10m") as (_, client):
        frozen.advance(86400)
        await guess_from(client, "10.0.0.1", "10.0.0.1")
        frozen.advance(-86400)
        r = await attempt(client, password=PASSWORD, ip="10.0.0.1")
        assert r.status_code == 429 and int(r.headers["retry-after"]) <= 600
        frozen.advance(601)
        assert (await attempt(client, password=PASSWORD, ip="10.0.0.1")).status_code == 201


async def test_one_accounts_failures_do_not_slow_another(client, make_user):
    FrozenClock()
    await make_user()
    await make_user("bob@example.com", name="Bob")
    for _ in range(6):
        await attempt(client)
    assert (await attempt(client, password=PASSWORD)).status_code == 429
    assert (await attempt(client, "bob@example.com", PASSWORD)).status_code == 201


async def test_unknown_emails_are_throttled_exactly_like_accounts(client, make_user):
    """Otherwise a 429 would tell a guesser which emails have accounts."""
    FrozenClock()
    await make_user()
    for _ in range(5):
        known = await attempt(client, "alice@example.com")
        unknown = await attempt(client, "nobody@example.com")
        assert known.status_code == unknown.status_code == 401
        assert known.content == unknown.content
    known = await attempt(client, "alice@example.com")
    unknown = await attempt(client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 429
    assert known.content == unknown.content
    assert known.headers["retry-after"] == unknown.headers["retry-after"]


async def test_non_ascii_capitals_do_not_tell_which_spelling_has_an_account(
        client, services):
    """"Ärger@…" has an account and "Öl@…" none; "ärger@…" and "öl@…" are other emails
    (the email column folds only A-Z). Failures on the capitalised ones must not throttle
    the lower-case ones in one case only: that would reveal the account."""
    FrozenClock()
    await services.accounts.create_user("Ärger@example.com", PASSWORD)
    for _ in range(5):
        assert (await attempt(client, "Ärger@example.com")).status_code == 401
        assert (await attempt(client, "Öl@example.com")).status_code == 401
    known = await attempt(client, "ärger@example.com")
    unknown = await attempt(client, "öl@example.com")
    assert known.status_code == unknown.status_code == 401
    assert known.content == unknown.content


async def test_concurrent_guesses_are_counted_one_after_another(services, make_user):
    FrozenClock()
    await make_user()
    async with concurrent_client(services) as client:
        results = await asyncio.gather(*(attempt(client) for _ in range(15)))
    codes = sorted(r.status_code for r in results)
    assert codes == [401] * 5 + [429] * 10
    assert (await strikes(services))[0] == 5


async def test_failures_per_address_are_limited(tmp_path: Path):
    frozen = FrozenClock()
    async with server_with_alice(tmp_path, "testclient",  # the test client's peer address
                                 login_failures_per_ip=3, login_ip_window="10m") as (_, client):
        # Successful sign-ins do not use up the window.
        for _ in range(4):
            assert (await attempt(client, password=PASSWORD, ip="10.0.0.1")).status_code in (200, 201)
        await guess_from(client, "10.0.0.1", "10.0.0.1", "10.0.0.1")
        r = await attempt(client, password=PASSWORD, ip="10.0.0.1")
        assert r.status_code == 429 and int(r.headers["retry-after"]) <= 600
        assert (await attempt(client, password=PASSWORD, ip="10.0.0.2")).status_code == 200
        frozen.advance(601)
        assert (await attempt(client, password=PASSWORD, ip="10.0.0.1")).status_code == 200


async def test_tries_refused_for_an_accounts_wait_do_not_count_against_the_address(
        tmp_path: Path):
    # A phone retrying through its account's wait tests no password: the address's window
    # counts failures, so the household's other accounts can still sign in.
    FrozenClock()
    async with server_with_alice(tmp_path, "testclient", login_free_failures=1,
                                 login_failures_per_ip=3,
                                 login_max_backoff="15m") as (services, client):
        await services.accounts.create_user("bob@example.com", PASSWORD)
        assert (await attempt(client, ip="10.0.0.1")).status_code == 401
        for _ in range(5):
            r = await attempt(client, password=PASSWORD, ip="10.0.0.1")
            assert r.status_code == 429 and "wait" in r.json()["error"]["message"]
        r = await attempt(client, "bob@example.com", password=PASSWORD, ip="10.0.0.1",
                          client_id="bobs-phone")
        assert r.status_code == 201, r.text


async def test_a_trusted_proxy_seen_as_an_ipv4_mapped_address_is_trusted(tmp_path: Path):
    # Listening on "::" (dual stack), a proxy on 127.0.0.1 connects as ::ffff:127.0.0.1:
    # still the loopback the default trusted_proxies name, or every client behind it would
    # count as the proxy.
    FrozenClock()
    async with server_with_alice(tmp_path, login_failures_per_ip=2) as (services, _):
        app = create_app(services.settings, services)
        app.state.services = services  # what the lifespan does (see concurrent_client)
        transport = httpx.ASGITransport(app=app, client=("::ffff:127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t.local") as client:
            await guess_from(client, "203.0.113.7", "203.0.113.7")
            assert (await attempt(client, password=PASSWORD, ip="203.0.113.7")).status_code == 429
            assert (await attempt(client, password=PASSWORD, ip="198.51.100.1")).status_code == 201


async def test_an_ipv6_network_is_one_address(tmp_path: Path):
    # A home or phone network gets a /64: a guesser steps through its 2^64 addresses at
    # will, so the addresses of one /64 share a window (IPv4 ones stay one each).
    FrozenClock()
    async with server_with_alice(tmp_path, "testclient", login_failures_per_ip=2) as (_, client):
        await guess_from(client, "2001:db8:1:2::1", "2001:db8:1:2::2")
        r = await attempt(client, password=PASSWORD, ip="2001:db8:1:2:ffff::9")
        assert r.status_code == 429
        assert (await attempt(client, password=PASSWORD, ip="2001:db8:1:3::1")).status_code == 201
        assert (await attempt(client, password=PASSWORD, ip="::ffff:10.0.0.1")).status_code == 200


async def test_forwarded_for_is_ignored_from_untrusted_peers(tmp_path: Path):
    FrozenClock()
    async with server_with_alice(tmp_path, login_failures_per_ip=2) as (_, client):
        for n in range(2):
            await attempt(client, f"guess{n}@example.com", ip=f"10.0.0.{n}")
        # Rotating X-Forwarded-For does not help: the peer itself is the address.
        r = await attempt(client, password=PASSWORD, ip="10.0.0.99")
        assert r.status_code == 429


async def test_forwarded_for_is_read_past_a_chain_of_trusted_proxies(tmp_path: Path):
    # client -> 10.0.0.3 (trusted) -> the test client (trusted): the client is the last
    # address not one of ours, not the inner proxy, which would put everyone in one window.
    FrozenClock()
    async with server_with_alice(tmp_path, "testclient", "10.0.0.3",
                                 login_failures_per_ip=2) as (_, client):
        await guess_from(client, "203.0.113.7, 10.0.0.3", "203.0.113.7, 10.0.0.3")
        assert (await attempt(client, password=PASSWORD, ip="203.0.113.7, 10.0.0.3")).status_code == 429
        assert (await attempt(client, password=PASSWORD, ip="198.51.100.1, 10.0.0.3")).status_code == 201


async def test_a_forwarded_for_hop_with_a_port_is_its_address(tmp_path: Path):
    # Some proxies write the client's source port too ("203.0.113.7:51234", IPv6 in
    # brackets): a new port per connection must not be a new throttling window.
    FrozenClock()
    async with server_with_alice(tmp_path, "testclient", "10.0.0.3",
                                 login_failures_per_ip=2) as (_, client):
        await guess_from(client, "203.0.113.7:51000", "203.0.113.7:51001")
        assert (await attempt(client, password=PASSWORD, ip="203.0.113.7:51002")).status_code == 429
        # A trusted proxy's hop with its port is still one of ours.
        r = await attempt(client, password=PASSWORD, ip="203.0.113.7, 10.0.0.3:8080")
        assert r.status_code == 429
        await guess_from(client, "[2001:db8::1]:443", "[2001:db8::1]:444")
        assert (await attempt(client, password=PASSWORD, ip="2001:db8::5")).status_code == 429
        assert (await attempt(client, password=PASSWORD, ip="[2001:db8:1::1]")).status_code == 201


async def test_a_forwarded_for_line_of_the_clients_own_is_not_believed(tmp_path: Path):
    # A proxy that adds its own X-Forwarded-For line (HAProxy's `option forwardfor`)
    # leaves the client's line first: the address is read off all lines, from the end.
    FrozenClock()
    # concurrent_client: the ASGI scope keeps the two lines apart, as uvicorn does (the
    # test client would join them into one).
    async with server_with_alice(tmp_path, "testclient",
                                 login_failures_per_ip=2) as (services, _), \
            concurrent_client(services) as client:

        async def from_guesser(n: int, password: str) -> int:
            r = await client.post(
                REGISTER, headers=[("X-Forwarded-For", f"10.9.9.{n}"),
                                   ("X-Forwarded-For", "203.0.113.7")],
                json={"email": "alice@example.com", "password": password,
                      "deviceInfo": device_info()})
            return r.status_code

        assert [await from_guesser(n, f"wrong guess {n}") for n in range(2)] == [401, 401]
        assert await from_guesser(2, PASSWORD) == 429  # a made-up first line changes nothing
        assert (await attempt(client, password=PASSWORD, ip="198.51.100.1")).status_code == 201


async def test_hard_lock_until_unlock_keeps_existing_devices_signed_in(tmp_path: Path):
    frozen = FrozenClock()
    async with server_with_alice(tmp_path, login_lockout_after=3) as (services, client):
        phone = device_from((await attempt(client, password=PASSWORD, client_id="phone")).json(),
                            "alice@example.com", "phone")
        for _ in range(3):
            assert (await attempt(client)).status_code == 401
        assert (await strikes(services))[2] == 1

        # A guesser must not be able to sign the owner's phone out.
        assert (await client.get(f"{API}/devices", headers=phone.auth)).status_code == 200

        frozen.advance(7 * 86400)
        r = await attempt(client, password=PASSWORD)
        assert r.status_code == 429
        assert "unlock" in r.json()["error"]["message"]
        refreshed = await client.post(f"{API}/auth/refresh",
                                      json={"refreshToken": phone.refresh, "deviceId": "phone"})
        assert refreshed.status_code == 200
        access = refreshed.json()["tokens"]["accessToken"]
        listed = await client.get(f"{API}/devices", headers={"Authorization": f"Bearer {access}"})
        assert listed.status_code == 200

        await services.accounts.unlock("alice@example.com")
        assert await strikes(services) == (0, 0, 0)
        assert (await attempt(client, password=PASSWORD)).status_code == 201


async def test_password_hashing_runs_a_bounded_number_at_once(services):
    """A3: a burst of sign-ins never computes more than max_concurrent_hashes at once."""
    limit = services.settings.auth.max_concurrent_hashes
    running_now = peak = 0
    guard = threading.Lock()
    real_verify = services.passwords._verify

    def slow_verify(stored_hash: str, password: str) -> bool:
        nonlocal running_now, peak
        with guard:
            running_now += 1
            peak = max(peak, running_now)
        time.sleep(0.05)  # stands in for ~100 ms of argon2 work, off the event loop
        with guard:
            running_now -= 1
        return real_verify(stored_hash, password)

    services.passwords._verify = slow_verify
    async with concurrent_client(services) as client:
        results = await asyncio.gather(*(attempt(client, f"user{n}@example.com")
                                         for n in range(3 * limit)))
    assert all(r.status_code == 401 for r in results)
    assert 1 < peak <= limit


async def test_right_passwords_at_once_from_one_address_are_told_to_retry_in_a_second(
        tmp_path: Path):
    """A household behind one NAT signing its phones in after a reinstall: sign-ins still
    in flight hold the address's slots (so a burst of guesses is not all hashed before
    one failure is counted), but a refusal for that says when a slot frees, not the whole
    window, and the successes leave the address free to sign in."""
    FrozenClock()
    async with server_with_alice(tmp_path, login_failures_per_ip=20,
                                 login_ip_window="10m") as (services, _):
        async with concurrent_client(services) as client:
            results = await asyncio.gather(*(attempt(client, password=PASSWORD,
                                                     client_id=f"phone-{n}")
                                             for n in range(50)))
            codes = [r.status_code for r in results]
            assert codes.count(201) >= 20 and 429 in codes and set(codes) <= {201, 429}
            assert {r.headers["retry-after"] for r in results if r.status_code == 429} <= {"1"}
            assert (await attempt(client, password=PASSWORD)).status_code in (200, 201)


async def test_a_burst_of_guesses_from_one_address_is_not_all_hashed(tmp_path: Path):
    """The address's limit counts guesses still being checked: a burst at once (each for
    another email, so no account's turn-taking spaces them out) gets only the limit's worth
    of password checks; the rest are refused at once, told to come back in a second, and
    once those failures are in, for the rest of the window."""
    FrozenClock()
    async with server_with_alice(tmp_path, login_failures_per_ip=5,
                                 login_ip_window="10m") as (services, _):
        async with concurrent_client(services) as client:
            results = await asyncio.gather(*(attempt(client, f"guess{n}@example.com")
                                             for n in range(30)))
            codes = sorted(r.status_code for r in results)
            assert codes == [401] * 5 + [429] * 25
            assert {r.headers["retry-after"] for r in results if r.status_code == 429} == {"1"}
            r = await attempt(client, password=PASSWORD)
            assert r.status_code == 429 and r.headers["retry-after"] == "600"
