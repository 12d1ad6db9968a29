"""Demo PKI for test stands: a CA (optionally an intermediate) and organisation certificates.

RSA (and EC leaves) are made with cryptography; GOST R 34.10-2012 keys and certificates with
OpenSSL's gost engine (:mod:`signing.gost`), names carrying the Russian OIDs (OGRN, INN…)
as qualified certificates do. Keys are written unencrypted (mode 0600): this is for test
stands, not production.
"""

from __future__ import annotations

import base64
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, get_args

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID, ObjectIdentifier

from . import gost
from .certificates import ORG_URI_PREFIX
from .crypto import PrivateKey

CA_KEY, CA_CERT = "ca.key", "ca.pem"
KEY, CERT = "key.pem", "cert.pem"
CLOCK_SKEW = timedelta(minutes=5)

#: Key algorithms of ``pki init/issue --algorithm`` ("ec" only for organisation keys).
KeyAlgorithm = Literal["rsa", "ec", "gost2012-256", "gost2012-512"]
KEY_ALGORITHMS: tuple[str, ...] = get_args(KeyAlgorithm)
_GOST_KEYS = {
    "gost2012-256": gost.GostKeyAlgorithm.GOST2012_256,
    "gost2012-512": gost.GostKeyAlgorithm.GOST2012_512,
}

#: Russian name attributes of qualified certificates (Order of the FSB No. 795).
OGRN = ObjectIdentifier("1.2.643.100.1")
OGRNIP = ObjectIdentifier("1.2.643.100.5")
SNILS = ObjectIdentifier("1.2.643.100.3")
INN = ObjectIdentifier("1.2.643.3.131.1.1")
INNLE = ObjectIdentifier("1.2.643.100.4")


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
    algorithm: KeyAlgorithm = "rsa",
    ogrn: str | None = None,
    inn_le: str | None = None,
) -> tuple[PrivateKey, x509.Certificate]:
    """Create a CA in ``out_dir`` (ca.key, ca.pem); self-signed unless ``parent_dir`` holds
    the CA that should issue it (an intermediate). ``algorithm`` is ``rsa`` or a GOST one;
    ``ogrn``/``inn_le`` add the Russian name attributes (a GOST CA gets demo values)."""
    if algorithm in _GOST_KEYS:
        ogrn = ogrn or "1027700132195"
        inn_le = inn_le or "7707083893"
    attributes = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "RU"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ]
    if email:
        attributes.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, email))
    attributes += _russian_attributes(ogrn=ogrn, inn_le=inn_le)
    subject = x509.Name(attributes)
    start, end = _period(days, not_before, not_after)
    if algorithm in _GOST_KEYS:
        gost_key = gost.backend().generate_key(_GOST_KEYS[algorithm])
        gost_cert = _gost_certificate(
            subject,
            gost_key,
            start,
            end,
            _CA_EXTENSIONS,
            parent_dir=parent_dir,
        )
        _write(Path(out_dir), CA_KEY, CA_CERT, gost_key, gost_cert)
        return gost_key, gost_cert
    if algorithm != "rsa":
        raise ValueError(f"a CA key is rsa, gost2012-256 or gost2012-512, not {algorithm!r}")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if parent_dir is None:
        issuer_key: PrivateKey = key
        issuer_name = subject
        issuer_public: Any = key.public_key()
    else:
        issuer_key = load_private_key(Path(parent_dir) / CA_KEY)
        parent = load_certificate(Path(parent_dir) / CA_CERT)
        issuer_name, issuer_public = parent.subject, parent.public_key()
    if isinstance(issuer_key, gost.PrivateKey):
        raise ValueError("an RSA CA cannot be issued by a GOST CA")
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
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public),
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
    key_type: KeyAlgorithm = "rsa",
    days: int = 730,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    organization: str = "hcs-gateway demo organisation",
    ogrn: str | None = None,
    inn_le: str | None = None,
) -> tuple[PrivateKey, x509.Certificate]:
    """Issue an organisation certificate (key.pem, cert.pem in ``out_dir``): CN is the org
    GUID, which is also the SAN URI ``urn:gis-zhkh:orgppaguid:<guid>``. ``key_type`` is
    rsa, ec, gost2012-256 or gost2012-512 (a GOST key needs a GOST CA).
    ``not_before``/``not_after`` make expired or not-yet-valid certificates for tests."""
    guid = str(uuid.UUID(org_guid))
    ca_key = load_private_key(Path(ca_dir) / CA_KEY)
    ca_cert = load_certificate(Path(ca_dir) / CA_CERT)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "RU"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, guid),
            *_russian_attributes(ogrn=ogrn, inn_le=inn_le),
        ]
    )
    start, end = _period(days, not_before, not_after)
    if isinstance(ca_key, gost.PrivateKey) != (key_type in _GOST_KEYS):
        raise ValueError(
            "a GOST CA issues GOST keys only, and an RSA CA RSA or EC keys only "
            f"(this CA's key is {'GOST' if isinstance(ca_key, gost.PrivateKey) else 'RSA'}, "
            f"the requested key {key_type})"
        )
    if key_type in _GOST_KEYS:
        gost_key = gost.backend().generate_key(_GOST_KEYS[key_type])
        extensions = (
            *_LEAF_EXTENSIONS,
            ("subjectAltName", f"URI:{ORG_URI_PREFIX}{guid}"),
        )
        gost_cert = _gost_certificate(subject, gost_key, start, end, extensions, parent_dir=ca_dir)
        _write(Path(out_dir), KEY, CERT, gost_key, gost_cert)
        return gost_key, gost_cert
    if key_type == "rsa":
        key: PrivateKey = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif key_type == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        raise ValueError(f"unknown key type {key_type!r}")
    assert not isinstance(ca_key, gost.PrivateKey) and not isinstance(key, gost.PrivateKey)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
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
    """An RSA, EC or GOST R 34.10-2012 private key from a PEM file (GOST: unencrypted PKCS#8)."""
    data = Path(path).read_bytes()
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except UnsupportedAlgorithm:
        if password is not None:
            raise ValueError("encrypted GOST keys are not supported") from None
        return gost.backend().load_private_key(_pem_body(data, "PRIVATE KEY"))
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"unsupported key type {type(key).__name__}")
    return key


