"""What must be refused, and with which reason."""

from __future__ import annotations

import base64
import copy
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from lxml import etree
from signing_helpers import DS, HM, body_element, one, parse, signature_of, wire

from signing import SignatureError, VerifyPolicy, gost, sign, verify
from signing.algorithms import C14N, Digest
from signing.sign import seal

EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"


def refused(element: etree._Element, reason: str, policy: VerifyPolicy | None = None) -> str:
    with pytest.raises(SignatureError) as caught:
        verify(element, policy or VerifyPolicy())
    assert caught.value.reason == reason, caught.value.message
    assert str(caught.value) == caught.value.message
    return caught.value.message


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def root(signed_envelope) -> etree._Element:
    return signed_envelope()


@pytest.fixture
def element(root) -> etree._Element:
    return body_element(root)


@pytest.fixture
def signature(element) -> etree._Element:
    return signature_of(element)


# --- signature wrapping -------------------------------------------------------------------


def forged_request(element_id: str) -> etree._Element:
    forged = etree.Element(f"{{{HM}}}importHouseUORequest", nsmap={"hm": HM}, Id=element_id)
    etree.SubElement(forged, f"{{{HM}}}ApartmentHouse").text = "attacker data"
    return forged


def test_signed_element_moved_to_header_forged_body_without_signature(root, element):
    header = one(root, "soapenv:Header")
    body = element.getparent()
    header.append(element)
    body.append(forged_request("signed-data-container"))
    refused(body_element(wire(root)), "missing")


@pytest.mark.parametrize("where", ["header", "object"])
def test_signed_element_moved_forged_body_with_same_id_and_signature(
    root, element, signature, where
):
    body = element.getparent()
    forged = forged_request("signed-data-container")
    forged.insert(0, signature)  # the original (valid) signature now sits in the forged element
    if where == "header":
        one(root, "soapenv:Header").append(element)
    else:
        obj = etree.SubElement(signature, f"{{{DS}}}Object")
        obj.append(element)
    body.append(forged)
    message = refused(body_element(wire(root)), "wrapping")
    assert "signed-data-container" in message


def test_forged_body_with_another_id_and_copied_signature(root, element, signature):
    body = element.getparent()
    forged = forged_request("evil")
    forged.insert(0, copy.deepcopy(signature))
    one(root, "soapenv:Header").append(element)
    body.append(forged)
    refused(body_element(wire(root)), "wrapping")


@pytest.mark.parametrize(
    "attribute",
    [
        "Id",
        "ID",
        "id",
        "{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd}Id",
    ],
)
def test_duplicate_id_elsewhere_in_envelope(root, attribute):
    header = one(root, "soapenv:Header")
    etree.SubElement(header, "decoy", {attribute: "signed-data-container"})
    refused(body_element(wire(root)), "wrapping")


def test_duplicate_id_inside_signed_element(root, element, demo_pki):
    inner = one(element, ".//hm:TotalSquare")
    inner.set("Id", "signed-data-container")
    seal(signature_of(element), demo_pki.rsa.key)
    refused(body_element(wire(root)), "wrapping")


def test_id_like_text_is_not_mistaken_for_a_duplicate(root, element, demo_pki):
    one(element, ".//hm:Note").text = 'see Id="signed-data-container"'
    seal(signature_of(element), demo_pki.rsa.key)
    verify(body_element(wire(root)))


def test_duplicate_signed_properties_id_elsewhere(root, signature):
    sp_id = one(signature, ".//xades:SignedProperties").get("Id")
    etree.SubElement(one(root, "soapenv:Header"), "decoy", Id=sp_id)
    refused(body_element(wire(root)), "wrapping")


# --- content and value changes ----------------------------------------------------------


def test_body_modified_after_signing(root):
    one(root, "//hm:TotalSquare").text = "4321.0"
    refused(body_element(wire(root)), "digest-mismatch")


def test_attribute_added_after_signing(root, element):
    element.set("extra", "1")
    refused(body_element(wire(root)), "digest-mismatch")


