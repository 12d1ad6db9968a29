"""Prometheus metrics, multiprocess-safe under gunicorn, served at ``/metrics``.

``gateway serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at an emptied directory before
gunicorn forks (``prepare_multiprocess``); every process — gunicorn workers and the queue
worker threads inside them — then writes its counters and histograms to its own files there,
and ``/metrics`` adds them up. Queue depth and age are read from the database at scrape
time, so every node reports the same shared queue.

The environment variable must be set before ``prometheus_client`` is first imported in a
process, so the set-up lives apart, in ``gateway.ops.multiproc``.

A separate ``gateway worker`` process is one process whatever its ``--concurrency`` (that
many threads): its threads record into this module's metrics in the process's memory
(prometheus-client metrics are thread-safe), and ``WorkerMetricsServer`` serves them, with
the queue gauges, on ``--metrics-bind`` / ``[worker] metrics_bind``. The worker never uses a
multiprocess directory (``gateway worker`` drops ``PROMETHEUS_MULTIPROC_DIR``), so its
counts are never added into a serve node's ``/metrics`` as well.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
    make_wsgi_app,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import ThreadingWSGIServer

from gateway.ops.multiproc import multiprocess_dir

if TYPE_CHECKING:
    from gateway.runtime import Runtime

log = logging.getLogger("gateway.ops.metrics")

#: This process's metrics (exposed directly when not under gunicorn's multiprocess mode).
REGISTRY = CollectorRegistry()

REQUESTS = Counter(
    "gateway_requests",
    "SOAP requests answered, by outcome (accepted, duplicate, state, fault) and Fault code.",
    ["service", "operation", "outcome", "fault_code"],
    registry=REGISTRY,
)
ACCEPT_SECONDS = Histogram(
    "gateway_accept_seconds",
    "Time to answer a SOAP request: parse, validate, verify, store and commit, Ack or Fault.",
    ["service", "operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
SIGNATURE_FAILURES = Counter(
    "gateway_signature_failures",
    "Packets refused for their signature (AUT011005) or signer certificate (AUT011004), by reason.",
    ["reason"],
    registry=REGISTRY,
)
PROCESSING_SECONDS = Histogram(
    "gateway_processing_seconds",
    "Time a queue worker spent on one job, by outcome (processed, failed; retry: a transient "
    "error, retried or dead-lettered; lost: the lease was lost).",
    ["service", "operation", "outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
    registry=REGISTRY,
)
PACKET_LATENCY = Histogram(
    "gateway_packet_latency_seconds",
    "From acceptance of a packet to its stored outcome (queue wait + processing).",
    ["service", "operation"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0),
    registry=REGISTRY,
)
ITEMS = Counter(
    "gateway_items",
    "Import items processed, by result (ok, error).",
    ["service", "operation", "result"],
    registry=REGISTRY,
)
ITEM_ERRORS = Counter(
    "gateway_item_errors",
    "Import items refused by a business rule, by error code.",
    ["operation", "code"],
    registry=REGISTRY,
)
JOB_FAILURES = Counter(
    "gateway_job_failures",
    "Transient job failures as recorded by a worker: action=retry (queued again with backoff), "
    "action=dead (moved to the dead letter: max_attempts used up, or earlier attempts never "
    "finished).",
    ["action"],
    registry=REGISTRY,
)

OBSERVE_FAILURES = Counter(
    "gateway_observe_failures",
    "Failures inside the metrics and log hooks themselves (each also logged at ERROR): the "
    "request or job went on, but some of its figures are missing.",
    ["hook"],
    registry=REGISTRY,
)

for _action in ("retry", "dead"):  # exported as 0 from the start: increase() sees the first
    JOB_FAILURES.labels(_action)


def job_failure_recorded(give_up: bool) -> None:
    """A worker gave a failed job back to the queue (retry) or buried it (dead)."""
    try:
        JOB_FAILURES.labels("dead" if give_up else "retry").inc()
    except Exception:  # metrics never break the processing path, and never fail unseen
        log.error("metrics: job failure not counted", exc_info=True)
        OBSERVE_FAILURES.labels("job-failure").inc()


class QueueCollector:
    """Queue depth and age, read from the shared database when scraped."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    def describe(self) -> list[Any]:
        return []  # do not touch the database at registration

    def collect(self) -> Iterator[Any]:
        from persistence import queue

        up = GaugeMetricFamily("gateway_database_up", "1 when the database answered the scrape.")
        try:
            with self.rt.reader() as session:
                stats = queue.stats(session)
        except Exception as exc:  # the scrape still answers, with the database down
            log.warning("metrics: queue statistics unavailable: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        jobs = GaugeMetricFamily(
            "gateway_queue_jobs",
            "Jobs in the queue by state (queued, running, dead).",
            labels=["state"],
        )
        jobs.add_metric(["queued"], stats.queued)
        jobs.add_metric(["running"], stats.running)
        jobs.add_metric(["dead"], stats.dead)
        yield jobs
        yield GaugeMetricFamily(
            "gateway_queue_oldest_job_age_seconds",
            "Age of the oldest queued or running job (0 when the queue is empty).",
            value=stats.oldest_age_seconds,
        )
        yield GaugeMetricFamily(
            "gateway_queue_ready_wait_seconds",
            "How long the longest-waiting job ready to run has waited for a worker.",
            value=stats.ready_wait_seconds,
        )