def _pem_body(data: bytes, label: str) -> bytes:
    begin, end = f"-----BEGIN {label}-----".encode(), f"-----END {label}-----".encode()
    start, stop = data.find(begin), data.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"no PEM {label} block")
    return base64.b64decode(b"".join(data[start + len(begin) : stop].split()))


def _russian_attributes(*, ogrn: str | None, inn_le: str | None) -> list[x509.NameAttribute[str]]:
    attributes: list[x509.NameAttribute[str]] = []
    if ogrn:
        attributes.append(x509.NameAttribute(OGRN, ogrn))
    if inn_le:
        attributes.append(x509.NameAttribute(INNLE, inn_le))
    return attributes


_CA_EXTENSIONS = (
    ("basicConstraints", "critical,CA:TRUE"),
    ("keyUsage", "critical,keyCertSign,cRLSign"),
    ("subjectKeyIdentifier", "hash"),
    ("authorityKeyIdentifier", "keyid:always"),
)
_LEAF_EXTENSIONS = (
    ("basicConstraints", "critical,CA:FALSE"),
    ("keyUsage", "critical,digitalSignature,nonRepudiation"),
    ("subjectKeyIdentifier", "hash"),
    ("authorityKeyIdentifier", "keyid:always"),
)


def _gost_certificate(
    subject: x509.Name,
    key: gost.PrivateKey,
    start: datetime,
    end: datetime,
    extensions: tuple[tuple[str, str], ...],
    *,
    parent_dir: Path | None,
) -> x509.Certificate:
    """A GOST certificate for ``key``: self-signed, or issued by the GOST CA in ``parent_dir``."""
    issuer_key: PrivateKey = key
    issuer_name, issuer_der = subject, None
    if parent_dir is not None:
        issuer_key = load_private_key(Path(parent_dir) / CA_KEY)
        parent = load_certificate(Path(parent_dir) / CA_CERT)
        if not isinstance(issuer_key, gost.PrivateKey):
            raise ValueError("a GOST certificate needs a GOST CA")
        issuer_name, issuer_der = parent.subject, parent.public_bytes(serialization.Encoding.DER)
    spec = gost.CertificateSpec(
        subject_der=subject.public_bytes(),
        issuer_der=issuer_name.public_bytes(),
        serial=x509.random_serial_number(),
        not_before=int(start.timestamp()),
        not_after=int(end.timestamp()),
        extensions=extensions,
    )
    assert isinstance(issuer_key, gost.PrivateKey)
    der = gost.backend().build_certificate(spec, key, issuer_key, issuer_der)
    return x509.load_der_x509_certificate(der)


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
    if isinstance(key, gost.PrivateKey):
        pem = key.private_bytes_pem()
    else:
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    fd = os.open(out_dir / key_name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    (out_dir / cert_name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
