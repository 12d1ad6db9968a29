"""Canonicalization of elements inside a document (what lxml does, and what we correct)."""

from __future__ import annotations

import base64
import copy
import hashlib
from types import ModuleType

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from signing_helpers import parse

from signing.algorithms import C14N
from signing.c14n import canonicalize, in_signer_context

SHAPES = [
    '<r xmlns="urn:d"><a Id="t"><b><c/></b></a></r>',
    '<r><a Id="t" xmlns="urn:d"><b><c/></b></a></r>',
    '<r xmlns="urn:d" xmlns:u="urn:u"><a Id="t"><b xmlns=""><c/></b><u:x><y/></u:x></a></r>',
    '<p:r xmlns:p="urn:p" xmlns="urn:d"><p:a Id="t"><p:b><c><p:d/></c></p:b></p:a></p:r>',
    '<r xmlns="urn:d"><a Id="t"><b xmlns=""><c><d xmlns="urn:d"><e/></d></c></b></a></r>',
    '<r xmlns:u="urn:u" xml:lang="ru"><s xml:space="preserve"><a Id="t" u:k="1"> x <b/></a></s></r>',
    '<r xmlns:u="urn:u" xmlns:v="urn:v"><a Id="t"><b><v:c/></b></a></r>',
]


def target(root: etree._Element) -> etree._Element:
    return root.xpath("//*[@Id='t']")[0]


def test_inclusive_keeps_every_namespace_in_scope_exclusive_only_used_ones():
    root = parse(
        '<e:E xmlns:e="urn:e" xmlns:u="urn:unused"><a:op xmlns:a="urn:a"><a:k/></a:op></e:E>'
    )
    op = root[0]
    assert canonicalize(op, C14N.INCLUSIVE) == (
        b'<a:op xmlns:a="urn:a" xmlns:e="urn:e" xmlns:u="urn:unused"><a:k></a:k></a:op>'
    )
    assert canonicalize(op, C14N.EXCLUSIVE) == b'<a:op xmlns:a="urn:a"><a:k></a:k></a:op>'
    assert canonicalize(op, C14N.EXCLUSIVE, ["u"]) == (
        b'<a:op xmlns:a="urn:a" xmlns:u="urn:unused"><a:k></a:k></a:op>'
    )


def test_no_bogus_default_namespace_undeclaration_deep_in_a_subtree():
    root = parse('<r xmlns="urn:d"><a><b><c/></b></a></r>')
    # lxml itself writes <c xmlns=""> here
    assert b'xmlns=""' in etree.tostring(root[0], method="c14n")
    assert canonicalize(root[0], C14N.INCLUSIVE) == b'<a xmlns="urn:d"><b><c></c></b></a>'


def test_inclusive_c14n_imports_ancestor_xml_attributes():
    root = parse(
        '<a xmlns:u="urn:u" xml:lang="ru" xml:space="preserve"><b xml:lang="en"><c/></b></a>'
    )
    c = root[0][0]
    expected = b'<c xmlns:u="urn:u" xml:lang="en" xml:space="preserve"></c>'
    assert canonicalize(c, C14N.INCLUSIVE) == expected
    assert canonicalize(c, C14N.C14N11) == expected
    assert canonicalize(c, C14N.EXCLUSIVE) == b"<c></c>"


def test_c14n11_does_not_inherit_xml_id():
    root = parse('<a xml:id="x" xml:lang="ru"><c/></a>')
    assert canonicalize(root[0], C14N.INCLUSIVE) == b'<c xml:id="x" xml:lang="ru"></c>'
    assert canonicalize(root[0], C14N.C14N11) == b'<c xml:lang="ru"></c>'


def test_comments_only_with_the_comment_variants():
    root = parse("<r><a><!-- note --><b/></a></r>")
    assert b"note" not in canonicalize(root[0], C14N.EXCLUSIVE)
    assert b"note" in canonicalize(root[0], C14N.EXCLUSIVE_WITH_COMMENTS)
    assert b"note" in canonicalize(root[0], C14N.INCLUSIVE_WITH_COMMENTS)


