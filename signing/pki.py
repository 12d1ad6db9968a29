"""Demo PKI for test stands: a CA (optionally an intermediate) and organisation certificates.

Keys are written unencrypted (mode 0600): this is for test stands, not production.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from .certificates import ORG_URI_PREFIX
from .crypto import PrivateKey

CA_KEY, CA_CERT = "ca.key", "ca.pem"
KEY, CERT = "key.pem", "cert.pem"
CLOCK_SKEW = timedelta(minutes=5)


def init_ca(
    out_dir: Path,
    common_name: str = "hcs-gateway demo CA",
    days: int = 3650,
    *,
    parent_dir: Path | None = None,
    organization: str = "hcs-gateway demo",
    email: str | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """Create a CA in ``out_dir`` (ca.key, ca.pem); self-signed unless ``parent_dir`` holds
    the CA that should issue it (an intermediate)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    attributes = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "RU"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ]
    if email:
        attributes.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, email))
    subject = x509.Name(attributes)
    if parent_dir is None:
        issuer_key: PrivateKey = key
        issuer_name = subject
        issuer_public = key.public_key()
    else:
        issuer_key = load_private_key(Path(parent_dir) / CA_KEY)
        parent = load_certificate(Path(parent_dir) / CA_CERT)
        issuer_name, issuer_public = parent.subject, parent.public_key()
    start, end = _period(days, not_before, not_after)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(issuer_key, hashes.SHA256())
    )
    _write(Path(out_dir), CA_KEY, CA_CERT, key, cert)
    return key, cert


def issue(
    ca_dir: Path,
    org_guid: str,
    out_dir: Path,
    *,
    key_type: Literal["rsa", "ec"] = "rsa",
    days: int = 730,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    organization: str = "hcs-gateway demo organisation",
) -> tuple[PrivateKey, x509.Certificate]:
    """Issue an organisation certificate (key.pem, cert.pem in ``out_dir``): CN is the org
    GUID, which is also the SAN URI ``urn:gis-zhkh:orgppaguid:<guid>``.
    ``not_before``/``not_after`` make expired or not-yet-valid certificates for tests."""
    guid = str(uuid.UUID(org_guid))
    ca_key = load_private_key(Path(ca_dir) / CA_KEY)
    ca_cert = load_certificate(Path(ca_dir) / CA_CERT)
    if key_type == "rsa":
        key: PrivateKey = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif key_type == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        raise ValueError(f"unknown key type {key_type!r}")
    start, end = _period(days, not_before, not_after)
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "RU"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                    x509.NameAttribute(NameOID.COMMON_NAME, guid),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(ORG_URI_PREFIX + guid)]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write(Path(out_dir), KEY, CERT, key, cert)
    return key, cert


def load_certificate(path: Path) -> x509.Certificate:
    """A PEM (or DER) certificate from a file."""
    data = Path(path).read_bytes()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def load_private_key(path: Path, password: bytes | None = None) -> PrivateKey:
    """An RSA or EC private key from a PEM file."""
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=password)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"unsupported key type {type(key).__name__}")
    return key


def _period(
    days: int, not_before: datetime | None, not_after: datetime | None
) -> tuple[datetime, datetime]:
    start = not_before or (datetime.now(UTC) - CLOCK_SKEW)
    end = not_after or (start + timedelta(days=days))
    if end <= start:
        raise ValueError("not_after must be later than not_before")
    return start, end


def _write(
    out_dir: Path, key_name: str, cert_name: str, key: PrivateKey, cert: x509.Certificate
) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(out_dir / key_name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    (out_dir / cert_name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
