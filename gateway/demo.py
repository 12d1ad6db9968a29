"""``gateway demo``: onboard synthetic houses through the real SOAP API.

It registers a demo CA and demo organisations (a management company, a resource supplier and
a bank) in the server's store, then for each house: the company places a management contract
of the house and the supplier a supply contract (an offer of cold water) having it — the
contracts that let each keep data there — then house ► personal accounts ► metering devices ►
readings ► history export, and the money path: payment documents for the accounts of last month ► the demo bank
posts payment notices (one of them is cancelled) ► the company exports the new notices and
acknowledges them against the charges of the documents ► a summary of paid, partly paid and
unpaid documents as exportPaymentDocumentData shows them. Each step uses the GUIDs and
identifiers the previous step returned; it prints what was sent, accepted and processed.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker
from zeep.exceptions import Fault

from gateway.codes import Code
from gateway.enrol import register_certificate
from gateway.passwords import hash_password, new_password
from gateway.services import service_path
from gateway.zeep_client import GisClient, fault_code
from persistence import organizations
from persistence.nsi import shipped_ref
from persistence.roles import Role
from signing import fingerprint
from signing.pki import KeyAlgorithm, init_ca, issue, load_certificate

HM_PATH = service_path("house-management")
DM_PATH = service_path("device-metering")
BILLS_PATH = service_path("bills")
PAYMENT_PATH = service_path("payment")
DEMO_UO = "d0000000-de70-4000-8000-000000000001"
DEMO_RSO = "d0000000-de70-4000-8000-000000000002"
DEMO_BANK = "d0000000-de70-4000-8000-000000000003"
COLD_WATER = shipped_ref(2, "1")
COLD_WATER_SUPPLY = {"Code": "1", "GUID": "a2000000-0000-4000-8000-000000000001"}  # NSI 3
MANAGEMENT_BASIS = {"Code": "1", "GUID": "a4000000-0000-4000-8000-000000000001"}  # NSI 58
STATE = shipped_ref(24, "2")
OLSON_TZ = shipped_ref(32, "1")


@dataclass
class Tally:
    """Items sent, accepted (acknowledged), processed without error, and errors by code."""

    sent: Counter[str] = field(default_factory=Counter)
    processed: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    failed_steps: list[str] = field(default_factory=list)

    def record(self, step: str, results: list[Any]) -> list[Any]:
        self.sent[step] += len(results)
        for result in results:
            error = result["Error"]
            if error:
                self.errors[f"{step}: {error[0]['ErrorCode']}"] += 1
            else:
                self.processed[step] += 1
        return results


def _tg() -> str:
    return str(uuid.uuid4())


class ServerUsesAnotherStore(RuntimeError):
    """The server at the demo's URL does not know the organisation the demo registered."""


def check_server_knows(url: str, org_guid: str, password: str) -> None:
    """Ask the server for the state of an unknown packet with the organisation's credentials:
    a server on the same store answers INT002013 (no such packet); one on another store
    answers 401 (AUT011000) or AUT011002, and nothing the demo sends would get through."""
    from gateway.client import ClientError, GatewayClient
    from gateway.services import build_registry

    service = build_registry().by_name("house-management")
    try:
        GatewayClient(url, org_guid, password, timeout=30).state(service, str(uuid.uuid4()))
    except ClientError as exc:
        if exc.status == 401 or exc.code in (Code.UNAUTHENTICATED, Code.UNKNOWN_ORGANIZATION):
            raise ServerUsesAnotherStore(
                f"the server at {url} does not know the organisation {org_guid} the demo has "
                f"just registered ({exc.code or 'HTTP'} {exc.status}): it uses another store"
            ) from None


#: how long to wait for the server to trust a CA the demo has just registered
TRUST_WAIT_SECONDS = 30.0


def send(client: GisClient, operation: str, **request: Any) -> Any:
    """Send a request and wait until it is processed; its getStateResult.

    The server re-reads its trust store every few seconds: a demo CA registered a moment ago is
    refused (AUT011004) until then, so that refusal is retried for a while.
    """
    deadline = time.monotonic() + TRUST_WAIT_SECONDS
    while True:
        try:
            ack = client.call(operation, **request)
            break
        except Fault as exc:
            if fault_code(exc) != Code.CERTIFICATE_REFUSED or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    return client.wait(client.ack_guid(ack), timeout=300)


