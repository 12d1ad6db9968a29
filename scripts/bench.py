"""Accept and processing throughput of the gateway, as a ratio to the floor of the same run.

The floor is the work that cannot be avoided for one packet: parse, XSD-validate,
exclusive c14n of the signed element, the digest and one signature verify (SHA-256 + RSA,
or Streebog + GOST R 34.10-2012 with ``--algorithm gost2012-256``). The durable floor adds
one durable write of the packet's bytes (append + fsync of a file, in the same run), since
nothing is acknowledged before it is durable. Figures are printed, never asserted.

    ./scripts/bench [--packets 200] [--premises 100] [--concurrency 4]
                    [--accept-processes 2] [--queue-workers 2]
                    [--database-url postgresql+psycopg://user@host/db]
                    [--algorithm rsa|gost2012-256|gost2012-512]
                    [--accept-only-packets N] [--json FILE] [--profile]

For every store (SQLite always; PostgreSQL when --database-url is given), on one fresh
database:

1. in-process: the accept pipeline called directly (no HTTP), durable commit included: a
   warm-up, then each packet timed (median, as the floor; mean and cold start printed too)
   right after the floor's work and the durable write of that packet, timed again there, so
   its ratios compare times taken in the same moments of a noisy machine; ``--profile``
   prints where its time goes, step by step;
2. accepting and processing: ``gateway serve --no-worker`` with K gunicorn processes and M
   ``gateway worker`` processes; the packets are sent from C client threads while the
   workers process them and a client polls ``getState`` all along;
3. accept only: the workers stopped, ``--accept-only-packets`` packets (default: as many
   as ``--packets``; the same signed bodies under new MessageGUIDs, so 10,000 cost no
   memory) are sent to the same node: its packets/s, its CPU per packet, and the RSS of
   its processes after a warm-up and at the end.

Printed, per store: packets and items accepted per second, items processed per second,
getState p50/p99 under that load, the accepting processes' CPU per packet, and the
in-process accept, as ratios to the floors. ``--json FILE`` writes the same figures.

On PostgreSQL a scratch database is created next to the one in the URL (the URL's user
needs CREATEDB) and dropped afterwards.

The packets come from a Workload (``--workload``): ``house`` sends importHouseUOData (items
= the house, its entrances and flats); ``readings`` sends importMeteringDeviceValues with one
reading for each of ``--devices`` meters seeded into the store beforehand. Another operation is benched by adding a Workload
class with ``operation``, ``soap_action``, ``xsd``, ``items`` and ``build()`` to WORKLOADS.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Protocol

import requests
from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.client import envelope  # noqa: E402
from gateway.config import load_settings  # noqa: E402
from gateway.enrol import register_certificate  # noqa: E402
from gateway.namespaces import BASE, DS  # noqa: E402
from gateway.namespaces import DEVICE_METERING as DM  # noqa: E402
from gateway.namespaces import HOUSE_MANAGEMENT as HM  # noqa: E402
from gateway.namespaces import METERING_DEVICE_BASE as MDB  # noqa: E402
from gateway.namespaces import NSI_BASE as NSI  # noqa: E402
from gateway.namespaces import SOAP_ENV as SOAP  # noqa: E402
from gateway.passwords import hash_password  # noqa: E402
from gateway.services import service_path  # noqa: E402
from gateway.xmlparse import parse_xml  # noqa: E402
from persistence import organizations  # noqa: E402
from persistence.db import make_engine, make_session_factory  # noqa: E402
from persistence.migrations import upgrade  # noqa: E402
from persistence.nsi import shipped_ref  # noqa: E402
from persistence.roles import Role  # noqa: E402
from signing import fingerprint, sign  # noqa: E402
from signing.algorithms import Digest, SignatureMethod  # noqa: E402
from signing.crypto import certificate_key, verify_value  # noqa: E402
from signing.pki import init_ca, issue  # noqa: E402

ORG = "0b0b0b0b-0000-4000-8000-00000000be4c"
PASSWORD = "bench-password"
INPROC_SAMPLE = 100  # warm-up, the timed packets, and with --profile the steps of the other 50
#: packets a fresh in-process pipeline accepts before the timed ones (caches filled,
#: statements compiled and prepared), reported apart as the cold start
INPROC_WARMUP = 10
#: per-organisation limits of the bench's node (packets per minute, queued packets)
BENCH_LIMIT = 10_000_000
#: getState calls per second during the run (a client polling its packets)
STATE_RATE = 10


# --- workloads ---------------------------------------------------------------------------


class Workload(Protocol):
    description: str
    service_path: str
    operation: str
    xsd: str  # relative to the xsd dir
    items: int  # items per packet

    def build(self) -> etree._Element: ...

    def prepare(self, url: str) -> None:
        """Seed what the packets refer to (nothing for most workloads)."""


@dataclass
class HouseWorkload:
    """importHouseUOData: a new house with 4 entrances and ``premises`` flats per packet."""

    premises: int
    service_path: str = field(default_factory=lambda: service_path("house-management"))
    operation: str = "importHouseUOData"
    xsd: str = "house-management/hcs-house-management-types.xsd"
    fias_guids: list[str] = field(default_factory=list)

    @property
    def items(self) -> int:
        return self.premises + 5

    @property
    def description(self) -> str:
        return (
            f"importHouseUOData, {self.premises} flats + house + 4 entrances = {self.items} items"
        )

    def build(self) -> etree._Element:
        fias = str(uuid.uuid4())
        self.fias_guids.append(fias)
        return house_request(self.premises, fias)

    def prepare(self, url: str) -> None:
        """A placed management contract of the organisation covering every house it sends
        (without it every item is refused, AUT011003, and nothing is written)."""
        engine = make_engine(url)
        with make_session_factory(engine).begin() as session:
            place_management_contract(session, self.fias_guids)
        engine.dispose()


COLD_WATER = ("1", shipped_ref(2, "1")["GUID"])


@dataclass
class ReadingsWorkload:
    """importMeteringDeviceValues: one current reading for each of ``devices`` meters.

    The meters (one house, common-house cold water meters of the benchmark organisation)
    are seeded into each store before the run; packet i posts the readings of day i,
    so every reading passes every rule (not in the future, after installation, growing).
    """

    devices: int
    service_path: str = field(default_factory=lambda: service_path("device-metering"))
    operation: str = "importMeteringDeviceValues"
    xsd: str = "device-metering/hcs-device-metering-types.xsd"
    roots: list[str] = field(default_factory=list)
    built: int = 0

    def __post_init__(self) -> None:
        self.roots = [str(uuid.uuid4()) for _ in range(self.devices)]
        self.house = str(uuid.uuid4())
        self.first_day = date.today() - timedelta(days=3000)

    @property
    def items(self) -> int:
        return self.devices

    @property
    def description(self) -> str:
        return f"importMeteringDeviceValues, {self.devices} devices = {self.items} readings"

    def build(self) -> etree._Element:
        day = self.first_day + timedelta(days=self.built)
        self.built += 1
        root = etree.Element(
            f"{{{DM}}}importMeteringDeviceValuesRequest",
            nsmap={"dm": DM, "base": BASE, "nsi": NSI, "mdb": MDB},
        )
        root.set(f"{{{BASE}}}version", "10.0.1.1")
        root.set("Id", "signed-data-container")
        for n, device in enumerate(self.roots):
            values = _el(DM, "MeteringDevicesValues", None, root)
            _el(DM, "MeteringDeviceRootGUID", device, values)
            current = _el(DM, "CurrentValue", None, _el(DM, "OneRateDeviceValue", None, values))
            resource = _el(MDB, "MunicipalResource", None, current)
            _el(NSI, "Code", COLD_WATER[0], resource)
            _el(NSI, "GUID", COLD_WATER[1], resource)
            _el(MDB, "MeteringValue", f"{self.built * 10 + n % 10}.125", current)
            _el(DM, "DateValue", day.isoformat(), current)
            _el(BASE, "TransportGUID", str(uuid.uuid4()), current)
        return root

    def prepare(self, url: str) -> None:
        from datetime import UTC, datetime
        from decimal import Decimal

        from persistence.models import DeviceResource, House, MeteringDevice

        engine = make_engine(url)
        now = datetime.now(UTC)
        with make_session_factory(engine).begin() as session:
            house = House(
                guid=str(uuid.uuid4()),
                fias_house_guid=self.house,
                org_guid=ORG,
                kind="apartment",
                unique_number=f"{random.randrange(10**10):011d}",
                created_at=now,
                updated_at=now,
            )
            session.add(house)
            session.flush()
            place_management_contract(session, [self.house])
            for n, device in enumerate(self.roots):
                session.add(
                    MeteringDevice(
                        guid=device,
                        version_guid=str(uuid.uuid4()),
                        org_guid=ORG,
                        house_guid=house.guid,
                        kind="collective",
                        number=f"B-{n:05d}",
                        registry_number=f"{random.randrange(10**12):012d}",
                        installation_date=self.first_day - timedelta(days=1),
                        created_at=now,
                        updated_at=now,
                    )
                )
            session.flush()
            session.add_all(
                DeviceResource(
                    device_guid=device,
                    resource_code=COLD_WATER[0],
                    resource_guid=COLD_WATER[1],
                    unit="113",
                    base_t1=Decimal(0),
                )
                for device in self.roots
            )
        engine.dispose()


WORKLOADS = {"house": HouseWorkload, "readings": ReadingsWorkload}


def place_management_contract(session: Any, fias_guids: list[str]) -> None:
    """A placed management contract of the bench's organisation covering these houses: what
    lets it describe them and post their devices' readings (persistence/contracts.py)."""
    from tests.placed import placed_contract

    placed_contract(session, ORG, *fias_guids)


