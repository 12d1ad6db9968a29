"""Pool sizing and timeouts come from conf/ (and GATEWAY_DATABASE_*), and reach PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from gateway.config import DEFAULT_CONFIG_FILE, Settings, load_settings
from gateway.runtime import open_engine, wait_for_database
from tests.stand import scratch_database


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from scratch_database("hcs_gateway_settings")


def test_pool_and_timeouts_are_configured_in_conf_and_environment() -> None:
    defaults = load_settings(DEFAULT_CONFIG_FILE, environ={})
    assert defaults.database.pool_size > 0 and defaults.database.statement_timeout_ms > 0
    assert defaults.worker.lease_seconds > 0 and defaults.worker.concurrency == 1
    settings = load_settings(
        DEFAULT_CONFIG_FILE,
        environ={
            "GATEWAY_DATABASE_POOL_SIZE": "3",
            "GATEWAY_DATABASE_STATEMENT_TIMEOUT_MS": "1500",
            "GATEWAY_WORKER_CONCURRENCY": "4",
            "GATEWAY_DATABASE_URL": "postgresql+psycopg://x/y",
        },
    )
    assert settings.database.pool_size == 3
    assert settings.database.statement_timeout_ms == 1500
    assert settings.worker.concurrency == 4
    assert settings.database_url == "postgresql+psycopg://x/y"


def test_postgresql_sessions_carry_the_configured_limits(pg_url: str) -> None:
    base = Settings(database_url=pg_url)
    settings = replace(
        base,
        database=replace(
            base.database, statement_timeout_ms=1234, lock_timeout_ms=567, pool_size=2
        ),
    )
    engine = open_engine(settings, "probe")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "1234ms"
            assert conn.execute(text("SHOW lock_timeout")).scalar() == "567ms"
            assert (
                conn.execute(text("SHOW application_name"))
                .scalar()
                .startswith("hcs-gateway probe ")
            )
        assert engine.pool.size() == 2  # type: ignore[attr-defined]
    finally:
        engine.dispose()


def test_waiting_for_a_database_that_never_comes_gives_up(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, database_url="postgresql+psycopg://postgres@127.0.0.1:1/none"
    )
    engine = open_engine(settings)
    started = time.monotonic()
    with pytest.raises(OperationalError):
        wait_for_database(engine, timeout=1.0)
    assert time.monotonic() - started < 10
    engine.dispose()
