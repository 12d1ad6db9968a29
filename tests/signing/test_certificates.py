"""What is kept per certificate object (signing.certificates.remembered) stays that object's."""

from __future__ import annotations

import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from signing_helpers import Pki

from signing import certificates
from signing.certificates import der, fingerprint, remembered, subject_string
from signing.crypto import certificate_key


def _copy(cert: x509.Certificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(cert.public_bytes(Encoding.DER))


def test_values_are_the_certificate_s_own(demo_pki: Pki) -> None:
    for cert in (demo_pki.rsa.cert, demo_pki.ec.cert, _copy(demo_pki.other.cert)):
        for _ in range(2):  # computed, then remembered
            assert der(cert) == cert.public_bytes(Encoding.DER)
            assert fingerprint(cert) == hashlib.sha256(der(cert)).hexdigest()
            assert subject_string(cert) == cert.subject.rfc4514_string()
            assert certificate_key(cert).public_numbers() == cert.public_key().public_numbers()  # type: ignore[union-attr]


def test_computed_once_per_object(demo_pki: Pki) -> None:
    cert = _copy(demo_pki.rsa.cert)
    calls: list[x509.Certificate] = []

    def compute(c: x509.Certificate) -> int:
        calls.append(c)
        return len(calls)

    assert remembered(cert, "test-count", compute) == 1
    assert remembered(cert, "test-count", compute) == 1
    other = _copy(demo_pki.rsa.cert)  # equal, but another object: its own entry
    assert remembered(other, "test-count", compute) == 2
    assert calls == [cert, other]


def test_an_entry_of_another_object_under_the_same_id_is_not_used(demo_pki: Pki) -> None:
    cert = _copy(demo_pki.rsa.cert)
    certificates._facts[id(cert)] = (demo_pki.other.cert, {"der": b"not this one's"})
    assert der(cert) == cert.public_bytes(Encoding.DER)


def test_a_refusal_is_not_remembered(demo_pki: Pki) -> None:
    cert = _copy(demo_pki.rsa.cert)

    def refuse(c: x509.Certificate) -> int:
        raise ValueError("refused")

    with pytest.raises(ValueError):
        remembered(cert, "test-refusal", refuse)
    assert remembered(cert, "test-refusal", lambda c: 7) == 7


def test_the_map_starts_over_when_full(demo_pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(certificates, "MAX_REMEMBERED", 3)
    monkeypatch.setattr(certificates, "_facts", {})
    certs = [_copy(demo_pki.rsa.cert) for _ in range(5)]
    for cert in certs:
        assert der(cert) == cert.public_bytes(Encoding.DER)
        assert len(certificates._facts) <= 3
