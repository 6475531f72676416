"""The foundation end to end: the real CLI and a real `homesync serve` on one data dir.

Accounts are made with the CLI, devices sign in over HTTP, and revocation (from another
device, from the CLI while the server runs, or the device's own logout) kills a device's
tokens at once.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import MakeServer
from tests.helpers import API, PASSWORD, ServerProcess, device_info

pytestmark = pytest.mark.e2e

# Cheap argon2 for the CLI and the server alike (fsync is already off in ServerProcess).
CHEAP_ARGON2 = {
    "HOMESYNC_AUTH_ARGON2_TIME_COST": "1",
    "HOMESYNC_AUTH_ARGON2_MEMORY_KIB": "8",
    "HOMESYNC_AUTH_ARGON2_PARALLELISM": "1",
}


@pytest.fixture
def server(make_server: MakeServer) -> ServerProcess:
    return make_server(CHEAP_ARGON2)


def server_log(server: ServerProcess) -> str:
    return (server.data_dir.parent / f"server-{server.port}.log").read_text("utf-8", "replace")


def register(http: httpx.Client, email: str, client_id: str, model: str,
             password: str = PASSWORD) -> dict[str, Any]:
    r = http.post(f"{API}/auth/register", json={
        "email": email, "password": password,
        "deviceInfo": device_info(client_id, model=model)})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['accessToken']}"}


def test_cli_accounts_http_devices_and_revocation(server: ServerProcess) -> None:
    made = server.cli("user", "add", "alice@example.com", "--name", "Alice Liddell",
                      "--password-stdin", input=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    server.start()
    assert "No accounts yet" not in server_log(server)  # an account exists: no first admin

    with httpx.Client(base_url=server.base, timeout=10) as http:
        phone = register(http, "alice@example.com", "phone-1", "Pixel 7")
        tablet = register(http, "alice@example.com", "tablet-1", "Galaxy Tab")
        assert phone["user"]["name"] == "Alice Liddell"
        assert phone["device"]["name"] == "Alice's Pixel 7"

        # Refresh rotates: the new pair works, the old refresh token is spent.
        r = http.post(f"{API}/auth/refresh", json={
            "refreshToken": phone["tokens"]["refreshToken"], "deviceId": "phone-1"})
        assert r.status_code == 200, r.text
        phone_tokens = r.json()["tokens"]
        assert phone_tokens["refreshToken"] != phone["tokens"]["refreshToken"]

        # Each device sees both, and knows which one it is.
        for tokens, me in ((phone_tokens, phone), (tablet["tokens"], tablet)):
            r = http.get(f"{API}/devices", headers=bearer(tokens))
            assert r.status_code == 200, r.text
            data = r.json()["data"]
            assert data["currentDevice"] == me["device"]["id"]
            assert {d["name"] for d in data["devices"]} == {"Alice's Pixel 7",
                                                          "Alice's Galaxy Tab"}
            assert [d["isCurrent"] for d in data["devices"]].count(True) == 1

        # The tablet removes the phone: the phone's tokens die on their next use.
        r = http.delete(f"{API}/devices/{phone['device']['id']}", headers=bearer(tablet["tokens"]))
        assert r.status_code == 200, r.text
        assert http.get(f"{API}/devices", headers=bearer(phone_tokens)).status_code == 401
        r = http.post(f"{API}/auth/refresh", json={
            "refreshToken": phone_tokens["refreshToken"], "deviceId": "phone-1"})
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "INVALID_REFRESH_TOKEN"

        # The administrator revokes a laptop from the CLI while the server runs.
        laptop = register(http, "alice@example.com", "laptop-1", "ThinkPad")
        assert http.get(f"{API}/devices", headers=bearer(laptop["tokens"])).status_code == 200
        listed = server.cli("device", "list", "alice@example.com", "--json")
        assert listed.returncode == 0, listed.stderr
        assert {d["id"] for d in json.loads(listed.stdout)} == {tablet["device"]["id"],
                                                               laptop["device"]["id"]}
        revoked = server.cli("device", "revoke", laptop["device"]["id"])
        assert revoked.returncode == 0, revoked.stderr
        r = http.get(f"{API}/devices", headers=bearer(laptop["tokens"]))
        assert r.status_code == 401
        assert r.json()["success"] is False
        r = http.post(f"{API}/auth/refresh", json={
            "refreshToken": laptop["tokens"]["refreshToken"], "deviceId": "laptop-1"})
        assert r.status_code == 401

        # The tablet was never touched.
        r = http.get(f"{API}/devices", headers=bearer(tablet["tokens"]))
        assert r.status_code == 200
        assert [d["id"] for d in r.json()["data"]["devices"]] == [tablet["device"]["id"]]


def test_logout_ends_only_the_calling_devices_sign_in(server: ServerProcess) -> None:
    made = server.cli("user", "add", "alice@example.com", "--password-stdin",
                      input=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    server.start()

    with httpx.Client(base_url=server.base, timeout=10) as http:
        phone = register(http, "alice@example.com", "phone-1", "Pixel 7")
        tablet = register(http, "alice@example.com", "tablet-1", "Galaxy Tab")
        r = http.post(f"{API}/auth/logout", headers=bearer(phone["tokens"]))
        assert r.status_code == 200, r.text

        # The phone's access and refresh tokens are dead at once ...
        r = http.get(f"{API}/devices", headers=bearer(phone["tokens"]))
        assert r.status_code == 401 and r.json()["success"] is False
        r = http.post(f"{API}/auth/refresh", json={
            "refreshToken": phone["tokens"]["refreshToken"], "deviceId": "phone-1"})
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "INVALID_REFRESH_TOKEN"

        # ... the tablet is untouched, and the phone stays listed until removed.
        r = http.get(f"{API}/devices", headers=bearer(tablet["tokens"]))
        assert r.status_code == 200, r.text
        assert {d["id"] for d in r.json()["data"]["devices"]} == {phone["device"]["id"],
                                                                 tablet["device"]["id"]}

        # Signing in again on the phone is the same device (200, not 201), signed in anew.
        r = http.post(f"{API}/auth/register", json={
            "email": "alice@example.com", "password": PASSWORD,
            "deviceInfo": device_info("phone-1", model="Pixel 7")})
        assert r.status_code == 200, r.text
        assert r.json()["device"]["id"] == phone["device"]["id"]
        assert http.get(f"{API}/devices", headers=bearer(r.json()["tokens"])).status_code == 200


def test_first_start_prints_an_admin_password_that_signs_in(server: ServerProcess) -> None:
    server.start()
    m = re.search(r"email:\s+(\S+)\s+password:\s+(\S+)", server_log(server))
    assert m, server_log(server)
    email, password = m.groups()
    saved = server.data_dir / "initial-admin-password.txt"
    assert saved.read_text().split() == [email, password]
    # It listens on 127.0.0.1, and says how a phone reaches it.
    assert "Only this machine can reach it" in server_log(server)
    assert "--host 0.0.0.0" in server_log(server)
    assert saved.stat().st_mode & 0o077 == 0

    with httpx.Client(base_url=server.base, timeout=10) as http:
        admin = register(http, email, "admin-phone", "Pixel 8", password=password)
        assert admin["user"]["email"] == email
        r = http.get(f"{API}/devices", headers=bearer(admin["tokens"]))
        assert r.status_code == 200

    # Until then, every start says where the password is (the first output may be gone).
    server.stop()
    server.start()
    assert f"password is still in {saved}; choose your own with: homesync user passwd" \
        f" {email}" in server_log(server).replace("\n", " ")

    # Choosing a real password forgets the printed one, file included.
    changed = server.cli("user", "passwd", email, "--password-stdin", input=PASSWORD + "\n")
    assert changed.returncode == 0, changed.stderr
    assert not saved.exists()
    users = json.loads(server.cli("user", "list", "--json").stdout)
    assert [(u["email"], u["isAdmin"]) for u in users] == [(email, True)]

    # A restart does not make a second admin.
    server.stop()
    server.start()
    assert server_log(server).count("No accounts yet") == 1
    assert server_log(server).count("password is still in") == 1  # not since the change


def run_serve(data_dir: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "homesync", "serve", "--data-dir", str(data_dir), *args],
        capture_output=True, text=True, timeout=60,
        env={**ServerProcess(data_dir).env, **CHEAP_ARGON2, **env},
    )


def test_serve_refuses_a_bad_setting_without_a_traceback(tmp_path: Path) -> None:
    done = run_serve(tmp_path / "data", env={"HOMESYNC_AUTH_ACCESS_TOKEN_TTL": "forever"})
    assert done.returncode == 2
    assert "HOMESYNC_AUTH_ACCESS_TOKEN_TTL: option auth.access_token_ttl: expected a duration" \
        in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_serve_refuses_half_a_push_provider_before_making_the_data_dir(tmp_path: Path) -> None:
    # Found only as the services opened: the new data dir had its database and key by then.
    done = run_serve(tmp_path / "data", "--port", "0",
                     env={"HOMESYNC_NOTIFICATIONS_APNS_KEY_ID": "ABC123"})
    assert done.returncode == 2, done.stderr
    assert ("error: configuration: notifications.apns_key_file, notifications.apns_team_id,"
            " notifications.apns_topic: required together with notifications.apns_key_id") \
        in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "data").exists()


def test_serve_on_a_taken_port_exits_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_serve(tmp_path / "data", "--port", str(port), env={})
    assert done.returncode == 1
    assert (f"error: cannot listen on 127.0.0.1:{port}: Address already in use (another"
            f" process listens on port {port}: choose another port with --port or"
            " server.port, or stop that process)") in done.stderr
    assert not (tmp_path / "data" / "initial-admin-password.txt").exists()
    assert "Traceback" not in done.stderr + done.stdout


def test_serve_on_a_taken_metrics_port_exits_1_before_saying_it_serves(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_serve(tmp_path / "data", "--port", "0",
                         env={"HOMESYNC_SERVER_METRICS_ADDRESS": f"127.0.0.1:{port}"})
    assert done.returncode == 1
    assert (f"error: cannot serve metrics on 127.0.0.1:{port} (server.metrics_address):"
            f" Address already in use (another process listens on port {port}: choose"
            " another port in server.metrics_address, or stop that process)") in done.stderr
    assert "homesync serving" not in done.stdout
    # Nor was a first administrator made (and announced) by a start that failed.
    assert "administrator was created" not in done.stdout
    assert not (tmp_path / "data" / "initial-admin-password.txt").exists()
    assert "Traceback" not in done.stderr + done.stdout


def test_serve_refuses_a_metrics_port_past_65535_before_making_anything(tmp_path: Path) -> None:
    # It passed the config's pattern, made the data dir and its first administrator,
    # then ended in an OverflowError traceback when the metrics listener bound.
    done = run_serve(tmp_path / "data", "--port", "0",
                     env={"HOMESYNC_SERVER_METRICS_ADDRESS": "127.0.0.1:99999"})
    assert done.returncode == 2, done.stderr
    assert ("HOMESYNC_SERVER_METRICS_ADDRESS: option server.metrics_address: expected an"
            " address and a port from 0 to 65535") in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "data").exists()


def test_metrics_on_port_0_log_the_port_they_got(make_server: MakeServer) -> None:
    server = make_server({"HOMESYNC_SERVER_METRICS_ADDRESS": "127.0.0.1:0"})
    server.start()
    found = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", server_log(server))
    assert found and found[1] != "0", server_log(server)
    scrape = httpx.get(f"http://127.0.0.1:{found[1]}/metrics", timeout=10)
    assert scrape.status_code == 200 and "homesync_build_info" in scrape.text


@pytest.mark.parametrize("request_bytes", [
    b"GET /api/mobile/\x01devices HTTP/1.1\r\nHost: x\r\n\r\n",  # a raw byte in the target
    b"POST /api/mobile/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
], ids=["raw-byte", "negative-length"])
def test_unparsable_http_gets_a_400_in_the_envelope(server: ServerProcess,
                                                    request_bytes: bytes) -> None:
    """uvicorn answers these before the app sees them; apps still get the envelope."""
    server.start()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(request_bytes)
        answer = b""
        while chunk := conn.recv(65536):  # the server closes the connection after it
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body) == {"success": False, "error": {
        "code": "VALIDATION_ERROR", "message": "Malformed HTTP request", "details": {}}}
    assert httpx.get(f"{server.base}/healthz").status_code == 200
