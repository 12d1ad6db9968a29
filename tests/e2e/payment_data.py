"""Request values for the money-path tests (bills and payment services), as zeep takes them."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import zeep

from persistence.nsi import shipped_ref

PD_VERSION = "11.2.0.16"  # fixed: importPaymentDocumentRequest
EXPORT_PD_VERSION = "13.1.0.1"  # documented: 11.2.0.10, 12.2.0.1, 13.1.0.1
EXPORT_NOTICES_VERSION = "10.0.1.1"  # any
ACK_VERSION = "11.0.0.2"  # fixed: importAcknowledgmentRequest
PAYMENT_VERSION = "10.0.1.1"  # fixed: the three payment imports

BIK, BANK_ACCOUNT = "044525225", "40702810938000012345"
HOUSING = {**shipped_ref(50, "1"), "Name": "Содержание"}
COLD_WATER = {"Code": "1", "GUID": "51000000-0000-4000-8000-000000000001", "Name": "ХВС"}
INTERCOM = {"Code": "1.1", "GUID": "10000000-0000-4000-8000-000000000011", "Name": "Домофон"}
PENALTY = {**shipped_ref(329, "1"), "Name": "Пени"}
HOT_WATER_KIND = {"Code": "2", "GUID": "30000000-0000-4000-8000-000000000002", "Name": "ГВС"}
CAPITAL_REPAIR = "c0000000-0000-4000-8000-00000000c001"  # HSType of capital repair

SKIP = zeep.xsd.SkipValue
TODAY = datetime.now(UTC).date()


def tg() -> str:
    return str(uuid.uuid4())


def order_id() -> str:
    """A bank order id: exactly 32 characters."""
    return uuid.uuid4().hex


# --- bills: payment documents ------------------------------------------------------------------


def service(ref: dict[str, str], total: str, rate: str = "28.5", **extra: Any) -> dict[str, Any]:
    return {"ServiceType": ref, "Rate": rate, "TotalPayable": Decimal(total), **extra}


def document(
    account_guid: str,
    key: str,
    *,
    housing: str | None = "855.00",
    water: str | None = None,
    intercom: str | None = None,
    capital_repair: str | None = None,
    penalty: str | None = None,
    group_hot_water: str | None = None,
    replaces: str | None = None,
    transport_guid: str | None = None,
    number: str = "ПД-1",
) -> dict[str, Any]:
    """One PaymentDocument with the given charges (roubles)."""
    charges: list[dict[str, Any]] = []
    if housing:
        charges.append({"HousingService": service(HOUSING, housing)})
    if water:
        charges.append({"MunicipalService": service(COLD_WATER, water)})
    if intercom:
        charges.append({"AdditionalService": service(INTERCOM, intercom)})
    if group_hot_water:
        charges.append(
            {
                "GroupMunicipalService": {
                    "TypeMunicipalService": {
                        "ServiceType": HOT_WATER_KIND,
                        "TotalPayable": Decimal(group_hot_water),
                    },
                    "MunicipalService": [service(COLD_WATER, group_hot_water)],
                }
            }
        )
    doc: dict[str, Any] = {"AccountGuid": account_guid, "PaymentDocumentNumber": number}
    if charges:
        doc["ChargeInfo"] = charges
    if capital_repair:
        doc["CapitalRepairCharge"] = {
            "Contribution": Decimal("9.65"),
            "TotalPayable": Decimal(capital_repair),
        }
    if penalty:
        doc["PenaltiesAndCourtCosts"] = [
            {"ServiceType": PENALTY, "Cause": "Просрочка", "TotalPayable": Decimal(penalty)}
        ]
    doc["TransportGUID"] = transport_guid or tg()
    if replaces:
        doc["PaymentDocumentID"] = replaces
    doc["PaymentInformationKey"] = key
    return doc


def import_documents(year: int, month: int, key: str, *documents: dict[str, Any]) -> dict[str, Any]:
    """importPaymentDocumentRequest kwargs: documents of one period paid to one bank account."""
    return {
        "version": PD_VERSION,
        "Id": "signed-data-container",
        "Month": month,
        "Year": year,
        "PaymentInformation": [
            {"BankBIK": BIK, "operatingAccountNumber": BANK_ACCOUNT, "TransportGUID": key}
        ],
        "PaymentDocument": list(documents),
    }


def withdraw_documents(*ids: str) -> dict[str, Any]:
    return {
        "version": PD_VERSION,
        "Id": "signed-data-container",
        "WithdrawPaymentDocument": [
            {"TransportGUID": tg(), "PaymentDocumentID": pd_id} for pd_id in ids
        ],
    }


def export_documents(*ids: str) -> dict[str, Any]:
    return {
        "version": EXPORT_PD_VERSION,
        "Id": "signed-data-container",
        "PaymentDocumentID": list(ids),
    }


def export_documents_of(year: int, month: int, **one_filter: Any) -> dict[str, Any]:
    """By period and UnifiedAccountNumber, ServiceID or AccountGUID (lists)."""
    return {
        "version": EXPORT_PD_VERSION,
        "Id": "signed-data-container",
        "Year": year,
        "Month": month,
        **one_filter,
    }


# --- bills: notices export and acknowledgment ---------------------------------------------------


def export_notices(**supplier_ids: Any) -> dict[str, Any]:
    """By the charge: PaymentDocumentID, or UnifiedAccountNumber / ServiceID with Year, Month."""
    return {
        "version": EXPORT_NOTICES_VERSION,
        "Id": "signed-data-container",
        "SupplierIDs": supplier_ids,
    }


def export_new_notices(day: date, *statuses: int, days: int = 1) -> dict[str, Any]:
    return {
        "version": EXPORT_NOTICES_VERSION,
        "Id": "signed-data-container",
        "Notifications": {"DaysInterval": days, "AckStatus": list(statuses), "DateFrom": day},
    }


def ack(
    notice: str | tuple[str, str],
    pd_id: str,
    amount: str,
    *,
    kind: str = "HSType",
    ref: Any = None,
    transport_guid: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """AcknowledgmentRequestInfo: notice GUID, or (OrderID, bank orgPPAGUID)."""
    item: dict[str, Any] = (
        {"NotificationsOfOrderExecutionGUID": notice}
        if isinstance(notice, str)
        else {"OrderID": notice[0], "orgPPAGUID": notice[1]}
    )
    item["PaymentDocumentAck"] = {
        "PaymentDocumentID": pd_id,
        kind: ref if ref is not None else HOUSING["GUID"],
        "Amount": Decimal(amount),
        **extra,
    }
    item["TransportGUID"] = transport_guid or tg()
    return item


def ack_impossible(notice: str, reason: str = "Не наш платёж") -> dict[str, Any]:
    return {
        "NotificationsOfOrderExecutionGUID": notice,
        "AckImpossible": {"Reason": reason},
        "TransportGUID": tg(),
    }


def ack_cancellation(notice: str, pd_id: str) -> dict[str, Any]:
    return {
        "NotificationsOfOrderExecutionGUID": notice,
        "PaymentDocumentID": pd_id,
        "TransportGUID": tg(),
    }


def import_acks(*items: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": ACK_VERSION,
        "Id": "signed-data-container",
        "AcknowledgmentRequestInfo": list(items),
    }


def cancel_acks(*items: dict[str, Any]) -> dict[str, Any]:
    return {"version": ACK_VERSION, "Id": "signed-data-container", "AckCancellation": list(items)}


# --- payment: notices -------------------------------------------------------------------------------


RECIPIENT = {
    "INN": "7701234567",
    "Legal": {"KPP": "770101001", "Name": "ООО «УК Дом»"},
    "PaymentInformation": {
        "RecipientINN": "7701234567",
        "BankName": "ПАО Сбербанк",
        "PaymentRecipient": "ООО «УК Дом»",
        "BankBIK": BIK,
        "operatingAccountNumber": BANK_ACCOUNT,
    },
}


def notice(
    kopecks: int,
    *,
    pd_id: str | None = None,
    period: tuple[int, int] | None = None,
    unified: str | None = None,
    service_id: str | None = None,
    order: str | None = None,
    on: date | None = None,
    transport_guid: str | None = None,
) -> dict[str, Any]:
    """One NotificationOfOrderExecutionType (Amount in kopecks)."""
    info: dict[str, Any] = {
        "OrderID": order or order_id(),
        "OrderDate": on or date.today(),
        "Amount": kopecks,
        "PaymentPurpose": "Оплата ЖКУ",
        # zeep needs both skipped when the optional period is absent
        "Year": period[0] if period else SKIP,
        "Month": period[1] if period else SKIP,
    }
    if pd_id:
        info["PaymentDocumentID"] = pd_id
    if unified:
        info["UnifiedAccountNumber"] = unified
    if service_id:
        info["Service"] = {"ServiceID": service_id}
    return {
        "SupplierInfo": {"SupplierName": "Иванова Мария Петровна"},
        "RecipientInfo": RECIPIENT,
        "OrderInfo": info,
        "TransportGUID": transport_guid or tg(),
    }


def import_notices(*notices: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": PAYMENT_VERSION,
        "Id": "signed-data-container",
        "NotificationOfOrderExecutionType": list(notices),
    }


def cancel_notices(*orders: str, on: date | None = None) -> dict[str, Any]:
    return {
        "version": PAYMENT_VERSION,
        "Id": "signed-data-container",
        "NotificationOfOrderExecutionCancellation": [
            {"OrderID": o, "CancellationDate": on or date.today(), "TransportGUID": tg()}
            for o in orders
        ],
    }


def supplier_notice(
    amount: str, *, pd_id: str | None = None, service_id: str | None = None
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "OrderDate": date.today(),
        "Amount": Decimal(amount),
        "TransportGUID": tg(),
    }
    if pd_id:
        item["PaymentDocumentID"] = pd_id
    else:
        item["ServiceID"] = service_id
    return item


def import_supplier_notices(*notices: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": PAYMENT_VERSION,
        "Id": "signed-data-container",
        "SupplierNotificationOfOrderExecution": list(notices),
    }
