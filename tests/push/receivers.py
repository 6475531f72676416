"""Real HTTP receivers for push tests: an asyncio server on 127.0.0.1, a free port.

One server speaks both HTTP/1.1 (h11) and cleartext HTTP/2 with prior knowledge (h2),
chosen per connection by the client's first bytes, so the same receiver stands in for a
UnifiedPush endpoint, an ntfy server, a webhook relay, FCM, Google's token endpoint and
APNs. It runs on the test's own event loop: no threads, no sleeps, nothing to poll.

It records every request and answers from a script::

    async with Receiver() as rx:
        rx.script(Reply(500), Reply(500), Reply(201))      # then the default (200)
        rx.script(Reply(429, headers={"Retry-After": "7"}))
        rx.script(Reply(hang=True))                        # never answers: a timeout
        rx.handler = lambda req: Reply.json(200, {...})    # or compute the answer
        ...
        assert rx.requests[0].headers["content-type"] == "application/json"
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.events
import h11

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


@dataclass
class Request:
    method: str
    path: str  # with the query string
    headers: dict[str, str]  # lower-case names
    body: bytes
    http_version: str  # "1.1" or "2"

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    hang: bool = False  # never answer (until the receiver closes): the client times out

    @classmethod
    def json(cls, status: int, obj: Any, headers: dict[str, str] | None = None) -> Reply:
        return cls(
            status,
            {"content-type": "application/json", **(headers or {})},
            json.dumps(obj).encode(),
        )


Handler = Callable[[Request], Reply | Awaitable[Reply]]


class Receiver:
    """A scriptable HTTP/1.1 + h2c server that records what it receives."""

    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or Reply(200)
        self.handler: Handler | None = None
        self.requests: list[Request] = []
        self._script: deque[Reply] = deque()
        self._server: asyncio.Server | None = None
        self._closing = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these, in order; then the handler or the default."""
        self._script.extend(replies)

    async def __aenter__(self) -> Receiver:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing.set()
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _answer(self, request: Request) -> Reply:
        self.requests.append(request)
        if self._script:
            reply = self._script.popleft()
        elif self.handler is not None:
            got = self.handler(request)
            reply = await got if inspect.isawaitable(got) else got
        else:
            reply = self.default
        if reply.hang:
            await self._closing.wait()
        return reply

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            first = await reader.read(65536)
            while first and len(first) < len(H2_PREFACE) and H2_PREFACE.startswith(first):
                more = await reader.read(65536)
                if not more:
                    break
                first += more
            if first.startswith(H2_PREFACE):
                await self._serve_h2(first, reader, writer)
            elif first:
                await self._serve_h1(first, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve_h1(
        self, data: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        conn = h11.Connection(h11.SERVER)
        conn.receive_data(data)
        head: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Request):
                head, body = event, bytearray()
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                request = Request(
                    method=head.method.decode(),
                    path=head.target.decode(),
                    headers={k.decode().lower(): v.decode() for k, v in head.headers},
                    body=bytes(body),
                    http_version="1.1",
                )
                reply = await self._answer(request)
                headers = [(k, v) for k, v in reply.headers.items()]
                headers.append(("content-length", str(len(reply.body))))
                out = conn.send(h11.Response(status_code=reply.status, headers=headers))
                out += conn.send(h11.Data(data=reply.body)) or b""
                out += conn.send(h11.EndOfMessage()) or b""
                writer.write(out or b"")
                await writer.drain()
                if conn.our_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return

    async def _serve_h2(
        self, data: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        conn.initiate_connection()
        streams: dict[int, tuple[list[tuple[str, str]], bytearray]] = {}
        lock = asyncio.Lock()

        async def flush() -> None:
            writer.write(conn.data_to_send())
            await writer.drain()

        async def respond(stream_id: int, request: Request) -> None:
            reply = await self._answer(request)
            async with lock:
                headers = [(":status", str(reply.status))]
                headers += [(k.lower(), v) for k, v in reply.headers.items()]
                headers.append(("content-length", str(len(reply.body))))
                conn.send_headers(stream_id, headers, end_stream=not reply.body)
                if reply.body:
                    conn.send_data(stream_id, reply.body, end_stream=True)
                await flush()

        pending: set[asyncio.Task[None]] = set()
        try:
            while data:
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        streams[event.stream_id] = (list(event.headers), bytearray())  # type: ignore[arg-type]
                    elif isinstance(event, h2.events.DataReceived):
                        streams[event.stream_id][1].extend(event.data)
                        conn.acknowledge_received_data(
                            event.flow_controlled_length, event.stream_id
                        )
                    elif isinstance(event, h2.events.StreamEnded):
                        raw_headers, body = streams.pop(event.stream_id)
                        pseudo = {k: v for k, v in raw_headers if k.startswith(":")}
                        request = Request(
                            method=pseudo[":method"],
                            path=pseudo[":path"],
                            headers={k: v for k, v in raw_headers if not k.startswith(":")},
                            body=bytes(body),
                            http_version="2",
                        )
                        task = asyncio.create_task(respond(event.stream_id, request))
                        pending.add(task)
                        task.add_done_callback(pending.discard)
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        return
                async with lock:
                    await flush()
                data = await reader.read(65536)
        finally:
            for task in pending:
                task.cancel()
