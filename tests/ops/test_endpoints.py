"""/healthz, /readyz, /metrics after known traffic, and the JSON logs of a packet's life."""

from __future__ import annotations

import json
import time
import uuid

import requests
from zeep.exceptions import Fault

from tests.e2e.house_data import new_apartment_house
from tests.gis_client import HM
from tests.ops.conftest import OpsStand
from tests.ops.samples import scrape, value


def test_health_and_readiness(ops_stand: OpsStand) -> None:
    health = requests.get(ops_stand.url + "/healthz", timeout=5)
    assert (health.status_code, health.text) == (200, "ok\n")
    ready = requests.get(ops_stand.url + "/readyz", timeout=5)
    assert ready.status_code == 200 and ready.headers["Content-Type"] == "application/json"
    body = ready.json()
    assert body["ready"] is True
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "schemas": True,
        "queue": True,
    }


def test_metrics_count_known_traffic_over_all_worker_processes(ops_stand: OpsStand) -> None:
    before = scrape(ops_stand.url)
    guid, _ = ops_stand.import_house(flats=1)
    (result_xml,) = ops_stand.sql("SELECT result_xml FROM packets WHERE message_guid = ?", guid)[0]
    items = result_xml.count("TransportGUID>") // 2
    hm = ops_stand.hm
    hm.plugin.tamper = lambda env: setattr(env.find(f".//{{{HM}}}FloorCount"), "text", "98")
    try:
        hm.call("importHouseUOData", **new_apartment_house(str(uuid.uuid4()), flats=1))
        raise AssertionError("a tampered packet was accepted")
    except Fault:
        pass
    finally:
        hm.plugin.tamper = None

    op = {"service": "house-management", "operation": "importHouseUOData"}
    deadline = time.monotonic() + 10
    while True:  # the worker counts a job just after its commit
        after = scrape(ops_stand.url)
        done = value(after, "gateway_processing_seconds_count", **op, outcome="processed")
        if (
            done - value(before, "gateway_processing_seconds_count", **op, outcome="processed") >= 1
            or time.monotonic() > deadline
        ):
            break
        time.sleep(0.2)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("gateway_requests_total", **op, outcome="accepted", fault_code="") == 1
    assert delta("gateway_requests_total", **op, outcome="fault", fault_code="AUT011005") == 1
    assert delta("gateway_signature_failures_total", reason="digest-mismatch") == 1
    assert delta("gateway_accept_seconds_count", **op) == 2
    assert delta("gateway_items_total", **op, result="ok") == items > 0
    assert delta("gateway_processing_seconds_count", **op, outcome="processed") == 1
    assert delta("gateway_packet_latency_seconds_count", **op) == 1
    polls = delta(
        "gateway_requests_total",
        service="house-management",
        operation="getState",
        outcome="state",
        fault_code="",
    )
    assert polls >= 1
    # from the setup: a failed export, and a reading refused by a business rule
    failed = {"service": "house-management", "operation": "exportMeteringDeviceData"}
    assert value(after, "gateway_processing_seconds_count", **failed, outcome="failed") >= 2
    assert (
        value(
            after,
            "gateway_item_errors_total",
            operation="importMeteringDeviceValues",
            code="HCS002003",
        )
        >= 1
    )
    assert value(after, "gateway_database_up") == 1
    for state in ("queued", "running", "dead"):
        assert ("gateway_queue_jobs", frozenset({("state", state)})) in after
    assert ("gateway_queue_oldest_job_age_seconds", frozenset()) in after
    assert ("gateway_queue_ready_wait_seconds", frozenset()) in after


def test_logs_are_json_lines_carrying_the_packet_identity(ops_stand: OpsStand) -> None:
    text = ops_stand.server.log.read_text()
    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert records, "no JSON log lines"
    org = ops_stand.org.guid
    failed = ops_stand.failed[-1]
    life = [r for r in records if r.get("MessageGUID") == failed]
    events = [r["event"] for r in life]
    assert events[0] == "packet accepted"
    assert "processing packet" in events and "packet failed" in events
    handler_error = next(r for r in life if r["event"].startswith("handler "))
    assert "KeyError" in handler_error["exception"]
    assert all(r["orgPPAGUID"] == org for r in life)
    # every JSON line that mentions the packet carries its identity as a field (gunicorn's
    # access lines name it only in the path of a console page)
    mentioning = [
        r for r in records if failed in json.dumps(r) and r.get("logger") != "gunicorn.access"
    ]
    assert all(r.get("MessageGUID") == failed for r in mentioning)
    refused = [r for r in records if r.get("fault_code") == "AUT011005"]
    assert refused and all(r["orgPPAGUID"] == org and r["RequesterMessageGUID"] for r in refused)
    # no secrets, no packets
    assert ops_stand.org.password not in text
    assert "SignatureValue" not in text and "Envelope" not in text
    # gunicorn's own lines are JSON too: its error log and its access log
    loggers = {r["logger"] for r in records}
    assert {"gunicorn.error", "gunicorn.access"} <= loggers
    assert all(line.startswith("{") for line in text.splitlines() if line.strip())
