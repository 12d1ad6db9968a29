"""The fixtures every tier shares, built from the one harness in ``tests/stand``.

``stand``: the session's running gateway (a trusted demo CA, two management companies, a
bank and an RSO); ``postgres_database``: the run's PostgreSQL database; ``sqlite_template``
and ``postgres_template``: databases at the current schema that ``tests.stand.migrated_database``
copies for each test; ``engine`` and ``sessions``: a migrated database of each store (every
storage test runs on both).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from persistence.db import make_session_factory
from tests.stand import (
    E2E_ORGS,
    REFERENCE,
    ROOT,
    STORES,
    Org,
    Server,
    Stand,
    databases,
    free_port,
    gateway_cli,
    make_stand,
    migrated_engine,
    register_org,
    scratch_database,
    start_server,
    stop_server,
)

# What tests imported from here before tests/stand existed; new code imports tests.stand.
__all__ = [
    "REFERENCE",
    "ROOT",
    "Org",
    "Server",
    "free_port",
    "gateway_cli",
    "register_org",
    "start_server",
    "stop_server",
]


@pytest.fixture(scope="session")
def stand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stand]:
    """A running gateway with a trusted demo CA, two management companies, a bank and an RSO
    (``stand.orgs["uo"]``…; ``stand["orgs"]`` as well)."""
    made = make_stand(tmp_path_factory.mktemp("stand"), orgs=E2E_ORGS)
    try:
        made.serve()
        yield made
    finally:
        made.stop_all()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, dropped afterwards."""
    yield from scratch_database()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the current schema, copied for each test that needs one."""
    return databases.sqlite_template(tmp_path_factory.mktemp("templates"))


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A PostgreSQL database at the current schema, cloned for each test that needs one."""
    yield from databases.postgres_template()


@pytest.fixture(params=STORES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database: a new SQLite file, or the run's PostgreSQL database emptied after."""
    yield from migrated_engine(request, request.param, tmp_path)


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)
