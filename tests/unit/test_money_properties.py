"""The money path in-process: the real handlers on real request elements, on SQLite.

A hypothesis state machine places payment documents, withdraws them, posts bank and supplier
notices (reusing order ids), cancels notices, acknowledges (in full, in part, too much, against
the wrong service, by the wrong organisation), marks notices impossible and cancels
acknowledgments, in any order. After every step the invariants of the money path are checked
on the stored rows: no notice is acknowledged beyond its amount, no charge beyond its amount
due, a cancelled notice and a withdrawn document have no active acknowledgment, every
document's paid total (as the export derives it) is exactly the sum of its acknowledgments, and
every accepted acknowledgment moved the sums by exactly its amount in kopecks.

Every request is validated against our XSD before it is handled, and every export answer
(getStateResult) against ours and the published one.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
)
from lxml import etree
from sqlalchemy import func, select

from gateway.config import Settings, load_settings
from gateway.handlers.base import HandlerContext
from gateway.handlers.bills.common import CAPITAL_REPAIR_GUID
from gateway.handlers.bills.export_notifications import export_notifications
from gateway.handlers.bills.export_payment_document import export_payment_document
from gateway.handlers.bills.import_acknowledgment import import_acknowledgment
from gateway.handlers.bills.import_payment_document import import_payment_document
from gateway.handlers.payment.import_cancellations import import_cancellations
from gateway.handlers.payment.import_notices import import_notices
from gateway.handlers.payment.import_supplier_notices import import_supplier_notices
from gateway.namespaces import BASE, BILLS, BILLS_BASE, NSI_BASE, PAYMENT, PAYMENTS_BASE
from gateway.runtime import Runtime
from gateway.state import pack_results
from persistence import accounts as account_repo
from persistence import payments as repo
from persistence.clock import utcnow
from persistence.models import (
    Account,
    AccountPlace,
    PaymentAcknowledgment,
    PaymentCharge,
    PaymentDocument,
    PaymentNotice,
)
from persistence.nsi import shipped_ref
from persistence.payments import format_roubles, roubles, to_kopecks
from tests.placed import managed_house
from tests.stand import REFERENCE, runtime_on

AB = "http://dom.gosuslugi.ru/schema/integration/account-base/"
OB = "http://dom.gosuslugi.ru/schema/integration/organizations-base/"
NSMAP = {
    "b": BILLS,
    "pm": PAYMENT,
    "pb": PAYMENTS_BASE,
    "bb": BILLS_BASE,
    "ab": AB,
    "ob": OB,
    "nsi": NSI_BASE,
    "base": BASE,
}
HOUSING = ("1", shipped_ref(50, "1")["GUID"], "Содержание жилого помещения")
COLD_WATER = ("1", "51000000-0000-4000-8000-000000000001", "Холодное водоснабжение")
INTERCOM = ("1.1", "10000000-0000-4000-8000-000000000011", "Домофон")
PENALTY = ("1", shipped_ref(329, "1")["GUID"], "Пени")
BIK, BANK_ACCOUNT = "044525225", "40702810938000012345"
TODAY = date.today()
PERIODS = [(2024, 4), (2024, 5)]


# --- request builders (lxml) ---------------------------------------------------------------


def _el(parent: etree._Element | None, ns: str, name: str, value: object = None) -> etree._Element:
    tag = f"{{{ns}}}{name}"
    element = etree.Element(tag, nsmap=NSMAP) if parent is None else etree.SubElement(parent, tag)
    if value is not None:
        element.text = str(value)
    return element


def _tg() -> str:
    return str(uuid.uuid4())


def _nsi(parent: etree._Element, name: str, ref: tuple[str, str, str]) -> None:
    element = _el(parent, BILLS, name)
    _el(element, NSI_BASE, "Code", ref[0])
    _el(element, NSI_BASE, "GUID", ref[1])
    _el(element, NSI_BASE, "Name", ref[2])


def payment_documents(period: tuple[int, int], documents: list[dict[str, Any]]) -> etree._Element:
    """importPaymentDocumentRequest; each document: account, charges {kind: roubles}, tg, replaces."""
    request = _el(None, BILLS, "importPaymentDocumentRequest")
    request.set(f"{{{BASE}}}version", "11.2.0.16")
    _el(request, BASE, "Month", period[1])
    _el(request, BASE, "Year", period[0])
    key = _tg()
    info = _el(request, BILLS, "PaymentInformation")
    _el(info, PAYMENTS_BASE, "BankBIK", BIK)
    _el(info, PAYMENTS_BASE, "operatingAccountNumber", BANK_ACCOUNT)
    _el(info, BASE, "TransportGUID", key)
    for doc in documents:
        element = _el(request, BILLS, "PaymentDocument")
        _el(element, AB, "AccountGuid", doc["account"])
        _el(element, BILLS_BASE, "PaymentDocumentNumber", "ПД-1")
        charges = doc["charges"]
        for kind, ref in (
            ("HousingService", HOUSING),
            ("MunicipalService", COLD_WATER),
            ("AdditionalService", INTERCOM),
        ):
            if kind in charges:
                service = _el(_el(element, BILLS, "ChargeInfo"), BILLS, kind)
                _nsi(service, "ServiceType", ref)
                _el(service, BILLS, "Rate", "28.5")
                _el(service, BILLS, "TotalPayable", charges[kind])
        if "CapitalRepair" in charges:
            repair = _el(element, BILLS, "CapitalRepairCharge")
            _el(repair, BILLS, "Contribution", "9.65")
            _el(repair, BILLS, "TotalPayable", charges["CapitalRepair"])
        if "Penalty" in charges:
            penalty = _el(element, BILLS, "PenaltiesAndCourtCosts")
            _nsi(penalty, "ServiceType", PENALTY)
            _el(penalty, BILLS, "Cause", "Просрочка оплаты")
            _el(penalty, BILLS, "TotalPayable", charges["Penalty"])
        _el(element, BILLS, "TotalPayableByPD", sum(charges.values(), Decimal(0)))
        _el(element, BASE, "TransportGUID", doc.get("tg") or _tg())
        if doc.get("replaces"):
            _el(element, BILLS_BASE, "PaymentDocumentID", doc["replaces"])
        _el(element, BILLS, "PaymentInformationKey", key)
    return request


def withdrawals(*ids: str) -> etree._Element:
    request = _el(None, BILLS, "importPaymentDocumentRequest")
    request.set(f"{{{BASE}}}version", "11.2.0.16")
    for pd_id in ids:
        item = _el(request, BILLS, "WithdrawPaymentDocument")
        _el(item, BASE, "TransportGUID", _tg())
        _el(item, BILLS_BASE, "PaymentDocumentID", pd_id)
    return request


def bank_notices(notices: list[dict[str, Any]]) -> etree._Element:
    """importNotificationsOfOrderExecutionRequest; each: order_id, kopecks, pd_id | unified (+ period)."""
    request = _el(None, PAYMENT, "importNotificationsOfOrderExecutionRequest")
    request.set(f"{{{BASE}}}version", "10.0.1.1")
    for n in notices:
        item = _el(request, PAYMENT, "NotificationOfOrderExecutionType")
        payer = _el(item, PAYMENTS_BASE, "SupplierInfo")
        _el(payer, PAYMENTS_BASE, "SupplierName", "Иванова М. П.")
        recipient = _el(item, PAYMENTS_BASE, "RecipientInfo")
        _el(recipient, OB, "INN", "7701234567")
        legal = _el(recipient, PAYMENTS_BASE, "Legal")
        _el(legal, OB, "KPP", "770101001")
        _el(legal, PAYMENTS_BASE, "Name", "ООО «УК Дом»")
        details = _el(recipient, PAYMENTS_BASE, "PaymentInformation")
        _el(details, PAYMENTS_BASE, "RecipientINN", "7701234567")
        _el(details, PAYMENTS_BASE, "BankName", "ПАО Банк")
        _el(details, PAYMENTS_BASE, "PaymentRecipient", "ООО «УК Дом»")
        _el(details, PAYMENTS_BASE, "BankBIK", BIK)
        _el(details, PAYMENTS_BASE, "operatingAccountNumber", BANK_ACCOUNT)
        order = _el(item, PAYMENTS_BASE, "OrderInfo")
        _el(order, PAYMENTS_BASE, "OrderID", n["order_id"])
        _el(order, PAYMENTS_BASE, "OrderDate", n.get("date", TODAY))
        _el(order, PAYMENTS_BASE, "Amount", n["kopecks"])
        if n.get("pd_id"):
            _el(order, BILLS_BASE, "PaymentDocumentID", n["pd_id"])
        if n.get("period"):
            _el(order, BASE, "Year", n["period"][0])
            _el(order, BASE, "Month", n["period"][1])
        if n.get("unified"):
            _el(order, AB, "UnifiedAccountNumber", n["unified"])
        _el(item, BASE, "TransportGUID", n.get("tg") or _tg())
    return request


def supplier_notices(notices: list[dict[str, Any]]) -> etree._Element:
    request = _el(None, PAYMENT, "importSupplierNotificationsOfOrderExecutionRequest")
    request.set(f"{{{BASE}}}version", "10.0.1.1")
    for n in notices:
        item = _el(request, PAYMENT, "SupplierNotificationOfOrderExecution")
        _el(item, PAYMENT, "OrderDate", n.get("date", TODAY))
        _el(item, BILLS_BASE, "PaymentDocumentID", n["pd_id"])
        _el(item, PAYMENT, "Amount", n["roubles"])
        _el(item, BASE, "TransportGUID", n.get("tg") or _tg())
    return request


def cancellations(*order_ids: str, on: date = TODAY) -> etree._Element:
    request = _el(None, PAYMENT, "importNotificationsOfOrderExecutionCancellationRequest")
    request.set(f"{{{BASE}}}version", "10.0.1.1")
    for order_id in order_ids:
        item = _el(request, PAYMENT, "NotificationOfOrderExecutionCancellation")
        _el(item, PAYMENTS_BASE, "OrderID", order_id)
        _el(item, PAYMENTS_BASE, "CancellationDate", on)
        _el(item, BASE, "TransportGUID", _tg())
    return request


KIND_ELEMENT = {
    "HousingService": ("HSType", HOUSING[1]),
    "MunicipalService": ("MSType", COLD_WATER[1]),
    "AdditionalService": ("ASType", INTERCOM[1]),
    "CapitalRepair": ("HSType", CAPITAL_REPAIR_GUID),
}


def acknowledgments(items: list[dict[str, Any]]) -> etree._Element:
    """importAcknowledgmentRequest; each: notice, pd_id, kind, roubles | impossible | cancel."""
    request = _el(None, BILLS, "importAcknowledgmentRequest")
    request.set(f"{{{BASE}}}version", "11.0.0.2")
    for it in items:
        name = "AckCancellation" if it.get("cancel") else "AcknowledgmentRequestInfo"
        item = _el(request, BILLS, name)
        _el(item, PAYMENTS_BASE, "NotificationsOfOrderExecutionGUID", it["notice"])
        if it.get("cancel"):
            _el(item, BILLS_BASE, "PaymentDocumentID", it["pd_id"])
        elif it.get("impossible"):
            impossible = _el(item, PAYMENTS_BASE, "AckImpossible")
            _el(impossible, PAYMENTS_BASE, "Reason", "Не наш платёж")
        else:
            ack = _el(item, PAYMENTS_BASE, "PaymentDocumentAck")
            _el(ack, BILLS_BASE, "PaymentDocumentID", it["pd_id"])
            if it["kind"] == "Penalty":
                ref = _el(ack, PAYMENTS_BASE, "PServiceType")
                _el(ref, NSI_BASE, "Code", PENALTY[0])
                _el(ref, NSI_BASE, "GUID", PENALTY[1])
            else:
                name, value = KIND_ELEMENT[it["kind"]]
                _el(ack, PAYMENTS_BASE, name, value)
            _el(ack, PAYMENTS_BASE, "Amount", it["roubles"])
        _el(item, BASE, "TransportGUID", it.get("tg") or _tg())
    return request


def export_documents(*pd_ids: str) -> etree._Element:
    request = _el(None, BILLS, "exportPaymentDocumentRequest")
    request.set(f"{{{BASE}}}version", "13.1.0.1")
    for pd_id in pd_ids:
        _el(request, BILLS_BASE, "PaymentDocumentID", pd_id)
    return request


def export_notices_by_document(pd_id: str) -> etree._Element:
    request = _el(None, BILLS, "exportNotificationsOfOrderExecutionRequest")
    request.set(f"{{{BASE}}}version", "10.0.1.1")
    _el(_el(request, BILLS, "SupplierIDs"), BILLS_BASE, "PaymentDocumentID", pd_id)
    return request


# --- running handlers -----------------------------------------------------------------------

_SCHEMAS: dict[str, etree.XMLSchema] = {}


def schema(rel: str, published: bool = False) -> etree.XMLSchema | None:
    root = REFERENCE if published else load_settings().xsd_dir
    key = f"{published}:{rel}"
    if key not in _SCHEMAS:
        if not (root / rel).exists():
            return None
        _SCHEMAS[key] = etree.XMLSchema(etree.parse(str(root / rel)))
    return _SCHEMAS[key]


def _rel(request: etree._Element) -> str:
    ns = etree.QName(request).namespace
    return "bills/hcs-bills-types.xsd" if ns == BILLS else "payment/hcs-payment-types.xsd"


def validate(element: etree._Element, rel: str) -> None:
    for published in (False, True):
        xsd = schema(rel, published)
        if xsd is not None:
            assert xsd.validate(element), (published, xsd.error_log, etree.tostring(element))


def state_result(request: etree._Element, elements: list[etree._Element]) -> etree._Element:
    ns = etree.QName(request).namespace
    result = etree.Element(f"{{{ns}}}getStateResult", nsmap={None: ns, "base": BASE})
    result.set(f"{{{BASE}}}version", "10.0.1.1")
    _el(result, BASE, "RequestState", 3)
    _el(result, BASE, "MessageGUID", _tg())
    result.extend(elements)
    return result


class Stand:
    """A runtime on SQLite and helpers to act as an organisation."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        #: the stored result of each packet run, by MessageGUID: what a replay is given
        self.results: dict[str, str] = {}

    def run(
        self,
        org: str,
        role: str,
        handler: Any,
        request: etree._Element,
        message_guid: str | None = None,
    ) -> etree._Element:
        validate(request, _rel(request))
        message_guid = message_guid or _tg()
        with self.rt.session.begin() as session:
            ctx = HandlerContext(
                session,
                org,
                role,
                message_guid,
                None,
                utcnow(),
                previous_result=self.results.get(message_guid),
            )
            with session.begin_nested():
                elements = handler(ctx, request).elements
        self.results[message_guid] = pack_results(elements)
        result = state_result(request, elements)
        validate(result, _rel(request))
        return result

    def accounts(self, org: str, count: int, closed: bool = False) -> list[Account]:
        """Accounts of ``org`` in a new house it manages by a placed contract."""
        made = []
        with self.rt.session.begin() as session:
            house = managed_house(session, org)
            for _ in range(count):
                serial = account_repo.max_serial(session) + 1
                unified = account_repo.unified_number(serial)
                now = utcnow()
                account = Account(
                    guid=_tg(),
                    org_guid=org,
                    kind="uo",
                    serial=serial,
                    unique_number=unified,
                    service_id=account_repo.service_id(unified),
                    account_number=f"ЛС-{serial}",
                    closed=closed,
                    created_at=now,
                    updated_at=now,
                )
                session.add(account)
                session.flush()
                session.add(AccountPlace(account_guid=account.guid, house_guid=house.guid))
                made.append(account)
        return made


