"""Wiring of one gateway process: settings, database, registry, compiled schemas, trust."""

from __future__ import annotations

import logging
import os
import re
import time
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from gateway.caches import Directory
from gateway.config import Settings
from gateway.formats import Formats, load_formats
from gateway.registry import Registry
from gateway.revocation import Revocation
from gateway.services import build_registry
from gateway.xmlparse import XmlLimits
from persistence.committer import Committer, committer_for
from persistence.db import EngineOptions, make_engine, make_session_factory
from persistence.limits import FileSlots
from persistence.migrations import ensure_schema
from signing import VerifyPolicy

log = logging.getLogger("gateway.runtime")


def open_engine(
    settings: Settings,
    role: str = "cli",
    *,
    read_only: bool = False,
) -> Engine:
    """An engine with the pool and timeouts of ``[database]``; ``role`` names the connections
    (``application_name`` ``hcs-gateway <role> <pid>`` in pg_stat_activity)."""
    db = settings.database
    options = EngineOptions(
        pool_size=db.pool_size,
        max_overflow=db.max_overflow,
        pool_timeout_seconds=db.pool_timeout_seconds,
        pool_recycle_seconds=db.pool_recycle_seconds,
        statement_timeout_ms=db.statement_timeout_ms,
        lock_timeout_ms=db.lock_timeout_ms,
        idle_in_transaction_timeout_ms=db.idle_in_transaction_timeout_ms,
        connect_timeout_seconds=db.connect_timeout_seconds,
        application_name=f"hcs-gateway {role} {os.getpid()}",
    )
    return make_engine(
        settings.resolved_database_url,
        read_only=read_only,
        options=options,
    )


def request_slots(engine: Engine) -> FileSlots | None:
    """The slots of requests in progress (``gateway.limits``): for a SQLite store, locks on
    the file ``<store>-slots`` beside it (an in-memory store: this process's own); None
    for PostgreSQL, whose statements take advisory locks."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return FileSlots(None)
    return FileSlots(Path(f"{database}-slots"))


class DatabaseUnavailable(RuntimeError):
    """The store cannot be used as configured; the message names it and says what to do."""


#: Answers that waiting will not change: the server is there and said no.
_PERMANENT = (
    (re.compile(r'database "([^"]+)" does not exist'), "create it (createdb {0}) or fix the URL"),
    (re.compile(r'role "([^"]+)" does not exist'), "create the role or fix the user in the URL"),
    (re.compile(r"password authentication failed"), "fix the password"),
    (re.compile(r"no pg_hba\.conf entry"), "allow this client in the server's pg_hba.conf"),
)


def describe_connect_error(exc: BaseException, url: str) -> tuple[str, bool]:
    """One line for a failed connection to ``url`` and whether it is permanent (retrying
    will not help): a database or role that does not exist, a refused password."""
    from sqlalchemy.engine import make_url

    shown = make_url(url).render_as_string(hide_password=True)
    detail = " ".join(str(getattr(exc, "orig", None) or exc).split())
    detail = detail.split("[SQL:", 1)[0].split("(Background on this error", 1)[0].strip()
    for pattern, advice in _PERMANENT:
        found = pattern.search(detail)
        if found:
            return f"database {shown}: {found.group(0)}; {advice.format(*found.groups())}", True
    return f"cannot reach the database {shown}: {detail[:300]}", False


def wait_for_database(engine: Engine, timeout: float | None = None) -> None:
    """Block until the database answers (a worker or node started before its database).

    Retries with backoff up to 5 s between attempts; raises the last error after ``timeout``.
    A database that does not exist or refuses the credentials fails at once with
    ``DatabaseUnavailable``: waiting would never end.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    delay, warned, next_warning = 0.5, False, 0.0
    while True:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            if warned:
                log.info("database reachable")
            return
        except (OperationalError, DBAPIError) as exc:
            message, permanent = describe_connect_error(exc, str(engine.url))
            if permanent:
                raise DatabaseUnavailable(message) from exc
            now = time.monotonic()
            if deadline is not None and now + delay > deadline:
                raise
            if now >= next_warning:  # at once, then every 30 s (a wrong URL is visible)
                log.warning("waiting for the database: %s", str(exc).splitlines()[0][:300])
                warned, next_warning = True, now + 30
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


class Runtime:
    """Everything a request or a job needs, created once per process.

    ``create_tables`` brings the database to the current schema first (the migrations);
    ``serve`` does that once in its master process and passes False in each gunicorn worker.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        create_tables: bool = True,
        role: str = "gateway",
        wait_for_db: bool = False,
    ) -> None:
        self.settings = settings
        self.engine: Engine = open_engine(settings, role)
        if wait_for_db:
            wait_for_database(self.engine)
        if create_tables:
            ensure_schema(self.engine)
        self.session: sessionmaker[Session] = make_session_factory(self.engine)
        # The accept transaction: on SQLite, concurrent accepts share one commit.
        self.committer: Committer = committer_for(self.engine)
        # Lookups on the request path (organisation, certificate, trust store, getState).
        self.read_engine: Engine = (
            open_engine(settings, role, read_only=True)
            if self.engine.dialect.name == "sqlite"
            else self.engine
        )
        self.reader: sessionmaker[Session] = make_session_factory(self.read_engine)
        # Requests in progress per organisation: SQLite file locks, or (None) PostgreSQL
        # advisory locks taken by the accept and getState statements themselves.
        self.request_slots: FileSlots | None = request_slots(self.engine)
        self.registry: Registry = build_registry()
        # Organisations, certificates and trust anchors, cached per directory generation.
        self.directory = Directory(self.reader)
        self.revocation = Revocation(
            [Path(p) for p in settings.security.crl_files.split(os.pathsep) if p.strip()],
            anchors=lambda: self.directory.snapshot().trust().anchors,
        )
        self.verify_policy = VerifyPolicy(require_xades=settings.security.require_xades)
        security = settings.security
        self.xml_limits = XmlLimits(
            max_elements=security.max_xml_elements,
            max_depth=security.max_xml_depth,
            max_attributes=security.max_xml_attributes,
            max_text_bytes=security.max_xml_text_bytes,
        )

    @cached_property
    def formats(self) -> Formats:
        """The format bundles in use, compiled once per process."""
        return load_formats(self.settings, self.registry)

    def close(self) -> None:
        self.committer.close()
        self.engine.dispose()
        self.read_engine.dispose()
        if self.request_slots is not None:
            self.request_slots.close()
