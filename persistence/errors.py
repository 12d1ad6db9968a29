"""Which database errors are worth retrying: one classification for the worker and accept.

Transient: the same work may succeed later without any change to it (the connection was
lost, the server is shutting down or restarting, a concurrent transaction won a
serialization or deadlock conflict, a lock or statement timeout ran out, SQLite's file was
busy). Everything else (a constraint violation, a value the column refuses, SQL the server
rejects) is permanent: retrying repeats the same error, so it is reported at once.

The decision reads the driver's error code (psycopg's SQLSTATE, sqlite3's result code),
never the message.

SQLSTATE class GW is the gateway's own: the accept statement refuses a packet past a limit
with it (``persistence.accept_sql.LIMIT_SQLSTATES``), which turns it into the refusal, so it
never reaches these as an error; were it to, it is permanent (the same packet is refused
again until the window or the queue moves).
"""

from __future__ import annotations

import sqlite3

import psycopg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

#: SQLSTATEs whose statement may succeed when the transaction is run again.
TRANSIENT_SQLSTATES = frozenset(
    {
        "40001",  # serialization_failure (also: conflict with recovery on a standby)
        "40P01",  # deadlock_detected
        "55P03",  # lock_not_available (lock_timeout, NOWAIT)
        "57014",  # query_canceled (statement_timeout, pg_cancel_backend)
        "57P01",  # admin_shutdown (server stopping, pg_terminate_backend)
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now (server starting up or in recovery)
        "57P05",  # idle_session_timeout
        "25P03",  # idle_in_transaction_session_timeout
        "53000",  # insufficient_resources
        "53100",  # disk_full
        "53200",  # out_of_memory
        "53300",  # too_many_connections
        "72000",  # snapshot_too_old
    }
)
#: SQLSTATE classes that are transient as a whole: 08 connection exception.
TRANSIENT_SQLSTATE_CLASSES = frozenset({"08"})

#: sqlite3 primary result codes (the low byte of an extended code) that are transient.
TRANSIENT_SQLITE_CODES = frozenset(
    {
        sqlite3.SQLITE_BUSY,  # another connection holds the lock (busy timeout ran out)
        sqlite3.SQLITE_LOCKED,  # a conflict inside one shared cache
        sqlite3.SQLITE_PROTOCOL,  # WAL lock protocol race
        sqlite3.SQLITE_FULL,  # disk full
    }
)


def driver_error(exc: BaseException) -> BaseException:
    """The driver's own exception behind a SQLAlchemy one (``orig``), else ``exc`` itself."""
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    return orig if isinstance(orig, BaseException) else exc


def error_code(exc: BaseException) -> str | None:
    """The SQLSTATE (PostgreSQL) or ``SQLITE_…`` name of the extended result code (SQLite)
    of a database error; None for other errors and for errors without a code."""
    orig = driver_error(exc)
    if isinstance(orig, psycopg.Error):
        return orig.sqlstate
    if isinstance(orig, sqlite3.Error):
        code = getattr(orig, "sqlite_errorname", None)
        return code if isinstance(code, str) else None
    return None


def is_transient(exc: BaseException) -> bool:
    """True when running the same work again later may succeed (see the module docstring)."""
    if isinstance(exc, PoolTimeout):  # every pooled connection busy: the server is loaded
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True  # SQLAlchemy saw the connection die under the statement
    orig = driver_error(exc)
    if isinstance(orig, psycopg.Error):
        state = orig.sqlstate
        if state is None:
            # No answer from the server at all: libpq lost or could not open the connection.
            return isinstance(orig, psycopg.OperationalError)
        return state in TRANSIENT_SQLSTATES or state[:2] in TRANSIENT_SQLSTATE_CLASSES
    if isinstance(orig, sqlite3.Error):
        code = getattr(orig, "sqlite_errorcode", None)
        return isinstance(code, int) and code & 0xFF in TRANSIENT_SQLITE_CODES
    return False


def describe(exc: BaseException) -> str:
    """The error as ops see it. A database error: the driver's error class, its code, its
    message and DETAIL line, without the SQL statement and its bound parameters (they may
    carry personal data); anything else: its class and message."""
    orig = driver_error(exc)
    code = error_code(exc)
    if orig is exc and code is None:
        return f"{type(exc).__name__}: {exc}"[:2000]
    lines = str(orig).strip().splitlines()
    text = lines[0] if lines else ""
    detail = next((line.strip() for line in lines[1:] if line.startswith("DETAIL:")), "")
    shown = f"{type(orig).__name__}{f' [{code}]' if code else ''}: {text}"
    return f"{shown} ({detail})"[:2000] if detail else shown[:2000]
