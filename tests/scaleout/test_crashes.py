"""kill -9 of a worker mid-packet and of a node mid-burst, on one PostgreSQL database."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from lxml import etree
from sqlalchemy import text

from tests.scaleout.conftest import Sent, Stand, send, wait_until

pytestmark = pytest.mark.postgres

BIG = 1500  # flats in the packet the worker is killed in the middle of


def _writing_and_waiting(stand: Stand, pid: int) -> bool:
    """The worker process is inside its processing transaction (it has written) and waits for
    a lock: in the middle of a packet, whatever the machine's speed."""
    rows = stand.rows(
        "SELECT 1 FROM pg_stat_activity WHERE application_name = :name"
        " AND backend_xid IS NOT NULL AND wait_event_type = 'Lock'",
        name=f"hcs-gateway worker {pid}",
    )
    return bool(rows)


def test_worker_killed_mid_packet_is_taken_over_once_after_its_lease(pg_stand: Stand) -> None:
    stand = pg_stand
    node, _ = stand.node()
    big_guid, big = stand.packet(flats=BIG)
    small = [stand.packet(flats=2) for _ in range(5)]
    assert send(node, big)[0] == 200
    for _, raw in small:
        assert send(node, raw)[0] == 200

    # the premises are locked, so the worker stops in the middle of the packet: it has
    # claimed the job and written, and waits to write the flats
    blocker = stand.db.connect()
    blocker.execute(text("LOCK TABLE premises IN EXCLUSIVE MODE"))
    victim = stand.worker()
    try:
        wait_until(
            lambda: _writing_and_waiting(stand, victim.pid),
            60,
            lambda: f"the worker never got into the big packet\n{stand.log_text()}",
        )
        stand.kill9(victim)
        killed_at = time.monotonic()
    finally:
        blocker.rollback()
        blocker.close()

    # nothing of the interrupted import is visible; the job is still leased to the dead worker
    assert stand.scalar("SELECT count(*) FROM houses") == 0
    assert stand.rows("SELECT state, attempts FROM jobs ORDER BY id LIMIT 1") == [("running", 1)]

    stand.worker()  # the restart: takes the job over once the 3 s lease has expired
    stand.wait_processed(6, timeout=90)
    assert time.monotonic() - killed_at > 1.5, "the job was taken over before its lease expired"

    rows = stand.rows(
        "SELECT p.requester_message_guid, p.state, j.attempts,"
        " (SELECT count(*) FROM packet_events e WHERE e.packet_id = p.id"
        "   AND e.event = 'processed')"
        " FROM packets p JOIN jobs j ON j.packet_id = p.id ORDER BY p.id"
    )
    assert rows[0] == (big_guid, "processed", 2, 1)
    assert all(r[1:] == ("processed", 1, 1) for r in rows[1:])
    assert stand.scalar("SELECT count(*) FROM houses") == 6
    assert stand.scalar("SELECT count(*) FROM premises") == BIG + 2 * 5
    result = stand.scalar(
        "SELECT result_xml FROM packets WHERE requester_message_guid = :g", g=big_guid
    )
    assert "Error" not in str(result)
    # every flat and the house has its result once
    assert len(etree.fromstring(str(result)).findall(".//{*}UniqueNumber")) == BIG + 1


def test_node_killed_during_a_burst_loses_no_acknowledged_packet(pg_stand: Stand) -> None:
    stand = pg_stand
    doomed, doomed_proc = stand.node(workers=2)
    stand.worker(concurrency=2)
    sent = Sent()
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            guid, raw = stand.packet(flats=2)
            try:
                status, message_guid, code = send(doomed, raw, timeout=10)
            except requests.RequestException:  # refused, timed out, or cut off mid-answer
                with sent.lock:
                    sent.unacked[guid] = raw
                continue
            with sent.lock:
                if status == 200 and message_guid:
                    sent.acked[guid] = message_guid
                else:
                    sent.unacked[guid] = raw
                    sent.faults.append((status, code or ""))

    clients = [threading.Thread(target=client) for _ in range(6)]
    for c in clients:
        c.start()
    try:
        wait_until(lambda: len(sent.acked) >= 60, 60, "the burst did not get going")
        stand.kill9(doomed_proc)  # master and its two gunicorn workers, mid-request
        time.sleep(0.5)
    finally:
        stop.set()
        for c in clients:
            c.join(30)
    assert sent.unacked, "the kill interrupted no request; the test proved nothing"

    # acknowledged: stored and processed; not acknowledged: absent, or stored complete
    # (a packet whose commit went through just before the kill) and processed like any other
    stored = {
        guid: state
        for guid, state in stand.rows(
            "SELECT p.requester_message_guid, j.state FROM packets p"
            " JOIN jobs j ON j.packet_id = p.id WHERE p.state != 'rejected'"
        )
    }
    assert set(sent.acked) <= set(stored), "an acknowledged packet is missing"
    assert set(stored) <= set(sent.acked) | set(sent.unacked)
    orphans = stand.scalar(
        "SELECT count(*) FROM packets p WHERE p.state != 'rejected'"
        " AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.packet_id = p.id)"
    )
    assert orphans == 0, "a packet was stored without its queue job"

    # the client resends what got no answer (same MessageGUID) to a surviving node
    survivor, _ = stand.node()
    for guid, raw in sent.unacked.items():
        status, message_guid, code = send(survivor, raw)
        assert status == 200 and message_guid, (status, code)
        sent.acked[guid] = message_guid
    stand.wait_processed(len(sent.acked), timeout=90)
    stand.assert_each_processed_exactly_once(set(sent.acked), flats=2)