def outcomes(result: etree._Element) -> list[tuple[str | None, str | None, str | None]]:
    """(GUID, UniqueNumber, ErrorCode) of each ImportResult."""
    found = []
    for item in result.findall("{*}ImportResult"):
        found.append(
            (
                item.findtext(f"{{{BASE}}}GUID"),
                item.findtext(f"{{{BASE}}}UniqueNumber"),
                item.findtext(f"{{{BASE}}}Error/{{{BASE}}}ErrorCode"),
            )
        )
    return found


@pytest.fixture(scope="module")
def stand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stand]:
    rt = Runtime(Settings(data_dir=tmp_path_factory.mktemp("money")))
    yield Stand(rt)
    rt.close()


# --- deterministic checks ---------------------------------------------------------------------


def test_money_converts_exactly() -> None:
    assert to_kopecks(Decimal("1834.24")) == 183424
    assert to_kopecks(Decimal("0.1") + Decimal("0.2")) == 30
    assert roubles(183424) == Decimal("1834.24") and format_roubles(-5) == "-0.05"
    with pytest.raises(ValueError):
        to_kopecks(Decimal("0.001"))
    assert repo.payment_document_id("0000000018", 1, 2024, 5) == "0000000018-01-0524"
    assert len(repo.payment_document_id("0000000018", 99, 2050, 12)) == 18


