"""Fixtures for provider tests: local receivers, HTTP clients, freshly generated keys."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from homesync.push.base import DeliveryResult, PushMessage, PushTarget
from homesync.push.http_client import new_http_client
from tests.push.receivers import Receiver

MakeReceiver = Callable[[], Awaitable[Receiver]]


@pytest.fixture
async def make_receiver() -> AsyncIterator[MakeReceiver]:
    """Start as many receivers as a test needs; all are closed at the end."""
    async with contextlib.AsyncExitStack() as stack:

        async def make() -> Receiver:
            return await stack.enter_async_context(Receiver())

        yield make


@pytest.fixture
async def receiver(make_receiver: MakeReceiver) -> Receiver:
    return await make_receiver()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with new_http_client(timeout=5.0) as client:
        yield client


@pytest.fixture
async def h2c() -> AsyncIterator[httpx.AsyncClient]:
    """HTTP/2 with prior knowledge, for the cleartext APNs receiver."""
    async with new_http_client(h2c=True, timeout=5.0) as client:
        yield client


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    """PKCS#8 PEM, the form of both Google's private_key and Apple's .p8 files."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write(path: Path, data: bytes | str) -> str:
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return str(path)


def message(**changes: object) -> PushMessage:
    fields: dict[str, object] = {
        "notification_id": "ntf_abc",
        "category": "uploads",
        "title": "Upload complete",
        "body": "IMG_0001.jpg is backed up",
        "data": {"fileId": "file_123"},
        "priority": "normal",
    }
    fields.update(changes)
    return PushMessage(**fields)  # type: ignore[arg-type]


def target(token: str, platform: str = "android", device_id: str = "dev_1") -> PushTarget:
    return PushTarget(platform=platform, token=token, device_id=device_id)  # type: ignore[arg-type]


def assert_clean(result: DeliveryResult, *secrets: str) -> None:
    """``detail`` is short and leaks none of the given tokens/secrets."""
    assert len(result.detail) <= 200
    for secret in secrets:
        assert secret not in result.detail


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 with nothing listening: bound but not listening, and held while
    in use, so that no other process (another test worker's server) can listen on it."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])
