"""SQLAlchemy models: organisations and trust, packets and their queue, the house domain.

The same models serve SQLite (embedded default) and PostgreSQL.
"""

from __future__ import annotations

from datetime import date as date_
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

GUID = String(36)


class Base(DeclarativeBase):
    pass


# --- organisations and trust -------------------------------------------------------------


class Organization(Base):
    __tablename__ = "organizations"

    guid: Mapped[str] = mapped_column(GUID, primary_key=True)
    name: Mapped[str] = mapped_column(String(500))
    role: Mapped[str] = mapped_column(String(16))  # uo | rso | bank
    password_hash: Mapped[str] = mapped_column(String(255))
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # the register record (org-registry-common): what exportOrgRegistry answers
    kind: Mapped[str] = mapped_column(String(16), default="legal")  # legal | branch | entrepreneur
    ogrn: Mapped[str | None] = mapped_column(String(15), index=True)  # OGRN, or OGRNIP
    inn: Mapped[str | None] = mapped_column(String(12))
    kpp: Mapped[str | None] = mapped_column(String(9))
    full_name: Mapped[str | None] = mapped_column(Text)
    short_name: Mapped[str | None] = mapped_column(String(500))
    parent_guid: Mapped[str | None] = mapped_column(
        ForeignKey("organizations.guid")
    )  # a branch's head
    root_entity_guid: Mapped[str | None] = mapped_column(GUID, unique=True)  # orgRootEntityGUID
    version_guid: Mapped[str | None] = mapped_column(GUID, unique=True)  # orgVersionGUID
    registration_date: Mapped[date_ | None] = mapped_column(Date)  # StateRegistrationDate
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # lastEditingDate

    certificates: Mapped[list[OrgCertificate]] = relationship(back_populates="organization")


# --- NSI reference books (nsi-common) --------------------------------------------------------


class NsiBook(Base):
    """A general reference book the gateway ships and checks codes against."""

    __tablename__ = "nsi_books"

    registry_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(2500))
    list_group: Mapped[str] = mapped_column(String(8))  # NSI | NSIRAO
    modified: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class NsiItem(Base):
    """One entry of a reference book: its Code and GUID are what nsiRef elements carry."""

    __tablename__ = "nsi_items"

    registry_number: Mapped[int] = mapped_column(
        ForeignKey("nsi_books.registry_number"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    guid: Mapped[str] = mapped_column(GUID, unique=True)
    name: Mapped[str] = mapped_column(Text)
    is_actual: Mapped[bool] = mapped_column(Boolean, default=True)
    modified: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class NsiState(Base):
    """The one row saying which data file is loaded; ``generation`` moves on every import, so
    every process sees a new one at its next check."""

    __tablename__ = "nsi_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    generation: Mapped[int] = mapped_column(Integer)
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OrgCertificate(Base):
    """A signing certificate registered for an organisation (binds certificate to orgPPAGUID)."""

    __tablename__ = "org_certificates"

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of DER
    org_guid: Mapped[str] = mapped_column(ForeignKey("organizations.guid"), index=True)
    subject: Mapped[str] = mapped_column(Text)
    not_after: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    pem: Mapped[str] = mapped_column(Text)

    organization: Mapped[Organization] = relationship(back_populates="certificates")


class TrustAnchor(Base):
    """A CA certificate that signer certificates must chain to."""

    __tablename__ = "trust_anchors"

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(Text)
    pem: Mapped[str] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DirectoryGeneration(Base):
    """One row whose number every change of the directory bumps: an organisation added,
    changed, locked or unlocked, a certificate or a trust anchor added or removed.

    Each process caches organisations, certificates and trust anchors and reads this number
    in the same transaction as the packet it accepts: a different number means its cache is
    stale, so the checks run again on fresh data before anything is acknowledged.
    """

    __tablename__ = "directory_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(BigInteger)


# --- packets and the queue ---------------------------------------------------------------


#: The packets that count for idempotency (the predicate of the partial unique index)
ACCEPTED_PACKETS = "state != 'rejected'"
#: Packets waiting to be processed (the predicate of the partial index ix_packets_org_pending;
#: a query uses that index only with this predicate in literals, not bound parameters).
PENDING_PACKETS = "state IN ('received', 'processing')"


class Packet(Base):
    """Every packet received: accepted ones (queued, processed, failed) and rejected ones."""

    __tablename__ = "packets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_guid: Mapped[str] = mapped_column(GUID, unique=True)  # assigned by the gateway
    requester_message_guid: Mapped[str | None] = mapped_column(GUID)
    org_guid: Mapped[str | None] = mapped_column(GUID, index=True)
    service: Mapped[str | None] = mapped_column(String(64))
    operation: Mapped[str | None] = mapped_column(String(128))
    version: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), index=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    body_sha256: Mapped[str] = mapped_column(String(64))
    signer_subject: Mapped[str | None] = mapped_column(Text)
    signer_fingerprint: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    result_xml: Mapped[str | None] = mapped_column(Text)
    #: items and item errors in the stored result, counted when it is stored, so that ops
    #: lists and filters never read result texts
    result_items: Mapped[int | None] = mapped_column(Integer)
    result_errors: Mapped[int | None] = mapped_column(Integer)
    remote_addr: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        # Idempotency: one accepted packet per (sender, client MessageGUID). Rejected packets
        # are kept for ops but never block a corrected resend.
        Index(
            "uq_packets_org_requester_guid",
            "org_guid",
            "requester_message_guid",
            unique=True,
            sqlite_where=text(ACCEPTED_PACKETS),
            postgresql_where=text(ACCEPTED_PACKETS),
        ),
        # per-organisation queue limit: only the packets still waiting are indexed
        Index(
            "ix_packets_org_pending",
            "org_guid",
            sqlite_where=text(PENDING_PACKETS),
            postgresql_where=text(PENDING_PACKETS),
        ),
        # "with item errors" lists: only the few packets that have errors are indexed
        Index(
            "ix_packets_with_result_errors",
            "id",
            sqlite_where=text("result_errors > 0"),
            postgresql_where=text("result_errors > 0"),
        ),
    )