def test_document_notice_acknowledgment_and_exports_in_process(stand: Stand) -> None:
    uo, bank = _tg(), _tg()
    (account,) = stand.accounts(uo, 1)
    charges = {"HousingService": Decimal("855.00"), "Penalty": Decimal("15.49")}
    placed = stand.run(
        uo,
        "uo",
        import_payment_document,
        payment_documents((2024, 5), [{"account": account.guid, "charges": charges}]),
    )
    [(doc_guid, pd_id, error)] = outcomes(placed)
    assert error is None and pd_id == f"{account.unique_number}-01-0524"
    notice = stand.run(
        bank,
        "bank",
        import_notices,
        bank_notices([{"order_id": uuid.uuid4().hex, "kopecks": 87049, "pd_id": pd_id}]),
    )
    [(notice_guid, _, error)] = outcomes(notice)
    assert error is None
    acked = stand.run(
        uo,
        "uo",
        import_acknowledgment,
        acknowledgments(
            [
                {
                    "notice": notice_guid,
                    "pd_id": pd_id,
                    "kind": "HousingService",
                    "roubles": "855.00",
                },
                {"notice": notice_guid, "pd_id": pd_id, "kind": "Penalty", "roubles": "15.49"},
            ]
        ),
    )
    assert [e for _, _, e in outcomes(acked)] == [None, None]
    exported = stand.run(
        uo, "uo", export_payment_document, export_documents(pd_id, "0000000000-01-0524")
    )
    assert exported.findtext(".//{*}PaidCash") == "870.49"
    assert exported.findtext(".//{*}ErrorCode") == "INT002012"  # the unknown identifier
    notices = stand.run(uo, "uo", export_notifications, export_notices_by_document(pd_id))
    assert notices.findtext(".//{*}AckStatus") == "2"
    assert notices.findtext(".//{*}AcknowledgmentAmount") == "87049"
    assert len(notices.findall(".//{*}AcknowledgmentRequest")) == 2


