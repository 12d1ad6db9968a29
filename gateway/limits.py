"""Limits that protect everyone, shared by every process and node through the database.

Per organisation (``[limits]``): packets accepted per minute, packets waiting in its queue,
requests in progress at once; a request past one is answered with the retryable Fault
EXP002001 and a Retry-After. A request in progress holds one of the organisation's
``concurrent_requests`` slots, a lock that its process's death drops: on SQLite a record lock
on a file beside the store, held around the request's store work (``in_progress``); on
PostgreSQL a transaction advisory lock that the accept (or getState) statement takes itself,
held to its commit, so the limit costs no statement of its own (``counting``,
``state_slots``). Failed logins (HTTP Basic, the console) are counted per
organisation or operator and per address; past the limit the next attempts are refused
without checking the password, until the window ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from gateway.config import LimitSettings
from gateway.errors import LimitExceeded, LoginThrottled
from persistence import limits as counts
from persistence.accept_sql import Counting, Stored
from persistence.limits import FileSlots

MINUTE = 60


def counting(
    settings: LimitSettings, org_guid: str, now: datetime, slots: FileSlots | None
) -> Counting:
    """What the accept transaction counts with a packet of ``org_guid`` for these limits
    (``slots``: the process's file slots; None: PostgreSQL, the statement takes the slot),
    and the limits a PostgreSQL statement refuses past itself."""
    rate = None
    if settings.packets_per_minute:
        rate = (f"packets:{org_guid}", counts.window_start(now, MINUTE))
    return Counting(
        rate=rate,
        pending=bool(settings.queued_packets),
        slots=state_slots(settings, org_guid, slots),
        rate_limit=settings.packets_per_minute,
        queue_limit=settings.queued_packets,
    )


def state_slots(
    settings: LimitSettings, org_guid: str, slots: FileSlots | None
) -> tuple[int, int] | None:
    """The request slots a PostgreSQL statement takes one of for ``org_guid`` (None: the
    limit is off, or ``slots`` hold them on SQLite)."""
    if not settings.concurrent_requests or slots is not None:
        return None
    return counts.slot_base(org_guid), settings.concurrent_requests


def too_many_in_progress(settings: LimitSettings, org_guid: str) -> LimitExceeded:
    return LimitExceeded(
        f"Organisation {org_guid} has more than {settings.concurrent_requests} requests "
        "in progress at once; send this one again when one of them is answered.",
        retry_after=1,
    )


def admit_packet(settings: LimitSettings, org_guid: str, stored: Stored, now: datetime) -> None:
    """Refuse a packet of ``org_guid`` past the per-minute or the queue limit, from the
    counts its accept statement read (``counting``). SQLite: the caller rolls the packet's
    writes back, so it is not counted; PostgreSQL: the statement refused it already, writing
    nothing (``stored.limited``), and this only words the refusal."""
    if settings.packets_per_minute and stored.rate_count is not None:
        n = stored.rate_count
        if n > settings.packets_per_minute:
            window = counts.window_start(now, MINUTE)
            retry = max(1, window + MINUTE - int(now.timestamp()))
            raise LimitExceeded(
                f"Organisation {org_guid} sent more than {settings.packets_per_minute} packets "
                f"this minute; send this one again in {retry} s.",
                retry_after=retry,
            )
    if settings.queued_packets and stored.pending is not None:
        waiting = stored.pending
        if waiting > settings.queued_packets:
            raise LimitExceeded(
                f"Organisation {org_guid} has {waiting - 1} packets waiting to be processed "
                f"(limit {settings.queued_packets}); send this one again once getState shows "
                "earlier ones processed.",
                retry_after=30,
            )


@contextmanager
def in_progress(slots: FileSlots | None, settings: LimitSettings, org_guid: str) -> Iterator[None]:
    """Hold one of ``org_guid``'s request slots (SQLite: ``slots``, the process's
    :class:`FileSlots`) while the block runs; refuse the request past
    ``concurrent_requests``. With ``slots`` None (PostgreSQL) the block's statement takes
    the slot (``counting``, ``state_slots``) and this does nothing."""
    if not settings.concurrent_requests or slots is None:
        yield
        return
    slot = slots.take(org_guid, settings.concurrent_requests)
    if slot is None:
        raise too_many_in_progress(settings, org_guid)
    try:
        yield
    finally:
        slots.give_back(slot)


class LoginThrottle:
    """Failed logins per name (organisation, operator) and per address, in fixed windows."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: LimitSettings,
        kind: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.kind = kind  # "basic" | "console"
        self.clock = clock

    def _keys(self, name: str, address: str | None) -> dict[str, int]:
        keys = {f"login:{self.kind}:{name}": self.settings.failed_logins_per_name}
        if address:
            keys[f"login:addr:{address}"] = self.settings.failed_logins_per_address
        return {key: limit for key, limit in keys.items() if limit}

    def keys(self, name: str, address: str | None) -> list[str]:
        """The counter keys a login of ``name`` from ``address`` is checked against (none
        when both limits are off), for a statement that reads their counts (:meth:`window`)
        beside something else; :meth:`refuse_past` then judges them."""
        return list(self._keys(name, address))

    def window(self) -> int:
        """The start of the current failed-login window (epoch seconds)."""
        seconds = self.settings.failed_login_window_seconds
        epoch = int(self.clock())
        return epoch - epoch % seconds

    def check(self, session: Session | Connection, name: str, address: str | None) -> None:
        """Refuse (LoginThrottled) when ``name`` or ``address`` has failed too often."""
        keys = self.keys(name, address)
        if keys:
            self.refuse_past(name, address, counts.count(session, keys, self.window()))

    def refuse_past(self, name: str, address: str | None, found: dict[str, int]) -> None:
        """Refuse (LoginThrottled) when a count of ``found`` (:meth:`keys` of ``name`` and
        ``address``, read in the current window) reached its limit."""
        window = self.window()
        for key, limit in self._keys(name, address).items():
            if found.get(key, 0) >= limit:
                retry = window + self.settings.failed_login_window_seconds - int(self.clock())
                who = "this address" if key.startswith("login:addr:") else name
                raise LoginThrottled(
                    f"Too many failed logins for {who}; try again in {max(1, retry)} s.",
                    retry_after=max(1, retry),
                )

    def failed(self, name: str, address: str | None) -> None:
        keys = self._keys(name, address)
        if not keys:
            return
        window = self.window()
        with self.sessions.begin() as session:
            for key in keys:
                counts.hit(session, key, window)
