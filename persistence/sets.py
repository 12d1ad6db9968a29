"""Set-wise reads and bulk writes for the import pipeline (``gateway.imports``).

Reads: :func:`where_in` turns "rows whose column is one of these values" into one statement
per table: on PostgreSQL ``column IN (SELECT unnest(…))`` with the values bound as one
string (or array) however many they are, on SQLite ``IN`` over one JSON array. Rows come back
as Core rows (attribute access by column name), not ORM objects: a packet reads thousands of
them and never changes them in place.

Writes: an import collects what its accepted items change in a :class:`Changes` and
:func:`write` applies it in a handful of statements: deletes, then updates (executemany
by key), then inserts (multi-row, ``COPY`` on PostgreSQL for larger batches); parents' rows
are inserted before their children's and deleted after them.
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    Connection,
    Executable,
    Row,
    Select,
    Table,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

T = TypeVar("T")
#: values per ``IN`` on SQLite (its limit of bound parameters is 32766 since 3.32; stay modest)
SQLITE_BATCH = 500
#: rows from which a PostgreSQL insert goes through COPY instead of a multi-row INSERT
COPY_FROM_ROWS = 20


def is_postgres(session: Session | Connection) -> bool:
    bind = session.get_bind() if isinstance(session, Session) else session
    return bind.dialect.name == "postgresql"


def unique(values: Iterable[T]) -> list[T]:
    """Values without repeats and without None, in first-seen order."""
    return [v for v in dict.fromkeys(values) if v is not None]


def batches(values: Sequence[T], size: int = SQLITE_BATCH) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def where_in(
    session: Session, query: Select[*tuple[Any, ...]], column: Any, values: Iterable[Any]
) -> list[Row[Any]]:
    """Rows of ``query`` whose ``column`` is one of ``values``: one statement on PostgreSQL
    (``IN (SELECT unnest(array))``), ``IN`` batches on SQLite. No values, no query."""
    wanted = unique(values)
    if not wanted:
        return []
    execute = _executor(session, query)
    if is_postgres(session):
        # IN (SELECT unnest(…)), not = ANY(…): psycopg prepares a statement run often, and
        # PostgreSQL's generic plan for ANY(parameter) compares each row with every value
        # (1000 devices: ~24 ms of server CPU); a semi-join hashes the values or probes an
        # index with each (~0.7 ms)
        unnested = select(func.unnest(_pg_array(wanted, column)))
        return list(execute(query.where(column.in_(unnested))).all())
    if all(type(v) is str or type(v) is int for v in wanted):
        return list(execute(query.where(column.in_(json_values(wanted)))).all())
    rows: list[Row[Any]] = []
    for batch in batches(wanted):
        rows.extend(execute(query.where(column.in_(batch))).all())
    return rows


#: what joins the strings of a PostgreSQL set read: a control character no XML text may hold
_SEPARATOR = "\x1f"


def _pg_array(values: list[Any], column: Any) -> Any:
    """PostgreSQL: ``values`` as an array. Strings go as ONE string split by
    the server (``string_to_array``): psycopg builds a text array in Python, ~1.4 ms for 1000
    GUIDs, ~0.1 ms for the joined string; other values (or a string holding the separator)
    as an array parameter."""
    joined = _joined(values) if all(type(v) is str for v in values) else None
    if joined is not None:
        return _split(bindparam(None, joined, type_=Text, unique=True), column)
    return bindparam(None, values, type_=ARRAY(column.type), unique=True)


def _joined(values: list[str]) -> str | None:
    """The strings joined by the separator, for the server to split; None when one of them
    holds the separator itself."""
    joined = _SEPARATOR.join(values)
    return joined if joined.count(_SEPARATOR) == len(values) - 1 else None


def _split(joined: Any, column: Any) -> Any:
    """PostgreSQL: the bound string ``joined`` split at the separator, as an array of
    ``column``'s type."""
    return cast(func.string_to_array(joined, literal(_SEPARATOR, Text)), ARRAY(column.type))


def json_values(values: Sequence[str | int]) -> Select[tuple[Any]]:
    """SQLite: ``SELECT value FROM json_each(:values)``, the values bound as ONE JSON array
    (for ``column IN (…)``): no bound-parameter limit, no batches, and no statement whose
    text grows with the number of values."""
    return select(literal_column("value")).select_from(
        func.json_each(bindparam(None, json.dumps(list(values)), unique=True))
    )


def _executor(session: Session, query: Select[Any]) -> Any:
    """How to run a set read: on the session's connection (Core rows, without the ORM's
    loading layer) when ``query`` selects columns, after the flush the session would have
    done; through the session when it selects mapped entities."""
    if any(isinstance(d.get("expr"), type) for d in query.column_descriptions):
        return session.execute
    return _connection(session).execute