RICH = """<b:importPaymentDocumentRequest xmlns:b="{b}" xmlns:pb="{pb}" xmlns:bb="{bb}" xmlns:ab="{ab}"
 xmlns:nsi="{nsi}" xmlns:base="{base}" base:version="11.2.0.16">
 <base:Month>5</base:Month><base:Year>2024</base:Year>
 <b:PaymentInformation><pb:BankBIK>{bik}</pb:BankBIK><pb:operatingAccountNumber>{acc}</pb:operatingAccountNumber>
  <base:TransportGUID>{key}</base:TransportGUID></b:PaymentInformation>
 <b:PaymentDocument><ab:AccountGuid>{current}</ab:AccountGuid>
  <b:ChargeInfo><b:GroupMunicipalService>
   <b:TypeMunicipalService><b:ServiceType><nsi:Code>2</nsi:Code><nsi:GUID>30000000-0000-4000-8000-000000000002</nsi:GUID></b:ServiceType>
    <b:TotalPayable>770.00</b:TotalPayable></b:TypeMunicipalService>
   <b:MunicipalService><b:ServiceType><nsi:Code>2</nsi:Code><nsi:GUID>51000000-0000-4000-8000-000000000002</nsi:GUID></b:ServiceType>
    <b:Rate>146.58</b:Rate><b:TotalPayable>770.00</b:TotalPayable></b:MunicipalService>
  </b:GroupMunicipalService></b:ChargeInfo>
  <b:CapitalRepairYearCharge>{months}<base:Year>2024</base:Year></b:CapitalRepairYearCharge>
  <b:Insurance><b:InsuranceProductGUID>90000001-0000-4000-8000-000000000001</b:InsuranceProductGUID>
   <b:Rate>0.8</b:Rate><b:TotalPayable>43.44</b:TotalPayable></b:Insurance>
  <base:TransportGUID>{tg1}</base:TransportGUID><b:PaymentInformationKey>{key}</b:PaymentInformationKey>
 </b:PaymentDocument>
 <b:PaymentDocument><ab:AccountGuid>{debts}</ab:AccountGuid>
  <b:CapitalRepairDebt><base:Month>2</base:Month><base:Year>2024</base:Year><b:TotalPayable>523.99</b:TotalPayable></b:CapitalRepairDebt>
  <b:ChargeDebt><b:HousingService><base:Month>3</base:Month><base:Year>2024</base:Year><b:TotalPayable>1547.55</b:TotalPayable>
   <b:ServiceType><nsi:Code>1</nsi:Code><nsi:GUID>{housing}</nsi:GUID></b:ServiceType></b:HousingService></b:ChargeDebt>
  <b:ChargeDebt><b:HousingService><base:Month>4</base:Month><base:Year>2024</base:Year><b:TotalPayable>100.00</b:TotalPayable>
   <b:ServiceType><nsi:Code>1</nsi:Code><nsi:GUID>{housing}</nsi:GUID></b:ServiceType></b:HousingService></b:ChargeDebt>
  <b:ChargeDebt><b:GroupMunicipalService><b:TypeMunicipalService>
   <b:ServiceType><nsi:Code>2</nsi:Code><nsi:GUID>30000000-0000-4000-8000-000000000002</nsi:GUID></b:ServiceType>
   <base:Month>3</base:Month><base:Year>2024</base:Year><b:TotalPayable>146.58</b:TotalPayable></b:TypeMunicipalService>
   <b:MunicipalService><base:Month>3</base:Month><base:Year>2024</base:Year><b:TotalPayable>146.58</b:TotalPayable>
    <b:ServiceType><nsi:Code>2</nsi:Code><nsi:GUID>51000000-0000-4000-8000-000000000002</nsi:GUID></b:ServiceType></b:MunicipalService>
  </b:GroupMunicipalService></b:ChargeDebt>
  <base:TransportGUID>{tg2}</base:TransportGUID>
  <b:DetailsPaymentInformation><b:PaymentInformationKey>{key}</b:PaymentInformationKey>
   <b:TotalPayableByPaymentInformation>2318.12</b:TotalPayableByPaymentInformation></b:DetailsPaymentInformation>
 </b:PaymentDocument>
</b:importPaymentDocumentRequest>"""
MONTH = (
    "<b:CapitalRepairMonthlyCharge><b:Contribution>9.65</b:Contribution>"
    "<b:TotalPayable>{total}</b:TotalPayable><base:Month>{month}</base:Month></b:CapitalRepairMonthlyCharge>"
)


