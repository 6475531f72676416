"""An unknown email costs what a wrong password costs: one argon2 verification in the
configured parameters, and no hashing (A2, user enumeration by timing)."""

from __future__ import annotations

import msgspec
import pytest
from argon2 import PasswordHasher, extract_parameters

from homesync.config import AuthSettings
from homesync.services.auth.passwords import Passwords

CHEAP = {"argon2_time_cost": 2, "argon2_memory_kib": 1024, "argon2_parallelism": 1}


async def test_an_unknown_email_is_one_verification_in_the_configured_parameters(
        monkeypatch: pytest.MonkeyPatch) -> None:
    passwords = Passwords(msgspec.convert(CHEAP, AuthSettings))
    real = await passwords.hash("a real password")
    hashed: list[str] = []
    verified: list[str] = []
    monkeypatch.setattr(PasswordHasher, "hash",
                        lambda self, password, **kw: hashed.append(password) or "")
    real_verify = PasswordHasher.verify

    def verify(self: PasswordHasher, stored: str, password: str) -> bool:
        verified.append(stored)
        return real_verify(self, stored, password)

    monkeypatch.setattr(PasswordHasher, "verify", verify)
    for _ in range(2):  # the first unknown email after a start as well as later ones
        assert await passwords.verify(None, "a real password") == (False, None)
    assert await passwords.verify(real, "a wrong password") == (False, None)
    assert hashed == []
    assert len(verified) == 3
    assert all(extract_parameters(h) == extract_parameters(real) for h in verified)