def render(runtime: Runtime) -> tuple[bytes, str]:
    """The ``/metrics`` body (all processes of this node + the shared queue) and its type."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        local = generate_latest(registry)
    else:
        local = generate_latest(REGISTRY)
    shared = CollectorRegistry()
    shared.register(QueueCollector(runtime))
    return local + generate_latest(shared), CONTENT_TYPE_LATEST


# --- the endpoint of a separate ``gateway worker`` process ------------------------------


def parse_bind(bind: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9464`` for IPv6; ``:9464`` for every interface) as (host, port)."""
    host, sep, port = bind.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"metrics bind {bind!r} is not HOST:PORT")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


class _Chained:
    """A collector yielding what other collectors yield (a registry inside a registry)."""

    def __init__(self, *collectors: Any) -> None:
        self.collectors = collectors

    def collect(self) -> Iterable[Any]:
        for collector in self.collectors:
            yield from collector.collect()


def worker_registry(runtime: Runtime) -> CollectorRegistry:
    """What a worker process exposes: its own metrics, its process figures, the queue."""
    # collectors that describe no names still answer a scrape filtered with ``name[]=``
    registry = CollectorRegistry(support_collectors_without_names=True)
    registry.register(_Chained(REGISTRY, QueueCollector(runtime)))
    ProcessCollector(registry=registry)  # process_cpu_seconds_total, resident memory, …
    return registry


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # a scrape every few seconds is not worth a log line


class WorkerMetricsServer:
    """``/metrics`` (prometheus-client's own WSGI exposition: content negotiation, gzip,
    ``name[]`` filtering) and ``/healthz`` of a worker process, in a daemon thread.

    ``healthy`` says whether the worker threads are running: ``/healthz`` answers 200 ``ok``
    or 503 ``stopping``.
    """

    def __init__(self, runtime: Runtime, bind: str, healthy: Callable[[], bool]) -> None:
        host, port = parse_bind(bind)
        metrics_app = make_wsgi_app(worker_registry(runtime))

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            path = environ.get("PATH_INFO", "")
            if path == "/metrics":
                return metrics_app(environ, start_response)  # type: ignore[no-any-return]
            if path == "/healthz":
                ok = healthy()
                start_response(
                    "200 OK" if ok else "503 Service Unavailable",
                    [("Content-Type", "text/plain; charset=utf-8")],
                )
                return [b"ok\n" if ok else b"stopping\n"]
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"not found: /metrics, /healthz\n"]

        class Server(ThreadingWSGIServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

        self.httpd = make_server(host, port, app, Server, handler_class=_QuietHandler)
        shown = f"[{host}]" if ":" in host else host
        #: where it listens (the port the system chose when asked for port 0)
        self.url = f"http://{shown}:{self.httpd.server_port}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="metrics-http", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
