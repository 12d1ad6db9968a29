"""Prometheus metrics, multiprocess-safe under gunicorn, served at ``/metrics``.

``gateway serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at an emptied directory before
gunicorn forks (``prepare_multiprocess``); every process — gunicorn workers and the queue
worker threads inside them — then writes its counters and histograms to its own files there,
and ``/metrics`` adds them up. Queue depth and age are read from the database at scrape
time, so every node reports the same shared queue.

The environment variable must be set before ``prometheus_client`` is first imported in a
process, so the set-up lives apart, in ``gateway.ops.multiproc``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

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
    shared.register(QueueCollector(runtime))  # type: ignore[arg-type]
    return local + generate_latest(shared), CONTENT_TYPE_LATEST