class RateCounter(Base):
    """A count shared by every process and node: events of one key in one fixed window
    (packets of an organisation per minute, failed logins of an org, operator or address)."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # epoch seconds
    count: Mapped[int] = mapped_column(Integer)


class Job(Base):
    """A queue entry: processing of one accepted packet."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    packet_id: Mapped[int] = mapped_column(ForeignKey("packets.id"), unique=True)
    state: Mapped[str] = mapped_column(String(16))  # queued | running | done | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    locked_by: Mapped[str | None] = mapped_column(String(128))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_jobs_ready", "state", "run_after"),
        # The claim scans pending jobs in id order; done/dead jobs (the vast majority on a
        # long-running database) stay out of this index.
        Index(
            "ix_jobs_pending",
            "id",
            sqlite_where=text("state IN ('queued', 'running')"),
            postgresql_where=text("state IN ('queued', 'running')"),
        ),
    )


class PacketEvent(Base):
    """State history of a packet: every transition and every processing attempt."""

    __tablename__ = "packet_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    packet_id: Mapped[int] = mapped_column(ForeignKey("packets.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)


class PacketReplay(Base):
    """A replay of a stored packet by ops: who, when, and the outcome it replaced."""

    __tablename__ = "packet_replays"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    packet_id: Mapped[int] = mapped_column(ForeignKey("packets.id"), index=True)
    replayed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    replayed_by: Mapped[str] = mapped_column(String(128))  # console:<login> | cli:<user>@<host>
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    previous_state: Mapped[str] = mapped_column(String(16))
    previous_error_code: Mapped[str | None] = mapped_column(String(32))
    previous_error_message: Mapped[str | None] = mapped_column(Text)
    previous_result_xml: Mapped[str | None] = mapped_column(Text)
    previous_processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# --- ops staff ---------------------------------------------------------------------------


class Operator(Base):
    """A login of the ops web console (``gateway operators add``)."""

    __tablename__ = "operators"

    login: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# --- house domain ------------------------------------------------------------------------


