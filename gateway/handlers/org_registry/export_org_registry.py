"""exportOrgRegistry: register records of organisations, by up to 100 SearchCriteria.

A criterion names an OGRNIP (an entrepreneur), an OGRN (the legal entity and its branches;
with a KPP, the one whose KPP it is), an NZA, an orgVersionGUID, an orgRootEntityGUID or an
orgPPAGUID. Every registered organisation is in the register (isRegistered is implied);
lastEditingDateFrom keeps records changed on or after that day. Each record found answers
one exportOrgRegistryResult (orgRootEntityGUID, OrgVersion with the Legal / Subsidiary /
Entrp details, orgPPAGUID); nothing found is INT002012 (getStateResult/ErrorMessage).
"""

from __future__ import annotations

from datetime import date

from lxml import etree

from gateway.codes import Code
from gateway.handlers.base import ExportError, HandlerContext, HandlerResult, children, sub, text
from gateway.namespaces import BASE
from gateway.namespaces import ORGANIZATIONS_BASE as ORG_BASE
from gateway.namespaces import ORGANIZATIONS_REGISTRY_BASE as REG_BASE
from gateway.namespaces import ORGANIZATIONS_REGISTRY_COMMON as RO
from persistence import org_registry
from persistence.org_registry import By, Criterion, Record

#: OKOPF of a branch of a legal entity (the format requires one for a Subsidiary)
BRANCH_OKOPF = "30002"
#: where the register's records come from (Subsidiary/SourceName)
SOURCE = "ЕГРЮЛ"


def export_org_registry(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    criteria = [c for e in children(request, "SearchCriteria") if (c := _criterion(e))]
    since = text(request, "lastEditingDateFrom")
    records = org_registry.find(ctx.session, criteria, date.fromisoformat(since) if since else None)
    if not records:
        raise ExportError(
            Code.NOTHING_TO_EXPORT,
            "No organisation of the register matches the search criteria.",
        )
    result = HandlerResult()
    for record in records:
        result.elements.append(record_element(record))
    return result


_BY_GUID: tuple[tuple[str, By], ...] = (
    ("OGRNIP", "ogrnip"),
    ("orgVersionGUID", "version"),
    ("orgRootEntityGUID", "root"),
    ("orgPPAGUID", "org"),
)


def _criterion(element: etree._Element) -> Criterion | None:
    """The criterion of a SearchCriteria; None for an NZA (foreign legal entities' branches,
    which the gateway does not register: such a criterion finds nothing)."""
    for name, by in _BY_GUID:
        value = text(element, name)
        if value:
            return Criterion(by, value)
    ogrn = text(element, "OGRN")
    return Criterion("ogrn", ogrn, text(element, "KPP")) if ogrn else None


def record_element(record: Record) -> etree._Element:
    """``exportOrgRegistryResult`` of one record."""
    result = etree.Element(
        f"{{{RO}}}exportOrgRegistryResult",
        nsmap={"ro": RO, "reg": REG_BASE, "org": ORG_BASE, "base": BASE},
    )
    sub(result, REG_BASE, "orgRootEntityGUID", record.root_entity_guid)
    version = sub(result, RO, "OrgVersion")
    sub(version, REG_BASE, "orgVersionGUID", record.version_guid)
    sub(version, RO, "lastEditingDate", record.updated_at.date().isoformat())
    sub(version, RO, "IsActual", not record.locked)
    if record.kind == "entrepreneur":
        _entrepreneur(sub(version, RO, "Entrp"), record)
    elif record.kind == "branch" and record.parent_version_guid:
        _branch(sub(version, RO, "Subsidiary"), record)
    else:
        _legal(sub(version, RO, "Legal"), record)
    sub(result, BASE, "orgPPAGUID", record.guid)
    sub(result, RO, "isRegistered", True)
    return result


def _opt(parent: etree._Element, ns: str, name: str, value: object | None) -> None:
    if value:
        sub(parent, ns, name, value)


def _legal(legal: etree._Element, record: Record) -> None:
    _opt(legal, REG_BASE, "ShortName", record.short_name)
    sub(legal, REG_BASE, "FullName", record.full_name)
    sub(legal, ORG_BASE, "OGRN", record.ogrn or "")
    _opt(legal, REG_BASE, "StateRegistrationDate", record.registration_date)
    _opt(legal, ORG_BASE, "INN", record.inn)
    _opt(legal, ORG_BASE, "KPP", record.kpp)


def _branch(branch: etree._Element, record: Record) -> None:
    sub(branch, REG_BASE, "FullName", record.full_name)
    _opt(branch, REG_BASE, "ShortName", record.short_name)
    sub(branch, ORG_BASE, "OGRN", record.ogrn or "")
    sub(branch, ORG_BASE, "INN", record.inn or "")
    sub(branch, ORG_BASE, "KPP", record.kpp or "")
    sub(branch, ORG_BASE, "OKOPF", BRANCH_OKOPF)
    source = sub(branch, REG_BASE, "SourceName", SOURCE)
    source.set("Date", (record.registration_date or record.updated_at.date()).isoformat())
    sub(branch, RO, "StatusVersion", "Актуальная" if not record.locked else "Неактуальная")
    parent = sub(sub(branch, RO, "ParentOrg"), REG_BASE, "RegOrgVersion")
    sub(parent, REG_BASE, "orgVersionGUID", record.parent_version_guid)


def _entrepreneur(entrp: etree._Element, record: Record) -> None:
    names = record.full_name.split()
    sub(entrp, REG_BASE, "Surname", names[0] if names else record.full_name)
    sub(entrp, REG_BASE, "FirstName", names[1] if len(names) > 1 else "-")
    _opt(entrp, REG_BASE, "Patronymic", " ".join(names[2:]) if len(names) > 2 else None)
    sub(entrp, ORG_BASE, "OGRNIP", record.ogrn or "")
    _opt(entrp, REG_BASE, "StateRegistrationDate", record.registration_date)
    _opt(entrp, ORG_BASE, "INN", record.inn)
