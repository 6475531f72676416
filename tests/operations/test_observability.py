"""Request ids, structured logs without secrets, and the Prometheus metrics."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from homesync.api.metrics import Metrics
from homesync.app import create_app
from homesync.logs import JsonFormatter, TextFormatter, redact, request_id
from homesync.services.container import Services
from tests.e2e import test_notifications_e2e as push_e2e
from tests.helpers import (
    API,
    PASSWORD,
    ServerProcess,
    device_info,
    make_settings,
    port_attempts,
)
from tests.operations.phone import ENV, Phone
from tests.push.receivers import Receiver, Reply


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, frozenset(s.labels.items()))] = s.value
    return found


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, frozenset(labels.items())))


async def test_request_ids_are_issued_or_carried(client: AsyncTestClient[Any]) -> None:
    r = await client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{16}", r.headers["x-request-id"])
    assert (await client.get("/healthz")).headers["x-request-id"] != r.headers["x-request-id"]
    carried = await client.get("/healthz", headers={"X-Request-ID": "proxy-abc.123"})
    assert carried.headers["x-request-id"] == "proxy-abc.123"
    hostile = await client.get("/healthz", headers={"X-Request-ID": "x\" injected=1 " * 10})
    assert re.fullmatch(r"[0-9a-f]{16}", hostile.headers["x-request-id"])
    # Bounded: up to 64 characters are carried; a longer one (10 KB), or one with a tab
    # or a non-ASCII letter in it, is replaced (other control characters the HTTP
    # parser refuses with a 400 before the app sees them).
    longest = await client.get("/healthz", headers={"X-Request-ID": "a" * 64})
    assert longest.headers["x-request-id"] == "a" * 64
    for sent in ("a" * 65, "a" * 10_000, "abc\tdef", "caf\u00e9".encode()):
        replaced = await client.get("/healthz", headers={"X-Request-ID": sent})
        assert re.fullmatch(r"[0-9a-f]{16}", replaced.headers["x-request-id"]), sent
    missing = await client.get(f"{API}/no/such/route")
    assert missing.status_code == 404 and "x-request-id" in missing.headers


@pytest.mark.parametrize(("access_log", "logged"), [
    ("errors", {"/api/mobile/no/such/route 404"}),
    ("all", {"/api/mobile/no/such/route 404", "/api/mobile/devices 200"}),
    ("off", set()),
])
async def test_access_lines_follow_server_access_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, access_log: str, logged: set[str],
) -> None:
    settings = make_settings(tmp_path / "data", server={"access_log": access_log})
    services = await Services.open(settings)
    try:
        await services.accounts.create_user("alice@example.com", PASSWORD, name="Alice")
        async with AsyncTestClient(app=create_app(settings, services)) as client:
            r = await client.post(f"{API}/auth/register", json={
                "email": "alice@example.com", "password": PASSWORD,
                "deviceInfo": device_info("phone")})
            auth = {"Authorization": f"Bearer {r.json()['tokens']['accessToken']}"}
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="homesync.access"):
                assert (await client.get(f"{API}/devices", headers=auth)).status_code == 200
                assert (await client.get(f"{API}/no/such/route")).status_code == 404
                await client.get("/healthz")
    finally:
        await services.close()
    lines = {" ".join(r.getMessage().split()[1:3]) for r in caplog.records
             if r.name == "homesync.access" and r.levelno >= logging.INFO}
    assert lines == logged


def test_redaction_of_credentials() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEyMyJ9.c2lnbmF0dXJlLWJ5dGVz"
    line = (f"Authorization: Bearer {jwt} refresh=rt_mobile_AbC123xyz_-9 "
            "url=/api/mobile/upload/chunk/upload_1/0?exp=123&sig=deadbeef "
            '{"email": "a@b.c", "password": "hunter22", "refreshToken": "rt_x"}')
    clean = redact(line)
    for secret in (jwt, "AbC123xyz", "deadbeef", "hunter22", "rt_x\""):
        assert secret not in clean
    assert "exp=123" in clean and "a@b.c" in clean


def test_formatters_carry_the_request_id_and_extras() -> None:
    record = logging.makeLogRecord({"name": "homesync.access", "levelname": "INFO",
                                    "levelno": 20, "msg": "GET %s", "args": ("/x",),
                                    "status": 200, "request_id": "abc"})
    entry = json.loads(JsonFormatter().format(record))
    assert entry["msg"] == "GET /x" and entry["request_id"] == "abc" and entry["status"] == 200
    assert "[abc]" in TextFormatter().format(record) and "status=200" in TextFormatter().format(record)
    token = request_id.set("ctx")
    request_id.reset(token)


@pytest.mark.e2e
def test_json_logs_and_metrics_of_a_real_server(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", metrics=True, env={
        **ENV, "HOMESYNC_SERVER_LOG_FORMAT": "json", "HOMESYNC_SERVER_ACCESS_LOG": "all",
        "HOMESYNC_SERVER_METRICS_REFRESH": "1s"})
    try:
        server.start()
        assert server.cli("user", "add", "alice@example.com", "--password-stdin",
                          input=PASSWORD + "\n").returncode == 0
        phone = Phone(server.base, "alice@example.com", "pixel")
        data = os.urandom(300_000)
        phone.upload("/camera", "IMG_1.jpg", data)
        phone.upload("/copies", "IMG_1.jpg", data)  # deduplicated
        refresh = phone.http.post(f"{API}/auth/register", json={
            "email": "alice@example.com", "password": PASSWORD,
            "deviceInfo": device_info("tablet")}).json()["tokens"]["refreshToken"]
        traced = phone.http.get(f"{API}/devices", headers={**phone.auth, "X-Request-ID": "trace-1"})
        assert traced.status_code == 200
        assert phone.http.get(f"{API}/nope").status_code == 404

        scrape = server.metrics_url
        # A parked long-poll shows while it waits, and is gone when it returns.
        token = phone.sync_status()["nextSyncToken"]
        with ThreadPoolExecutor(1) as pool:
            parked = pool.submit(phone.sync_status_wait, token, 3)
            for _ in range(100):
                if value(httpx.get(scrape, timeout=5).text, "homesync_sync_long_polls_parked"):
                    break
                time.sleep(0.05)  # the poll is in another process: nothing to await
            assert value(httpx.get(scrape, timeout=5).text, "homesync_sync_long_polls_parked") == 1
            assert parked.result(timeout=30)["hasChanges"] is False
        assert value(httpx.get(scrape, timeout=5).text, "homesync_sync_long_polls_parked") == 0

        text = ""
        for _ in range(100):  # the database gauges refresh every second
            text = httpx.get(scrape, timeout=5).text
            if value(text, "homesync_files") == 2:
                break
            time.sleep(0.1)
        assert value(text, "homesync_files") == 2
        assert value(text, "homesync_users") == 2  # the first-start admin and alice
        assert value(text, "homesync_stored_bytes") == 300_000
        assert value(text, "homesync_dedup_saved_bytes") == 300_000
        assert value(text, "homesync_upload_bytes_total") == 300_000
        assert value(text, "homesync_http_requests_total", method="GET", route="unmatched",
                     status="404") == 1
        assert value(text, "homesync_http_requests_total", method="POST",
                     route="/api/mobile/upload/complete", status="200") == 1
        assert value(text, "homesync_last_backup_timestamp_seconds") == 0
    finally:
        server.stop()

    log_text = (tmp_path / f"server-{server.port}.log").read_text()
    lines = [json.loads(line) for line in log_text.splitlines() if line.startswith("{")]
    access = [e for e in lines if e["logger"] == "homesync.access"]
    assert any(e["request_id"] == "trace-1" and e["path"] == f"{API}/devices" for e in access)
    assert all(e["request_id"] for e in access)
    for secret in (phone.access, refresh, PASSWORD, "sig="):
        assert secret not in log_text


async def test_a_metrics_stop_cancelled_meanwhile_still_frees_its_port_then_is_cancelled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    services = await Services.open(make_settings(tmp_path / "data"))
    metrics = Metrics()
    refreshing, stopping, release = asyncio.Event(), asyncio.Event(), asyncio.Event()
    ended: list[str] = []

    async def slow_refresh(_: Services) -> None:  # a status report on a busy database
        refreshing.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            stopping.set()
            await release.wait()
            ended.append("cleanly")
            raise

    monkeypatch.setattr(metrics, "refresh", slow_refresh)
    try:
        for attempt in port_attempts():
            with attempt as (port,):
                await metrics.start(make_settings(tmp_path / "data", server={
                    "metrics_address": f"127.0.0.1:{port}"}), services)
        scrape = f"http://127.0.0.1:{port}/metrics"
        await refreshing.wait()
        async with httpx.AsyncClient() as http:
            assert (await http.get(scrape)).status_code == 200
        stop = asyncio.create_task(metrics.stop())
        await stopping.wait()
        stop.cancel()  # a stop's deadline, a second Ctrl-C
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await stop
        assert ended == ["cleanly"]
        async with httpx.AsyncClient() as http:
            with pytest.raises(httpx.ConnectError):
                await http.get(scrape)
    finally:
        await services.close()


def served_log(tmp_path: Path, log_format: str, *paths: str) -> str:
    """The log of a real server (``server.log_format``) that answered GETs of ``paths``
    (sent as written: percent escapes and all); each is a 404 the access log writes."""
    server = ServerProcess(tmp_path / "data", env={"HOMESYNC_SERVER_LOG_FORMAT": log_format})
    try:
        server.start()
        with httpx.Client(base_url=server.base, timeout=10) as http:
            for path in paths:
                assert http.get(path).status_code == 404
    finally:
        server.stop()
    return server.log_path.read_text()


@pytest.mark.e2e
def test_json_log_lines_stay_json_and_scrubbed_whatever_a_client_sends(tmp_path: Path) -> None:
    # Anyone may ask for these paths: the access line must still be one JSON object, and
    # the scrubbing must see a password also where JSON escapes its quotes.
    log_text = served_log(tmp_path, "json", f"{API}/password=hunter22",
                          f"{API}/%22password%22:%22hunter23%22/x")
    entries = [json.loads(line) for line in log_text.splitlines() if line.startswith("{")]
    paths = [e["path"] for e in entries if e["logger"] == "homesync.access"]
    assert paths == [f"{API}/password=[redacted]", f'{API}/"password":[redacted]/x']
    assert "hunter2" not in log_text


@pytest.mark.e2e
def test_a_text_log_line_cannot_be_split_by_what_a_client_sends(tmp_path: Path) -> None:
    forged = "2026-01-01 00:00:00,000 INFO homesync.api [-] admin signed in"
    log_text = served_log(tmp_path, "text", "/x%0A" + forged.replace(" ", "%20") + "%0D%1B[2J")
    lines = [line for line in log_text.splitlines() if "admin signed in" in line]
    assert len(lines) == 1 and " homesync.access " in lines[0], lines
    assert "GET /x\\n2026-01-01 00:00:00,000 INFO homesync.api [-] admin signed in\\r\\x1b[2J 404" \
        in lines[0]


@pytest.mark.e2e
def test_the_access_line_names_the_client_a_trusted_proxy_forwarded(tmp_path: Path) -> None:
    """Behind the reverse proxy (loopback, trusted by default) the peer is always the
    proxy: the line names the client as the sign-in throttle sees it, or a guesser's
    401s all read client=127.0.0.1."""
    server = ServerProcess(tmp_path / "data")
    try:
        server.start()
        with httpx.Client(base_url=server.base, timeout=10) as http:
            for forwarded in ("198.51.100.9, 203.0.113.7", None):
                headers = {"X-Forwarded-For": forwarded} if forwarded else {}
                assert http.get(f"{API}/nope", headers=headers).status_code == 404
    finally:
        server.stop()
    lines = [line for line in server.log_path.read_text().splitlines()
             if f"GET {API}/nope 404" in line]
    assert [line.rsplit(" client=", 1)[1] for line in lines] == ["203.0.113.7", "127.0.0.1"]


@pytest.mark.e2e
def test_json_log_times_are_utc_and_say_so(tmp_path: Path) -> None:
    """A log collector reads ts as a point in time: local time without its offset (the
    server's TZ) was hours off, and ambiguous when the clocks go back."""
    server = ServerProcess(tmp_path / "data", env={"HOMESYNC_SERVER_LOG_FORMAT": "json",
                                                   "TZ": "America/New_York"})
    before = time.time()
    try:
        server.start()
    finally:
        server.stop()
    after = time.time()
    entries = [json.loads(line) for line in server.log_path.read_text().splitlines()
               if line.startswith("{")]
    assert entries
    for entry in entries:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["ts"]), entry
        at = datetime.fromisoformat(entry["ts"]).timestamp()
        assert before - 1 <= at <= after + 1, entry


