"""The handler tier: each import's rules run in process against SQLite and PostgreSQL.

The schema is migrated once per run and per store: SQLite copies a migrated file, PostgreSQL
clones a migrated template database (``CREATE DATABASE … TEMPLATE``), so every test starts
from an empty, current schema in milliseconds.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from persistence.db import make_engine
from persistence.migrations import upgrade
from tests.handlers.stand import Stand
from tests.postgres import PG_ADMIN_URL, admin_engine


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("handlers") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated database to clone; dropped at the end of the run."""
    admin = admin_engine()  # skips when PostgreSQL is unreachable
    name = f"hcs_handlers_tmpl_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(_url(name))
    upgrade(engine)
    engine.dispose()
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgresql"])
def stand(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stand]:
    """Handlers on a fresh database of each store."""
    if request.param == "sqlite":
        path = tmp_path / "gateway.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        engine = make_engine(f"sqlite:///{path}")
        yield Stand(engine)
        engine.dispose()
        return
    template = request.getfixturevalue("postgres_template")
    name = f"hcs_handlers_{uuid.uuid4().hex[:10]}"
    admin = admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    engine = make_engine(_url(name))
    try:
        yield Stand(engine)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
