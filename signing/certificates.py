"""Small certificate helpers: fingerprint and the GIS ZhKKh organisation binding."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TypeVar, cast

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

#: SAN URI prefix binding a certificate to an organisation (orgPPAGUID).
ORG_URI_PREFIX = "urn:gis-zhkh:orgppaguid:"


#: Short names of the Russian attributes of qualified certificates (Order of the FSB No. 795).
RUSSIAN_NAME_OIDS: dict[str, str] = {
    "1.2.643.100.1": "OGRN",
    "1.2.643.100.5": "OGRNIP",
    "1.2.643.100.3": "SNILS",
    "1.2.643.3.131.1.1": "INN",
    "1.2.643.100.4": "INNLE",
}


def readable_name(name: x509.Name) -> str:
    """RFC 4514 string of ``name`` with OGRN, INN, SNILS… spelled out instead of OIDs."""
    overrides = {x509.ObjectIdentifier(oid): short for oid, short in RUSSIAN_NAME_OIDS.items()}
    return name.rfc4514_string(overrides)


_T = TypeVar("_T")

#: Certificate objects are immutable, and what is derived from one (its DER, fingerprint,
#: subject string, public key, CertDigest) never changes. signing.structure hands out one
#: object per KeyInfo certificate, so these are kept per object, keyed by its identity: the
#: entry holds the object, so its id cannot be reused while the entry lives. (Hashing a
#: certificate, as a dict key, costs about as much as re-encoding it.)
_facts: dict[int, tuple[x509.Certificate, dict[str, object]]] = {}
#: Above this many certificates the map starts over (a few MB at most).
MAX_REMEMBERED = 1024


def remembered(cert: x509.Certificate, name: str, compute: Callable[[x509.Certificate], _T]) -> _T:
    """``compute(cert)``, kept per certificate object under ``name`` (a refusal raised by
    ``compute`` is not kept). Thread-safe: a race at worst computes a value twice."""
    entry = _facts.get(id(cert))
    if entry is None or entry[0] is not cert:
        if len(_facts) >= MAX_REMEMBERED:
            _facts.clear()
        entry = _facts[id(cert)] = (cert, {})
    values = entry[1]
    try:
        return cast(_T, values[name])
    except KeyError:
        value = values[name] = compute(cert)
        return value


def der(cert: x509.Certificate) -> bytes:
    """The DER encoding of ``cert``."""
    return remembered(cert, "der", _der)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, lower-case hex."""
    return remembered(cert, "sha256", _fingerprint)


def _fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(der(cert)).hexdigest()


def subject_string(cert: x509.Certificate) -> str:
    """The RFC 4514 string of ``cert``'s subject."""
    return remembered(cert, "subject", _subject_string)


def _subject_string(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


def org_guid(cert: x509.Certificate) -> str | None:
    """The orgPPAGUID from the ``urn:gis-zhkh:orgppaguid:`` SAN URI, if any."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.lower().startswith(ORG_URI_PREFIX):
            return uri[len(ORG_URI_PREFIX) :].lower()
    return None
