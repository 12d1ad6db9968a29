"""GOST R 34.10/34.11-2012: the standards' examples, the openssl command line both ways, and
every signature shape production clients send.

Vectors come from outside this project: the worked examples printed in GOST R 34.11-2012
(M1, M2) and GOST R 34.10-2012 (appendix A.1), the published GOST R 34.11-94 CryptoPro
vectors, and keys, certificates and signatures made by ``openssl ... -engine gost``.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signing_helpers import body_element, envelope_xml, one, operation_xml, parse, wire

from signing import SignatureError, TrustStore, gost, pki, sign, verify
from signing.algorithms import C14N, Digest, SignatureMethod
from signing.c14n import canonicalize, exclude_first_child
from signing.crypto import certificate_key
from signing.errors import CertificateError
from signing.sign import seal

pytestmark = pytest.mark.skipif(not gost.available(), reason=f"{gost.unavailable_reason()}")

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command line is missing")

M1 = b"012345678901234567890123456789012345678901234567890123456789012"
M2 = bytes.fromhex(
    "d1e520e2e5f2f0e82c20d1f2f0e8e1eee6e820e2edf3f6e82c20e2e5fef2fa20f120eceef0ff20f1f2f0e5"
    "ebe0ece820ede020f5f0e0e1f0fbff20efebfaeafb20c8e3eef0e5e2fb"
)


# --- the standards' examples -------------------------------------------------------------


@pytest.mark.parametrize(
    ("digest", "message", "expected"),
    [
        (
            Digest.GOSTR3411_2012_256,
            M1,
            "9d151eefd8590b89daa6ba6cb74af9275dd051026bb149a452fd84e5e57b5500",
        ),
        (
            Digest.GOSTR3411_2012_512,
            M1,
            "1b54d01a4af5b9d5cc3d86d68d285462b19abc2475222f35c085122be4ba1ffa"
            "00ad30f8767b3a82384c6574f024c311e2a481332b08ef7f41797891c1646f48",
        ),
        (
            Digest.GOSTR3411_2012_256,
            M2,
            "9dd2fe4e90409e5da87f53976d7405b0c0cac628fc669a741d50063c557e8f50",
        ),
        (
            Digest.GOSTR3411_2012_512,
            M2,
            "1e88e62226bfca6f9994f1f2d51569e0daf8475a3b0fe61a5300eee46d961376"
            "035fe83549ada2b8620fcd7c496ce5b33f0cb9dddc2b6460143b03dabac9fb28",
        ),
        (
            Digest.GOSTR3411_94,
            b"This is message, length=32 bytes",
            "2cefc2f7b7bdc514e18ea57fa74ff357e7fa17d652c75f69cb1be7893ede48eb",
        ),
        (
            Digest.GOSTR3411_94,
            b"Suppose the original message has length = 50 bytes",
            "c3730c5cbccacf915ac292676f21e8bd4ef75331d9405e5f1a61dc3130a65011",
        ),
        (
            Digest.GOSTR3411_94_CPXMLSEC,
            b"The quick brown fox jumps over the lazy dog",
            "9004294a361a508c586fe53d1f1b02746765e71b765472786e4770d565830a76",
        ),
    ],
)
def test_digest_examples_of_the_standards(digest, message, expected):
    assert digest.compute(message).hex() == expected


def test_m2_is_the_standards_cyrillic_message():
    assert M2.decode("cp1251").startswith("Се ветри, Стрибожи внуци")


def _spki_256(x: bytes, y: bytes, paramset_oid: bytes) -> bytes:
    """SubjectPublicKeyInfo of a GOST R 34.10-2012 256-bit key (RFC 9215: LE coordinates)."""
    params = b"\x06" + bytes([len(paramset_oid)]) + paramset_oid
    params += bytes.fromhex("06082a85030701010202")  # Streebog-256
    algorithm = bytes.fromhex("06082a85030701010101") + b"\x30" + bytes([len(params)]) + params
    algorithm = b"\x30" + bytes([len(algorithm)]) + algorithm
    key = b"\x03\x43\x00\x04\x40" + x[::-1] + y[::-1]
    body = algorithm + key
    return b"\x30" + bytes([len(body)]) + body


def test_signature_example_of_gost_r_34_10_2012():
    """Appendix A.1: the test curve, the key Q, the hash e and the signature (r, s)."""
    backend = gost.backend()
    key = backend.load_public_key(
        _spki_256(
            bytes.fromhex("7F2B49E270DB6D90D8595BEC458B50C58585BA1D4E9B788F6689DBD8E56FD80B"),
            bytes.fromhex("26F1B489D6701DD185C8413A977B3CBBAF64D1C593D26627DFFB101A87FF77DA"),
            bytes.fromhex("2a850302022300"),  # id-GostR3410-2001-TestParamSet
        )
    )
    e = bytes.fromhex("2DFBC1B372D89A1188C09C52E0EEC61FCE52032AB1022E8E67ECE6672B043EE5")
    r = bytes.fromhex("41AA28D2F1AB148280CD9ED56FEDA41974053554A42767B83AD043FD39DC0493")
    s = bytes.fromhex("01456C64BA4642A1653C235A98A60249BCD6D3F746B631DF928014F6C5BF9C40")
    # The engine reads the hash little-endian and writes s || r, both as the standard does.
    assert backend.verify_hash(key, e[::-1], s + r)
    assert not backend.verify_hash(key, e[::-1], r + s)
    changed = bytearray(e[::-1])
    changed[0] ^= 1
    assert not backend.verify_hash(key, bytes(changed), s + r)


# --- our PKI and signatures ---------------------------------------------------------------


@pytest.fixture(scope="module")
def gost_pki(tmp_path_factory):
    root = tmp_path_factory.mktemp("gost-pki")
    _, ca = pki.init_ca(root / "ca", "GOST demo CA", algorithm="gost2012-256")
    _, ca512 = pki.init_ca(root / "ca512", "GOST 512 CA", algorithm="gost2012-512")
    signers = {
        "256": pki.issue(root / "ca", str(uuid.uuid4()), root / "256", key_type="gost2012-256"),
        "512": pki.issue(root / "ca512", str(uuid.uuid4()), root / "512", key_type="gost2012-512"),
    }
    return {"root": root, "ca": ca, "ca512": ca512, "signers": signers}


def signed(key, cert, **kwargs) -> etree._Element:
    root = parse(envelope_xml(operation_xml()))
    sign(body_element(root), key, cert, **kwargs)
    return wire(root)


SHAPES = {
    "exclusive everywhere": {},
    "production capture": {
        "signedinfo_c14n": C14N.INCLUSIVE,
        "properties_digest": Digest.GOSTR3411_94,
        "properties_transforms": False,
    },
    "c14n 1.1 SignedInfo": {"signedinfo_c14n": C14N.C14N11},
    "KeyInfo signed too": {"key_info_reference": True},
    "inclusive with comments": {"signedinfo_c14n": C14N.INCLUSIVE_WITH_COMMENTS},
    "GOST 94 cert digest, oid issuer": {
        "properties_digest": Digest.GOSTR3411_94,
        "issuer_name_style": "oid",
    },
    "reversed issuer": {"issuer_name_style": "reversed", "key_info_reference": True},
    "lower-case issuer": {"issuer_name_style": "lower"},
}


@pytest.mark.parametrize("size", ["256", "512"])
@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_verifies(gost_pki, size, shape):
    key, cert = gost_pki["signers"][size]
    root = signed(key, cert, **SHAPES[shape])
    result = verify(body_element(root))
    assert result.signature_method == f"{SignatureMethod.GOSTR34102012_256}"[:-3] + size
    assert result.certificate == cert


def test_issuer_name_in_cyrillic_and_oids_is_matched_by_serial(gost_pki):
    key, cert = gost_pki["signers"]["256"]
    root = signed(key, cert)
    element = body_element(root)
    signature = element[0]
    one(
        signature, ".//ds:X509IssuerName"
    ).text = "ОГРН=1027700132195, ИНН ЮЛ=7707083893, CN=GOST demo CA, O=hcs-gateway demo, C=RU"
    seal(signature, key)
    assert verify(body_element(wire(root))).certificate == cert
    one(signature, ".//ds:X509SerialNumber").text = str(cert.serial_number + 1)
    seal(signature, key)
    with pytest.raises(SignatureError) as caught:
        verify(body_element(wire(root)))
    assert caught.value.reason == "xades-cert-mismatch"


def test_tampered_byte_names_the_request_reference(gost_pki):
    key, cert = gost_pki["signers"]["256"]
    data = etree.tostring(signed(key, cert))
    tampered = data.replace(b"1234.5", b"1234.6")
    with pytest.raises(SignatureError) as caught:
        verify(body_element(parse(tampered)))
    assert caught.value.reason == "digest-mismatch"
    assert "request element" in caught.value.message


def test_tampered_key_info_is_detected_when_it_is_signed(gost_pki):
    key, cert = gost_pki["signers"]["256"]
    root = signed(key, cert, key_info_reference=True)
    key_info = one(body_element(root)[0], "ds:KeyInfo")
    etree.SubElement(key_info, "{http://www.w3.org/2000/09/xmldsig#}KeyName").text = "x"
    with pytest.raises(SignatureError) as caught:
        verify(body_element(wire(root)))
    assert caught.value.reason == "digest-mismatch"
    assert "KeyInfo" in caught.value.message


def test_reference_outside_the_signature_is_refused(gost_pki):
    key, cert = gost_pki["signers"]["256"]
    root = parse(envelope_xml(operation_xml()))
    one(root, "//base:RequestHeader").set("Id", "header")
    signature = sign(body_element(root), key, cert, key_info_reference=True)
    one(signature, "ds:SignedInfo/ds:Reference[3]").set("URI", "#header")
    seal(signature, key)
    with pytest.raises(SignatureError) as caught:
        verify(body_element(wire(root)))
    assert caught.value.reason == "bad-reference"


def test_reference_to_its_own_signed_info_is_refused(gost_pki):
    key, cert = gost_pki["signers"]["256"]
    root = parse(envelope_xml(operation_xml()))
    signature = sign(body_element(root), key, cert, key_info_reference=True)
    one(signature, "ds:SignedInfo").set("Id", "si")
    one(signature, "ds:SignedInfo/ds:Reference[3]").set("URI", "#si")
    with pytest.raises(SignatureError) as caught:
        verify(body_element(wire(root)))
    assert caught.value.reason == "bad-reference"
    assert "SignedInfo" in caught.value.message


def test_method_of_the_wrong_key_size_is_refused(gost_pki):
    key, cert = gost_pki["signers"]["512"]
    root = parse(envelope_xml(operation_xml()))
    signature = sign(body_element(root), key, cert)
    one(signature, "ds:SignedInfo/ds:SignatureMethod").set(
        "Algorithm", SignatureMethod.GOSTR34102012_256
    )
    with pytest.raises(SignatureError) as caught:
        verify(body_element(wire(root)))
    assert caught.value.reason == "bad-signature"
    assert "256-bit" in caught.value.message


def test_gost_chain_validity_and_trust(gost_pki, tmp_path):
    _, cert = gost_pki["signers"]["256"]
    store = TrustStore([gost_pki["ca"]])
    store.validate(cert, datetime.now(UTC))
    with pytest.raises(CertificateError) as caught:
        TrustStore([gost_pki["ca512"]]).validate(cert, datetime.now(UTC))
    assert caught.value.reason == "untrusted"
    with pytest.raises(CertificateError) as caught:
        store.validate(cert, datetime.now(UTC) + timedelta(days=3 * 365))
    assert caught.value.reason == "expired"
    # A CA of the same name but another key: the GOST chain signature does not verify.
    pki.init_ca(tmp_path / "impostor", "GOST demo CA", algorithm="gost2012-256")
    impostor = pki.load_certificate(tmp_path / "impostor" / pki.CA_CERT)
    with pytest.raises(CertificateError) as caught:
        TrustStore([impostor]).validate(cert, datetime.now(UTC))
    assert caught.value.reason == "bad-chain"


def test_keys_round_trip_through_pem(gost_pki):
    key = pki.load_private_key(gost_pki["root"] / "512" / pki.KEY)
    _, cert = gost_pki["signers"]["512"]
    assert verify(body_element(signed(key, cert))).certificate == cert


# --- the openssl command line, both ways --------------------------------------------------


def openssl(*args: str, cwd: Path, data: bytes | None = None) -> bytes:
    assert OPENSSL is not None
    done = subprocess.run(
        [OPENSSL, *args], cwd=cwd, input=data, capture_output=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


@pytest.fixture(scope="module")
def openssl_pki(tmp_path_factory):
    """A GOST CA and an organisation certificate made by openssl alone."""
    if OPENSSL is None:
        pytest.skip("the openssl command line is missing")
    d = tmp_path_factory.mktemp("openssl-pki")
    guid = str(uuid.uuid4())
    (d / "ca.cnf").write_text(
        "[req]\ndistinguished_name=dn\n[dn]\n[ca]\nbasicConstraints=critical,CA:TRUE\n"
        "keyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n"
        f"[leaf]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        f"subjectAltName=URI:urn:gis-zhkh:orgppaguid:{guid}\n"
        "authorityKeyIdentifier=keyid\n"
    )
    engine = ("-engine", "gost")
    openssl("genpkey", *engine, "-algorithm", "gost2012_512", "-pkeyopt", "paramset:A",
            "-out", "ca.key", cwd=d)  # fmt: skip
    openssl("req", *engine, "-x509", "-new", "-key", "ca.key", "-md_gost12_512", "-days", "30",
            "-subj", "/C=RU/O=openssl CA/CN=openssl GOST CA/1.2.643.100.1=1027700132195"
            "/1.2.643.100.4=7707083893", "-config", "ca.cnf", "-extensions", "ca",
            "-out", "ca.pem", cwd=d)  # fmt: skip
    openssl("genpkey", *engine, "-algorithm", "gost2012_256", "-pkeyopt", "paramset:B",
            "-out", "org.key", cwd=d)  # fmt: skip
    openssl("req", *engine, "-new", "-key", "org.key", "-md_gost12_256",
            "-subj", f"/C=RU/O=UK Dom/CN={guid}/1.2.643.100.1=1157746000000"
            "/1.2.643.3.131.1.1=007707083893/1.2.643.100.3=11223344595",
            "-config", "ca.cnf", "-out", "org.csr", cwd=d)  # fmt: skip
    openssl("x509", *engine, "-req", "-in", "org.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-md_gost12_512", "-days", "30", "-extfile", "ca.cnf",
            "-extensions", "leaf", "-out", "org.pem", cwd=d)  # fmt: skip
    return {
        "dir": d,
        "guid": guid,
        "ca": pki.load_certificate(d / "ca.pem"),
        "cert": pki.load_certificate(d / "org.pem"),
    }


@needs_openssl
def test_openssl_certificates_chain_in_our_trust_store(openssl_pki):
    store = TrustStore([openssl_pki["ca"]])
    chain = store.chain(openssl_pki["cert"])
    assert chain[-1] == openssl_pki["ca"]
    store.validate(openssl_pki["cert"], datetime.now(UTC))


@needs_openssl
def test_openssl_key_signs_a_packet_we_verify(openssl_pki):
    """Our signer writes the structure; the SignatureValue comes from ``openssl dgst -sign``."""
    d, cert = openssl_pki["dir"], openssl_pki["cert"]
    key = pki.load_private_key(d / "org.key")  # the openssl-made key, read by us
    root = parse(envelope_xml(operation_xml()))
    signature = sign(body_element(root), key, cert, signedinfo_c14n=C14N.INCLUSIVE)
    signed_info = one(signature, "ds:SignedInfo")
    (d / "signedinfo.xml").write_bytes(canonicalize(signed_info, C14N.INCLUSIVE))
    value = openssl("dgst", "-engine", "gost", "-md_gost12_256", "-sign", "org.key",
                    "signedinfo.xml", cwd=d)  # fmt: skip
    one(signature, "ds:SignatureValue").text = base64.b64encode(value).decode()
    assert verify(body_element(wire(root))).certificate == cert
    one(signature, "ds:SignatureValue").text = base64.b64encode(value[::-1]).decode()
    with pytest.raises(SignatureError) as caught:
        verify(body_element(wire(root)))
    assert caught.value.reason == "bad-signature"


@needs_openssl
@pytest.mark.parametrize("size", ["256", "512"])
def test_openssl_verifies_what_we_sign(gost_pki, size, tmp_path):
    key, cert = gost_pki["signers"][size]
    root = signed(key, cert, signedinfo_c14n=C14N.EXCLUSIVE)
    element = body_element(root)
    signature = element[0]
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(Encoding.PEM))
    openssl("x509", "-engine", "gost", "-in", "cert.pem", "-pubkey", "-noout",
            "-out", "pub.pem", cwd=tmp_path)  # fmt: skip
    (tmp_path / "signedinfo.xml").write_bytes(
        canonicalize(one(signature, "ds:SignedInfo"), C14N.EXCLUSIVE)
    )
    (tmp_path / "sig.bin").write_bytes(base64.b64decode(one(signature, "ds:SignatureValue").text))
    md = f"-md_gost12_{size}"
    out = openssl("dgst", "-engine", "gost", md, "-verify", "pub.pem", "-signature", "sig.bin",
                  "signedinfo.xml", cwd=tmp_path)  # fmt: skip
    assert b"Verified OK" in out
    # The data reference's DigestValue is openssl's Streebog of the canonical element.
    canonical = exclude_first_child(canonicalize(element, C14N.EXCLUSIVE), element, signature)
    (tmp_path / "data.xml").write_bytes(canonical)
    printed = openssl("dgst", "-engine", "gost", md, "-r", "data.xml", cwd=tmp_path)
    expected = base64.b64decode(one(signature, "ds:SignedInfo/ds:Reference[1]/ds:DigestValue").text)
    assert printed.split()[0].decode() == expected.hex()


@needs_openssl
def test_gost_2001_certificate_is_refused_with_its_name(tmp_path):
    openssl("req", "-engine", "gost", "-x509", "-newkey", "gost2001", "-pkeyopt", "paramset:A",
            "-nodes", "-keyout", "k.pem", "-subj", "/CN=old", "-days", "2",
            "-out", "c.pem", cwd=tmp_path)  # fmt: skip
    cert = pki.load_certificate(tmp_path / "c.pem")
    # Any signature with this certificate in KeyInfo: its key is refused before the value.
    with pytest.raises(SignatureError) as caught:
        certificate_key(cert)
    assert caught.value.reason == "algorithm-insecure"
    assert "GOST R 34.10-2001" in caught.value.message and "withdrawn" in caught.value.message


def test_signature_of_a_foreign_certificate_is_refused(gost_pki):
    key, _ = gost_pki["signers"]["256"]
    _, other = pki.issue(
        gost_pki["root"] / "ca", str(uuid.uuid4()), gost_pki["root"] / "x", key_type="gost2012-256"
    )
    root = parse(envelope_xml(operation_xml()))
    signature = sign(body_element(root), key, gost_pki["signers"]["256"][1])
    one(signature, "ds:KeyInfo/ds:X509Data/ds:X509Certificate").text = base64.b64encode(
        other.public_bytes(Encoding.DER)
    ).decode()
    with pytest.raises(SignatureError) as caught:
        verify(body_element(wire(root)))
    assert caught.value.reason == "bad-signature"


def test_subject_names_keep_the_russian_oids(openssl_pki):
    names = {a.oid.dotted_string: a.value for a in openssl_pki["cert"].subject}
    assert names["1.2.643.100.1"] == "1157746000000"
    assert names["1.2.643.3.131.1.1"] == "007707083893"
    assert names["1.2.643.100.3"] == "11223344595"
    assert isinstance(openssl_pki["cert"], x509.Certificate)
