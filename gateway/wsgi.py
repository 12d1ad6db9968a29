"""The WSGI entry: transport guard, static contract (WSDL/XSD), health, then spyne.

Only this module speaks HTTP. SOAP POSTs go to the spyne application of ``soap.protocol``.
Beside the services: ``/healthz`` (alive), ``/readyz`` (database, schemas, queue),
``/metrics`` (Prometheus) and the ops console under ``/console`` (``gateway.ops``).
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

from spyne.server.wsgi import WsgiApplication

from gateway import errors
from gateway.accept import AcceptPipeline
from gateway.formats import Bundle, served_wsdl
from gateway.ops import metrics
from gateway.ops.console import Console
from gateway.ops.health import readiness
from gateway.runtime import Runtime
from gateway.soap.envelope import fault_envelope
from gateway.soap.protocol import RAW_BODY, build_application

log = logging.getLogger("gateway.wsgi")

StartResponse = Callable[..., Any]
_BEARER_CHALLENGE = (("WWW-Authenticate", 'Bearer realm="metrics"'),)
CONTRACT_PREFIX = "/contract/"
JSON = "application/json"
_SCHEMA_LOCATION = re.compile(rb'(schemaLocation|location)="([^"]+)"')


class GatewayApp:
    """The WSGI application of one gateway process."""

    def __init__(self, runtime: Runtime, on_enqueued: Callable[[], None] | None = None) -> None:
        self.rt = runtime
        self.max_body = runtime.settings.server.max_body_bytes
        self.pipeline = AcceptPipeline(runtime, on_enqueued)
        self.soap = WsgiApplication(
            build_application(self.pipeline), max_content_length=self.max_body + 1
        )
        formats = runtime.formats  # compiled at start-up, not on the first request
        self._contract_dirs = {
            "xsd": runtime.settings.xsd_dir.resolve(),
            "wsdl": runtime.settings.wsdl_dir.resolve(),
        }
        for bundle in formats.bundles:
            if bundle.published:
                self._contract_dirs[_bundle_prefix(bundle)] = bundle.xsd_root.resolve()
        self.console = Console(runtime, on_enqueued) if runtime.settings.console.enabled else None
        metrics_bind = runtime.settings.metrics.bind
        self.metrics_port = metrics_bind.rsplit(":", 1)[1] if metrics_bind else None
        token = runtime.settings.metrics.token
        self.metrics_token = f"Bearer {token}".encode() if token else None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if path == "/healthz":
            return _plain(start_response, 200, b"ok\n")
        if path == "/readyz":
            ready = readiness(self.rt)
            return _plain(start_response, 200 if ready.ready else 503, ready.json(), JSON)
        if self.metrics_port is not None and environ.get("SERVER_PORT") == self.metrics_port:
            if path != "/metrics":  # the internal bind serves nothing else
                return _plain(start_response, 404, b"not found\n")
        elif path == "/metrics" and self.metrics_port is not None:
            return _plain(start_response, 404, b"not found\n")
        if path == "/metrics" and self.rt.settings.metrics.enabled:
            if not self._metrics_allowed(environ):
                return _plain(
                    start_response, 401, b"bearer token required\n", headers=_BEARER_CHALLENGE
                )
            body, content_type = metrics.render(self.rt)
            return _plain(start_response, 200, body, content_type)
        if self.console is not None and (path == "/console" or path.startswith("/console/")):
            return self.console(environ, start_response)
        if method == "GET" and path.startswith(CONTRACT_PREFIX):
            return self._contract_file(environ, start_response, path[len(CONTRACT_PREFIX) :])
        service = self.rt.registry.service_for_path(path)
        if service is None:
            return _plain(start_response, 404, b"not found\n")
        if method == "GET" and environ.get("QUERY_STRING", "").lower().startswith("wsdl"):
            bundle = self.rt.formats.serving(service)
            rel = ("wsdl" if not bundle.published else _bundle_prefix(bundle)) + "/"
            return self._serve_xml(
                environ,
                start_response,
                served_wsdl(bundle, service),
                rel + service.wsdl_file.as_posix(),
                service.path,
            )
        if method != "POST":
            return _plain(start_response, 405, b"POST a SOAP 1.1 envelope, or GET ?wsdl\n")
        too_large = self._guard(environ)
        if too_large is not None:
            return _fault(start_response, too_large)
        # One bytes object for the whole pipeline (a BytesIO over the buffered body returns
        # that very object); spyne's own reading would hold the body twice more.
        environ[RAW_BODY] = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        # Straight to spyne's RPC handling: its __call__ would first rebuild the request URL
        # and test for a WSDL request, which this method answered above.
        answer: Iterable[bytes] = self.soap.handle_rpc(environ, start_response)
        return answer

    def _metrics_allowed(self, environ: dict[str, Any]) -> bool:
        if self.metrics_token is None:
            return True
        given = (environ.get("HTTP_AUTHORIZATION") or "").encode("latin-1")
        return hmac.compare_digest(given, self.metrics_token)

    # --- transport guard -------------------------------------------------------------------

    def _guard(self, environ: dict[str, Any]) -> errors.GatewayError | None:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return errors.FormatError("Invalid Content-Length.")
        if length > self.max_body:
            return errors.PayloadTooLarge(
                f"The packet is {length} bytes; the limit is {self.max_body} bytes."
            )
        content_type = (environ.get("CONTENT_TYPE") or "").lower()
        if content_type and not content_type.startswith(
            ("text/xml", "application/soap+xml", "application/xml")
        ):
            return errors.FormatError(f"Content-Type {content_type} is not SOAP; send text/xml.")
        return None

    # --- static contract -------------------------------------------------------------------

    def _contract_file(
        self, environ: dict[str, Any], start_response: StartResponse, rel: str
    ) -> Iterable[bytes]:
        kind, _, rest = rel.partition("/")
        base = self._contract_dirs.get(kind)
        if base is None:
            return _plain(start_response, 404, b"not found\n")
        target = (base / rest).resolve()
        if not target.is_file() or base not in target.parents:
            return _plain(start_response, 404, b"not found\n")
        return self._serve_xml(environ, start_response, target.read_bytes(), rel, None)

    def _serve_xml(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        document: bytes,
        rel: str,
        endpoint: str | None,
    ) -> Iterable[bytes]:
        """Serve a WSDL/XSD with imports resolved to this server and soap:address set to it."""
        host = (
            environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
        )
        scheme = environ.get("wsgi.url_scheme", "http")
        origin = f"{scheme}://{host}"
        folder = rel.rsplit("/", 1)[0]

        def rewrite(match: re.Match[bytes]) -> bytes:
            attr, value = match.group(1), match.group(2).decode()
            if attr == b"location":
                if endpoint is None:
                    return match.group(0)
                return b'location="' + (origin + endpoint).encode() + b'"'
            if value.startswith(("http://", "https://")):
                return match.group(0)
            resolved = _normalise(f"{folder}/{value}")
            return attr + b'="' + f"{origin}{CONTRACT_PREFIX}{quote(resolved)}".encode() + b'"'

        body = _SCHEMA_LOCATION.sub(rewrite, document)
        start_response(
            "200 OK",
            [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]


def _bundle_prefix(bundle: Bundle) -> str:
    return f"formats-{bundle.name}"


def _normalise(path: str) -> str:
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part and part != ".":
            parts.append(part)
    # wsdl/../xsd/... resolves to xsd/...; keep the kind prefix the contract route expects
    return "/".join(parts)


def _plain(
    start_response: StartResponse,
    status: int,
    body: bytes,
    content_type: str = "text/plain",
    headers: tuple[tuple[str, str], ...] = (),
) -> list[bytes]:
    reasons = {
        200: "OK",
        401: "Unauthorized",
        404: "Not Found",
        405: "Method Not Allowed",
        503: "Service Unavailable",
    }
    start_response(
        f"{status} {reasons.get(status, '')}",
        [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers],
    )
    return [body]


def _fault(start_response: StartResponse, error: errors.GatewayError) -> list[bytes]:
    body = fault_envelope(error)
    reasons = {413: "Payload Too Large", 500: "Internal Server Error"}
    start_response(
        f"{error.http_status} {reasons.get(error.http_status, 'Error')}",
        [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]