def register_demo_organisation(
    sessions: sessionmaker[Session],
    pki_dir: Path,
    org_guid: str = DEMO_UO,
    name: str = "Demo management company",
    role: Role = Role.UO,
    algorithm: KeyAlgorithm = "rsa",
) -> tuple[str, Path, Path, str]:
    """A demo CA (trusted) and a demo organisation with certificate and password;
    ``algorithm`` (rsa, gost2012-256, gost2012-512) picks the keys of both."""
    suffix = "" if algorithm == "rsa" else f"-{algorithm}"
    ca_dir = pki_dir / f"ca{suffix}"
    if not (ca_dir / "ca.pem").exists():
        init_ca(ca_dir, common_name=f"hcs-gateway demo CA{suffix}", algorithm=algorithm)
    org_dir = pki_dir / f"{org_guid}{suffix}"
    if not (org_dir / "cert.pem").exists():
        issue(ca_dir, org_guid, org_dir, key_type=algorithm)
    ca, cert = load_certificate(ca_dir / "ca.pem"), load_certificate(org_dir / "cert.pem")
    password = new_password()
    with sessions.begin() as session:
        organizations.add_trust_anchor(
            session,
            fingerprint(ca),
            ca.subject.rfc4514_string(),
            ca.public_bytes(Encoding.PEM).decode(),
        )
        organizations.add_organization(session, org_guid, name, role, hash_password(password))
        if organizations.certificate_owner(session, fingerprint(cert)) is None:
            register_certificate(session, org_guid, cert)
    return org_guid, org_dir / "key.pem", org_dir / "cert.pem", password


