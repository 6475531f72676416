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

from tests.helpers import PortTaken, ServerProcess, port_attempts, port_taken

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
VENV_BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = shutil.which(name) or (str(VENV_BIN / name) if (VENV_BIN / name).exists() else None)
    if path is None:
        pytest.skip(f"{name} is not installed here")
    return path


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
    prefix = tmp_path / "nginx"
    (prefix / "logs").mkdir(parents=True)
    (prefix / "nginx.conf").write_text(
        "user root root;\nworker_processes 1;\npid nginx.pid;\nerror_log logs/error.log;\n"
        "events { worker_connections 64; }\n"
        "http { access_log logs/access.log; client_body_temp_path tmp_body;"
        " proxy_temp_path tmp_proxy; fastcgi_temp_path tmp_fastcgi;"  # not the distro's
        " uwsgi_temp_path tmp_uwsgi; scgi_temp_path tmp_scgi; include site.conf; }\n")
    shipped = (PACKAGING / "proxy" / "nginx.conf").read_text()
    for attempt in port_attempts(2):
        with attempt as (http_port, https_port):
            (prefix / "site.conf").write_text(
                shipped.replace("127.0.0.1:8080", f"127.0.0.1:{server.port}")
                .replace("listen 80;", f"listen 127.0.0.1:{http_port};")
                .replace("listen [::]:80;", "")
                .replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
                .replace("listen [::]:443 ssl http2;", "")
                .replace("/etc/letsencrypt/live/home.example.com/fullchain.pem", str(cert))
                .replace("/etc/letsencrypt/live/home.example.com/privkey.pem", str(key)))
            check = subprocess.run([nginx, "-t", "-p", str(prefix), "-c", "nginx.conf"],
                                   capture_output=True, text=True, timeout=30)
            assert check.returncode == 0, check.stderr
            proc = _start_nginx(nginx, prefix, (http_port, https_port))
    try:
        yield f"http://127.0.0.1:{http_port}", f"https://127.0.0.1:{https_port}"
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _start_nginx(nginx: str, prefix: Path, ports: tuple[int, ...],
                 timeout: float = 20) -> subprocess.Popen[bytes]:
    """nginx in the foreground, once it listens on ``ports``: it writes its pid file only
    after binding them all (a connection alone could reach another process that took one
    of them first). :class:`PortTaken` if one was taken."""
    proc = subprocess.Popen([nginx, "-p", str(prefix), "-c", "nginx.conf", "-g", "daemon off;"],
                            stderr=subprocess.PIPE)
    pid_file = prefix / "nginx.pid"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:  # nginx gave up (after its own 5 binds, 0.5 s apart)
            assert proc.stderr is not None
            errors = proc.stderr.read().decode(errors="replace")
            for port in ports:
                if port_taken(errors, port):
                    raise PortTaken(port)
            raise RuntimeError(f"nginx exited with {proc.returncode}: {errors[-2000:]}")
        if pid_file.exists() and pid_file.read_text().strip() == str(proc.pid):
            return proc
        time.sleep(0.05)  # a separate process gives no other signal
    proc.kill()
    proc.wait()
    raise RuntimeError("nginx did not start listening")


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
    # Started as every e2e server is: its own "serving" line is the sign it is up, and a
    # port taken meanwhile by another process is replaced by another.
    server = ServerProcess(tmp_path / "data", env={"SHIV_ROOT": env["SHIV_ROOT"]},
                           program=(sys.executable, str(zipapp)))
    server.env.pop("HOMESYNC_DATA_DIR", None)
    try:
        server.start()
        r = httpx.get(f"{server.base}/readyz", timeout=10)
        assert r.status_code == 200 and r.json()["success"] is True
    finally:
        server.stop()
    # A graceful stop: uvicorn drains, the app shuts down, then uvicorn re-raises SIGTERM
    # (so the exit status is "killed by SIGTERM", which systemd and docker count as clean).
    assert server.proc is not None and server.proc.returncode in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in server.log_path.read_text()
