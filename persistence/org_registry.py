"""The organisation register (org-registry-common): records looked up by OGRN/OGRNIP (+ KPP),
register GUIDs or orgPPAGUID, in one query for a whole request."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from persistence.clock import as_utc
from persistence.models import Organization

By = Literal["ogrn", "ogrnip", "version", "root", "org"]


@dataclass(frozen=True)
class Criterion:
    """One SearchCriteria: what it names (``by``), the value, and a KPP with an OGRN."""

    by: By
    value: str
    kpp: str | None = None


@dataclass(frozen=True)
class Record:
    guid: str  # orgPPAGUID
    name: str
    kind: str  # legal | branch | entrepreneur
    ogrn: str | None
    inn: str | None
    kpp: str | None
    full_name: str
    short_name: str | None
    root_entity_guid: str
    version_guid: str
    parent_version_guid: str | None  # a branch's head organisation's orgVersionGUID
    registration_date: date | None
    updated_at: datetime
    locked: bool


def _record(org: Organization, parent_version: str | None) -> Record:
    return Record(
        guid=org.guid,
        name=org.name,
        kind=org.kind,
        ogrn=org.ogrn,
        inn=org.inn,
        kpp=org.kpp,
        full_name=org.full_name or org.name,
        short_name=org.short_name,
        root_entity_guid=org.root_entity_guid or "",
        version_guid=org.version_guid or "",
        parent_version_guid=parent_version,
        registration_date=org.registration_date,
        updated_at=as_utc(org.updated_at or org.created_at),
        locked=org.locked,
    )


_COLUMN = {
    "ogrn": Organization.ogrn,
    "ogrnip": Organization.ogrn,
    "version": Organization.version_guid,
    "root": Organization.root_entity_guid,
    "org": Organization.guid,
}


def find(
    session: Session, criteria: Sequence[Criterion], edited_since: date | None = None
) -> list[Record]:
    """The records matching any criterion (in the order of the criteria, each once)."""
    if not criteria:
        return []
    parent = aliased(Organization)
    wanted: dict[By, set[str]] = {}
    for c in criteria:
        wanted.setdefault(c.by, set()).add(
            c.value.lower() if c.by in ("version", "root", "org") else c.value
        )
    query = (
        select(Organization, parent.version_guid)
        .outerjoin(parent, parent.guid == Organization.parent_guid)
        .where(or_(*(_COLUMN[by].in_(sorted(values)) for by, values in wanted.items())))
    )
    rows = [_record(org, parent_version) for org, parent_version in session.execute(query)]
    if edited_since is not None:
        rows = [r for r in rows if r.updated_at.date() >= edited_since]
    found: dict[str, Record] = {}
    for c in criteria:
        for r in sorted(rows, key=lambda r: (r.kind == "branch", r.kpp or "", r.guid)):
            if _matches(r, c):
                found.setdefault(r.guid, r)
    return list(found.values())


def _matches(record: Record, c: Criterion) -> bool:
    if c.by == "ogrn":
        return (
            record.kind != "entrepreneur"
            and record.ogrn == c.value
            and (c.kpp is None or record.kpp == c.kpp)
        )
    if c.by == "ogrnip":
        return record.kind == "entrepreneur" and record.ogrn == c.value
    value = c.value.lower()
    return {
        "version": record.version_guid,
        "root": record.root_entity_guid,
        "org": record.guid,
    }[c.by] == value


def record_of(session: Session, org_guid: str) -> Record | None:
    """The register record of one organisation."""
    found = find(session, [Criterion("org", org_guid)])
    return found[0] if found else None