@pytest.mark.e2e
async def test_a_push_endpoint_is_never_written_to_the_log(tmp_path: Path) -> None:
    """A UnifiedPush endpoint (an ntfy topic's URL, APNs' path with the device token) is
    the push token itself: whoever has it may push to the phone. httpx logged each
    request's URL at INFO, so every push wrote it."""
    server = ServerProcess(tmp_path / "data", env=push_e2e.SERVER_ENV)
    assert server.cli("user", "add", "alice@example.com", "--password-stdin",
                      input=PASSWORD + "\n").returncode == 0
    try:
        server.start()
        async with Receiver(default=Reply(201)) as endpoint, \
                httpx.AsyncClient(base_url=server.base, timeout=10) as http:
            phone = await push_e2e.sign_in(http, "phone-b", "Pixel 7")
            secret = "up/topic-only-this-phone-knows"
            r = await http.post(f"{API}/notifications/register", headers=push_e2e.auth(phone),
                                json={"deviceId": "phone-b", "platform": "android",
                                      "pushToken": f"{endpoint.url}/{secret}"})
            assert r.status_code == 200, r.text
            await push_e2e.sign_in(http, "laptop-a", "ThinkPad")  # a new-device alert
            assert (await push_e2e.next_push(endpoint)).path == f"/{secret}"
            await push_e2e.until_outbox(server, lambda rows: rows and rows[0]["status"] ==
                                        "delivered")
    finally:
        server.stop()
    assert secret not in server.log_path.read_text()