def house_request(premises: int, fias_house_guid: str | None = None) -> etree._Element:
    """An importHouseUORequest: a house with entrances and ``premises`` flats."""
    E = lambda ns, name, text=None, parent=None: _el(ns, name, text, parent)  # noqa: E731
    root = etree.Element(
        f"{{{HM}}}importHouseUORequest", nsmap={"hm": HM, "base": BASE, "nsi": NSI}
    )
    root.set(f"{{{BASE}}}version", "13.2.3.2")
    root.set("Id", "signed-data-container")
    house = E(HM, "ApartmentHouse", parent=root)
    create = E(HM, "ApartmentHouseToCreate", parent=house)
    basic = E(HM, "BasicCharacteristicts", parent=create)
    E(HM, "FIASHouseGuid", fias_house_guid or str(uuid.uuid4()), basic)
    E(HM, "TotalSquare", "3560.5", basic)
    state = E(HM, "State", parent=basic)
    E(NSI, "Code", "2", state)
    E(NSI, "GUID", shipped_ref(24, "2")["GUID"], state)
    E(HM, "UsedYear", "1975", basic)
    E(HM, "FloorCount", "9", basic)
    tz = E(HM, "OlsonTZ", parent=basic)
    E(NSI, "Code", "1", tz)
    E(NSI, "GUID", shipped_ref(32, "1")["GUID"], tz)
    E(HM, "CulturalHeritage", "false", basic)
    E(HM, "UndergroundFloorCount", "1", create)
    E(BASE, "TransportGUID", str(uuid.uuid4()), create)
    for n in (1, 2, 3, 4):
        entrance = E(HM, "EntranceToCreate", parent=house)
        E(HM, "EntranceNum", str(n), entrance)
        E(BASE, "TransportGUID", str(uuid.uuid4()), entrance)
    for n in range(1, premises + 1):
        group = E(HM, "ResidentialPremises", parent=house)
        flat = E(HM, "ResidentialPremisesToCreate", parent=group)
        E(HM, "CadastralNumber", f"77:01:0004012:{n}", flat)
        E(HM, "PremisesNum", str(n), flat)
        E(HM, "EntranceNum", str(1 + n % 4), flat)
        E(HM, "TotalArea", "54.30", flat)
        E(HM, "GrossArea", "50.10", flat)
        E(BASE, "TransportGUID", str(uuid.uuid4()), flat)
    return root


