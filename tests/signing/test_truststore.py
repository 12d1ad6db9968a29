"""Trust store: chains to configured anchors, validity of every link, CA constraints."""

from __future__ import annotations

import hashlib
import stat
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from signing import CertificateError, TrustStore, fingerprint, pki
from signing.certificates import org_guid
from signing.crypto import PrivateKey


def now() -> datetime:
    """The current time, read when a test runs (certificates are issued then, too)."""
    return datetime.now(UTC)


def rejected(
    store: TrustStore, cert: x509.Certificate, reason: str, at: datetime | None = None
) -> str:
    with pytest.raises(CertificateError) as caught:
        store.validate(cert, at or now())
    assert caught.value.reason == reason, caught.value.message
    return caught.value.message


def test_chain_ok(demo_pki):
    store = TrustStore([demo_pki.ca_cert])
    store.validate(demo_pki.rsa.cert, now())
    store.validate(demo_pki.ec.cert, now())
    assert store.chain(demo_pki.rsa.cert) == [demo_pki.rsa.cert, demo_pki.ca_cert]


def test_certificate_of_another_ca_is_untrusted(demo_pki):
    rejected(TrustStore([demo_pki.ca_cert]), demo_pki.other.cert, "untrusted")


def test_empty_store_trusts_nothing(demo_pki):
    rejected(TrustStore([]), demo_pki.rsa.cert, "untrusted")


def test_ca_certificate_validity_is_checked_at_the_given_time(demo_pki):
    store = TrustStore([demo_pki.ca_cert])
    rejected(store, demo_pki.rsa.cert, "expired", at=now() + timedelta(days=800))
    rejected(store, demo_pki.rsa.cert, "not-yet-valid", at=now() - timedelta(days=1))


def test_expired_leaf(demo_pki, tmp_path):
    _, cert = pki.issue(
        demo_pki.ca_dir,
        str(uuid.uuid4()),
        tmp_path,
        not_before=now() - timedelta(days=30),
        not_after=now() - timedelta(days=1),
    )
    message = rejected(TrustStore([demo_pki.ca_cert]), cert, "expired")
    assert "expired" in message


def test_not_yet_valid_leaf(demo_pki, tmp_path):
    _, cert = pki.issue(
        demo_pki.ca_dir, str(uuid.uuid4()), tmp_path, not_before=now() + timedelta(days=2)
    )
    rejected(TrustStore([demo_pki.ca_cert]), cert, "not-yet-valid")


def test_expired_ca(tmp_path):
    _, ca = pki.init_ca(
        tmp_path / "ca", not_before=now() - timedelta(days=400), not_after=now() - timedelta(days=1)
    )
    _, cert = pki.issue(tmp_path / "ca", str(uuid.uuid4()), tmp_path / "leaf")
    message = rejected(TrustStore([ca]), cert, "expired")
    assert "demo CA" in message


def test_intermediate_chain(tmp_path):
    _, root = pki.init_ca(tmp_path / "root", "demo root")
    _, intermediate = pki.init_ca(
        tmp_path / "sub", "demo intermediate", parent_dir=tmp_path / "root"
    )
    _, leaf = pki.issue(tmp_path / "sub", str(uuid.uuid4()), tmp_path / "leaf")
    store = TrustStore([root, intermediate])
    store.validate(leaf, now())
    assert store.chain(leaf) == [leaf, intermediate, root]
    TrustStore([intermediate]).validate(leaf, now())  # an intermediate may be the anchor
    rejected(TrustStore([root]), leaf, "untrusted")  # the intermediate is not in the store


def test_expired_intermediate(tmp_path):
    _, root = pki.init_ca(tmp_path / "root", "demo root")
    _, intermediate = pki.init_ca(
        tmp_path / "sub",
        "demo intermediate",
        parent_dir=tmp_path / "root",
        not_before=now() - timedelta(days=10),
        not_after=now() - timedelta(days=1),
    )
    _, leaf = pki.issue(tmp_path / "sub", str(uuid.uuid4()), tmp_path / "leaf")
    rejected(TrustStore([root, intermediate]), leaf, "expired")


def _certificate(
    subject: str, issuer_cert: x509.Certificate | None, issuer_key: PrivateKey, key: PrivateKey
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_cert.subject if issuer_cert else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now() - timedelta(days=1))
        .not_valid_after(now() + timedelta(days=1))
        .sign(issuer_key, hashes.SHA256())
    )


def test_issuer_that_is_not_a_ca(demo_pki):
    signer = demo_pki.rsa
    leaf = _certificate("sub", signer.cert, signer.key, demo_pki.ec.key)
    rejected(TrustStore([demo_pki.ca_cert, signer.cert]), leaf, "issuer-not-ca")


def test_same_issuer_name_other_key_is_a_bad_chain(demo_pki, tmp_path):
    pki.init_ca(
        tmp_path / "impostor",
        demo_pki.ca_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value,
        email="ca@demo.example",
    )
    _, cert = pki.issue(tmp_path / "impostor", str(uuid.uuid4()), tmp_path / "leaf")
    assert cert.issuer == demo_pki.ca_cert.subject
    rejected(TrustStore([demo_pki.ca_cert]), cert, "bad-chain")


def test_self_signed_leaf(demo_pki):
    key = demo_pki.ec.key
    cert = _certificate("self", None, key, key)
    rejected(TrustStore([demo_pki.ca_cert]), cert, "untrusted")
    TrustStore([cert]).validate(cert, now())  # pinned


def test_naive_time_refused(demo_pki):
    with pytest.raises(ValueError):
        TrustStore([demo_pki.ca_cert]).validate(demo_pki.rsa.cert, datetime.now())


def test_from_pem_files(demo_pki):
    store = TrustStore.from_pem_files(demo_pki.ca_dir / "ca.pem")
    assert store.anchors == (demo_pki.ca_cert,)
    store.validate(demo_pki.rsa.cert, now())


def test_fingerprint(demo_pki):
    value = fingerprint(demo_pki.rsa.cert)
    assert value == hashlib.sha256(demo_pki.rsa.cert.public_bytes(Encoding.DER)).hexdigest()
    assert len(value) == 64 and value == value.lower()


def test_issued_certificate_shape(demo_pki, tmp_path):
    guid = str(uuid.uuid4())
    key, cert = pki.issue(demo_pki.ca_dir, guid, tmp_path, key_type="ec")
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == guid
    assert org_guid(cert) == guid
    assert org_guid(demo_pki.ca_cert) is None
    assert pki.load_certificate(tmp_path / "cert.pem") == cert
    loaded = pki.load_private_key(tmp_path / "key.pem")
    assert loaded.public_key().public_numbers() == key.public_key().public_numbers()
    assert stat.S_IMODE((tmp_path / "key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((demo_pki.ca_dir / "ca.key").stat().st_mode) == 0o600


def test_issue_refuses_a_non_guid(demo_pki, tmp_path):
    with pytest.raises(ValueError):
        pki.issue(demo_pki.ca_dir, "not-a-guid", tmp_path)
