"""importPaymentDocumentData rules, in process: versions of a document within one packet."""

from __future__ import annotations

from sqlalchemy import func, select

from gateway.codes import Code
from persistence.models import PaymentCharge, PaymentDocumentDetails
from tests.e2e import payment_data as pd
from tests.handlers import world
from tests.handlers.stand import Stand
from tests.handlers.world import BILLS


def test_a_document_replaced_twice_in_one_packet_keeps_the_last_version(stand: Stand) -> None:
    uo = world.org("uo")
    home = world.house(stand, uo)
    account = world.accounts(stand, uo, home)[0][0]
    [placed] = world.documents(stand, uo, [account], (2024, 5))
    key = pd.tg()
    request = pd.import_documents(
        2024,
        5,
        key,
        pd.document(account, key, replaces=placed, housing="900.00", water="10.00"),
        pd.document(account, key, replaces=placed, housing="950.00"),
    )
    done = stand.run(uo, BILLS, "importPaymentDocumentData", request)
    assert [(o.unique_number, o.code) for o in done] == [(placed, None), (placed, None)]
    with stand.sessions() as session:
        current = session.execute(
            select(PaymentCharge.section, PaymentCharge.amount_due).where(
                PaymentCharge.replaced.is_(False)
            )
        ).all()
        assert current == [("HousingService", 95_000)]
        assert session.scalar(select(func.count()).select_from(PaymentDocumentDetails)) == 1


def test_one_placed_document_per_account_and_period(stand: Stand) -> None:
    uo = world.org("uo")
    home = world.house(stand, uo)
    account = world.accounts(stand, uo, home)[0][0]
    [placed] = world.documents(stand, uo, [account], (2024, 5))
    key = pd.tg()
    request = pd.import_documents(2024, 5, key, pd.document(account, key))
    done = stand.run(uo, BILLS, "importPaymentDocumentData", request)
    assert [o.code for o in done] == [Code.DOCUMENT_EXISTS]
    [withdrawn] = stand.run(uo, BILLS, "importPaymentDocumentData", pd.withdraw_documents(placed))
    assert withdrawn.ok
    [second] = stand.run(uo, BILLS, "importPaymentDocumentData", request)
    assert second.ok and second.unique_number == placed.replace("-01-", "-02-")
