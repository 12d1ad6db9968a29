"""Organisations, their HTTP credentials, their signing certificates and the trust store."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from persistence.clock import as_utc, utcnow
from persistence.models import DirectoryGeneration, Organization, OrgCertificate, TrustAnchor
from persistence.roles import Role

ROLES = tuple(Role)
OrgKind = Literal["legal", "branch", "entrepreneur"]
KINDS: tuple[OrgKind, ...] = ("legal", "branch", "entrepreneur")


@dataclass(frozen=True)
class RegisterDetails:
    """What the organisation register keeps of an organisation (exportOrgRegistry)."""

    kind: OrgKind = "legal"
    ogrn: str | None = None  # OGRN (legal entity, branch) or OGRNIP (entrepreneur)
    inn: str | None = None
    kpp: str | None = None
    full_name: str | None = None
    short_name: str | None = None
    parent_guid: str | None = None  # a branch's head organisation (its orgPPAGUID)
    registration_date: date | None = None


@dataclass(frozen=True)
class OrgRecord:
    guid: str
    name: str
    role: Role
    password_hash: str
    locked: bool


@dataclass(frozen=True)
class CertificateRecord:
    fingerprint: str
    org_guid: str
    subject: str
    not_after: datetime


def bump_generation(session: Session) -> None:
    """Mark the directory changed, in the caller's transaction: every process's cache of
    organisations, certificates and trust anchors is stale from its commit on."""
    bumped = session.execute(
        update(DirectoryGeneration)
        .where(DirectoryGeneration.id == 1)
        .values(generation=DirectoryGeneration.generation + 1)
        .execution_options(synchronize_session=False)
    )
    if not bumped.rowcount:  # type: ignore[attr-defined]  # a schema made without migrations
        session.add(DirectoryGeneration(id=1, generation=2))
        session.flush()


def generation(session: Session) -> int:
    """The directory's generation now (0 before anything bumped it)."""
    value = session.scalar(
        select(DirectoryGeneration.generation).where(DirectoryGeneration.id == 1)
    )
    return int(value or 0)


def _record(org: Organization) -> OrgRecord:
    return OrgRecord(org.guid, org.name, Role(org.role), org.password_hash, org.locked)


def add_organization(
    session: Session,
    guid: str,
    name: str,
    role: Role | str,
    password_hash: str,
    details: RegisterDetails | None = None,
) -> OrgRecord:
    """Register a new organisation (or replace name/role/password of an existing one, and its
    register details when given: a new version of its register record)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    now = utcnow()
    org = session.get(Organization, guid.lower())
    if org is None:
        org = Organization(
            guid=guid.lower(),
            created_at=now,
            locked=False,
            kind="legal",
            root_entity_guid=str(uuid.uuid4()),
            version_guid=str(uuid.uuid4()),
            updated_at=now,
        )
        session.add(org)
    org.name, org.role, org.password_hash = name, role, password_hash
    if details is not None:
        org.kind, org.ogrn, org.inn, org.kpp = (
            details.kind,
            details.ogrn,
            details.inn,
            details.kpp,
        )
        org.full_name, org.short_name = details.full_name, details.short_name
        org.parent_guid = details.parent_guid.lower() if details.parent_guid else None
        org.registration_date = details.registration_date
        if org.updated_at != now:  # a changed record is a new version of it
            org.version_guid, org.updated_at = str(uuid.uuid4()), now
    session.flush()
    bump_generation(session)
    return _record(org)


def get_organization(session: Session, guid: str) -> OrgRecord | None:
    org = session.get(Organization, guid.lower())
    return _record(org) if org else None


def list_organizations(session: Session) -> list[OrgRecord]:
    return [_record(o) for o in session.scalars(select(Organization).order_by(Organization.name))]


def set_locked(session: Session, guid: str, locked: bool) -> bool:
    org = session.get(Organization, guid.lower())
    if org is None:
        return False
    org.locked = locked
    bump_generation(session)
    return True


def add_certificate(
    session: Session, org_guid: str, fingerprint: str, subject: str, not_after: datetime, pem: str
) -> None:
    """Bind a signing certificate to an organisation."""
    cert = session.get(OrgCertificate, fingerprint)
    if cert is None:
        session.add(
            OrgCertificate(
                fingerprint=fingerprint,
                org_guid=org_guid.lower(),
                subject=subject,
                not_after=not_after,
                pem=pem,
            )
        )
        bump_generation(session)
    elif cert.org_guid != org_guid.lower():
        raise ValueError(f"certificate {fingerprint} is already bound to {cert.org_guid}")


def certificate_owner(session: Session, fingerprint: str) -> str | None:
    """The orgPPAGUID a certificate is bound to, if any."""
    cert = session.get(OrgCertificate, fingerprint)
    return cert.org_guid if cert else None


def certificates_of(session: Session, org_guid: str) -> list[CertificateRecord]:
    rows = session.scalars(
        select(OrgCertificate).where(OrgCertificate.org_guid == org_guid.lower())
    )
    return [
        CertificateRecord(c.fingerprint, c.org_guid, c.subject, as_utc(c.not_after)) for c in rows
    ]


def add_trust_anchor(session: Session, fingerprint: str, subject: str, pem: str) -> bool:
    """Add a CA certificate to the trust store; False when it was there already."""
    if session.get(TrustAnchor, fingerprint) is not None:
        return False
    session.add(TrustAnchor(fingerprint=fingerprint, subject=subject, pem=pem, added_at=utcnow()))
    bump_generation(session)
    return True


def trust_anchor_pems(session: Session) -> list[str]:
    return list(session.scalars(select(TrustAnchor.pem).order_by(TrustAnchor.added_at)))


def names_of(session: Session, guids: Iterable[str]) -> dict[str, str]:
    """The names of the given organisations (those registered), by GUID."""
    wanted = {g.lower() for g in guids if g}
    if not wanted:
        return {}
    rows = session.execute(
        select(Organization.guid, Organization.name).where(Organization.guid.in_(wanted))
    ).all()
    return {guid: name for guid, name in rows}
