"""Small certificate helpers: fingerprint and the GIS ZhKKh organisation binding."""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

#: SAN URI prefix binding a certificate to an organisation (orgPPAGUID).
ORG_URI_PREFIX = "urn:gis-zhkh:orgppaguid:"


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
