"""What every handler receives and returns, and helpers for per-item results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Protocol

from lxml import etree
from sqlalchemy.orm import Session

from gateway.codes import Code
from gateway.namespaces import BASE, qname
from gateway.trace import Tally
from gateway.xmlparse import parse_xml
from persistence.roles import Role


@dataclass(frozen=True)
class HandlerContext:
    session: Session
    org_guid: str
    org_role: Role | None
    message_guid: str
    version: str | None
    now: datetime
    #: a replayed packet: the result of its last processed run (see gateway.imports.pipeline)
    previous_result: str | None = None
    #: the NSI books' generation read with the packet (``persistence.nsi``); None: read it
    #: when the books are checked
    nsi_generation: int | None = None


class HandlerResult:
    """Elements to place in getStateResult after RequestState and MessageGUID.

    ``packed``: the same elements already in their stored form (``gateway.state.pack_results``),
    as the import result writer writes them; ``elements`` are then parsed from it only if
    someone asks for them (tests, exports do not pack).
    """

    __slots__ = ("_elements", "_packed", "tally")

    def __init__(
        self,
        elements: list[etree._Element] | None = None,
        tally: Tally | None = None,
        *,
        packed: str | None = None,
    ) -> None:
        self._elements = elements if elements is not None or packed is not None else []
        self._packed = packed
        #: the counts of the result when the handler knows them (imports); else counted
        self.tally = tally

    @property
    def elements(self) -> list[etree._Element]:
        if self._elements is None:
            assert self._packed is not None
            self._elements = list(parse_xml(self._packed.encode()))
        return self._elements

    @property
    def packed(self) -> str | None:
        """The stored form, when the handler wrote it (else None: pack ``elements``)."""
        return self._packed


class Handler(Protocol):
    def __call__(self, ctx: HandlerContext, request: etree._Element) -> HandlerResult: ...


class ItemError(Exception):
    """A business rule refused one import item; the rest of the packet goes on."""

    def __init__(self, code: Code, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


class ExportError(Exception):
    """An export has no answer (e.g. INT002012 nothing to export): becomes getStateResult/ErrorMessage."""

    def __init__(self, code: Code, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


# --- reading the operation element -------------------------------------------------------


def local(element: etree._Element) -> str:
    return etree.QName(element).localname


def children(element: etree._Element, name: str) -> list[etree._Element]:
    """Child elements with the given local name (the formats spread them over namespaces)."""
    return element.findall("{*}" + name)


def child(element: etree._Element | None, name: str) -> etree._Element | None:
    """The first child element with the given local name, in any namespace."""
    if element is None:
        return None
    return element.find("{*}" + name)


def required(element: etree._Element | None, name: str) -> etree._Element:
    """A child the schema requires: the request was validated, so it is there."""
    found = child(element, name)
    if found is None:
        raise LookupError(f"{name} is missing (the schema requires it)")
    return found


def text(element: etree._Element | None, name: str) -> str | None:
    found = child(element, name)
    if found is None or found.text is None:
        return None
    return found.text.strip()


def integer(element: etree._Element | None, name: str) -> int | None:
    value = text(element, name)
    return int(value) if value is not None else None


def decimal(element: etree._Element | None, name: str) -> Decimal | None:
    value = text(element, name)
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        raise ItemError(Code.FORMAT_ERROR, f"{name} is not a decimal number: {value!r}") from None


def boolean(element: etree._Element | None, name: str) -> bool | None:
    value = text(element, name)
    return None if value is None else value in ("true", "1")


def guid(element: etree._Element | None, name: str) -> str | None:
    value = text(element, name)
    return value.lower() if value else None


def nsi_ref(element: etree._Element | None, name: str) -> tuple[str | None, str | None]:
    """(Code, GUID) of an nsiRef child."""
    ref = child(element, name)
    return (text(ref, "Code"), guid(ref, "GUID")) if ref is not None else (None, None)


# --- writing results (exports; imports answer through gateway.imports.answer) ---------------------------------------------------------------------


def sub(parent: etree._Element, ns: str, name: str, value: object | None = None) -> etree._Element:
    element = etree.SubElement(parent, qname(ns, name))
    if value is not None:
        element.text = format_value(value)
    return element


def format_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        # SQLite hands back naive datetimes; they were stored as UTC.
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    return str(value)


def error_message(ns_parent: etree._Element, code: str, description: str) -> etree._Element:
    """``base:ErrorMessage`` (ErrorCode, Description)."""
    msg = etree.SubElement(ns_parent, qname(BASE, "ErrorMessage"))
    sub(msg, BASE, "ErrorCode", code)
    sub(msg, BASE, "Description", description)
    return msg
