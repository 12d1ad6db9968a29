"""``gateway serve``: gunicorn in front of the WSGI app, with the queue worker in-process.

The master process brings the database to the current schema (the migrations) once, before
it forks; each gunicorn worker process then builds its own Runtime (engine, pool, compiled
schemas) and, unless ``--no-worker``, a queue WorkerGroup beside the WSGI app.
"""

from __future__ import annotations

import gc
import logging
import ssl
import sys
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger as GunicornLogger

from gateway.config import ServerSettings, Settings

log = logging.getLogger("gateway.server")

#: The queue workers of this (gunicorn worker) process, stopped by the worker_exit hook.
_GROUPS: list[Any] = []


def build_wsgi(settings: Settings, run_worker: bool) -> Any:
    """The WSGI app of one process; starts queue worker threads beside it when asked."""
    from gateway.runtime import Runtime
    from gateway.worker import WorkerGroup
    from gateway.wsgi import GatewayApp

    sys.setswitchinterval(settings.server.switch_interval_ms / 1000)
    runtime = Runtime(settings, create_tables=False, role="serve")
    group = WorkerGroup(runtime, settings.worker.concurrency) if run_worker else None
    app = GatewayApp(runtime, on_enqueued=group.wakeup.set if group else None)
    # What start-up built (schemas, registry, libraries) lives as long as the process: keep
    # it out of every later full collection.
    gc.freeze()
    if group is not None:
        group.start()
        _GROUPS.append(group)
    return app


def _child_exit(_server: Any, worker: Any) -> None:
    """A gunicorn worker process ended (master): drop its live metric files."""
    from gateway.ops.multiproc import mark_process_dead

    mark_process_dead(worker.pid)


def _worker_exit(_server: Any, _worker: Any) -> None:
    """A gunicorn worker is leaving: let its queue workers finish the jobs in hand."""
    for group in _GROUPS:
        group.stop(timeout=8.0)


class GatewayServer(BaseApplication):
    def __init__(self, settings: Settings, run_worker: bool) -> None:
        self.settings = settings
        self.run_worker = run_worker
        super().__init__()

    def load_config(self) -> None:
        server = self.settings.server
        binds = [server.bind]
        if self.settings.metrics.bind:
            binds.append(self.settings.metrics.bind)
        self.cfg.set("bind", binds)
        self.cfg.set("workers", server.workers)
        self.cfg.set("worker_class", _worker_class(server))
        self.cfg.set("threads", server.threads)
        self.cfg.set("keepalive", max(1, int(server.keepalive_seconds)))
        self._tls(server)
        self.cfg.set("max_requests", server.max_requests)
        self.cfg.set("max_requests_jitter", server.max_requests_jitter)
        self.cfg.set("timeout", server.timeout)
        self.cfg.set("graceful_timeout", 10)
        self.cfg.set("accesslog", "-")
        self.cfg.set("logger_class", GatewayLogger)
        self.cfg.set("preload_app", False)
        self.cfg.set("worker_exit", _worker_exit)
        self.cfg.set("child_exit", _child_exit)
        if "control_socket_disable" in self.cfg.settings:
            # gunicorn >= 25 opens one control socket per user by default: several nodes on
            # one host would take it from each other.
            self.cfg.set("control_socket_disable", True)

    def _tls(self, server: ServerSettings) -> None:
        if not (server.tls_cert or server.tls_key):
            if server.client_ca or server.require_client_cert:
                raise ValueError("client certificates need TLS: set tls_cert and tls_key")
            return
        if not (server.tls_cert and server.tls_key):
            raise ValueError("TLS needs both tls_cert and tls_key")
        self.cfg.set("certfile", server.tls_cert)
        self.cfg.set("keyfile", server.tls_key)
        if server.client_ca:
            if server.worker_class == "gthread":
                raise ValueError("client certificates need worker_class = buffered")
            self.cfg.set("ca_certs", server.client_ca)
            required = server.require_client_cert
            self.cfg.set("cert_reqs", ssl.CERT_REQUIRED if required else ssl.CERT_OPTIONAL)
        elif server.require_client_cert:
            raise ValueError("require_client_cert needs client_ca")

    def load(self) -> Any:
        return build_wsgi(self.settings, self.run_worker)


def _worker_class(server: ServerSettings) -> str:
    """The gunicorn worker class; ``buffered`` also hands it the request time limits."""
    if server.worker_class == "gthread":
        return "gthread"
    if server.worker_class != "buffered":
        raise ValueError(
            f"[server] worker_class must be buffered or gthread, not {server.worker_class!r}"
        )
    from gateway import http_worker

    http_worker.configure(
        http_worker.Limits(
            header_timeout=server.header_timeout_seconds,
            body_timeout=server.body_timeout_seconds,
            body_min_rate=server.body_min_rate_bytes,
            keepalive_timeout=server.keepalive_seconds,
            max_body_bytes=server.max_body_bytes,
            max_connections=server.max_connections,
            max_buffered_bytes=server.max_buffered_bytes,
        )
    )
    return "gateway.http_worker.BufferingWorker"


def prepare_database(settings: Settings) -> None:
    """Create (or, on SQLite, upgrade) the schema once, before any process serves."""
    from gateway.runtime import open_engine, wait_for_database
    from persistence.migrations import ensure_schema

    engine = open_engine(settings, "migrate")
    try:
        wait_for_database(engine)
        ensure_schema(engine)
    finally:
        engine.dispose()


def serve(settings: Settings, run_worker: bool) -> None:
    from gateway.ops.multiproc import prepare_multiprocess

    prepare_multiprocess(settings)  # before any process imports prometheus_client
    prepare_database(settings)
    GatewayServer(settings, run_worker).run()


class GatewayLogger(GunicornLogger):
    """gunicorn's error and access lines through the process's own logging (structlog: JSON
    lines in JSON mode, like every other line), the access line as fields, not a format."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in list(log.handlers):
                log.removeHandler(handler)
            log.propagate = True

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        self.access_log.info(
            "request",
            extra={
                "remote_addr": environ.get("REMOTE_ADDR", "-"),
                "method": environ.get("REQUEST_METHOD"),
                "path": environ.get("PATH_INFO"),
                "query": environ.get("QUERY_STRING") or None,
                "status": int(status) if str(status).isdigit() else status,
                "bytes": getattr(resp, "sent", None),
                "duration_ms": round(request_time.total_seconds() * 1000, 3),
                "user_agent": environ.get("HTTP_USER_AGENT"),
            },
        )