class SetRead:
    """A set read built once per dialect, for the reads a packet makes every time.

    :func:`where_in` takes a statement built by its caller; building a statement and
    computing its cache key cost SQLAlchemy 1-10 ms per call for the joins a packet's
    prefetch makes (the rows themselves ~1 ms per thousand). A SetRead is declared once at
    module level with ``build(values_in)``, which returns the statement; ``values_in(column)``
    is "``column`` is one of the values", the values bound as ONE parameter (PostgreSQL: a
    string the server splits, as in :func:`where_in`; SQLite: a JSON array). Other
    parameters of the statement are bound by name through :meth:`rows`.
    """

    def __init__(self, build: Callable[[Callable[[Any], Any]], Executable]) -> None:
        self._build = build
        self._built: dict[tuple[str, bool], Executable] = {}

    def rows(self, session: Session, values: Iterable[str], **params: Any) -> Sequence[Any]:
        """The rows for these values (strings; none: no query), as Core rows."""
        wanted = unique(values)
        if not wanted:
            return []
        connection = _connection(session)
        dialect = connection.dialect.name
        if dialect == "postgresql":
            joined = _joined(wanted)
            as_array = joined is None
            bound: Any = wanted if joined is None else joined
        else:
            as_array, bound = False, json.dumps(wanted)
        statement = self._built.get((dialect, as_array))
        if statement is None:
            statement = self._built[(dialect, as_array)] = self._build(
                functools.partial(_values_in, dialect, as_array)
            )
        return connection.execute(statement, {_SET_VALUES: bound, **params}).all()


#: the parameter of a SetRead's values
_SET_VALUES = "set_values"


def _values_in(dialect: str, as_array: bool, column: Any) -> Any:
    """``column`` is one of the bound values (see :class:`SetRead`)."""
    if dialect == "postgresql":
        if as_array:
            values: Any = bindparam(_SET_VALUES, type_=ARRAY(column.type))
        else:
            values = _split(bindparam(_SET_VALUES, type_=Text), column)
        return column.in_(select(func.unnest(values)))
    return column.in_(
        select(literal_column("value")).select_from(
            func.json_each(bindparam(_SET_VALUES, type_=Text))
        )
    )


def _connection(session: Session) -> Connection:
    """The session's connection for a Core read, after the flush the session would do."""
    if session.autoflush:
        session.flush()
    return session.connection()


def is_unique_violation(error: IntegrityError) -> bool:
    """The database refused a row because another one holds its unique key (PostgreSQL 23505,
    SQLite UNIQUE or PRIMARY KEY): what a packet racing another one meets. Other integrity
    errors (a foreign key, a check, a trigger) are not races."""
    orig = error.orig
    if getattr(orig, "sqlstate", None) == "23505":
        return True
    return getattr(orig, "sqlite_errorname", None) in (
        "SQLITE_CONSTRAINT_UNIQUE",
        "SQLITE_CONSTRAINT_PRIMARYKEY",
    )


# --- bulk writes ---------------------------------------------------------------------------


