"""A push service whose host drops our connection attempts (offline at home, a firewall)
is given up on after the connect timeout, not after the whole send_timeout: each
provider's request keeps the client's connect limit."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from homesync.config import NotificationSettings
from homesync.push.base import CONNECT_TIMEOUT
from homesync.push.registry import pick
from homesync.services.notifications.providers import PushProviders
from tests.push.conftest import message, target
from tests.push.test_registry import APNS_TOKEN, FCM_TOKEN, full_options

# Far past the connect timeout, so that waiting for it shows.
_SEND_TIMEOUT = 60
# Only a bound for a connect that waits the whole send_timeout; nothing waits for it.
_GIVE_UP = CONNECT_TIMEOUT + 20


@contextlib.contextmanager
def blackholed() -> Iterator[str]:
    """An http:// base URL whose connection attempts go unanswered: a listening socket
    whose accept queue is full and never drained, so the kernel drops further SYNs."""
    with socket.socket() as listener, contextlib.ExitStack() as fillers:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(3):
            filler = fillers.enter_context(socket.socket())
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        yield f"http://127.0.0.1:{port}"


async def test_every_provider_gives_up_connecting_at_the_connect_timeout(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    with blackholed() as base:
        options = full_options(tmp_path, rsa_key, ec_key, base)
        settings = msgspec.convert({**options, "send_timeout": f"{_SEND_TIMEOUT}s"},
                                   NotificationSettings)
        built = PushProviders(settings)
        try:
            targets = [
                target(f"{base}/up/1", "android"),  # allowed: the ntfy server's host:port
                target("ntfy://alice", "desktop"),
                target(FCM_TOKEN, "android"),
                target(APNS_TOKEN, "ios"),
                target("opaque", "web"),
            ]
            sends = []
            for tgt in targets:
                provider = pick(built.providers, tgt)
                assert provider is not None
                sends.append(provider.send(message(), tgt))
            async with asyncio.timeout(_GIVE_UP):
                results = await asyncio.gather(*sends)
        finally:
            await built.aclose()
    assert [(r.outcome, r.detail) for r in results] == [
        ("retry", "timeout"), ("retry", "timeout"), ("retry", "oauth: timeout"),
        ("retry", "timeout"), ("retry", "timeout"),
    ]
