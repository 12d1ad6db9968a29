"""NSI reference books: the data file the gateway ships, its import, and the set-based check
the import handlers call for every nsiRef (Code + GUID) they read.

The books live in ``nsi_books`` / ``nsi_items``; ``nsi_state`` names the loaded file's
version and a generation that every import moves on. Each process keeps the books in memory
and reloads them when the generation it reads (the worker reads it with each packet; else one
small query per check) has moved, so an import takes effect on every node at its next packet.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.orm import Session

from persistence.clock import utcnow
from persistence.models import NsiBook, NsiItem, NsiState

FORMAT = "hcs-gateway-nsi/1"


def shipped_file() -> Path:
    """The data file of the books this release ships (loaded by migration 0011)."""
    return Path(str(resources.files("persistence").joinpath("data/nsi-books.json")))


@functools.cache
def _shipped_entries() -> dict[tuple[int, str], str]:
    return {
        (book.registry_number, entry.code): entry.guid
        for book in read_file(shipped_file()).books
        for entry in book.entries
    }


def shipped_ref(registry_number: int, code: str) -> dict[str, str]:
    """The nsiRef (Code, GUID) of an entry of the shipped books: what the demo, the bench and
    the tests send, never a retyped GUID."""
    return {"Code": code, "GUID": _shipped_entries()[(registry_number, code)]}


class NsiFileError(ValueError):
    """A data file that is not a set of reference books."""


@dataclass(frozen=True)
class Entry:
    code: str
    guid: str
    name: str
    is_actual: bool


@dataclass(frozen=True)
class Book:
    registry_number: int
    name: str
    list_group: str
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class BookFile:
    version: str
    modified: datetime
    books: tuple[Book, ...]


def read_file(path: Path) -> BookFile:
    """Read and check a data file (the format of ``persistence/data/nsi-books.json``)."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NsiFileError(f"{path}: not a readable JSON file: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise NsiFileError(f"{path}: not an NSI data file (format must be {FORMAT!r})")
    try:
        books = tuple(
            Book(
                int(b["registry_number"]),
                str(b["name"]),
                str(b.get("list_group", "NSI")),
                tuple(
                    Entry(
                        str(i["code"]),
                        str(i["guid"]).lower(),
                        str(i["name"]),
                        bool(i.get("is_actual", True)),
                    )
                    for i in b["items"]
                ),
            )
            for b in data["books"]
        )
        result = BookFile(str(data["version"]), datetime.fromisoformat(data["modified"]), books)
    except (KeyError, TypeError, ValueError) as exc:
        raise NsiFileError(f"{path}: malformed book or entry ({exc!r})") from None
    _check_unique(path, result)
    return result


def _check_unique(path: Path, data: BookFile) -> None:
    numbers = [b.registry_number for b in data.books]
    if len(set(numbers)) != len(numbers):
        raise NsiFileError(f"{path}: a registry number appears twice")
    guids = [e.guid for b in data.books for e in b.entries]
    if len(set(guids)) != len(guids):
        raise NsiFileError(f"{path}: a GUID appears twice")
    for book in data.books:
        codes = [e.code for e in book.entries]
        if len(set(codes)) != len(codes):
            raise NsiFileError(f"{path}: NSI {book.registry_number} has a code twice")


def import_file(connection: Connection, data: BookFile) -> int:
    """Replace every book by those of ``data`` in the caller's transaction; the new generation."""
    now = utcnow()
    connection.execute(delete(NsiItem))
    connection.execute(delete(NsiBook))
    connection.execute(
        insert(NsiBook),
        [
            {
                "registry_number": b.registry_number,
                "name": b.name,
                "list_group": b.list_group,
                "modified": data.modified,
            }
            for b in data.books
        ],
    )
    connection.execute(
        insert(NsiItem),
        [
            {
                "registry_number": b.registry_number,
                "code": e.code,
                "guid": e.guid,
                "name": e.name,
                "is_actual": e.is_actual,
                "modified": data.modified,
            }
            for b in data.books
            for e in b.entries
        ],
    )
    moved = connection.execute(
        update(NsiState)
        .where(NsiState.id == 1)
        .values(version=data.version, generation=NsiState.generation + 1, loaded_at=now)
        .returning(NsiState.generation)
    ).scalar()
    if moved is None:
        connection.execute(
            insert(NsiState).values(id=1, version=data.version, generation=1, loaded_at=now)
        )
        return 1
    return int(moved)


# --- reading the books (nsi-common exports) ------------------------------------------------


@dataclass(frozen=True)
class BookInfo:
    registry_number: int
    name: str
    list_group: str
    modified: datetime


@dataclass(frozen=True)
class ItemRow:
    code: str
    guid: str
    name: str
    is_actual: bool
    modified: datetime


