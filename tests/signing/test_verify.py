"""Round trips: every signature variant real GIS ZhKKh clients send must verify."""

from __future__ import annotations

import dataclasses
import textwrap
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from lxml import etree
from signing_helpers import (
    HM,
    NS,
    Pki,
    Signer,
    body_element,
    envelope_xml,
    one,
    operation_xml,
    parse,
    signature_of,
    wire,
    xmlsec_verify,
)

from signing import SignatureError, Verified, VerifyPolicy, sign, verify
from signing.algorithms import C14N, Digest, SignatureMethod
from signing.sign import issuer_name, seal

EXTRA_NS = (
    ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    ' xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
    ' xmlns:wsa="http://www.w3.org/2005/08/addressing"'
    f' xmlns:hm="{HM}"'
)
MSK = timezone(timedelta(hours=3))


def assert_verified(root: etree._Element, signer: Signer, **policy: object) -> Verified:
    element = body_element(root)
    result = verify(element, VerifyPolicy(**policy))  # type: ignore[arg-type]
    assert result.signed_element is element
    assert result.certificate == signer.cert
    return result


@pytest.mark.parametrize("signedinfo_c14n", list(C14N), ids=lambda c: c.name)
@pytest.mark.parametrize("properties_transforms", [True, False], ids=["sp-exc", "sp-none"])
def test_every_c14n_variant_verifies_in_envelope(
    signed_envelope, demo_pki, signedinfo_c14n, properties_transforms
):
    root = signed_envelope(
        signedinfo_c14n=signedinfo_c14n, properties_transforms=properties_transforms
    )
    result = assert_verified(root, demo_pki.rsa)
    assert result.c14n_method == signedinfo_c14n.value
    assert result.signature_method == SignatureMethod.RSA_SHA256.value
    sp_ref = one(root, "//ds:Reference[@Type]")
    assert (sp_ref.find("ds:Transforms", NS) is not None) is properties_transforms


@pytest.mark.parametrize(
    ("data_digest", "properties_digest"),
    [
        (Digest.SHA256, Digest.SHA512),
        (Digest.SHA512, Digest.SHA256),
        (Digest.SHA384, Digest.SHA384),
    ],
)
def test_digest_algorithm_is_per_reference(
    signed_envelope, demo_pki, data_digest, properties_digest
):
    root = signed_envelope(data_digest=data_digest, properties_digest=properties_digest)
    methods = [
        m.get("Algorithm") for m in root.xpath("//ds:SignedInfo//ds:DigestMethod", namespaces=NS)
    ]
    assert methods == [data_digest.value, properties_digest.value]
    assert_verified(root, demo_pki.rsa)


def test_any_id_value_is_accepted(signed_envelope, demo_pki):
    root = signed_envelope(reference_id="foo")
    assert body_element(root).get("Id") == "foo"
    assert one(root, "//ds:Reference[not(@Type)]").get("URI") == "#foo"
    assert_verified(root, demo_pki.rsa)


def test_existing_id_is_kept(signed_envelope, demo_pki):
    root = signed_envelope(element_id="request-7f3a")
    assert one(root, "//ds:Reference[not(@Type)]").get("URI") == "#request-7f3a"
    assert_verified(root, demo_pki.rsa)


@pytest.mark.parametrize("style", ["rfc4514", "oid", "reversed", "lower"])
def test_issuer_name_spelling_is_ignored(signed_envelope, demo_pki, style):
    root = signed_envelope(issuer_name_style=style)
    spelled = one(root, "//ds:X509IssuerName").text
    assert spelled == issuer_name(demo_pki.ca_cert.subject, style)
    if style != "rfc4514":
        assert spelled != demo_pki.ca_cert.subject.rfc4514_string()
    if style == "oid":
        assert "1.2.840.113549.1.9.1=ca@demo.example" in spelled
    assert_verified(root, demo_pki.rsa)


@pytest.mark.parametrize("signedinfo_c14n", [C14N.EXCLUSIVE, C14N.INCLUSIVE], ids=lambda c: c.name)
def test_ec_key(signed_envelope, demo_pki, signedinfo_c14n):
    root = signed_envelope(demo_pki.ec, signedinfo_c14n=signedinfo_c14n)
    result = assert_verified(root, demo_pki.ec)
    assert result.signature_method == SignatureMethod.ECDSA_SHA256.value


def test_signing_time_is_returned_timezone_aware(signed_envelope, demo_pki):
    moment = datetime(2022, 7, 20, 9, 7, 12, 178000, tzinfo=MSK)
    root = signed_envelope(signing_time=moment)
    assert one(root, "//xades:SigningTime").text == "2022-07-20T09:07:12.178+03:00"
    result = assert_verified(root, demo_pki.rsa)
    assert result.signing_time == moment
    assert result.signing_time.utcoffset() == timedelta(hours=3)


