"""exportDataProvider: the information providers of the calling system.

The gateway's caller is one organisation (its HTTP credentials or TLS client certificate), so
the answer is that organisation's own provider record: DataProviderGUID (stable, derived from
its orgPPAGUID), IsActual (not locked) and RegOrg/orgRootEntityGUID.
"""

from __future__ import annotations

import uuid

from lxml import etree

from gateway.codes import Code
from gateway.handlers.base import ExportError, HandlerContext, HandlerResult, sub
from gateway.namespaces import ORGANIZATIONS_REGISTRY_BASE as REG_BASE
from gateway.namespaces import ORGANIZATIONS_REGISTRY_COMMON as RO
from persistence import org_registry

#: DataProviderGUID = uuid5(this, orgPPAGUID): the same on every node and every call
_DATA_PROVIDERS = uuid.UUID("0d7c8f0e-5b1a-5e3c-9a4d-2f6b7c8d9e0a")


def data_provider_guid(org_guid: str) -> str:
    return str(uuid.uuid5(_DATA_PROVIDERS, org_guid.lower()))


def export_data_provider(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    record = org_registry.record_of(ctx.session, ctx.org_guid)
    if record is None:  # the sender was registered when its packet was accepted
        raise ExportError(Code.NOTHING_TO_EXPORT, "Your organisation is not in the register.")
    result = etree.Element(f"{{{RO}}}exportDataProviderResult", nsmap={"ro": RO, "reg": REG_BASE})
    sub(result, RO, "DataProviderGUID", data_provider_guid(record.guid))
    sub(result, RO, "IsActual", not record.locked)
    sub(sub(result, REG_BASE, "RegOrg"), REG_BASE, "orgRootEntityGUID", record.root_entity_guid)
    return HandlerResult([result])