def _el(ns: str, name: str, text: str | None, parent: etree._Element | None) -> etree._Element:
    element = (
        etree.SubElement(parent, f"{{{ns}}}{name}")
        if parent is not None
        else etree.Element(f"{{{ns}}}{name}")
    )
    if text is not None:
        element.text = text
    return element


# --- the floor ---------------------------------------------------------------------------


def floor_timer(schema: etree.XMLSchema, certificate, algorithm: str) -> Callable[[bytes], float]:  # type: ignore[no-untyped-def]
    """A function that does the floor's work for one packet and returns its ms: parse +
    validate + exc-c14n + the digest + one signature verify (SHA-256 + RSA, or Streebog +
    GOST R 34.10-2012 through the gost engine)."""
    method, digest = FLOOR_ALGORITHMS[algorithm]
    key = certificate_key(certificate)

    def once(raw: bytes) -> float:
        start = time.perf_counter()
        root = parse_xml(raw)
        body = root.find(f"{{{SOAP}}}Body")[0]
        schema.validate(body)
        signature = body.find(f"{{{DS}}}Signature")
        digest.compute(etree.tostring(body, method="c14n", exclusive=True))
        signed_info = etree.tostring(
            signature.find(f"{{{DS}}}SignedInfo"), method="c14n", exclusive=True
        )
        value = base64.b64decode(signature.findtext(f"{{{DS}}}SignatureValue"))
        # sign() canonicalizes SignedInfo exclusively, so this verify must succeed
        if not verify_value(method, key, signed_info, value):
            raise AssertionError("the floor's verify failed")
        return (time.perf_counter() - start) * 1000

    return once


def floor_ms(packets: list[bytes], schema: etree.XMLSchema, certificate, algorithm: str) -> float:  # type: ignore[no-untyped-def]
    """Median ms of the floor's work (:func:`floor_timer`) per packet."""
    once = floor_timer(schema, certificate, algorithm)
    return statistics.median(once(raw) for raw in packets)


@contextmanager
def durable_writer(directory: Path) -> Iterator[Callable[[bytes], float]]:
    """A function that appends a packet's bytes to a file in ``directory`` and fsyncs it,
    returning the ms it took (the durable floor's write); the file is removed on exit."""
    path = directory / "durable-floor.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def once(raw: bytes) -> float:
        start = time.perf_counter()
        os.write(fd, raw)
        os.fsync(fd)
        return (time.perf_counter() - start) * 1000

    try:
        yield once
    finally:
        os.close(fd)
        path.unlink()


def durable_write_ms(packets: list[bytes], directory: Path) -> float:
    """Median ms of one durable write of a packet's bytes: append to a file, then fsync."""
    with durable_writer(directory) as once:
        return statistics.median(once(raw) for raw in packets)


FLOOR_ALGORITHMS = {
    "rsa": (SignatureMethod.RSA_SHA256, Digest.SHA256),
    "gost2012-256": (SignatureMethod.GOSTR34102012_256, Digest.GOSTR3411_2012_256),
    "gost2012-512": (SignatureMethod.GOSTR34102012_512, Digest.GOSTR3411_2012_512),
}
ALGORITHM_LABELS = {
    "rsa": ("RSA-2048", "SHA-256 + RSA verify"),
    "gost2012-256": ("GOST R 34.10-2012-256", "Streebog-256 + GOST verify"),
    "gost2012-512": ("GOST R 34.10-2012-512", "Streebog-512 + GOST verify"),
}


# --- one store -----------------------------------------------------------------------------


@dataclass
class Figures:
    store: str
    inproc_ms: float = 0.0  # median of the steady state
    inproc_mean_ms: float = 0.0
    inproc_cold_ms: float = 0.0
    inproc_floor_ms: float = 0.0  # the floors timed between the in-process accepts
    inproc_floor_durable_ms: float = 0.0
    accepted_per_s: float = 0.0
    accept_cpu_ms: float = 0.0
    processed_per_s: float = 0.0
    worker_cpu_ms: float = 0.0
    state_ms: list[float] = field(default_factory=list)
    max_depth: int = 0
    wall_s: float = 0.0
    accept_only_per_s: float = 0.0
    accept_only_cpu_ms: float = 0.0
    accept_only_packets: int = 0
    rss_start_mb: float = 0.0
    rss_end_mb: float = 0.0
    profile: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class Pki:
    key: object
    cert: object
    ca_pem: str
    cert_pem: str


def prepare_store(url: str, pki: Pki) -> None:
    """Schema (the migrations), the trust anchor and the benchmark's organisation."""
    engine = make_engine(url)
    upgrade(engine)
    ca = load_certificate_from_pem(pki.ca_pem)
    with make_session_factory(engine).begin() as session:
        organizations.add_trust_anchor(
            session, fingerprint(ca), ca.subject.rfc4514_string(), pki.ca_pem
        )
        organizations.add_organization(session, ORG, "Bench UO", Role.UO, hash_password(PASSWORD))
        register_certificate(session, ORG, pki.cert)  # type: ignore[arg-type]
    engine.dispose()


