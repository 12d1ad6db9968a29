"""What ``gateway orgs add`` takes for the organisation register, checked as the register
would: OGRN (13 digits) or OGRNIP (15), INN (10 digits, 12 for an entrepreneur), KPP (9), and
a branch's head organisation."""

from __future__ import annotations

import re
from datetime import date

from persistence.organizations import KINDS, OrgKind, RegisterDetails


class DetailsError(ValueError):
    """A register detail that the register would not take (the message names the option)."""


def register_details(
    *,
    kind: str,
    ogrn: str | None,
    inn: str | None,
    kpp: str | None,
    full_name: str | None,
    short_name: str | None,
    parent: str | None,
    registration_date: str | None,
) -> RegisterDetails:
    if kind not in KINDS:
        raise DetailsError(f"--kind must be one of {', '.join(KINDS)}")
    entrepreneur = kind == "entrepreneur"
    digits = 15 if entrepreneur else 13
    if ogrn is not None and not re.fullmatch(rf"\d{{{digits}}}", ogrn):
        what = "OGRNIP of an entrepreneur" if entrepreneur else "OGRN"
        raise DetailsError(f"--ogrn: the {what} has {digits} digits, not {ogrn!r}")
    inn_digits = 12 if entrepreneur else 10
    if inn is not None and not re.fullmatch(rf"\d{{{inn_digits}}}", inn):
        raise DetailsError(f"--inn: {inn_digits} digits for a {kind}, not {inn!r}")
    if kpp is not None and not re.fullmatch(r"\d{9}", kpp):
        raise DetailsError(f"--kpp: 9 digits, not {kpp!r}")
    if entrepreneur and kpp is not None:
        raise DetailsError("--kpp: an entrepreneur has no KPP")
    if kind == "branch" and not (ogrn and kpp and parent):
        raise DetailsError("a branch needs --ogrn (its head's), --kpp and --parent (its head)")
    if kind != "branch" and parent is not None:
        raise DetailsError("--parent is for a branch (--kind branch)")
    try:
        registered = date.fromisoformat(registration_date) if registration_date else None
    except ValueError:
        raise DetailsError(
            f"--registration-date: not a date (YYYY-MM-DD): {registration_date!r}"
        ) from None
    chosen: OrgKind = kind  # checked against KINDS above
    return RegisterDetails(
        kind=chosen,
        ogrn=ogrn,
        inn=inn,
        kpp=kpp,
        full_name=full_name,
        short_name=short_name,
        parent_guid=parent.lower() if parent else None,
        registration_date=registered,
    )