def loaded_version(session: Session) -> tuple[str, int] | None:
    """(file version, generation) of the loaded books; None when none were ever loaded."""
    return loaded_version_of(session.connection())


def loaded_version_of(connection: Connection) -> tuple[str, int] | None:
    row = connection.execute(
        select(NsiState.version, NsiState.generation).where(NsiState.id == 1)
    ).first()
    return (row[0], int(row[1])) if row else None


def list_books(session: Session, list_group: str | None = None) -> list[BookInfo]:
    query = select(NsiBook).order_by(NsiBook.registry_number)
    if list_group:
        query = query.where(NsiBook.list_group == list_group)
    return [
        BookInfo(b.registry_number, b.name, b.list_group, b.modified)
        for b in session.scalars(query)
    ]


def book(session: Session, registry_number: int, list_group: str) -> BookInfo | None:
    found = session.get(NsiBook, registry_number)
    if found is None or found.list_group != list_group:
        return None
    return BookInfo(found.registry_number, found.name, found.list_group, found.modified)


def items(
    session: Session,
    registry_number: int,
    *,
    modified_after: datetime | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> tuple[int, list[ItemRow]]:
    """The total number of matching entries and one slice of them, in code order (1, 2, 10,
    10.1: numeric parts compare as numbers, so the order is taken in Python; books have at most
    a few thousand entries)."""
    query = select(NsiItem).where(NsiItem.registry_number == registry_number)
    if modified_after is not None:
        query = query.where(NsiItem.modified > modified_after)
    rows = list(session.scalars(query))
    rows.sort(key=lambda r: _code_key(r.code))
    total = len(rows)
    chosen = rows[offset : None if limit is None else offset + limit]
    return total, [ItemRow(r.code, r.guid, r.name, r.is_actual, r.modified) for r in chosen]


def _code_key(code: str) -> tuple[tuple[int, str], ...]:
    return tuple((int(p), "") if p.isdigit() else (0, p) for p in code.split("."))


# --- the check ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Problems:
    """What a set of (Code, GUID) pairs of one book holds that the book does not."""

    unknown: frozenset[tuple[str, str]]  # no actual entry has this code (nor this GUID)
    mismatched: dict[tuple[str, str], str]  # pair ► the GUID the code has in the book

    def __bool__(self) -> bool:
        return bool(self.unknown or self.mismatched)

    def describe(self, pair: tuple[str, str], registry_number: int) -> str | None:
        """Why ``pair`` is refused, or None when it is fine."""
        code, guid = pair
        if pair in self.unknown:
            return f"NSI {registry_number} has no actual entry with Code {code} and GUID {guid}."
        if pair in self.mismatched:
            return (
                f"NSI {registry_number}: Code {code} has GUID {self.mismatched[pair]}, not {guid}."
            )
        return None


class Books:
    """The books of this process, reloaded when the database's generation moves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: tuple[str, int] | None = None  # (database, generation) of _codes
        self._codes: dict[int, dict[str, str]] = {}  # book ► code ► GUID (actual entries)

    def check(
        self,
        session: Session,
        registry_number: int,
        pairs: Iterable[tuple[str, str]],
        *,
        generation: int | None = None,
    ) -> Problems:
        """Each (Code, GUID) pair against the book: unknown, mismatched, or fine. The books
        are those of ``generation`` when the caller read it (with its packet), else of the
        generation read now."""
        codes = self._book(session, registry_number, generation)
        unknown: set[tuple[str, str]] = set()
        mismatched: dict[tuple[str, str], str] = {}
        for code, guid in set(pairs):
            expected = codes.get(code)
            if expected is None:
                unknown.add((code, guid))
            elif expected != guid.lower():
                mismatched[(code, guid)] = expected
        return Problems(frozenset(unknown), mismatched)

    def _book(
        self, session: Session, registry_number: int, generation: int | None
    ) -> dict[str, str]:
        if generation is None:
            generation = session.execute(
                select(NsiState.generation).where(NsiState.id == 1)
            ).scalar()
        loaded = (str(session.get_bind().engine.url), int(generation or 0))
        with self._lock:
            if loaded != self._loaded:
                rows = session.execute(
                    select(NsiItem.registry_number, NsiItem.code, NsiItem.guid).where(
                        NsiItem.is_actual.is_(True)
                    )
                ).all()
                books: dict[int, dict[str, str]] = {}
                for number, code, guid in rows:
                    books.setdefault(int(number), {})[code] = guid
                self._codes, self._loaded = books, loaded
            return self._codes.get(registry_number, {})


#: the process's books, shared by every handler
BOOKS = Books()


def check(
    session: Session,
    registry_number: int,
    pairs: Iterable[tuple[str, str]],
    *,
    generation: int | None = None,
) -> Problems:
    """``pairs`` of book ``registry_number`` against the loaded books (see ``Books.check``)."""
    return BOOKS.check(session, registry_number, pairs, generation=generation)