class House(Base):
    __tablename__ = "houses"

    guid: Mapped[str] = mapped_column(GUID, primary_key=True)
    fias_house_guid: Mapped[str] = mapped_column(GUID, unique=True)
    # managing organisation (UO); None for a house only a resource supplier registered
    org_guid: Mapped[str | None] = mapped_column(GUID, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # apartment | living
    unique_number: Mapped[str] = mapped_column(String(32), unique=True)
    cadastral_number: Mapped[str | None] = mapped_column(String(64))
    no_cadastral_registration: Mapped[bool] = mapped_column(Boolean, default=False)
    total_square: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    state_code: Mapped[str | None] = mapped_column(String(20))
    state_guid: Mapped[str | None] = mapped_column(GUID)
    life_cycle_code: Mapped[str | None] = mapped_column(String(20))
    life_cycle_guid: Mapped[str | None] = mapped_column(GUID)
    used_year: Mapped[int | None] = mapped_column(Integer)
    floor_count: Mapped[int | None] = mapped_column(Integer)
    underground_floor_count: Mapped[int | None] = mapped_column(Integer)
    min_floor_count: Mapped[int | None] = mapped_column(Integer)
    oktmo_code: Mapped[str | None] = mapped_column(String(11))
    oktmo_name: Mapped[str | None] = mapped_column(String(500))
    olson_tz_code: Mapped[str | None] = mapped_column(String(20))
    olson_tz_guid: Mapped[str | None] = mapped_column(GUID)
    cultural_heritage: Mapped[bool | None] = mapped_column(Boolean)
    has_blocks: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Entrance(Base):
    __tablename__ = "entrances"

    guid: Mapped[str] = mapped_column(GUID, primary_key=True)
    house_guid: Mapped[str] = mapped_column(ForeignKey("houses.guid"), index=True)
    entrance_num: Mapped[str] = mapped_column(String(255))
    storeys_count: Mapped[int | None] = mapped_column(Integer)
    creation_year: Mapped[int | None] = mapped_column(Integer)
    annulled: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("house_guid", "entrance_num"),)


class Premises(Base):
    """A residential or non-residential premises, or a block of a living house."""

    __tablename__ = "premises"

    guid: Mapped[str] = mapped_column(GUID, primary_key=True)
    house_guid: Mapped[str] = mapped_column(ForeignKey("houses.guid"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # residential | nonresidential | block
    number: Mapped[str] = mapped_column(String(255))
    unique_number: Mapped[str] = mapped_column(String(40), unique=True)
    entrance_num: Mapped[str | None] = mapped_column(String(255))
    cadastral_number: Mapped[str | None] = mapped_column(String(64))
    no_cadastral_registration: Mapped[bool] = mapped_column(Boolean, default=False)
    characteristic_code: Mapped[str | None] = mapped_column(String(20))
    characteristic_guid: Mapped[str | None] = mapped_column(GUID)
    total_area: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    gross_area: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    is_common_property: Mapped[bool | None] = mapped_column(Boolean)
    category: Mapped[str | None] = mapped_column(String(16))
    annulled: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("house_guid", "kind", "number"),)


class LivingRoom(Base):
    __tablename__ = "living_rooms"

    guid: Mapped[str] = mapped_column(GUID, primary_key=True)
    house_guid: Mapped[str] = mapped_column(ForeignKey("houses.guid"), index=True)
    premises_guid: Mapped[str | None] = mapped_column(ForeignKey("premises.guid"), index=True)
    number: Mapped[str] = mapped_column(String(255))
    unique_number: Mapped[str] = mapped_column(String(48), unique=True)
    cadastral_number: Mapped[str | None] = mapped_column(String(64))
    no_cadastral_registration: Mapped[bool] = mapped_column(Boolean, default=False)
    square: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    annulled: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Lift(Base):
    __tablename__ = "lifts"

    guid: Mapped[str] = mapped_column(GUID, primary_key=True)
    house_guid: Mapped[str] = mapped_column(ForeignKey("houses.guid"), index=True)
    entrance_num: Mapped[str] = mapped_column(String(255))
    factory_num: Mapped[str] = mapped_column(String(255))
    type_code: Mapped[str] = mapped_column(String(20))
    type_guid: Mapped[str] = mapped_column(GUID)
    annulled: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- contracts: who manages or supplies a house ------------------------------------------


class Contract(Base):
    """A management contract, a homeowners' association charter, or a resource supply
    contract (or a supplier's offer, "not a contract") of the organisation that placed it.

    The root GUID names the contract for good; the version GUID changes with every change.
    Only a ``placed`` contract binds its organisation to its houses (persistence/contracts.py).
    """

    __tablename__ = "contracts"

    root_guid: Mapped[str] = mapped_column(GUID, primary_key=True)
    version_guid: Mapped[str] = mapped_column(GUID, unique=True)
    kind: Mapped[str] = mapped_column(String(12))  # management | charter | supply
    org_guid: Mapped[str] = mapped_column(GUID)  # the UO or RSO that placed it
    state: Mapped[str] = mapped_column(String(12))  # project | placed | terminated | annulled
    is_contract: Mapped[bool] = mapped_column(Boolean, default=True)  # supply: False = offer
    number: Mapped[str | None] = mapped_column(String(255))
    signing_date: Mapped[date_ | None] = mapped_column(Date)
    effective_date: Mapped[date_ | None] = mapped_column(Date)
    end_date: Mapped[date_ | None] = mapped_column(Date)
    terminated_on: Mapped[date_ | None] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)  # of the termination or annulment
    reason_code: Mapped[str | None] = mapped_column(String(20))  # termination: NSI reference
    reason_guid: Mapped[str | None] = mapped_column(GUID)
    counterparty_org_guid: Mapped[str | None] = mapped_column(GUID)  # supply: Organization
    #: supply: the second party is an offer, owners, or an organisation (counterparty)
    counterparty_kind: Mapped[str | None] = mapped_column(String(40))
    #: the contract's description as last sent (the item's body element), for full exports
    document_xml: Mapped[str | None] = mapped_column(Text)
    version_number: Mapped[int] = mapped_column(Integer, default=1)
    message_guid: Mapped[str] = mapped_column(GUID)
    transport_guid: Mapped[str] = mapped_column(GUID)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_contracts_org_kind_state", "org_guid", "kind", "state"),)


