"""What every handler receives and returns, and helpers for per-item results."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Protocol

from lxml import etree
from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.codes import Code
from gateway.namespaces import BASE, qname
from persistence.roles import Role


@dataclass(frozen=True)
class HandlerContext:
    session: Session
    org_guid: str
    org_role: Role | None
    message_guid: str
    version: str | None
    now: datetime
    #: True: every import item runs in its own savepoint. False (the first run of a packet):
    #: items write without savepoints, three times fewer statements; an item refused after
    #: it wrote raises ItemsNeedIsolation and the worker runs the packet again isolated.
    isolate_items: bool = True
    #: a replayed packet: the result of its last processed run (see gateway.imports.pipeline)
    previous_result: str | None = None


@dataclass
class HandlerResult:
    """Elements to place in getStateResult after RequestState and MessageGUID."""

    elements: list[etree._Element] = field(default_factory=list)


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


# --- writing results ---------------------------------------------------------------------


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


def common_result_success(
    parent: etree._Element,
    ns: str,
    *,
    transport_guid: str,
    guid_value: str | None,
    unique_number: str | None,
    update_date: datetime,
    name: str = "CommonResult",
) -> etree._Element:
    """``CommonResult`` of a successful item (GUID, TransportGUID, UniqueNumber, UpdateDate)."""
    result = sub(parent, ns, name)
    if guid_value:
        sub(result, BASE, "GUID", guid_value)
    sub(result, BASE, "TransportGUID", transport_guid)
    if unique_number:
        sub(result, BASE, "UniqueNumber", unique_number)
    sub(result, BASE, "UpdateDate", update_date)
    return result


def common_result_error(
    parent: etree._Element,
    ns: str,
    *,
    transport_guid: str,
    error: ItemError,
    name: str = "CommonResult",
) -> etree._Element:
    """``CommonResult`` of a refused item (TransportGUID, Error with code and description)."""
    result = sub(parent, ns, name)
    sub(result, BASE, "TransportGUID", transport_guid)
    err = sub(result, BASE, "Error")
    sub(err, BASE, "ErrorCode", error.code)
    sub(err, BASE, "Description", error.description)
    return result


def error_message(ns_parent: etree._Element, code: str, description: str) -> etree._Element:
    """``base:ErrorMessage`` (ErrorCode, Description)."""
    msg = etree.SubElement(ns_parent, qname(BASE, "ErrorMessage"))
    sub(msg, BASE, "ErrorCode", code)
    sub(msg, BASE, "Description", description)
    return msg


class ItemsNeedIsolation(Exception):
    """An item was refused after it had written (or the database refused its write) in a
    run without savepoints: the packet must be processed again with one per item."""


@contextmanager
def item(ctx: HandlerContext) -> Iterator[None]:
    """Run one import item so that an ItemError leaves nothing of it behind.

    Isolated: in a savepoint, rolled back on error. Otherwise the item's writes go straight
    into the packet's transaction; a refusal before any write is as good as a rollback, and
    a refusal after one raises ItemsNeedIsolation.
    """
    session = ctx.session
    if ctx.isolate_items:
        savepoint = session.begin_nested()
        try:
            yield
            session.flush()  # a refused write is this item's, undone with its savepoint
        except BaseException:
            savepoint.rollback()
            raise
        else:
            savepoint.commit()
        return
    session.flush()
    connection = session.connection()
    before = _writes(connection)
    try:
        yield
        session.flush()  # as a savepoint's release would: the item's errors stay the item's
    except ItemError as error:
        if _writes(connection) != before or session.new or session.dirty or session.deleted:
            raise ItemsNeedIsolation(f"item refused after writing: {error}") from error
        raise
    except IntegrityError as error:
        raise ItemsNeedIsolation(f"the database refused an item: {error.orig}") from error


_WRITES = "gateway_writes"


def _writes(connection: Connection) -> int:
    return int(connection.info.get(_WRITES, 0))


@event.listens_for(Engine, "before_cursor_execute")
def _count_writes(
    connection: Connection,
    _cursor: object,
    statement: str,
    _params: object,
    _context: object,
    _many: bool,
) -> None:
    """Count the writes per connection: how ``item`` sees that an item wrote something."""
    if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
        connection.info[_WRITES] = connection.info.get(_WRITES, 0) + 1
