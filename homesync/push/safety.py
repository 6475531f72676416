"""Outbound URL checks for endpoint URLs that clients hand us (UnifiedPush ``pushToken``).

A client-supplied URL makes the server send requests on the client's behalf, so without a
check any user could make it POST into the server's own network (SSRF): the admin panel
of the router, a cloud metadata service at 169.254.169.254, a database on localhost.

:func:`check_endpoint` accepts a URL only when

- the scheme is ``http`` or ``https`` and there is no user info (``user:pw@``), and
- every address the host resolves to is globally routable (not loopback, private,
  link-local, IPv6 site-local, multicast, reserved, unspecified, CGNAT…; IPv4 embedded in IPv6 is
  unwrapped first), **or** the host is allow-listed.

The allow-list is the server's own push servers (its ntfy server, which is also a
UnifiedPush distributor on the LAN) plus ``notifications.allowed_hosts``. An entry
``host`` allows every port of that host, ``host:port`` only that port; IPv6 literals are
written ``[fd00::1]:8080`` or bare ``fd00::1``. Allow-listed hosts are not resolved.

DNS rebinding: a name can resolve to a public address when we check and to a private one
when httpx connects a moment later. Callers therefore check again at send time (not only at
registration), and :mod:`homesync.push.unifiedpush` connects plain-``http`` endpoints to the
address that was checked (Host header kept). For ``https`` the certificate check is the
guard: an internal service cannot present a valid certificate for the attacker's name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable

from msgspec import Struct

__all__ = [
    "EndpointCheck",
    "Resolver",
    "address_problem",
    "check_endpoint",
    "host_allowed",
    "system_resolve",
]

#: ``resolve(host, port)`` → the addresses a connection could go to.
Resolver = Callable[[str, int], Awaitable[list[str]]]

MAX_URL_LENGTH = 2048
RESOLVE_TIMEOUT = 5.0

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IP = ipaddress.IPv4Address | ipaddress.IPv6Address


class EndpointCheck(Struct, frozen=True, kw_only=True):
    """The verdict on one URL.

    ``reason`` says why it was refused, in words fit for an API error message (it names
    the kind of address, never the address). ``transient`` marks a refusal that may go
    away (the name did not resolve): retry at send time, reject at registration.
    ``addresses`` are the checked addresses (empty for allow-listed hosts); ``host`` is
    the host name that did not resolve (for the user who typed it, who may have mistyped it).
    """

    ok: bool
    reason: str = ""
    transient: bool = False
    allow_listed: bool = False
    addresses: tuple[str, ...] = ()
    host: str = ""


async def system_resolve(host: str, port: int) -> list[str]:
    """The system resolver, off the event loop (``loop.getaddrinfo``), order kept, no repeats."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def address_problem(address: str) -> str | None:
    """Why an address must not be contacted (``"loopback"``, ``"private"``…), or ``None``."""
    try:
        ip: _IP = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        # IPv4 smuggled inside IPv6 reaches the IPv4 host: judge that one.
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip.teredo is not None:
            return "tunnelled (Teredo)"
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    for kind, flag in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        # fec0::/10: deprecated, yet internal where still used; ipaddress calls it global.
        ("site-local", isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local),
        ("multicast", ip.is_multicast),
        ("unspecified", ip.is_unspecified),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("not globally routable", not ip.is_global),
    ):
        if flag:
            return kind
    return None


def _split_allowed(entry: str) -> tuple[str, int | None] | None:
    """``host`` / ``host:port`` / ``[v6]:port`` / bare ``v6`` → (normalised host, port)."""
    import httpx  # here, not at the top: only checks need it, never an idle server

    entry = entry.strip()
    if entry.count(":") > 1 and not entry.startswith("["):
        entry = f"[{entry}]"  # a bare IPv6 literal
    try:
        url = httpx.URL(f"http://{entry}/")
    except httpx.InvalidURL:
        return None
    host = _norm_host(url.raw_host)
    return (host, url.port) if host else None


def _norm_host(raw_host: bytes) -> str:
    return raw_host.decode("ascii").lower().rstrip(".")


def host_allowed(host: str, port: int, allowed_hosts: Iterable[str]) -> bool:
    """Whether ``host`` (IDNA/ASCII, as ``httpx.URL.raw_host``) on ``port`` is allow-listed."""
    host = host.lower().rstrip(".")
    for entry in allowed_hosts:
        parsed = _split_allowed(entry)
        if parsed is not None and parsed[0] == host and parsed[1] in (None, port):
            return True
    return False


async def check_endpoint(
    url: str,
    allowed_hosts: Iterable[str] = (),
    *,
    resolve: Resolver | None = None,
) -> EndpointCheck:
    """Check a client-supplied endpoint URL before the server sends anything to it.

    Args:
        url: The URL as the client gave it.
        allowed_hosts: ``host`` or ``host:port`` entries that may be private.
        resolve: A resolver (tests); defaults to :func:`system_resolve`.

    Returns:
        The verdict; never raises.
    """
    import httpx  # see _split_allowed

    if len(url) > MAX_URL_LENGTH:
        return EndpointCheck(ok=False, reason=f"URL longer than {MAX_URL_LENGTH} characters")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return EndpointCheck(ok=False, reason="not a valid URL")
    if parsed.scheme not in ("http", "https"):
        return EndpointCheck(ok=False, reason="scheme must be http or https")
    if parsed.userinfo:
        return EndpointCheck(ok=False, reason="user info (user:password@) is not allowed")
    host = _norm_host(parsed.raw_host)
    if not host:
        return EndpointCheck(ok=False, reason="URL has no host")
    # Not `or`: an explicit :0 is no default port, and no port anything listens on.
    port = parsed.port if parsed.port is not None else (443 if parsed.scheme == "https" else 80)
    if not 0 < port < 65536:
        return EndpointCheck(ok=False, reason="invalid port")
    if host_allowed(host, port, allowed_hosts):
        return EndpointCheck(ok=True, allow_listed=True)

    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            addresses = await (resolve or system_resolve)(host, port)
    except (OSError, TimeoutError, UnicodeError):
        addresses = []
    if not addresses:
        return EndpointCheck(ok=False, transient=True, reason="host name does not resolve",
                             host=host)
    # Every address must pass: a name with one public and one private record would
    # otherwise let the connection pick the private one.
    for address in addresses:
        problem = address_problem(address)
        if problem is not None:
            return EndpointCheck(
                ok=False,
                reason=f"host resolves to a non-public address ({problem}); "
                "the server admin can allow it in notifications.allowed_hosts",
            )
    return EndpointCheck(ok=True, addresses=tuple(addresses))