def load_certificate_from_pem(pem: str):  # type: ignore[no-untyped-def]
    from cryptography import x509

    return x509.load_pem_x509_certificate(pem.encode())


@dataclass(frozen=True)
class InprocFigures:
    """The in-process accept: the steady state (median and mean of the timed packets, as
    the floor is a median), the floors timed between those packets, the cold start, and
    with --profile the steps."""

    median_ms: float
    mean_ms: float
    cold_ms: float
    floor_ms: float
    floor_durable_ms: float
    profile: list[tuple[str, float]]


@dataclass(frozen=True)
class FloorWork:
    """The floor's work for one packet (:func:`floor_timer`) and where its durable write
    goes, to be timed between the in-process accepts."""

    floor: Callable[[bytes], float]
    directory: Path


def inproc_accept(
    url: str, workload: Workload, sample: list[bytes], profile: bool, floors: FloorWork
) -> InprocFigures:
    """The accept pipeline called in-process (no HTTP, no gunicorn), durable commit included:
    the first INPROC_WARMUP packets of ``sample`` (the cold start of a fresh process), then
    each packet of the rest of the first half timed on its own, right after the floor's work
    and the durable write for that packet (so the ratios compare times taken in the same
    moments of a noisy machine), and with ``profile`` the mean ms of each step over the
    second half."""
    from gateway.accept import AcceptPipeline, HttpRequest
    from gateway.runtime import Runtime

    rt = Runtime(load_settings().with_overrides(database_url=url), create_tables=False)
    pipeline = AcceptPipeline(rt)
    rt.formats  # compile before timing  # noqa: B018

    def accept(raw: bytes) -> float:
        start = time.perf_counter()
        reply = pipeline.handle(
            HttpRequest(workload.service_path, f'"urn:{workload.operation}"', None, raw)
        )
        elapsed = (time.perf_counter() - start) * 1000
        assert reply.status == 200, reply.body[:500]
        return elapsed

    half = len(sample) // 2
    cold = [accept(raw) for raw in sample[:INPROC_WARMUP]]
    timed, floor, write = [], [], []
    with durable_writer(floors.directory) as durable:
        for raw in sample[INPROC_WARMUP:half]:
            floor.append(floors.floor(raw))
            write.append(durable(raw))
            timed.append(accept(raw))
    steps: list[tuple[str, float]] = []
    if profile:
        with StepTimer(pipeline) as timer:
            for raw in sample[half:]:
                timer.request(lambda raw=raw: accept(raw))  # type: ignore[misc]
        steps = timer.means()
    else:
        for raw in sample[half:]:
            accept(raw)
    rt.close()
    return InprocFigures(
        median_ms=statistics.median(timed),
        mean_ms=statistics.fmean(timed),
        cold_ms=statistics.fmean(cold),
        floor_ms=statistics.median(floor),
        floor_durable_ms=statistics.median(floor) + statistics.median(write),
        profile=steps,
    )


class StepTimer:
    """Times the accept pipeline's steps by wrapping the functions it calls (bench only:
    nothing in the gateway knows about it). Each step is timed inclusive of what it calls;
    steps are chosen not to overlap, and "other" is the rest of the request."""

    def __init__(self, pipeline: Any) -> None:
        import gateway.accept as accept
        import persistence.packets as packets_module
        from gateway import limits

        self.totals: dict[str, float] = {}
        self.count = 0
        self.patches: list[tuple[Any, str, Any]] = []
        self.targets = [
            (accept, "parse_xml", "1 parse (hardened lxml)"),
            (accept, "split_envelope", "2 envelope"),
            (pipeline.registry, "route", "2 route"),
            (accept, "read_request_header", "3 header: read"),
            (accept, "request_version", "3 header: format version"),
            (type(pipeline), "_check_header", "3 header: XSD + Date"),
            (type(pipeline), "_validate", "4 validate (XSD)"),
            (pipeline.rt.directory, "snapshot", "5 directory cache"),
            (accept, "verify_signature", "5 signature: c14n, digests, verify"),
            (accept, "check_signer", "5 signer: chain, validity, owner"),
            (pipeline.rt.revocation, "check", "5 revocation (CRLs)"),
            (limits.counts.FileSlots, "take", "slot: take (SQLite fcntl)"),
            (limits.counts.FileSlots, "give_back", "slot: give back (SQLite fcntl)"),
            (accept, "_operation_digest", "7 idempotency digest"),
            (packets_module.accept_sql, "store", "7 packet + job + counts (statement)"),
            (accept, "ack_envelope", "8 ack envelope"),
        ]
        self.commit_targets = [
            (type(pipeline), "_persist", "7 transaction: begin + commit (durable)"),
            (limits, "in_progress", "slot: in_progress, the rest"),
        ]

    def __enter__(self) -> StepTimer:
        for owner, name, label in self.targets:
            self._wrap(owner, name, label)
        for owner, name, label in self.commit_targets:
            self._wrap(owner, name, label, context=name == "in_progress")
        return self

    def _wrap(self, owner: Any, name: str, label: str, context: bool = False) -> None:
        original = getattr(owner, name)
        totals = self.totals

        if context:

            @contextmanager
            def timed_cm(*args: Any, **kwargs: Any) -> Iterator[None]:
                manager = original(*args, **kwargs)
                t0 = time.perf_counter()
                manager.__enter__()
                totals[label] = totals.get(label, 0.0) + time.perf_counter() - t0
                try:
                    yield
                finally:
                    t1 = time.perf_counter()
                    manager.__exit__(None, None, None)
                    totals[label] = totals.get(label, 0.0) + time.perf_counter() - t1

            replacement: Any = timed_cm
        else:

            def timed(*args: Any, **kwargs: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    totals[label] = totals.get(label, 0.0) + time.perf_counter() - t0

            replacement = timed
        self.patches.append((owner, name, original))
        setattr(owner, name, replacement)

    def request(self, call: Callable[[], None]) -> None:
        t0 = time.perf_counter()
        call()
        self.totals["total"] = self.totals.get("total", 0.0) + time.perf_counter() - t0
        self.count += 1

    def means(self) -> list[tuple[str, float]]:
        """(step, mean ms) in pipeline order; transactions net of the statements inside."""
        ms = {k: v * 1000 / max(1, self.count) for k, v in self.totals.items()}
        inner = (
            "7 idempotency digest",
            "7 packet + job + counts (statement)",
        )
        persist = "7 transaction: begin + commit (durable)"
        ms[persist] = ms.get(persist, 0.0) - sum(ms.get(k, 0.0) for k in inner)
        slots = "slot: in_progress, the rest"
        ms[slots] = ms.get(slots, 0.0) - sum(
            ms.get(k, 0.0) for k in ("slot: take (SQLite fcntl)", "slot: give back (SQLite fcntl)")
        )
        labels = [label for _, _, label in self.targets + self.commit_targets]
        order = sorted(labels, key=lambda label: (label[0] if label[0].isdigit() else "6", label))
        rows = [(label, ms.get(label, 0.0)) for label in order]
        total = ms.get("total", 0.0)
        rows.append(("other (pipeline, trace, metrics)", total - sum(v for _, v in rows)))
        rows.append(("total", total))
        return rows

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self.patches):
            setattr(owner, name, original)


