"""The roles of organisations (a module of its own: the CLI reads it without the database)."""

from enum import StrEnum


class Role(StrEnum):
    """What an organisation is; the registry says which operations each role may call."""

    UO = "uo"  # management company (upravlyayushchaya organizatsiya)
    RSO = "rso"  # resource supplier (resursosnabzhayushchaya organizatsiya)
    BANK = "bank"  # credit institution posting payment notices
