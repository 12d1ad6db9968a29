"""Set reads (persistence/sets.py ``where_in``) on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from persistence.models import RateCounter
from persistence.sets import where_in


def test_where_in_finds_each_value_once_whatever_the_values_hold(
    sessions: sessionmaker[Session],
) -> None:
    """Strings are sent to PostgreSQL joined by a control character: one holding it (or a
    comma, a quote, a brace: array syntax) is found all the same."""
    keys = ["plain", "with,comma", 'with"quote', "{braces}", "with\x1fseparator", "ключ"]
    with sessions.begin() as session:
        session.add_all(RateCounter(key=k, window_start=0, count=1) for k in [*keys, "other"])
    query = select(RateCounter.key)
    with sessions() as session:
        for wanted in (keys, keys[:4], [*keys[:4], *keys[:4]], ["missing"]):
            found = [row.key for row in where_in(session, query, RateCounter.key, wanted)]
            assert sorted(found) == sorted(k for k in set(wanted) if k in keys)
        windows = where_in(session, select(RateCounter.window_start), RateCounter.window_start, [0])
        assert len(windows) == len(keys) + 1