def test_wrapped_base64_and_pretty_printing_outside_signedinfo(signed_envelope, demo_pki):
    root = signed_envelope()
    for path in ("//ds:SignatureValue", "//ds:X509Certificate"):
        node = one(root, path)
        node.text = "\n" + "\n".join(textwrap.wrap(node.text, 76)) + "\n"
    assert_verified(wire(root), demo_pki.rsa)


def standalone_signed(demo_pki: Pki, **sign_kwargs: object) -> etree._Element:
    """A client signing the request element as a document of its own."""
    element = parse(operation_xml())
    sign(element, demo_pki.rsa.key, demo_pki.rsa.cert, **sign_kwargs)
    return element


INSERTIONS = ["string-template", "lxml-append"]


def insert(element: etree._Element, how: str) -> etree._Element:
    envelope_attrs = EXTRA_NS + ' xml:lang="ru"'
    if how == "string-template":
        return parse(envelope_xml(etree.tostring(element).decode(), envelope_attrs=envelope_attrs))
    root = parse(envelope_xml("", envelope_attrs=envelope_attrs))
    root.find("soapenv:Body", NS).append(element)  # lxml drops now-redundant xmlns:hm/base
    return wire(root)


@pytest.mark.parametrize("how", INSERTIONS)
@pytest.mark.parametrize(
    ("signedinfo_c14n", "properties_transforms"),
    [
        (C14N.EXCLUSIVE, True),
        (C14N.EXCLUSIVE, False),
        (C14N.INCLUSIVE, True),
        (C14N.INCLUSIVE, False),
        (C14N.C14N11, False),
        (C14N.INCLUSIVE_WITH_COMMENTS, False),
    ],
    ids=lambda v: getattr(v, "name", str(v)),
)
def test_signed_standalone_then_put_into_envelope(
    demo_pki, how, signedinfo_c14n, properties_transforms
):
    element = standalone_signed(
        demo_pki, signedinfo_c14n=signedinfo_c14n, properties_transforms=properties_transforms
    )
    root = insert(element, how)
    assert_verified(root, demo_pki.rsa)


def test_signer_context_retry_is_what_accepts_inclusive_standalone_signatures(demo_pki):
    element = standalone_signed(
        demo_pki, signedinfo_c14n=C14N.INCLUSIVE, properties_transforms=False
    )
    root = insert(element, "string-template")
    with pytest.raises(SignatureError) as caught:
        verify(body_element(root), VerifyPolicy(signer_context_retry=False))
    assert caught.value.reason == "bad-signature"
    assert_verified(root, demo_pki.rsa)


def test_policy_without_xades_accepts_plain_xmldsig(signed_envelope, demo_pki):
    root = signed_envelope()
    signature = signature_of(body_element(root))
    one(signature, "ds:SignedInfo/ds:Reference[@Type]").getparent().remove(
        one(signature, "ds:SignedInfo/ds:Reference[@Type]")
    )
    signature.remove(one(signature, "ds:Object"))
    seal(signature, demo_pki.rsa.key)
    result = assert_verified(wire(root), demo_pki.rsa, require_xades=False)
    assert result.signing_time is None


def test_exclusive_inclusive_namespaces_prefix_list(signed_envelope, demo_pki):
    root = signed_envelope()
    signature = signature_of(body_element(root))
    transform = one(signature, "ds:SignedInfo/ds:Reference[not(@Type)]//ds:Transform[2]")
    etree.SubElement(
        transform,
        "{http://www.w3.org/2001/10/xml-exc-c14n#}InclusiveNamespaces",
        PrefixList="soapenv base",
    )
    seal(signature, demo_pki.rsa.key)
    assert_verified(wire(root), demo_pki.rsa)


@pytest.mark.parametrize("signedinfo_c14n", [C14N.EXCLUSIVE, C14N.INCLUSIVE], ids=lambda c: c.name)
def test_signature_in_default_namespace(signed_envelope, demo_pki, signedinfo_c14n):
    """.NET SignedXml writes <Signature xmlns="http://www.w3.org/2000/09/xmldsig#">."""
    signed = etree.tostring(signed_envelope(signedinfo_c14n=signedinfo_c14n)).decode()
    root = parse(signed.replace("ds:", "").replace('xmlns:ds="', 'xmlns="'))
    signature = body_element(root)[0]
    assert signature.prefix is None
    seal(signature, demo_pki.rsa.key)
    assert_verified(wire(root), demo_pki.rsa)


def test_results_and_policies_are_frozen(signed_envelope, demo_pki):
    result = assert_verified(signed_envelope(), demo_pki.rsa)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.signing_time = None  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        VerifyPolicy().require_xades = False  # type: ignore[misc]


