"""The SQLite group committer: concurrent accepts share one commit, each keeps its own
outcome, one refusal undoes only its own writes, and nobody returns before the commit that
holds its work (a failed commit fails every caller of the batch). The PostgreSQL statement
committer: each statement commits alone, on a connection it keeps while it stays usable."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.exc import DBAPIError

import persistence.committer as committer_module
import persistence.db as db_module
from persistence.committer import GroupCommitter, StatementCommitter, committer_for
from persistence.db import make_engine
from persistence.errors import is_transient


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'commit.sqlite3'}")
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY)"))
    yield eng
    eng.dispose()


def _rows(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return [n for (n,) in conn.execute(text("SELECT n FROM t ORDER BY n"))]


def _insert(n: int):  # type: ignore[no-untyped-def]
    def work(conn: Connection) -> int:
        conn.execute(text("INSERT INTO t (n) VALUES (:n)"), {"n": n})
        return n

    return work


class Refused(Exception):
    pass


def test_waiting_calls_share_one_commit_and_keep_their_own_outcomes(engine: Engine) -> None:
    committer = GroupCommitter(engine)
    commits: list[int] = []
    event.listen(engine, "commit", lambda conn: commits.append(1))
    first_inside, others_waiting = threading.Event(), threading.Event()

    def first(conn: Connection) -> int:
        conn.execute(text("INSERT INTO t (n) VALUES (1)"))
        first_inside.set()
        assert others_waiting.wait(30)
        return 1

    def refused(conn: Connection) -> int:
        conn.execute(text("INSERT INTO t (n) VALUES (3)"))
        raise Refused("only this one")

    outcomes: dict[str, object] = {}

    def call(name: str, work) -> None:  # type: ignore[no-untyped-def]
        try:
            outcomes[name] = committer.run(work)
        except Refused as exc:
            outcomes[name] = exc

    leader = threading.Thread(target=call, args=("first", first))
    leader.start()
    assert first_inside.wait(30)
    followers = [
        threading.Thread(target=call, args=(name, work))
        for name, work in (("second", _insert(2)), ("refused", refused), ("fourth", _insert(4)))
    ]
    for thread in followers:
        thread.start()
    for _ in range(3000):  # the three queue behind the leader's transaction
        if len(committer._pending) == 3:
            break
        threading.Event().wait(0.01)
    assert len(committer._pending) == 3
    assert "second" not in outcomes  # nobody returned before a commit held its work
    others_waiting.set()
    for thread in [leader, *followers]:
        thread.join(30)
    assert outcomes["first"] == 1 and outcomes["second"] == 2 and outcomes["fourth"] == 4
    assert isinstance(outcomes["refused"], Refused)
    assert _rows(engine) == [1, 2, 4]  # the refused one's row was rolled back alone
    assert (committer.commits, committer.calls) == (2, 4)
    assert len(commits) == 2


def test_a_failed_commit_fails_every_call_of_its_batch(engine: Engine) -> None:
    committer = GroupCommitter(engine)

    def failing_commit(conn: Connection) -> None:
        raise RuntimeError("disk full")

    event.listen(engine, "commit", failing_commit)
    with pytest.raises(RuntimeError, match="disk full"):
        committer.run(_insert(1))
    event.remove(engine, "commit", failing_commit)
    assert _rows(engine) == []
    assert committer.run(_insert(2)) == 2  # the next batch is led again
    assert _rows(engine) == [2]


def test_a_lone_refusal_rolls_back_its_transaction(engine: Engine) -> None:
    committer = GroupCommitter(engine)

    def refused(conn: Connection) -> None:
        conn.execute(text("INSERT INTO t (n) VALUES (5)"))
        raise Refused("no")

    with pytest.raises(Refused):
        committer.run(refused)
    assert _rows(engine) == []


def test_batches_run_on_one_kept_connection_until_a_commit_fails(engine: Engine) -> None:
    committer = GroupCommitter(engine)
    checkouts: list[int] = []
    opened: list[int] = []  # new driver connections (the pool holds the fixture's one)
    event.listen(engine, "checkout", lambda *_: checkouts.append(1))
    event.listen(engine, "connect", lambda *_: opened.append(1))

    def refused(conn: Connection) -> None:
        conn.execute(text("INSERT INTO t (n) VALUES (9)"))
        raise Refused("no")

    def failing_commit(conn: Connection) -> None:
        raise RuntimeError("disk full")

    committer.run(_insert(1))
    with pytest.raises(Refused):
        committer.run(refused)
    committer.run(_insert(2))
    assert (len(checkouts), len(opened)) == (1, 0)  # a refusal keeps the connection
    event.listen(engine, "commit", failing_commit)
    with pytest.raises(RuntimeError, match="disk full"):
        committer.run(_insert(3))
    event.remove(engine, "commit", failing_commit)
    committer.run(_insert(4))
    assert (len(checkouts), len(opened)) == (2, 1)  # the one that failed to commit is gone
    assert _rows(engine) == [1, 2, 4]
    assert engine.pool.checkedout() == 1  # type: ignore[attr-defined]
    committer.close()
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_postgresql_runs_the_accept_statement_in_autocommit(tmp_path: Path) -> None:
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")  # never connected
    assert type(committer_for(engine)) is StatementCommitter
    sqlite = make_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert isinstance(committer_for(sqlite), GroupCommitter)
    engine.dispose()
    sqlite.dispose()


@pytest.fixture
def store(postgres_database: str) -> Iterator[tuple[Engine, str]]:
    """An engine on the run's PostgreSQL database and a table of its own there."""
    eng = make_engine(postgres_database)
    table = f"committer_{uuid.uuid4().hex[:8]}"
    with eng.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} (n INTEGER PRIMARY KEY)"))
    yield eng, table
    with eng.begin() as conn:
        conn.execute(text(f"DROP TABLE {table}"))
    eng.dispose()


