"""Issue 14 part 5: per-organisation limits and failed-login throttling, shared by every
process and node through the database; a request past a limit gets the retryable Fault
EXP002001 with a Retry-After (never a 500 of ours), a throttled login 429 AUT011000."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from lxml import etree
from sqlalchemy import Engine, select, text
from zeep.exceptions import Fault

from gateway.client import envelope
from gateway.config import LimitSettings
from gateway.errors import LimitExceeded
from gateway.limits import in_progress, state_slots, too_many_in_progress
from gateway.namespaces import BASE, qname
from gateway.runtime import Runtime
from gateway.worker import Worker
from persistence import limits as counts
from persistence import packets
from persistence.accept_sql import Counting, slot_taken
from persistence.limits import FileSlots, hit, slot_base
from persistence.models import RateCounter
from signing import pki, sign
from tests.e2e.house_data import export_request
from tests.gis_client import GisClient, fault_code
from tests.security.splitting import example, serialize
from tests.stand import (
    STORES,
    gateway_cli,
    migrated_engine,
    new_packet,
    register_org,
    runtime_on,
    side_server,
    start_server,
    stop_server,
)

HM_PATH = "/ext-bus-home-management-service/services/HomeManagementAsync"
OPERATION = "exportHouseData"
WINDOW = 86400  # failed logins: a window no test straddles unless run at midnight UTC


def _post(url: str, data: bytes, action: str, **kwargs) -> requests.Response:  # type: ignore[no-untyped-def]
    return requests.post(
        url + HM_PATH,
        data=data,
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f"urn:{action}"},
        timeout=30,
        **kwargs,
    )


def _fault(response: requests.Response) -> tuple[str, str]:
    root = etree.fromstring(response.content)
    return (
        root.findtext(f".//{qname(BASE, 'ErrorCode')}") or "",
        root.findtext(f".//{qname(BASE, 'ErrorMessage')}") or "",
    )


def _packet(org) -> bytes:  # type: ignore[no-untyped-def]
    element = example(OPERATION)
    env = envelope(element, org.guid)
    sign(element, pki.load_private_key(org.key), pki.load_certificate(org.cert))
    return serialize(env)


def _get_state(org_guid: str) -> bytes:
    request = etree.Element(qname(BASE, "getStateRequest"), nsmap={"base": BASE})
    etree.SubElement(request, qname(BASE, "MessageGUID")).text = str(uuid.uuid4())
    return serialize(envelope(request, org_guid))


def _start_of_a_minute() -> None:
    """Wait (at most 15 s) when the current minute is about to end, so that a few quick
    requests fall in one per-minute window."""
    second = datetime.now(UTC).second
    if second > 45:
        time.sleep(61 - second)


@pytest.fixture(scope="module")
def nodes(stand, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Two more nodes on the stand's database, with small limits."""
    base = tmp_path_factory.mktemp("limits")
    settings = {
        "limits_packets_per_minute": "3",
        "limits_failed_logins_per_name": "3",
        "limits_failed_logins_per_address": "1000",
        "limits_failed_login_window_seconds": str(WINDOW),
    }
    with (
        side_server(stand, base / "a", workers=2, **settings) as a,
        side_server(stand, base / "b", workers=1, **settings) as b,
    ):
        yield a, b


@pytest.fixture
def new_org(stand, tmp_path: Path):  # type: ignore[no-untyped-def]
    """An organisation of its own, so that its counts start at zero."""
    return register_org(stand["data_dir"], stand["pki"], str(uuid.uuid4()), "uo", "Limited")


def test_packets_per_minute_are_counted_across_nodes(nodes, new_org) -> None:  # type: ignore[no-untyped-def]
    a, b = nodes
    _start_of_a_minute()
    answers = [_post(node.url, _packet(new_org), OPERATION) for node in (a, b, a, b, a)]
    accepted = [r for r in answers if r.status_code == 200]
    refused = [r for r in answers if r.status_code != 200]
    assert len(accepted) == 3, [r.text[:300] for r in answers]
    for response in refused:
        code, message = _fault(response)
        assert (response.status_code, code) == (503, "EXP002001")
        assert "more than 3 packets this minute" in message
        assert 1 <= int(response.headers["Retry-After"]) <= 60
    # zeep reads the Fault from the 503 like any other
    client = GisClient(b.url + HM_PATH + "?wsdl", new_org)
    with pytest.raises(Fault) as refused:
        client.call(OPERATION, **export_request(str(uuid.uuid4())))
    assert fault_code(refused.value) == "EXP002001"


