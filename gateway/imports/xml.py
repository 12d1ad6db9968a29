"""Reading an item's element: its children by local name, in one pass, and typed values.

The formats spread an item's children over several namespaces; looking each one up with
``find("{*}Name")`` walks the children again for every field. :class:`Fields` indexes them
once. The request was validated against the schema, so required children are there.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from lxml import etree

from gateway.codes import Code
from gateway.handlers.base import ItemError


def local(element: etree._Element) -> str:
    """The local name of an element ("" for comments and processing instructions)."""
    tag = element.tag
    return tag[tag.rfind("}") + 1 :] if isinstance(tag, str) else ""


class Fields:
    """The children of one element by local name (the first of each name)."""

    __slots__ = ("_first", "element")

    def __init__(self, element: etree._Element | None) -> None:
        self.element = element
        self._first: dict[str, etree._Element] = {}
        if element is not None:
            for child in element:
                name = local(child)
                if name and name not in self._first:
                    self._first[name] = child

    def __contains__(self, name: str) -> bool:
        return name in self._first

    def get(self, name: str) -> etree._Element | None:
        return self._first.get(name)

    def sub(self, name: str) -> Fields:
        """The children of the child ``name`` (none when it is absent)."""
        return Fields(self._first.get(name))

    def all(self, name: str) -> list[etree._Element]:
        """Every child named ``name``, in document order."""
        if self.element is None or name not in self._first:
            return []
        return [c for c in self.element if local(c) == name]

    def text(self, name: str) -> str | None:
        found = self._first.get(name)
        if found is None or found.text is None:
            return None
        return found.text.strip()

    def guid(self, name: str) -> str | None:
        value = self.text(name)
        return value.lower() if value else None

    def integer(self, name: str) -> int | None:
        value = self.text(name)
        return int(value) if value is not None else None

    def decimal(self, name: str) -> Decimal | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            return Decimal(value)
        except InvalidOperation:
            raise ItemError(
                Code.FORMAT_ERROR, f"{name} is not a decimal number: {value!r}"
            ) from None

    def boolean(self, name: str) -> bool | None:
        value = self.text(name)
        return None if value is None else value in ("true", "1")

    def date(self, name: str) -> date | None:
        value = self.text(name)
        return date.fromisoformat(value[:10]) if value else None

    def nsi(self, name: str) -> tuple[str | None, str | None]:
        """(Code, GUID) of an nsiRef child."""
        if name not in self._first:
            return None, None
        ref = self.sub(name)
        return ref.text("Code"), ref.guid("GUID")
