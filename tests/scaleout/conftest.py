"""Scale-out stands: real ``gateway serve`` / ``gateway worker`` processes on one PostgreSQL.

Every process is started in its own session (process group), so a test can kill -9 a whole
gunicorn node, and the fixture kills whatever is left when a test ends or fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from lxml import etree
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from gateway.client import envelope
from signing import sign
from signing.pki import load_certificate, load_private_key
from tests.conftest import ROOT, free_port, gateway_cli
from tests.paths import HM_PATH as PATH
from tests.placed import placed_contract
from tests.postgres import scratch_database

HM = "http://dom.gosuslugi.ru/schema/integration/house-management/"
BASE = "http://dom.gosuslugi.ru/schema/integration/base/"
NSI = "http://dom.gosuslugi.ru/schema/integration/nsi-base/"
PG_BIN = Path("/usr/lib/postgresql/15/bin")

#: Fast settings for crash tests: short lease, quick retries, frequent polling.
FAST = {
    "GATEWAY_WORKER_POLL_INTERVAL_SECONDS": "0.2",
    "GATEWAY_WORKER_LEASE_SECONDS": "3",
    "GATEWAY_WORKER_RETRY_BACKOFF_SECONDS": "0.5",
}


@dataclass
class Stand:
    """One database, one registered management company, and the processes started on it."""

    url: str
    work: Path
    org_guid: str
    password: str
    key: object
    cert: object
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    _engine: Engine | None = None

    # --- processes -------------------------------------------------------------------------

    def _spawn(self, args: list[str], name: str, env: dict[str, str] | None) -> subprocess.Popen:  # type: ignore[type-arg]
        log = self.work / f"{name}-{len(self.logs)}.log"
        self.logs.append(log)
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", *args, "--database-url", self.url],
            cwd=ROOT,
            env={**os.environ, **FAST, **(env or {})},
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def node(
        self, *, workers: int = 1, queue_worker: bool = False, env: dict[str, str] | None = None
    ) -> tuple[str, subprocess.Popen]:  # type: ignore[type-arg]
        """Start ``gateway serve`` (accept only unless ``queue_worker``); returns its URL."""
        port = free_port()
        args = ["serve", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
        if not queue_worker:
            args.append("--no-worker")
        proc = self._spawn(args, "node", env)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _healthy(url, proc), 60, f"node {url} did not start:\n{self.log_text()}")
        return url, proc

    def worker(
        self, *, concurrency: int = 1, env: dict[str, str] | None = None, wait: bool = True
    ) -> subprocess.Popen:  # type: ignore[type-arg]
        """Start ``gateway worker``; with ``wait``, return once it is connected."""
        proc = self._spawn(["worker", "--concurrency", str(concurrency)], "worker", env)
        if wait:
            wait_until(
                lambda: (
                    proc.poll() is None
                    and self.scalar(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = :n",
                        n=f"hcs-gateway worker {proc.pid}",
                    )
                ),
                60,
                lambda: f"worker {proc.pid} did not connect:\n{self.log_text()}",
            )
        return proc

    def kill9(self, proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
        """kill -9 the process and everything it started (a gunicorn node's workers too)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        deadline = time.monotonic() + 10
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.kill9(proc)
        for proc in self.procs:  # stray gunicorn children of a node killed above
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if self._engine is not None:
            self._engine.dispose()

    def log_text(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.logs
        )

    # --- packets ---------------------------------------------------------------------------

    def packet(self, flats: int = 1, requester_guid: str | None = None) -> tuple[str, bytes]:
        """A signed importHouseUOData packet: a new house, one entrance, ``flats`` flats."""
        requester_guid = requester_guid or str(uuid.uuid4())
        element = house_request(flats)
        fias = element.findtext(f".//{{{HM}}}FIASHouseGuid") or ""
        with Session(self.db) as session, session.begin():  # the house is the sender's
            placed_contract(session, self.org_guid, fias)
        env = envelope(element, self.org_guid, requester_guid)
        sign(element, self.key, self.cert)  # type: ignore[arg-type]
        return requester_guid, etree.tostring(env, xml_declaration=True, encoding="UTF-8")

    def get_state(self, url: str, message_guid: str) -> str | None:
        request = etree.Element(f"{{{BASE}}}getStateRequest", nsmap={"base": BASE})
        etree.SubElement(request, f"{{{BASE}}}MessageGUID").text = message_guid
        response = requests.post(
            url + PATH,
            data=etree.tostring(envelope(request, self.org_guid)),
            headers={"Content-Type": "text/xml", "SOAPAction": "urn:getState"},
            auth=(self.org_guid, self.password),
            timeout=30,
        )
        return etree.fromstring(response.content).findtext(f".//{{{BASE}}}RequestState")

    # --- the database ----------------------------------------------------------------------

    @property
    def db(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine(self.url, pool_pre_ping=True)
        return self._engine

    def scalar(self, sql: str, **params: object) -> object:
        with self.db.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params: object) -> list[tuple]:  # type: ignore[type-arg]
        with self.db.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]

    def wait_processed(self, count: int, timeout: float) -> None:
        wait_until(
            lambda: self.scalar("SELECT count(*) FROM packets WHERE state = 'processed'") >= count,  # type: ignore[operator]
            timeout,
            lambda: (
                f"not all {count} packets processed: "
                f"{self.rows('SELECT state, count(*) FROM packets GROUP BY state')}\n{self.log_text()}"
            ),
        )

    def assert_each_processed_exactly_once(self, requester_guids: set[str], flats: int) -> None:
        """Every packet processed once: one outcome, its house and flats once, no item error."""
        rows = self.rows(
            "SELECT p.requester_message_guid, p.state, p.result_xml,"
            " (SELECT count(*) FROM packet_events e WHERE e.packet_id = p.id"
            "   AND e.event = 'processed'),"
            " j.state FROM packets p JOIN jobs j ON j.packet_id = p.id"
            " WHERE p.state != 'rejected'"
        )
        by_guid = {r[0]: r for r in rows}
        assert set(by_guid) == requester_guids, "stored packets differ from the acknowledged ones"
        for guid, state, result, outcomes, job_state in rows:
            assert (state, outcomes, job_state) == ("processed", 1, "done"), (guid, state)
            assert "Error" not in (result or ""), f"{guid}: an item failed: {result[:500]}"
        n = len(requester_guids)
        assert self.scalar("SELECT count(*) FROM houses") == n
        assert self.scalar("SELECT count(*) FROM entrances") == n
        assert self.scalar("SELECT count(*) FROM premises") == n * flats


