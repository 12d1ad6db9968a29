"""``gateway worker --metrics-bind``: a separate worker process serves its own Prometheus
metrics, counted over all its threads and only its own jobs.

Real processes on a real database: a ``gateway serve --no-worker`` node accepts signed packets
through the SOAP API, ``gateway worker`` processes process them, and the test scrapes each
worker's ``/metrics`` and checks the counts against what the database says each process did.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from lxml import etree
from sqlalchemy import text

from gateway.namespaces import HOUSE_MANAGEMENT as HM
from tests.ops.samples import Samples, scrape, total, value
from tests.stand import (
    ROOT,
    Stand,
    database_url,
    free_port,
    house_request,
    make_stand,
    send,
    signed_packet,
    wait_until,
)

OP = {"service": "house-management", "operation": "importHouseUOData"}
PACKETS, FLATS = 6, 2
#: items of one house import: the house, its entrance, its flats
ITEMS_PER_PACKET = 1 + 1 + FLATS


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def worker_stand(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stand]:
    """A migrated database with one registered management company (SQLite or PostgreSQL)."""
    made = make_stand(tmp_path, database_url(request, request.param, tmp_path, "hcs_gateway_wm"))
    try:
        yield made
    finally:
        made.stop_all()


def start_worker(
    stand: Stand, *, concurrency: int, by_env: bool = False, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """``gateway worker`` with its metrics on a free port, given by --metrics-bind or, with
    ``by_env``, by GATEWAY_WORKER_METRICS_BIND; returns once its /healthz answers."""
    bind = f"127.0.0.1:{free_port()}"
    args = ["worker", "--concurrency", str(concurrency)]
    extra = {**_data_dir(stand), **(env or {})}
    if by_env:
        extra["GATEWAY_WORKER_METRICS_BIND"] = bind
    else:
        args += ["--metrics-bind", bind]
    proc = stand._spawn(args, "worker", extra)
    url = f"http://{bind}"

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"worker exited with {proc.returncode}:\n{stand.log_text()}")
        return requests.get(url + "/healthz", timeout=1).text == "ok\n"

    wait_until(up, 60, lambda: f"worker metrics on {url} did not come up:\n{stand.log_text()}")
    return proc, url


def _data_dir(stand: Stand) -> dict[str, str]:
    # keep the node's prometheus multiprocess directory out of the project's ./var
    return {"GATEWAY_DATA_DIR": str(stand.work / "data")}


def attempts_by(stand: Stand, pid: int) -> int:
    """Jobs the worker process claimed, as the queue recorded them ("attempt N by host:pid:i")."""
    details = stand.rows("SELECT detail FROM packet_events WHERE event = 'attempt'")
    return sum(1 for (detail,) in details if detail.split(" by ", 1)[1].split(":")[1] == str(pid))


def duplicate_of(stand: Stand, fias: str) -> bytes:
    """A signed house import naming a house that is already registered (one flat)."""
    element = house_request(1)
    element.find(f".//{{{HM}}}FIASHouseGuid").text = fias  # type: ignore[union-attr]
    return signed_packet(element, stand.org_guid, stand.key, stand.cert, str(uuid.uuid4()))


def accept(node: str, raw: bytes) -> str:
    status, message_guid, fault = send(node, raw)
    assert (status, fault) == (200, None) and message_guid, (status, fault)
    return message_guid


def test_worker_processes_serve_their_own_processing_metrics(worker_stand: Stand) -> None:
    stand = worker_stand
    node, _ = stand.node(workers=1, env=_data_dir(stand))  # accepts only: --no-worker
    workers = [
        start_worker(stand, concurrency=2),  # --metrics-bind
        start_worker(stand, concurrency=1, by_env=True),  # [worker] metrics_bind from the env
    ]
    before = [scrape(url) for _, url in workers]

    for _ in range(PACKETS):
        accept(node, stand.packet(flats=FLATS)[1])
    stand.wait_processed(PACKETS, timeout=60)
    # the same house once more: every item refused (house exists, then its parts)
    (fias,) = stand.rows("SELECT fias_house_guid FROM houses ORDER BY fias_house_guid LIMIT 1")[0]
    accept(node, duplicate_of(stand, fias))
    stand.wait_processed(PACKETS + 1, timeout=60)

    # what the database says: every packet processed, the duplicate's items all refused
    results = stand.rows(
        "SELECT result_xml FROM packets WHERE state = 'processed' AND operation = :op",
        op=OP["operation"],
    )
    codes = Counter(
        code.text
        for (xml,) in results
        for code in etree.fromstring(xml.encode()).iter("{*}ErrorCode")
    )
    assert len(results) == PACKETS + 1
    assert codes == {"HCS001001": 1, "HCS001004": 2}  # house exists; entrance, flat: parent

    def counted() -> list[Samples]:
        return [scrape(url) for _, url in workers]

    after: list[Samples] = []

    def caught_up() -> bool:  # a worker counts a job just after its commit
        after[:] = counted()
        done = sum(total(a, "gateway_processing_seconds_count", **OP) for a in after) - sum(
            total(b, "gateway_processing_seconds_count", **OP) for b in before
        )
        return done >= PACKETS + 1

    wait_until(
        caught_up,
        30,
        lambda: (
            "the workers did not count every job: "
            + str(
                [
                    value(a, "gateway_processing_seconds_count", **OP, outcome="processed")
                    for a in after
                ]
            )
        ),
    )

    def delta(name: str, **labels: str) -> float:
        return sum(
            value(a, name, **labels) - value(b, name, **labels)
            for a, b in zip(after, before, strict=True)
        )

    assert delta("gateway_processing_seconds_count", **OP, outcome="processed") == PACKETS + 1
    assert delta("gateway_packet_latency_seconds_count", **OP) == PACKETS + 1
    assert delta("gateway_items_total", **OP, result="ok") == PACKETS * ITEMS_PER_PACKET
    assert delta("gateway_items_total", **OP, result="error") == 3
    assert delta("gateway_item_errors_total", operation=OP["operation"], code="HCS001001") == 1
    assert delta("gateway_item_errors_total", operation=OP["operation"], code="HCS001004") == 2
    assert delta("gateway_job_failures_total", action="retry") == 0
    assert delta("gateway_job_failures_total", action="dead") == 0

    # each endpoint counts its own process's jobs (all its threads), no one else's
    for (proc, _), a, b in zip(workers, after, before, strict=True):
        jobs = total(a, "gateway_processing_seconds_count") - total(
            b, "gateway_processing_seconds_count"
        )
        assert jobs == attempts_by(stand, proc.pid)

    # the shared queue, read at scrape time, and the process itself
    for samples in after:
        assert value(samples, "gateway_database_up") == 1
        assert value(samples, "gateway_queue_jobs", state="queued") == 0
        assert value(samples, "gateway_queue_jobs", state="dead") == 0
        assert value(samples, "process_resident_memory_bytes") > 0
        assert ("gateway_queue_oldest_job_age_seconds", frozenset()) in samples
    # the endpoint serves /metrics and /healthz, nothing else
    assert requests.get(workers[0][1] + "/console", timeout=5).status_code == 404
    # nothing was accepted by the workers: the request counters are the node's
    assert not any(name == "gateway_requests_total" for s in after for (name, _) in s)


@pytest.mark.postgres
def test_retries_and_dead_letters_are_counted_where_they_happen(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A job whose handler cannot take its lock: retried once, then dead-lettered."""
    stand = make_stand(tmp_path, database_url(request, "postgresql", tmp_path, "hcs_gateway_wm"))
    try:
        _retry_then_dead(stand)
    finally:
        stand.stop_all()


