"""The ``gateway`` command.

Exit codes, the same for every command: 0 done (a packet processed without item errors);
1 a packet processed with item errors, or failed or dead-lettered; 2 a usage, configuration
or connection error (one line saying what to do, never a traceback); 3 the gateway refused
the packet with a SOAP Fault.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from lxml import etree

from gateway.config import Settings, load_settings
from persistence.roles import Role

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from gateway.ops.packets import PacketDetail
    from signing import TrustStore

T = TypeVar("T")

log = logging.getLogger("gateway.cli")

#: Exit codes (README "Exit codes").
EXIT_OK, EXIT_ITEM_ERRORS, EXIT_USAGE, EXIT_FAULT = 0, 1, 2, 3
#: Commands that run a server for a long time: their library INFO lines are worth keeping.
_SERVERS = {"serve", "worker"}


class CliError(click.ClickException):
    """A refusal with one line saying what to do; exit code 2."""

    exit_code = EXIT_USAGE


class RefusedPacket(click.ClickException):
    """The packet asked about was refused with a SOAP Fault; exit code 3."""

    exit_code = EXIT_FAULT


class CheckFailed(click.ClickException):
    """A check that ran and found a difference (``db check``); exit code 1."""

    exit_code = 1


def _settings(data_dir: str | None, database_url: str | None) -> Settings:
    """The settings of this command (kept on the context for error messages)."""
    settings = load_settings().with_overrides(data_dir=data_dir, database_url=database_url)
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.find_root().meta["gateway.settings"] = settings
    return settings


def _store_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "--database-url",
        default=None,
        help="SQLAlchemy URL (default: GATEWAY_DATABASE_URL, gateway.toml, SQLite in the data dir).",
    )(func)
    func = click.option(
        "--data-dir",
        default=None,
        type=click.Path(file_okay=False),
        help="Data directory (default: GATEWAY_DATA_DIR, gateway.toml, ./var).",
    )(func)
    return func


def _runtime(data_dir: str | None, database_url: str | None) -> sessionmaker[Session]:
    """Sessions on the store of --data-dir / --database-url, its schema made current first."""
    from gateway.runtime import open_engine
    from persistence.db import make_session_factory
    from persistence.migrations import SchemaOutdated, ensure_schema

    engine = open_engine(_settings(data_dir, database_url))
    try:
        ensure_schema(engine)
    except SchemaOutdated as exc:
        raise CliError(str(exc)) from exc
    return make_session_factory(engine)


def _explain(exc: BaseException, ctx: click.Context) -> str | None:
    """The one line for an error a user can fix, or None (a bug: let it show)."""
    from requests.exceptions import ConnectionError as HttpConnectionError
    from requests.exceptions import ReadTimeout, Timeout
    from sqlalchemy.exc import OperationalError

    from gateway.config import ConfigError
    from gateway.runtime import DatabaseUnavailable, describe_connect_error

    if isinstance(exc, ConfigError | DatabaseUnavailable):
        return str(exc)
    if isinstance(exc, OperationalError):
        settings = ctx.find_root().meta.get("gateway.settings")
        url = settings.resolved_database_url if settings else "sqlite://"
        return describe_connect_error(exc, url)[0]
    if isinstance(exc, HttpConnectionError | Timeout):
        target = getattr(exc.request, "url", None) if exc.request is not None else None
        if isinstance(exc, ReadTimeout):
            return f"no answer from {target or 'the gateway'} in time; is it overloaded? ({exc})"
        return (
            f"cannot connect to {target or 'the gateway'}: is the gateway running there? "
            f"({type(exc).__name__})"
        )
    return None


class _Gateway(click.Group):
    """The ``gateway`` group: errors a user can fix become one line and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit:
            raise
        except click.ClickException as exc:
            if type(exc) is click.ClickException:  # a command's refusal: usage, exit 2
                raise CliError(exc.message) from exc
            raise
        except Exception as exc:
            message = _explain(exc, ctx)
            if message is None:
                raise
            raise CliError(message) from exc


@click.group(cls=_Gateway)
@click.version_option(package_name="hcs-gateway", prog_name="gateway")
@click.pass_context
def main(ctx: click.Context) -> None:
    """hcs-gateway: GIS ZhKKh-shaped SOAP integration gateway.

    \b
    Every command finds the store the same way: --data-dir / --database-url, else
    GATEWAY_DATA_DIR / GATEWAY_DATABASE_URL, else gateway.toml in the working directory
    (or the file GATEWAY_CONFIG names), else ./var. Exit codes: 0 ok, 1 item errors or a
    failed packet, 2 usage or connection error, 3 refused with a Fault.
    """
    from gateway.ops.logs import configure_logging

    configure_logging(load_settings().logging)  # JSON lines unless on a terminal ([logging])
    if ctx.invoked_subcommand not in _SERVERS:
        # A command's user wants its answer, not the libraries' chatter ("Context impl
        # SQLiteImpl."); warnings and errors still show.
        for name in ("alembic", "sqlalchemy", "zeep", "urllib3"):
            logging.getLogger(name).setLevel(logging.WARNING)


# --- serve / worker ---------------------------------------------------------------------


