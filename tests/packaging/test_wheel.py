"""The wheel is a gateway that runs outside the checkout.

Built from a copy of the tracked files (``pip wheel --no-deps``; the build backend comes from
the package index or pip's cache), installed into an empty venv, and used from a temporary
directory that is not the checkout, with the installed commands only: ``pki init/issue``,
``trust add``, ``orgs add``, ``serve`` (SQLite), ``client send --wait``, and ``?wsdl``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from gateway.services import build_registry
from tests.stand import ROOT, free_port

# asked of the registry, never retyped (tests/paths.py on main does the same)
HM_PATH = build_registry().by_name("house-management").path
ORG = "7d0f6a3e-4c1b-4d55-9a0e-1f2a3b4c5d6e"

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(900)]


def _copy_sources(target: Path) -> None:
    """The tracked files only: nothing built or cached in the checkout leaks into the wheel."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=False
    )
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout: {listed.stderr.decode().strip()}")
    for name in listed.stdout.decode().split("\0"):
        source = ROOT / name
        if name and source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def _env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GATEWAY_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env["GATEWAY_WORKER_POLL_INTERVAL_SECONDS"] = "0.2"
    return env


def _run(*args: str | Path, cwd: Path, timeout: float = 600) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_installed_wheel_serves_a_wsdl_and_a_signed_import_outside_the_checkout(
    tmp_path: Path,
) -> None:
    source, dist, venv, work = (tmp_path / d for d in ("src", "dist", "venv", "work"))
    for d in (source, dist, work):
        d.mkdir()
    _copy_sources(source)
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, source, cwd=tmp_path)
    wheel = next(dist.glob("hcs_gateway-*.whl"))
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    _run(venv / "bin" / "python", "-m", "pip", "install", "-q", wheel, cwd=tmp_path)
    shutil.rmtree(source)  # nothing of the sources is left to fall back on

    gateway = venv / "bin" / "gateway"
    assert _run(gateway, "--version", cwd=work).startswith("gateway, version ")
    located = _run(
        venv / "bin" / "python",
        "-c",
        "import gateway, gateway.config as c; from importlib import resources as r; "
        "print(gateway.__file__); print(c.data_path('xsd')); print(c.DEFAULT_CONFIG_FILE); "
        "print(r.files('gateway.ops') / 'grafana' / 'hcs-gateway.json')",
        cwd=work,
    ).split()
    assert len(located) == 4 and all(str(venv) in line for line in located), located
    assert all(Path(line).exists() for line in located), located

    _run(gateway, "pki", "init", "--out", "pki/ca", cwd=work)
    _run(gateway, "trust", "add", "pki/ca/ca.pem", cwd=work)
    _run(gateway, "pki", "issue", "--ca", "pki/ca", "--org", ORG, "--out", f"pki/{ORG}", cwd=work)
    added = _run(
        gateway,
        "orgs",
        "add",
        "--guid",
        ORG,
        "--name",
        "UK Dom",
        "--role",
        "uo",
        "--cert",
        f"pki/{ORG}/cert.pem",
        cwd=work,
    )
    assert f"sqlite:///{work.resolve() / 'var' / 'gateway.sqlite3'}" in added
    password = added.split("HTTP password: ")[1].split()[0]
    house = str(uuid.uuid4())
    contract, packet = work / "contract.xml", work / "house.xml"
    contract.write_text(  # the company's management contract of the house comes first
        (ROOT / "examples" / "house-management" / "importContractData.xml")
        .read_text(encoding="utf-8")
        .replace("5b4a9c2e-3f1d-4e8a-9b7c-1d2e3f4a5b6c", house),
        encoding="utf-8",
    )
    packet.write_text(
        (ROOT / "examples" / "house-management" / "importHouseUOData.xml")
        .read_text(encoding="utf-8")
        .replace("5B4A9C2E-3F1D-4E8A-9B7C-1D2E3F4A5B6C", house),
        encoding="utf-8",
    )

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = work / "serve.log"
    server = subprocess.Popen(
        [str(gateway), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=work,
        env=_env(),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, f"server exited:\n{log.read_text()}"
            try:
                if requests.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:  # refused, or too slow to answer yet
                pass
            assert time.monotonic() < deadline, f"server did not start:\n{log.read_text()}"
            time.sleep(0.2)

        wsdl = requests.get(url + HM_PATH + "?wsdl", timeout=10)
        assert wsdl.status_code == 200 and b"importHouseUOData" in wsdl.content
        assert f'location="{url}{HM_PATH}"'.encode() in wsdl.content
        # the schemas the WSDL imports come from the installed package too
        imports = re.findall(rb'schemaLocation="([^"]+)"', wsdl.content)
        assert imports
        for location in imports:
            schema = requests.get(location.decode(), timeout=10)
            assert schema.status_code == 200 and b"<xs:schema" in schema.content, location
        for sending in (contract, packet):
            sent = _run(
                gateway,
                "client",
                "send",
                "--url",
                url,
                "--org",
                ORG,
                "--key",
                f"pki/{ORG}/key.pem",
                "--cert",
                f"pki/{ORG}/cert.pem",
                "--password",
                password,
                "--wait",
                sending,
                cwd=work,
            )
            assert "RequestState>3<" in sent and "Error>" not in sent
        assert "UniqueNumber" in sent
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
