"""The import pipeline: read ► prefetch ► decide ► write ► answer, for every import operation.

    read      the packet's items as typed, frozen records (one per item, with its TransportGUID)
    prefetch  what the records refer to, in a few set queries (persistence.sets.where_in),
              and the packet's nsiRef pairs against the NSI books (one check per book)
    decide    each item's rules in memory against the prefetched state and the items before it
              in the packet: a Done (what to answer) plus the rows it changes, or an ItemError
    write     the accepted items' rows in bulk (persistence.sets.write), in the packet's
              transaction
    answer    one result element per item (gateway.imports.answer)

An item refused in ``decide`` writes nothing: its changes are undone before the next item.
A refusal only the database can detect (a unique key taken by another packet at the same
moment) rolls the packet's writes back and runs it again with fresh state, which then sees
the other packet's row; if the database still refuses, a last run writes each item in its own
savepoint, so only the refused item fails. Any other database error is the worker's (it
retries what is transient and fails the packet otherwise).

A forced replay of a processed packet (``gateway packets replay --force``) answers the items
the first run applied with the results it gave then (same GUIDs, unique numbers, dates) and
does not apply them again; the items it refused are decided again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Generic, Protocol, TypeVar

from lxml import etree
from sqlalchemy.exc import IntegrityError

from gateway.codes import Code
from gateway.handlers.base import HandlerContext, HandlerResult, ItemError
from gateway.handlers.nsi_refs import NsiRefs
from gateway.imports.answer import Answer, Detail, Done, Previous, PreviousResults, Refused
from persistence.sets import Changes, is_unique_violation, write, write_all_or_nothing

log = logging.getLogger("gateway.imports")

R = TypeVar("R")
S = TypeVar("S")

#: bulk runs of a packet before the last, item-by-item one
BULK_RUNS = 2

__all__ = [
    "Answer",
    "Changes",
    "Detail",
    "Done",
    "Import",
    "ImportBase",
    "Item",
    "ItemError",
    "run_import",
]


@dataclass(frozen=True)
class Item(Generic[R]):
    """One import item as read: its TransportGUID and its record, or why it cannot be read."""

    transport_guid: str
    record: R | None = None
    unreadable: ItemError | None = None


class Import(Protocol[R, S]):
    """What an import operation declares. See ``gateway/imports/__init__.py`` for a guide."""

    answer: Answer

    @property
    def nsi_books(self) -> Mapping[str, int]:
        """The nsiRef elements the items carry and their NSI books (``{"MunicipalResource":
        2}``, ``{"ID/Type": 95}``; ``gateway.handlers.nsi_refs``): an item with a Code + GUID
        its book does not have is refused with HCS009001 before it is decided."""
        ...

    def read(self, ctx: HandlerContext, request: etree._Element) -> Iterable[Item[R]]:
        """The packet's items, in the order they are decided and answered."""
        ...

    def prefetch(self, ctx: HandlerContext, records: Sequence[R]) -> S:
        """Everything the records refer to, in a few set queries: the packet's state."""
        ...

    def decide(self, ctx: HandlerContext, state: S, record: R, changes: Changes) -> Done:
        """One item's rules: raise ItemError, or record its rows in ``changes`` and keep
        ``state`` current for the items after it (check everything before changing state)."""
        ...

    def applied(self, ctx: HandlerContext, state: S, record: R, done: Done) -> None:
        """A replay: the first run applied this item (answered ``done``); bring ``state``
        to where deciding it would have left it. Most imports need nothing here."""
        ...

    def refused_by_database(self, record: R, error: IntegrityError) -> ItemError:
        """The code of an item the database refused in the item-by-item run."""
        ...


class ImportBase(Generic[R, S]):
    """Defaults for the optional parts of :class:`Import`."""

    nsi_books: Mapping[str, int] = MappingProxyType({})

    def applied(self, ctx: HandlerContext, state: S, record: R, done: Done) -> None:
        return None

    def refused_by_database(self, record: R, error: IntegrityError) -> ItemError:
        return ItemError(
            Code.INTERNAL_ERROR,
            "The database refused this item: another packet wrote the same object at the same "
            "moment. Send the item again.",
        )


@dataclass
class _Run:
    outcomes: list[Done | Refused | Previous] = field(default_factory=list)


def run_import(imp: Import[R, S], ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    """Run the five steps of ``imp`` on one packet; the handler of an import operation."""
    items = list(imp.read(ctx, request))
    refused = NsiRefs(ctx, request, imp.nsi_books).by_transport_guid() if imp.nsi_books else {}
    session = ctx.session
    for attempt in range(1, BULK_RUNS + 1):
        previous = PreviousResults.from_xml(ctx.previous_result)  # each run takes its own
        run, changes = _decide_all(imp, ctx, items, previous, refused)
        try:
            write_all_or_nothing(session, changes)
            return imp.answer.build(items, run.outcomes, ctx.now)
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            log.info(
                "packet %s: the database refused a bulk write (run %d): %s",
                ctx.message_guid,
                attempt,
                exc.orig,
            )
    with session.begin_nested():
        run = _decide_isolated(
            imp, ctx, items, PreviousResults.from_xml(ctx.previous_result), refused
        )
    return imp.answer.build(items, run.outcomes, ctx.now)


def _decide_all(
    imp: Import[R, S],
    ctx: HandlerContext,
    items: list[Item[R]],
    previous: PreviousResults,
    refused: Mapping[str, ItemError],
) -> tuple[_Run, Changes]:
    state = imp.prefetch(ctx, [i.record for i in items if i.record is not None])
    run, changes = _Run(), Changes()
    for item in items:
        run.outcomes.append(_decide_one(imp, ctx, state, item, previous, refused, changes))
    return run, changes


def _decide_isolated(
    imp: Import[R, S],
    ctx: HandlerContext,
    items: list[Item[R]],
    previous: PreviousResults,
    refused: Mapping[str, ItemError],
) -> _Run:
    """The last resort: decided as in bulk, then each item's changes written in a savepoint of
    their own; an item the database refuses is refused, the others stand."""
    session = ctx.session
    state = imp.prefetch(ctx, [i.record for i in items if i.record is not None])
    run, changes, spans = _Run(), Changes(), []
    for item in items:
        start = changes.mark()
        run.outcomes.append(_decide_one(imp, ctx, state, item, previous, refused, changes))
        spans.append((start, changes.mark()))
    for n, (item, (start, end)) in enumerate(zip(items, spans, strict=True)):
        part = changes.between(start, end)
        if not part or item.record is None:
            continue
        try:
            with session.begin_nested():
                write(session, part)
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            log.info("packet %s: item %s refused by the database", ctx.message_guid, exc.orig)
            run.outcomes[n] = Refused(imp.refused_by_database(item.record, exc))
    return run


def _decide_one(
    imp: Import[R, S],
    ctx: HandlerContext,
    state: S,
    item: Item[R],
    previous: PreviousResults,
    refused: Mapping[str, ItemError],
    changes: Changes,
) -> Done | Refused | Previous:
    """Decide one item into ``changes``; a refused item leaves them as they were."""
    if item.record is None:
        assert item.unreadable is not None
        return Refused(item.unreadable)
    earlier = previous.take(item.transport_guid)
    if earlier is not None:
        imp.applied(ctx, state, item.record, earlier.done)
        return earlier
    nsi_refused = refused.get(item.transport_guid)
    if nsi_refused is not None:
        return Refused(nsi_refused)
    mark = changes.mark()
    try:
        return imp.decide(ctx, state, item.record, changes)
    except ItemError as error:
        changes.undo(mark)
        return Refused(error)
