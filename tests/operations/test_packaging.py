"""packaging/: the systemd units verify, the Dockerfile lints, the proxies pass big chunks,
and the single-file zipapp builds, answers --help and serves a request."""

from __future__ import annotations

import datetime
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import ServerProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
VENV_BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = shutil.which(name) or (str(VENV_BIN / name) if (VENV_BIN / name).exists() else None)
    if path is None:
        pytest.skip(f"{name} is not installed here")
    return path


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            with __import__("socket").create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)  # a separate process gives no other signal
    raise RuntimeError(f"nothing listens on {port}")


def test_systemd_units_are_hardened_and_verify(tmp_path: Path) -> None:
    unit = (PACKAGING / "systemd" / "homesync.service").read_text()
    for line in ("User=homesync", "ProtectSystem=strict", "ReadWritePaths=/var/lib/homesync",
                 "NoNewPrivileges=yes", "PrivateTmp=yes", "ProtectHome=yes", "CapabilityBoundingSet=",
                 "SystemCallFilter=@system-service", "KillSignal=SIGTERM"):
        assert f"\n{line}\n" in unit, line
    analyze = _tool("systemd-analyze")
    # verify checks that ExecStart exists: point it at this checkout's homesync.
    homesync = str(VENV_BIN / "homesync")
    for path in (PACKAGING / "systemd").iterdir():
        (tmp_path / path.name).write_text(path.read_text().replace("/opt/homesync/bin/homesync",
                                                                   homesync))
    result = subprocess.run([analyze, "verify", *sorted(p.name for p in tmp_path.iterdir())],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_dockerfile_lints_clean() -> None:
    dockerfile = PACKAGING / "docker" / "Dockerfile"
    text = dockerfile.read_text()
    assert re.search(r"^USER 10001", text, re.M) and 'VOLUME ["/data"]' in text
    assert "HEALTHCHECK" in text and "/readyz" in text and "STOPSIGNAL SIGTERM" in text
    hadolint = _tool("hadolint")
    result = subprocess.run([hadolint, str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_caddyfile_validates() -> None:
    caddy = _tool("caddy")
    result = subprocess.run([caddy, "validate", "--config", str(PACKAGING / "proxy" / "Caddyfile"),
                             "--adapter", "caddyfile"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "not formatted" not in result.stderr


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "home.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def nginx_in_front(server: ServerProcess, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """packaging/proxy/nginx.conf, as shipped but for ports and certificate paths."""
    nginx = _tool("nginx")
    server.start()
    cert, key = _self_signed(tmp_path)
    http_port, https_port = free_port(), free_port()
    site = (PACKAGING / "proxy" / "nginx.conf").read_text()
    site = (site.replace("127.0.0.1:8080", f"127.0.0.1:{server.port}")
            .replace("listen 80;", f"listen 127.0.0.1:{http_port};")
            .replace("listen [::]:80;", "")
            .replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
            .replace("listen [::]:443 ssl http2;", "")
            .replace("/etc/letsencrypt/live/home.example.com/fullchain.pem", str(cert))
            .replace("/etc/letsencrypt/live/home.example.com/privkey.pem", str(key)))
    prefix = tmp_path / "nginx"
    (prefix / "logs").mkdir(parents=True)
    (prefix / "site.conf").write_text(site)
    (prefix / "nginx.conf").write_text(
        "user root root;\nworker_processes 1;\npid nginx.pid;\nerror_log logs/error.log;\n"
        "events { worker_connections 64; }\n"
        "http { access_log logs/access.log; client_body_temp_path tmp_body;"
        " proxy_temp_path tmp_proxy; include site.conf; }\n")
    check = subprocess.run([nginx, "-t", "-p", str(prefix), "-c", "nginx.conf"],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen([nginx, "-p", str(prefix), "-c", "nginx.conf", "-g", "daemon off;"],
                            stderr=subprocess.PIPE)
    try:
        _wait_for_port(https_port, proc)
        yield f"http://127.0.0.1:{http_port}", f"https://127.0.0.1:{https_port}"
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.mark.e2e
def test_nginx_config_passes_chunks_and_request_ids(nginx_in_front: tuple[str, str]) -> None:
    plain, tls = nginx_in_front
    with httpx.Client(verify=False, timeout=30, headers={"Host": "home.example.com"}) as http:
        redirect = http.get(f"{plain}/healthz")
        assert redirect.status_code == 301
        assert redirect.headers["location"] == "https://home.example.com/healthz"
        health = http.get(f"{tls}/readyz")
        assert health.status_code == 200 and health.json()["data"]["status"] == "ready"
        # nginx's $request_id reaches homesync and comes back.
        assert re.fullmatch(r"[0-9a-f]{32}", health.headers["x-request-id"])
        # A full 16 MiB chunk is not refused by the proxy (nginx's default limit is 1 MiB):
        # the answer is homesync's own envelope, whatever homesync thinks of the upload.
        body = os.urandom(16 * 1024 * 1024)
        put = http.put(f"{tls}/api/mobile/upload/chunk/upload_x/0", content=body,
                       headers={"Content-Type": "application/octet-stream"})
        assert put.status_code != 413
        assert put.json()["success"] is False


@pytest.fixture(scope="module")
def zipapp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if subprocess.run([sys.executable, "-m", "shiv", "--version"], capture_output=True).returncode:
        pytest.skip("shiv is not installed here (pip install shiv)")
    out = tmp_path_factory.mktemp("dist") / "homesync.pyz"
    result = subprocess.run(["sh", str(PACKAGING / "build-zipapp.sh"), str(out)],
                            env={**os.environ, "PYTHON": sys.executable},
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return out


@pytest.mark.e2e
def test_zipapp_runs_help_and_serves(zipapp: Path, tmp_path: Path) -> None:
    env = {**os.environ, "SHIV_ROOT": str(tmp_path / "shiv"), "HOMESYNC_STORAGE_FSYNC": "false"}
    env.pop("HOMESYNC_DATA_DIR", None)
    helped = subprocess.run([sys.executable, str(zipapp), "--help"], capture_output=True,
                            text=True, env=env, timeout=120)
    assert helped.returncode == 0, helped.stderr
    assert "backup" in helped.stdout and "serve" in helped.stdout
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(zipapp), "serve", "--data-dir",
                             str(tmp_path / "data"), "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for_port(port, proc, timeout=60)
        r = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
        assert r.status_code == 200 and r.json()["success"] is True
    finally:
        proc.terminate()
        _, log = proc.communicate(timeout=30)
    # A graceful stop: uvicorn drains, the app shuts down, then uvicorn re-raises SIGTERM
    # (so the exit status is "killed by SIGTERM", which systemd and docker count as clean).
    assert proc.returncode in (0, -signal.SIGTERM)
    assert b"Application shutdown complete" in log