def test_failed_logins_are_counted_across_nodes_and_then_refused_unchecked(  # type: ignore[no-untyped-def]
    stand, nodes, new_org
) -> None:
    a, b = nodes
    wrong = (new_org.guid, "not-the-password")
    for node in (a, b, a):
        response = _post(node.url, _get_state(new_org.guid), "getState", auth=wrong)
        assert (response.status_code, _fault(response)[0]) == (401, "AUT011000")
    right = (new_org.guid, new_org.password)
    response = _post(b.url, _get_state(new_org.guid), "getState", auth=right)
    code, message = _fault(response)
    assert (response.status_code, code) == (429, "AUT011000")
    assert "Too many failed logins" in message and int(response.headers["Retry-After"]) > 0
    # another organisation from the same address is not affected
    uo = stand["orgs"]["uo"]
    other = _post(a.url, _get_state(uo.guid), "getState", auth=(uo.guid, uo.password))
    assert _fault(other)[0] == "INT002013"


def test_the_queue_limit_refuses_once_the_organisation_has_enough_waiting(  # type: ignore[no-untyped-def]
    stand, tmp_path: Path
) -> None:
    """A node without queue workers of its own database: packets stay waiting."""
    data_dir = tmp_path / "data"
    gateway_cli("trust", "add", str(stand["pki"] / "ca" / "ca.pem"), "--data-dir", str(data_dir))
    org = register_org(data_dir, stand["pki"], str(uuid.uuid4()), "uo", "Queued")
    server = start_server(
        data_dir,
        {"GATEWAY_SERVER_RUN_WORKER": "false", "GATEWAY_LIMITS_QUEUED_PACKETS": "2"},
    )
    try:
        answers = [_post(server.url, _packet(org), OPERATION) for _ in range(3)]
        assert [r.status_code for r in answers] == [200, 200, 503]
        code, message = _fault(answers[2])
        assert code == "EXP002001" and "packets waiting to be processed" in message
        assert answers[2].headers["Retry-After"] == "30"
    finally:
        stop_server(server)


@contextmanager
def _in_progress(rt: Runtime, settings: LimitSettings, org: str) -> Iterator[None]:
    """One request of ``org`` in progress, as getState holds it (gateway.accept): SQLite's
    file slot around it, or the slot its PostgreSQL statement takes, held to the end of the
    block's transaction."""
    with in_progress(rt.request_slots, settings, org), rt.read_engine.connect() as conn:
        read = packets.state_lookup(
            conn, str(uuid.uuid4()), state_slots(settings, org, rt.request_slots)
        )
        if read.busy:
            raise too_many_in_progress(settings, org)
        yield


@pytest.fixture(params=STORES)
def slots_runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Runtime:
    return runtime_on(request, request.param, tmp_path)


def test_state_lookup_reads_failed_logins_beside_the_packet(slots_runtime: Runtime) -> None:
    """getState's one statement: the caller's failed-login counts of the current window
    (0 for a key without a row, other windows not counted) with the packet it asks for."""
    rt, window = slots_runtime, 1_800_000_000
    name, address = "login:basic:" + str(uuid.uuid4()), "login:addr:192.0.2.7"
    with rt.session.begin() as session:
        counts.hit(session, name, window, by=2)
        counts.hit(session, address, window - 600)
    with rt.read_engine.connect() as conn:
        read = packets.state_lookup(conn, str(uuid.uuid4()), None, [name, address], window)
    assert read.failed_logins == {name: 2, address: 0}
    assert read.packet is None and not read.busy and read.generation >= 0


def test_concurrent_requests_hold_slots(slots_runtime: Runtime) -> None:
    rt, settings, org = slots_runtime, LimitSettings(concurrent_requests=2), str(uuid.uuid4())
    with _in_progress(rt, settings, org), _in_progress(rt, settings, org):
        with (
            pytest.raises(LimitExceeded, match="more than 2 requests in progress") as refused,
            _in_progress(rt, settings, org),
        ):
            pass
        assert refused.value.retry_after == 1
        with _in_progress(rt, settings, str(uuid.uuid4())):  # another organisation
            pass
    with _in_progress(rt, settings, org), _in_progress(rt, settings, org):
        pass  # the slots were given back


