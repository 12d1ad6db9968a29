"""PostgreSQL for tests: a fresh database per test run (or per test) on 127.0.0.1:5432.

Storage tests (tests/persistence) and scale-out tests (tests/scaleout) both use it; they skip
with the reason when the server is unreachable. ``GATEWAY_TEST_PG_URL`` points elsewhere.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

PG_ADMIN_URL = os.environ.get(
    "GATEWAY_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def admin_engine() -> Engine:
    """An AUTOCOMMIT engine on the admin database; skips the test when it is unreachable."""
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"PostgreSQL at {PG_ADMIN_URL} is unreachable: {exc.__class__.__name__}: {exc}")
    return admin


def scratch_database(prefix: str = "hcs_gateway_test") -> Iterator[str]:
    """Create a database, yield its URL, drop it (closing any connection left to it)."""
    admin = admin_engine()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, dropped afterwards."""
    yield from scratch_database()