class Onboarding:
    """One house through every step, with the GUIDs each step returned."""

    def __init__(
        self, hm: GisClient, dm: GisClient, rso: GisClient, tally: Tally, flats: int
    ) -> None:
        self.hm, self.dm, self.rso, self.tally, self.flats = hm, dm, rso, tally, flats

    def contract(self, fias: str) -> None:
        """The company places its management contract of the house: it manages it from now."""
        today = date.today()
        item = {
            "TransportGUID": _tg(),
            "PlacingContract": {
                "DocNum": f"DEMO-{fias[:8]}",
                "SigningDate": today - timedelta(days=30),
                "EffectiveDate": today - timedelta(days=30),
                "PlanDateComptetion": today.replace(year=today.year + 5),
                "Owners": True,
                "ContractBase": MANAGEMENT_BASIS,
                "ContractAttachment": [
                    {
                        "Name": "contract.pdf",
                        "Description": "management contract",
                        "Attachment": {"AttachmentGUID": _tg()},
                    }
                ],
                "ContractObject": [
                    {
                        "FIASHouseGuid": fias,
                        "StartDate": today - timedelta(days=30),
                        "TransportGUID": _tg(),
                        "BaseMService": {"CurrentDoc": True},
                    }
                ],
            },
        }
        state = self._results(
            "contract", self.hm, "importContractData", version="11.9.0.1", Contract=[item]
        )
        self.tally.record(
            "contract", [r for res in state["ImportResult"] or [] for r in res["CommonResult"]]
        )

    def supply(self, fias: str) -> None:
        """The supplier places its offer of cold water to the house: it supplies it from now."""
        start = date.today() - timedelta(days=30)
        subject = _tg()
        item = {
            "TransportGUID": _tg(),
            "SupplyResourceContract": {
                "IsNotContract": {"ContractNumber": f"OFFER-{fias[:8]}"},
                "IndefiniteTerm": True,
                "Offer": True,
                "IsPlannedVolume": False,
                "ContractSubject": [
                    {
                        "ServiceType": COLD_WATER_SUPPLY,
                        "MunicipalResource": COLD_WATER,
                        "StartSupplyDate": start,
                        "TransportGUID": subject,
                    }
                ],
                "SpecifyingQualityIndicators": "D",
                "ObjectAddress": [
                    {
                        "HouseType": "MKD",
                        "FIASHouseGuid": fias,
                        "TransportGUID": _tg(),
                        "Pair": [{"PairKey": subject, "StartSupplyDate": start}],
                    }
                ],
            },
        }
        state = self._results(
            "supply",
            self.rso,
            "importSupplyResourceContractData",
            version="11.3.0.5",
            Contract=[item],
        )
        self.tally.record(
            "supply", [r for res in state["ImportResult"] or [] for r in res["CommonResult"]]
        )

    def _results(self, step: str, client: GisClient, operation: str, **request: Any) -> Any:
        state = send(client, operation, **request)
        if state["ErrorMessage"]:
            self.tally.failed_steps.append(
                f"{step}: {state['ErrorMessage']['ErrorCode']} {state['ErrorMessage']['Description']}"
            )
        return state

    def house(self, fias: str) -> dict[str, str]:
        flats = []
        for n in range(1, self.flats + 1):
            flats.append(
                {
                    "ResidentialPremisesToCreate": {
                        "No_RSO_GKN_EGRP_Registered": True,
                        "PremisesNum": str(n),
                        "EntranceNum": "1",
                        "TotalArea": "48.50",
                        "TransportGUID": _tg(),
                    }
                }
            )
        request = {
            "version": "13.2.3.2",
            "ApartmentHouse": {
                "ApartmentHouseToCreate": {
                    "BasicCharacteristicts": {
                        "No_RSO_GKN_EGRP_Registered": True,
                        "FIASHouseGuid": fias,
                        "TotalSquare": "2500",
                        "State": STATE,
                        "UsedYear": 1980,
                        "FloorCount": 5,
                        "OlsonTZ": OLSON_TZ,
                        "CulturalHeritage": False,
                    },
                    "UndergroundFloorCount": 0,
                    "TransportGUID": _tg(),
                },
                "EntranceToCreate": [
                    {"EntranceNum": "1", "StoreysCount": 5, "TransportGUID": _tg()}
                ],
                "ResidentialPremises": flats,
            },
        }
        state = self._results("house", self.hm, "importHouseUOData", **request)
        results = self.tally.record(
            "house", [r for res in state["ImportResult"] or [] for r in res["CommonResult"]]
        )
        by_tg = {r["TransportGUID"]: r["GUID"] for r in results if not r["Error"]}
        premises = [
            by_tg[f["ResidentialPremisesToCreate"]["TransportGUID"]]
            for f in flats
            if f["ResidentialPremisesToCreate"]["TransportGUID"] in by_tg
        ]
        return {"fias": fias, **{f"flat{i}": g for i, g in enumerate(premises)}}

    def accounts(self, premises: list[str]) -> list[tuple[str, str]]:
        items = [
            {
                "isUOAccount": True,
                "TotalSquare": "48.50",
                "Accommodation": [{"PremisesGUID": p, "SharePercent": "100"}],
                "PayerInfo": {"Ind": {"Surname": "Ivanov", "FirstName": f"Resident {i}"}},
                "TransportGUID": _tg(),
                "AccountNumber": f"LS-{p[:8]}-{i:05d}",  # unique per organisation
            }
            for i, p in enumerate(premises, start=1)
        ]
        state = self._results(
            "accounts", self.hm, "importAccountData", version="10.0.1.1", Account=items
        )
        results = self.tally.record(
            "accounts", [r for res in state["ImportResult"] or [] for r in res["CommonResult"]]
        )
        by_tg = {r["TransportGUID"]: r["GUID"] for r in results if not r["Error"]}
        return [
            (p, by_tg[i["TransportGUID"]])
            for p, i in zip(premises, items, strict=True)
            if i["TransportGUID"] in by_tg
        ]

    def devices(self, fias: str, flats: list[tuple[str, str]]) -> list[str]:
        installed = date.today() - timedelta(days=365)
        items = [
            {
                "TransportGUID": _tg(),
                "DeviceDataToCreate": {
                    "BasicChatacteristicts": {
                        "MeteringDeviceNumber": f"CW-{n:06d}",
                        "InstallationDate": installed,
                        "RemoteMeteringMode": False,
                        "TemperatureSensor": False,
                        "PressureSensor": False,
                        "ResidentialPremiseDevice": {
                            "PremiseGUID": [premises],
                            "AccountGUID": [account],
                        },
                    },
                    "NotLinkedWithMetering": True,
                    "MunicipalResourceNotEnergy": [
                        {"MunicipalResource": COLD_WATER, "MeteringValue": "0", "Unit": "113"}
                    ],
                },
            }
            for n, (premises, account) in enumerate(flats, start=1)
        ]
        roots: list[str] = []
        for start in range(0, len(items), 100):
            state = self._results(
                "devices",
                self.hm,
                "importMeteringDeviceData",
                version="11.1.0.8",
                FIASHouseGuid=fias,
                MeteringDevice=items[start : start + 100],
            )
            results = self.tally.record(
                "devices", [r for res in state["ImportResult"] or [] for r in res["CommonResult"]]
            )
            roots += [
                r["importMeteringDevice"]["MeteringDeviceGUID"] for r in results if not r["Error"]
            ]
        return roots

    def readings(self, fias: str, roots: list[str]) -> None:
        day = date.today() - timedelta(days=1)
        items = [
            {
                "MeteringDeviceRootGUID": root,
                "OneRateDeviceValue": {
                    "CurrentValue": [
                        {
                            "MunicipalResource": COLD_WATER,
                            "MeteringValue": f"{3 + i % 9}.{i % 1000:03d}",
                            "DateValue": day,
                            "TransportGUID": _tg(),
                            "Period": {"Year": day.year, "Month": day.month},
                        }
                    ]
                },
            }
            for i, root in enumerate(roots)
        ]
        for start in range(0, len(items), 1000):
            state = self._results(
                "readings",
                self.dm,
                "importMeteringDeviceValues",
                version="10.0.1.1",
                FIASHouseGuid=fias,
                MeteringDevicesValues=items[start : start + 1000],
            )
            self.tally.record("readings", list(state["ImportResult"] or []))

    def history(self, fias: str, expected: int) -> None:
        state = self._results(
            "history",
            self.dm,
            "exportMeteringDeviceHistory",
            version="10.0.1.3",
            FIASHouseGuid=[fias],
            MunicipalResource=[COLD_WATER],
        )
        exported = state["exportMeteringDeviceHistoryResult"] or []
        self.tally.sent["history"] += 1
        if len(exported) == expected:
            self.tally.processed["history"] += 1
        else:
            self.tally.failed_steps.append(
                f"history of {fias}: {len(exported)} devices exported, {expected} expected"
            )