def test_every_charge_shape_is_exported_valid_and_acknowledged_by_service_and_month(
    stand: Stand,
) -> None:
    uo, bank = _tg(), _tg()
    current, debts = stand.accounts(uo, 2)
    months = "".join(MONTH.format(total=f"{400 + m}.00", month=m) for m in range(1, 13))
    request = etree.fromstring(
        RICH.format(
            **NSMAP,
            bik=BIK,
            acc=BANK_ACCOUNT,
            key=_tg(),
            tg1=_tg(),
            tg2=_tg(),
            current=current.guid,
            debts=debts.guid,
            months=months,
            housing=HOUSING[1],
        )
    )
    [(_, pd_id, e1), (_, debt_id, e2)] = outcomes(
        stand.run(uo, "uo", import_payment_document, request)
    )
    assert (e1, e2) == (None, None)
    exported = stand.run(uo, "uo", export_payment_document, export_documents(pd_id, debt_id))
    assert len(exported.findall(".//{*}CapitalRepairMonthlyCharge")) == 12
    assert len(exported.findall(".//{*}ChargeDebt")) == 3
    posted = stand.run(
        bank,
        "bank",
        import_notices,
        bank_notices(
            [
                {"order_id": uuid.uuid4().hex, "kopecks": 200000, "pd_id": pd_id},
                {"order_id": uuid.uuid4().hex, "kopecks": 300000, "unified": debts.unique_number},
            ]
        ),
    )
    [(paid_current, _, _), (paid_debts, _, _)] = outcomes(posted)
    tms = {"Code": "2", "GUID": "30000000-0000-4000-8000-000000000002"}
    items = [
        ("TMSType", tms, "770.00", None, None, None),
        ("HSType", CAPITAL_REPAIR_GUID, "405.00", (2024, 5), None, None),
        ("HSType", CAPITAL_REPAIR_GUID, "1.00", None, None, "HCS004011"),  # which month?
        ("HSType", CAPITAL_REPAIR_GUID, "405.01", (2024, 5), None, "HCS004009"),
        ("ASType", "90000001-0000-4000-8000-000000000001", "43.44", None, None, None),
    ]
    debt_items = [
        ("HSType", HOUSING[1], "1547.55", None, (2024, 3), None),
        ("HSType", HOUSING[1], "100.00", None, (2024, 4), None),
        ("HSType", HOUSING[1], "1.00", None, None, "HCS004011"),  # which month?
        ("HSType", CAPITAL_REPAIR_GUID, "523.99", None, (2024, 2), None),
        ("TMSType", tms, "146.58", None, (2024, 3), None),
    ]
    request = _el(None, BILLS, "importAcknowledgmentRequest")
    request.set(f"{{{BASE}}}version", "11.0.0.2")
    expected = []
    for notice, doc, rows in ((paid_current, pd_id, items), (paid_debts, debt_id, debt_items)):
        for kind, ref, amount, year_period, delay, error in rows:
            item = _el(request, BILLS, "AcknowledgmentRequestInfo")
            _el(item, PAYMENTS_BASE, "NotificationsOfOrderExecutionGUID", notice)
            ack = _el(item, PAYMENTS_BASE, "PaymentDocumentAck")
            _el(ack, BILLS_BASE, "PaymentDocumentID", doc)
            if isinstance(ref, dict):
                nsi = _el(ack, PAYMENTS_BASE, kind)
                _el(nsi, NSI_BASE, "Code", ref["Code"])
                _el(nsi, NSI_BASE, "GUID", ref["GUID"])
            else:
                _el(ack, PAYMENTS_BASE, kind, ref)
            _el(ack, PAYMENTS_BASE, "Amount", amount)
            if year_period:
                period = _el(ack, PAYMENTS_BASE, "CapitalRepairYearAckPeriod")
                _el(period, BASE, "Year", year_period[0])
                _el(period, BASE, "Month", year_period[1])
            if delay:
                period = _el(item, PAYMENTS_BASE, "DelayPeriod")
                _el(period, BASE, "Year", delay[0])
                _el(period, BASE, "Month", delay[1])
            _el(item, BASE, "TransportGUID", _tg())
            expected.append(error)
    result = stand.run(uo, "uo", import_acknowledgment, request)
    assert [e for _, _, e in outcomes(result)] == expected
    exported = stand.run(uo, "uo", export_payment_document, export_documents(pd_id, debt_id))
    assert [e.text for e in exported.findall(".//{*}PaidCash")] == ["1218.44", "2318.12"]
    notices = stand.run(uo, "uo", export_notifications, export_notices_by_document(debt_id))
    assert notices.findtext(".//{*}AckStatus") == "3"  # 2318.12 of 3000.00
    assert len(notices.findall(".//{*}DelayPeriod")) == 4