@dataclass(eq=False)
class _Group:
    table: Table
    keys: tuple[str, ...]  # where columns (updates, deletes)
    columns: tuple[str, ...]  # set columns (updates) or inserted columns
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Changes:
    """What accepted items write: rows to insert, update by key, delete by key.

    Rows are plain dicts of column values; an import keeps a reference to a row it inserted
    and may still change it before the write (e.g. a later item of the packet updates it).
    """

    _deletes: dict[tuple[str, tuple[str, ...]], _Group] = field(default_factory=dict)
    _updates: dict[tuple[str, tuple[str, ...], tuple[str, ...]], _Group] = field(
        default_factory=dict
    )
    _inserts: dict[tuple[str, tuple[str, ...]], _Group] = field(default_factory=dict)
    #: every change in order, (group, row): what :meth:`undo` takes back and
    #: :meth:`between` picks out; a retracted insert leaves (None, None) in its place
    _journal: list[tuple[_Group | None, dict[str, Any] | None]] = field(default_factory=list)

    def insert(self, table: Any, row: dict[str, Any]) -> dict[str, Any]:
        """Insert ``row`` into ``table`` (a model class or a Table); returns the row."""
        t = table_of(table)
        columns = tuple(row)
        group = self._inserts.get((t.name, columns))
        if group is None:
            group = self._inserts[(t.name, columns)] = _Group(t, (), columns)
        group.rows.append(row)
        self._journal.append((group, row))
        return row

    def update(self, table: Any, where: Mapping[str, Any], values: Mapping[str, Any]) -> None:
        """``UPDATE table SET values WHERE column = value AND …`` (``where`` names columns)."""
        if not values:
            return
        t = table_of(table)
        keys, columns = tuple(where), tuple(values)
        group = self._updates.setdefault((t.name, keys, columns), _Group(t, keys, columns))
        params = {
            **{f"w_{k}": v for k, v in where.items()},
            **{f"v_{k}": v for k, v in values.items()},
        }
        group.rows.append(params)
        self._journal.append((group, params))

    def delete(self, table: Any, where: Mapping[str, Any]) -> None:
        """``DELETE FROM table WHERE column = value AND …``."""
        t = table_of(table)
        keys = tuple(where)
        group = self._deletes.setdefault((t.name, keys), _Group(t, keys, ()))
        params = {f"w_{k}": v for k, v in where.items()}
        group.rows.append(params)
        self._journal.append((group, params))

    def retract(self, table: Any, row: dict[str, Any]) -> bool:
        """Take back the insert of ``row`` (the very dict given to :meth:`insert`) made by an
        earlier item; False when these changes do not hold it."""
        group = self._inserts.get((table_of(table).name, tuple(row)))
        if group is None or not any(held is row for held in group.rows):
            return False
        group.rows[:] = [held for held in group.rows if held is not row]
        self._journal = [(None, None) if held is row else (g, held) for g, held in self._journal]
        return True

    def mark(self) -> int:
        """Where the changes stand now: :meth:`undo` goes back to it (an item refused)."""
        return len(self._journal)

    def undo(self, mark: int) -> None:
        """Drop every change made since ``mark``."""
        while len(self._journal) > mark:
            group, _ = self._journal.pop()
            if group is not None:
                group.rows.pop()

    def between(self, start: int, end: int) -> Changes:
        """The changes made from mark ``start`` to mark ``end`` (one item's), on their own."""
        part = Changes()
        inserts = {id(g) for g in self._inserts.values()}
        updates = {id(g) for g in self._updates.values()}
        for group, row in self._journal[start:end]:
            if group is None or row is None:
                continue
            kind: dict[Any, _Group] = (
                part._inserts
                if id(group) in inserts
                else part._updates
                if id(group) in updates
                else part._deletes
            )
            key = (group.table.name, group.keys, group.columns)
            copy = kind.setdefault(key, _Group(group.table, group.keys, group.columns))
            copy.rows.append(row)
            part._journal.append((copy, row))
        return part

    def __bool__(self) -> bool:
        return self.count() > 0

    def count(self) -> int:
        """Rows to write (for logs and tests)."""
        return sum(
            len(g.rows)
            for groups in (self._deletes, self._updates, self._inserts)
            for g in groups.values()
        )


def write(session: Session, changes: Changes) -> None:
    """Apply ``changes`` in the session's transaction: deletes, updates, inserts."""
    connection = session.connection()
    postgres = is_postgres(connection)
    for group in sorted(changes._deletes.values(), key=_parents_first, reverse=True):
        if not group.rows:  # children's rows before their parents'
            continue
        where = and_(*(group.table.c[k] == bindparam(f"w_{k}") for k in group.keys))
        connection.execute(delete(group.table).where(where), group.rows)
    for group in changes._updates.values():
        if not group.rows:
            continue
        where = and_(*(group.table.c[k] == bindparam(f"w_{k}") for k in group.keys))
        values: dict[str, Any] = {c: bindparam(f"v_{c}") for c in group.columns}
        connection.execute(update(group.table).where(where).values(values), group.rows)
    for group in sorted(changes._inserts.values(), key=_parents_first):
        insert_rows(connection, group.table, group.rows, postgres=postgres)


def write_all_or_nothing(session: Session, changes: Changes) -> None:
    """``write``, undone if the database refuses any of it (the transaction stays usable).

    A savepoint before the writes, rolled back when they fail; one that succeeded is left to
    the end of the transaction instead of being released (PostgreSQL: RELEASE would be one
    more round trip, for nothing). The writes are Core statements on the session's
    connection, so the session has nothing of them to forget on the way back.
    """
    if not changes:
        return  # every item refused: nothing to write, no savepoint to take
    connection = session.connection()
    connection.exec_driver_sql(f"SAVEPOINT {_BULK_SAVEPOINT}")
    try:
        write(session, changes)
    except Exception:
        connection.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {_BULK_SAVEPOINT}")
        raise


_BULK_SAVEPOINT = "bulk_write"


def _parents_first(group: _Group) -> int:
    """Inserts go in the metadata's dependency order: a parent's rows before its children's."""
    return _dependency_rank(group.table)


