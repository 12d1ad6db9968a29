"""The one paging convention of every export that can exceed a page.

Pages are keyset pages over a unique, never-changing key (a GUID): a page is the first
``size`` rows whose key is at or after the key the client sent, in key order, and the answer
names the key of the first row of the next page (the published formats' ``ExportContractRootGUID``,
``ExportObjectGUID``, ``ExportNotificationsOfOrderExecutionGUID``, ``NextPage…GUID``), or says it
is the last page (``IsLastPage``, or no next key). Rows inserted while a client pages are
never answered twice, and no row that existed when paging began is skipped: a page never
depends on an offset.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

T = TypeVar("T")

#: the published formats' page: "the next 1000 contracts / objects / notices"
PAGE_SIZE = 1000


def keyset_page(
    session: Session,
    query: Select[T],
    key: InstrumentedAttribute[Any],
    *,
    after: str | None,
    size: int = PAGE_SIZE,
) -> tuple[list[T], str | None]:
    """Rows of ``query`` from key ``after`` on (inclusive; None: from the start), at most
    ``size`` of them, and the key of the next page's first row (None: this is the last page)."""
    if after is not None:
        query = query.where(key >= after)
    rows = list(session.scalars(query.order_by(key).limit(size + 1)))
    if len(rows) <= size:
        return rows, None
    return rows[:size], str(getattr(rows[size], key.key))


def list_page(
    rows: Sequence[T], key: Callable[[T], str], *, after: str | None, size: int = PAGE_SIZE
) -> tuple[list[T], str | None]:
    """The same page over rows already selected (and filtered) in memory."""
    ordered = sorted((r for r in rows if after is None or key(r) >= after), key=key)
    if len(ordered) <= size:
        return ordered, None
    return ordered[:size], key(ordered[size])