def test_signed_properties_modified(root):
    one(root, "//xades:SigningTime").text = "2030-01-01T00:00:00.000+03:00"
    refused(body_element(wire(root)), "digest-mismatch")


def test_signature_value_modified(root, signature):
    value_el = one(signature, "ds:SignatureValue")
    value = bytearray(base64.b64decode(value_el.text))
    value[10] ^= 0x01
    value_el.text = b64(bytes(value))
    refused(body_element(wire(root)), "bad-signature")


def test_digest_value_modified(root, element):
    digest_el = one(signature_of(element), "ds:SignedInfo/ds:Reference[1]/ds:DigestValue")
    data = bytearray(base64.b64decode(digest_el.text))
    data[0] ^= 0x01
    digest_el.text = b64(bytes(data))
    refused(body_element(wire(root)), "bad-signature")


def test_swapped_keyinfo_certificate(root, signature, demo_pki):
    one(signature, ".//ds:X509Certificate").text = b64(
        demo_pki.other.cert.public_bytes(Encoding.DER)
    )
    refused(body_element(wire(root)), "bad-signature")


def test_attacker_resigns_with_own_key_keeping_signed_properties(root, signature, demo_pki):
    one(signature, ".//ds:X509Certificate").text = b64(
        demo_pki.other.cert.public_bytes(Encoding.DER)
    )
    seal(signature, demo_pki.other.key)
    refused(body_element(wire(root)), "xades-cert-mismatch")


def test_ec_signature_of_wrong_length(signed_envelope, demo_pki):
    root = signed_envelope(demo_pki.ec)
    value_el = one(root, "//ds:SignatureValue")
    value_el.text = b64(base64.b64decode(value_el.text) + b"\x00")
    refused(body_element(wire(root)), "bad-signature")


def test_signature_value_not_base64(root, signature):
    one(signature, "ds:SignatureValue").text = "not*base64"
    refused(body_element(wire(root)), "malformed")


# --- references ---------------------------------------------------------------------------


def test_reference_to_another_element(root, element, signature, demo_pki):
    one(root, "//base:RequestHeader").set("Id", "header")
    one(signature, "ds:SignedInfo/ds:Reference[1]").set("URI", "#header")
    seal(signature, demo_pki.rsa.key)
    message = refused(body_element(wire(root)), "wrapping")
    assert "#header" in message


def test_extra_reference(root, signature, demo_pki):
    one(root, "//base:RequestHeader").set("Id", "header")
    signed_info = one(signature, "ds:SignedInfo")
    extra = copy.deepcopy(one(signed_info, "ds:Reference[1]"))
    extra.set("URI", "#header")
    extra.remove(one(extra, "ds:Transforms"))
    signed_info.append(extra)
    seal(signature, demo_pki.rsa.key)
    refused(body_element(wire(root)), "bad-reference")


def test_second_reference_to_the_element(root, signature, demo_pki):
    signed_info = one(signature, "ds:SignedInfo")
    signed_info.append(copy.deepcopy(one(signed_info, "ds:Reference[1]")))
    seal(signature, demo_pki.rsa.key)
    refused(body_element(wire(root)), "bad-reference")


@pytest.mark.parametrize("uri", ["", "#", "http://example.org/data.xml", "#xpointer(/)", None])
def test_reference_uri_refused(root, signature, uri):
    ref = one(signature, "ds:SignedInfo/ds:Reference[1]")
    if uri is None:
        del ref.attrib["URI"]
    else:
        ref.set("URI", uri)
    refused(body_element(wire(root)), "bad-reference")


def test_data_reference_without_enveloped_transform(root, signature, demo_pki):
    transforms = one(signature, "ds:SignedInfo/ds:Reference[1]/ds:Transforms")
    transforms.remove(transforms[0])
    refused(body_element(wire(root)), "bad-reference")


