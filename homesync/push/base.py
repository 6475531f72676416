"""The push provider contract: what the outbox worker hands a provider and what it gets back.

A *provider* delivers one :class:`PushMessage` to one :class:`PushTarget` over one transport
(UnifiedPush, ntfy, a webhook relay, FCM, APNs) and reports a :class:`DeliveryResult`.
Providers know nothing about the database, users or preferences: the services decide
*whether* and *what* to send (categories, quiet hours), the worker decides *when* (backoff,
give-up) and records the outcome, a provider only decides *how*.

What callers (the outbox worker) guarantee:

- ``send`` is called only with a target for which ``handles(target)`` is true
  (use :func:`homesync.push.registry.pick`).
- The message holds no file content and no secrets: titles, a short body, ids in ``data``.
- Calls may run concurrently on one provider instance; the injected HTTP client
  (:data:`HttpClient`) outlives the provider and is closed by its owner.

What implementers must do:

- Never raise for anything the network or the push service can do: connection errors,
  timeouts, TLS failures, unexpected statuses or bodies all become a :class:`DeliveryResult`.
  Network errors and timeouts are ``retry`` (see :func:`network_failure`). An exception that
  escapes ``send`` is a bug; the worker logs it and treats it as ``retry``.
- Never follow redirects (pass ``follow_redirects=False``): a 3xx is ``failed``.
- Honour ``Retry-After`` (:func:`parse_retry_after`) in ``retry_after``.
- Keep ``detail`` short and free of tokens, endpoint URLs, keys and response bodies: it is
  stored and may be shown to the user. A push service's error *code* (``Unregistered``,
  ``UNREGISTERED``) is fine.

Outcomes:

``delivered``       the push service accepted the message.
``retry``           try again later (network trouble, 429, 5xx); ``retry_after`` if known.
``drop_endpoint``   the token/endpoint is gone for good (404/410, ``Unregistered``): stop
                    sending to this device until it registers again.
``failed``          this message will not get through (bad payload, 413, 3xx, config or
                    credential trouble): don't retry it, but keep the endpoint.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, Protocol, TypeAlias, runtime_checkable

import msgspec
from msgspec import Struct

from homesync import clock

if TYPE_CHECKING:  # httpx is imported when the first push goes out (push.registry)
    import httpx

    from homesync.push.registry import ClientOnFirstUse

    #: The shared client a provider is given: httpx's, or the server's stand-in for it.
    HttpClient: TypeAlias = "httpx.AsyncClient | ClientOnFirstUse"

__all__ = [
    "Category",
    "DeliveryResult",
    "Outcome",
    "Platform",
    "Priority",
    "Provider",
    "PushMessage",
    "PushTarget",
    "fit_payload",
    "is_endpoint_url",
    "message_payload",
    "network_errors",
    "network_failure",
    "parse_retry_after",
    "request_timeout",
    "status_detail",
]

Category = Literal["uploads", "shares", "storage", "security"]
Priority = Literal["high", "normal"]
Platform = Literal["android", "ios", "web", "desktop"]
Outcome = Literal["delivered", "retry", "drop_endpoint", "failed"]

# A Retry-After further away than this is treated as this (the worker gives up after
# notifications.give_up_after anyway; a bogus "Retry-After: 99999999" must not park a row).
MAX_RETRY_AFTER = 24 * 3600.0

# Connecting to a push service takes at most this long (or send_timeout, if shorter): a
# host that drops packets (a distributor at home gone offline) is retried soon.
CONNECT_TIMEOUT = 5.0


class PushMessage(Struct, frozen=True, kw_only=True):
    """One notification, as every provider sees it.

    ``data`` carries ids only (``fileId``, ``shareId``…): the app fetches anything else
    over the authenticated API. ``collapse_key`` lets a later message replace an earlier
    one on the device (APNs ``apns-collapse-id``, FCM ``collapse_key``), e.g. for digests.
    """

    notification_id: str
    category: Category
    title: str
    body: str
    data: dict[str, str] = msgspec.field(default_factory=dict)
    priority: Priority = "normal"
    collapse_key: str | None = None


class PushTarget(Struct, frozen=True, kw_only=True):
    """Where to deliver: one device's push registration.

    ``token`` is an FCM registration token (``android``), an APNs device token (``ios``),
    an ``http(s)://`` UnifiedPush endpoint URL (any platform), or ``ntfy://<topic>`` for
    the server's own ntfy server (see :mod:`homesync.push.ntfy`).
    """

    platform: Platform
    token: str
    device_id: str


class DeliveryResult(Struct, frozen=True, kw_only=True):
    """What happened to one delivery attempt (see the module docstring for the outcomes)."""

    outcome: Outcome
    retry_after: float | None = None
    detail: str = ""

    @classmethod
    def delivered(cls, detail: str = "") -> DeliveryResult:
        return cls(outcome="delivered", detail=detail)

    @classmethod
    def retry(cls, detail: str, retry_after: float | None = None) -> DeliveryResult:
        return cls(outcome="retry", retry_after=retry_after, detail=detail)

    @classmethod
    def drop_endpoint(cls, detail: str) -> DeliveryResult:
        return cls(outcome="drop_endpoint", detail=detail)

    @classmethod
    def failed(cls, detail: str) -> DeliveryResult:
        return cls(outcome="failed", detail=detail)


@runtime_checkable
class Provider(Protocol):
    """One push transport. See the module docstring for the full contract."""

    #: Stable short name (``unifiedpush``, ``ntfy``, ``webhook``, ``fcm``, ``apns``); the
    #: worker records it with each attempt.
    name: str

    def handles(self, target: PushTarget) -> bool:
        """Whether this provider can deliver to ``target`` at all. Pure, no I/O."""
        ...

    async def send(self, message: PushMessage, target: PushTarget) -> DeliveryResult:
        """Deliver ``message`` to ``target`` once. Never raises for network or service errors."""
        ...


def is_endpoint_url(token: str) -> bool:
    """True when a push token is an ``http(s)://`` URL, i.e. a UnifiedPush endpoint."""
    head = token[:8].lower()
    return head.startswith(("http://", "https://"))


