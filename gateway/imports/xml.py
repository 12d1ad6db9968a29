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

#: tag ► local name, for the tags met so far (a schema's worth; bounded all the same); a
#: hot loop may look a tag up here first and call :func:`local_name` when it is missing
LOCAL_NAMES: dict[object, str] = {}
_LOCAL_NAMES_MAX = 4096


def local_name(tag: object) -> str:
    """The local name of a tag (``"{ns}Name"`` ► ``"Name"``; "" for the tag of a comment or a
    processing instruction). Items read thousands of tags of a few dozen names: the names are
    kept, not sliced again."""
    name = LOCAL_NAMES.get(tag)
    if name is None:
        name = tag[tag.rfind("}") + 1 :] if isinstance(tag, str) else ""
        if len(LOCAL_NAMES) < _LOCAL_NAMES_MAX:
            LOCAL_NAMES[tag] = name
    return name


def local(element: etree._Element) -> str:
    """The local name of an element ("" for comments and processing instructions)."""
    return local_name(element.tag)


def children_by_name(element: etree._Element) -> dict[str, etree._Element]:
    """The children of an element by local name (the first of each name)."""
    found: dict[str, etree._Element] = {}
    names = LOCAL_NAMES
    for child in reversed(element):  # the first of a name is the last one stored
        tag = child.tag
        found[names.get(tag) or local_name(tag)] = child
    found.pop("", None)  # comments and processing instructions
    return found


class Fields:
    """The children of one element by local name (the first of each name)."""

    __slots__ = ("_first", "element")

    def __init__(self, element: etree._Element | None) -> None:
        self.element = element
        self._first = children_by_name(element) if element is not None else {}

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
