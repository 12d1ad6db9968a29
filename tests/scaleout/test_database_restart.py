"""The database goes away under load: retryable Faults meanwhile, recovery by itself, no loss.

Runs on a private PostgreSQL cluster (initdb + pg_ctl in a temporary directory) so stopping
it disturbs nothing else on the machine.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests

import tests.stand.databases
from tests.stand import Cluster, Sent, make_stand, scratch_database, send, wait_until

pytestmark = pytest.mark.postgres

PACKETS = 60


def test_database_restart_during_load(private_cluster: Cluster, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(tests.stand.databases, "PG_ADMIN_URL", private_cluster.admin_url)
    for url in scratch_database("hcs_gateway_restart"):
        stand = make_stand(tmp_path, url)
        try:
            _restart_under_load(stand, private_cluster)
        finally:
            stand.stop_all()


def _restart_under_load(stand, cluster: Cluster) -> None:  # type: ignore[no-untyped-def]
    # one node that accepts and processes (in-process queue worker), one worker process
    node, node_proc = stand.node(workers=1, queue_worker=True)
    worker = stand.worker()
    sent = Sent()
    packets = [stand.packet(flats=2) for _ in range(PACKETS)]
    queue_lock = threading.Lock()
    todo = list(packets)

    def client() -> None:
        """A well-behaved client: resends a packet (same MessageGUID) until it is acknowledged."""
        while True:
            with queue_lock:
                if not todo:
                    return
                guid, raw = todo.pop()
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                try:
                    status, message_guid, code = send(node, raw, timeout=30)
                except (requests.ConnectionError, requests.Timeout):
                    time.sleep(0.2)
                    continue
                if status == 200 and message_guid:
                    with sent.lock:
                        sent.acked[guid] = message_guid
                    break
                with sent.lock:
                    sent.faults.append((status, code or ""))
                time.sleep(0.2)
            time.sleep(0.05)

    clients = [threading.Thread(target=client) for _ in range(3)]
    for c in clients:
        c.start()
    try:
        wait_until(lambda: len(sent.acked) >= 15, 60, "load did not start")
        cluster.stop("immediate")  # as if the server crashed
        time.sleep(3)
        cluster.start()
    finally:
        for c in clients:
            c.join(120)

    assert len(sent.acked) == PACKETS, f"only {len(sent.acked)} of {PACKETS} acknowledged"
    # meanwhile the gateway said "temporarily unavailable" (and nothing else)
    assert sent.faults, "no request met the outage"
    assert {f for f in sent.faults} == {(500, "EXP002001")}, set(sent.faults)
    assert node_proc.poll() is None, "the node died with the database"
    assert worker.poll() is None, "the worker died with the database"

    stand.wait_processed(PACKETS, timeout=90)
    stand.assert_each_processed_exactly_once({g for g, _ in packets}, flats=2)
    assert stand.get_state(node, next(iter(sent.acked.values()))) == "3"
