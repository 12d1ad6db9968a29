"""The ops stand: a real gateway (2 gunicorn workers, in-process queue workers) whose packets
went every way a packet can go — processed, processed with item errors, failed, rejected —
through the real server, with one operator login.

Failures are real: the stand runs with ``max_attempts = 1`` and the tests break the data the
way a bad manual fix or a half-applied maintenance would (a device row with a kind this
version does not know makes the export handler fail; a trigger makes inserts fail), then
repair it, as ops would before replaying.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
import requests

from tests.e2e.contract_data import place_contract
from tests.e2e.house_data import new_apartment_house
from tests.e2e.metering_data import (
    collective_water_device,
    devices_request,
    values_request,
    water_reading,
)
from tests.gis_client import HM, GisClient
from tests.paths import DM_PATH, HM_PATH
from tests.stand import Stand, make_stand

OPERATOR, OPERATOR_PASSWORD = "duty-ops", "correct horse battery staple"
TODAY = date.today()


@dataclass
class OpsStand(Stand):
    """The stand (one management company on SQLite) and the packets it went through."""

    hm: GisClient | None = None
    dm: GisClient | None = None
    fias: str = ""
    water: str = ""  # MeteringDeviceRootGUID of the house's cold-water meter
    #: MessageGUID -> what it is
    processed: str = ""
    with_item_errors: str = ""
    failed: list[str] = field(default_factory=list)
    rejected: str = ""
    script_rejected: str = ""
    #: the exact bytes the client sent for ``processed``
    processed_bytes: bytes = b""
    sent: list[bytes] = field(default_factory=list)

    def state(self, message_guid: str) -> str:
        return self.packet_state(message_guid)

    # --- traffic ---------------------------------------------------------------------------

    def import_house(self, flats: int = 2, fias: str | None = None) -> tuple[str, str]:
        """(MessageGUID, FIAS GUID) of a processed house import of a house the company
        manages by a placed contract (placed here unless ``fias`` is given)."""
        if fias is None:
            fias = str(uuid.uuid4())
            place_contract(self.hm, fias)
        guid = self.hm.ack_guid(
            self.hm.call("importHouseUOData", **new_apartment_house(fias, flats=flats))
        )
        self.hm.wait(guid)
        return guid, fias

    def export_devices(self) -> str:
        return self.hm.ack_guid(
            self.hm.call("exportMeteringDeviceData", version="14.8.0.1", FIASHouseGuid=self.fias)
        )

    def readings(self, *items: dict[str, Any]) -> str:
        return self.dm.ack_guid(
            self.dm.call("importMeteringDeviceValues", **values_request(list(items)))
        )

    def break_device(self) -> None:
        """A device row with a kind this version does not know (the export handler fails)."""
        self.sql("UPDATE metering_devices SET kind = 'retired-kind' WHERE guid = ?", self.water)

    def repair_device(self) -> None:
        self.sql("UPDATE metering_devices SET kind = 'collective' WHERE guid = ?", self.water)


def _capture(client: GisClient, into: list[bytes]) -> None:
    def keep(response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        if response.request.method == "POST":
            body = response.request.body
            into.append(body if isinstance(body, bytes) else str(body).encode())

    client.session.hooks["response"].append(keep)


@pytest.fixture(scope="session")
def ops_stand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpsStand]:
    orgs = {"uo": ("0a1b2c3d-0000-4000-8000-0000000000f1", "uo", "UK Ops")}
    stand = make_stand(tmp_path_factory.mktemp("ops"), orgs=orgs, stand_class=OpsStand)
    assert isinstance(stand, OpsStand)
    try:
        stand.cli("operators", "add", OPERATOR, "--password", OPERATOR_PASSWORD)
        server = stand.serve(
            {
                "GATEWAY_WORKER_MAX_ATTEMPTS": "1",
                "GATEWAY_WORKER_RETRY_BACKOFF_SECONDS": "0.1",
                "GATEWAY_LOGGING_FORMAT": "json",
            },
            workers=2,
        )
        org = stand.org
        stand.hm = GisClient(server.endpoint(HM_PATH) + "?wsdl", org, password=org.password)
        stand.dm = GisClient(server.endpoint(DM_PATH) + "?wsdl", org, password=org.password)
        _capture(stand.hm, stand.sent)
        _make_packets(stand)
        yield stand
    finally:
        stand.stop_all()


def _make_packets(stand: OpsStand) -> None:
    hm = stand.hm
    fias = str(uuid.uuid4())
    place_contract(hm, fias)
    sent_before = len(stand.sent)
    stand.processed, stand.fias = stand.import_house(fias=fias)
    stand.processed_bytes = stand.sent[sent_before]
    devices = hm.wait(
        hm.ack_guid(
            hm.call(
                "importMeteringDeviceData",
                **devices_request(
                    stand.fias, [collective_water_device(stand.fias, "OPS-1", base="100")]
                ),
            )
        )
    )
    stand.water = devices["ImportResult"][0]["CommonResult"][0]["importMeteringDevice"][
        "MeteringDeviceGUID"
    ]
    # processed, one item refused by a business rule (a reading dated in the future)
    stand.with_item_errors = stand.readings(
        water_reading(stand.water, "110", TODAY - timedelta(days=3)),
        water_reading(stand.water, "111", TODAY + timedelta(days=5)),
    )
    stand.dm.wait(stand.with_item_errors)
    # failed: the export handler meets a device row it cannot render
    stand.break_device()
    try:
        stand.failed = [stand.export_devices(), stand.export_devices()]
        for guid in stand.failed:
            stand.wait_state(guid, "failed")
    finally:
        stand.repair_device()
    # rejected: the signed body was changed after signing
    hm.plugin.tamper = lambda env: setattr(env.find(f".//{{{HM}}}FloorCount"), "text", "99")
    try:
        hm.call("importHouseUOData", **new_apartment_house(str(uuid.uuid4()), flats=1))
    except Exception:
        pass
    finally:
        hm.plugin.tamper = None
    stand.rejected = _latest(stand, "rejected")
    # rejected: not XML at all, and hostile to a careless HTML page
    requests.post(
        stand.url + HM_PATH,
        data=b"<script>alert('owned')</script><b>bold</b>",
        headers={"Content-Type": "text/xml"},
        timeout=10,
    )
    stand.script_rejected = _latest(stand, "rejected")


def _latest(stand: OpsStand, state: str) -> str:
    return stand.sql(
        "SELECT message_guid FROM packets WHERE state = ? ORDER BY id DESC LIMIT 1", state
    )[0][0]