def test_a_replayed_packet_answers_the_same_and_moves_no_money(stand: Stand) -> None:
    """``gateway packets replay --force`` runs a processed packet again under its MessageGUID."""
    uo, bank = _tg(), _tg()
    first, second = stand.accounts(uo, 2)

    def twice(org: str, role: str, handler: Any, request: etree._Element) -> list[Any]:
        message = _tg()
        once = outcomes(stand.run(org, role, handler, request, message))
        again = outcomes(stand.run(org, role, handler, request, message))
        assert [(g, u, e) for g, u, e in again] == once
        return once

    def counts() -> tuple[int, int, int, int]:
        with stand.rt.session() as session:
            return tuple(  # type: ignore[return-value]
                session.scalar(select(func.count()).select_from(model))
                for model in (PaymentDocument, PaymentCharge, PaymentNotice, PaymentAcknowledgment)
            )

    charges = {"HousingService": Decimal("100.00"), "Penalty": Decimal("5.00")}
    docs = [{"account": a.guid, "charges": charges} for a in (first, second)]
    [(_, pd_id, _), (_, spare_id, _)] = twice(
        uo, "uo", import_payment_document, payment_documents((2024, 5), docs)
    )
    replacement = [{"account": first.guid, "charges": charges, "replaces": pd_id}]
    before = counts()
    twice(uo, "uo", import_payment_document, payment_documents((2024, 5), replacement))
    assert counts()[1] == before[1] + 2  # one new version of the two charges, not two
    order = uuid.uuid4().hex
    [(notice, _, _)] = twice(
        bank,
        "bank",
        import_notices,
        bank_notices([{"order_id": order, "kopecks": 9000, "pd_id": pd_id}]),
    )
    [(own, own_order, _)] = twice(
        uo, "uo", import_supplier_notices, supplier_notices([{"pd_id": pd_id, "roubles": "1.00"}])
    )
    assert len(own_order or "") == 32
    paying = acknowledgments(
        [{"notice": notice, "pd_id": pd_id, "kind": "HousingService", "roubles": "50.00"}]
    )
    twice(uo, "uo", import_acknowledgment, paying)
    undo = acknowledgments([{"notice": notice, "pd_id": pd_id, "cancel": True}])
    message = _tg()
    stand.run(uo, "uo", import_acknowledgment, undo, message)
    stand.run(uo, "uo", import_acknowledgment, paying)  # acknowledged again, by a new packet
    assert [
        e for _, _, e in outcomes(stand.run(uo, "uo", import_acknowledgment, undo, message))
    ] == [None]
    with stand.rt.session() as session:  # the replayed cancellation did not undo the new one
        assert repo.acknowledged_by(session, "notice", [notice]) == {notice: 5000}
    twice(uo, "uo", import_payment_document, withdrawals(spare_id))
    twice(bank, "bank", import_cancellations, cancellations(order))
    before = counts()
    twice(uo, "uo", import_acknowledgment, acknowledgments([{"notice": own, "impossible": True}]))
    assert counts()[3] == before[3] + 1


# --- the state machine ------------------------------------------------------------------------

ROUBLES = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("3000"), places=2)
CHARGE_KINDS = [
    "HousingService",
    "MunicipalService",
    "AdditionalService",
    "CapitalRepair",
    "Penalty",
]