class ContractVersion(Base):
    """Every version a contract has had: an item naming an old version is told it is stale."""

    __tablename__ = "contract_versions"

    version_guid: Mapped[str] = mapped_column(GUID, primary_key=True)
    contract_guid: Mapped[str] = mapped_column(ForeignKey("contracts.root_guid"), index=True)
    version_number: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ContractObject(Base):
    """A house a contract covers; for a supply contract, possibly one premises or room of it."""

    __tablename__ = "contract_objects"

    guid: Mapped[str] = mapped_column(GUID, primary_key=True)  # ContractObjectVersionGUID
    contract_guid: Mapped[str] = mapped_column(ForeignKey("contracts.root_guid"), index=True)
    # the house need not be registered yet: a manager places its contract, then describes it
    fias_house_guid: Mapped[str] = mapped_column(GUID, index=True)
    apartment_number: Mapped[str | None] = mapped_column(String(255))
    room_number: Mapped[str | None] = mapped_column(String(255))
    start_date: Mapped[date_ | None] = mapped_column(Date)
    end_date: Mapped[date_ | None] = mapped_column(Date)
    annulled: Mapped[bool] = mapped_column(Boolean, default=False)
    transport_guid: Mapped[str] = mapped_column(GUID)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- personal accounts -------------------------------------------------------------------


class Account(Base):
    __tablename__ = "accounts"

    guid: Mapped[str] = mapped_column(GUID, primary_key=True)  # AccountGUID
    org_guid: Mapped[str] = mapped_column(GUID, index=True)  # organisation that keeps it
    kind: Mapped[str] = mapped_column(String(8))  # uo | rso | cr | rc | ogv | tko
    account_number: Mapped[str | None] = mapped_column(String(30))  # the organisation's own
    unique_number: Mapped[str] = mapped_column(String(20), unique=True)  # UnifiedAccountNumber
    service_id: Mapped[str] = mapped_column(String(20), unique=True)  # ЖКУ identifier
    creation_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    living_persons: Mapped[int | None] = mapped_column(Integer)
    total_square: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    residential_square: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    heated_area: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    is_renter: Mapped[bool | None] = mapped_column(Boolean)
    payer_kind: Mapped[str | None] = mapped_column(String(8))  # ind | org
    payer_surname: Mapped[str | None] = mapped_column(String(256))
    payer_first_name: Mapped[str | None] = mapped_column(String(256))
    payer_patronymic: Mapped[str | None] = mapped_column(String(256))
    payer_snils: Mapped[str | None] = mapped_column(String(20))
    payer_org_version_guid: Mapped[str | None] = mapped_column(GUID)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    close_reason_code: Mapped[str | None] = mapped_column(String(20))
    close_reason_guid: Mapped[str | None] = mapped_column(GUID)
    close_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # added by importAccountData/exportAccountData (accounts.py):
    serial: Mapped[int | None] = mapped_column(Integer, index=True)  # unique_number's sequence
    is_accounts_divided: Mapped[bool | None] = mapped_column(Boolean)
    payer_sex: Mapped[str | None] = mapped_column(String(1))  # M | F
    payer_birth_date: Mapped[date_ | None] = mapped_column(Date)
    payer_id_type_code: Mapped[str | None] = mapped_column(String(20))  # NSI 95
    payer_id_type_guid: Mapped[str | None] = mapped_column(GUID)
    payer_id_series: Mapped[str | None] = mapped_column(String(45))
    payer_id_number: Mapped[str | None] = mapped_column(String(45))
    payer_id_issue_date: Mapped[date_ | None] = mapped_column(Date)
    close_description: Mapped[str | None] = mapped_column(String(250))
    reasons_xml: Mapped[str | None] = mapped_column(Text)  # AccountReasons as sent

    __table_args__ = (Index("ix_accounts_org_number", "org_guid", "account_number"),)


