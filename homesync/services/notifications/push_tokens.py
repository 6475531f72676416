"""Which push tokens a device may register: the checks made before one is stored.

Kept apart from registration and preferences (:mod:`.service`) because the token rules
are their own job, used by ``POST /notifications/register`` (a refusal is the answer)
and by sign-in's ``deviceInfo.pushToken`` (a refused token is dropped: the device signs
in without push). A token is stored canonical (:func:`~homesync.push.registry.
canonical_token`). The server POSTs to an endpoint URL (UnifiedPush, webhook), so its
address must pass the allow-list check; a host name that does not resolve may be the
DNS down for a moment, so that is 503 with Retry-After, where 400 would tell the app the
token is wrong for good.
"""

from __future__ import annotations

from collections.abc import Sequence

from homesync.errors import ServiceUnavailable, ValidationError
from homesync.push.base import is_endpoint_url
from homesync.push.ntfy import NTFY_PREFIX, ntfy_topic
from homesync.push.registry import canonical_token
from homesync.push.safety import Resolver, check_endpoint

__all__ = ["EndpointNotResolved", "PushTokenCheck"]

# When to try registering an endpoint whose host name did not resolve again.
_UNRESOLVED_RETRY_AFTER_S = 30
_MAX_TOKEN = 4096


class EndpointNotResolved(ServiceUnavailable):
    """A push endpoint whose host name did not resolve: perhaps only for a moment (the
    DNS down), so 503 with Retry-After. A 400 tells an app the token is wrong for good."""

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(_UNRESOLVED_RETRY_AFTER_S)}


class PushTokenCheck:
    """The push token checks, with the hosts an endpoint URL may point at even when they
    resolve to private addresses (``allowed_push_hosts``) and a resolver (tests)."""

    def __init__(self, allowed_hosts: Sequence[str], resolve: Resolver | None = None) -> None:
        self._allowed_hosts = list(allowed_hosts)
        self._resolve = resolve

    async def checked(self, push_token: str | None) -> str | None:
        """``push_token`` as stored (stripped, canonical), None for none; 400 naming
        ``pushToken`` for one that may not be stored, 503 when its host does not resolve."""
        token = canonical_token((push_token or "").strip()) or None
        if token is not None:
            await self._check(token)
        return token

    async def usable(self, push_token: str | None) -> str | None:
        """A push token sent with sign-in (``deviceInfo.pushToken``), as it may be stored:
        stripped, or None where ``register`` would refuse it (a loopback endpoint, a bad
        ntfy topic). A bad push token must not stop a phone from signing in, nor be kept as
        if pushes could reach it: the device signs in without push, and the app learns
        why from ``POST /notifications/register`` (or sees ``push.registered`` false)."""
        try:
            return await self.checked(push_token)
        except (ValidationError, EndpointNotResolved):
            return None

    async def _check(self, token: str) -> None:
        if len(token) > _MAX_TOKEN:
            raise ValidationError(f"pushToken is longer than {_MAX_TOKEN} characters",
                                  field="pushToken")
        if is_endpoint_url(token):
            check = await check_endpoint(token, self._allowed_hosts, resolve=self._resolve)
            if check.transient:  # for ever, if it is a typo: say which name, and to check it
                raise EndpointNotResolved(
                    f"pushToken: its host name {check.host} does not resolve; check its"
                    " spelling, or try again shortly if it is right (the DNS may be down for"
                    " a moment)", field="pushToken")
            if not check.ok:
                raise ValidationError(f"pushToken: {check.reason}", field="pushToken")
        elif token[: len(NTFY_PREFIX)].lower() == NTFY_PREFIX and ntfy_topic(token) is None:
            raise ValidationError("pushToken: an ntfy topic is 1-64 letters, digits, _ or -",
                                  field="pushToken")
        elif any(ord(c) < 0x21 or ord(c) == 0x7F for c in token):
            raise ValidationError("pushToken contains spaces or control characters",
                                  field="pushToken")
