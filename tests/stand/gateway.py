"""The gateway as real processes: the ``gateway`` CLI, a trusted demo CA and registered
organisations, ``gateway serve`` servers, scale-out nodes and ``gateway worker`` processes.

A ``Stand`` is one store (a data directory, or a database URL) with a trusted CA, its
organisations and the processes started on it. The end-to-end stand runs one server on a data
directory for the whole session; the scale-out stands start and kill nodes and workers on one
PostgreSQL database per test. Every process a stand starts runs in its own process group, so a
test can kill -9 a whole gunicorn node, and ``stop_all`` ends whatever is left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from gateway.namespaces import HOUSE_MANAGEMENT
from signing.pki import load_certificate, load_private_key
from tests.gis_client import GisClient
from tests.placed import placed_contract
from tests.stand.packets import get_state, house_request, signed_packet

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT.parent / "shared" / "reference" / "hcs-formats-16.3.0.0"
#: A published bundle directory with the services the reference folder lacks
#: (organizations-registry-common, nsi-common: release 14.4.0.1, whose lib/ is 16.3.0.0's, as
#: public repositories vendor it). Tests that compare against them skip when it is not given.
PUBLISHED_EXTRA_ENV = "GATEWAY_TEST_PUBLISHED_FORMATS"


def published(rel: str) -> Path | None:
    """The published copy of ``rel`` (e.g. ``nsi-common/hcs-nsi-common-types.xsd``): in the
    reference folder, else in the bundle ``$GATEWAY_TEST_PUBLISHED_FORMATS`` names."""
    roots = [REFERENCE]
    if os.environ.get(PUBLISHED_EXTRA_ENV):
        roots.append(Path(os.environ[PUBLISHED_EXTRA_ENV]))
    return next((root / rel for root in roots if (root / rel).is_file()), None)


def published_or_skip(rel: str) -> Path:
    found = published(rel)
    if found is None:
        pytest.skip(
            f"published {rel} not found in {REFERENCE} nor in ${PUBLISHED_EXTRA_ENV} (a "
            "published format bundle directory; the reference folder beside the project has "
            "only house-management, device-metering, bills and payment)"
        )
    return found


#: Fast settings for spawned nodes and workers: short lease, quick retries, frequent polling.
FAST = {
    "GATEWAY_WORKER_POLL_INTERVAL_SECONDS": "0.2",
    "GATEWAY_WORKER_LEASE_SECONDS": "3",
    "GATEWAY_WORKER_RETRY_BACKOFF_SECONDS": "0.5",
}

Store = Path | str  # a data directory, or a database URL


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    condition: Callable[[], object], timeout: float, message: str | Callable[[], str]
) -> None:
    """Poll ``condition`` until it is true; an unreachable server counts as not yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (requests.RequestException, OSError):
            pass
        time.sleep(0.1)
    raise AssertionError(message() if callable(message) else message)


def store_args(store: Store) -> list[str]:
    """The CLI options naming ``store``."""
    return ["--data-dir", str(store)] if isinstance(store, Path) else ["--database-url", store]


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


# --- trust and organisations -------------------------------------------------------------------


@dataclass(frozen=True)
class Org:
    guid: str
    role: str
    password: str
    key: Path
    cert: Path


def trust_new_ca(store: Store, pki_dir: Path, *, algorithm: str | None = None) -> None:
    """``gateway pki init`` a demo CA in ``pki_dir/ca`` and trust it in ``store``."""
    chosen = ["--algorithm", algorithm] if algorithm else []
    gateway_cli("pki", "init", *chosen, "--out", str(pki_dir / "ca"))
    gateway_cli("trust", "add", str(pki_dir / "ca" / "ca.pem"), *store_args(store))


def register_org(store: Store, pki_dir: Path, guid: str, role: str, name: str) -> Org:
    """Issue the organisation a certificate from the CA in ``pki_dir`` and register it."""
    out = pki_dir / guid
    gateway_cli("pki", "issue", "--ca", str(pki_dir / "ca"), "--org", guid, "--out", str(out))
    output = gateway_cli(
        "orgs", "add", "--guid", guid, "--name", name, "--role", role,
        "--cert", str(out / "cert.pem"), *store_args(store),
    )  # fmt: skip
    password = next(
        (line.split(": ", 1)[1].strip() for line in output.splitlines()
         if line.startswith("HTTP password: ")),
        None,
    )  # fmt: skip
    assert password, f"no password in: {output}"
    return Org(guid, role, password, out / "key.pem", out / "cert.pem")


