"""Password hashing: argon2id (RFC 9106 defaults), off the event loop, a few at a time.

Each hash takes ~64 MiB and ~100+ ms; the semaphore keeps a login storm from eating the
machine's memory (reliability-plan A3).
"""

from __future__ import annotations

import asyncio
import base64
import os
import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import (
    HashingError,
    InvalidHashError,
    VerificationError,
    VerifyMismatchError,
)

from homesync.config import AuthSettings, ConfigError
from homesync.errors import ValidationError

__all__ = ["MAX_PASSWORD_BYTES", "MIN_PASSWORD_CHARS", "Passwords", "check_password_rules"]

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_BYTES = 1024


def check_password_rules(password: str) -> str:
    """The NFKC-normalised password, or ValidationError (length rules only, NIST 800-63B)."""
    normalised = unicodedata.normalize("NFKC", password)
    if len(normalised) < MIN_PASSWORD_CHARS:
        raise ValidationError(f"Password must have at least {MIN_PASSWORD_CHARS} characters")
    if len(normalised.encode()) > MAX_PASSWORD_BYTES:
        raise ValidationError(f"Password must be at most {MAX_PASSWORD_BYTES} bytes")
    return normalised


class Passwords:
    def __init__(self, settings: AuthSettings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        self._slots = asyncio.Semaphore(settings.max_concurrent_hashes)
        # Verified against when the email is unknown, so that an unknown email and a wrong
        # password take the same time (no user enumeration, A2).
        self._unmatchable = _unmatchable_hash(self._hasher)

    async def hash(self, password: str) -> str:
        """The argon2id hash of ``password`` (ValidationError if it breaks the length rules)."""
        normalised = check_password_rules(password)
        async with self._slots:
            return await asyncio.to_thread(self._hash, normalised)

    async def verify(self, stored_hash: str | None, password: str) -> tuple[bool, str | None]:
        """(matches, new hash if the stored one used old parameters).

        ``stored_hash=None`` (unknown user) and passwords that no account can have (over
        the length limit) still cost one verification against a dummy hash, so timing
        does not tell them apart from a wrong password.
        """
        normalised = unicodedata.normalize("NFKC", password)
        possible = stored_hash is not None and len(normalised.encode()) <= MAX_PASSWORD_BYTES
        async with self._slots:
            if not possible:
                await asyncio.to_thread(self._verify, self._unmatchable, normalised)
                return False, None
            assert stored_hash is not None
            if not await asyncio.to_thread(self._verify, stored_hash, normalised):
                return False, None
            if self._hasher.check_needs_rehash(stored_hash):
                return True, await asyncio.to_thread(self._hash, normalised)
            return True, None

    def _hash(self, password: str) -> str:
        try:
            return self._hasher.hash(password)
        except HashingError as exc:
            # The auth.argon2_* cost is more than this machine gives (its memory, most
            # often): a configuration to fix, said so, not a traceback from `user add`
            # or the first start.
            h = self._hasher
            raise ConfigError(
                f"cannot hash a password with auth.argon2_memory_kib = {h.memory_cost},"
                f" argon2_time_cost = {h.time_cost}, argon2_parallelism = {h.parallelism}:"
                f" {exc}") from None

    def _verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def _unmatchable_hash(hasher: PasswordHasher) -> str:
    """An argon2id hash in ``hasher``'s parameters with random salt and digest: verifying
    against it costs exactly what a real one does, and no password matches it (2^-256).
    Made, not hashed: hashing one on first use made the first unknown email after each
    start slower than a wrong password, which told a guesser it was unknown."""
    def b64(n: int) -> str:
        return base64.b64encode(os.urandom(n)).decode("ascii").rstrip("=")
    return (f"$argon2id$v=19$m={hasher.memory_cost},t={hasher.time_cost},"
            f"p={hasher.parallelism}${b64(hasher.salt_len)}${b64(hasher.hash_len)}")