def _resend(packets: list[bytes], count: int) -> Iterator[bytes]:
    """``count`` packets: the given ones in turn, each time under a new MessageGUID (not
    signed: it is in the RequestHeader), so a long run needs no more signed packets."""
    for n in range(count):
        raw = packets[n % len(packets)]
        old = etree.fromstring(raw).findtext(f".//{{{BASE}}}MessageGUID")
        assert old, "every bench packet has a MessageGUID"
        yield raw.replace(old.encode(), str(uuid.uuid4()).encode(), 1)


def run_store(
    store: str,
    url: str,
    workload: Workload,
    packets: list[bytes],
    args: argparse.Namespace,
    floors: FloorWork,
) -> Figures:
    figures = Figures(store)
    inproc = inproc_accept(url, workload, packets[:INPROC_SAMPLE], args.profile, floors)
    figures.inproc_floor_ms, figures.inproc_floor_durable_ms = (
        inproc.floor_ms,
        inproc.floor_durable_ms,
    )
    figures.inproc_ms, figures.inproc_mean_ms = inproc.median_ms, inproc.mean_ms
    figures.inproc_cold_ms, figures.profile = inproc.cold_ms, inproc.profile
    accept_only = list(packets[INPROC_SAMPLE:])  # re-sent in phase 3 under new MessageGUIDs
    packets = packets[INPROC_SAMPLE:]
    n = len(packets)
    already = _count_processed(url)  # the in-process sample stays queued: drained first
    env = {
        **os.environ,
        "GATEWAY_WORKER_POLL_INTERVAL_SECONDS": "0.2",
        # One organisation sends everything: the per-organisation limits stay on (counted in
        # every accept) but above what the bench sends, as for a bulk loader.
        "GATEWAY_LIMITS_PACKETS_PER_MINUTE": str(BENCH_LIMIT),
        "GATEWAY_LIMITS_QUEUED_PACKETS": str(BENCH_LIMIT),
    }
    procs: list[subprocess.Popen[bytes]] = []
    try:
        port = _free_port()
        node = _spawn(
            [
                "serve",
                "--no-worker",
                "--workers",
                str(args.accept_processes),
                "--bind",
                f"127.0.0.1:{port}",
                "--database-url",
                url,
            ],
            env,
        )
        procs.append(node)
        base_url = f"http://127.0.0.1:{port}"
        _wait_up(base_url)
        workers = [
            _spawn(["worker", "--database-url", url], env) for _ in range(args.queue_workers)
        ]
        procs += workers
        _wait_processed(url, already + INPROC_SAMPLE, timeout=300)  # workers up and drained
        time.sleep(0.5)

        local = threading.local()
        acked: list[str] = []
        done = threading.Event()
        # getState is polled by a process of its own, as by a client program other than the
        # uploader (a thread here would wait for this process's GIL, not for the gateway)
        spawn = multiprocessing.get_context("spawn")
        new_guids: Any = spawn.Queue()
        latencies: Any = spawn.Queue()
        stop_polling, poller_ready = spawn.Event(), spawn.Event()
        poller = spawn.Process(
            target=poll_states,
            args=(
                base_url + workload.service_path,
                new_guids,
                poller_ready,
                stop_polling,
                latencies,
            ),
            daemon=True,
        )
        poller.start()
        polling = True

        def http() -> requests.Session:
            if not hasattr(local, "session"):
                local.session = requests.Session()
            return local.session

        def send(raw: bytes) -> str:
            r = http().post(
                base_url + workload.service_path,
                data=raw,
                headers={"Content-Type": "text/xml", "SOAPAction": f"urn:{workload.operation}"},
                timeout=120,
            )
            if r.status_code != 200:
                fault = etree.fromstring(r.content)
                code = fault.findtext(f".//{{{BASE}}}ErrorCode")
                raise RuntimeError(f"{code}: {fault.findtext(f'.//{{{BASE}}}ErrorMessage')}")
            guid = etree.fromstring(r.content).findtext(f".//{{{BASE}}}Ack/{{{BASE}}}MessageGUID")
            acked.append(guid or "")
            if guid and polling:
                new_guids.put(guid)
            return guid or ""

        def watch_queue() -> None:
            engine = make_engine(url)
            from sqlalchemy import text

            while not done.is_set():
                with engine.connect() as conn:
                    depth = conn.execute(
                        text("SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')")
                    ).scalar()
                figures.max_depth = max(figures.max_depth, depth or 0)
                time.sleep(0.2)
            engine.dispose()

        # 2. accepting and processing at the same time
        if not poller_ready.wait(60):
            raise RuntimeError("the getState poller did not start")
        pollers = [threading.Thread(target=watch_queue)]
        for t in pollers:
            t.start()
        node_cpu0 = _cpu_seconds([node.pid])
        worker_cpu0 = _cpu_seconds([w.pid for w in workers])
        start = time.perf_counter()
        try:
            with ThreadPoolExecutor(args.concurrency) as pool:
                list(pool.map(send, packets))
            accept_s = time.perf_counter() - start
            node_cpu = _cpu_seconds([node.pid]) - node_cpu0
            _wait_processed(url, already + INPROC_SAMPLE + n, timeout=1800)
            processed_s = time.perf_counter() - start
            worker_cpu = _cpu_seconds([w.pid for w in workers]) - worker_cpu0
        finally:
            done.set()
            stop_polling.set()
            polling = False
            for t in pollers:
                t.join(30)
            figures.state_ms = latencies.get(timeout=60)
            poller.join(30)

        # 3. accept only: no workers, no getState
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)
        total = args.accept_only_packets or n
        warmup = min(100, max(1, total // 10))
        resent = _resend(accept_only, total)
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(send, (next(resent) for _ in range(warmup))))
            figures.rss_start_mb = _rss_mb([node.pid])
            counted = total - warmup
            only_cpu0 = _cpu_seconds([node.pid])
            only_start = time.perf_counter()
            list(pool.map(send, resent))
            only_s = time.perf_counter() - only_start
            only_cpu = _cpu_seconds([node.pid]) - only_cpu0
            figures.rss_end_mb = _rss_mb([node.pid])
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    figures.accepted_per_s = n / accept_s
    figures.accept_cpu_ms = node_cpu * 1000 / n
    figures.processed_per_s = n / processed_s
    figures.worker_cpu_ms = worker_cpu * 1000 / n
    figures.wall_s = processed_s
    figures.accept_only_packets = counted
    figures.accept_only_per_s = counted / only_s
    figures.accept_only_cpu_ms = only_cpu * 1000 / counted
    return figures


# --- main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--packets", type=int, default=200)
    parser.add_argument("--premises", type=int, default=100, help="flats per house packet")
    parser.add_argument("--devices", type=int, default=1000, help="devices per readings packet")
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="house")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads")
    parser.add_argument(
        "--accept-processes",
        "--workers",
        dest="accept_processes",
        type=int,
        default=2,
        help="K: gunicorn processes of the accepting node (--workers: the former name)",
    )
    parser.add_argument("--queue-workers", type=int, default=2, help="M: gateway worker processes")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("GATEWAY_BENCH_DATABASE_URL"),
        help="PostgreSQL to bench next to SQLite (a scratch database is made on its server)",
    )
    parser.add_argument(
        "--algorithm",
        choices=sorted(FLOOR_ALGORITHMS),
        default="rsa",
        help="keys the packets are signed with (GOST needs the OpenSSL gost engine)",
    )
    parser.add_argument(
        "--accept-only-packets",
        type=int,
        default=0,
        help="packets of the accept-only phase (default: --packets); 10000 for the RSS check",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument(
        "--profile", action="store_true", help="print where the in-process accept's time goes"
    )
    parser.add_argument(
        "--stores",
        default="sqlite,postgresql",
        help="stores to bench, of sqlite,postgresql (PostgreSQL needs --database-url)",
    )
    args = parser.parse_args()
    workload: Workload = (
        ReadingsWorkload(args.devices)
        if args.workload == "readings"
        else HouseWorkload(args.premises)
    )

    work = Path(tempfile.mkdtemp(prefix="hcs-bench-"))
    init_ca(work / "ca", algorithm=args.algorithm)
    key, cert = issue(work / "ca", ORG, work / "org", key_type=args.algorithm)
    pki = Pki(
        key, cert, (work / "ca" / "ca.pem").read_text(), (work / "org" / "cert.pem").read_text()
    )

    total = args.packets + INPROC_SAMPLE
    print(f"building {total} signed packets ({workload.description}) ...", flush=True)
    packets = []
    for _ in range(total):
        element = workload.build()
        env = envelope(element, ORG)
        sign(element, key, cert)
        packets.append(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))
    size_kb = statistics.mean(len(p) for p in packets) / 1024
    settings = load_settings()
    schema = etree.XMLSchema(etree.parse(str(settings.xsd_dir / workload.xsd)))
    floor = floor_ms(packets, schema, cert, args.algorithm)
    floor_durable = floor + durable_write_ms(packets, work)
    floors = FloorWork(floor_timer(schema, cert, args.algorithm), work)

    wanted = {name.strip().lower() for name in args.stores.split(",")}
    stores = []
    if "sqlite" in wanted:
        stores.append(("SQLite", f"sqlite:///{work / 'sqlite' / 'gateway.sqlite3'}"))
    if args.database_url and "postgresql" in wanted:
        stores.append(("PostgreSQL", args.database_url))
    results = []
    for store, url in stores:
        print(f"running on {store} ...", flush=True)
        if store == "PostgreSQL":
            with _scratch_postgres(url) as scratch:
                prepare_store(scratch, pki)
                workload.prepare(scratch)
                results.append(run_store(store, scratch, workload, packets, args, floors))
        else:
            prepare_store(url, pki)
            workload.prepare(url)
            results.append(run_store(store, url, workload, packets, args, floors))

    cores = os.cpu_count() or 1
    print()
    key_label, floor_label = ALGORITHM_LABELS[args.algorithm]
    print(f"packet: {workload.description}, {size_kb:.0f} KB, {key_label} XAdES-BES")
    print(f"floor (parse + XSD + exc-c14n + {floor_label}): {floor:.2f} ms/packet/core")
    print(f"durable floor (floor + append and fsync of the packet's bytes): {floor_durable:.2f} ms")
    print(
        f"{args.packets} packets from {args.concurrency} client threads; K={args.accept_processes} "
        f"accepting processes (gunicorn, --no-worker), M={args.queue_workers} worker processes, "
        f"accepting and processing at the same time; then {results[0].accept_only_packets if results else 0} "
        f"more with the workers stopped (accept only); {cores} cores shared by all of them, "
        "the client and the database"
    )
    print()
    print_table(results, workload, floor, floor_durable)
    if args.profile:
        print_profile(results)
    if args.json:
        args.json.write_text(
            json.dumps(figures_json(results, workload, floor, floor_durable, args), indent=2) + "\n"
        )
        print(f"\nfigures written to {args.json}")