def _retry_then_dead(stand: Stand) -> None:
    node, _ = stand.node(workers=1, env=_data_dir(stand))
    proc, metrics_url = start_worker(
        stand,
        concurrency=1,
        env={"GATEWAY_WORKER_MAX_ATTEMPTS": "2", "GATEWAY_DATABASE_LOCK_TIMEOUT_MS": "300"},
    )
    before = scrape(metrics_url)
    with stand.db.connect() as blocker:
        # a real transient failure: the house import cannot lock its table (lock timeout)
        blocker.execute(text("LOCK TABLE houses IN ACCESS EXCLUSIVE MODE"))
        message_guid = accept(node, stand.packet(flats=1)[1])
        wait_until(
            lambda: stand.scalar("SELECT count(*) FROM jobs WHERE state = 'dead'") == 1,
            60,
            lambda: f"the job did not go to the dead letter:\n{stand.log_text()}",
        )
        blocker.rollback()
    assert (
        stand.scalar("SELECT state FROM packets WHERE message_guid = :g", g=message_guid) == "dead"
    )
    assert attempts_by(stand, proc.pid) == 2

    after: list[Samples] = [before]

    def caught_up() -> bool:
        after[0] = scrape(metrics_url)
        return value(after[0], "gateway_job_failures_total", action="dead") >= 1

    wait_until(
        caught_up,
        30,
        lambda: (
            "the dead letter was not counted: "
            + str({k: v for k, v in after[0].items() if k[0] == "gateway_job_failures_total"})
        ),
    )

    def delta(name: str, **labels: str) -> float:
        return value(after[0], name, **labels) - value(before, name, **labels)

    assert delta("gateway_job_failures_total", action="retry") == 1
    assert delta("gateway_job_failures_total", action="dead") == 1
    assert delta("gateway_processing_seconds_count", **OP, outcome="retry") == 2
    assert delta("gateway_processing_seconds_count", **OP, outcome="processed") == 0
    assert total(after[0], "gateway_items_total") == 0
    assert value(after[0], "gateway_queue_jobs", state="dead") == 1


def test_worker_refuses_a_metrics_bind_it_cannot_serve(tmp_path: Path) -> None:
    """A malformed HOST:PORT is a usage error; a port already taken stops the worker."""

    def worker(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gateway.cli", "worker", *args, "--data-dir", str(tmp_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    malformed = worker("--metrics-bind", "localhost")
    assert malformed.returncode == 2
    assert "not HOST:PORT" in malformed.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = worker("--metrics-bind", f"127.0.0.1:{port}")
    assert busy.returncode == 2  # a usage error, like every refusal of the CLI
    assert f"cannot serve metrics on 127.0.0.1:{port}" in busy.stderr
