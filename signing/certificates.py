"""Small certificate helpers: fingerprint and the GIS ZhKKh organisation binding."""

from __future__ import annotations

import hashlib

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


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, lower-case hex."""
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


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