def test_signed_properties_reference_to_a_copy_outside_the_signature(root, signature, demo_pki):
    decoy = copy.deepcopy(one(signature, ".//xades:SignedProperties"))
    decoy.set("Id", "decoy-props")
    one(root, "soapenv:Header").append(decoy)
    one(signature, "ds:SignedInfo/ds:Reference[@Type]").set("URI", "#decoy-props")
    seal(signature, demo_pki.rsa.key)
    refused(body_element(wire(root)), "bad-reference")


def extra_reference_to(signature: etree._Element, target: etree._Element, target_id: str) -> None:
    """A further reference (exc-c14n, SHA-256) of SignedInfo to ``target``, given that Id."""
    target.set("Id", target_id)
    signed_info = one(signature, "ds:SignedInfo")
    extra = copy.deepcopy(one(signed_info, "ds:Reference[1]"))
    extra.set("URI", f"#{target_id}")
    transforms = one(extra, "ds:Transforms")
    transforms.remove(transforms[0])  # the exc-c14n transform is left
    signed_info.append(extra)


@pytest.mark.parametrize(
    "path",
    [".", "ds:SignedInfo", "ds:SignatureValue", "ds:SignedInfo/ds:CanonicalizationMethod"],
    ids=["the-signature", "signed-info", "signature-value", "inside-signed-info"],
)
def test_reference_to_its_own_signed_info_or_value_refused(root, signature, demo_pki, path):
    target = signature if path == "." else one(signature, path)
    extra_reference_to(signature, target, target.get("Id") or "own-part")
    message = refused(body_element(wire(root)), "bad-reference")
    assert "covers ds:SignedInfo or ds:SignatureValue" in message


def test_reference_to_key_info_is_checked(root, signature, demo_pki):
    extra_reference_to(signature, one(signature, "ds:KeyInfo"), "key-info")
    seal(signature, demo_pki.rsa.key)
    verify(body_element(wire(root)))
    one(signature, "ds:KeyInfo").set("extra", "1")
    refused(body_element(wire(root)), "digest-mismatch")


def test_id_twice_inside_the_signature_refused(root, signature):
    key_info = one(signature, "ds:KeyInfo")
    extra_reference_to(signature, key_info, "key-info")
    etree.SubElement(one(signature, "ds:Object"), f"{{{DS}}}Decoy", ID="key-info")
    refused(body_element(wire(root)), "wrapping")


@pytest.mark.parametrize(
    ("uri", "name"),
    [
        ("http://www.w3.org/TR/1999/REC-xpath-19991116", "XPath"),
        ("http://www.w3.org/2002/06/xmldsig-filter2", "XPath Filter 2.0"),
        ("http://www.w3.org/TR/1999/REC-xslt-19991116", "XSLT"),
        ("http://www.w3.org/2000/09/xmldsig#base64", "base64"),
    ],
)
def test_dangerous_transforms_refused(root, signature, uri, name):
    transforms = one(signature, "ds:SignedInfo/ds:Reference[1]/ds:Transforms")
    transform = etree.SubElement(transforms, f"{{{DS}}}Transform", Algorithm=uri)
    etree.SubElement(transform, f"{{{DS}}}XPath").text = "/"
    message = refused(body_element(wire(root)), "algorithm-unsupported")
    assert name in message


def test_inclusive_namespaces_default_refused(root, signature):
    transform = one(signature, "ds:SignedInfo/ds:Reference[1]//ds:Transform[2]")
    etree.SubElement(transform, f"{{{EXC}}}InclusiveNamespaces", PrefixList="#default")
    refused(body_element(wire(root)), "algorithm-unsupported")


# --- algorithms ----------------------------------------------------------------------------


def set_algorithm(signature: etree._Element, path: str, uri: str) -> None:
    one(signature, path).set("Algorithm", uri)


SIGNATURE_METHOD = "ds:SignedInfo/ds:SignatureMethod"
DATA_DIGEST = "ds:SignedInfo/ds:Reference[1]/ds:DigestMethod"
PROPS_DIGEST = "ds:SignedInfo/ds:Reference[@Type]/ds:DigestMethod"


