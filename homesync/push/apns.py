"""Apple Push Notification service, token-based authentication, HTTP/2.

Auth: an ES256 JWT (header ``kid`` = key id, claims ``iss`` = team id and ``iat``) signed
with the ``.p8`` key from the Apple developer account. Apple rejects tokens older than an
hour and throttles ones renewed more often than every 20 minutes, so one token is reused
and replaced after 50 minutes (or at once when APNs answers ``ExpiredProviderToken``).

Send: ``POST {base_url}/3/device/{token}`` over HTTP/2 with headers
``authorization: bearer <jwt>``, ``apns-topic`` (the app's bundle id), ``apns-push-type:
alert``, ``apns-priority`` (10 high, 5 normal) and ``apns-collapse-id`` when the message
has a collapse key; body ``{"aps": {"alert": {"title", "body"}, "sound": "default"},
"notificationId", "category", ...data}`` cut to APNs' 4096-byte limit.

The injected client must speak HTTP/2: ``httpx.AsyncClient(http2=True)`` for the real
(TLS) service; for a cleartext ``http://`` test server, HTTP/2 with prior knowledge,
``httpx.AsyncClient(http1=False, http2=True)`` (see
:func:`homesync.push.http_client.new_http_client` with ``h2c=True``).

Answers: 200 delivered; 410, or 400 ``BadDeviceToken`` / ``DeviceTokenNotForTopic``, drop
the endpoint; 429 and 5xx retry; other errors (``BadTopic``, ``InvalidProviderToken``,
``PayloadTooLarge``…) fail.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING

import jwt
import msgspec
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from msgspec import Struct

from homesync import clock
from homesync.config import ConfigError
from homesync.push.base import (
    DeliveryResult,
    PushMessage,
    PushTarget,
    fit_payload,
    network_errors,
    network_failure,
    parse_retry_after,
    request_timeout,
    status_detail,
)

if TYPE_CHECKING:  # httpx is imported when the first push goes out
    import httpx

    from homesync.push.base import HttpClient

__all__ = ["ApnsProvider", "JWT_MAX_AGE", "MAX_PAYLOAD", "load_apns_key"]

JWT_MAX_AGE = 50 * 60.0
MAX_PAYLOAD = 4096
# Device tokens are hex (64 characters today; Apple says they may grow). Checking them
# also keeps anything else out of the request path.
_DEVICE_TOKEN = re.compile(r"[0-9A-Fa-f]{32,200}")
_DROP_REASONS = frozenset({"BadDeviceToken", "DeviceTokenNotForTopic", "Unregistered"})


def load_apns_key(path: str | Path) -> EllipticCurvePrivateKey:
    """Read the ``.p8`` signing key; :class:`ConfigError` names what is wrong."""
    where = f"notifications.apns_key_file ({path})"
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read: {exc.strerror or exc}") from None
    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"{where}: not an unencrypted PEM (.p8) key") from None
    if not isinstance(key, EllipticCurvePrivateKey) or not isinstance(key.curve, SECP256R1):
        raise ConfigError(f"{where}: not an EC P-256 key (APNs needs ES256)")
    return key


class _Reason(Struct):
    reason: str = ""


def _collapse_id(key: str) -> str:
    """APNs allows 64 bytes of collapse id; longer or odd keys are hashed to fit."""
    if key.isascii() and key.isprintable() and len(key) <= 64:
        return key
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ApnsProvider:
    """Delivers to iOS devices' APNs tokens.

    Args:
        client: An HTTP/2-capable client (see the module docstring).
        key: The ES256 signing key (:func:`load_apns_key`).
        key_id: The key's id (``kid``), ``notifications.apns_key_id``.
        team_id: The developer team id (``iss``), ``notifications.apns_team_id``.
        topic: The app's bundle id, ``notifications.apns_topic``.
        base_url: ``https://api.push.apple.com`` (or the sandbox, or a test server).
        timeout: Seconds per network operation; a timeout is ``retry``.
    """

    name = "apns"

    def __init__(
        self,
        client: HttpClient,
        *,
        key: EllipticCurvePrivateKey,
        key_id: str,
        team_id: str,
        topic: str,
        base_url: str = "https://api.push.apple.com",
        timeout: float = 10.0,
    ) -> None:
        self._client = client
        self._key = key
        self._key_id = key_id
        self._team_id = team_id
        self._topic = topic
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._jwt: str | None = None
        self._jwt_issued = 0.0

    def handles(self, target: PushTarget) -> bool:
        return target.platform == "ios" and bool(_DEVICE_TOKEN.fullmatch(target.token))

    async def send(self, message: PushMessage, target: PushTarget) -> DeliveryResult:
        if not _DEVICE_TOKEN.fullmatch(target.token):
            return DeliveryResult.drop_endpoint("not an APNs device token")
        body = fit_payload(message, _encode, MAX_PAYLOAD)
        if body is None:
            return DeliveryResult.failed(f"payload over {MAX_PAYLOAD} bytes")
        headers = {
            "apns-topic": self._topic,
            "apns-push-type": "alert",
            "apns-priority": "10" if message.priority == "high" else "5",
            "content-type": "application/json",
        }
        if message.collapse_key:
            headers["apns-collapse-id"] = _collapse_id(message.collapse_key)
        url = f"{self._base_url}/3/device/{target.token}"
        result = DeliveryResult.failed("not sent")
        for attempt in range(2):
            headers["authorization"] = f"bearer {self._bearer(renew=attempt > 0)}"
            try:
                response = await self._client.post(
                    url,
                    content=body,
                    headers=headers,
                    timeout=request_timeout(self._timeout),
                    follow_redirects=False,
                )
            except network_errors() as exc:
                return network_failure(exc)
            result, reason = _classify(response)
            if reason != "ExpiredProviderToken":
                break
        return result

    def _bearer(self, *, renew: bool = False) -> str:
        """The provider token, made anew when older than :data:`JWT_MAX_AGE` or on request.

        Synchronous, so concurrent sends on one event loop never sign twice at once.
        """
        now = clock.now()
        if renew or self._jwt is None or now - self._jwt_issued >= JWT_MAX_AGE:
            self._jwt = jwt.encode(
                {"iss": self._team_id, "iat": int(now)},
                self._key,
                algorithm="ES256",
                headers={"kid": self._key_id},
            )
            self._jwt_issued = now
        return self._jwt


def _encode(message: PushMessage) -> bytes:
    payload: dict[str, object] = {k: v for k, v in message.data.items() if k != "aps"}
    payload["notificationId"] = message.notification_id
    payload["category"] = message.category
    payload["aps"] = {
        "alert": {"title": message.title, "body": message.body},
        "sound": "default",
    }
    return msgspec.json.encode(payload)


def _classify(response: httpx.Response) -> tuple[DeliveryResult, str]:
    """The outcome of one APNs answer, and APNs' ``reason`` code (empty on success)."""
    status = response.status_code
    if status == 200:
        return DeliveryResult.delivered(status_detail(status)), ""
    try:
        reason = msgspec.json.decode(response.content, type=_Reason).reason
    except msgspec.DecodeError:
        reason = ""
    detail = status_detail(status, reason)
    if status == 410 or (status == 400 and reason in _DROP_REASONS):
        return DeliveryResult.drop_endpoint(detail), reason
    if status == 429 or status >= 500:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return DeliveryResult.retry(detail, retry_after), reason
    if reason == "ExpiredProviderToken":
        # Our token was refused as too old (clock skew?): send() renews it once, then
        # it is worth another try later.
        return DeliveryResult.retry(detail), reason
    return DeliveryResult.failed(detail), reason
