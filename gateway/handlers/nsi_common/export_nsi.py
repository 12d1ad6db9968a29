"""exportNsiList, exportNsiItem, exportNsiPagingItem: the reference books the gateway ships
(and checks codes against; ``gateway nsi import`` replaces them).

exportNsiList answers NsiList (every book of the ListGroup asked, NSI when none is); the two
item exports answer the entries of one book (changed after ModifiedAfter, if given), each an
NsiElement with Code, GUID, Modified, IsActual and its value as a string field named after the
book; the paged one 1000 entries a page with TotalItemsCount, TotalPages and CurrentPage. An
unknown book, nothing changed or a page past the last is INT002012.
"""

from __future__ import annotations

import math
from datetime import datetime

from lxml import etree

from gateway.codes import Code
from gateway.handlers.base import (
    ExportError,
    HandlerContext,
    HandlerResult,
    integer,
    sub,
    text,
)
from gateway.namespaces import NSI_BASE, NSI_COMMON, XSI
from persistence import nsi

PAGE_SIZE = 1000  # "Возвращается по 1000 элементов" (exportNsiPagingItemRequest/Page)
_NSMAP = {"nsi-common": NSI_COMMON, "nsi-base": NSI_BASE, "xsi": XSI}


def export_nsi_list(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    group = text(request, "ListGroup") or "NSI"
    books = nsi.list_books(ctx.session, group)
    if not books:
        raise ExportError(Code.NOTHING_TO_EXPORT, f"No reference book of group {group}.")
    listing = etree.Element(f"{{{NSI_COMMON}}}NsiList", nsmap=_NSMAP)
    sub(listing, NSI_BASE, "Created", ctx.now)
    for book in books:
        info = sub(listing, NSI_BASE, "NsiItemInfo")
        sub(info, NSI_BASE, "RegistryNumber", book.registry_number)
        sub(info, NSI_BASE, "Name", book.name)
        sub(info, NSI_BASE, "Modified", book.modified)
    sub(listing, NSI_BASE, "ListGroup", group)
    return HandlerResult([listing])


def export_nsi_item(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    book, total, rows = _entries(ctx, request, 0, None)
    element = etree.Element(f"{{{NSI_COMMON}}}NsiItem", nsmap=_NSMAP)
    _fill(element, ctx, book, rows)
    return HandlerResult([element])


def export_nsi_paging_item(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
    page = integer(request, "Page") or 1
    book, total, rows = _entries(ctx, request, (page - 1) * PAGE_SIZE, PAGE_SIZE)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    if not rows:
        raise ExportError(
            Code.NOTHING_TO_EXPORT, f"NSI {book.registry_number} has {pages} page(s), not {page}."
        )
    element = etree.Element(f"{{{NSI_COMMON}}}NsiPagingItem", nsmap=_NSMAP)
    _fill(element, ctx, book, rows)
    sub(element, NSI_COMMON, "TotalItemsCount", total)
    sub(element, NSI_COMMON, "TotalPages", pages)
    sub(element, NSI_COMMON, "CurrentPage", page)
    return HandlerResult([element])


def _entries(
    ctx: HandlerContext, request: etree._Element, offset: int, limit: int | None
) -> tuple[nsi.BookInfo, int, list[nsi.ItemRow]]:
    number = integer(request, "RegistryNumber") or 0
    group = text(request, "ListGroup") or "NSI"
    book = nsi.book(ctx.session, number, group)
    if book is None:
        raise ExportError(
            Code.NOTHING_TO_EXPORT,
            f"The gateway keeps no reference book {number} of group {group}.",
        )
    after = text(request, "ModifiedAfter")
    total, rows = nsi.items(
        ctx.session,
        number,
        modified_after=datetime.fromisoformat(after) if after else None,
        offset=offset,
        limit=limit,
    )
    if total == 0:
        raise ExportError(
            Code.NOTHING_TO_EXPORT, f"No entry of NSI {number} changed after {after}."
        )
    return book, total, rows


def _fill(
    element: etree._Element, ctx: HandlerContext, book: nsi.BookInfo, rows: list[nsi.ItemRow]
) -> None:
    sub(element, NSI_BASE, "NsiItemRegistryNumber", book.registry_number)
    sub(element, NSI_BASE, "Created", ctx.now)
    for row in rows:
        entry = sub(element, NSI_BASE, "NsiElement")
        sub(entry, NSI_BASE, "Code", row.code)
        sub(entry, NSI_BASE, "GUID", row.guid)
        sub(entry, NSI_BASE, "Modified", row.modified)
        sub(entry, NSI_BASE, "IsActual", row.is_actual)
        field = sub(entry, NSI_BASE, "NsiElementField")
        field.set(f"{{{XSI}}}type", "nsi-base:NsiElementStringFieldType")
        sub(field, NSI_BASE, "Name", book.name[:200])
        sub(field, NSI_BASE, "Value", row.name)
