"""A second gateway process beside the session's stand, on the stand's database, with its own
settings (shorter timeouts, TLS, limits) and its own data directory and log."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.conftest import ROOT, Org, Server, free_port, register_org, stop_server


def _start(
    data_dir: Path,
    env: dict[str, str],
    workers: int,
    verify: str | bool,
    cert: tuple[str, str] | None,
    args: tuple[str, ...],
) -> Server:
    port = free_port()
    log = data_dir / "server.log"
    scheme = "https" if env.get("GATEWAY_SERVER_TLS_CERT") or "--tls-cert" in args else "http"
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--data-dir", str(data_dir), *args],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"{scheme}://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited:\n{log.read_text()}")
        try:
            if (
                requests.get(url + "/healthz", timeout=1, verify=verify, cert=cert).status_code
                == 200
            ):
                return Server(url, data_dir, process, log)
        except requests.RequestException:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"server did not start:\n{log.read_text()}")


@contextmanager
def side_server(
    stand: dict[str, object],
    data_dir: Path,
    workers: int = 1,
    verify: str | bool = True,
    cert: tuple[str, str] | None = None,
    args: tuple[str, ...] = (),
    **settings: str,
) -> Iterator[Server]:
    """``settings`` are GATEWAY_* environment overrides without the prefix; ``verify`` is
    the CA file the health check trusts when the server speaks TLS, ``cert`` the client
    certificate it presents; ``args`` more options of ``gateway serve``."""
    stand_data = stand["data_dir"]
    assert isinstance(stand_data, Path)
    env = {
        "GATEWAY_DATABASE_URL": f"sqlite:///{(stand_data / 'gateway.sqlite3').resolve()}",
        "GATEWAY_SERVER_RUN_WORKER": "false",
        **{f"GATEWAY_{k.upper()}": v for k, v in settings.items()},
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    server = _start(data_dir, env, workers, verify, cert, args)
    try:
        yield server
    finally:
        stop_server(server)


def fresh_orgs(stand: dict[str, object]) -> dict[str, Org]:
    """One new organisation per role on the stand, so that the example packets these tests
    import (account numbers, houses) never collide with what other test modules import."""
    data_dir, pki_dir = stand["data_dir"], stand["pki"]
    assert isinstance(data_dir, Path) and isinstance(pki_dir, Path)
    return {
        role: register_org(data_dir, pki_dir, str(uuid.uuid4()), role, f"Security {role}")
        for role in ("uo", "rso", "bank")
    }
