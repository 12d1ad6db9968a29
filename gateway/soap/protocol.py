"""The spyne application: one SOAP 1.1 protocol that hands every request to the accept pipeline.

spyne routes methods by ``{tns}name`` of the body element, which does not fit the GIS formats
(body elements live in the types namespace, not the service namespace). So the in-protocol
keeps the raw request and routes every call to one method, ``dispatch``; the pipeline does the
GIS routing through the operation registry, and the out-protocol writes the envelope the
pipeline built (AckRequest / getStateResult / Fault directly in the Body, with ResultHeader).
"""

from __future__ import annotations

import math
from typing import Any

import spyne.const
from spyne import Application, ServiceBase, rpc
from spyne.model.primitive import AnyXml
from spyne.protocol.soap import Soap11

from gateway.accept import AcceptPipeline, HttpRequest, Reply, internal_error_reply

TNS = "urn:hcs-gateway:dispatch"
#: WSGI environ key of the request body as one bytes object (set by gateway.wsgi).
RAW_BODY = "hcs.raw_body"
#: WSGI environ key of the TLS client certificate (DER), set by gateway.http_worker.
CLIENT_CERT = "SSL_CLIENT_CERT_DER"
_DISPATCH = f"{{{TNS}}}dispatch"


class GisSoapIn(Soap11):
    """Keeps the raw body for the pipeline (which parses it with the hardened parser)."""

    def create_in_document(self, ctx: Any, charset: str | None = None) -> None:
        raw = ctx.transport.req_env.get(RAW_BODY)  # read once by the WSGI layer, not copied
        if raw is None:
            raw = b"".join(s if isinstance(s, bytes) else s.encode() for s in (ctx.in_string or []))
        ctx.udc = _Udc(raw)
        ctx.in_document = None

    def decompose_incoming_envelope(self, ctx: Any, message: Any = None) -> None:
        ctx.method_request_string = _DISPATCH

    def deserialize(self, ctx: Any, message: Any) -> None:
        ctx.in_header = None
        ctx.in_object = [None]


class GisSoapOut(Soap11):
    """Writes the envelope built by the pipeline, byte for byte."""

    def serialize(self, ctx: Any, message: Any) -> None:
        pass

    def create_out_string(self, ctx: Any, charset: str | None = None) -> None:
        reply = ctx.udc.reply if ctx.udc is not None else None
        if reply is None:  # spyne failed before our method ran
            reply = internal_error_reply()
            ctx.transport.resp_code = _status_line(reply.status)
        ctx.out_string = [reply.body]


class _Udc:
    """Per-request data spyne carries for us (spyne refuses other attributes on its context)."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.reply: Reply | None = None


def build_application(pipeline: AcceptPipeline) -> Application:
    """A spyne Application whose only method runs the accept pipeline."""
    # spyne runs a full gc.collect() when a request context closes, at most once a second, to
    # release the file handles of its uploads (we have none). With the compiled schemas and
    # the database layer in the heap that is ~65 ms, stalling one request every second;
    # Python's own generational collector is enough.
    spyne.const.MIN_GC_INTERVAL = math.inf

    class GisService(ServiceBase):
        @rpc(AnyXml, _returns=AnyXml, _body_style="bare")
        def dispatch(ctx: Any, _body: Any) -> None:  # noqa: N805 - spyne passes the context
            env = ctx.transport.req_env
            request = HttpRequest(
                path=env.get("PATH_INFO", ""),
                soap_action=env.get("HTTP_SOAPACTION"),
                authorization=env.get("HTTP_AUTHORIZATION"),
                body=ctx.udc.raw,
                remote_addr=env.get("REMOTE_ADDR"),
                client_cert=env.get(CLIENT_CERT),
            )
            reply = pipeline.handle(request)
            ctx.udc.reply = reply
            ctx.transport.resp_code = _status_line(reply.status)
            for name, value in reply.headers:
                ctx.transport.resp_headers[name] = value
            return None

    app = Application(
        [GisService],
        tns=TNS,
        name="hcs-gateway",
        in_protocol=GisSoapIn(),
        out_protocol=GisSoapOut(),
    )
    return app


_REASONS = {
    200: "OK",
    401: "Unauthorized",
    403: "Forbidden",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _status_line(status: int) -> str:
    return f"{status} {_REASONS.get(status, 'Error')}"
