"""Database errors while accepting: one that may pass (unreachable, busy, a lock held) is
answered with the retryable Fault EXP002001; any other with the internal-error Fault EXP001000,
logged, and the request is not acknowledged."""

from __future__ import annotations

import base64
import logging
import uuid
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import event, select, text

from gateway.accept import AcceptPipeline, HttpRequest
from gateway.client import envelope
from gateway.config import DatabaseSettings, Settings
from gateway.runtime import Runtime
from persistence.models import Packet
from tests.paths import HM_PATH as PATH
from tests.stand import STORES, runtime_on

BASE = "http://dom.gosuslugi.ru/schema/integration/base/"


def _get_state(runtime: Runtime) -> tuple[int, str | None, str | None]:
    """getState with a wrong password, answered in-process: (HTTP status, ErrorCode,
    faultcode). Reading the organisation and counting the failed login (a write) are the
    database's part."""
    org = str(uuid.uuid4())
    request = etree.Element(f"{{{BASE}}}getStateRequest")
    etree.SubElement(request, f"{{{BASE}}}MessageGUID").text = str(uuid.uuid4())
    auth = "Basic " + base64.b64encode(f"{org}:pw".encode()).decode()
    reply = AcceptPipeline(runtime).handle(
        HttpRequest(PATH, "urn:getState", auth, etree.tostring(envelope(request, org)))
    )
    fault = etree.fromstring(reply.body)
    return (
        reply.status,
        fault.findtext(f".//{{{BASE}}}ErrorCode"),
        fault.findtext(".//faultcode"),
    )


def test_unreachable_database_gives_exp002001(tmp_path: Path) -> None:
    # Nothing listens on port 1: every connection attempt is refused for real.
    settings = Settings(
        data_dir=tmp_path, database_url="postgresql+psycopg://postgres@127.0.0.1:1/none"
    )
    runtime = Runtime(settings, create_tables=False)
    assert _get_state(runtime) == (500, "EXP002001", "soap:Server")
    runtime.close()


# --- real database errors while accepting: transient ► EXP002001, permanent ► EXP001000 --------


@pytest.fixture(params=STORES)
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Runtime:
    # a held lock is met at once on PostgreSQL (lock timeout) and on SQLite (no busy wait)
    rt = runtime_on(request, request.param, tmp_path, database=DatabaseSettings(lock_timeout_ms=50))
    if rt.engine.dialect.name == "sqlite":
        event.listen(rt.engine, "connect", lambda conn, _: conn.execute("PRAGMA busy_timeout=0"))
        rt.engine.dispose()
    return rt


def test_a_database_busy_with_another_writer_gives_exp002001(runtime: Runtime) -> None:
    with runtime.engine.connect() as holder:
        if runtime.engine.dialect.name == "sqlite":
            holder.execute(text("UPDATE organizations SET locked = locked"))  # the write lock
        else:
            holder.execute(text("LOCK TABLE organizations IN ACCESS EXCLUSIVE MODE"))
        assert _get_state(runtime) == (500, "EXP002001", "soap:Server")
        holder.rollback()
    assert _get_state(runtime)[1] == "AUT011000"  # the same request once the lock is gone


def test_a_permanent_database_error_gives_an_internal_error_fault(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    with runtime.engine.begin() as dba:  # a half-applied maintenance: the table is gone
        dba.execute(text("ALTER TABLE organizations RENAME TO organizations_away"))
    with caplog.at_level(logging.ERROR, logger="gateway.accept"):
        assert _get_state(runtime) == (500, "EXP001000", "soap:Server")
    assert "internal error while accepting a packet" in caplog.text
    with runtime.session() as s:
        kept = s.execute(select(Packet.state, Packet.error_code)).all()
    assert [tuple(row) for row in kept] == [("rejected", "EXP001000")]  # visible to ops