def figures_json(
    results: list[Figures],
    workload: Workload,
    floor: float,
    floor_durable: float,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Every printed figure under stable keys (items = readings for the readings workload)."""
    items = workload.items
    stores = {}
    for r in results:
        stores[r.store.lower()] = {
            "accepted_packets_per_s": round(r.accepted_per_s, 2),
            "accepted_items_per_s": round(r.accepted_per_s * items, 1),
            "accept_only_packets_per_s": round(r.accept_only_per_s, 2),
            "accept_only_cpu_ms_per_packet": round(r.accept_only_cpu_ms, 3),
            "processed_items_per_s": round(r.processed_per_s * items, 1),
            "worker_cpu_ms_per_item": round(r.worker_cpu_ms / items, 4),
            "getstate_p50_ms": round(_pct(r.state_ms, 50), 2) if r.state_ms else None,
            "getstate_p99_ms": round(_pct(r.state_ms, 99), 2) if r.state_ms else None,
            "accept_cpu_ms_per_packet": round(r.accept_cpu_ms, 3),
            "inproc_accept_ms": round(r.inproc_ms, 3),
            "inproc_accept_mean_ms": round(r.inproc_mean_ms, 3),
            "inproc_accept_cold_ms": round(r.inproc_cold_ms, 3),
            "inproc_floor_ms": round(r.inproc_floor_ms, 4),
            "inproc_floor_durable_ms": round(r.inproc_floor_durable_ms, 4),
            "rss_mb_accepting_start": round(r.rss_start_mb, 1),
            "rss_mb_accepting_end": round(r.rss_end_mb, 1),
            "processed_packets_per_s": round(r.processed_per_s, 2),
            "worker_cpu_ms_per_packet": round(r.worker_cpu_ms, 3),
            "queue_depth_max": r.max_depth,
            "getstate_calls": len(r.state_ms),
            "accept_only_packets": r.accept_only_packets,
            "inproc_profile_ms": {step: round(ms, 4) for step, ms in r.profile},
        }
    return {
        "workload": args.workload,
        "algorithm": args.algorithm,
        "packets": args.packets,
        "items_per_packet": items,
        "floor_ms": round(floor, 4),
        "floor_durable_ms": round(floor_durable, 4),
        "stores": stores,
    }


def print_table(results: list[Figures], workload: Workload, floor: float, durable: float) -> None:
    items = workload.items
    rows: list[tuple[str, list[str]]] = [
        ("accepted packets/s", [f"{r.accepted_per_s:.1f}" for r in results]),
        ("accepted items/s", [f"{r.accepted_per_s * items:.0f}" for r in results]),
        ("processed packets/s (end to end)", [f"{r.processed_per_s:.1f}" for r in results]),
        ("processed items/s (end to end)", [f"{r.processed_per_s * items:.0f}" for r in results]),
        (
            "getState p50 / p99 under load, ms",
            [f"{_pct(r.state_ms, 50):.1f} / {_pct(r.state_ms, 99):.1f}" for r in results],
        ),
        (
            "accepting CPU per packet, ms (x floor)*",
            [f"{r.accept_cpu_ms:.1f} ({r.accept_cpu_ms / floor:.1f}x)" for r in results],
        ),
        (
            "floor / durable floor timed between the in-process accepts, ms",
            [f"{r.inproc_floor_ms:.2f} / {r.inproc_floor_durable_ms:.2f}" for r in results],
        ),
        (
            "in-process accept, median ms/packet (x floor, x durable floor)",
            [
                f"{r.inproc_ms:.2f} ({r.inproc_ms / r.inproc_floor_ms:.2f}x, "
                f"{r.inproc_ms / r.inproc_floor_durable_ms:.2f}x)"
                for r in results
            ],
        ),
        (
            "in-process accept, mean ms/packet (x floor, x durable floor)",
            [
                f"{r.inproc_mean_ms:.2f} ({r.inproc_mean_ms / r.inproc_floor_ms:.2f}x, "
                f"{r.inproc_mean_ms / r.inproc_floor_durable_ms:.2f}x)"
                for r in results
            ],
        ),
        (
            f"in-process accept, first {INPROC_WARMUP} packets of a fresh process, mean ms",
            [f"{r.inproc_cold_ms:.2f}" for r in results],
        ),
        ("worker CPU per packet, ms", [f"{r.worker_cpu_ms:.1f}" for r in results]),
        ("worker CPU per item, ms", [f"{r.worker_cpu_ms / items:.3f}" for r in results]),
        ("queue depth, max", [str(r.max_depth) for r in results]),
        ("getState calls sampled", [str(len(r.state_ms)) for r in results]),
        ("accept only: packets/s", [f"{r.accept_only_per_s:.1f}" for r in results]),
        (
            "accept only: accepting CPU per packet, ms (x durable floor)",
            [
                f"{r.accept_only_cpu_ms:.2f} ({r.accept_only_cpu_ms / durable:.2f}x)"
                for r in results
            ],
        ),
        (
            "accept only: RSS of the accepting processes, MB (after warm-up / end)",
            [f"{r.rss_start_mb:.0f} / {r.rss_end_mb:.0f}" for r in results],
        ),
    ]
    header = "| figure | " + " | ".join(r.store for r in results) + " |"
    footnote = (
        f"* user+system CPU of the accepting node's processes / packets; includes answering "
        f"getState ({STATE_RATE}/s)"
    )
    print(header)
    print("|---|" + "---:|" * len(results))
    for name, values in rows:
        print(f"| {name} | " + " | ".join(values) + " |")
    print()
    print(footnote)
    print(
        "in-process accept: its ratios are to the floors timed packet by packet between "
        "those accepts (the floor's work, then the durable write, then the accept of the "
        "same packet)"
    )


def print_profile(results: list[Figures]) -> None:
    """The in-process accept, step by step (mean ms per packet over the profiled half)."""
    print()
    print(f"in-process accept, step by step (ms per packet, mean of {INPROC_SAMPLE // 2}):")
    print()
    print("| step | " + " | ".join(r.store for r in results) + " |")
    print("|---|" + "---:|" * len(results))
    steps = [step for step, _ in results[0].profile] if results else []
    for step in steps:
        values = [dict(r.profile).get(step, 0.0) for r in results]
        print(f"| {step} | " + " | ".join(f"{v:.3f}" for v in values) + " |")


def _pct(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


class _scratch_postgres:
    """A database created next to the one in ``url`` and dropped on exit."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url
        from sqlalchemy.pool import NullPool

        self.admin = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self.name = f"hcs_bench_{uuid.uuid4().hex[:8]}"
        self.url = make_url(url).set(database=self.name).render_as_string(hide_password=False)

    def __enter__(self) -> str:
        from sqlalchemy import text

        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        return self.url

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import text

        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _count_processed(url: str) -> int:
    from sqlalchemy import text

    engine = make_engine(url)
    with engine.connect() as conn:
        count = conn.execute(
            text("SELECT count(*) FROM packets WHERE state = 'processed'")
        ).scalar()
    engine.dispose()
    return count or 0


def _wait_processed(url: str, count: int, timeout: float) -> None:
    from sqlalchemy import text

    engine = make_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                done = conn.execute(
                    text("SELECT count(*) FROM packets WHERE state IN ('processed', 'failed')")
                ).scalar()
            if (done or 0) >= count:
                return
            time.sleep(0.1)
        raise RuntimeError(f"fewer than {count} packets processed after {timeout} s")
    finally:
        engine.dispose()


def _process_tree(pids: list[int]) -> Iterator[int]:
    """The processes and all their descendants that are still there (Linux /proc)."""
    seen, todo = set(), list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
        yield pid


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of the processes and all their descendants (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in _process_tree(pids):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _rss_mb(pids: list[int]) -> float:
    """Resident memory of the processes and all their descendants, MB (Linux /proc)."""
    total = 0
    for pid in _process_tree(pids):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def _state(session: requests.Session, endpoint: str, message_guid: str) -> str | None:
    request = etree.Element(f"{{{BASE}}}getStateRequest", nsmap={"base": BASE})
    etree.SubElement(request, f"{{{BASE}}}MessageGUID").text = message_guid
    r = session.post(
        endpoint,
        data=etree.tostring(envelope(request, ORG)),
        headers={"Content-Type": "text/xml", "SOAPAction": "urn:getState"},
        auth=(ORG, PASSWORD),
        timeout=60,
    )
    return etree.fromstring(r.content).findtext(f".//{{{BASE}}}RequestState")


def poll_states(endpoint: str, new_guids: Any, ready: Any, stop: Any, latencies: Any) -> None:
    """getState of a random acknowledged packet, STATE_RATE times a second, until ``stop``;
    then put the list of latencies (ms) on ``latencies``. A first, untimed call opens the
    connection and has the serving process check the password once (scrypt, then cached),
    as a polling client's session is warm; ``ready`` is set after it."""
    import queue

    session = requests.Session()
    _state(session, endpoint, str(uuid.uuid4()))
    ready.set()
    known: list[str] = []
    measured: list[float] = []
    next_at = time.perf_counter()
    while not stop.is_set():
        next_at += 1 / STATE_RATE
        time.sleep(max(0.0, next_at - time.perf_counter()))
        try:
            while True:
                known.append(new_guids.get_nowait())
        except queue.Empty:
            pass
        if not known:
            continue
        guid = random.choice(known)
        t0 = time.perf_counter()
        _state(session, endpoint, guid)
        measured.append((time.perf_counter() - t0) * 1000)
    latencies.put(measured)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_up(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/healthz", timeout=1).ok:
                return
        except requests.RequestException:  # not up yet, or too busy to answer within 1 s
            time.sleep(0.2)
    raise RuntimeError("server did not start")


if __name__ == "__main__":
    main()