class AccountPlace(Base):
    """Accommodation: the house, premises or living room an account is for, with its share."""

    __tablename__ = "account_places"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_guid: Mapped[str] = mapped_column(ForeignKey("accounts.guid"), index=True)
    house_guid: Mapped[str] = mapped_column(ForeignKey("houses.guid"), index=True)
    premises_guid: Mapped[str | None] = mapped_column(ForeignKey("premises.guid"), index=True)
    living_room_guid: Mapped[str | None] = mapped_column(ForeignKey("living_rooms.guid"))
    share_percent: Mapped[Decimal | None] = mapped_column(Numeric(7, 4))


# --- metering devices and readings -------------------------------------------------------


class MeteringDevice(Base):
    __tablename__ = "metering_devices"

    guid: Mapped[str] = mapped_column(GUID, primary_key=True)  # MeteringDeviceRootGUID
    version_guid: Mapped[str] = mapped_column(GUID, unique=True)  # MeteringDeviceVersionGUID
    org_guid: Mapped[str] = mapped_column(GUID, index=True)
    house_guid: Mapped[str] = mapped_column(ForeignKey("houses.guid"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # residential | nonresidential | collective | ...
    number: Mapped[str] = mapped_column(String(50))
    registry_number: Mapped[str] = mapped_column(String(32), unique=True)  # GIS number
    stamp: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(100))
    installation_date: Mapped[date_ | None] = mapped_column(Date)
    commissioning_date: Mapped[date_ | None] = mapped_column(Date)
    first_verification_date: Mapped[date_ | None] = mapped_column(Date)
    remote_metering: Mapped[bool] = mapped_column(Boolean, default=False)
    temperature_sensor: Mapped[bool] = mapped_column(Boolean, default=False)
    pressure_sensor: Mapped[bool] = mapped_column(Boolean, default=False)
    tariff_count: Mapped[int] = mapped_column(Integer, default=1)
    # integer digits of the register; the format carries none, so the gateway's default applies
    capacity_digits: Mapped[int] = mapped_column(Integer, default=9)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    archive_reason_code: Mapped[str | None] = mapped_column(String(20))
    archive_reason_guid: Mapped[str | None] = mapped_column(GUID)
    replaced_by: Mapped[str | None] = mapped_column(GUID)
    version_number: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_devices_org_number", "org_guid", "number"),)


class DeviceResource(Base):
    """A municipal resource a device measures, with its unit and base (initial) readings."""

    __tablename__ = "device_resources"

    device_guid: Mapped[str] = mapped_column(ForeignKey("metering_devices.guid"), primary_key=True)
    resource_code: Mapped[str] = mapped_column(String(20), primary_key=True)  # NSI 2
    resource_guid: Mapped[str | None] = mapped_column(GUID)
    unit: Mapped[str | None] = mapped_column(String(8))  # OKEI
    base_t1: Mapped[Decimal] = mapped_column(Numeric(22, 7))
    base_t2: Mapped[Decimal | None] = mapped_column(Numeric(22, 7))
    base_t3: Mapped[Decimal | None] = mapped_column(Numeric(22, 7))


class DeviceLink(Base):
    """What a device is installed for: accounts, premises, living rooms."""

    __tablename__ = "device_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_guid: Mapped[str] = mapped_column(ForeignKey("metering_devices.guid"), index=True)
    account_guid: Mapped[str | None] = mapped_column(ForeignKey("accounts.guid"), index=True)
    premises_guid: Mapped[str | None] = mapped_column(ForeignKey("premises.guid"))
    living_room_guid: Mapped[str | None] = mapped_column(ForeignKey("living_rooms.guid"))


class Reading(Base):
    """One reading of one device for one resource (T1..T3 zones), current/control/verification."""

    __tablename__ = "readings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    guid: Mapped[str] = mapped_column(GUID, unique=True)
    device_guid: Mapped[str] = mapped_column(ForeignKey("metering_devices.guid"))
    # current | control | verification_start | verification_end
    kind: Mapped[str] = mapped_column(String(18))
    resource_code: Mapped[str] = mapped_column(String(20))
    reading_date: Mapped[date_] = mapped_column(Date)
    period: Mapped[str | None] = mapped_column(String(7))  # YYYY-MM
    t1: Mapped[Decimal] = mapped_column(Numeric(22, 7))
    t2: Mapped[Decimal | None] = mapped_column(Numeric(22, 7))
    t3: Mapped[Decimal | None] = mapped_column(Numeric(22, 7))
    org_guid: Mapped[str] = mapped_column(GUID)
    message_guid: Mapped[str] = mapped_column(GUID)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # verification readings only: the start and end readings of one verification share its
    # GUID (the one answered for it), the seal date, and the NSI 224 failure reason of an
    # unplanned verification (no reason: a planned one)
    verification_guid: Mapped[str | None] = mapped_column(GUID)
    seal_date: Mapped[date_ | None] = mapped_column(Date)
    verification_reason_code: Mapped[str | None] = mapped_column(String(20))
    verification_reason_guid: Mapped[str | None] = mapped_column(GUID)

    __table_args__ = (
        # posting the same reading twice is idempotent, not a second row
        UniqueConstraint(
            "device_guid", "kind", "resource_code", "reading_date", name="uq_readings_device_day"
        ),
        # the newest reading of a device resource is the last entry of its range (the id
        # breaks a day's ties); the readings of given resources and days are entries of it
        Index(
            "ix_readings_device_resource_date", "device_guid", "resource_code", "reading_date", "id"
        ),
    )


# --- money path: payment documents, payment notices, acknowledgments ----------------------
#
# Money is stored in whole KOPECKS (BigInteger): exact, never a float, never rounded. The
# wire carries roubles with 2 decimals (charges, acknowledgments, supplier notices) or
# kopecks (bank notices); persistence/payments.py converts with Decimal, exactly.
# Paid state is never a stored counter: it is the sum of the active acknowledgments.


class PaymentDocument(Base):
    """A payment document (PD) of an account for a period, posted by the account's keeper."""

    __tablename__ = "payment_documents"

    guid: Mapped[str] = mapped_column(GUID, primary_key=True)  # ImportResult/GUID
    payment_document_id: Mapped[str] = mapped_column(String(18), unique=True)  # PaymentDocumentID
    org_guid: Mapped[str] = mapped_column(GUID, index=True)  # the poster: owner of the document
    account_guid: Mapped[str] = mapped_column(ForeignKey("accounts.guid"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    month: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8))  # charges | debts
    number: Mapped[str | None] = mapped_column(String(30))  # PaymentDocumentNumber
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False)
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    provider_org_guid: Mapped[str | None] = mapped_column(GUID)  # PaymentProviderInformation
    # totals as sent (kopecks)
    total_by_charge_info: Mapped[int | None] = mapped_column(BigInteger)
    total_overall_by_charge_info: Mapped[int | None] = mapped_column(BigInteger)
    debt_previous_periods: Mapped[int | None] = mapped_column(BigInteger)
    advance_billing_period: Mapped[int | None] = mapped_column(BigInteger)
    total_with_debt_and_advance: Mapped[int | None] = mapped_column(BigInteger)
    total_penalties_and_court_costs: Mapped[int | None] = mapped_column(BigInteger)
    total_payable: Mapped[int | None] = mapped_column(BigInteger)  # TotalPayableByPD
    payments_taken: Mapped[int | None] = mapped_column(Integer)
    additional_information: Mapped[str | None] = mapped_column(String(1000))
    # the packet and item that last changed it (placed, replaced, withdrew): for replays
    message_guid: Mapped[str] = mapped_column(GUID)
    transport_guid: Mapped[str] = mapped_column(GUID)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_payment_documents_account_period", "account_guid", "year", "month"),
    )


