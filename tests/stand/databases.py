"""Databases for tests: scratch PostgreSQL databases on 127.0.0.1:5432 (``GATEWAY_TEST_PG_URL``
points elsewhere), and the same test on both stores.

A test that needs PostgreSQL skips with the reason when the server is unreachable.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from gateway.config import Settings
from gateway.runtime import Runtime
from persistence.db import make_engine
from persistence.migrations import upgrade
from persistence.models import Base
from tests.stand.gateway import free_port

PG_ADMIN_URL = os.environ.get(
    "GATEWAY_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PG_BIN = Path("/usr/lib/postgresql/15/bin")
#: the two stores every storage test runs on (``@pytest.fixture(params=STORES)``)
STORES = ("sqlite", "postgresql")


def admin_engine() -> Engine:
    """An AUTOCOMMIT engine on the admin database; skips the test when it is unreachable."""
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"PostgreSQL at {PG_ADMIN_URL} is unreachable: {exc.__class__.__name__}: {exc}")
    return admin


def scratch_database(
    prefix: str = "hcs_gateway_test", template: str | None = None
) -> Iterator[str]:
    """Create a database (a copy of the database ``template`` if given), yield its URL, drop
    it (closing any connection left to it)."""
    admin = admin_engine()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def sqlite_template(directory: Path) -> Path:
    """A SQLite file at the current schema, to copy for each test."""
    path = directory / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def postgres_template() -> Iterator[str]:
    """The name of a PostgreSQL database at the current schema, to clone for each test
    (``CREATE DATABASE … TEMPLATE``); dropped afterwards."""
    for url in scratch_database("hcs_gateway_template"):
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url.rsplit("/", 1)[1]


def migrated_database(request: pytest.FixtureRequest, store: str, tmp_path: Path) -> str:
    """A new database of ``store`` at the current schema for this test, copied from the run's
    template (the ``sqlite_template`` / ``postgres_template`` fixtures): the file
    ``tmp_path/gateway.sqlite3``, or a PostgreSQL clone dropped when the test ends."""
    if store == "sqlite":
        path = tmp_path / "gateway.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    urls = scratch_database("hcs_gateway_test", request.getfixturevalue("postgres_template"))
    url = next(urls)
    request.addfinalizer(lambda: next(urls, None))
    return url


def database_url(
    request: pytest.FixtureRequest, store: str, tmp_path: Path, prefix: str = "hcs_gateway_test"
) -> str:
    """A new empty database of ``store`` for this test: a SQLite file in ``tmp_path``, or a
    scratch PostgreSQL database dropped when the test ends."""
    if store == "sqlite":
        return f"sqlite:///{tmp_path / 'gateway.sqlite3'}"
    urls = scratch_database(prefix)
    url = next(urls)
    request.addfinalizer(lambda: next(urls, None))
    return url


def runtime_on(
    request: pytest.FixtureRequest, store: str, tmp_path: Path, **settings: Any
) -> Runtime:
    """A gateway runtime on a new migrated database of ``store`` (for SQLite, the data
    directory's own file), closed when the test ends; ``settings`` are ``Settings`` fields
    (``worker=WorkerSettings(...)``)."""
    url = migrated_database(request, store, tmp_path)
    if store == "sqlite":
        url = ""  # the data directory's gateway.sqlite3, as ``serve`` uses it
    runtime = Runtime(Settings(data_dir=tmp_path, database_url=url, **settings))
    request.addfinalizer(runtime.close)
    return runtime


def migrated_engine(request: pytest.FixtureRequest, store: str, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a migrated database of ``store``: a copy of the SQLite template, or the
    run's shared PostgreSQL database (the ``postgres_database`` fixture), emptied afterwards."""
    if store == "sqlite":
        engine = make_engine(migrated_database(request, store, tmp_path))
    else:
        engine = make_engine(request.getfixturevalue("postgres_database"))
        upgrade(engine)
    yield engine
    if store != "sqlite":  # isolate the tests sharing the run's database
        with engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
    engine.dispose()


# --- a private PostgreSQL cluster (for restarting the database under load) -------------------


@dataclass
class Cluster:
    """A PostgreSQL cluster of the test's own, to stop and start under load."""

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


def start_private_cluster() -> Iterator[Cluster]:
    """initdb + pg_ctl on a free port in a temporary directory; removed afterwards (skips the
    test when the server binaries are missing)."""
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