@pytest.mark.parametrize(
    "field",
    [
        {"digest_methods": frozenset({Digest.SHA1})},
        {"digest_methods": frozenset({Digest.MD5})},
        {"signature_methods": frozenset({SignatureMethod.GOSTR34102001})},
        {"signature_methods": frozenset({SignatureMethod.RSA_SHA1})},
    ],
)
def test_policy_cannot_allow_insecure_or_unsupported_algorithms(field):
    with pytest.raises(ValueError):
        VerifyPolicy(**field)


def test_concurrent_verification(signed_envelope, demo_pki):
    roots = [signed_envelope(demo_pki.rsa if i % 2 else demo_pki.ec) for i in range(16)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda r: verify(body_element(r)), roots))
    assert [r.signed_element for r in results] == [body_element(r) for r in roots]


# --- cross-checks with libxmlsec1 (python-xmlsec) ----------------------------------------


@pytest.mark.parametrize("signedinfo_c14n", list(C14N), ids=lambda c: c.name)
@pytest.mark.parametrize("properties_transforms", [True, False], ids=["sp-exc", "sp-none"])
def test_xmlsec_verifies_what_sign_produces(
    xmlsec, signed_envelope, demo_pki, signedinfo_c14n, properties_transforms
):
    root = signed_envelope(
        signedinfo_c14n=signedinfo_c14n,
        properties_transforms=properties_transforms,
        properties_digest=Digest.SHA512,
        envelope_attrs=EXTRA_NS + ' xml:lang="ru"',
    )
    xmlsec_verify(xmlsec, root, signature_of(body_element(root)), demo_pki.rsa.cert_pem)


def test_xmlsec_verifies_ec_signature(xmlsec, signed_envelope, demo_pki):
    root = signed_envelope(demo_pki.ec)
    xmlsec_verify(xmlsec, root, signature_of(body_element(root)), demo_pki.ec.cert_pem)


@pytest.mark.parametrize("signedinfo_c14n", [C14N.EXCLUSIVE, C14N.INCLUSIVE], ids=lambda c: c.name)
def test_xmlsec_verifies_default_namespace_signature(
    xmlsec, signed_envelope, demo_pki, signedinfo_c14n
):
    signed = etree.tostring(signed_envelope(signedinfo_c14n=signedinfo_c14n)).decode()
    root = parse(signed.replace("ds:", "").replace('xmlns:ds="', 'xmlns="'))
    seal(body_element(root)[0], demo_pki.rsa.key)
    root = wire(root)
    xmlsec_verify(xmlsec, root, body_element(root)[0], demo_pki.rsa.cert_pem)
    verify(body_element(root))


def test_xmlsec_rejects_tampered_output(xmlsec, signed_envelope, demo_pki):
    root = signed_envelope()
    one(root, "//hm:TotalSquare").text = "9999"
    with pytest.raises(xmlsec.Error):
        xmlsec_verify(xmlsec, root, signature_of(body_element(root)), demo_pki.rsa.cert_pem)


@pytest.mark.parametrize("c14n", ["C14N", "C14N_COMMENTS", "C14N11", "EXCL_C14N"], ids=str.lower)
def test_verify_accepts_xmlsec_signatures(xmlsec, demo_pki, c14n):
    root = parse(envelope_xml(operation_xml(), envelope_attrs=EXTRA_NS + ' xml:lang="ru"'))
    element = body_element(root)
    template = xmlsec.template.create(
        element, getattr(xmlsec.Transform, c14n), xmlsec.Transform.RSA_SHA256, ns="ds"
    )
    element.insert(0, template)
    ref = xmlsec.template.add_reference(
        template, xmlsec.Transform.SHA256, uri="#signed-data-container"
    )
    xmlsec.template.add_transform(ref, xmlsec.Transform.ENVELOPED)
    xmlsec.template.add_transform(ref, xmlsec.Transform.EXCL_C14N)
    xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(template))
    xmlsec.tree.add_ids(root, ["Id"])
    ctx = xmlsec.SignatureContext()
    key = demo_pki.rsa.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    ctx.key = xmlsec.Key.from_memory(key, xmlsec.KeyFormat.PEM)
    ctx.key.load_cert_from_memory(demo_pki.rsa.cert_pem, xmlsec.KeyFormat.CERT_PEM)
    ctx.sign(template)
    result = assert_verified(wire(root), demo_pki.rsa, require_xades=False)
    assert result.signing_time is None


def test_signing_time_default_is_now(signed_envelope, demo_pki):
    before = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    result = assert_verified(signed_envelope(), demo_pki.rsa)
    assert result.signing_time is not None and result.signing_time >= before
