"""The directory's writes that start from a certificate (``orgs add --cert``, the demo, tests
and the bench): the fields the directory keeps of it, taken in one place."""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from persistence import organizations
from signing import fingerprint


def register_certificate(session: Any, org_guid: str, cert: x509.Certificate) -> None:
    """Register ``cert`` as a signing certificate of organisation ``org_guid`` (in the
    caller's transaction)."""
    organizations.add_certificate(
        session,
        org_guid,
        fingerprint(cert),
        cert.subject.rfc4514_string(),
        cert.not_valid_after_utc,
        cert.public_bytes(Encoding.PEM).decode(),
    )