@main.command()
@click.option("--bind", default=None, help="HOST:PORT (default 127.0.0.1:8080).")
@click.option("--workers", type=int, default=None, help="gunicorn worker processes.")
@click.option("--no-worker", is_flag=True, help="Only accept; run no queue worker in-process.")
@click.option(
    "--formats-dir",
    "formats_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False),
    help="A published format bundle to validate with and serve (repeat for several versions).",
)
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), help="TLS: PEM chain.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="TLS: PEM key.")
@click.option(
    "--client-ca",
    type=click.Path(exists=True, dir_okay=False),
    help="Mutual TLS: CA certificates (PEM) that client certificates must chain to.",
)
@click.option("--require-client-cert", is_flag=True, help="Refuse TLS without a client cert.")
@_store_options
def serve(
    bind: str | None,
    workers: int | None,
    no_worker: bool,
    formats_dirs: tuple[str, ...],
    tls_cert: str | None,
    tls_key: str | None,
    client_ca: str | None,
    require_client_cert: bool,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Run the gateway (gunicorn) with its in-process queue worker."""
    import os
    from dataclasses import replace

    from gateway.formats import FormatsError, load_formats
    from gateway.server import serve as run
    from gateway.services import build_registry

    settings = _settings(data_dir, database_url)
    if formats_dirs:
        settings = replace(settings, formats_dir=os.pathsep.join(formats_dirs))
    try:
        for line in load_formats(settings, build_registry()).describe():
            log.info(line)
    except FormatsError as exc:
        raise click.ClickException(str(exc)) from exc
    server = settings.server
    server = replace(
        server,
        bind=bind or server.bind,
        workers=workers or server.workers,
        tls_cert=tls_cert or server.tls_cert,
        tls_key=tls_key or server.tls_key,
        client_ca=client_ca or server.client_ca,
        require_client_cert=require_client_cert or server.require_client_cert,
    )
    settings = replace(settings, server=server)
    scheme = "https" if server.tls_cert else "http"
    log.info("hcs-gateway on %s://%s (store %s)", scheme, server.bind, settings.describe_store())
    from persistence.migrations import SchemaOutdated

    try:
        run(settings, run_worker=server.run_worker and not no_worker)
    except SchemaOutdated as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.option(
    "--concurrency",
    type=int,
    default=None,
    help="Jobs processed at a time by this process (default: [worker] concurrency).",
)
@click.option(
    "--metrics-bind",
    default=None,
    metavar="HOST:PORT",
    help="Serve this process's Prometheus metrics at http://HOST:PORT/metrics (and /healthz) "
    "(default: [worker] metrics_bind; empty: none).",
)
@_store_options
def worker(
    concurrency: int | None,
    metrics_bind: str | None,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Run a queue worker process; any number of them may share one database.

    It serves no SOAP; with --metrics-bind it serves its Prometheus metrics.
    """
    import logging
    import os

    from gateway.ops.multiproc import ENV

    # One process, whatever --concurrency (threads): its metrics live in its own memory and
    # are served by it alone. Set before prometheus_client is imported (gateway.worker does).
    if os.environ.pop(ENV, None):
        logging.getLogger("gateway.ops.metrics").warning(
            "%s ignored: a worker process serves its own metrics (--metrics-bind)", ENV
        )

    from gateway.ops.metrics import WorkerMetricsServer, parse_bind
    from gateway.runtime import Runtime
    from gateway.worker import WorkerGroup
    from persistence.migrations import SchemaOutdated

    settings = _settings(data_dir, database_url)
    bind = (settings.worker.metrics_bind if metrics_bind is None else metrics_bind).strip()
    if bind and not settings.metrics.enabled:
        logging.getLogger("gateway.ops.metrics").warning(
            "[metrics] enabled = false: no metrics served on %s", bind
        )
        bind = ""
    if bind:
        try:
            parse_bind(bind)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--metrics-bind") from exc
    try:
        runtime = Runtime(settings, role="worker", wait_for_db=True)
    except SchemaOutdated as exc:
        raise click.ClickException(str(exc)) from exc
    group = WorkerGroup(runtime, concurrency or settings.worker.concurrency)
    server = None
    if bind:
        try:
            server = WorkerMetricsServer(runtime, bind, group.healthy)
        except OSError as exc:
            runtime.close()
            raise click.ClickException(f"cannot serve metrics on {bind}: {exc}") from exc
        log.info("worker metrics on %s/metrics", server.url)
    try:
        group.run()
    finally:
        if server is not None:
            server.close()
        runtime.close()


# --- db ---------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Schema migrations of the store (alembic)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@_store_options
def db_upgrade(revision: str, data_dir: str | None, database_url: str | None) -> None:
    """Bring the database to the newest schema (idempotent; safe while nodes run)."""
    from gateway.runtime import open_engine
    from persistence import migrations

    engine = open_engine(_settings(data_dir, database_url), "migrate")
    before = migrations.current(engine)
    try:
        migrations.upgrade(engine, revision)
    except migrations.SchemaOutdated as exc:
        raise click.ClickException(str(exc)) from exc
    after = migrations.current(engine)
    engine.dispose()
    click.echo(f"schema {before or 'empty'} -> {after}" if before != after else f"schema {after}")


@db.command("current")
@_store_options
def db_current(data_dir: str | None, database_url: str | None) -> None:
    """Print the database's schema revision and the code's."""
    from gateway.runtime import open_engine
    from persistence import migrations

    engine = open_engine(_settings(data_dir, database_url), "migrate")
    click.echo(f"database {migrations.current(engine) or 'empty'}, code {migrations.head()}")
    engine.dispose()


@db.command("check")
@_store_options
def db_check(data_dir: str | None, database_url: str | None) -> None:
    """Fail unless the database is at the newest revision and matches persistence/models.py."""
    from gateway.runtime import open_engine
    from persistence import migrations

    engine = open_engine(_settings(data_dir, database_url), "migrate")
    at, head = migrations.current(engine), migrations.head()
    if at != head:
        raise CheckFailed(f"database at {at or 'empty'}, code at {head}")
    diffs = migrations.drift(engine)
    engine.dispose()
    if diffs:
        raise CheckFailed(
            "models.py and the migrations differ:\n" + "\n".join(str(d) for d in diffs)
        )
    click.echo(f"schema {head}: database and models agree")


@db.command("revision")
@click.option("-m", "--message", required=True, help="What the migration does.")
@click.option("--empty", is_flag=True, help="Do not autogenerate; write an empty script.")
@click.option(
    "--database-url",
    default=None,
    help="Autogenerate against this database (default: a throwaway SQLite one).",
)
def db_revision(message: str, empty: bool, database_url: str | None) -> None:
    """Write the next migration (persistence/migrations/versions/NNNN_*.py) from models.py."""
    from persistence.migrations import new_revision

    path = new_revision(message, url=database_url, autogenerate=not empty)
    click.echo(f"written {path}; review it (SQLite and PostgreSQL) and commit it")


# --- pki / trust / orgs -----------------------------------------------------------------


@main.group()
def pki() -> None:
    """Demo certificate authority for test stands."""


_ALGORITHMS = ("rsa", "gost2012-256", "gost2012-512")


def _pki_call(call: Callable[[], T]) -> T:
    """Run a PKI call; a missing GOST engine or a wrong CA becomes one line, not a traceback."""
    from signing.gost import GostUnavailable

    try:
        return call()
    except (GostUnavailable, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


@pki.command("init")
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option(
    "--algorithm",
    type=click.Choice(_ALGORITHMS),
    default="rsa",
    show_default=True,
    help="Key of the CA (GOST needs the OpenSSL gost engine).",
)
def pki_init(out: str, algorithm: str) -> None:
    """Create ca.pem and ca.key in OUT."""
    from signing.pki import init_ca

    _pki_call(lambda: init_ca(Path(out), algorithm=algorithm))  # type: ignore[arg-type]
    click.echo(f"CA ({algorithm}) written to {Path(out) / 'ca.pem'}")


@pki.command("issue")
@click.option("--ca", "ca_dir", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--org", "org_guid", required=True)
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option(
    "--algorithm",
    "--key-type",
    "key_type",
    type=click.Choice(["rsa", "ec", "gost2012-256", "gost2012-512"]),
    default=None,
    help="Key of the organisation (default: rsa, or gost2012-256 under a GOST CA).",
)
def pki_issue(ca_dir: str, org_guid: str, out: str, key_type: str | None) -> None:
    """Issue key.pem + cert.pem for an organisation."""
    from signing import gost
    from signing.pki import CA_KEY, issue, load_private_key

    if key_type is None:
        ca_key = _pki_call(lambda: load_private_key(Path(ca_dir) / CA_KEY))
        key_type = "gost2012-256" if isinstance(ca_key, gost.PrivateKey) else "rsa"
    _pki_call(lambda: issue(Path(ca_dir), org_guid, Path(out), key_type=key_type))  # type: ignore[arg-type]
    click.echo(f"key.pem and cert.pem ({key_type}) written to {out}")


@main.group()
def trust() -> None:
    """The trust store of CA certificates."""


@trust.command("add")
@click.argument("ca_pem", type=click.Path(exists=True, dir_okay=False))
@_store_options
def trust_add(ca_pem: str, data_dir: str | None, database_url: str | None) -> None:
    """Trust signer certificates issued by CA_PEM."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from persistence.organizations import add_trust_anchor
    from signing import fingerprint
    from signing.pki import load_certificate

    cert = load_certificate(Path(ca_pem))
    settings = _settings(data_dir, database_url)
    sessions = _runtime(data_dir, database_url)
    with sessions.begin() as session:
        added = add_trust_anchor(
            session,
            fingerprint(cert),
            cert.subject.rfc4514_string(),
            cert.public_bytes(Encoding.PEM).decode(),
        )
    click.echo(f"store {settings.describe_store()}")
    click.echo(("added " if added else "already trusted ") + cert.subject.rfc4514_string())


@main.group()
def orgs() -> None:
    """Organisations (information providers)."""


@orgs.command("add")
@click.option("--guid", "org_guid", required=True, help="orgPPAGUID")
@click.option("--name", required=True)
@click.option("--role", type=click.Choice([role.value for role in Role]), required=True)
@click.option(
    "--cert",
    "cert_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Signing certificate (PEM).",
)
@click.option("--password", default=None, help="Use this HTTP password instead of a generated one.")
@click.option(
    "--rotate-password",
    is_flag=True,
    help="The organisation exists: give it a new password (the old one stops working).",
)
@click.option(
    "--kind",
    type=click.Choice(["legal", "branch", "entrepreneur"]),
    default="legal",
    show_default=True,
    help="Register record: legal entity, branch of one (--parent), or entrepreneur.",
)
@click.option("--ogrn", default=None, help="OGRN (13 digits), an entrepreneur's OGRNIP (15).")
@click.option("--inn", default=None, help="INN (10 digits; 12 for an entrepreneur).")
@click.option("--kpp", default=None, help="KPP (9 digits; a branch has its own).")
@click.option("--full-name", default=None, help="Full name (default: --name).")
@click.option("--short-name", default=None)
@click.option("--parent", default=None, help="A branch's head organisation (its orgPPAGUID).")
@click.option("--registration-date", default=None, help="State registration date, YYYY-MM-DD.")
@_store_options
def orgs_add(
    org_guid: str,
    name: str,
    role: str,
    cert_file: str | None,
    password: str | None,
    rotate_password: bool,
    kind: str,
    ogrn: str | None,
    inn: str | None,
    kpp: str | None,
    full_name: str | None,
    short_name: str | None,
    parent: str | None,
    registration_date: str | None,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Register an organisation (and its record in the organisation register); prints its
    HTTP password once."""
    import uuid

    from gateway.enrol import register_certificate
    from gateway.passwords import hash_password, new_password
    from gateway.register_details import DetailsError, register_details
    from persistence import organizations
    from signing.pki import load_certificate

    try:
        uuid.UUID(org_guid)
    except ValueError:
        raise click.BadParameter("not a GUID (orgPPAGUID)", param_hint="--guid") from None
    try:
        details = register_details(
            kind=kind,
            ogrn=ogrn,
            inn=inn,
            kpp=kpp,
            full_name=full_name,
            short_name=short_name,
            parent=parent,
            registration_date=registration_date,
        )
    except DetailsError as exc:
        raise CliError(str(exc)) from None
    password = password or new_password()
    settings = _settings(data_dir, database_url)
    sessions = _runtime(data_dir, database_url)
    with sessions.begin() as session:
        existing = organizations.get_organization(session, org_guid)
        if existing is not None and not rotate_password:
            raise CliError(
                f"organisation {existing.guid} ({existing.role}, {existing.name}) is registered "
                f"already in {settings.describe_store()}; add --rotate-password to give it a new "
                "password (its current one stops working)"
            )
        if (
            details.parent_guid
            and organizations.get_organization(session, details.parent_guid) is None
        ):
            raise CliError(f"--parent {details.parent_guid} is not a registered organisation")
        organizations.add_organization(
            session, org_guid, name, role, hash_password(password), details
        )
        if cert_file:
            register_certificate(session, org_guid, load_certificate(Path(cert_file)))
    done = "registered" if existing is None else "updated, new password"
    click.echo(f"store {settings.describe_store()}")
    click.echo(f"organisation {org_guid.lower()} ({role}) {done}")
    click.echo(f"HTTP user: {org_guid.lower()}")
    click.echo(f"HTTP password: {password}")


@orgs.command("list")
@_store_options
def orgs_list(data_dir: str | None, database_url: str | None) -> None:
    """List registered organisations (with their register record: kind, OGRN, KPP)."""
    from persistence import org_registry, organizations

    sessions = _runtime(data_dir, database_url)
    with sessions() as session:
        for org in organizations.list_organizations(session):
            certs = organizations.certificates_of(session, org.guid)
            record = org_registry.record_of(session, org.guid)
            register = ""
            if record is not None and record.ogrn:
                register = f"  {record.kind} {'OGRNIP' if record.kind == 'entrepreneur' else 'OGRN'} {record.ogrn}"
                register += f" KPP {record.kpp}" if record.kpp else ""
            click.echo(
                f"{org.guid}  {org.role:<4}  {'locked ' if org.locked else ''}{org.name}  certificates: {len(certs)}{register}"
            )


@orgs.command("lock")
@click.argument("org_guid")
@_store_options
def orgs_lock(org_guid: str, data_dir: str | None, database_url: str | None) -> None:
    """Lock an organisation: its requests are refused with HTTP 403."""
    _set_locked(org_guid, True, data_dir, database_url)


@orgs.command("unlock")
@click.argument("org_guid")
@_store_options
def orgs_unlock(org_guid: str, data_dir: str | None, database_url: str | None) -> None:
    """Unlock an organisation."""
    _set_locked(org_guid, False, data_dir, database_url)


def _set_locked(
    org_guid: str, locked: bool, data_dir: str | None, database_url: str | None
) -> None:
    from persistence import organizations

    with _runtime(data_dir, database_url).begin() as session:
        if not organizations.set_locked(session, org_guid, locked):
            raise click.ClickException(f"organisation {org_guid} is not registered")
    click.echo(f"organisation {org_guid.lower()} {'locked' if locked else 'unlocked'}")


# --- NSI reference books ------------------------------------------------------------------


@main.group()
def nsi() -> None:
    """The NSI reference books the gateway checks codes against (and serves on nsi-common)."""


@nsi.command("import")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False))
@_store_options
def nsi_import(file: str | None, data_dir: str | None, database_url: str | None) -> None:
    """Replace the reference books by those of FILE (default: the books this release ships);
    every node checks against them from its next packet."""
    from persistence import nsi as books

    path = Path(file) if file else books.shipped_file()
    try:
        data = books.read_file(path)
    except books.NsiFileError as exc:
        raise CliError(str(exc)) from None
    settings = _settings(data_dir, database_url)
    with _runtime(data_dir, database_url).begin() as session:
        generation = books.import_file(session.connection(), data)
    entries = sum(len(b.entries) for b in data.books)
    click.echo(f"store {settings.describe_store()}")
    click.echo(
        f"imported {len(data.books)} books, {entries} entries, version {data.version} "
        f"(generation {generation}) from {path}"
    )


@nsi.command("list")
@_store_options
def nsi_list(data_dir: str | None, database_url: str | None) -> None:
    """The loaded books: registry number, entries, name."""
    from persistence import nsi as books

    with _runtime(data_dir, database_url)() as session:
        version = books.loaded_version(session)
        click.echo(
            f"version {version[0]} (generation {version[1]})" if version else "no books loaded"
        )
        for book in books.list_books(session):
            total, _ = books.items(session, book.registry_number, limit=0)
            click.echo(f"NSI {book.registry_number:<5} {total:>4} entries  {book.name}")


# --- packets (ops) ------------------------------------------------------------------------

_PACKET_STATES = ("received", "processing", "processed", "failed", "rejected", "dead")


def _time_option(value: str | None) -> datetime | None:
    from gateway.ops.packets import BadFilter, parse_time

    if not value:
        return None
    try:
        return parse_time(value)
    except BadFilter as exc:
        raise click.BadParameter(str(exc)) from None


@main.group("packets")
def packets_group() -> None:
    """Inspect, replay and purge stored packets (ops)."""


@packets_group.command("list")
@click.option("--org", default=None, help="orgPPAGUID of the sender.")
@click.option("--service", default=None, help="e.g. house-management, device-metering")
@click.option("--operation", default=None, help="e.g. importHouseUOData")
@click.option("--state", type=click.Choice(_PACKET_STATES), default=None)
@click.option(
    "--with-item-errors",
    "with_errors",
    is_flag=True,
    help="Only packets whose result carries an error (failed items, an export's ErrorMessage).",
)
@click.option("--since", default=None, help="2026-11-01, 2026-11-01T10:00, or 90m / 2h / 7d.")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON array, for scripts.")
@_store_options
def packets_list(
    org: str | None,
    service: str | None,
    operation: str | None,
    state: str | None,
    with_errors: bool,
    since: str | None,
    limit: int,
    as_json: bool,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """List packets, newest first."""
    import json

    from gateway.ops import packets as ops

    try:
        filters = ops.Filters(
            org=org,
            service=service,
            operation=operation,
            state=state,
            since=_time_option(since),
            with_errors=with_errors,
            limit=limit,
        )
    except ops.BadFilter as exc:
        raise click.BadParameter(str(exc)) from None
    settings = _settings(data_dir, database_url)
    with _runtime(data_dir, database_url)() as session:
        rows = ops.list_packets(session, filters)
    if as_json:
        click.echo(f"store {settings.describe_store()}", err=True)
        click.echo(json.dumps([ops.summary_json(r) for r in rows], indent=1, ensure_ascii=False))
        return
    click.echo(f"store {settings.describe_store()}")
    table = [("RECEIVED (UTC)", "MESSAGEGUID", "STATE", "OPERATION", "ITEMS", "ERROR")]
    for r in rows:
        items = f"{r.items - min(r.errors, r.items)} ok" if r.items else ""
        if r.errors:
            items += (", " if items else "") + f"{r.errors} err"
        table.append(
            (
                ops.when(r.received_at),
                r.message_guid,
                r.state,
                r.operation or "?",
                items,
                f"{r.error_code} {(r.error_message or '')[:60]}" if r.error_code else "",
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for row in table:
        click.echo(
            "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=False)) + "  " + row[-1]
        )
    click.echo(f"{len(rows)} packet(s)" + (f" (limit {limit})" if len(rows) == limit else ""))


@packets_group.command("show")
@click.argument("message_guid")
@click.option("--raw", is_flag=True, help="Print the packet as received, byte for byte.")
@click.option("--result", is_flag=True, help="Print the getState answer the sender gets.")
@click.option("--json", "as_json", is_flag=True)
@_store_options
def packets_show(
    message_guid: str,
    raw: bool,
    result: bool,
    as_json: bool,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Header, signer, state history with every attempt, replays and per-item results."""
    import json

    from gateway.ops import packets as ops
    from gateway.services import build_registry

    with _runtime(data_dir, database_url)() as session:
        found = ops.detail(session, message_guid)
        if found is None:
            raise click.ClickException(f"no packet with MessageGUID {message_guid}")
        if raw:
            out = sys.stdout.buffer  # click.get_binary_stream is deprecated (click 8.5)
            out.write(ops.raw_bytes(session, found.packet))
            out.flush()
            return
        if result:
            try:
                click.echo(ops.state_answer(session, build_registry(), found.packet), nl=False)
            except LookupError as exc:  # a rejected packet: the Fault was its answer
                raise RefusedPacket(str(exc)) from None
            return
    if as_json:
        click.echo(json.dumps(ops.detail_json(found), indent=1, ensure_ascii=False))
        return
    _echo_detail(found)


def _echo_detail(found: PacketDetail) -> None:
    from gateway.ops.packets import when

    p = found.packet
    lines = [
        ("MessageGUID", f"{p.message_guid} (sender's: {p.requester_message_guid or '-'})"),
        ("organisation", p.org_guid or "-"),
        ("operation", f"{p.service or '?'} / {p.operation or '?'} (version {p.version or '-'})"),
        ("state", p.state),
        ("received", when(p.received_at)),
        ("processed", when(p.processed_at) or "-"),
        ("from", p.remote_addr or "-"),
        ("size", f"{p.size} bytes, body SHA-256 {p.body_sha256}"),
        ("signer", p.signer_subject or "-"),
    ]
    if p.error_code:
        lines.append(("error", f"{p.error_code} {p.error_message or ''}"))
    if found.job:
        job = found.job
        lines.append(
            (
                "job",
                f"{job.state}, {job.attempts} attempt(s)"
                + (f"; last error: {job.last_error}" if job.last_error else ""),
            )
        )
    for label, value in lines:
        click.echo(f"{label:<14}{value}")
    click.echo("\nstate history")
    for event in found.events:
        click.echo(f"  {when(event.at)}  {event.event:<10}  {event.detail or ''}")
    if found.replays:
        click.echo("\nreplays")
        for r in found.replays:
            rec = r.record
            replaced = rec.previous_state + (
                f" {rec.previous_error_code}" if rec.previous_error_code else ""
            )
            if r.previous.items:
                replaced += (
                    f", {len(r.previous.items)} item(s), {len(r.previous.failed_items)} error(s)"
                )
            click.echo(
                f"  {when(rec.replayed_at)}  by {rec.replayed_by}"
                f"{' (forced)' if rec.forced else ''}; replaced: {replaced}"
            )
    results = found.results
    if results.error_code:
        click.echo(f"\nresult error  {results.error_code} {results.description or ''}")
    if results.items:
        click.echo(
            f"\nitems ({len(results.items)}: {len(results.items) - len(results.failed_items)} ok, "
            f"{len(results.failed_items)} error)"
        )
        for item in results.items:
            if item.ok:
                click.echo(
                    f"  {item.transport_guid}  ok     {item.guid or ''} {item.unique_number or ''}".rstrip()
                )
            else:
                click.echo(
                    f"  {item.transport_guid}  error  {item.error_code} {item.description or ''}"
                )


@packets_group.command("replay")
@click.argument("message_guids", nargs=-1)
@click.option(
    "--state",
    type=click.Choice(["failed", "dead", "processed"]),
    default=None,
    help="Replay every packet in this state (with --since).",
)
@click.option("--since", default=None, help="With --state: received since (2026-11-01, 2h, 7d).")
@click.option("--force", is_flag=True, help="Also replay processed packets (idempotent per item).")
@click.option("--by", "actor", default=None, help="Who replays (default: cli:<user>@<host>).")
@click.option("--limit", type=int, default=1000, show_default=True, help="With --state: at most.")
@_store_options
def packets_replay(
    message_guids: tuple[str, ...],
    state: str | None,
    since: str | None,
    force: bool,
    actor: str | None,
    limit: int,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Process stored packets again from their stored bytes: MESSAGE_GUID… or --state."""
    from gateway.ops import replay as ops_replay

    if bool(message_guids) == bool(state):
        raise click.UsageError("give MessageGUIDs or --state (with --since), not both")
    sessions = _runtime(data_dir, database_url)
    guids = list(message_guids)
    if state:
        guids = ops_replay.select(sessions, states=(state,), since=_time_option(since), limit=limit)
    outcomes = ops_replay.replay(sessions, guids, by=actor or ops_replay.cli_actor(), force=force)
    for outcome in outcomes:
        if outcome.replayed:
            click.echo(f"replayed {outcome.message_guid} (was {outcome.previous_state})")
        else:
            click.echo(f"refused  {outcome.message_guid}: {outcome.message}", err=True)
    click.echo(f"{sum(o.replayed for o in outcomes)} of {len(outcomes)} packet(s) re-queued")
    if any(not o.replayed for o in outcomes):
        sys.exit(1)


@packets_group.command("purge")
@click.option(
    "--before",
    default=None,
    help="Purge packets received before this date (never younger than [retention] allows).",
)
@click.option("--dry-run", is_flag=True, help="Count what would go; delete nothing.")
@_store_options
def packets_purge(
    before: str | None, dry_run: bool, data_dir: str | None, database_url: str | None
) -> None:
    """Delete old processed and rejected packets ([retention] in gateway.toml).

    Queued, processing, failed and dead packets are never purged.
    """
    from gateway.ops.packets import when
    from gateway.ops.purge import purge

    settings = _settings(data_dir, database_url)
    results = purge(
        _runtime(data_dir, database_url), settings.retention, _time_option(before), dry_run=dry_run
    )
    verb = "would purge" if dry_run else "purged"
    for r in results:
        click.echo(f"{verb} {r.count} {r.state} packet(s) received before {when(r.cutoff)} UTC")


# --- operators (console logins) -------------------------------------------------------------

_LOGIN = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


@main.group("operators")
def operators_group() -> None:
    """Logins of the ops web console (/console)."""


@operators_group.command("add")
@click.argument("login")
@click.option("--password", default=None, help="Use this password instead of a generated one.")
@_store_options
def operators_add(
    login: str, password: str | None, data_dir: str | None, database_url: str | None
) -> None:
    """Create a console login; prints its password once."""
    from gateway.passwords import hash_password, new_password
    from persistence import operators

    if not _LOGIN.match(login):
        raise click.BadParameter(
            "letters, digits and . _ @ - only (at most 64)", param_hint="LOGIN"
        )
    password = password or new_password()
    with _runtime(data_dir, database_url).begin() as session:
        if not operators.add_operator(session, login, hash_password(password)):
            raise click.ClickException(f"operator {login} exists already")
    click.echo(f"operator {login} added")
    click.echo(f"console password: {password}")


@operators_group.command("list")
@_store_options
def operators_list(data_dir: str | None, database_url: str | None) -> None:
    """List console logins."""
    from gateway.ops.packets import when
    from persistence import operators

    with _runtime(data_dir, database_url)() as session:
        for op in operators.list_operators(session):
            click.echo(
                f"{op.login:<24} {'disabled' if op.disabled else 'active':<9}"
                f" last login {when(op.last_login_at) or 'never'}"
            )


@operators_group.command("disable")
@click.argument("login")
@_store_options
def operators_disable(login: str, data_dir: str | None, database_url: str | None) -> None:
    """Disable a login (its sessions end at their next request)."""
    _set_operator(login, data_dir, database_url, disabled=True)


@operators_group.command("enable")
@click.argument("login")
@_store_options
def operators_enable(login: str, data_dir: str | None, database_url: str | None) -> None:
    """Enable a disabled login again."""
    _set_operator(login, data_dir, database_url, disabled=False)


@operators_group.command("password")
@click.argument("login")
@click.option("--password", default=None, help="Use this password instead of a generated one.")
@_store_options
def operators_password(
    login: str, password: str | None, data_dir: str | None, database_url: str | None
) -> None:
    """Set a new password (ends the login's sessions); prints it once."""
    from gateway.passwords import hash_password, new_password
    from persistence import operators

    password = password or new_password()
    with _runtime(data_dir, database_url).begin() as session:
        if not operators.set_password(session, login, hash_password(password)):
            raise click.ClickException(f"no operator {login}")
    click.echo(f"console password: {password}")


def _set_operator(
    login: str, data_dir: str | None, database_url: str | None, *, disabled: bool
) -> None:
    from persistence import operators

    with _runtime(data_dir, database_url).begin() as session:
        if not operators.set_disabled(session, login, disabled):
            raise click.ClickException(f"no operator {login}")
    click.echo(f"operator {login} {'disabled' if disabled else 'enabled'}")


# --- client -------------------------------------------------------------------------------


@main.group()
def client() -> None:
    """A reference SOAP client."""


def _service_option(value: str) -> str:
    """The name of a served service (``--service``), refused with the known ones."""
    from gateway.services import build_registry

    names = sorted(s.name for s in build_registry().services.values())
    if value not in names:
        raise CliError(f"--service: unknown service {value!r}; one of: {', '.join(names)}")
    return value


def _base_url(url: str) -> str:
    from gateway.client import BadUrl, base_url

    try:
        return base_url(url)
    except BadUrl as exc:
        raise CliError(f"--url: {exc}") from None


def _fault(exc: Any) -> None:
    """A refusal by the gateway: its code and message on stderr, exit 3. An answer that is
    no SOAP Fault at all (a proxy, another server, a wrong path) is a usage error, exit 2."""
    if exc.code == "HTTP":
        first = " ".join(exc.message.split())[:120]
        raise CliError(
            f"the server answered HTTP {exc.status} without a SOAP Fault ({first!r}): is --url "
            "the gateway's base URL, e.g. http://127.0.0.1:8080?"
        )
    hint = ""
    if exc.status == 401:
        hint = (
            " (the password `gateway orgs add` printed for this organisation, on the store the "
            "server uses)"
        )
    click.echo(f"Fault {exc.code}: {exc.message}{hint}", err=True)
    sys.exit(EXIT_FAULT)


@client.command("send")
@click.option("--url", required=True, help="The gateway's base URL (a service endpoint works too).")
@click.option("--org", "org_guid", required=True)
@click.option("--key", "key_file", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--cert", "cert_file", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--password", default=None, help="HTTP password (needed for --wait: getState).")
@click.option(
    "--wait",
    is_flag=True,
    help="Poll getState until processed and print the result; exit 1 if it has item errors.",
)
@click.option(
    "--dump-envelope",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the signed envelope here and do not send.",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def client_send(
    url: str,
    org_guid: str,
    key_file: str,
    cert_file: str,
    password: str | None,
    wait: bool,
    dump_envelope: str | None,
    file: str,
) -> None:
    """Sign FILE (an unsigned operation element) and send it.

    Exit 0: accepted (with --wait: processed without item errors); 1: processed with item
    errors or failed; 2: usage or connection error; 3: refused with a Fault.
    """
    from gateway.client import (
        ClientError,
        GatewayClient,
        find_target,
        result_has_errors,
        signed_envelope,
    )
    from gateway.errors import MalformedXml
    from gateway.xmlparse import parse_xml

    if wait and not password and not dump_envelope:
        raise CliError(
            "--wait polls getState, which needs the organisation's HTTP password: add "
            "--password (nothing was sent)"
        )
    base = _base_url(url) if not dump_envelope else url
    try:
        element = parse_xml(Path(file).read_bytes())
    except MalformedXml as exc:
        raise CliError(f"{file}: {exc}") from None
    try:
        target = find_target(element)
    except ValueError:
        raise CliError(
            f"{file}: no operation takes a <{etree.QName(element).localname}> element "
            f"({etree.QName(element).namespace}); the file must hold one unsigned request "
            "element such as importHouseUOData (see examples/)",
        ) from None
    body = signed_envelope(element, org_guid.lower(), Path(key_file), Path(cert_file))
    if dump_envelope:
        Path(dump_envelope).write_bytes(body)
        click.echo(f"signed envelope written to {dump_envelope}")
        return
    gw = GatewayClient(base, org_guid.lower(), password)
    try:
        message_guid = gw.send(target.service, target.operation.name, body)
        click.echo(message_guid)
        if wait:
            try:
                result = gw.wait(target.service, message_guid)
            except TimeoutError as exc:
                raise CliError(
                    f"{exc}; ask again later: gateway client state --url {base} --org "
                    f"{org_guid.lower()} --password … --service {target.service.name} "
                    f"{message_guid}"
                ) from None
            click.echo(etree.tostring(result, pretty_print=True, encoding="unicode"))
            if result_has_errors(result):
                sys.exit(EXIT_ITEM_ERRORS)
    except ClientError as exc:
        _fault(exc)


@client.command("state")
@click.option("--url", required=True, help="The gateway's base URL (a service endpoint works too).")
@click.option("--org", "org_guid", required=True)
@click.option("--password", required=True)
@click.option(
    "--service",
    default="house-management",
    show_default=True,
    callback=lambda _ctx, _param, value: _service_option(value),
    help="The service the packet was sent to.",
)
@click.argument("message_guid")
def client_state(url: str, org_guid: str, password: str, service: str, message_guid: str) -> None:
    """Print the getState answer for MESSAGE_GUID (exit 1 if the result has item errors)."""
    from gateway.client import ClientError, GatewayClient, result_has_errors
    from gateway.services import build_registry

    gw = GatewayClient(_base_url(url), org_guid.lower(), password)
    try:
        result = gw.state(build_registry().by_name(service), message_guid)
    except ClientError as exc:
        _fault(exc)
    click.echo(etree.tostring(result, pretty_print=True, encoding="unicode"))
    if result_has_errors(result):
        sys.exit(EXIT_ITEM_ERRORS)


@main.group("config")
def config_group() -> None:
    """The configuration every command resolves (flag ► GATEWAY_* ► gateway.toml ► defaults)."""


@config_group.command("show")
@_store_options
def config_show(data_dir: str | None, database_url: str | None) -> None:
    """Print the store, the file read, and every key with its value and where it came from."""
    from dataclasses import fields

    settings = _settings(data_dir, database_url)
    click.echo(f"store        {settings.describe_store()}")
    click.echo(
        f"config file  {settings.config_file or '(none: no ./gateway.toml, no GATEWAY_CONFIG)'}"
    )

    def walk(obj: Any, prefix: str) -> None:
        for f in fields(obj):
            if f.name in ("sources", "config_file"):
                continue
            value = getattr(obj, f.name)
            if hasattr(value, "__dataclass_fields__"):
                walk(value, f"{prefix}{f.name}.")
                continue
            key = prefix + f.name
            shown = "***" if f.name in ("secret", "database_url") and value else repr(str(value))
            if f.name == "database_url" and value:
                from sqlalchemy.engine import make_url

                shown = repr(make_url(value).render_as_string(hide_password=True))
            click.echo(f"{key:<42} {shown:<40} {settings.source_of(key)}")

    walk(settings, "")


@config_group.command("init")
@click.option("--force", is_flag=True, help="Overwrite an existing ./gateway.toml.")
def config_init(force: bool) -> None:
    """Write ./gateway.toml: every key with its default and meaning, to edit."""
    from gateway.config import CONFIG_FILE_NAME, DEFAULT_CONFIG_FILE

    target = Path.cwd() / CONFIG_FILE_NAME
    if target.exists() and not force:
        raise CliError(f"{target} exists; edit it, or add --force to replace it")
    target.write_text(DEFAULT_CONFIG_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    click.echo(f"written {target}; every command run in this directory reads it")


@main.group()
def formats() -> None:
    """Published format bundles."""


@formats.command("check")
@click.argument("bundle_dir", type=click.Path(exists=True, file_okay=False))
def formats_check(bundle_dir: str) -> None:
    """Compare a published bundle with what the handlers serve, before switching to it."""
    from gateway.formats_check import check_bundle

    report = check_bundle(Path(bundle_dir))
    click.echo(report.render())
    if report.blocking:
        sys.exit(1)


@main.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--trust",
    "trust_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="PEM of a CA certificate, or the signer's own certificate (pinned); repeatable. "
    "Default: the store's trust anchors.",
)
@click.option("--at", "at_text", default=None, help="Check the certificate at this ISO time.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_store_options
def verify_command(
    file: str,
    trust_files: tuple[str, ...],
    at_text: str | None,
    as_json: bool,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Explain why the signature of FILE is accepted or refused (exit 0 only when valid).

    FILE is a whole SOAP envelope or only the signed element, of any GIS service.
    """
    import json

    from gateway.verify_report import render_diagnosis
    from gateway.xmlparse import parse_xml
    from signing import TrustStore
    from signing.diagnose import diagnose, signed_element

    try:
        root = parse_xml(Path(file).read_bytes())
        element = signed_element(root)
    except Exception as exc:  # noqa: BLE001 - any unreadable input is a usage error
        click.echo(f"gateway verify: {file} is not a readable XML packet: {exc}", err=True)
        sys.exit(2)
    at = None
    if at_text:
        try:
            at = datetime.fromisoformat(at_text)
        except ValueError:
            click.echo(f"gateway verify: --at {at_text!r} is not an ISO time", err=True)
            sys.exit(2)
        if at.tzinfo is None:
            from datetime import UTC

            at = at.replace(tzinfo=UTC)
    if trust_files:
        trust: TrustStore | None = TrustStore.from_pem_files(*(Path(n) for n in trust_files))
    else:
        from persistence import organizations

        with _runtime(data_dir, database_url)() as session:
            pems = organizations.trust_anchor_pems(session)
        trust = _trust_from_pems(pems) if pems else None
    report = diagnose(element, trust, at)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(render_diagnosis(report))
    sys.exit(0 if report.valid else 1)


def _trust_from_pems(pems: list[str]) -> TrustStore:
    from cryptography import x509

    from signing import TrustStore

    return TrustStore(x509.load_pem_x509_certificate(pem.encode()) for pem in pems)


@main.command()
@click.option("--url", required=True, help="The running gateway, e.g. http://127.0.0.1:8080")
@click.option("--houses", type=int, default=3, show_default=True)
@click.option(
    "--flats", type=int, default=20, show_default=True, help="Flats (accounts, devices) per house."
)
@click.option(
    "--algorithm",
    type=click.Choice(_ALGORITHMS),
    default="rsa",
    show_default=True,
    help="Keys the demo organisations sign with.",
)
@_store_options
def demo(
    url: str,
    houses: int,
    flats: int,
    algorithm: str,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Onboard synthetic houses through the real SOAP API.

    Per house: house ► accounts ► devices ► readings ► history export, then the money path:
    payment documents ► a demo bank posts notices (one cancelled) ► the company exports and
    acknowledges them ► a summary of paid and unpaid documents. Exits non-zero on any error.
    """
    from rich.console import Console

    from gateway.demo import ServerUsesAnotherStore, run_demo

    settings = _settings(data_dir, database_url)
    url = _base_url(url)
    click.echo(f"store {settings.describe_store()}")
    try:
        tally = run_demo(
            url,
            _runtime(data_dir, database_url),
            settings.data_dir / "demo-pki",
            houses,
            flats,
            Console(),
            algorithm=algorithm,  # type: ignore[arg-type]
        )
    except ServerUsesAnotherStore as exc:
        raise CliError(
            f"{exc}. The demo registered it in {settings.describe_store()}; point both at one "
            "store: start the server with the same --data-dir / --database-url (or the same "
            "GATEWAY_DATA_DIR / GATEWAY_DATABASE_URL, or one gateway.toml in the working "
            "directory of both), or give the demo the server's"
        ) from None
    if tally.errors or tally.failed_steps:
        sys.exit(1)


if __name__ == "__main__":
    main()
