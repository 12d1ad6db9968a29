"""The ops web console at ``/console``: read packets, replay what failed.

Server-rendered HTML (jinja2, autoescaping everything: packets are hostile input), no
scripts at all (CSP ``default-src 'none'``), its own operator logins
(``gateway operators add``), signed session cookies and a CSRF token on every POST.

    GET  /console                          overview (queue, error rate, per-minute charts of
                                           the last hours) + packet list, filters
    GET  /console/packets/<MessageGUID>    header, signer, state history, items, raw XML
                                           (pretty-printed, the signature folded)
    GET  /console/packets/<MessageGUID>/raw  the packet as received (text/plain)
    POST /console/packets/<MessageGUID>/replay
    GET  /console/login, POST /console/login, POST /console/logout
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2

from gateway.errors import LoginThrottled
from gateway.limits import LoginThrottle
from gateway.ops import packets as ops_packets
from gateway.ops import replay as ops_replay
from gateway.ops.activity import activity
from gateway.ops.charts import Series, line_chart
from gateway.ops.web import (
    COOKIE,
    Request,
    Response,
    SessionCodec,
    load_secret,
    new_session,
    password_fingerprint,
)
from gateway.ops.xmlview import pretty_segments
from gateway.passwords import verify_password
from gateway.runtime import Runtime
from persistence import operators, organizations, packets, queue
from persistence.operators import OperatorRecord

log = logging.getLogger("gateway.ops.console")

HERE = Path(__file__).resolve().parent
PREFIX = "/console"
#: the raw packet shown inline on the detail page; the /raw link serves all of it
RAW_INLINE_LIMIT = 512 * 1024
#: the overview charts cover this many hours, per minute
CHART_HOURS = 3

NOTICES = {
    "replayed": ("ok", "Replay queued: the packet will be processed again from its stored bytes."),
    "needs-force": (
        "error",
        "The packet was processed already; tick “force” to process it again (idempotent per item).",
    ),
    "in-progress": ("error", "The packet is queued or being processed; it cannot be replayed now."),
    "rejected": (
        "error",
        "A rejected packet was never accepted; the sender must send it again.",
    ),
    "not-found": ("error", "No packet with this MessageGUID."),
}


class Console:
    """The console's WSGI application (mounted at ``/console`` by ``gateway.wsgi``)."""

    def __init__(self, runtime: Runtime, on_enqueued: Callable[[], None] | None = None) -> None:
        self.rt = runtime
        self.settings = runtime.settings.console
        self.on_enqueued = on_enqueued or (lambda: None)
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.templates.filters["when"] = ops_packets.when
        self.templates.filters["guid_url"] = lambda guid: f"{PREFIX}/packets/{quote(guid, safe='')}"
        self.css = (HERE / "static" / "console.css").read_bytes()
        # failed logins per operator and per address, counted across processes (database)
        self.throttle = LoginThrottle(runtime.session, runtime.settings.limits, "console")
        self._codec: SessionCodec | None = None
        self._codec_lock = threading.Lock()

    @property
    def codec(self) -> SessionCodec:
        with self._codec_lock:
            if self._codec is None:
                secret = load_secret(self.settings.secret, self.rt.settings.data_dir)
                self._codec = SessionCodec(secret, self.settings.session_hours * 3600)
            return self._codec

    # --- dispatch --------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request.of(environ)
        try:
            response = self._route(request)
        except Exception:
            log.exception("console error on %s %s", request.method, request.path)
            response = Response(500, b"internal error\n", "text/plain; charset=utf-8")
        return response.send(start_response)

    def _route(self, request: Request) -> Response:
        path = request.path.rstrip("/") or PREFIX
        method = request.method
        if path == f"{PREFIX}/static/console.css":
            return Response(200, self.css, "text/css; charset=utf-8")
        session = self.codec.loads(request.cookies.get(COOKIE))
        if path == f"{PREFIX}/login":
            if method == "POST":
                return self._login(request, session)
            if self._operator(session) is not None:
                return Response.redirect(f"{PREFIX}/")
            return self._login_page(request, session)
        operator = self._operator(session)
        if operator is None or session is None:
            if method == "GET":
                return Response.redirect(f"{PREFIX}/login")
            return self._text(401, "log in first")
        if method == "POST" and not self._csrf_ok(request, session):
            return self._text(
                403, "refused: the form is stale or came from another site; reload the page"
            )
        if path == f"{PREFIX}/logout" and method == "POST":
            response = Response.redirect(f"{PREFIX}/login")
            response.set_cookie("", max_age=0, secure=self._secure(request))
            return response
        if path == PREFIX and method == "GET":
            return self._list(request, session, operator)
        parts = path[len(PREFIX) :].strip("/").split("/")
        if len(parts) >= 2 and parts[0] == "packets":
            guid = parts[1].lower()
            if len(parts) == 2 and method == "GET":
                return self._detail(request, session, operator, guid)
            if len(parts) == 3 and parts[2] == "raw" and method == "GET":
                return self._raw(guid)
            if len(parts) == 3 and parts[2] == "replay" and method == "POST":
                return self._replay(request, operator, guid)
        if method not in ("GET", "POST"):
            return self._text(405, "method not allowed")
        return self._text(404, "not found")

    # --- sessions --------------------------------------------------------------------------

    def _secure(self, request: Request) -> bool:
        return request.https or self.settings.secure_cookie

    def _issue(self, response: Response, request: Request, session: dict[str, Any]) -> None:
        response.set_cookie(
            self.codec.dumps(session),
            max_age=self.settings.session_hours * 3600,
            secure=self._secure(request),
        )

    def _operator(self, session: dict[str, Any] | None) -> OperatorRecord | None:
        if not session or not session.get("op"):
            return None
        with self.rt.reader() as db:
            operator = operators.get_operator(db, str(session["op"]))
        if operator is None or operator.disabled:
            return None
        if session.get("pw") != password_fingerprint(operator.password_hash):
            return None  # the password changed since this session began
        return operator

    def _csrf_ok(self, request: Request, session: dict[str, Any]) -> bool:
        token = request.form().get("csrf", "")
        expected = str(session.get("csrf", ""))
        return bool(expected) and hmac.compare_digest(token, expected) and request.same_origin()

    # --- pages -----------------------------------------------------------------------------

    def _render(self, name: str, status: int = 200, **context: Any) -> Response:
        body = self.templates.get_template(name).render(prefix=PREFIX, **context)
        return Response(status, body.encode())

    def _text(self, status: int, message: str) -> Response:
        return Response(status, (message + "\n").encode(), "text/plain; charset=utf-8")

    def _login_page(
        self, request: Request, session: dict[str, Any] | None, error: str = "", status: int = 200
    ) -> Response:
        if session is None or session.get("op"):
            session = new_session()
        response = self._render(
            "login.html", status, csrf=session["csrf"], error=error, operator=None
        )
        self._issue(response, request, session)
        return response

    def _login(self, request: Request, session: dict[str, Any] | None) -> Response:
        form = request.form()
        if session is None or not self._csrf_ok(request, session):
            return self._login_page(request, None, "The login form expired; try again.", 403)
        login = form.get("login", "").strip()[:64]
        password = form.get("password", "")
        address = request.environ.get("REMOTE_ADDR")
        with self.rt.reader() as db:
            try:
                self.throttle.check(db, login, address)
            except LoginThrottled:
                log.warning("console login throttled", extra={"login": login})
                return self._login_page(
                    request, session, "Too many failed attempts; wait a while.", 429
                )
            operator = operators.get_operator(db, login) if login else None
        if (
            operator is None
            or operator.disabled
            or not verify_password(password, operator.password_hash)
        ):
            self.throttle.failed(login, address)
            log.warning("console login refused", extra={"login": login})
            return self._login_page(request, session, "Wrong login or password.", 401)
        with self.rt.session.begin() as db:
            operators.record_login(db, login)
        log.info("console login", extra={"login": login})
        response = Response.redirect(f"{PREFIX}/")
        # a fresh session id and CSRF token: nothing from before the login carries over
        self._issue(response, request, new_session(login, operator.password_hash))
        return response

    def _list(
        self, request: Request, session: dict[str, Any], operator: OperatorRecord
    ) -> Response:
        q = request.query
        error = ""
        try:
            filters = ops_packets.Filters(
                org=q.get("org") or None,
                service=q.get("service") or None,
                operation=q.get("operation") or None,
                state=q.get("state") or None,
                since=ops_packets.parse_time(q["since"]) if q.get("since") else None,
                with_errors=q.get("errors") == "1",
                before_id=int(q["before"]) if q.get("before", "").isdigit() else None,
                limit=int(q["limit"]) if q.get("limit", "").isdigit() else 50,
            )
        except ops_packets.BadFilter as exc:
            error, filters = str(exc), ops_packets.Filters(limit=50)
        with self.rt.reader() as db:
            rows = ops_packets.list_packets(db, filters)
            overview = self._overview(db)
            names = organizations.names_of(db, {r.org_guid for r in rows if r.org_guid})
        older = None
        if len(rows) == filters.limit:
            kept = {k: v for k, v in q.items() if k != "before" and v}
            older = f"{PREFIX}/?" + urlencode({**kept, "before": rows[-1].id})
        services = sorted(
            (s.name, sorted(s.operations)) for s in self.rt.registry.services.values()
        )
        return self._render(
            "list.html",
            rows=rows,
            query=q,
            error=error,
            overview=overview,
            names=names,
            states=ops_packets.STATES,
            services=services,
            older=older,
            csrf=session["csrf"],
            operator=operator,
        )

    def _overview(self, db: Any) -> dict[str, Any]:
        now = datetime.now(UTC)
        stats = queue.stats(db)
        windows = {}
        for label, since in (
            ("last hour", now - timedelta(hours=1)),
            ("last 24 h", now - timedelta(days=1)),
        ):
            counts = packets.state_counts(db, since)
            with_errors = packets.count_with_errors(db, since)
            total = sum(counts.values())
            bad = counts.get("failed", 0) + counts.get("dead", 0) + counts.get("rejected", 0)
            windows[label] = {
                "total": total,
                "counts": counts,
                "with_errors": with_errors,
                "error_rate": (bad + with_errors) / total if total else 0.0,
            }
        return {"queue": stats, "windows": windows, "charts": self._charts(db, now)}

    def _charts(self, db: Any, now: datetime) -> dict[str, Any]:
        """The overview's SVG charts (server-rendered: the CSP allows no scripts)."""
        a = activity(db, now, CHART_HOURS)
        span = f"per minute, last {CHART_HOURS} h (UTC)"
        return {
            "truncated": a.truncated,
            "packets": line_chart(
                "chart-packets",
                f"Packets {span}",
                a.start,
                [
                    Series("received", "received", a.received),
                    Series("processed", "processed", a.processed),
                    Series("failed", "failed / dead", a.failed),
                    Series("refused", "refused", a.refused),
                ],
            ),
            "item_errors": line_chart(
                "chart-item-errors",
                f"Item errors {span}",
                a.start,
                [Series("item-errors", "item errors", a.item_errors)],
            ),
            "depth": line_chart(
                "chart-queue-depth",
                f"Queue depth: most jobs queued or running at once, per minute, last {CHART_HOURS} h",
                a.start,
                [Series("depth", "jobs", a.depth)],
            ),
            "age": line_chart(
                "chart-oldest-age",
                f"Oldest job's age: the longest wait seen, per minute, last {CHART_HOURS} h",
                a.start,
                [Series("oldest-age", "longest wait", a.oldest_age)],
                unit="s",
            ),
        }

    def _detail(
        self, request: Request, session: dict[str, Any], operator: OperatorRecord, guid: str
    ) -> Response:
        with self.rt.reader() as db:
            found = ops_packets.detail(db, guid)
            raw = ops_packets.raw_bytes(db, found.packet) if found else b""
            diagnosis = self._signature_diagnosis(db, found, raw)
            org_name = (
                organizations.names_of(db, [found.packet.org_guid]).get(
                    found.packet.org_guid.lower()
                )
                if found and found.packet.org_guid
                else None
            )
        if found is None:
            return self._render(
                "missing.html", 404, guid=guid, operator=operator, csrf=session["csrf"]
            )
        notice = NOTICES.get(request.query.get("notice", ""))
        return self._render(
            "detail.html",
            found=found,
            p=found.packet,
            raw=raw[:RAW_INLINE_LIMIT].decode("utf-8", "replace"),
            raw_truncated=len(raw) > RAW_INLINE_LIMIT,
            # pretty-printed with the signature folded; None: shown as received
            segments=pretty_segments(raw) if len(raw) <= RAW_INLINE_LIMIT else None,
            org_name=org_name,
            notice=notice,
            csrf=session["csrf"],
            operator=operator,
            refresh=found.packet.state in ("received", "processing"),
            diagnosis=diagnosis,
        )

    @staticmethod
    def _signature_diagnosis(db: Any, found: Any, raw: bytes | None) -> str | None:
        """For a packet refused for its signature or certificate: the `gateway verify` report."""
        from gateway.verify_report import SIGNATURE_CODES, diagnose_packet
        from persistence import organizations

        if found is None or not raw or found.packet.error_code not in SIGNATURE_CODES:
            return None
        return diagnose_packet(raw, organizations.trust_anchor_pems(db), found.packet.received_at)

    def _raw(self, guid: str) -> Response:
        with self.rt.reader() as db:
            found = packets.record_of(db, guid) if ops_packets.is_guid(guid) else None
            raw = ops_packets.raw_bytes(db, found) if found else None
        if raw is None:
            return self._text(404, "not found")
        # text/plain + nosniff: shown as text, never interpreted
        return Response(
            200,
            raw,
            "text/plain; charset=utf-8",
            [("Content-Disposition", f'inline; filename="{guid}.xml"')],
        )

    def _replay(self, request: Request, operator: OperatorRecord, guid: str) -> Response:
        force = request.form().get("force") == "1"
        with self.rt.session.begin() as db:
            outcome = ops_replay.replay_one(db, guid, by=f"console:{operator.login}", force=force)
        if outcome.replayed:
            self.on_enqueued()
        notice = "replayed" if outcome.replayed else (outcome.refused or "not-found")
        return Response.redirect(f"{PREFIX}/packets/{quote(guid, safe='')}?notice={notice}")