class PaymentDocumentDetails(Base):
    """Payment details (recipient's bank account) of a document, with its amounts per details."""

    __tablename__ = "payment_document_details"

    guid: Mapped[str] = mapped_column(GUID, primary_key=True)  # PaymentInformationGuid
    document_guid: Mapped[str] = mapped_column(ForeignKey("payment_documents.guid"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    bik: Mapped[str] = mapped_column(String(9))
    operating_account: Mapped[str] = mapped_column(String(20))
    # TotalPayableByPaymentInformation
    total_payable: Mapped[int | None] = mapped_column(BigInteger)
    account_number: Mapped[str | None] = mapped_column(String(30))
    debt_or_advance: Mapped[int | None] = mapped_column(BigInteger)
    total_with_debt_and_advance: Mapped[int | None] = mapped_column(BigInteger)


class PaymentCharge(Base):
    """One charge line of a document: a service, capital repair (a month), penalty or debt.

    ``ack_slot`` names what an acknowledgment matches (``HS:<guid>``, ``MS:<guid>``,
    ``AS:<guid>``, ``PS:<NSI 329 code>``, ``TMS:<NSI 3 code>``, with ``@YYYY-MM`` for a month of
    a yearly capital-repair charge or a debt); detail lines (members of a group, the year
    header of a yearly charge) have none. ``amount_due`` limits the acknowledgments.
    """

    __tablename__ = "payment_charges"

    guid: Mapped[str] = mapped_column(GUID, primary_key=True)
    document_guid: Mapped[str] = mapped_column(ForeignKey("payment_documents.guid"), index=True)
    parent_guid: Mapped[str | None] = mapped_column(GUID)
    position: Mapped[int] = mapped_column(Integer)
    section: Mapped[str] = mapped_column(String(32))  # HousingService, CapitalRepairCharge, ...
    ack_slot: Mapped[str | None] = mapped_column(String(64))
    service_code: Mapped[str | None] = mapped_column(String(20))
    service_guid: Mapped[str | None] = mapped_column(GUID)
    service_name: Mapped[str | None] = mapped_column(String(1200))
    rate: Mapped[Decimal | None] = mapped_column(Numeric(20, 6))
    contribution: Mapped[int | None] = mapped_column(BigInteger)  # capital repair, kopecks
    total_payable: Mapped[int | None] = mapped_column(BigInteger)  # TotalPayable
    accounting_period_total: Mapped[int | None] = mapped_column(BigInteger)
    total_payable_overall: Mapped[int | None] = mapped_column(BigInteger)
    amount_due: Mapped[int] = mapped_column(BigInteger)
    year: Mapped[int | None] = mapped_column(Integer)  # month of a yearly CR charge or a debt
    month: Mapped[int | None] = mapped_column(Integer)
    cause: Mapped[str | None] = mapped_column(String(1000))
    org_ppa_guid: Mapped[str | None] = mapped_column(GUID)
    details_guid: Mapped[str | None] = mapped_column(GUID)
    replaced: Mapped[bool] = mapped_column(Boolean, default=False)  # superseded by a new version


class PaymentNotice(Base):
    """A notice of a payment (izveshchenie): posted by a bank, or by a supplier itself."""

    __tablename__ = "payment_notices"

    guid: Mapped[str] = mapped_column(GUID, primary_key=True)  # NotificationsOfOrderExecutionGUID
    org_guid: Mapped[str] = mapped_column(GUID)  # who posted it (accepted the payment)
    source: Mapped[str] = mapped_column(String(8))  # bank | bank139 | supplier
    order_id: Mapped[str] = mapped_column(String(32))
    order_date: Mapped[date_] = mapped_column(Date)
    order_num: Mapped[str | None] = mapped_column(String(9))
    amount: Mapped[int] = mapped_column(BigInteger)  # kopecks
    payment_purpose: Mapped[str | None] = mapped_column(String(1000))
    online_payment: Mapped[bool] = mapped_column(Boolean, default=False)
    comment: Mapped[str | None] = mapped_column(String(210))
    payer_id: Mapped[str | None] = mapped_column(String(25))
    payer_name: Mapped[str | None] = mapped_column(String(160))
    recipient_inn: Mapped[str | None] = mapped_column(String(12))
    recipient_kpp: Mapped[str | None] = mapped_column(String(9))
    recipient_name: Mapped[str | None] = mapped_column(Text)
    recipient_is_legal: Mapped[bool | None] = mapped_column(Boolean)
    bank_name: Mapped[str | None] = mapped_column(String(255))
    payment_recipient: Mapped[str | None] = mapped_column(Text)
    bik: Mapped[str | None] = mapped_column(String(9))
    operating_account: Mapped[str | None] = mapped_column(String(20))
    correspondent_account: Mapped[str | None] = mapped_column(String(20))
    kbk: Mapped[str | None] = mapped_column(String(20))
    oktmo: Mapped[str | None] = mapped_column(String(11))
    budgetary_account: Mapped[str | None] = mapped_column(String(30))
    # what the payer named, as sent
    ref_payment_document_id: Mapped[str | None] = mapped_column(String(18))
    ref_payment_document_number: Mapped[str | None] = mapped_column(String(30))
    ref_unified_account_number: Mapped[str | None] = mapped_column(String(10))
    ref_service_id: Mapped[str | None] = mapped_column(String(13))
    ref_account_number: Mapped[str | None] = mapped_column(String(30))
    ref_fias_house_guid: Mapped[str | None] = mapped_column(GUID)
    year: Mapped[int | None] = mapped_column(Integer)
    month: Mapped[int | None] = mapped_column(Integer)
    # what it was resolved to
    account_guid: Mapped[str] = mapped_column(ForeignKey("accounts.guid"), index=True)
    document_guid: Mapped[str | None] = mapped_column(
        ForeignKey("payment_documents.guid"), index=True
    )
    payee_org_guid: Mapped[str] = mapped_column(GUID)  # keeper of the account: who acknowledges
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    cancellation_date: Mapped[date_ | None] = mapped_column(Date)
    cancellation_comment: Mapped[str | None] = mapped_column(String(210))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_by: Mapped[str | None] = mapped_column(GUID)  # MessageGUID of the cancellation
    message_guid: Mapped[str] = mapped_column(GUID)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # the same order posted twice by the same organisation is one notice
        UniqueConstraint("org_guid", "order_id", name="uq_payment_notices_org_order"),
        Index("ix_payment_notices_payee_created", "payee_org_guid", "created_at"),
    )


class PaymentAcknowledgment(Base):
    """Kvitirovanie: (part of) a notice matched to one charge, or marked impossible to match.

    Active while ``cancelled`` is false; an AckCancellation, the cancellation of its notice
    or a later match of a notice marked impossible cancel it (``cancel_reason``).
    """

    __tablename__ = "payment_acknowledgments"

    guid: Mapped[str] = mapped_column(GUID, primary_key=True)
    notice_guid: Mapped[str] = mapped_column(ForeignKey("payment_notices.guid"), index=True)
    org_guid: Mapped[str] = mapped_column(GUID)  # who acknowledged: the document's owner
    kind: Mapped[str] = mapped_column(String(10))  # payment | impossible
    document_guid: Mapped[str | None] = mapped_column(
        ForeignKey("payment_documents.guid"), index=True
    )
    charge_guid: Mapped[str | None] = mapped_column(ForeignKey("payment_charges.guid"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)  # kopecks; 0 for impossible
    ack_kind: Mapped[str | None] = mapped_column(String(4))  # HS | MS | AS | PS | TMS
    ack_code: Mapped[str | None] = mapped_column(String(20))
    ack_guid: Mapped[str | None] = mapped_column(GUID)
    ack_name: Mapped[str | None] = mapped_column(String(1200))
    delay_year: Mapped[int | None] = mapped_column(Integer)
    delay_month: Mapped[int | None] = mapped_column(Integer)
    period_year: Mapped[int | None] = mapped_column(Integer)  # CapitalRepairYearAckPeriod
    period_month: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(210))
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    cancel_reason: Mapped[str | None] = mapped_column(String(32))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_by: Mapped[str | None] = mapped_column(GUID, index=True)  # MessageGUID
    # the packet and item that made it: a replayed packet finds its items done
    message_guid: Mapped[str] = mapped_column(GUID, index=True)
    transport_guid: Mapped[str] = mapped_column(GUID)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
