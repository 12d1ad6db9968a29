"""The handler tier: each import's rules run in process against SQLite and PostgreSQL.

The schema is migrated once per run and per store: SQLite copies a migrated file, PostgreSQL
clones a migrated template database (``CREATE DATABASE … TEMPLATE``), so every test starts
from an empty, current schema in milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from persistence.db import make_engine
from tests.stand import STORES, migrated_database
from tests.stand.handlers import Stand


@pytest.fixture(params=STORES)
def stand(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stand]:
    """Handlers on a fresh database of each store, copied from the run's template."""
    engine = make_engine(migrated_database(request, request.param, tmp_path))
    yield Stand(engine)
    engine.dispose()
