"""The nsiRef (Code + GUID) elements of an import checked against the NSI reference books:
every pair of the packet in one pass and one check per book (``persistence.nsi``); the import
pipeline refuses the item a refused pair is in with HCS009001 before deciding it.

An import names the elements it reads and their books (``Import.nsi_books``):
``{"MunicipalResource": 2}``, or ``{"ID/Type": 95}`` for an element name that means a book
only under that parent. An item is the nearest element around the pair with a TransportGUID.
"""

from __future__ import annotations

from collections.abc import Mapping

from lxml import etree

from gateway.codes import Code
from gateway.handlers.base import HandlerContext, ItemError, child, local, text
from gateway.imports.xml import local_name
from persistence import nsi


class NsiRefs:
    def __init__(
        self, ctx: HandlerContext, request: etree._Element, books: Mapping[str, int]
    ) -> None:
        refs = _refs(request, books)
        pairs: dict[int, set[tuple[str, str]]] = {}
        for _element, number, pair in refs:
            pairs.setdefault(number, set()).add(pair)
        problems = {
            n: nsi.check(ctx.session, n, found, generation=ctx.nsi_generation)
            for n, found in pairs.items()
        }
        #: the refused references (usually none): element ► why
        self.refused: list[tuple[etree._Element, str]] = [
            (element, f"{local(element)}: {reason}")
            for element, number, pair in refs
            if (reason := problems[number].describe(pair, number))
        ]

    def by_transport_guid(self) -> dict[str, ItemError]:
        """The refusals by the TransportGUID of the item each reference is in (the nearest
        element around it that has one)."""
        found: dict[str, ItemError] = {}
        for element, why in self.refused:
            node: etree._Element | None = element
            while node is not None and child(node, "TransportGUID") is None:
                node = node.getparent()
            if node is not None:
                found.setdefault(
                    text(node, "TransportGUID") or "", ItemError(Code.NSI_REF_UNKNOWN, why)
                )
        return found


def _refs(
    root: etree._Element, books: Mapping[str, int]
) -> list[tuple[etree._Element, int, tuple[str, str]]]:
    """Every (element, book, (Code, GUID)) of the packet; read with plain child loops (a
    packet of 1000 readings has 1000 of them)."""
    found = []
    names = {key.rpartition("/")[2] for key in books}
    by_parent = any("/" in key for key in books)  # only then is the parent's name read
    for element in root.iter(*(f"{{*}}{name}" for name in names)):
        name = _local(element.tag)
        number = books.get(name)
        if by_parent:
            parent = element.getparent()
            if parent is not None:
                number = books.get(f"{_local(parent.tag)}/{name}", number)
        if number is None:
            continue
        code = ref = None
        for part in element:
            tag = _local(part.tag)
            if tag == "Code":
                code = (part.text or "").strip()
            elif tag == "GUID":
                ref = (part.text or "").strip().lower()
        if code and ref:
            found.append((element, number, (code, ref)))
    return found


_local = local_name
