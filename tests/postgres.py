"""Kept for test files written before ``tests/stand``: import from ``tests.stand`` instead (the
``postgres_database`` fixture is in ``tests/conftest.py`` and needs no import)."""

from tests.conftest import postgres_database
from tests.stand.databases import PG_ADMIN_URL, admin_engine, scratch_database

__all__ = ["PG_ADMIN_URL", "admin_engine", "postgres_database", "scratch_database"]
