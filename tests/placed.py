"""Placed contracts written straight into a test database: what lets an organisation keep data
on a house (persistence/contracts.py), for tests that run handlers in process."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from persistence import contracts
from persistence.models import Contract, ContractObject, ContractVersion, House

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def _guid() -> str:
    return str(uuid.uuid4())


def placed_contract(
    session: Session, org_guid: str, *fias_house_guids: str, kind: str = contracts.MANAGEMENT
) -> Contract:
    """A placed contract of ``kind`` (management, charter, supply) covering the houses."""
    contract = Contract(
        root_guid=_guid(),
        version_guid=_guid(),
        kind=kind,
        org_guid=org_guid,
        state=contracts.PLACED,
        is_contract=True,
        version_number=1,
        message_guid=_guid(),
        transport_guid=_guid(),
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(contract)
    session.flush()
    session.add(
        ContractVersion(
            version_guid=contract.version_guid,
            contract_guid=contract.root_guid,
            version_number=1,
            created_at=NOW,
        )
    )
    for fias in fias_house_guids:
        session.add(
            ContractObject(
                guid=_guid(),
                contract_guid=contract.root_guid,
                fias_house_guid=fias,
                annulled=False,
                transport_guid=_guid(),
                updated_at=NOW,
            )
        )
    session.flush()
    return contract


def managed_house(session: Session, org_guid: str, kind: str = contracts.MANAGEMENT) -> House:
    """A new house the organisation manages (or, kind supply, supplies) by a placed contract."""
    house = House(
        guid=_guid(),
        fias_house_guid=_guid(),
        org_guid=org_guid if kind != contracts.SUPPLY else None,
        kind="apartment",
        unique_number=uuid.uuid4().hex[:11],
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(house)
    session.flush()
    placed_contract(session, org_guid, house.fias_house_guid, kind=kind)
    return house
