"""What the money-path handlers (bills and payment services) share: namespaces, error codes,
amounts and periods read from the wire.

Error codes (per item; each rule has its own). GIS codes: INT002000 a referenced object does not
exist, AUT011003 it belongs to another organisation, SRV008070 the payment document was
withdrawn (clients give up on it). Ours: HCS004xxx for the bills rules, HCS005xxx for the
payment rules; the README's error table lists them all.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from lxml import etree

from gateway.codes import Code
from gateway.handlers.base import ItemError, child, integer, text
from persistence.payments import to_kopecks

# --- codes shared by both services ----------------------------------------------------------

# --- bills: payment documents ----------------------------------------------------------------
# --- bills: acknowledgment -------------------------------------------------------------------

# --- payment: notices ------------------------------------------------------------------------

#: The service an acknowledgment names for capital repair. The formats give capital repair no
#: kind of its own among HSType/MSType/ASType/PServiceType/TMSType, so the gateway takes it as a
#: housing service (HSType) with this fixed GUID; CapitalRepairYearAckPeriod (yearly charges) or
#: DelayPeriod (debts) names the month.
CAPITAL_REPAIR_GUID = "c0000000-0000-4000-8000-00000000c001"

#: A date may be "today" anywhere in Russia: up to UTC+12.
_LATEST_UTC_OFFSET = timedelta(hours=12)


def latest_today(now: datetime) -> date:
    return (now.astimezone(UTC) + _LATEST_UTC_OFFSET).date()


def rouble_kopecks(element: etree._Element | None, name: str) -> int | None:
    """A rouble amount (decimal, at most 2 fraction digits by schema) as whole kopecks."""
    value = text(element, name)
    if value is None:
        return None
    try:
        return to_kopecks(Decimal(value))
    except (InvalidOperation, ValueError):
        raise ItemError(
            Code.FORMAT_ERROR, f"{name} is not an amount in roubles: {value!r}"
        ) from None


def whole_kopecks(element: etree._Element | None, name: str) -> int | None:
    """A kopeck amount (a whole decimal by schema, e.g. ``226642``)."""
    value = text(element, name)
    if value is None:
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ItemError(
            Code.FORMAT_ERROR, f"{name} is not a whole number of kopecks: {value!r}"
        ) from None
    if amount != amount.to_integral_value():
        raise ItemError(Code.FORMAT_ERROR, f"{name} is not a whole number of kopecks: {value!r}")
    return int(amount)


def year_month(element: etree._Element | None) -> tuple[int, int] | None:
    """(Year, Month) of an element holding base:Year and base:Month, either order."""
    if element is None:
        return None
    year, month = integer(element, "Year"), integer(element, "Month")
    if year is None or month is None:
        return None
    return year, month


def period_of(element: etree._Element | None, name: str) -> tuple[int, int] | None:
    return year_month(child(element, name))


def period_text(period: tuple[int, int] | None) -> str:
    return f"{period[0]:04d}-{period[1]:02d}" if period else "no period"