def _backend(conn: Connection) -> int:
    return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _insert_pg(table: str, n: int):  # type: ignore[no-untyped-def]
    def work(conn: Connection) -> int:
        conn.execute(text(f"INSERT INTO {table} (n) VALUES (:n)"), {"n": n})
        return _backend(conn)

    return work


def test_statements_commit_alone_on_one_kept_connection(store: tuple[Engine, str]) -> None:
    postgres, table = store
    committer = StatementCommitter(postgres)
    checkouts: list[int] = []
    event.listen(postgres, "checkout", lambda *_: checkouts.append(1))

    def refused(conn: Connection) -> None:
        conn.execute(text(f"INSERT INTO {table} (n) VALUES (7)"))
        raise Refused("after its statement")

    backends = {committer.run(_insert_pg(table, n)) for n in (1, 2)}
    with pytest.raises(Refused):
        committer.run(refused)
    backends.add(committer.run(_insert_pg(table, 3)))
    assert len(checkouts) == 1 and len(backends) == 1  # one connection, taken once
    with postgres.connect() as conn:  # each statement committed by itself (autocommit)
        assert [n for (n,) in conn.execute(text(f"SELECT n FROM {table} ORDER BY n"))] == [
            1,
            2,
            3,
            7,
        ]
    assert postgres.pool.checkedout() == 1  # type: ignore[attr-defined]
    committer.close()
    assert postgres.pool.checkedout() == 0  # type: ignore[attr-defined]
    committer.run(_insert_pg(table, 4))  # a call ending after close() keeps nothing
    assert postgres.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_a_connection_left_in_a_transaction_is_not_kept(store: tuple[Engine, str]) -> None:
    postgres, table = store
    committer = StatementCommitter(postgres)

    def opens_a_transaction(conn: Connection) -> int:
        conn.exec_driver_sql("BEGIN")
        return _insert_pg(table, 1)(conn)

    first = committer.run(opens_a_transaction)
    second = committer.run(_insert_pg(table, 2))
    assert first != second  # the first connection was closed, its transaction rolled back
    with postgres.connect() as conn:
        assert [n for (n,) in conn.execute(text(f"SELECT n FROM {table}"))] == [2]
    committer.close()


def test_a_lost_connection_fails_its_call_and_the_next_call_opens_another(
    store: tuple[Engine, str],
) -> None:
    postgres, table = store
    committer = StatementCommitter(postgres)
    lost = committer.run(_insert_pg(table, 1))
    with postgres.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": lost})
    with pytest.raises(DBAPIError) as raised:
        committer.run(_insert_pg(table, 2))
    assert is_transient(raised.value)
    assert committer.run(_insert_pg(table, 3)) != lost
    committer.close()
    assert postgres.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_a_connection_idle_too_long_goes_back_to_the_pool(
    store: tuple[Engine, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool's checkout then pings it (a database restarted meanwhile costs no packet)."""
    monkeypatch.setattr(committer_module, "PING_AFTER_IDLE_SECONDS", 0.0)
    postgres, table = store
    committer = StatementCommitter(postgres)
    checkouts: list[int] = []
    event.listen(postgres, "checkout", lambda *_: checkouts.append(1))
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0.001)
    committer.run(_insert_pg(table, 1))
    pings: list[int] = []
    ping = postgres.dialect.do_ping
    monkeypatch.setattr(postgres.dialect, "do_ping", lambda conn: pings.append(1) or ping(conn))
    time.sleep(0.01)
    committer.run(_insert_pg(table, 2))
    assert len(checkouts) == 2
    assert len(pings) == 1  # idle since its last use, not since it went back to the pool
    committer.close()