class MoneyPath(RuleBasedStateMachine):
    stand: Stand  # set by the test

    documents = Bundle("documents")
    notices = Bundle("notices")

    @initialize()
    def organisations(self) -> None:
        self.uo, self.uo2, self.bank = _tg(), _tg(), _tg()
        self.accounts = self.stand.accounts(self.uo, 2) + self.stand.accounts(self.uo2, 1)
        self.order_ids = [uuid.uuid4().hex for _ in range(6)]
        self.posted: dict[str, str] = {}  # notice GUID ► OrderID (bank notices)

    def _run(self, org: str, role: str, handler: Any, request: etree._Element) -> list[Any]:
        return outcomes(self.stand.run(org, role, handler, request))

    # --- documents ---
    @rule(
        target=documents,
        account=st.integers(0, 2),
        period=st.sampled_from(PERIODS),
        charges=st.dictionaries(st.sampled_from(CHARGE_KINDS), ROUBLES, min_size=1),
    )
    def place(self, account: int, period: tuple[int, int], charges: dict[str, Decimal]) -> Any:
        owner = self.uo2 if account == 2 else self.uo
        doc = {"account": self.accounts[account].guid, "charges": charges}
        [(_, pd_id, error)] = self._run(
            owner, "uo", import_payment_document, payment_documents(period, [doc])
        )
        assert error in (None, "HCS004002"), error
        return pd_id if pd_id else multiple()

    @rule(pd_id=documents)
    def withdraw(self, pd_id: str) -> None:
        [(_, _, error)] = self._run(self.uo, "uo", import_payment_document, withdrawals(pd_id))
        assert error in (None, "SRV008070", "HCS004004", "INT002000", "AUT011003"), error

    # --- notices ---
    @rule(
        target=notices,
        pd_id=documents,
        kopecks=st.integers(0, 500_000),
        order=st.integers(0, 5),
        by_period=st.booleans(),
    )
    def post(self, pd_id: str, kopecks: int, order: int, by_period: bool) -> Any:
        notice: dict[str, Any] = {"order_id": self.order_ids[order], "kopecks": kopecks}
        if by_period:
            notice.update(unified=pd_id[:10], period=(2000 + int(pd_id[-2:]), int(pd_id[-4:-2])))
        else:
            notice["pd_id"] = pd_id
        [(guid, _, error)] = self._run(self.bank, "bank", import_notices, bank_notices([notice]))
        assert error in (None, "INT002000", "SRV008070", "HCS005003", "HCS005004"), error
        if not guid:
            return multiple()
        self.posted[guid] = notice["order_id"]
        return guid

    @rule(target=notices, pd_id=documents, amount=ROUBLES)
    def supplier_posts(self, pd_id: str, amount: Decimal) -> Any:
        [(guid, _, error)] = self._run(
            self.uo,
            "uo",
            import_supplier_notices,
            supplier_notices([{"pd_id": pd_id, "roubles": amount}]),
        )
        assert error in (None, "INT002000", "SRV008070", "AUT011003"), error
        return guid if guid else multiple()

    @rule(notice=notices)
    def cancel(self, notice: str) -> None:
        order_id = self.posted.get(notice)
        if order_id is None:
            return
        [(_, _, error)] = self._run(
            self.bank, "bank", import_cancellations, cancellations(order_id)
        )
        assert error in (None, "HCS005004"), error

    # --- acknowledgment ---
    @rule(
        notice=notices,
        pd_id=documents,
        kind=st.sampled_from(CHARGE_KINDS),
        share=st.integers(1, 100),
        extra=st.sampled_from([0, 0, 0, 1, 100_000]),
        other_org=st.sampled_from([False, False, False, True]),
    )
    def acknowledge(
        self, notice: str, pd_id: str, kind: str, share: int, extra: int, other_org: bool
    ) -> None:
        """Mostly a share of what is still open on both sides; sometimes a kopeck or a lot more."""
        org = self.uo2 if other_org else self.uo
        open_kopecks = self._open(notice, pd_id, kind)
        kopecks = max(open_kopecks * share // 100, 1) + extra
        amount = roubles(kopecks)
        before = self._sums(notice)
        [(_, _, error)] = self._run(
            org,
            "uo",
            import_acknowledgment,
            acknowledgments([{"notice": notice, "pd_id": pd_id, "kind": kind, "roubles": amount}]),
        )
        after = self._sums(notice)
        if error is None:  # exact to the kopeck
            assert after == before + to_kopecks(amount)
        else:
            assert after == before
            assert error in (
                "INT002000",
                "AUT011003",
                "SRV008070",
                "HCS004007",
                "HCS004008",
                "HCS004009",
                "HCS004010",
                "HCS004011",
                "HCS004012",
            ), error

    def _open(self, notice_guid: str, pd_id: str, kind: str) -> int:
        """What the notice and the document's charge of that kind still have open (kopecks)."""
        with self.stand.rt.session() as session:
            notice = session.get(PaymentNotice, notice_guid)
            doc = repo.documents_by_ids(session, [pd_id]).get(pd_id)
            if notice is None or doc is None:
                return 100
            left = notice.amount - repo.acknowledged_by(session, "notice", [notice_guid]).get(
                notice_guid, 0
            )
            for state in repo.document_states(session, [doc]):
                for charge in state.charges:
                    if charge.charge.section.startswith(kind[:7]):
                        return max(min(left, charge.remaining), 0)
            return max(left, 0)

    @rule(notice=notices, pd_id=documents)
    def deacknowledge(self, notice: str, pd_id: str) -> None:
        [(_, _, error)] = self._run(
            self.uo,
            "uo",
            import_acknowledgment,
            acknowledgments([{"notice": notice, "pd_id": pd_id, "cancel": True}]),
        )
        assert error in (None, "INT002000", "AUT011003", "SRV008070", "HCS004010", "HCS004015"), (
            error
        )
        if error is None:
            assert self._sums(notice) == 0

    @rule(notice=notices)
    def impossible(self, notice: str) -> None:
        [(_, _, error)] = self._run(
            self.uo,
            "uo",
            import_acknowledgment,
            acknowledgments([{"notice": notice, "impossible": True}]),
        )
        assert error in (None, "INT002000", "AUT011003", "HCS004010", "HCS004014"), error

    # --- the invariants ---
    def _sums(self, notice: str) -> int:
        with self.stand.rt.session() as session:
            return repo.acknowledged_by(session, "notice", [notice]).get(notice, 0)

    @invariant()
    def money_is_consistent(self) -> None:
        orgs = [self.uo, self.uo2]
        with self.stand.rt.session() as session:
            active = (PaymentAcknowledgment.cancelled.is_(False)) & (
                PaymentAcknowledgment.kind == "payment"
            )
            notices = list(
                session.scalars(select(PaymentNotice).where(PaymentNotice.payee_org_guid.in_(orgs)))
            )
            documents = list(
                session.scalars(select(PaymentDocument).where(PaymentDocument.org_guid.in_(orgs)))
            )
            for notice in notices:
                acks = list(
                    session.scalars(
                        select(PaymentAcknowledgment).where(
                            PaymentAcknowledgment.notice_guid == notice.guid,
                            PaymentAcknowledgment.cancelled.is_(False),
                        )
                    )
                )
                paid = sum(a.amount for a in acks if a.kind == "payment")
                assert paid <= notice.amount
                if notice.cancelled:
                    assert acks == []
                impossible = any(a.kind == "impossible" for a in acks)
                assert not (impossible and paid)
                status = repo.notice_status(notice, paid, impossible)
                assert status == (
                    1
                    if notice.cancelled
                    else 2
                    if paid and paid == notice.amount
                    else 3
                    if paid
                    else 5
                    if impossible
                    else 0
                )
                for a in acks:
                    if a.kind == "payment":
                        charge = session.get(PaymentCharge, a.charge_guid)
                        assert charge is not None and charge.document_guid == a.document_guid
                        assert not charge.replaced
                        doc = session.get(PaymentDocument, a.document_guid)
                        assert doc is not None and doc.account_guid == notice.account_guid
                        assert doc.org_guid == a.org_guid  # only the owner acknowledges
            for state in repo.document_states(session, documents):
                raw = session.scalar(
                    select(func.coalesce(func.sum(PaymentAcknowledgment.amount), 0)).where(
                        active, PaymentAcknowledgment.document_guid == state.document.guid
                    )
                )
                assert state.paid == raw == sum(c.paid for c in state.charges)
                for charge in state.charges:
                    assert charge.paid <= max(charge.charge.amount_due, 0)
                if state.document.withdrawn:
                    assert state.paid == 0
            placed = [(d.account_guid, d.year, d.month) for d in documents if not d.withdrawn]
            assert len(placed) == len(set(placed))  # one placed document per account and period


def test_money_invariants_hold_after_any_sequence(stand: Stand) -> None:
    MoneyPath.stand = stand
    case = MoneyPath.TestCase
    case.settings = settings(
        max_examples=40,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    case().runTest()


def test_concurrent_acknowledgments_cannot_both_spend_a_notice_on_postgresql(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Two workers acknowledge the same notice at once: the second waits for the first's lock,
    then sees its amount and is refused instead of over-assigning the notice."""
    _two_workers_one_notice(Stand(runtime_on(request, "postgresql", tmp_path)))


def _two_workers_one_notice(stand: Stand) -> None:
    uo, bank = _tg(), _tg()
    (account,) = stand.accounts(uo, 1)
    documents = [{"account": account.guid, "charges": {"HousingService": Decimal("100.00")}}]
    placed = stand.run(uo, "uo", import_payment_document, payment_documents((2024, 5), documents))
    [(_, pd_id, _)] = outcomes(placed)
    notices = bank_notices([{"order_id": uuid.uuid4().hex, "kopecks": 6000, "pd_id": pd_id}])
    [(notice, _, _)] = outcomes(stand.run(bank, "bank", import_notices, notices))
    request = acknowledgments(
        [{"notice": notice, "pd_id": pd_id, "kind": "HousingService", "roubles": "40.00"}]
    )
    second: dict[str, Any] = {}

    def other_worker() -> None:
        second["result"] = stand.run(uo, "uo", import_acknowledgment, request)

    with stand.rt.session.begin() as session:
        ctx = HandlerContext(session, uo, "uo", _tg(), None, utcnow())
        first = outcomes(state_result(request, import_acknowledgment(ctx, request).elements))
        thread = threading.Thread(target=other_worker)
        thread.start()
        thread.join(1.0)
        assert thread.is_alive()  # the notice is locked by this open transaction
    thread.join(30)
    assert [e for _, _, e in first] == [None]
    assert [e for _, _, e in outcomes(second["result"])] == ["HCS004008"]
    with stand.rt.session() as session:
        assert repo.acknowledged_by(session, "notice", [notice]) == {notice: 4000}
