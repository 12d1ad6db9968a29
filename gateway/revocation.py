"""Certificate revocation: CRL files from the configuration, re-read when they change.

``[security] crl_files`` names CRL files (PEM or DER, several separated by ':'). Every
signer certificate and every TLS client certificate, with the chain above it, is looked up
in the CRLs of its issuer; a revoked one is refused with AUT011004 (reason "revoked"). A file
is read again when its modification time or size changes (checked at most once a second),
so an operator's `cp new.crl` takes effect without a restart. A CRL whose issuer is in the
trust store must be signed by it; a CRL past its nextUpdate still counts (a revocation never
expires) and is reported in the log.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from gateway.errors import CertificateRefused

log = logging.getLogger("gateway.revocation")
_RECHECK_SECONDS = 1.0


@dataclass(frozen=True)
class _Loaded:
    stamp: tuple[int, int]  # (mtime_ns, size)
    crl: x509.CertificateRevocationList | None


def _load(path: Path) -> x509.CertificateRevocationList:
    data = path.read_bytes()
    if b"-----BEGIN X509 CRL-----" in data:
        return x509.load_pem_x509_crl(data)
    return x509.load_der_x509_crl(data)


class Revocation:
    """The configured CRLs; thread-safe; ``anchors`` gives the trusted certificates whose
    signatures a CRL must carry."""

    def __init__(
        self,
        paths: Iterable[Path],
        anchors: Callable[[], Iterable[x509.Certificate]] = tuple,
    ) -> None:
        self.paths = tuple(paths)
        self._anchors = anchors
        self._lock = threading.Lock()
        self._loaded: dict[Path, _Loaded] = {}
        self._checked_at = 0.0

    def _crls(self) -> list[x509.CertificateRevocationList]:
        with self._lock:
            now = time.monotonic()
            if now - self._checked_at >= _RECHECK_SECONDS:
                self._checked_at = now
                for path in self.paths:
                    self._refresh(path)
            return [entry.crl for entry in self._loaded.values() if entry.crl is not None]

    def _refresh(self, path: Path) -> None:
        try:
            stat = os.stat(path)
        except OSError as exc:
            log.error("CRL file %s cannot be read: %s", path, exc)
            return  # keep what was loaded: a missing file must not un-revoke anything
        stamp = (stat.st_mtime_ns, stat.st_size)
        known = self._loaded.get(path)
        if known is not None and known.stamp == stamp:
            return
        try:
            crl = _load(path)
        except (OSError, ValueError) as exc:
            log.error("CRL file %s is not a CRL: %s", path, exc)
            return
        if not self._signed_by_its_issuer(crl, path):
            self._loaded[path] = _Loaded(stamp, known.crl if known else None)
            return
        next_update = crl.next_update_utc
        if next_update is not None and next_update < datetime.now(UTC):
            log.warning("CRL %s is past its nextUpdate (%s); still applied", path, next_update)
        log.info("CRL %s loaded: %d revoked certificates", path, len(crl))
        self._loaded[path] = _Loaded(stamp, crl)

    def _signed_by_its_issuer(self, crl: x509.CertificateRevocationList, path: Path) -> bool:
        issuers = [a for a in self._anchors() if a.subject == crl.issuer]
        if not issuers:
            return True  # an issuer we do not hold: the operator's file is taken as it is
        if any(crl.is_signature_valid(a.public_key()) for a in issuers):  # type: ignore[arg-type]
            return True
        log.error("CRL %s is not signed by its issuer %s; ignored", path, crl.issuer)
        return False

    def revoked(self, cert: x509.Certificate) -> x509.RevokedCertificate | None:
        """The CRL entry revoking ``cert``, if one of its issuer's CRLs lists it."""
        for crl in self._crls():
            if crl.issuer == cert.issuer:
                entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
                if entry is not None:
                    return entry
        return None

    def check(self, chain: Iterable[x509.Certificate], what: str) -> None:
        """Refuse (AUT011004, reason "revoked") when a certificate of ``chain`` is revoked."""
        if not self.paths:
            return
        for cert in chain:
            entry = self.revoked(cert)
            if entry is not None:
                raise CertificateRefused(
                    f"{what} refused (revoked): {cert.subject.rfc4514_string()} (serial "
                    f"{cert.serial_number:x}) was revoked on "
                    f"{entry.revocation_date_utc.isoformat(timespec='seconds')}."
                )
