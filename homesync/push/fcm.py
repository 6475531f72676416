"""Firebase Cloud Messaging, HTTP v1 API, authenticated with a service account.

OAuth: an RS256 JWT assertion signed with the service account's key
(``iss`` = ``client_email``, ``scope`` = firebase.messaging, ``aud`` = the token URL,
one hour) is exchanged at the token URL (``grant_type=urn:ietf:params:oauth:grant-type:
jwt-bearer``) for an access token, which is cached until a few minutes before it expires
and shared by concurrent sends.

Send: ``POST {base_url}/v1/projects/{project}/messages:send`` with
``{"message": {"token", "notification": {"title", "body"}, "data": {...},
"android": {"priority": "HIGH"|"NORMAL"[, "collapse_key"]}}}``; ``data`` carries the
message's ids plus ``notificationId`` and ``category`` (FCM data values are strings).

Answers: 200 delivered; 404, ``UNREGISTERED``, ``SENDER_ID_MISMATCH`` or a 400
``INVALID_ARGUMENT`` about ``message.token`` drop the endpoint; 401 refreshes the access
token once and resends; 429/500/503 retry (``Retry-After`` honoured); other errors fail.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
import msgspec
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
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

__all__ = [
    "FCM_SCOPE",
    "FcmProvider",
    "JWT_BEARER_GRANT",
    "ServiceAccount",
    "load_service_account",
]

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME = 3600
# Stop using an access token this long before it expires (clock skew, slow requests).
REFRESH_MARGIN = 300.0
# FCM refuses messages over 4096 bytes; stay under it with the JSON envelope around them.
MAX_MESSAGE = 4000
# FCM registration tokens: URL-safe base64 with a ":" — anything else is not one.
_FCM_TOKEN = re.compile(r"[A-Za-z0-9_\-:.]{1,4096}")


class ServiceAccount(Struct, frozen=True, kw_only=True):
    """The fields of a Google service-account JSON file that are used here."""

    client_email: str
    private_key: str
    token_uri: str = "https://oauth2.googleapis.com/token"
    private_key_id: str = ""
    project_id: str = ""


def load_service_account(path: str | Path) -> tuple[ServiceAccount, RSAPrivateKey]:
    """Read and check a service-account file; :class:`ConfigError` names what is wrong."""
    where = f"notifications.fcm_service_account_file ({path})"
    try:
        account = msgspec.json.decode(Path(path).read_bytes(), type=ServiceAccount)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read: {exc.strerror or exc}") from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{where}: not a service-account JSON file: {exc}") from None
    try:
        key = load_pem_private_key(account.private_key.encode("utf-8"), password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"{where}: private_key is not an unencrypted PEM key") from None
    if not isinstance(key, RSAPrivateKey):
        raise ConfigError(f"{where}: private_key is not an RSA key")
    return account, key


class _TokenReply(Struct):
    access_token: str
    expires_in: float = 3600.0


class _OAuthError(Struct):
    error: str = ""


class _Violation(Struct):
    field: str = ""


class _ErrorDetail(
    Struct,
    rename={"type": "@type", "error_code": "errorCode", "field_violations": "fieldViolations"},
):
    type: str = ""
    error_code: str = ""
    field_violations: list[_Violation] = msgspec.field(default_factory=list)


class _Error(Struct):
    status: str = ""
    message: str = ""
    details: list[_ErrorDetail] = msgspec.field(default_factory=list)


class _ErrorBody(Struct):
    error: _Error = msgspec.field(default_factory=_Error)


def _decode(raw: bytes, kind: type[Any]) -> Any:
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.DecodeError:
        return None


class FcmProvider:
    """Delivers to Android devices' FCM registration tokens.

    Args:
        client: Shared HTTP client.
        project_id: Firebase project id (``notifications.fcm_project_id``).
        account: The service account (:func:`load_service_account`).
        key: Its RSA private key (also from :func:`load_service_account`).
        base_url: FCM API base (tests point it at a local receiver).
        token_url: OAuth token endpoint (``notifications.fcm_token_url``); empty uses the
            account file's ``token_uri`` (the same URL for real Google accounts).
        timeout: Seconds per network operation; a timeout is ``retry``.
    """

    name = "fcm"

    def __init__(
        self,
        client: HttpClient,
        *,
        project_id: str,
        account: ServiceAccount,
        key: RSAPrivateKey,
        base_url: str = "https://fcm.googleapis.com",
        token_url: str = "",
        timeout: float = 10.0,
    ) -> None:
        self._client = client
        self._account = account
        self._key = key
        self._send_url = f"{base_url.rstrip('/')}/v1/projects/{project_id}/messages:send"
        self._token_url = token_url or account.token_uri
        self._timeout = timeout
        self._lock = asyncio.Lock()
        self._access_token: str | None = None
        self._use_until = 0.0

    def handles(self, target: PushTarget) -> bool:
        return target.platform == "android" and bool(_FCM_TOKEN.fullmatch(target.token))

    async def send(self, message: PushMessage, target: PushTarget) -> DeliveryResult:
        if not _FCM_TOKEN.fullmatch(target.token):
            return DeliveryResult.drop_endpoint("not an FCM registration token")
        body = fit_payload(message, lambda m: self._encode(m, target), MAX_MESSAGE)
        if body is None:
            return DeliveryResult.failed(f"message over {MAX_MESSAGE} bytes")
        stale: str | None = None
        for _attempt in range(2):
            token = await self._get_access_token(stale)
            if isinstance(token, DeliveryResult):
                return token
            try:
                response = await self._client.post(
                    self._send_url,
                    content=body,
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/json",
                    },
                    timeout=request_timeout(self._timeout),
                    follow_redirects=False,
                )
            except network_errors() as exc:
                return network_failure(exc)
            if response.status_code != 401:
                return self._classify(response)
            stale = token  # the access token was revoked or expired early: get a new one
        return DeliveryResult.retry(status_detail(401, "UNAUTHENTICATED"))

    def _encode(self, message: PushMessage, target: PushTarget) -> bytes:
        android: dict[str, str] = {"priority": "HIGH" if message.priority == "high" else "NORMAL"}
        if message.collapse_key:
            android["collapse_key"] = message.collapse_key
        data = {
            **message.data,
            "notificationId": message.notification_id,
            "category": message.category,
        }
        return msgspec.json.encode(
            {
                "message": {
                    "token": target.token,
                    "notification": {"title": message.title, "body": message.body},
                    "data": data,
                    "android": android,
                }
            }
        )

    def _classify(self, response: httpx.Response) -> DeliveryResult:
        status = response.status_code
        if status == 200:
            return DeliveryResult.delivered(status_detail(status))
        error = (_decode(response.content, _ErrorBody) or _ErrorBody()).error
        codes = [d.error_code for d in error.details if d.error_code]
        # FcmError.errorCode is the precise one (UNREGISTERED); status is the generic kind.
        code = next((c for c in codes if c != error.status), error.status)
        detail = status_detail(status, code)
        if status == 404 or {"UNREGISTERED", "SENDER_ID_MISMATCH"} & set(codes):
            return DeliveryResult.drop_endpoint(detail)
        if status == 400 and error.status == "INVALID_ARGUMENT" and _about_token(error):
            return DeliveryResult.drop_endpoint(detail)
        if status == 429 or status >= 500:
            return DeliveryResult.retry(
                detail, parse_retry_after(response.headers.get("retry-after"))
            )
        if 300 <= status < 400:
            return DeliveryResult.failed(f"redirect refused ({detail})")
        return DeliveryResult.failed(detail)

    async def _get_access_token(self, stale: str | None) -> str | DeliveryResult:
        """The cached access token, or a fresh one; a result when the exchange fails.

        ``stale`` is a token FCM just refused: replaced unless a concurrent send already did.
        """
        async with self._lock:
            token = self._access_token
            if token is not None and token != stale and clock.now() < self._use_until:
                return token
            return await self._exchange()

    async def _exchange(self) -> str | DeliveryResult:
        now = int(clock.now())
        claims = {
            "iss": self._account.client_email,
            "scope": FCM_SCOPE,
            "aud": self._token_url,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        }
        headers = {"kid": self._account.private_key_id} if self._account.private_key_id else None
        assertion = jwt.encode(claims, self._key, algorithm="RS256", headers=headers)
        try:
            response = await self._client.post(
                self._token_url,
                data={"grant_type": JWT_BEARER_GRANT, "assertion": assertion},
                timeout=request_timeout(self._timeout),
                follow_redirects=False,
            )
        except network_errors() as exc:
            result = network_failure(exc)
            return msgspec.structs.replace(result, detail=f"oauth: {result.detail}")
        status = response.status_code
        if status == 200:
            reply = _decode(response.content, _TokenReply)
            if reply is None:
                return DeliveryResult.retry("oauth: unreadable token response")
            self._access_token = reply.access_token
            margin = min(REFRESH_MARGIN, reply.expires_in / 2)
            self._use_until = now + reply.expires_in - margin
            return str(reply.access_token)
        detail = "oauth: " + status_detail(
            status, (_decode(response.content, _OAuthError) or _OAuthError()).error
        )
        if status == 429 or status >= 500:
            return DeliveryResult.retry(
                detail, parse_retry_after(response.headers.get("retry-after"))
            )
        # invalid_grant, invalid_client…: the credentials are wrong; retrying won't help.
        return DeliveryResult.failed(detail)


def _about_token(error: _Error) -> bool:
    """Whether a 400 INVALID_ARGUMENT blames the registration token (not our payload)."""
    for detail in error.details:
        if any(v.field == "message.token" for v in detail.field_violations):
            return True
    return "registration token" in error.message.lower()