def house_request(flats: int) -> etree._Element:
    """An importHouseUORequest: a new apartment house, one entrance and ``flats`` flats."""

    def el(parent: etree._Element, ns: str, name: str, value: str | None = None) -> etree._Element:
        child = etree.SubElement(parent, f"{{{ns}}}{name}")
        if value is not None:
            child.text = value
        return child

    root = etree.Element(
        f"{{{HM}}}importHouseUORequest", nsmap={"hm": HM, "base": BASE, "nsi": NSI}
    )
    root.set(f"{{{BASE}}}version", "13.2.3.2")
    root.set("Id", "signed-data-container")
    house = el(root, HM, "ApartmentHouse")
    create = el(house, HM, "ApartmentHouseToCreate")
    basic = el(create, HM, "BasicCharacteristicts")
    el(basic, HM, "FIASHouseGuid", str(uuid.uuid4()))
    el(basic, HM, "TotalSquare", "3560.5")
    state = el(basic, HM, "State")
    el(state, NSI, "Code", "2")
    el(state, NSI, "GUID", "a3f2c1d0-0b1c-4d2e-8f3a-4b5c6d7e8f90")
    el(basic, HM, "UsedYear", "1975")
    el(basic, HM, "FloorCount", "9")
    tz = el(basic, HM, "OlsonTZ")
    el(tz, NSI, "Code", "1")
    el(tz, NSI, "GUID", "0b2c3d4e-5f60-4718-92a3-b4c5d6e7f801")
    el(basic, HM, "CulturalHeritage", "false")
    el(create, HM, "UndergroundFloorCount", "1")
    el(create, BASE, "TransportGUID", str(uuid.uuid4()))
    entrance = el(house, HM, "EntranceToCreate")
    el(entrance, HM, "EntranceNum", "1")
    el(entrance, BASE, "TransportGUID", str(uuid.uuid4()))
    for n in range(1, flats + 1):
        flat = el(el(house, HM, "ResidentialPremises"), HM, "ResidentialPremisesToCreate")
        el(flat, HM, "CadastralNumber", f"77:01:0004012:{n}")
        el(flat, HM, "PremisesNum", str(n))
        el(flat, HM, "EntranceNum", "1")
        el(flat, HM, "TotalArea", "54.30")
        el(flat, BASE, "TransportGUID", str(uuid.uuid4()))
    return root


