"""Access tokens (JWT, HS256 pinned) and refresh tokens (opaque, rotating, derived).

Access token claims: ``iss``, ``aud``, ``sub`` (user id), ``did`` (device id), ``sid``
(the sign-in's token family), ``jti``, ``iat``, ``nbf``, ``exp``; header ``typ`` is
``at+jwt`` and ``kid`` names the key, so a refresh token or any other JWT is never
accepted as an access token (RFC 8725 §3.11). The codec holds the keys in memory: one
signs, older ones still verify; which ones is decided by
:class:`.signing_keys.SigningKeys` (A6: rotation with ``kid``).

Refresh tokens are 256 random bits for a new sign-in; each successor is
``HMAC(secret, previous token)``. That makes a retried refresh within the grace window
answer with the *same* successor without the server keeping any token in clear (A10).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

import jwt

from homesync.config import AuthSettings
from homesync.errors import ServiceUnavailable, TokenExpired, Unauthorized

__all__ = ["LEEWAY_S", "AccessClaims", "TokenCodec", "UnknownSigningKey", "derived_access_key",
           "hash_refresh_token", "key_id"]

_ALGORITHM = "HS256"
_TYP = "at+jwt"
_REFRESH_PREFIX = "rt_mobile_"
_MAX_TOKEN_CHARS = 8192
_VERIFIED_CACHE_SIZE = 4096
LEEWAY_S = 30


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    device_id: str
    family_id: str
    expires_at: int
    not_before: int = 0
    kid: str = ""  # the key that signed it


class UnknownSigningKey(Unauthorized):
    """The token names a key this process does not hold: the catalog's Unauthorized (same
    code, same envelope), telling the caller that reloading the keys might help."""

    def __init__(self) -> None:
        super().__init__("Invalid access token")


def hash_refresh_token(token: str) -> str:
    """What the database keeps of a refresh token."""
    return hashlib.sha256(token.encode()).hexdigest()


def derived_access_key(secret: bytes) -> bytes:
    """The access-token key derived from the server secret: the only one before keys
    could be rotated, and still the first key of every data dir."""
    return hmac.new(secret, b"homesync access-token key v1", hashlib.sha256).digest()


def key_id(key: bytes) -> str:
    """A key's ``kid``: names it without revealing it."""
    return hashlib.sha256(key).hexdigest()[:12]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class TokenCodec:
    def __init__(self, secret: bytes, settings: AuthSettings) -> None:
        self._refresh_key = hmac.new(secret, b"homesync refresh successor v1", hashlib.sha256).digest()
        # Until SigningKeys installs the database's keys: the derived key alone.
        first = derived_access_key(secret)
        self._keys: dict[str, bytes] = {key_id(first): first}
        self._signing: str | None = key_id(first)
        self._settings = settings
        # Tokens whose signature and claims were already checked: a phone sends the same
        # token for an hour, and parsing + HMAC of a JWT is a fair share of a cheap
        # request. Only time is re-checked on a hit; revocation is checked by the caller
        # on every request regardless.
        self._verified: OrderedDict[str, AccessClaims] = OrderedDict()

    def install_keys(self, keys: Mapping[str, bytes], signing: str | None) -> None:
        """Verify with ``keys`` (kid → key) from now on, and sign with ``keys[signing]``
        (None: no usable signing key; minting fails until one is installed)."""
        dropped = self._keys.keys() - keys.keys()
        self._keys = dict(keys)
        self._signing = signing if signing in self._keys else None
        if dropped:  # a cached token may have been signed by a dropped key
            self._verified.clear()

    @property
    def kid(self) -> str | None:
        """The kid new tokens carry."""
        return self._signing

    @property
    def signing_key(self) -> bytes:
        # No usable key (server.key replaced since the only one was made): sign-ins get a
        # 503 in the error envelope, and the server's log already told the admin why.
        if self._signing is None:
            raise ServiceUnavailable("The server has no usable access-token signing key; its"
                                     " administrator must run `homesync keys rotate`")
        return self._keys[self._signing]

    def mint_access(self, *, user_id: str, device_id: str, family_id: str, now: int,
                    sign_in_ends_at: int) -> str:
        """An access token for the sign-in ``family_id``, expiring after the configured
        lifetime but never after the sign-in itself (``sign_in_ends_at``, ms)."""
        issued = now // 1000
        claims = {
            "iss": self._settings.issuer,
            "aud": self._settings.audience,
            "sub": user_id,
            "did": device_id,
            "sid": family_id,
            "jti": uuid.uuid4().hex,
            "iat": issued,
            "nbf": issued,
            "exp": min(issued + self._settings.access_ttl_s, sign_in_ends_at // 1000),
        }
        key = self.signing_key
        return jwt.encode(claims, key, algorithm=_ALGORITHM,
                          headers={"typ": _TYP, "kid": self._signing})

    def verify_access(self, token: str, now: int) -> AccessClaims:
        """The claims of a valid access token, else Unauthorized/TokenExpired
        (UnknownSigningKey when its kid names no key held here).

        Whether its key was retired since is for the caller to check (``claims.kid``)."""
        claims = self._verified.get(token)
        if claims is None:
            claims = self._decode(token)
            self._verified[token] = claims
            if len(self._verified) > _VERIFIED_CACHE_SIZE:
                self._verified.popitem(last=False)
        if claims.not_before - LEEWAY_S > now // 1000:
            raise Unauthorized("Access token not valid yet")
        if claims.expires_at + LEEWAY_S < now // 1000:
            raise TokenExpired()
        return claims

    def _decode(self, token: str) -> AccessClaims:
        """Signature, header and claim checks (everything but time)."""
        if not token or len(token) > _MAX_TOKEN_CHARS:
            raise Unauthorized("Invalid access token")
        try:
            header = jwt.get_unverified_header(token)
            kid = header.get("kid")
            if header.get("typ") != _TYP or not isinstance(kid, str):
                raise Unauthorized("Invalid access token")
            key = self._keys.get(kid)
            if key is None:
                raise UnknownSigningKey()
            claims = jwt.decode(
                token,
                key,
                algorithms=[_ALGORITHM],  # pinned: never taken from the token (RFC 8725 §2.1)
                audience=self._settings.audience,
                issuer=self._settings.issuer,
                leeway=LEEWAY_S,
                options={
                    "require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"],
                    # Times are checked below against homesync's clock (tests freeze it).
                    "verify_exp": False, "verify_nbf": False, "verify_iat": False,
                },
            )
        except jwt.PyJWTError:
            raise Unauthorized("Invalid access token") from None
        exp, nbf = claims.get("exp"), claims.get("nbf")
        # Whole seconds only; `type is int` also refuses booleans ("exp": true).
        if type(exp) is not int or type(nbf) is not int:
            raise Unauthorized("Invalid access token")
        sub, did, sid = claims.get("sub"), claims.get("did"), claims.get("sid")
        if not all(isinstance(v, str) and v for v in (sub, did, sid)):
            raise Unauthorized("Invalid access token")
        return AccessClaims(user_id=str(sub), device_id=str(did), family_id=str(sid),
                            expires_at=exp, not_before=nbf, kid=kid)

    @staticmethod
    def new_refresh_token() -> str:
        return _REFRESH_PREFIX + secrets.token_urlsafe(32)

    def successor(self, refresh_token: str) -> str:
        """The refresh token that replaces ``refresh_token`` (deterministic, see module doc)."""
        digest = hmac.new(self._refresh_key, refresh_token.encode(), hashlib.sha256).digest()
        return _REFRESH_PREFIX + _b64(digest)
