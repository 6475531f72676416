"""The offline queue with many moves of one file: what one POST /queue/add costs.

    python bench/queue_renames.py [--ops 100 250 500 1000] [--rounds 3] [--control]

One device of one user queued ``--ops`` renames of ONE file (a name, another, back and
forth, one minute apart) and sends them in one request; with ``--control``, for
comparison, as many renames of as many files (one each; storing those takes a while). Each queued move or rename is judged against where the
device's own earlier ones put the entry, so the batch on one file reads that file's
moves over and over. Through the whole app in process (ASGI calls, no network), a fresh
account each round, median of ``--rounds`` (``[sync] max_queue_ops`` raised to the
largest ``--ops``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import PASSWORD, Device  # noqa: E402
from tests.server_on_loop import ServerOnLoop  # noqa: E402
from tests.sync.helpers import store  # noqa: E402


def _renames(file_ids: list[str], count: int) -> list[dict[str, str]]:
    return [{"id": f"rn_{len(file_ids)}_{i}", "type": "rename", "fileId": file_ids[i % len(file_ids)],
             "remotePath": f"/docs/{'a' if i % 2 else 'b'}_{i % len(file_ids)}.txt",
             "createdAt": f"2024-01-20T{i // 60 % 24:02d}:{i % 60:02d}:00Z"}
            for i in range(count)]


async def _batch_ms(server: ServerOnLoop, phone: Device,
                    ops: list[dict[str, str]]) -> tuple[float, float]:
    """(wall, CPU) milliseconds of the request: CPU time (every thread of this process,
    SQLite's too) is the steadier where other processes share the cores."""
    start, start_cpu = time.perf_counter(), time.process_time()
    r = await server.call("POST", "/queue/add", phone, json={"operations": ops})
    elapsed = ((time.perf_counter() - start) * 1000, (time.process_time() - start_cpu) * 1000)
    assert r.status_code == 200, r.text
    assert {o["status"] for o in r.json()["data"]["operations"]} == {"done"}, r.text
    return elapsed


async def _round(server: ServerOnLoop, n: int, account: int,
                 control: bool) -> tuple[tuple[float, float], tuple[float, float]]:
    email = f"bench{account}@example.com"
    await server.svc.accounts.create_user(email, PASSWORD, name="Bench")
    phone = await server.sign_in(email, "phone")
    one = [await store(server.http, phone, b"one", name="one.txt")]
    one_file = await _batch_ms(server, phone, _renames(one, n))
    if not control:
        return one_file, (float("nan"), float("nan"))
    many = [await store(server.http, phone, f"{i}".encode(), name=f"f{i}.txt")
            for i in range(n)]
    return one_file, await _batch_ms(server, phone, _renames(many, n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, nargs="+", default=[100, 250, 500, 1000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--control", action="store_true",
                        help="also n renames of n files")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        server = ServerOnLoop(Path(root) / "data", auth={"api_requests_per_second": 0},
                              sync={"max_queue_ops": max(args.ops)})
        try:
            account = 0
            print(f"POST /queue/add, n renames in one request, median of {args.rounds},"
                  " ms wall / CPU:")
            print(f"  {'n':>5}  {'one file':>17}  {'n files':>17}")
            for n in args.ops:
                times = []
                for _ in range(args.rounds):
                    account += 1
                    times.append(server.run(_round(server, n, account, args.control)))
                cells = [f"{statistics.median(t[batch][clock] for t in times):7.1f}"
                         for batch in (0, 1) for clock in (0, 1)]
                print(f"  {n:>5}  {cells[0]} / {cells[1]}  {cells[2]} / {cells[3]}")
        finally:
            server.close()
    asyncio.set_event_loop(None)


if __name__ == "__main__":
    main()
