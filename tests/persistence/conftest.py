"""Storage fixtures: every storage test runs on SQLite and on the real PostgreSQL of this machine.

Both databases get their schema from the alembic migrations, as ``serve`` does.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from persistence.db import make_engine, make_session_factory
from persistence.migrations import upgrade
from tests.postgres import postgres_database  # noqa: F401  (fixture)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'test.sqlite3'}")
        upgrade(eng)
        yield eng
        eng.dispose()
        return
    url = request.getfixturevalue("postgres_database")
    eng = make_engine(url)
    upgrade(eng)
    yield eng
    # isolate tests sharing the run's database
    from persistence.models import Base

    with eng.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)