# --- the money path -----------------------------------------------------------------------

HOUSING = {**shipped_ref(50, "1"), "Name": "Содержание жилья"}
COLD_WATER_SERVICE = {
    "Code": "1",
    "GUID": "51000000-0000-4000-8000-000000000001",
    "Name": "Холодное водоснабжение",
}
CAPITAL_REPAIR = "c0000000-0000-4000-8000-00000000c001"  # HSType of capital repair (bills.common)
DEMO_BIK, DEMO_BANK_ACCOUNT = "044525225", "40702810938000012345"
RECIPIENT = {
    "INN": "7701234567",
    "Legal": {"KPP": "770101001", "Name": "Demo management company"},
    "PaymentInformation": {
        "RecipientINN": "7701234567",
        "BankName": "Demo bank",
        "PaymentRecipient": "Demo management company",
        "BankBIK": DEMO_BIK,
        "operatingAccountNumber": DEMO_BANK_ACCOUNT,
    },
}
STATUSES = ("paid", "partly paid", "unpaid")


@dataclass
class Bill:
    """A placed payment document: its PaymentDocumentID and charges (ack element, GUID, roubles)."""

    pd_id: str
    charges: list[tuple[str, str, Decimal]]

    @property
    def total(self) -> Decimal:
        return sum((amount for _, _, amount in self.charges), Decimal(0))