@functools.cache
def _dependency_rank(table: Table) -> int:
    """``table``'s place in its metadata's dependency order (a sort of every table: done once
    per table, not for every write)."""
    return table.metadata.sorted_tables.index(table)


def insert_rows(
    connection: Connection, table: Table, rows: list[dict[str, Any]], *, postgres: bool
) -> None:
    """Insert rows that all have the same columns: COPY on PostgreSQL when there are many,
    else one executemany (multi-row VALUES under SQLAlchemy's insertmanyvalues)."""
    if not rows:
        return
    if postgres and len(rows) >= COPY_FROM_ROWS:
        _copy(connection, table, rows)
        return
    if not postgres and len(rows) > 1:
        plan = _driver_insert(table, tuple(rows[0]), connection.dialect)
        if plan is not None:
            plan.execute(connection, rows)
            return
    connection.execute(insert(table), rows)


@dataclass(frozen=True)
class _DriverInsert:
    """One INSERT handed to the driver's executemany as tuples: the rows' columns converted
    by the dialect's own bind processors (what SQLAlchemy's insert() would bind), the
    columns they leave out given their scalar defaults, without building a statement and a
    parameter dict per row."""

    sql: str
    columns: tuple[str, ...]
    processors: tuple[Any, ...]
    defaults: tuple[Any, ...]  # values of the left-out columns, appended to every row

    def execute(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        columns, processors, defaults = self.columns, self.processors, self.defaults
        converted: list[list[Any]] = [[] for _ in columns]
        for values, name, process in zip(converted, columns, processors, strict=True):
            if process is None:
                values.extend([row[name] for row in rows])
                continue
            last_in: Any = object()
            last_out: Any = None
            for row in rows:
                value = row[name]
                if value is not last_in:  # the packet's timestamps: one object, many rows
                    last_in, last_out = value, process(value)
                values.append(last_out)
        params = [(*row, *defaults) for row in zip(*converted, strict=True)]
        connection.exec_driver_sql(self.sql, params)


@functools.lru_cache(maxsize=256)
def _driver_insert(table: Table, columns: tuple[str, ...], dialect: Any) -> _DriverInsert | None:
    """The plan for rows of ``columns`` (None: a left-out column has a default only
    SQLAlchemy can compute, or the dialect does not take ``?`` parameters)."""
    if dialect.paramstyle != "qmark" or any(c not in table.c for c in columns):
        return None
    left_out: list[tuple[str, Any]] = []
    for column in table.c:
        if column.name in columns:
            continue
        default = column.default
        if default is None:
            continue  # NULL, a server default or the autoincrement key, as insert() leaves it
        if not getattr(default, "is_scalar", False):
            return None
        left_out.append((column.name, default.arg))  # type: ignore[attr-defined]

    def processor(name: str) -> Any:
        return table.c[name].type.dialect_impl(dialect).bind_processor(dialect)

    names = [*columns, *(name for name, _ in left_out)]
    quote = dialect.identifier_preparer
    sql = "INSERT INTO {} ({}) VALUES ({})".format(
        quote.format_table(table),
        ", ".join(quote.quote(name) for name in names),
        ", ".join("?" for _ in names),
    )
    defaults = []
    for name, value in left_out:
        process = processor(name)
        defaults.append(process(value) if process is not None else value)
    return _DriverInsert(sql, columns, tuple(processor(c) for c in columns), tuple(defaults))


def _copy(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """COPY … FROM STDIN through psycopg, which adapts the Python values itself. A refusal
    is raised as SQLAlchemy's exception for it (IntegrityError …), as any other write's is:
    the callers tell a unique key taken by another packet by it."""
    import psycopg

    columns = list(rows[0])
    raw = connection.connection.driver_connection
    assert raw is not None
    names = ", ".join(f'"{c}"' for c in columns)
    statement = f'COPY "{table.name}" ({names}) FROM STDIN'
    # a row's values in column order, as a tuple (itemgetter of one name gives the value)
    values = operator.itemgetter(*columns) if len(columns) > 1 else lambda row: (row[columns[0]],)
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            write_row = copy.write_row
            for row in rows:
                write_row(values(row))
    except psycopg.Error as exc:
        raise DBAPIError.instance(statement, None, exc, psycopg.Error) from exc


def table_of(table: Any) -> Table:
    """The Table of a mapped class (or the Table itself)."""
    if isinstance(table, Table):
        return table
    found = getattr(table, "__table__", None)
    if not isinstance(found, Table):
        raise TypeError(f"not a table or a mapped class: {table!r}")
    return found


def columns_of(table: Any) -> list[Column[Any]]:
    """The columns of a model or table, for ``select(*columns_of(Model))`` Core reads."""
    return list(table_of(table).columns)