@dataclass
class Sent:
    """What a client knows after sending: the packets acknowledged and the ones not."""

    acked: dict[str, str] = field(default_factory=dict)  # requester guid -> gateway MessageGUID
    unacked: dict[str, bytes] = field(default_factory=dict)  # requester guid -> packet
    faults: list[tuple[int, str]] = field(default_factory=list)  # (HTTP status, ErrorCode)
    lock: threading.Lock = field(default_factory=threading.Lock)


def send(url: str, raw: bytes, timeout: float = 30) -> tuple[int, str | None, str | None]:
    """POST a packet: (HTTP status, Ack MessageGUID, Fault ErrorCode)."""
    response = requests.post(
        url + PATH,
        data=raw,
        headers={"Content-Type": "text/xml", "SOAPAction": "urn:importHouseUOData"},
        timeout=timeout,
    )
    root = etree.fromstring(response.content)
    return (
        response.status_code,
        root.findtext(f".//{{{BASE}}}Ack/{{{BASE}}}MessageGUID"),
        root.findtext(f".//{{{BASE}}}Fault/{{{BASE}}}ErrorCode"),
    )


def wait_until(
    condition: Callable[[], object], timeout: float, message: str | Callable[[], str]
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (requests.ConnectionError, OSError):
            pass
        time.sleep(0.1)
    raise AssertionError(message() if callable(message) else message)


def _healthy(url: str, proc: subprocess.Popen) -> bool:  # type: ignore[type-arg]
    if proc.poll() is not None:
        raise AssertionError(f"process exited with {proc.returncode}")
    try:
        return requests.get(url + "/healthz", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def make_stand(url: str, work: Path) -> Stand:
    """Migrate the database and register a trusted management company, all through the CLI."""
    pki = work / "pki"
    gateway_cli("db", "upgrade", "--database-url", url)
    gateway_cli("pki", "init", "--out", str(pki / "ca"))
    gateway_cli("trust", "add", str(pki / "ca" / "ca.pem"), "--database-url", url)
    org_guid = "0a1b2c3d-0000-4000-8000-00000000500a"
    password, key, cert = _register(url, pki, org_guid)
    return Stand(
        url=url,
        work=work,
        org_guid=org_guid,
        password=password,
        key=load_private_key(key),
        cert=load_certificate(cert),
    )


def _register(url: str, pki: Path, guid: str) -> tuple[str, Path, Path]:
    """pki issue + orgs add --database-url; returns (HTTP password, key file, cert file)."""
    out = pki / guid
    gateway_cli("pki", "issue", "--ca", str(pki / "ca"), "--org", guid, "--out", str(out))
    output = gateway_cli(
        "orgs", "add", "--guid", guid, "--name", "UK Scale", "--role", "uo",
        "--cert", str(out / "cert.pem"), "--database-url", url,
    )  # fmt: skip
    password = next(
        line.split(": ", 1)[1].strip()
        for line in output.splitlines()
        if line.startswith("HTTP password: ")
    )
    return password, out / "key.pem", out / "cert.pem"


@pytest.fixture
def pg_stand(tmp_path: Path) -> Iterator[Stand]:
    """A fresh database on the machine's PostgreSQL, migrated and with one organisation."""
    for url in scratch_database("hcs_gateway_scale"):
        stand = make_stand(url, tmp_path)
        try:
            yield stand
        finally:
            stand.stop_all()


# --- a private PostgreSQL cluster (for restarting the database under load) ---------------


@dataclass
class Cluster:
    data: Path
    port: int
    run_as: list[str]

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            [*self.run_as, str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", *args],
            check=True,
            capture_output=True,
            timeout=timeout,
        )

    def start(self) -> None:
        self.pg_ctl("-l", str(self.data.parent / "postgres.log"), "start")

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("-m", mode, "stop")


@pytest.fixture
def private_cluster() -> Iterator[Cluster]:
    """initdb + pg_ctl on a free port in a temporary directory; removed afterwards."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL server binaries not found in {PG_BIN}")
    run_as: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="hcs-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root
        if shutil.which("runuser") is None:
            pytest.skip("running as root and runuser is missing: cannot start a private cluster")
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres", "postgres")
    data = base / "data"
    port = free_port()
    try:
        subprocess.run(
            [*run_as, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{base}'\nmax_connections = 50\n"
            )
        cluster = Cluster(data, port, run_as)
        cluster.start()
        try:
            yield cluster
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):
                cluster.stop("immediate")
    finally:
        shutil.rmtree(base, ignore_errors=True)
