"""What contract imports and exports answer about a contract: its GUIDs, status and objects.

Statuses on the wire, from the gateway's states (persistence/contracts.py):

  state       management contract / charter     supply contract (VersionStatus)
  project     Project                           Draft
  placed      Approved                          Posted
  terminated  Terminated                        Terminated
  annulled    Annul                             Annul

A contract object (house) is ``Approved`` while it and its contract stand, ``Annul`` once
either is annulled, ``Project`` in a project. ``State`` (management) and ``ContractState``
(supply) come from the dates: not yet effective, running, or expired (terminated, or past its
end date).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date
from typing import Any

from lxml import etree

from gateway.handlers.base import sub
from gateway.namespaces import HOUSE_MANAGEMENT as HM
from persistence import contracts as repo
from persistence.models import Contract, ContractObject

_STATUS = {
    repo.PROJECT: "Project",
    repo.PLACED: "Approved",
    repo.TERMINATED: "Terminated",
    repo.ANNULLED: "Annul",
}
_VERSION_STATUS = {
    repo.PROJECT: "Draft",
    repo.PLACED: "Posted",
    repo.TERMINATED: "Terminated",
    repo.ANNULLED: "Annul",
}


@dataclass(frozen=True)
class Names:
    """The element names of one kind of management document (contract or charter)."""

    kind: str
    guid: str  # ContractGUID | CharterGUID
    version_guid: str  # ContractVersionGUID | CharterVersionGUID
    status: str  # ContractStatus | CharterStatus
    import_result: str  # importContract | importCharter


CONTRACT = Names(
    repo.MANAGEMENT, "ContractGUID", "ContractVersionGUID", "ContractStatus", "importContract"
)
CHARTER = Names(repo.CHARTER, "CharterGUID", "CharterVersionGUID", "CharterStatus", "importCharter")


def running(state: str, effective: date | None, end: date | None, today: date) -> str:
    """Running | NotRunning | Expired, as management exports say it."""
    if state == repo.TERMINATED or (end and end < today):
        return "Expired"
    if effective and effective > today:
        return "NotRunning"
    return "Running"


def running_state(contract: dict[str, Any], today: date) -> str:
    """``running`` of a contract read as a row (the import pipeline's state)."""
    return running(contract["state"], contract["effective_date"], contract["end_date"], today)


def status_of(state: str) -> str:
    """ContractStatus / CharterStatus of a state."""
    return _STATUS[state]


def contract_state(contract: Contract, today: date) -> str:
    """NotTakeEffect | Proceed | Expired, as supply exports say it."""
    return {"Running": "Proceed", "NotRunning": "NotTakeEffect", "Expired": "Expired"}[
        running(contract.state, contract.effective_date, contract.end_date, today)
    ]


def version_status(contract: Contract) -> str:
    return _VERSION_STATUS[contract.state]


def object_status(contract: Contract, obj: ContractObject) -> str:
    if obj.annulled or contract.state == repo.ANNULLED:
        return "Annul"
    return "Project" if contract.state == repo.PROJECT else "Approved"


def status_elements(
    parent: etree._Element,
    names: Names,
    contract: Contract,
    objects: list[ContractObject],
    today: date,
) -> None:
    """The content of exportStatusCAChResultType (and so of importContract/importCharter)."""
    sub(parent, HM, names.guid, contract.root_guid)
    sub(parent, HM, names.version_guid, contract.version_guid)
    sub(parent, HM, names.status, _STATUS[contract.state])
    if contract.state in (repo.PLACED, repo.TERMINATED):
        sub(
            parent,
            HM,
            "State",
            running(contract.state, contract.effective_date, contract.end_date, today),
        )
    for obj in objects:
        element = sub(parent, HM, "ContractObject")
        sub(element, HM, "FIASHouseGuid", obj.fias_house_guid)
        sub(element, HM, "ManagedObjectStatus", object_status(contract, obj))
        sub(element, HM, "ContractObjectVersionGUID", obj.guid)
    sub(parent, HM, "VersionNumber", contract.version_number)


def stored_xml(element: etree._Element) -> str:
    """An element as kept for later exports: without indentation and unused namespaces."""
    element = copy.deepcopy(element)
    for part in element.iter():
        if part.text is not None and not part.text.strip():
            part.text = None
        part.tail = None
    etree.cleanup_namespaces(element)
    return etree.tostring(element, encoding="unicode")