@pytest.mark.parametrize(
    ("path", "uri"),
    [
        (DATA_DIGEST, "http://www.w3.org/2000/09/xmldsig#sha1"),
        (PROPS_DIGEST, "http://www.w3.org/2000/09/xmldsig#sha1"),
        (DATA_DIGEST, "http://www.w3.org/2001/04/xmldsig-more#md5"),
        (SIGNATURE_METHOD, "http://www.w3.org/2000/09/xmldsig#rsa-sha1"),
        (SIGNATURE_METHOD, "http://www.w3.org/2000/09/xmldsig#dsa-sha1"),
        (SIGNATURE_METHOD, "http://www.w3.org/2000/09/xmldsig#hmac-sha1"),
    ],
)
def test_insecure_algorithms_refused(root, signature, path, uri):
    set_algorithm(signature, path, uri)
    refused(body_element(wire(root)), "algorithm-insecure")


@pytest.mark.parametrize(
    "uri",
    [
        "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34102012-gostr34112012-256",
        "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34102012-gostr34112012-512",
    ],
)
def test_gost_method_with_an_rsa_certificate(root, signature, uri, demo_pki):
    if not gost.available():
        pytest.skip(gost.unavailable_reason())
    set_algorithm(signature, SIGNATURE_METHOD, uri)
    message = refused(body_element(wire(root)), "bad-signature")
    assert "needs a GOST certificate key" in message


@pytest.mark.parametrize(
    "uri",
    [
        "http://www.w3.org/2001/04/xmldsig-more#gostr34102001-gostr3411",
        "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34102001-gostr3411",
    ],
)
def test_gost_2001_signature_refused_with_its_name(root, signature, uri):
    set_algorithm(signature, SIGNATURE_METHOD, uri)
    message = refused(body_element(wire(root)), "algorithm-insecure")
    assert "GOST R 34.10-2001" in message and "withdrawn" in message
    assert uri in message


@pytest.mark.parametrize(
    ("path", "uri"),
    [
        (
            SIGNATURE_METHOD,
            "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34102012-gostr34112012-256",
        ),
        (DATA_DIGEST, "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34112012-256"),
        (DATA_DIGEST, "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34112012-512"),
        (PROPS_DIGEST, "http://www.w3.org/2001/04/xmldsig-more#gostr3411"),
    ],
)
def test_gost_without_the_engine_says_what_the_server_lacks(
    root, signature, path, uri, monkeypatch
):
    monkeypatch.setattr(gost, "_backend", None)
    monkeypatch.setattr(gost, "_backend_error", gost.GostUnavailable("no engine (test)"))
    set_algorithm(signature, path, uri)
    message = refused(body_element(wire(root)), "algorithm-unsupported")
    assert "no engine (test)" in message
    assert uri in message


@pytest.mark.parametrize(
    "path", [SIGNATURE_METHOD, DATA_DIGEST, "ds:SignedInfo/ds:CanonicalizationMethod"]
)
def test_unknown_algorithm_uri(root, signature, path):
    set_algorithm(signature, path, "urn:example:made-up")
    refused(body_element(wire(root)), "algorithm-unknown")


def test_policy_restricts_digests(signed_envelope):
    root = signed_envelope(properties_digest=Digest.SHA512)
    refused(
        body_element(root),
        "algorithm-unsupported",
        VerifyPolicy(digest_methods=frozenset({Digest.SHA256})),
    )


def test_policy_restricts_c14n(signed_envelope):
    root = signed_envelope(signedinfo_c14n=C14N.INCLUSIVE_WITH_COMMENTS)
    policy = VerifyPolicy(c14n_methods=frozenset({C14N.EXCLUSIVE}))
    refused(body_element(root), "algorithm-unsupported", policy)


