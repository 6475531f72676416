"""A1: argon2id storage, parameter upgrade on sign-in, no secrets in logs."""

from __future__ import annotations

import logging
from pathlib import Path

import msgspec
import pytest
from argon2 import PasswordHasher

from homesync.config import AuthSettings, Settings
from homesync.errors import ValidationError
from homesync.services.auth.passwords import MAX_PASSWORD_BYTES
from tests.auth_helpers import running
from tests.helpers import API, PASSWORD, device_info, make_settings

REGISTER = f"{API}/auth/register"
DEFAULT_PREFIX = "$argon2id$v=19$m=65536,t=3,p=4$"


def default_argon2_settings(tmp_path: Path) -> Settings:
    """Test settings, but with the real default argon2 parameters (this file only)."""
    settings = make_settings(tmp_path / "d")
    auth = settings.auth
    real = AuthSettings()  # the shipped defaults
    return msgspec.structs.replace(settings, auth=msgspec.structs.replace(
        auth, argon2_time_cost=real.argon2_time_cost, argon2_memory_kib=real.argon2_memory_kib,
        argon2_parallelism=real.argon2_parallelism))


async def stored_hash(services, email: str = "alice@example.com") -> str:
    row = await services.db.fetchone("SELECT password_hash FROM users WHERE email = ?", (email,))
    return str(row["password_hash"])


async def test_default_parameters_hash_and_old_hashes_are_upgraded_on_sign_in(tmp_path: Path):
    async with running(default_argon2_settings(tmp_path)) as (services, client):
        await services.accounts.create_user("alice@example.com", PASSWORD)
        assert (await stored_hash(services)).startswith(DEFAULT_PREFIX)

        # A hash made with OWASP's minimum parameters, e.g. by an older homesync.
        old = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash(PASSWORD)
        async with services.db.transaction() as tx:
            await tx.execute("UPDATE users SET password_hash = ?", (old,))

        r = await client.post(REGISTER, json={"email": "alice@example.com", "password": PASSWORD,
                                              "deviceInfo": device_info()})
        assert r.status_code == 201, r.text
        upgraded = await stored_hash(services)
        assert upgraded.startswith(DEFAULT_PREFIX) and upgraded != old
        assert PasswordHasher().verify(upgraded, PASSWORD)

        # The next sign-in verifies against the upgraded hash and leaves it alone.
        r = await client.post(REGISTER, json={"email": "alice@example.com", "password": PASSWORD,
                                              "deviceInfo": device_info()})
        assert r.status_code == 200
        assert await stored_hash(services) == upgraded


async def test_logs_never_contain_the_password_or_tokens(client, services, make_user, caplog):
    caplog.set_level(logging.DEBUG)
    await make_user()
    secret_wrong = "wrong-but-secret-guess"
    await client.post(REGISTER, json={"email": "alice@example.com", "password": secret_wrong,
                                      "deviceInfo": device_info()})
    r = await client.post(REGISTER, json={"email": "alice@example.com", "password": PASSWORD,
                                          "deviceInfo": device_info()})
    tokens = r.json()["tokens"]
    await client.post(f"{API}/auth/refresh", json={"refreshToken": tokens["refreshToken"],
                                                   "deviceId": "app-install-1"})
    await services.accounts.set_password("alice@example.com", "a brand new passphrase")
    text = caplog.text
    for secret in (PASSWORD, secret_wrong, "a brand new passphrase", tokens["refreshToken"],
                   tokens["accessToken"]):
        assert secret not in text


async def test_password_change_needs_the_new_password(client, services, make_user):
    await make_user()
    await services.accounts.set_password("alice@example.com", "a brand new passphrase")
    old = await client.post(REGISTER, json={"email": "alice@example.com", "password": PASSWORD,
                                            "deviceInfo": device_info()})
    assert old.status_code == 401
    new = await client.post(REGISTER, json={"email": "alice@example.com",
                                            "password": "a brand new passphrase",
                                            "deviceInfo": device_info()})
    assert new.status_code == 201


async def test_passwords_are_compared_after_nfkc_normalisation(client, services):
    # "ﬁ" (U+FB01) is "fi" under NFKC: typed either way, it is the same password.
    await services.accounts.create_user("alice@example.com", "ﬁve little ducks")
    r = await client.post(REGISTER, json={"email": "alice@example.com",
                                          "password": "five little ducks",
                                          "deviceInfo": device_info()})
    assert r.status_code == 201


async def test_a_longer_password_never_matches_a_maximum_length_one(client, services):
    longest = "p" * MAX_PASSWORD_BYTES
    await services.accounts.create_user("alice@example.com", longest)
    r = await client.post(REGISTER, json={"email": "alice@example.com",
                                          "password": longest + "-and-more",
                                          "deviceInfo": device_info()})
    assert r.status_code == 401
    ok = await client.post(REGISTER, json={"email": "alice@example.com", "password": longest,
                                           "deviceInfo": device_info()})
    assert ok.status_code == 201


@pytest.mark.parametrize("password", ["", "short", "x" * (MAX_PASSWORD_BYTES + 1)])
async def test_account_passwords_follow_the_length_rules(services, password):
    with pytest.raises(ValidationError):
        await services.accounts.create_user("alice@example.com", password)
