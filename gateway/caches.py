"""Per-process caches of the directory: organisations, certificate owners, the trust store
and the certificate chains built from it.

Every entry belongs to one *directory generation* (``persistence.organizations``): a number
that every lock, unlock, organisation change, certificate or trust anchor added bumps in the
same transaction. A :class:`Snapshot` is the cache at one generation; the accept path checks
a packet against a snapshot and reads the generation again in the transaction that stores
the packet. A different number there means the snapshot is stale: the transaction rolls back
and the checks run again on fresh data, so a change made on one node holds on every node
from its commit on, without waiting for a timeout.

Entries are loaded lazily, each after the generation they are filed under was read, so a
snapshot's data is never older than its generation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cryptography import x509
from sqlalchemy.orm import Session, sessionmaker

from persistence import organizations
from persistence.organizations import OrgRecord
from signing import CertificateError, TrustStore
from signing.certificates import der

#: Above this many entries a map starts over (90,000 organisations fit; memory stays flat).
MAX_ENTRIES = 200_000
#: A snapshot not confirmed by a transaction for this long is checked before use, so that a
#: refusal made from the cache (a locked organisation unlocked meanwhile) lasts at most this.
MAX_AGE_SECONDS = 1.0

_K = TypeVar("_K")
_V = TypeVar("_V")


@dataclass
class Snapshot:
    """The directory as of ``generation``; thread-safe, filled on first use of each entry."""

    generation: int
    _load: Callable[[Callable[[Session], Any]], Any]
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _orgs: dict[str, OrgRecord | None] = field(default_factory=dict)
    _owners: dict[str, str | None] = field(default_factory=dict)
    _chains: dict[bytes, list[x509.Certificate] | CertificateError] = field(default_factory=dict)
    _trust: TrustStore | None = None

    def organization(self, guid: str) -> OrgRecord | None:
        key = guid.lower()
        try:
            return self._orgs[key]
        except KeyError:
            found: OrgRecord | None = self._load(lambda s: organizations.get_organization(s, key))
            return self._put(self._orgs, key, found)

    def certificate_owner(self, fingerprint: str) -> str | None:
        """The orgPPAGUID the certificate with this SHA-256 fingerprint is registered for."""
        try:
            return self._owners[fingerprint]
        except KeyError:
            owner: str | None = self._load(
                lambda s: organizations.certificate_owner(s, fingerprint)
            )
            return self._put(self._owners, fingerprint, owner)

    def trust(self) -> TrustStore:
        store = self._trust
        if store is None:
            pems: list[str] = self._load(organizations.trust_anchor_pems)
            store = TrustStore(x509.load_pem_x509_certificate(p.encode()) for p in pems)
            self._trust = store
        return store

    def chain(self, cert: x509.Certificate) -> list[x509.Certificate]:
        """``cert`` and the trust store's certificates above it (as :meth:`TrustStore.chain`,
        with its signature checks done once per certificate and generation)."""
        key = der(cert)
        found = self._chains.get(key)
        if found is None:
            try:
                found = self.trust().chain(cert)
            except CertificateError as exc:
                found = exc
            self._put(self._chains, key, found)
        if isinstance(found, CertificateError):
            raise found
        return found

    def _put(self, entries: dict[_K, _V], key: _K, value: _V) -> _V:
        with self._lock:
            if len(entries) >= MAX_ENTRIES:
                entries.clear()
            entries[key] = value
        return value


class Directory:
    """The current :class:`Snapshot` of this process, replaced when the generation moves."""

    def __init__(
        self, reader: sessionmaker[Session], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._reader = reader
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._confirmed_at = 0.0

    def snapshot(self) -> Snapshot:
        """The cache as it is, its generation read again when it was last confirmed more
        than MAX_AGE_SECONDS ago (or never)."""
        current = self._snapshot
        if current is None or self._clock() - self._confirmed_at > MAX_AGE_SECONDS:
            with self._reader() as session:
                current = self.observe(organizations.generation(session))
        return current

    def observe(self, generation: int) -> Snapshot:
        """Note the generation read in a transaction: a new one starts an empty snapshot
        (the number was read before anything the new snapshot will load)."""
        with self._lock:
            self._confirmed_at = self._clock()
            current = self._snapshot
            if current is None or current.generation != generation:
                current = Snapshot(generation, self._read)
                self._snapshot = current
            return current

    def _read(self, query: Callable[[Session], Any]) -> Any:
        with self._reader() as session:
            return query(session)
