"""The nsiRef (Code + GUID) elements of an import checked against the NSI reference books:
every pair of the packet in one pass and one check per book (``persistence.nsi``), then each
item refused with HCS009001 when one of its own pairs is unknown or mismatched.

A handler names the elements it reads and their books: ``{"MunicipalResource": 2}``, or
``{"ID/Type": 95}`` for an element name that means a book only under that parent.
"""

from __future__ import annotations

from collections.abc import Mapping

from lxml import etree

from gateway.codes import Code
from gateway.handlers.base import HandlerContext, ItemError, child, guid, local, text
from persistence import nsi


class NsiRefs:
    def __init__(
        self, ctx: HandlerContext, request: etree._Element, books: Mapping[str, int]
    ) -> None:
        refs = _refs(request, books)
        pairs: dict[int, set[tuple[str, str]]] = {}
        for _element, number, pair in refs:
            pairs.setdefault(number, set()).add(pair)
        problems = {n: nsi.check(ctx.session, n, found) for n, found in pairs.items()}
        #: the refused references (usually none): element ► why
        self.refused: list[tuple[etree._Element, str]] = [
            (element, f"{local(element)}: {reason}")
            for element, number, pair in refs
            if (reason := problems[number].describe(pair, number))
        ]

    def check(self, item: etree._Element) -> None:
        """Refuse the item (HCS009001) when an nsiRef inside it is not in its book."""
        for element, why in self.refused:
            if _inside(element, item):
                raise ItemError(Code.NSI_REF_UNKNOWN, why)

    def by_transport_guid(self) -> dict[str, ItemError]:
        """The refusals by the TransportGUID of the item each reference is in (the nearest
        ancestor that has one): for handlers that keep no element per item."""
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
    found = []
    names = {key.rpartition("/")[2] for key in books}
    for element in root.iter(*(f"{{*}}{name}" for name in names)):
        name = local(element)
        number = books.get(name)
        parent = element.getparent()
        if parent is not None:
            number = books.get(f"{local(parent)}/{name}", number)
        if number is None:
            continue
        code, ref = text(element, "Code"), guid(element, "GUID")
        if code and ref:
            found.append((element, number, (code, ref)))
    return found


def _inside(element: etree._Element, item: etree._Element) -> bool:
    node: etree._Element | None = element
    while node is not None:
        if node is item:  # lxml hands out one proxy per node while a reference lives
            return True
        node = node.getparent()
    return False