def message_payload(message: PushMessage) -> dict[str, object]:
    """The message as the JSON object apps and relays receive (camelCase, like the API)."""
    payload: dict[str, object] = {
        "notificationId": message.notification_id,
        "category": message.category,
        "title": message.title,
        "body": message.body,
        "data": message.data,
        "priority": message.priority,
    }
    if message.collapse_key is not None:
        payload["collapseKey"] = message.collapse_key
    return payload


def fit_payload(
    message: PushMessage, encode: Callable[[PushMessage], bytes], limit: int
) -> bytes | None:
    """``encode(message)``, shortening the body (then the title) until it is ≤ ``limit`` bytes.

    Text is cut on character boundaries and marked with an ellipsis. Returns ``None`` when
    even an empty body and title do not fit (oversized ``data``): the caller reports
    ``failed``.
    """
    raw = encode(message)
    if len(raw) <= limit:
        return raw
    for field in ("body", "title"):
        text: str = getattr(message, field)
        # Binary search for the longest prefix that fits: encoding is cheap, messages small.
        lo, hi, best = 0, len(text), None
        while lo <= hi:
            mid = (lo + hi) // 2
            cut = text[:mid].rstrip() + "…" if mid else ""
            candidate = encode(msgspec.structs.replace(message, **{field: cut}))
            if len(candidate) <= limit:
                best, lo = candidate, mid + 1
            else:
                hi = mid - 1
        if best is not None:
            return best
        message = msgspec.structs.replace(message, **{field: ""})
    return None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date).

    ``None`` when absent or unreadable; clamped to ``[0, MAX_RETRY_AFTER]``.
    """
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # isdigit() alone passes "²", which float() refuses
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - clock.now()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def request_timeout(seconds: float) -> httpx.Timeout:
    """A request's timeouts for a ``send_timeout`` of ``seconds``: reading, writing and
    waiting for a pooled connection take up to ``seconds`` each, connecting up to
    :data:`CONNECT_TIMEOUT`. Pass it whole as ``timeout=``: a number there would replace
    the client's connect limit too."""
    import httpx

    return httpx.Timeout(seconds, connect=min(seconds, CONNECT_TIMEOUT))


def network_errors() -> tuple[type[Exception], ...]:
    """What a provider catches around an HTTP call (``except network_errors() as exc``) and
    hands to :func:`network_failure`: httpx's errors, imported by the time one is raised."""
    import httpx

    return (httpx.HTTPError, httpx.InvalidURL)


def network_failure(exc: Exception) -> DeliveryResult:
    """Map an httpx exception to a result: transport trouble and timeouts are ``retry``.

    Only the exception's class name goes into ``detail``: httpx messages can contain the
    URL, and for UnifiedPush and APNs the URL holds the token.
    """
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return DeliveryResult.retry("timeout")
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return DeliveryResult.failed(f"unusable URL ({type(exc).__name__})")
    return DeliveryResult.retry(f"network error ({type(exc).__name__})")


_SAFE_CODE = re.compile(r"[^A-Za-z0-9_.\- ]")


def status_detail(status: int, code: str | None = None) -> str:
    """``HTTP 410`` or ``HTTP 400 BadDeviceToken``: a push service's error code, sanitised."""
    if not code:
        return f"HTTP {status}"
    return f"HTTP {status} {_SAFE_CODE.sub('', code)[:60]}"