def test_threads_of_one_process_take_different_file_slots(tmp_path: Path) -> None:
    """POSIX record locks belong to the process: FileSlots keeps its threads apart itself."""
    slots, org = FileSlots(tmp_path / "slots"), str(uuid.uuid4())
    taken: list[int | None] = []
    threads = [threading.Thread(target=lambda: taken.append(slots.take(org, 3))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert taken.count(None) == 1 and len({slot for slot in taken if slot is not None}) == 3
    slots.close()


@pytest.fixture
def postgres_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from migrated_engine(request, "postgresql", tmp_path)


def test_accept_statement_writes_nothing_when_every_slot_is_held(postgres_engine: Engine) -> None:
    """PostgreSQL: the accept statement takes the slot itself; without one it stores no
    packet, job, event or count."""
    org = str(uuid.uuid4())
    counting = Counting(rate=(f"packets:{org}", 0), pending=True, slots=(slot_base(org), 1))
    new = new_packet(org)
    with postgres_engine.connect() as holder, postgres_engine.connect() as conn:
        holder.execute(slot_taken(), {"slot_base": slot_base(org), "slots": 1})  # the one slot
        outcome = packets.accept(conn, new, counting)
        assert outcome.status == "busy" and outcome.stored.busy
        assert conn.execute(text("SELECT count(*) FROM packets")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM rate_counters")).scalar() == 0
        conn.rollback()
        holder.rollback()  # gives the slot back
        outcome = packets.accept(conn, new, counting)
        assert outcome.status == "new" and outcome.stored.pending == 1
        conn.rollback()


_HOLDER = """
import sys, time
from gateway.config import LimitSettings, Settings
from gateway.runtime import Runtime
from tests.security.test_limits import _in_progress

rt = Runtime(Settings(data_dir=sys.argv[1], database_url=sys.argv[2]), create_tables=False)
settings = LimitSettings(concurrent_requests=2)
with _in_progress(rt, settings, sys.argv[3]), _in_progress(rt, settings, sys.argv[3]):
    print("held", flush=True)
    time.sleep(600)
"""


def test_the_limit_holds_across_processes_and_a_killed_ones_slots_free(
    slots_runtime: Runtime, tmp_path: Path
) -> None:
    rt, settings, org = slots_runtime, LimitSettings(concurrent_requests=2), str(uuid.uuid4())
    url = rt.settings.resolved_database_url
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path), url, org],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        with pytest.raises(LimitExceeded), _in_progress(rt, settings, org):
            pass  # the other process holds both slots
    finally:
        holder.kill()  # SIGKILL: nothing of it runs again
        holder.wait()
    deadline = time.monotonic() + 60  # PostgreSQL ends the dead client's backend on its EOF
    while True:
        try:
            with _in_progress(rt, settings, org), _in_progress(rt, settings, org):
                break
        except LimitExceeded:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_workers_forget_the_counters_of_old_windows(slots_runtime: Runtime) -> None:
    """Old windows' counters are deleted by the workers' housekeeping, not by an accept."""
    rt, now = slots_runtime, int(time.time())
    with rt.session.begin() as session:
        hit(session, "packets:old", now - 2 * 86400)
        hit(session, "packets:today", now)
    Worker(rt)._keep_house()
    with rt.session() as session:
        assert list(session.scalars(select(RateCounter.key))) == ["packets:today"]


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _console_login(url: str, login: str, password: str) -> requests.Response:
    session = requests.Session()
    page = session.get(url + "/console/login", timeout=30)
    match = CSRF.search(page.text)
    assert match, page.text
    return session.post(
        url + "/console/login",
        data={"csrf": match.group(1), "login": login, "password": password},
        headers={"Origin": url},
        allow_redirects=False,
        timeout=30,
    )


def test_console_logins_are_throttled_across_nodes(stand, nodes) -> None:  # type: ignore[no-untyped-def]
    a, b = nodes
    login, password = f"ops-{uuid.uuid4().hex[:8]}", "a-long-enough-password-1"
    gateway_cli(
        "operators", "add", login, "--password", password, "--data-dir", str(stand["data_dir"])
    )
    for node in (a, b, a):
        wrong = _console_login(node.url, login, "guess")
        assert wrong.status_code == 401, wrong.text
    throttled = _console_login(b.url, login, password)  # right, but too late
    assert throttled.status_code == 429 and "Too many failed attempts" in throttled.text
