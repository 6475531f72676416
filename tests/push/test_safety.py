"""The outbound URL check for client-supplied endpoints."""

from __future__ import annotations

import socket

import pytest

from homesync.push.safety import address_problem, check_endpoint, host_allowed


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1/up", "loopback"),
        ("http://127.1:8080/up", "loopback"),
        ("https://localhost/up", "loopback"),
        ("http://[::1]/up", "loopback"),
        ("http://10.1.2.3/up", "private"),
        ("http://192.168.1.1/up", "private"),
        ("http://172.16.0.1/up", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[fe80::1]/up", "link-local"),
        ("http://[fd00::1]/up", "private"),
        ("http://[::ffff:127.0.0.1]/up", "loopback"),
        ("http://[::ffff:10.0.0.1]/up", "private"),
        ("http://[64:ff9b::a00:1]/up", "private"),  # NAT64 of 10.0.0.1
        ("http://[2002:a00:1::]/up", "private"),  # 6to4 of 10.0.0.1
        ("http://0.0.0.0/up", "unspecified"),
        ("http://224.0.0.1/up", "multicast"),
        ("http://100.64.0.1/up", "not globally routable"),  # CGNAT
        ("http://240.0.0.1/up", "reserved"),
        # Deprecated (RFC 3879) but still routed inside networks that use it; Python's
        # ipaddress calls it global.
        ("http://[fec0::1]/up", "site-local"),
    ],
)
async def test_refuses_non_public_addresses(url: str, kind: str) -> None:
    check = await check_endpoint(url)
    assert not check.ok
    assert not check.transient
    assert f"({kind})" in check.reason


async def test_public_literal_is_accepted() -> None:
    check = await check_endpoint("https://8.8.8.8/up/1")
    assert check.ok
    assert check.addresses == ("8.8.8.8",)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://push.example/x", "scheme must be http or https"),
        ("file:///etc/passwd", "scheme must be http or https"),
        ("gopher://push.example/", "scheme must be http or https"),
        ("https://user:pw@push.example/x", "user info"),
        ("https://user@push.example/x", "user info"),
        ("http:///nohost", "no host"),
        ("https://push.example/" + "a" * 3000, "longer than"),
        ("https://[zz]/up", "not a valid URL"),
        ("http://push.example:99999/", "invalid port"),
        ("https://push.example:0/up", "invalid port"),
    ],
)
async def test_refuses_bad_urls(url: str, reason: str) -> None:
    check = await check_endpoint(url, resolve=_never)
    assert not check.ok
    assert reason in check.reason


async def _never(host: str, port: int) -> list[str]:
    raise AssertionError("must not resolve")


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:8080/up", ["127.0.0.1"]),
        ("http://127.0.0.1:8080/up", ["127.0.0.1:8080"]),
        ("http://[::1]:8080/up", ["::1"]),
        ("http://[::1]:8080/up", ["[::1]:8080"]),
        ("http://10.0.0.5/up", ["10.0.0.5:80"]),
        ("https://ntfy.lan/up", ["NTFY.lan"]),
        ("https://ntfy.lan./up", ["ntfy.lan"]),
        ("https://ntfy.lan/up", ["ntfy.lan:443"]),
    ],
)
async def test_allow_list_bypasses_address_check(url: str, allowed: list[str]) -> None:
    check = await check_endpoint(url, allowed, resolve=_never)
    assert check.ok and check.allow_listed


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:8080/up", ["127.0.0.1:8081"]),
        ("http://10.0.0.5/up", ["10.0.0.5:443"]),
        ("http://10.0.0.6/up", ["10.0.0.5"]),
        ("https://ntfy.lan.evil.example/up", ["ntfy.lan"]),
    ],
)
async def test_allow_list_is_exact(url: str, allowed: list[str]) -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return ["10.9.9.9"]

    check = await check_endpoint(url, allowed, resolve=resolve)
    assert not check.ok


async def test_every_resolved_address_must_be_public() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return ["8.8.8.8", "192.168.0.10"]

    check = await check_endpoint("https://mixed.example/up", resolve=resolve)
    assert not check.ok
    assert "private" in check.reason
    assert "192.168" not in check.reason  # the kind, not the address


async def test_resolution_failure_is_transient() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    check = await check_endpoint("https://push.example/up", resolve=resolve)
    assert (check.ok, check.transient) == (False, True)


async def test_resolver_gets_idna_host_and_default_port() -> None:
    calls: list[tuple[str, int]] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append((host, port))
        return ["8.8.4.4"]

    assert (await check_endpoint("https://Bücher.example/up", resolve=resolve)).ok
    assert (await check_endpoint("http://push.example/up", resolve=resolve)).ok
    assert calls == [("xn--bcher-kva.example", 443), ("push.example", 80)]


def test_address_problem_and_host_allowed() -> None:
    assert address_problem("1.1.1.1") is None
    assert address_problem("2606:4700:4700::1111") is None
    assert address_problem("::") == "unspecified"
    assert address_problem("fe80::1%eth0") == "link-local"
    assert address_problem("nonsense") == "not an IP address"
    assert host_allowed("ntfy.lan", 80, ["ntfy.lan"])
    assert not host_allowed("ntfy.lan", 80, ["ntfy.lan:8080", "garbage:::[", ""])
