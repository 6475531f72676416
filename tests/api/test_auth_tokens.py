"""A4/A5/I2: access tokens — pinned algorithm, validated claims, malformed headers → 401."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.auth_helpers import FrozenClock, b64, claims_of, header_of, sign
from tests.helpers import API

DEVICES = f"{API}/devices"


@pytest.fixture
async def alice(make_user, sign_in):
    await make_user()
    return await sign_in()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def assert_401(client: Any, headers: dict[str, Any], code: str = "UNAUTHORIZED") -> None:
    r = await client.get(DEVICES, headers=headers)
    assert r.status_code == 401, r.text
    body = r.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert set(body["error"]) == {"code", "message", "details"}


async def test_the_issued_token_is_pinned_and_complete(client, alice):
    header, claims = header_of(alice.access), claims_of(alice.access)
    assert header["alg"] == "HS256" and header["typ"] == "at+jwt" and header["kid"]
    assert set(claims) == {"iss", "aud", "sub", "did", "sid", "jti", "iat", "nbf", "exp"}
    assert claims["sub"] == alice.user_id and claims["did"] == alice.device_id
    assert (await client.get(DEVICES, headers=alice.auth)).status_code == 200


async def test_alg_none_is_refused(client, alice):
    unsigned = f"{b64({'alg': 'none', 'typ': 'at+jwt', 'kid': header_of(alice.access)['kid']})}" \
               f".{b64(claims_of(alice.access))}."
    await assert_401(client, bearer(unsigned))


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_other_algorithms_are_refused_even_with_the_right_key(client, services, alice):
    claims = claims_of(alice.access)
    await assert_401(client, bearer(sign(services, claims, algorithm="HS512")))
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    await assert_401(client, bearer(sign(services, claims, algorithm="RS256", key=private)))
    # Sanity: the same claims signed the expected way are accepted.
    assert (await client.get(DEVICES, headers=bearer(sign(services, claims)))).status_code == 200


async def test_a_key_other_than_the_servers_is_refused(client, alice):
    forged = jwt.encode(claims_of(alice.access), b"k" * 32, algorithm="HS256",
                        headers={"typ": "at+jwt", "kid": header_of(alice.access)["kid"]})
    await assert_401(client, bearer(forged))


async def test_a_tampered_payload_byte_is_refused(client, alice):
    head, payload, sig = alice.access.split(".")
    for i in (0, len(payload) // 2, len(payload) - 2):
        flipped = payload[:i] + ("A" if payload[i] != "A" else "B") + payload[i + 1:]
        await assert_401(client, bearer(f"{head}.{flipped}.{sig}"))
    # A payload re-encoded with a different subject but the old signature.
    other = {**claims_of(alice.access), "sub": "user_someone_else"}
    await assert_401(client, bearer(f"{head}.{b64(other)}.{sig}"))


async def test_wrong_kid_or_typ_is_refused(client, services, alice):
    claims = claims_of(alice.access)
    await assert_401(client, bearer(sign(services, claims, headers={"kid": "k-unknown"})))
    await assert_401(client, bearer(sign(services, claims, headers={"typ": "JWT"})))


@pytest.mark.parametrize("claim, value", [("aud", "someone-else"), ("iss", "evil"),
                                          ("aud", ["other", "more"])])
async def test_wrong_audience_or_issuer_is_refused(client, services, alice, claim, value):
    forged = sign(services, {**claims_of(alice.access), claim: value})
    await assert_401(client, bearer(forged))


@pytest.mark.parametrize("claim", ["exp", "jti", "iat", "nbf", "iss", "aud", "sub", "did", "sid"])
async def test_every_claim_is_required(client, services, alice, claim):
    claims = claims_of(alice.access)
    del claims[claim]
    await assert_401(client, bearer(sign(services, claims)))


@pytest.mark.parametrize("claims", [{"exp": "tomorrow"}, {"nbf": "now"}, {"exp": 1.5e12},
                                    {"exp": True}, {"sub": ""}, {"did": 42}, {"sid": None}])
async def test_claims_of_the_wrong_type_are_refused(client, services, alice, claims):
    await assert_401(client, bearer(sign(services, {**claims_of(alice.access), **claims})))


async def test_expiry_allows_30_seconds_of_leeway_and_no_more(client, alice):
    exp = claims_of(alice.access)["exp"]
    frozen = FrozenClock(exp + 30)
    assert (await client.get(DEVICES, headers=alice.auth)).status_code == 200
    frozen.advance(1)
    await assert_401(client, alice.auth, code="TOKEN_EXPIRED")


async def test_a_token_from_the_future_is_refused(client, services, alice):
    claims = claims_of(alice.access)
    later = claims["iat"] + 3600
    future = sign(services, {**claims, "nbf": later, "iat": later, "exp": later + 3600})
    await assert_401(client, bearer(future))


async def test_a_refresh_token_is_not_an_access_token(client, alice):
    await assert_401(client, bearer(alice.refresh))


async def test_a_token_naming_another_device_of_the_user_is_refused(
        client, services, alice, sign_in):
    tablet = await sign_in(client_id="tablet")
    # Alice's sign-in (sid) with the tablet's device id: the pair does not exist.
    crossed = sign(services, {**claims_of(alice.access), "did": tablet.device_id})
    await assert_401(client, bearer(crossed))


@pytest.mark.parametrize("value", [
    "Bearer", "Bearer ", "Bearer a.b", "Bearer a.b.c", "Bearer ....", "Basic YWxpY2U6cHc=",
    "bearer", "Token abc", "Bearer " + "a" * 9000,
    "Bearer \u00e9\u00e9.\u00e9.\u00e9".encode("latin-1"), b"Bearer \xff\xfe.\x80.\x00",
])
async def test_malformed_authorization_headers_are_401(client, alice, value):
    await assert_401(client, {"Authorization": value})


async def test_a_missing_authorization_header_is_401(client, alice):
    await assert_401(client, {})


async def test_an_oversized_but_valid_looking_token_is_refused_without_parsing(client, alice):
    padded = alice.access + "A" * 8200
    await assert_401(client, bearer(padded))
