"""Transport authentication: per-organisation HTTP Basic credentials (user = orgPPAGUID), or
a TLS client certificate registered for the organisation (mutual TLS, as in production)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509

from gateway.errors import Locked, Unauthenticated, WrongOrganization
from gateway.header import RequestHeader
from gateway.passwords import verify_password
from persistence.organizations import OrgRecord
from signing import fingerprint


@dataclass(frozen=True)
class BasicCredentials:
    user: str
    password: str


def parse_basic(authorization: str | None) -> BasicCredentials | None:
    """Credentials of an ``Authorization: Basic …`` header, or None when there is none."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise Unauthenticated("Only HTTP Basic authentication is supported.")
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("Malformed HTTP Basic credentials.") from None
    if not sep:
        raise Unauthenticated("Malformed HTTP Basic credentials.")
    return BasicCredentials(user.strip().lower(), password)


def check_credentials(
    credentials: BasicCredentials, org: OrgRecord | None, header_org: str
) -> None:
    """The credentials must belong to the organisation named in the RequestHeader."""
    if credentials.user != header_org:
        raise Unauthenticated("HTTP user name does not match RequestHeader/orgPPAGUID.")
    if org is None or not verify_password(credentials.password, org.password_hash):
        raise Unauthenticated("Wrong HTTP credentials.")
    check_not_locked(org)


def check_not_locked(org: OrgRecord) -> None:
    if org.locked:
        raise Locked(f"Organisation {org.guid} is locked.")


def transport_org(
    credentials: BasicCredentials | None, der: bytes | None, owner_of: Callable[[str], str | None]
) -> str:
    """The organisation an ISRequestHeader call comes from (its header names none): the HTTP
    user, else the owner of the TLS client certificate."""
    if credentials is not None:
        return credentials.user
    owner = owner_of(fingerprint(x509.load_der_x509_certificate(der))) if der else None
    if owner is None:
        raise Unauthenticated(
            "base:ISRequestHeader names no organisation: send HTTP Basic credentials (user: "
            "your orgPPAGUID) or a TLS client certificate registered for your organisation."
        )
    return owner


def client_certificate_org(
    der: bytes | None, owner_of: Callable[[str], str | None], header: RequestHeader
) -> bool:
    """True when the TLS client certificate (already verified by the handshake against
    ``client_ca``) is registered for the RequestHeader's organisation; False when there is
    none or it is registered for no organisation; refused when it belongs to another one."""
    if not der:
        return False
    owner = owner_of(fingerprint(x509.load_der_x509_certificate(der)))
    if owner is None:
        return False
    if owner != header.org_guid:
        raise WrongOrganization(
            f"The TLS client certificate is registered for organisation {owner}, not for "
            f"RequestHeader/orgPPAGUID {header.org_guid}."
        )
    return True
