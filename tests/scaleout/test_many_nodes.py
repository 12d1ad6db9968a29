"""Two accepting nodes and two worker processes on one PostgreSQL: every packet exactly once."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.stand import Stand, send

pytestmark = pytest.mark.postgres

PACKETS = 500


def test_two_nodes_and_two_workers_process_500_packets_exactly_once(pg_stand: Stand) -> None:
    stand = pg_stand
    nodes = [stand.node(workers=1)[0], stand.node(workers=1)[0]]
    workers = [stand.worker(concurrency=2), stand.worker(concurrency=1)]
    packets = [stand.packet(flats=1) for _ in range(PACKETS)]
    targets = itertools.cycle(nodes)
    jobs = [(next(targets), guid, raw) for guid, raw in packets]

    def deliver(job: tuple[str, str, bytes]) -> tuple[str, int, str | None]:
        url, guid, raw = job
        status, message_guid, _ = send(url, raw)
        return guid, status, message_guid

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(deliver, jobs))
    assert all(status == 200 and mg for _, status, mg in answers), [
        a for a in answers if a[1] != 200
    ][:3]

    stand.wait_processed(PACKETS, timeout=120)
    stand.assert_each_processed_exactly_once({guid for guid, _ in packets}, flats=1)
    # one attempt each, and both worker processes took a share of the work
    assert stand.scalar("SELECT max(attempts) FROM jobs") == 1
    pids = {
        detail.split(" by ", 1)[1].split(":")[1]
        for (detail,) in stand.rows("SELECT detail FROM packet_events WHERE event = 'attempt'")
    }
    assert pids == {str(w.pid) for w in workers}
    # getState on either node sees the outcome of a packet accepted by the other
    assert stand.get_state(nodes[1], answers[0][2] or "") == "3"
    assert stand.get_state(nodes[0], answers[1][2] or "") == "3"
