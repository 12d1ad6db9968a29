"""The nsiRef (Code + GUID) elements of an import checked against the NSI reference books:
every pair of the packet in one check per book (``persistence.nsi``), then each item refused
with HCS009001 when one of its own pairs is unknown or mismatched.

A handler names the elements it reads and their books: ``{"MunicipalResource": 2}``, or
``{"ID/Type": 95}`` for an element name that means a book only under that parent.
"""

from __future__ import annotations

from collections.abc import Mapping

from lxml import etree

from gateway.codes import Code
from gateway.handlers.base import HandlerContext, ItemError, guid, local, text
from persistence import nsi


class NsiRefs:
    def __init__(
        self, ctx: HandlerContext, request: etree._Element, books: Mapping[str, int]
    ) -> None:
        self.books = books
        pairs: dict[int, set[tuple[str, str]]] = {}
        for _element, number, pair in self._refs(request):
            pairs.setdefault(number, set()).add(pair)
        self.problems = {
            number: nsi.check(ctx.session, number, found) for number, found in pairs.items()
        }

    def _refs(self, root: etree._Element) -> list[tuple[etree._Element, int, tuple[str, str]]]:
        found = []
        for element in root.iter():
            if not isinstance(element.tag, str):
                continue
            name = local(element)
            parent = element.getparent()
            number = self.books.get(name)
            if parent is not None and isinstance(parent.tag, str):
                number = self.books.get(f"{local(parent)}/{name}", number)
            code, ref = text(element, "Code"), guid(element, "GUID")
            if number is not None and code and ref:
                found.append((element, number, (code, ref)))
        return found

    def check(self, item: etree._Element) -> None:
        """Refuse the item (HCS009001) when an nsiRef inside it is not in its book."""
        for element, number, pair in self._refs(item):
            problems = self.problems.get(number)
            reason = problems.describe(pair, number) if problems else None
            if reason:
                raise ItemError(Code.NSI_REF_UNKNOWN, f"{local(element)}: {reason}")
