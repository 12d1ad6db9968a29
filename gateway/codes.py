"""Every error code the gateway answers, with its meaning: the one place codes are written.

A SOAP Fault (``base:Fault/ErrorCode``), a refused import item (``Error/ErrorCode``) and a
request without an answer (``getStateResult/ErrorMessage/ErrorCode``) all take their code from
``Code``. The README's "Error codes" table is generated from this enum
(``python -m gateway.codes --write README.md``) and a test keeps the two equal.

GIS ZhKKh codes (FMT, AUT, INT, SRV, EXP) are used where GIS has one; HCS codes are the
gateway's own business rules.
"""

from __future__ import annotations

import argparse
import sys
from enum import StrEnum
from pathlib import Path


class Code(StrEnum):
    """An error code; the value is the code on the wire, ``meaning`` says when it is given."""

    meaning: str

    def __new__(cls, code: str, meaning: str) -> Code:
        member = str.__new__(cls, code)
        member._value_ = code
        member.meaning = meaning
        return member

    # --- request path: SOAP Faults -------------------------------------------------------
    MALFORMED_XML = "FMT001300", "not well-formed XML, DTD or entities, body too large"
    FORMAT_ERROR = (
        "FMT001301",
        "not a SOAP envelope of the expected shape; schema validation failed; "
        "a number or amount that is not one (per item)",
    )
    HEADER_INVALID = (
        "FMT001307",
        "RequestHeader missing or invalid; MessageGUID reused for a different packet",
    )
    UNSUPPORTED_OPERATION = (
        "FMT001310",
        "unknown operation or SOAPAction; format version not accepted "
        "(the Fault lists the accepted ones)",
    )
    UNAUTHENTICATED = (
        "AUT011000",
        "HTTP credentials missing or wrong (401), organisation locked (403)",
    )
    UNKNOWN_ORGANIZATION = "AUT011002", "organisation not registered"
    NOT_ALLOWED = (
        "AUT011003",
        "operation not allowed for the organisation's role (bank notices from anyone but a "
        "bank); per item: house not managed by the UO (no placed management contract or "
        "charter of it covers the house), house not supplied by the RSO (no placed supply "
        "contract of it has the address), a contract of another organisation, account kept by another organisation, payment document placed by another "
        "organisation, notice of a payment to another organisation; only the document's "
        "owner acknowledges",
    )
    CERTIFICATE_REFUSED = (
        "AUT011004",
        "signer certificate untrusted, expired, not yet valid or not registered for the orgPPAGUID",
    )
    SIGNATURE_INVALID = "AUT011005", "signature missing, malformed, wrapped, or not verifying"
    REQUEST_NOT_FOUND = (
        "INT002013",
        "getState of an unknown MessageGUID or of another organisation's packet",
    )
    TEMPORARILY_UNAVAILABLE = "EXP002001", "temporary: the database is unreachable; retry later"
    INTERNAL_ERROR = (
        "EXP001000",
        "internal error (a Fault, or the result of a packet that failed or went to the dead "
        "letter)",
    )

    # --- processing: whole requests and items -------------------------------------------
    NOTHING_TO_EXPORT = "INT002012", "export found nothing (getStateResult/ErrorMessage)"
    NOT_FOUND = "INT002000", "an item references an object that does not exist (per item)"
    DOCUMENT_WITHDRAWN = (
        "SRV008070",
        "payment document already withdrawn (per item): replacing or withdrawing it again, "
        "a notice or an acknowledgment naming it",
    )

    # house import (per item)
    HOUSE_EXISTS = (
        "HCS001001",
        "house: already registered (send …ToUpdate to change or take it over)",
    )
    HOUSE_DUPLICATE_NUMBER = (
        "HCS001002",
        "house: an entrance, premises, room or lift number that exists already",
    )
    HOUSE_NO_SUCH_ENTRANCE = "HCS001003", "house: an entrance the house does not have"
    HOUSE_PARENT_FAILED = "HCS001004", "house: the house item this item belongs to failed"

    # readings (per item)
    READING_DEVICE_ARCHIVED = "HCS002001", "reading: the metering device is archived"
    READING_UNKNOWN_RESOURCE = "HCS002002", "reading: a resource the device does not measure"
    READING_FUTURE_DATE = "HCS002003", "reading: date in the future"
    READING_BEFORE_INSTALLATION = "HCS002004", "reading: date before the device's installation"
    READING_CAPACITY = (
        "HCS002005",
        "reading: value over the register's digits (9 integer digits by default)",
    )
    READING_DECREASING = (
        "HCS002006",
        "reading: lower than the previous reading (only a replaced or verified device may go back)",
    )
    READING_CONFLICT = "HCS002007", "reading: another reading for the same device and day"
    READING_TARIFFS = "HCS002008", "reading: more tariff zones than the device has"
    READING_VERIFICATION = (
        "HCS002009",
        "reading: a verification that cannot have happened (ends before it starts, sealed "
        "before it ended, no start or end value)",
    )

    # metering devices (per item)
    DEVICE_NO_HOUSE = "HCS002010", "metering device: house unknown"
    DEVICE_DUPLICATE_NUMBER = "HCS002011", "metering device: number already active in the house"
    DEVICE_LINK_ELSEWHERE = (
        "HCS002012",
        "metering device: links in different houses, or a replacing device not active in the same house",
    )
    DEVICE_ACCOUNT_CLOSED = "HCS002013", "metering device: linked account closed"
    DEVICE_HAS_READINGS = "HCS002014", "metering device: full update after readings"
    DEVICE_ALREADY_ARCHIVED = "HCS002015", "metering device: already archived"
    DEVICE_BAD_DATES = "HCS002016", "metering device: inconsistent dates"
    DEVICE_BAD_UNIT = "HCS002017", "metering device: unit not allowed for the resource"

    # reading history export (whole request)
    HISTORY_PERIOD = (
        "HCS002020",
        "reading history export (getStateResult/ErrorMessage): the period ends before it "
        "starts or reaches beyond two consecutive calendar months (no dates: the first day "
        "of last month ► today)",
    )

    # personal accounts (per item)
    ACCOUNT_SHARES_OVER_100 = (
        "HCS003001",
        "account: SharePercent of its accommodations adds up to more than 100",
    )
    ACCOUNT_NUMBER_IN_USE = (
        "HCS003002",
        "account: AccountNumber already used by another open account of the organisation",
    )
    ACCOUNT_CLOSED = (
        "HCS003003",
        "account: it is closed; a closed account is final (not changed, not reopened): "
        "create a new one",
    )
    ACCOUNT_KIND_NOT_ALLOWED = (
        "HCS003004",
        "account: kind flag not kept by the sender's role (UO: isUOAccount, isCRAccount; "
        "RSO: isRSOAccount, isTKOAccount), or a change of an account's kind",
    )
    ACCOUNT_CLOSE_DATE_IN_FUTURE = "HCS003005", "account: CloseDate in the future"
    ACCOUNT_NO_ACCOMMODATION = "HCS003006", "account: an open account without Accommodation"
    ACCOUNT_DUPLICATE_ACCOMMODATION = (
        "HCS003007",
        "account: the same premises, room or house twice in its Accommodation",
    )
    ACCOUNT_CLOSED_NEW = "HCS003008", "account: Closed sent for a new account (no AccountGUID)"

    # payment documents (per item)
    DOCUMENT_ACCOUNT_CLOSED = "HCS004001", "payment document: the account is closed"
    DOCUMENT_EXISTS = (
        "HCS004002",
        "payment document: a placed document of the account for the period exists (replace "
        "it by its PaymentDocumentID or withdraw it)",
    )
    DOCUMENT_SERVICE_TWICE = "HCS004003", "payment document: a service charged twice"
    DOCUMENT_HAS_ACKNOWLEDGMENTS = (
        "HCS004004",
        "payment document: replacing or withdrawing a document with acknowledged payments",
    )
    DOCUMENT_REPLACED_ELSEWHERE = (
        "HCS004005",
        "payment document: a replacement for another account or period",
    )
    DOCUMENT_NO_ORDINAL_LEFT = (
        "HCS004006",
        "payment document: 99 documents of the account for the period",
    )
    DOCUMENT_WITHDRAW_WITHOUT_ID = (
        "HCS004016",
        "payment document: Withdraw without PaymentDocumentID",
    )

    # acknowledgments (per item)
    ACK_AMOUNT_NOT_POSITIVE = "HCS004007", "acknowledgment: Amount not above zero"
    ACK_OVER_NOTICE = (
        "HCS004008",
        "acknowledgment: more than the notice's amount (counting what is already acknowledged)",
    )
    ACK_OVER_CHARGE = (
        "HCS004009",
        "acknowledgment: more than the charge's amount due (counting what is already acknowledged)",
    )
    ACK_NOTICE_CANCELLED = "HCS004010", "acknowledgment: the notice is cancelled"
    ACK_NO_SUCH_CHARGE = (
        "HCS004011",
        "acknowledgment: no charge of that service (and month) in the document",
    )
    ACK_OTHER_ACCOUNT = (
        "HCS004012",
        "acknowledgment: document of another account than the payment",
    )
    ACK_DETAILS_DIFFER = "HCS004013", "acknowledgment: PaymentInformation not the charge's"
    ACK_IMPOSSIBLE_AFTER_ACK = (
        "HCS004014",
        "acknowledgment: AckImpossible for a notice with acknowledged amounts",
    )
    ACK_NOTHING_TO_CANCEL = (
        "HCS004015",
        "acknowledgment: AckCancellation without an active acknowledgment",
    )

    # payment notices (per item)
    NOTICE_NO_REFERENCE = "HCS005001", "payment notice: no payment document or account named"
    NOTICE_REFERENCES_DISAGREE = (
        "HCS005002",
        "payment notice: references that disagree (document, account, period, p.139 GUIDs)",
    )
    NOTICE_ORDER_REUSED = (
        "HCS005003",
        "payment notice: an OrderID already posted for another payment",
    )
    NOTICE_CANCELLED = (
        "HCS005004",
        "payment notice: a cancelled notice (reposted or cancelled again)",
    )
    NOTICE_BAD_DATE = (
        "HCS005005",
        "payment notice: OrderDate in the future, CancellationDate before OrderDate or in the "
        "future",
    )
    NOTICE_AMBIGUOUS_ACCOUNT = (
        "HCS005006",
        "payment notice: house and account number naming several accounts",
    )
    NSI_REF_UNKNOWN = (
        "HCS009001",
        "reference book (NSI): a Code and GUID that are not an actual entry of the book the "
        "element refers to, or a GUID of another code (`gateway nsi import` loads the books)",
    )

    # contracts: management contracts, charters, resource supply contracts (per item)
    CONTRACT_STATE = (
        "HCS007001",
        "contract: its state does not allow the change (a terminated or annulled contract "
        "changes no more; only a project is placed or deleted as a project)",
    )
    CONTRACT_HOUSE_MANAGED = (
        "HCS007002",
        "management contract or charter: the house is managed by another organisation under "
        "its placed contract or charter",
    )
    CONTRACT_VERSION_STALE = (
        "HCS007003",
        "contract: the version GUID sent is not the contract's current version",
    )
    CONTRACT_CHANGE_NOT_KEPT = (
        "HCS007004",
        "contract: a change the gateway does not keep (roll-over of a charter, payment "
        "information of a contract or charter)",
    )
    ACCOUNT_BASIS = (
        "HCS007005",
        "personal account: AccountReasons names a supply contract (ContractGUID) that is not "
        "a placed one the sender is a party to",
    )


# --- the README table --------------------------------------------------------------------

BEGIN = "<!-- error codes: generated by `python -m gateway.codes --write README.md` -->"
END = "<!-- end of error codes -->"


def markdown_table() -> str:
    """The README's "Error codes" table, one row per code, between its markers."""
    rows = [f"| {code.value} | {code.meaning} |" for code in Code]
    return "\n".join([BEGIN, "| code | when |", "|---|---|", *rows, END])


def replace_table(text: str) -> str:
    """``text`` (the README) with the table between the markers regenerated."""
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + markdown_table() + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.codes", description="Print or write the error-code table."
    )
    parser.add_argument("--write", type=Path, metavar="README", help="regenerate it in place")
    args = parser.parse_args(argv)
    if args.write is None:
        print(markdown_table())
        return 0
    args.write.write_text(replace_table(args.write.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