def _kopecks(roubles: Decimal) -> int:
    return int(roubles * 100)


class MoneyPath:
    """Payment documents ► bank notices (one cancelled) ► export ► acknowledgment ► summary."""

    def __init__(self, bills: GisClient, bank: GisClient, tally: Tally, period: date) -> None:
        self.bills, self.bank, self.tally, self.period = bills, bank, tally, period

    def _state(self, step: str, client: GisClient, operation: str, **request: Any) -> Any:
        state = send(client, operation, **request)
        if state["ErrorMessage"]:
            message = state["ErrorMessage"]
            self.tally.failed_steps.append(
                f"{step}: {message['ErrorCode']} {message['Description']}"
            )
        return state

    def _imported(self, step: str, client: GisClient, operation: str, **request: Any) -> list[Any]:
        state = self._state(step, client, operation, **request)
        return self.tally.record(step, list(state["ImportResult"] or []))

    def documents(self, accounts: list[str]) -> list[Bill]:
        """One document per account for the period: housing, cold water, capital repair."""
        key, items, bills = _tg(), [], []
        for i, account in enumerate(accounts):
            charges = [
                ("HSType", HOUSING["GUID"], Decimal("1382.25")),
                (
                    "MSType",
                    COLD_WATER_SERVICE["GUID"],
                    Decimal("300.00") + Decimal("12.34") * (i % 7),
                ),
                ("HSType", CAPITAL_REPAIR, Decimal("468.03")),
            ]
            bill = Bill("", charges)
            items.append(
                {
                    "AccountGuid": account,
                    "PaymentDocumentNumber": f"ПД-{self.period:%Y-%m}-{i + 1:05d}",
                    "ChargeInfo": [
                        {
                            "HousingService": {
                                "ServiceType": HOUSING,
                                "Rate": "28.5",
                                "TotalPayable": charges[0][2],
                            }
                        },
                        {
                            "MunicipalService": {
                                "ServiceType": COLD_WATER_SERVICE,
                                "Rate": "44.61",
                                "TotalPayable": charges[1][2],
                            }
                        },
                    ],
                    "CapitalRepairCharge": {
                        "Contribution": Decimal("9.65"),
                        "TotalPayable": charges[2][2],
                    },
                    "TotalPayableByPD": bill.total,
                    "TransportGUID": _tg(),
                    "PaymentInformationKey": key,
                }
            )
            bills.append(bill)
        placed: list[Bill] = []
        for start in range(0, len(items), 500):
            chunk = items[start : start + 500]
            results = self._imported(
                "documents",
                self.bills,
                "importPaymentDocumentData",
                version="11.2.0.16",
                Month=self.period.month,
                Year=self.period.year,
                PaymentInformation=[
                    {
                        "BankBIK": DEMO_BIK,
                        "operatingAccountNumber": DEMO_BANK_ACCOUNT,
                        "TransportGUID": key,
                    }
                ],
                PaymentDocument=chunk,
            )
            by_tg = {r["TransportGUID"]: r["UniqueNumber"] for r in results if not r["Error"]}
            for item, bill in zip(chunk, bills[start : start + 500], strict=True):
                if item["TransportGUID"] in by_tg:
                    bill.pd_id = by_tg[item["TransportGUID"]]
                    placed.append(bill)
        return placed

    def notices(self, bills: list[Bill]) -> tuple[dict[str, Bill], str | None]:
        """The bank posts payments: in full, half, nothing (every fourth document in turn), and
        one mistaken payment; returns notice GUID ► document and the mistaken OrderID."""
        plan: list[tuple[Bill, int, str]] = []
        for i, bill in enumerate(bills):
            share = (1, Decimal("0.5"), 0, 1)[i % 4]
            amount = _kopecks(bill.total * share)
            if amount:
                plan.append((bill, amount, uuid.uuid4().hex))
        mistaken = (bills[0], 10000, uuid.uuid4().hex) if bills else None
        if mistaken:
            plan.append(mistaken)
        posted: dict[str, Bill] = {}
        for start in range(0, len(plan), 500):
            chunk = plan[start : start + 500]
            items = [
                {
                    "SupplierInfo": {"SupplierName": "Demo payer"},
                    "RecipientInfo": RECIPIENT,
                    "OrderInfo": {
                        "OrderID": order,
                        "OrderDate": datetime.now(UTC).date(),
                        "Amount": amount,
                        "PaymentPurpose": f"Оплата ЖКУ за {self.period:%m.%Y}",
                        "PaymentDocumentID": bill.pd_id,
                        "Year": self.period.year,
                        "Month": self.period.month,
                    },
                    "TransportGUID": _tg(),
                }
                for bill, amount, order in chunk
            ]
            results = self._imported(
                "notices",
                self.bank,
                "importNotificationsOfOrderExecution",
                version="10.0.1.1",
                NotificationOfOrderExecutionType=items,
            )
            for result, (bill, _, order) in zip(results, chunk, strict=True):
                if not result["Error"] and (not mistaken or order != mistaken[2]):
                    posted[result["GUID"]] = bill
        return posted, mistaken[2] if mistaken else None

    def cancel(self, order_id: str) -> None:
        self._imported(
            "cancellations",
            self.bank,
            "importNotificationsOfOrderExecutionCancellation",
            version="10.0.1.1",
            NotificationOfOrderExecutionCancellation=[
                {
                    "OrderID": order_id,
                    "CancellationDate": datetime.now(UTC).date(),
                    "Comment": "Ошибочный платёж",
                    "TransportGUID": _tg(),
                }
            ],
        )

    def acknowledge(self, posted: dict[str, Bill]) -> None:
        """Export the new notices and match each to the charges of its document, in order."""
        today = datetime.now(UTC).date()
        state = self._state(
            "acknowledgments",
            self.bills,
            "exportNotificationsOfOrderExecution",
            version="10.0.1.1",
            Notifications={
                "DaysInterval": 2,
                "AckStatus": [0],
                "DateFrom": today - timedelta(days=1),
            },
        )
        exported = {
            n["NotificationsOfOrderExecutionGUID"]: n
            for block in state["exportNotificationsOfOrderExecutionResult"] or []
            for n in block["NotificationOfOrderExecutionWithStatus"]
        }
        missing = set(posted) - set(exported)
        if missing:
            self.tally.failed_steps.append(
                f"export of notices: {len(missing)} posted notices missing"
            )
        items = []
        for guid, notice in exported.items():
            bill = posted.get(guid)
            if bill is None:
                continue  # a notice of an earlier demo run
            left = int(notice["OrderInfo"]["Amount"])
            for kind, ref, due in bill.charges:
                amount = min(left, _kopecks(due))
                if amount <= 0:
                    break
                items.append(
                    {
                        "NotificationsOfOrderExecutionGUID": guid,
                        "PaymentDocumentAck": {
                            "PaymentDocumentID": bill.pd_id,
                            kind: ref,
                            "Amount": Decimal(amount) / 100,
                        },
                        "TransportGUID": _tg(),
                    }
                )
                left -= amount
        for start in range(0, len(items), 100):
            self._imported(
                "acknowledgments",
                self.bills,
                "importAcknowledgment",
                version="11.0.0.2",
                AcknowledgmentRequestInfo=items[start : start + 100],
            )

    def summary(self, bills: list[Bill]) -> dict[str, list[Decimal]]:
        """status ► [documents, due, paid] as exportPaymentDocumentData shows them (PaidCash)."""
        totals: dict[str, list[Decimal]] = {s: [Decimal(0)] * 3 for s in STATUSES}
        for start in range(0, len(bills), 1000):
            state = self._state(
                "summary",
                self.bills,
                "exportPaymentDocumentData",
                version="13.1.0.1",
                PaymentDocumentID=[b.pd_id for b in bills[start : start + 1000]],
            )
            for result in state["exportPaymentDocResult"] or []:
                doc = result["PaymentDocument"]
                if doc is None:
                    continue
                due, paid = Decimal(doc["TotalPayableByPD"] or 0), Decimal(doc["PaidCash"] or 0)
                status = "paid" if paid >= due else "partly paid" if paid else "unpaid"
                row = totals[status]
                row[0] += 1
                row[1] += due
                row[2] += paid
        return totals