# --- processes ---------------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path

    def endpoint(self, path: str) -> str:
        return self.url + path


def _spawn(
    args: list[str], log: Path, env: dict[str, str], *, own_group: bool = False
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=own_group,
    )


def _wait_healthy(
    url: str,
    process: subprocess.Popen[bytes],
    log: Callable[[], str],
    *,
    verify: str | bool = True,
    cert: tuple[str, str] | None = None,
) -> None:
    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"{url}: the process exited with {process.returncode}:\n{log()}")
        response = requests.get(url + "/healthz", timeout=5, verify=verify, cert=cert)
        return response.status_code == 200

    try:
        wait_until(healthy, 60, lambda: f"{url} did not start:\n{log()}")
    except AssertionError:
        process.kill()
        raise


def start_server(
    data_dir: Path,
    extra_env: dict[str, str] | None = None,
    workers: int = 1,
    *,
    args: tuple[str, ...] = (),
    verify: str | bool = True,
    cert: tuple[str, str] | None = None,
) -> Server:
    """``gateway serve`` on ``data_dir`` (log: ``server.log`` there), once /healthz answers.
    ``args`` are more options of ``gateway serve``; ``verify`` is the CA file the health check
    trusts when the server speaks TLS, ``cert`` the client certificate it presents."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = data_dir / "server.log"
    env = {"GATEWAY_WORKER_POLL_INTERVAL_SECONDS": "0.2", **(extra_env or {})}
    tls = env.get("GATEWAY_SERVER_TLS_CERT") or "--tls-cert" in args
    bind = ["--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    process = _spawn(["serve", *bind, "--data-dir", str(data_dir), *args], log, env)
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    _wait_healthy(url, process, log.read_text, verify=verify, cert=cert)
    return Server(url, data_dir, process, log)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()


# --- the stand ---------------------------------------------------------------------------------


@dataclass
class Stand:
    """One store with a trusted demo CA and registered organisations (``orgs`` by key, the
    first one the default), and the processes started on it."""

    work: Path  # pki/ and the process logs live here
    store: Store
    orgs: dict[str, Org]
    server: Server | None = None  # the stand's own gateway, when it runs one
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    _engine: Engine | None = None

    @property
    def pki(self) -> Path:
        return self.work / "pki"

    @property
    def data_dir(self) -> Path:
        return self.store if isinstance(self.store, Path) else self.work / "data"

    @property
    def url(self) -> str:
        """The URL of the stand's own gateway."""
        assert self.server is not None, "the stand runs no server of its own"
        return self.server.url

    @property
    def db_file(self) -> Path:
        """The SQLite file of a stand on a data directory."""
        assert isinstance(self.store, Path)
        return self.store / "gateway.sqlite3"

    @property
    def database_url(self) -> str:
        if isinstance(self.store, str):
            return self.store
        return f"sqlite:///{self.db_file.resolve()}"

    def __getitem__(self, key: str) -> Any:
        """The stand as the dict it used to be: ``stand["server"]``, ``["orgs"]``, ``["pki"]``,
        ``["data_dir"]``, ``["org"]``."""
        return getattr(self, key)

    # --- organisations ---------------------------------------------------------------------

    @property
    def org(self) -> Org:
        return next(iter(self.orgs.values()))

    @property
    def org_guid(self) -> str:
        return self.org.guid

    @property
    def password(self) -> str:
        return self.org.password

    @cached_property
    def key(self) -> Any:
        return load_private_key(self.org.key)

    @cached_property
    def cert(self) -> Any:
        return load_certificate(self.org.cert)

    def register(self, key: str, guid: str, role: str, name: str) -> Org:
        org = self.orgs[key] = register_org(self.store, self.pki, guid, role, name)
        return org

    # --- clients of the stand's gateway ----------------------------------------------------

    def soap_client(self, path: str, org: str | None = None) -> GisClient:
        """A zeep client of the organisation (key in ``orgs``; default: the first) built from
        the WSDL the stand serves at ``path``, with its HTTP password."""
        found = self.orgs[org] if org else self.org
        assert self.server is not None, "the stand runs no server of its own"
        return GisClient(self.server.endpoint(path) + "?wsdl", found, password=found.password)

    def client_args(self, org: str | None = None, *, signing: bool = True) -> list[str]:
        """``--url … --org … [--key … --cert …] --password …`` of ``gateway client`` as the
        organisation, against the stand's gateway."""
        found = self.orgs[org] if org else self.org
        keys = ["--key", str(found.key), "--cert", str(found.cert)] if signing else []
        return ["--url", self.url, "--org", found.guid, *keys, "--password", found.password]

    def demo(self, *args: str) -> dict[str, list[str]]:
        """``gateway demo`` against the stand; its summary table (row ► first three columns)."""
        out = gateway_cli("demo", "--url", self.url, *store_args(self.store), *args)
        return {
            line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:5]]
            for line in out.splitlines()
            if line.count("│") >= 5
        }

    # --- the CLI and the database, as ops would use them -----------------------------------

    def cli(
        self,
        *args: str,
        check: bool = True,
        env: dict[str, str] | None = None,
        data_dir: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """``gateway …`` on the stand's store (stdout and stderr apart)."""
        result = subprocess.run(
            [sys.executable, "-m", "gateway.cli", *args,
             *store_args(data_dir or self.store)],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=60,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"gateway {' '.join(args)}: {result.stdout}\n{result.stderr}")
        return result

    def cli_bytes(self, *args: str) -> bytes:
        return subprocess.run(
            [sys.executable, "-m", "gateway.cli", *args, *store_args(self.store)],
            cwd=ROOT,
            capture_output=True,
            timeout=60,
            check=True,
        ).stdout

    def sql(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run SQL on a SQLite stand's database as a DBA would (outside the gateway)."""
        conn = sqlite3.connect(self.db_file, timeout=15)
        try:
            with conn:
                return conn.execute(statement, params).fetchall()
        finally:
            conn.close()

    @property
    def db(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine(self.database_url, pool_pre_ping=True)
        return self._engine

    def scalar(self, sql: str, **params: object) -> Any:
        with self.db.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params: object) -> list[tuple[Any, ...]]:
        with self.db.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]

    def packet_state(self, message_guid: str) -> str:
        found = self.rows("SELECT state FROM packets WHERE message_guid = :g", g=message_guid)
        return str(found[0][0]) if found else ""

    def wait_state(self, message_guid: str, *states: str, timeout: float = 20) -> str:
        """Until the packet is in one of ``states``; that state."""
        wait_until(
            lambda: self.packet_state(message_guid) in states,
            timeout,
            lambda: f"{message_guid} is {self.packet_state(message_guid)!r}, expected {states}",
        )
        return self.packet_state(message_guid)

    # --- packets over plain HTTP ------------------------------------------------------------

    def packet(self, flats: int = 1, requester_guid: str | None = None) -> tuple[str, bytes]:
        """A signed importHouseUOData packet: a new house, one entrance, ``flats`` flats."""
        requester_guid = requester_guid or str(uuid.uuid4())
        element = house_request(flats)
        fias = element.findtext(f".//{{{HOUSE_MANAGEMENT}}}FIASHouseGuid") or ""
        with Session(self.db) as session, session.begin():  # the house is the sender's
            placed_contract(session, self.org_guid, fias)
        raw = signed_packet(element, self.org_guid, self.key, self.cert, requester_guid)
        return requester_guid, raw

    def get_state(self, url: str, message_guid: str) -> str | None:
        return get_state(url, self.org_guid, self.password, message_guid)

    def wait_processed(self, count: int, timeout: float) -> None:
        wait_until(
            lambda: self.scalar("SELECT count(*) FROM packets WHERE state = 'processed'") >= count,
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

    # --- processes -------------------------------------------------------------------------

    def serve(self, env: dict[str, str] | None = None, workers: int = 1) -> Server:
        """Start the stand's own gateway (server and in-process workers) on its data directory."""
        assert isinstance(self.store, Path)
        self.server = start_server(self.store, env, workers)
        return self.server

    def _spawn(
        self, args: list[str], name: str, env: dict[str, str] | None
    ) -> subprocess.Popen[bytes]:
        log = self.work / f"{name}-{len(self.logs)}.log"
        self.logs.append(log)
        proc = _spawn(
            [*args, *store_args(self.store)], log, {**FAST, **(env or {})}, own_group=True
        )
        self.procs.append(proc)
        return proc

    def node(
        self, *, workers: int = 1, queue_worker: bool = False, env: dict[str, str] | None = None
    ) -> tuple[str, subprocess.Popen[bytes]]:
        """Start ``gateway serve`` (accept only unless ``queue_worker``); returns its URL."""
        port = free_port()
        args = ["serve", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
        if not queue_worker:
            args.append("--no-worker")
        proc = self._spawn(args, "node", env)
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc, self.log_text)
        return url, proc

    def worker(
        self, *, concurrency: int = 1, env: dict[str, str] | None = None, wait: bool = True
    ) -> subprocess.Popen[bytes]:
        """Start ``gateway worker``; with ``wait``, return once it is connected (PostgreSQL)."""
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

    def kill9(self, proc: subprocess.Popen[bytes]) -> None:
        """kill -9 the process and everything it started (a gunicorn node's workers too)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        """Stop the stand's server and every process it started; close its engine."""
        if self.server is not None:
            stop_server(self.server)
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


#: The organisations of the session's end-to-end stand.
E2E_ORGS = {
    "uo": ("0a1b2c3d-0000-4000-8000-000000000001", "uo", "UK Dom"),
    "uo2": ("0a1b2c3d-0000-4000-8000-000000000002", "uo", "UK Drugaya"),
    "bank": ("0a1b2c3d-0000-4000-8000-000000000003", "bank", "Bank"),
    "rso": ("0a1b2c3d-0000-4000-8000-000000000004", "rso", "Vodokanal"),
}
#: The one organisation of a scale-out stand.
SCALE_ORGS = {"uo": ("0a1b2c3d-0000-4000-8000-00000000500a", "uo", "UK Scale")}


def make_stand(
    work: Path,
    store: Store | None = None,
    orgs: dict[str, tuple[str, str, str]] | None = None,
    *,
    algorithm: str | None = None,
    stand_class: type[Stand] = Stand,
    **extra: Any,
) -> Stand:
    """A stand in ``work``: its store (default: ``work/data``; a database URL is migrated
    first), a trusted new CA, and ``orgs`` (key ► (guid, role, name); default: one
    management company) registered, all through the CLI. Nothing is started yet."""
    if store is None:
        store = work / "data"
    if isinstance(store, str):
        gateway_cli("db", "upgrade", "--database-url", store)
    pki = work / "pki"
    trust_new_ca(store, pki, algorithm=algorithm)
    registered = {
        key: register_org(store, pki, guid, role, name)
        for key, (guid, role, name) in (orgs or SCALE_ORGS).items()
    }
    return stand_class(work=work, store=store, orgs=registered, **extra)


# --- a second server beside the session's stand --------------------------------------------------


@contextlib.contextmanager
def side_server(
    stand: Stand,
    data_dir: Path,
    workers: int = 1,
    verify: str | bool = True,
    cert: tuple[str, str] | None = None,
    args: tuple[str, ...] = (),
    **settings: str,
) -> Iterator[Server]:
    """A second gateway process on the stand's database with its own settings (shorter
    timeouts, TLS, limits), data directory and log, and no queue workers. ``settings`` are
    GATEWAY_* environment overrides without the prefix; ``verify``, ``cert`` and ``args`` as
    for ``start_server``."""
    env = {
        "GATEWAY_DATABASE_URL": stand.database_url,
        "GATEWAY_SERVER_RUN_WORKER": "false",
        **{f"GATEWAY_{k.upper()}": v for k, v in settings.items()},
    }
    server = start_server(data_dir, env, workers, args=args, verify=verify, cert=cert)
    try:
        yield server
    finally:
        stop_server(server)


def fresh_orgs(stand: Stand) -> dict[str, Org]:
    """One new organisation per role on the stand, so that the example packets a test imports
    (account numbers, houses) never collide with what other test modules import."""
    return {
        role: register_org(stand.store, stand.pki, str(uuid.uuid4()), role, f"Security {role}")
        for role in ("uo", "rso", "bank")
    }
