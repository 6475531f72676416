"""The offline queue with many waiting upload operations: what GET /queue and a sign-in cost.

    python bench/offline_queue.py [--waiting 500] [--done 100] [--rounds 15]

One device of one user queues ``--waiting`` upload operations into a folder that exists
(spelt in another case, as apps do) and has completed ``--done`` other uploads since, so
every request settles the waiting operations against the finished uploads and the tree.
Through the whole app in process (ASGI calls, no network), medians of ``--rounds``:
``GET /queue``, ``GET /queue?limit=100`` and a sign-in (which counts pending uploads).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import API, PASSWORD, device_info  # noqa: E402
from tests.server_on_loop import ServerOnLoop  # noqa: E402
from tests.uploads.flow import complete, file_entry, init, put_chunks  # noqa: E402


async def _median_ms(rounds: int, call: Callable[[], Awaitable[Any]]) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        await call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def _run(server: ServerOnLoop, waiting: int, done: int, rounds: int) -> None:
    email = "bench@example.com"
    await server.svc.accounts.create_user(email, PASSWORD, name="Bench")
    phone = await server.sign_in(email, "phone")

    async def upload(name: str) -> None:
        data = name.encode()
        r = await init(server.http, phone.auth, file_entry(data, name=name, folder="/DCIM/Camera"))
        item = r.json()["data"]["files"][0]
        await put_chunks(server.http, item, data)
        r = await complete(server.http, phone.auth, item["uploadId"], data)
        assert r.status_code == 200, r.text

    await upload("first.jpg")  # the folder exists: an upload to "/dcim/camera" lands there
    for start in range(0, waiting, 500):
        ops = [{"id": f"op_{i}", "type": "upload", "remotePath": f"/dcim/camera/IMG_{i}.jpg"}
               for i in range(start, min(waiting, start + 500))]
        r = await server.call("POST", "/queue/add", phone, json={"operations": ops})
        assert r.status_code == 200, r.text
    for i in range(done):
        await upload(f"other_{i}.jpg")

    async def get_queue(**params: Any) -> None:
        r = await server.call("GET", "/queue", phone, params=params)
        assert r.status_code == 200, r.text

    async def sign_in() -> None:
        r = await server.http.post(f"{API}/auth/register", json={
            "email": email, "password": PASSWORD, "deviceInfo": device_info("phone")})
        assert r.json()["syncData"]["pendingUploads"] == waiting, r.text

    queue_ms = await _median_ms(rounds, get_queue)
    page_ms = await _median_ms(rounds, lambda: get_queue(limit=100))
    sign_in_ms = await _median_ms(rounds, sign_in)
    print(f"{waiting} waiting upload ops, {done} finished uploads, median of {rounds}:")
    print(f"  GET /queue            {queue_ms:8.1f} ms")
    print(f"  GET /queue?limit=100  {page_ms:8.1f} ms")
    print(f"  sign-in               {sign_in_ms:8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=500)
    parser.add_argument("--done", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        server = ServerOnLoop(Path(root) / "data", auth={"api_requests_per_second": 0})
        try:
            server.run(_run(server, args.waiting, args.done, args.rounds))
        finally:
            server.close()
    asyncio.set_event_loop(None)


if __name__ == "__main__":
    main()