def test_short_rsa_key_refused(demo_pki, signed_envelope):
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "weak")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    root = parse(etree.tostring(signed_envelope()))
    element = body_element(root)
    element.remove(signature_of(element))
    sign(element, key, cert)
    refused(body_element(wire(root)), "algorithm-insecure")


# --- placement ----------------------------------------------------------------------------


def test_missing_signature(root, element, signature):
    element.remove(signature)
    refused(body_element(wire(root)), "missing")


def test_signature_not_first_child(root, element, signature):
    element.append(signature)
    refused(body_element(wire(root)), "wrapping")


def test_two_signatures(root, element, signature):
    one(element, ".//hm:ApartmentHouse").append(copy.deepcopy(signature))
    refused(body_element(wire(root)), "wrapping")


def test_processing_instruction_before_signature(root, element):
    element.insert(0, etree.ProcessingInstruction("evil", "x"))
    refused(body_element(wire(root)), "malformed")


def test_processing_instruction_inside_signature(root, signature):
    one(signature, "ds:KeyInfo").append(etree.ProcessingInstruction("pi", "</ds:Signature>"))
    refused(body_element(wire(root)), "malformed")


def test_element_without_id(root, element):
    del element.attrib["Id"]
    refused(body_element(wire(root)), "wrapping")


def test_keyinfo_without_certificate(root, signature):
    key_info = one(signature, "ds:KeyInfo")
    key_info.remove(one(key_info, "ds:X509Data"))
    refused(body_element(wire(root)), "malformed")


# --- XAdES ---------------------------------------------------------------------------------


def drop_xades(signature: etree._Element) -> None:
    ref = one(signature, "ds:SignedInfo/ds:Reference[@Type]")
    ref.getparent().remove(ref)
    signature.remove(one(signature, "ds:Object"))


def test_xades_missing_when_required(root, signature, demo_pki):
    drop_xades(signature)
    seal(signature, demo_pki.rsa.key)
    refused(body_element(wire(root)), "xades-missing")


def test_unsigned_xades_does_not_count(root, signature, demo_pki):
    ref = one(signature, "ds:SignedInfo/ds:Reference[@Type]")
    ref.getparent().remove(ref)
    seal(signature, demo_pki.rsa.key)
    refused(body_element(wire(root)), "xades-missing")


def test_xades_cert_digest_of_another_certificate(root, signature, demo_pki):
    other = demo_pki.other.cert.public_bytes(Encoding.DER)
    one(signature, ".//xades:CertDigest/ds:DigestValue").text = b64(hashlib.sha256(other).digest())
    seal(signature, demo_pki.rsa.key)
    refused(body_element(wire(root)), "xades-cert-mismatch")


def test_xades_serial_of_another_certificate(root, signature, demo_pki):
    one(signature, ".//ds:X509SerialNumber").text = str(demo_pki.other.cert.serial_number)
    seal(signature, demo_pki.rsa.key)
    refused(body_element(wire(root)), "xades-cert-mismatch")


def test_xades_target_of_another_signature(root, signature, demo_pki):
    one(signature, ".//xades:QualifyingProperties").set("Target", "#someone-else")
    seal(signature, demo_pki.rsa.key)
    refused(body_element(wire(root)), "xades-invalid")


def test_xades_without_signing_certificate(root, signature, demo_pki):
    holder = one(signature, ".//xades:SigningCertificate")
    holder.getparent().remove(holder)
    seal(signature, demo_pki.rsa.key)
    refused(body_element(wire(root)), "xades-invalid")


def test_unreadable_signing_time(root, signature, demo_pki):
    one(signature, ".//xades:SigningTime").text = "yesterday"
    seal(signature, demo_pki.rsa.key)
    refused(body_element(wire(root)), "xades-invalid")


def test_error_fields_for_fault_mapping(root):
    one(root, "//hm:TotalSquare").text = "1"
    with pytest.raises(SignatureError) as caught:
        verify(body_element(wire(root)))
    error = caught.value
    assert error.reason == "digest-mismatch" and isinstance(error.reason, str)
    assert "digest" in error.message
