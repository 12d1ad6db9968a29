"""Logins of the ops web console (``gateway operators …``); passwords are scrypt hashes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from persistence.clock import as_utc, utcnow
from persistence.models import Operator


@dataclass(frozen=True)
class OperatorRecord:
    login: str
    password_hash: str
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None


def _record(op: Operator) -> OperatorRecord:
    return OperatorRecord(
        op.login,
        op.password_hash,
        bool(op.disabled),
        as_utc(op.created_at),
        as_utc(op.last_login_at),
    )


def add_operator(session: Session, login: str, password_hash: str) -> bool:
    """False when the login exists already."""
    if session.get(Operator, login) is not None:
        return False
    session.add(
        Operator(login=login, password_hash=password_hash, disabled=False, created_at=utcnow())
    )
    return True


def get_operator(session: Session, login: str) -> OperatorRecord | None:
    op = session.get(Operator, login)
    return _record(op) if op is not None else None


def list_operators(session: Session) -> list[OperatorRecord]:
    return [_record(op) for op in session.scalars(select(Operator).order_by(Operator.login))]


def _update(session: Session, login: str, **values: object) -> bool:
    result = session.execute(
        update(Operator)
        .where(Operator.login == login)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def set_disabled(session: Session, login: str, disabled: bool) -> bool:
    return _update(session, login, disabled=disabled)


def set_password(session: Session, login: str, password_hash: str) -> bool:
    return _update(session, login, password_hash=password_hash)


def record_login(session: Session, login: str) -> None:
    _update(session, login, last_login_at=utcnow())