def run_demo(
    url: str,
    sessions: sessionmaker[Session],
    pki_dir: Path,
    houses: int,
    flats: int,
    console: Console,
    algorithm: KeyAlgorithm = "rsa",
) -> Tally:
    org_guid, key, cert, password = register_demo_organisation(
        sessions, pki_dir, algorithm=algorithm
    )
    bank_guid, bank_key, bank_cert, bank_password = register_demo_organisation(
        sessions, pki_dir, DEMO_BANK, "Demo bank", Role.BANK, algorithm=algorithm
    )
    rso_guid, rso_key, rso_cert, rso_password = register_demo_organisation(
        sessions, pki_dir, DEMO_RSO, "Demo resource supplier", Role.RSO, algorithm=algorithm
    )
    url = url.rstrip("/")
    check_server_knows(url, org_guid, password)
    hm = GisClient(url + HM_PATH + "?wsdl", org_guid, key, cert, password=password)
    dm = GisClient(url + DM_PATH + "?wsdl", org_guid, key, cert, password=password)
    bills = GisClient(url + BILLS_PATH + "?wsdl", org_guid, key, cert, password=password)
    bank = GisClient(
        url + PAYMENT_PATH + "?wsdl", bank_guid, bank_key, bank_cert, password=bank_password
    )
    rso = GisClient(url + HM_PATH + "?wsdl", rso_guid, rso_key, rso_cert, password=rso_password)
    tally = Tally()
    onboarding = Onboarding(hm, dm, rso, tally, flats)
    period = (date.today().replace(day=1) - timedelta(days=1)).replace(day=1)  # last month
    money = MoneyPath(bills, bank, tally, period)
    placed: list[Bill] = []
    with Progress(console=console) as progress:
        task = progress.add_task("onboarding houses", total=houses * 11)
        for _ in range(houses):
            fias = str(uuid.uuid4())
            onboarding.contract(fias)
            progress.advance(task)
            onboarding.supply(fias)
            progress.advance(task)
            house = onboarding.house(fias)
            progress.advance(task)
            premises = [v for k, v in house.items() if k.startswith("flat")]
            flats_with_accounts = onboarding.accounts(premises)
            progress.advance(task)
            roots = onboarding.devices(house["fias"], flats_with_accounts)
            progress.advance(task)
            onboarding.readings(house["fias"], roots)
            progress.advance(task)
            onboarding.history(house["fias"], len(roots))
            progress.advance(task)
            documents = money.documents([account for _, account in flats_with_accounts])
            placed += documents
            progress.advance(task)
            posted, mistaken = money.notices(documents)
            progress.advance(task)
            if mistaken:
                money.cancel(mistaken)
            progress.advance(task)
            money.acknowledge(posted)
            progress.advance(task)
        statuses = money.summary(placed)
    table = Table(title=f"hcs-gateway demo: {houses} house(s) of {flats} flats")
    for column in ("step", "items sent", "processed ok", "errors"):
        table.add_column(column)
    for step in (
        "contract",
        "supply",
        "house",
        "accounts",
        "devices",
        "readings",
        "history",
        "documents",
        "notices",
        "cancellations",
        "acknowledgments",
    ):
        errors = sum(v for k, v in tally.errors.items() if k.startswith(step + ":"))
        table.add_row(step, str(tally.sent[step]), str(tally.processed[step]), str(errors))
    console.print(table)
    documents_table = Table(
        title=f"payment documents for {period:%m.%Y} (exportPaymentDocumentData)"
    )
    for column in ("state", "documents", "due, RUB", "paid, RUB"):
        documents_table.add_column(column)
    for status in STATUSES:
        count, due, paid = statuses[status]
        documents_table.add_row(status, str(count), f"{due:.2f}", f"{paid:.2f}")
    console.print(documents_table)
    for code, times in sorted(tally.errors.items()):
        console.print(f"  error {code}: {times}")
    for failure in tally.failed_steps:
        console.print(f"  [red]failed[/red] {failure}")
    return tally
