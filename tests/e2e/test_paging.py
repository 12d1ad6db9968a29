"""Paged exports end to end (persistence/paging.py): a client pages through payment notices
with exportNotificationsOfOrderExecutionPaginal while a bank keeps posting new ones; every
notice that existed when paging began comes exactly once, none twice, and every answer is
valid under the published schema."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from tests.conftest import REFERENCE
from tests.e2e.flows import accounts, ok, place, run
from tests.e2e.payment_data import document, import_notices, notice, tg
from tests.gis_client import GisClient, fault_code, recording
from tests.paths import BILLS_PATH, HM_PATH, PAYMENT_PATH

PAGE = 100  # the smallest PageSize the format allows


def _client(stand: Any, who: str, path: str) -> GisClient:
    org = stand["orgs"][who]
    return GisClient(stand["server"].endpoint(path) + "?wsdl", org, password=org.password)


def _post(bank: GisClient, pd_id: str, count: int) -> set[str]:
    posted: set[str] = set()
    for start in range(0, count, 250):
        batch = [notice(100, pd_id=pd_id) for _ in range(min(250, count - start))]
        posted |= {
            r["GUID"]
            for r in ok(run(bank, "importNotificationsOfOrderExecution", import_notices(*batch)))
        }
    return posted


def _page(bills: GisClient, unified: str, after: str | None) -> tuple[list[str], str | None]:
    request: dict[str, Any] = {
        "version": "10.0.1.1",
        "SupplierIDs": {"UnifiedAccountNumber": unified},
        "PageSize": PAGE,
    }
    if after is not None:
        request["ExportNotificationsOfOrderExecutionGUID"] = after
    state = run(bills, "exportNotificationsOfOrderExecutionPaginal", request)
    assert state["ErrorMessage"] is None, state["ErrorMessage"]
    notices = [
        n["NotificationsOfOrderExecutionGUID"]
        for block in state["exportNotificationsOfOrderExecutionResult"]
        for n in block["NotificationOfOrderExecutionWithStatus"]
    ]
    return notices, state["ExportNotificationsOfOrderExecutionGUID"]


def test_notices_are_paged_once_each_while_new_ones_arrive(stand: Any) -> None:
    hm = _client(stand, "uo", HM_PATH)
    bills, bank = _client(stand, "uo", BILLS_PATH), _client(stand, "bank", PAYMENT_PATH)
    received = recording(bills)
    (account,) = accounts(hm, 1)
    key = tg()
    (placed,) = place(bills, 2024, 5, document(account["GUID"], key), key=key)
    before = _post(bank, placed["UniqueNumber"], 2 * PAGE + 30)

    seen: list[str] = []
    pages, after, arrived = 0, None, set()
    while True:
        page, after = _page(bills, account["UniqueNumber"], after)
        assert len(page) <= PAGE
        seen += page
        pages += 1
        if after is None:
            break
        arrived |= _post(bank, placed["UniqueNumber"], 25)  # between two pages
    assert pages >= 3
    assert len(seen) == len(set(seen)), "a notice was answered on two pages"
    assert before <= set(seen), "a notice that existed before paging was skipped"
    assert set(seen) <= before | arrived

    # the first page of exportNotificationsOfOrderExecution is the Paginal one of 1000
    state = run(
        bills,
        "exportNotificationsOfOrderExecution",
        {"version": "10.0.1.1", "SupplierIDs": {"UnifiedAccountNumber": account["UniqueNumber"]}},
    )
    assert state["ExportNotificationsOfOrderExecutionGUID"] is None  # fewer than 1000
    if REFERENCE.exists():
        schema = etree.XMLSchema(etree.parse(str(REFERENCE / "bills" / "hcs-bills-types.xsd")))
        for result in received.results:
            assert schema.validate(result), str(schema.error_log)


def test_a_page_size_outside_the_format_is_refused(stand: Any) -> None:
    from zeep.exceptions import Fault

    bills = _client(stand, "uo", BILLS_PATH)
    request = {
        "version": "10.0.1.1",
        "SupplierIDs": {"UnifiedAccountNumber": "1234567890"},
        "PageSize": 5000,
    }
    with pytest.raises(Fault) as fault:
        bills.call("exportNotificationsOfOrderExecutionPaginal", **request)
    assert fault_code(fault.value) == "FMT001301"
