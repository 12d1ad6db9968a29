"""The alembic migrations on SQLite and PostgreSQL: from empty, idempotent, adopting, reversible.

``test_models_and_migrations_agree`` is the guard for everyone who adds a table or a column
to ``persistence/models.py``: write the migration with ``gateway db revision -m "..."``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from persistence import migrations
from persistence.db import create_all_without_migrations, make_engine
from persistence.models import Base
from tests.stand import STORES, database_url


@pytest.fixture(params=STORES)
def empty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of each kind (a fresh PostgreSQL database per test)."""
    eng = make_engine(database_url(request, request.param, tmp_path, "hcs_gateway_migrate"))
    yield eng
    eng.dispose()


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_one_head() -> None:
    assert migrations.head()  # raises when two migrations claim the same parent


def test_models_and_migrations_agree(empty: Engine) -> None:
    migrations.upgrade(empty)
    diffs = migrations.drift(empty)
    assert diffs == [], (
        "persistence/models.py and persistence/migrations differ; write the migration with "
        '`gateway db revision -m "what changed"` and review it:\n'
        + "\n".join(str(d) for d in diffs)
    )


def test_upgrade_from_empty_is_idempotent_and_reversible(empty: Engine) -> None:
    assert migrations.current(empty) is None
    migrations.upgrade(empty)
    migrations.upgrade(empty)
    assert migrations.current(empty) == migrations.head()
    assert _tables(empty) == set(Base.metadata.tables)
    migrations.downgrade(empty, "base")
    assert _tables(empty) == set()
    migrations.ensure_schema(empty)
    assert _tables(empty) == set(Base.metadata.tables)


def test_results_stored_before_0005_are_counted(empty: Engine) -> None:
    migrations.upgrade(empty, "0004")
    item = "<hm:CommonResult><base:TransportGUID>t{n}</base:TransportGUID>{extra}</hm:CommonResult>"
    error = "<base:Error><base:ErrorCode>HCS001001</base:ErrorCode></base:Error>"
    result = item.format(n=1, extra="") + item.format(n=2, extra=error) + item.format(n=3, extra="")
    with empty.begin() as conn:
        for guid, result_xml in (("a", result), ("b", None)):
            conn.execute(
                text(
                    "INSERT INTO packets (message_guid, state, received_at, updated_at, raw,"
                    " body_sha256, result_xml) VALUES (:guid, 'processed', CURRENT_TIMESTAMP,"
                    " CURRENT_TIMESTAMP, :raw, 'x', :result_xml)"
                ),
                {"guid": guid, "raw": b"<p/>", "result_xml": result_xml},
            )
    migrations.upgrade(empty)
    with empty.connect() as conn:
        counted = conn.execute(
            text("SELECT message_guid, result_items, result_errors FROM packets ORDER BY 1")
        ).all()
    assert [tuple(row) for row in counted] == [("a", 3, 1), ("b", None, None)]


def test_a_database_made_before_migrations_is_adopted(empty: Engine) -> None:
    create_all_without_migrations(empty)
    with empty.begin() as conn:
        conn.execute(text("INSERT INTO trust_anchors VALUES ('f', 's', 'p', CURRENT_TIMESTAMP)"))
    migrations.ensure_schema(empty)
    assert migrations.current(empty) == migrations.head()
    assert migrations.drift(empty) == []
    with empty.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM trust_anchors")).scalar() == 1


def test_a_pre_migration_database_that_differs_is_refused_with_the_differences(
    empty: Engine,
) -> None:
    with empty.begin() as conn:
        conn.execute(text("CREATE TABLE trust_anchors (fingerprint VARCHAR(64) PRIMARY KEY)"))
    with pytest.raises(migrations.SchemaOutdated, match="trust_anchors"):
        migrations.upgrade(empty)
    assert migrations.current(empty) is None  # nothing half-done


def test_nodes_starting_together_upgrade_once(empty: Engine) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            migrations.ensure_schema(empty)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert migrations.current(empty) == migrations.head()


def test_postgresql_notifies_workers_when_a_job_is_queued(empty: Engine) -> None:
    if empty.dialect.name != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite workers poll")
    migrations.upgrade(empty)
    with empty.connect() as listener:
        listener.execute(text("LISTEN gateway_jobs"))
        listener.commit()
        with empty.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO packets (message_guid, state, received_at, updated_at, raw,"
                    " body_sha256) VALUES ('m', 'received', now(), now(), '', 'x')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO jobs (packet_id, state, attempts, run_after, created_at)"
                    " SELECT id, 'queued', 0, now(), now() FROM packets"
                )
            )
        raw = listener.connection.driver_connection
        notes = list(raw.notifies(timeout=5, stop_after=1))
    assert [n.channel for n in notes] == ["gateway_jobs"]


def test_a_shared_database_behind_the_code_is_refused(empty: Engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    if empty.dialect.name != "postgresql":
        pytest.skip("the embedded SQLite database is upgraded in place")
    migrations.upgrade(empty)
    monkeypatch.setattr(migrations, "head", lambda: "9999")
    monkeypatch.setattr(migrations.ScriptDirectory, "get_revision", lambda self, rev: object())
    with pytest.raises(migrations.SchemaOutdated, match="gateway db upgrade"):
        migrations.ensure_schema(empty)


def test_packet_bytes_are_compressed_with_lz4_where_the_server_can(empty: Engine) -> None:
    """0012: PostgreSQL 14+ built with lz4 TOASTs packets.raw with lz4 (cheaper than pglz on
    the accept path); back to pglz on downgrade."""
    if empty.dialect.name != "postgresql":
        pytest.skip("TOAST compression is PostgreSQL's")
    with empty.connect() as conn:
        try:
            conn.execute(text("CREATE TEMP TABLE lz4_probe (b bytea COMPRESSION lz4)"))
        except Exception as exc:
            pytest.skip(f"this PostgreSQL has no lz4: {exc}")
        conn.rollback()

    def compression() -> str:
        with empty.connect() as conn:
            return conn.execute(
                text(
                    "SELECT attcompression FROM pg_attribute "
                    "WHERE attrelid = 'packets'::regclass AND attname = 'raw'"
                )
            ).scalar_one()

    migrations.upgrade(empty)
    assert compression() == "l"
    migrations.downgrade(empty, "0011")
    assert compression() == "p"