def test_signer_context_keeps_own_and_used_ancestor_namespaces():
    root = parse(
        '<e:E xmlns:e="urn:e" xmlns:x="urn:x" xmlns:u="urn:unused">'
        '<a:op xmlns:a="urn:a" xmlns:own="urn:own"><x:k/></a:op></e:E>'
    )
    (standalone,) = in_signer_context(root[0], root[0][0])
    assert (
        canonicalize(standalone, C14N.INCLUSIVE)
        == b'<x:k xmlns:a="urn:a" xmlns:own="urn:own" xmlns:x="urn:x"></x:k>'
    )


def xmlsec_digest(xmlsec: ModuleType, xml: str, transform: object | None) -> bytes:
    """The SHA-256 libxmlsec1 computes for Reference URI="#t" (optionally one transform)."""
    root = parse(xml)
    holder = etree.SubElement(root, "{urn:holder}holder")
    signature = xmlsec.template.create(
        holder, xmlsec.Transform.EXCL_C14N, xmlsec.Transform.ECDSA_SHA256, ns="ds"
    )
    holder.append(signature)
    ref = xmlsec.template.add_reference(signature, xmlsec.Transform.SHA256, uri="#t")
    if transform is not None:
        xmlsec.template.add_transform(ref, transform)
    xmlsec.tree.add_ids(root, ["Id"])
    ctx = xmlsec.SignatureContext()
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )
    ctx.key = xmlsec.Key.from_memory(pem, xmlsec.KeyFormat.PEM)
    ctx.sign(signature)
    return base64.b64decode(signature.find(".//{*}DigestValue").text)


@pytest.mark.parametrize("xml", SHAPES)
@pytest.mark.parametrize("c14n", [C14N.INCLUSIVE, C14N.EXCLUSIVE], ids=lambda c: c.name)
def test_matches_libxmlsec1(xmlsec, xml, c14n):
    transform = None if c14n is C14N.INCLUSIVE else xmlsec.Transform.EXCL_C14N
    expected = xmlsec_digest(xmlsec, xml, transform)
    assert hashlib.sha256(canonicalize(target(parse(xml)), c14n)).digest() == expected


TEXT = st.text(alphabet=st.sampled_from(list("ab &<>\"'\t\r\nя")), max_size=6)


@settings(max_examples=60, deadline=None)
@given(
    text=TEXT,
    tail=TEXT,
    value=TEXT,
    default_ns=st.booleans(),
    c14n=st.sampled_from([C14N.EXCLUSIVE, C14N.INCLUSIVE]),
)
def test_enveloped_cut_equals_removing_the_signature(text, tail, value, default_ns, c14n):
    ns = ' xmlns="urn:d"' if default_ns else ""
    root = parse(f'<env xmlns:e="urn:e"><op{ns} Id="x" a="v"><item/></op></env>')
    op = root[0]
    op.text = text
    signature = etree.Element(
        "{http://www.w3.org/2000/09/xmldsig#}Signature",
        nsmap={"ds": "http://www.w3.org/2000/09/xmldsig#"},
    )
    etree.SubElement(
        signature, "{http://www.w3.org/2000/09/xmldsig#}SignedInfo", v=value
    ).text = value
    signature.tail = tail
    op.insert(0, signature)
    op[1].set("k", value)
    root = parse(etree.tostring(root))
    op = root[0]
    cut = canonicalize(op, c14n, exclude=op[0])
    expected_root = copy.deepcopy(root)
    expected_op = expected_root[0]
    removed = expected_op[0]
    expected_op.text = (expected_op.text or "") + (removed.tail or "")
    removed.tail = None
    expected_op.remove(removed)
    assert cut == canonicalize(expected_op, c14n)
