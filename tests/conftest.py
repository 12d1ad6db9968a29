"""Shared fixtures: a demo PKI, a real gunicorn server on a free port, zeep clients from its WSDL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT.parent / "shared" / "reference" / "hcs-formats-16.3.0.0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gateway_cli(*args: str, env: dict[str, str] | None = None) -> str:
    """Run the real ``gateway`` command; returns its stdout."""
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise AssertionError(f"gateway {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


@dataclass(frozen=True)
class Org:
    guid: str
    role: str
    password: str
    key: Path
    cert: Path


@dataclass
class Server:
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path

    def endpoint(self, path: str) -> str:
        return self.url + path


def _password_from(output: str) -> str:
    for line in output.splitlines():
        if line.startswith("HTTP password: "):
            return line.split(": ", 1)[1].strip()
    raise AssertionError(f"no password in: {output}")


def register_org(data_dir: Path, pki_dir: Path, guid: str, role: str, name: str) -> Org:
    out = pki_dir / guid
    gateway_cli("pki", "issue", "--ca", str(pki_dir / "ca"), "--org", guid, "--out", str(out))
    output = gateway_cli(
        "orgs",
        "add",
        "--guid",
        guid,
        "--name",
        name,
        "--role",
        role,
        "--cert",
        str(out / "cert.pem"),
        "--data-dir",
        str(data_dir),
    )
    return Org(guid, role, _password_from(output), out / "key.pem", out / "cert.pem")


def start_server(
    data_dir: Path, extra_env: dict[str, str] | None = None, workers: int = 1
) -> Server:
    port = free_port()
    log = data_dir / "server.log"
    env = {**os.environ, "GATEWAY_WORKER_POLL_INTERVAL_SECONDS": "0.2", **(extra_env or {})}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "serve",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--data-dir",
            str(data_dir),
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited:\n{log.read_text()}")
        try:
            if requests.get(url + "/healthz", timeout=5).status_code == 200:
                return Server(url, data_dir, process, log)
        except requests.RequestException:  # not up yet, or slow on a loaded machine
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"server did not start:\n{log.read_text()}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def stand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """A running gateway with a trusted demo CA, two management companies, a bank and an RSO."""
    base = tmp_path_factory.mktemp("stand")
    data_dir, pki_dir = base / "data", base / "pki"
    gateway_cli("pki", "init", "--out", str(pki_dir / "ca"))
    gateway_cli("trust", "add", str(pki_dir / "ca" / "ca.pem"), "--data-dir", str(data_dir))
    orgs = {
        "uo": register_org(
            data_dir, pki_dir, "0a1b2c3d-0000-4000-8000-000000000001", "uo", "UK Dom"
        ),
        "uo2": register_org(
            data_dir, pki_dir, "0a1b2c3d-0000-4000-8000-000000000002", "uo", "UK Drugaya"
        ),
        "bank": register_org(
            data_dir, pki_dir, "0a1b2c3d-0000-4000-8000-000000000003", "bank", "Bank"
        ),
        "rso": register_org(
            data_dir, pki_dir, "0a1b2c3d-0000-4000-8000-000000000004", "rso", "Vodokanal"
        ),
    }
    server = start_server(data_dir)
    try:
        yield {"server": server, "orgs": orgs, "pki": pki_dir, "data_dir": data_dir}
    finally:
        stop_server(server)
