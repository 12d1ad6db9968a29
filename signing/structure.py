"""Strict reading of a ds:Signature: SignedInfo, references, value and certificate."""

from __future__ import annotations

import binascii
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

from cryptography import x509
from lxml import etree

from . import algorithms
from .algorithms import C14N, Digest, SignatureMethod, Transform
from .errors import Reason, SignatureError
from .names import EXC_C14N, ds

_SIGNED_INFO = ds("SignedInfo")
_C14N_METHOD = ds("CanonicalizationMethod")
_SIGNATURE_METHOD = ds("SignatureMethod")
_REFERENCE = ds("Reference")
_TRANSFORMS = ds("Transforms")
_TRANSFORM = ds("Transform")
_DIGEST_METHOD = ds("DigestMethod")
_DIGEST_VALUE = ds("DigestValue")
_INCLUSIVE_NAMESPACES = f"{{{EXC_C14N}}}InclusiveNamespaces"


@dataclass(frozen=True)
class Reference:
    """One ds:Reference as written."""

    uri: str | None
    type: str | None
    transforms: tuple[Transform, ...]
    inclusive_prefixes: tuple[str, ...]  # of the exclusive c14n transform, if any
    digest_method: Digest
    digest_value: bytes


@dataclass(frozen=True)
class SignedInfo:
    """A ds:SignedInfo as written."""

    c14n: C14N
    c14n_prefixes: tuple[str, ...]
    signature_method: SignatureMethod
    references: tuple[Reference, ...]


def elements(parent: etree._Element) -> Iterator[etree._Element]:
    """Child elements, skipping comments and processing instructions."""
    return parent.iterchildren(etree.Element)


def decode_base64(text: str | None, what: str) -> bytes:
    """Decode base64 content that may be wrapped over lines."""
    try:  # base64.b64decode(validate=True) without its wrapper
        data = binascii.a2b_base64("".join((text or "").split()), strict_mode=True)
    except (binascii.Error, ValueError):
        raise SignatureError(Reason.MALFORMED, f"{what} is not valid base64") from None
    if not data:
        raise SignatureError(Reason.MALFORMED, f"{what} is empty")
    return data


def _expect(children: list[etree._Element], index: int, tag: str, where: str) -> etree._Element:
    if index >= len(children) or children[index].tag != tag:
        local = tag.rpartition("}")[2]
        raise SignatureError(
            Reason.MALFORMED, f"{where}: expected ds:{local} at position {index + 1}"
        )
    return children[index]


def _prefix_list(method: etree._Element) -> tuple[str, ...]:
    """PrefixList of an exc-c14n InclusiveNamespaces child; other children are refused."""
    children = list(elements(method))
    if not children:
        return ()
    if len(children) > 1 or children[0].tag != _INCLUSIVE_NAMESPACES:
        raise SignatureError(Reason.MALFORMED, "unexpected content in a transform or c14n method")
    return tuple((children[0].get("PrefixList") or "").split())


def _c14n_prefixes(method: etree._Element, c14n: C14N | None) -> tuple[str, ...]:
    prefixes = _prefix_list(method)
    if prefixes and (c14n is None or not c14n.exclusive):
        raise SignatureError(Reason.MALFORMED, "InclusiveNamespaces outside exclusive c14n")
    if "#default" in prefixes:
        raise SignatureError(
            Reason.ALGORITHM_UNSUPPORTED, "InclusiveNamespaces '#default' is not supported"
        )
    return prefixes


def _read_reference(ref: etree._Element) -> Reference:
    children = list(elements(ref))
    transforms: list[Transform] = []
    prefixes: tuple[str, ...] = ()
    index = 0
    if children and children[0].tag == _TRANSFORMS:
        for transform in elements(children[0]):
            if transform.tag != _TRANSFORM:
                raise SignatureError(Reason.MALFORMED, "ds:Transforms holds a non-Transform")
            algorithm = algorithms.parse(Transform, transform.get("Algorithm"))
            transforms.append(algorithm)
            found = _c14n_prefixes(transform, algorithm.c14n)
            prefixes = found or prefixes
        if not transforms:
            raise SignatureError(Reason.MALFORMED, "empty ds:Transforms")
        index = 1
    method = _expect(children, index, _DIGEST_METHOD, "ds:Reference")
    value = _expect(children, index + 1, _DIGEST_VALUE, "ds:Reference")
    if len(children) != index + 2:
        raise SignatureError(Reason.MALFORMED, "unexpected content in ds:Reference")
    return Reference(
        uri=ref.get("URI"),
        type=ref.get("Type"),
        transforms=tuple(transforms),
        inclusive_prefixes=prefixes,
        digest_method=algorithms.parse(Digest, method.get("Algorithm")),
        digest_value=decode_base64(value.text, "ds:DigestValue"),
    )


def read_c14n_method(signed_info: etree._Element) -> tuple[C14N, tuple[str, ...]]:
    """The CanonicalizationMethod of SignedInfo and its InclusiveNamespaces prefixes (what
    SignedInfo's canonical bytes are made with), read as strictly as :func:`read_signed_info`."""
    if signed_info.tag != _SIGNED_INFO:
        raise SignatureError(Reason.MALFORMED, "ds:SignedInfo expected")
    c14n_el = _expect(list(islice(elements(signed_info), 1)), 0, _C14N_METHOD, "ds:SignedInfo")
    c14n = algorithms.parse(C14N, c14n_el.get("Algorithm"))
    return c14n, _c14n_prefixes(c14n_el, c14n)


def read_signed_info(signed_info: etree._Element) -> SignedInfo:
    """Read SignedInfo strictly; every algorithm URI goes through :func:`algorithms.parse`."""
    if signed_info.tag != _SIGNED_INFO:
        raise SignatureError(Reason.MALFORMED, "ds:SignedInfo expected")
    children = list(elements(signed_info))
    c14n_el = _expect(children, 0, _C14N_METHOD, "ds:SignedInfo")
    method_el = _expect(children, 1, _SIGNATURE_METHOD, "ds:SignedInfo")
    if list(elements(method_el)):
        raise SignatureError(Reason.MALFORMED, "unexpected content in ds:SignatureMethod")
    c14n = algorithms.parse(C14N, c14n_el.get("Algorithm"))
    prefixes = _c14n_prefixes(c14n_el, c14n)
    signature_method = algorithms.parse(SignatureMethod, method_el.get("Algorithm"))
    references = children[2:]
    if not references:
        raise SignatureError(Reason.MALFORMED, "ds:SignedInfo has no ds:Reference")
    for ref in references:
        if ref.tag != _REFERENCE:
            raise SignatureError(Reason.MALFORMED, "unexpected content in ds:SignedInfo")
    return SignedInfo(
        c14n=c14n,
        c14n_prefixes=prefixes,
        signature_method=signature_method,
        references=tuple(_read_reference(ref) for ref in references),
    )


def signature_parts(
    signature: etree._Element,
) -> tuple[etree._Element, etree._Element, etree._Element]:
    """(SignedInfo, SignatureValue, KeyInfo) in the order XML-DSig fixes."""
    children = list(elements(signature))
    signed_info = _expect(children, 0, ds("SignedInfo"), "ds:Signature")
    value = _expect(children, 1, ds("SignatureValue"), "ds:Signature")
    if len(children) < 3 or children[2].tag != ds("KeyInfo"):
        raise SignatureError(Reason.MALFORMED, "ds:KeyInfo with the signer certificate is required")
    for extra in children[3:]:
        if extra.tag != ds("Object"):
            raise SignatureError(Reason.MALFORMED, "unexpected content in ds:Signature")
    return signed_info, value, children[2]


def read_certificate(key_info: etree._Element) -> x509.Certificate:
    """The one X509Data/X509Certificate of KeyInfo."""
    found = [
        certificate
        for data in key_info.iterchildren(ds("X509Data"))
        for certificate in data.iterchildren(ds("X509Certificate"))
    ]
    if len(found) != 1:
        raise SignatureError(
            Reason.MALFORMED,
            f"ds:KeyInfo must carry exactly one X509Data/X509Certificate (found {len(found)})",
        )
    text = found[0].text or ""
    if len(text) > _CACHED_CERTIFICATE_CHARS:
        return _certificate(text)
    return _cached_certificate(text)


#: Certificates up to this size (base64 characters; real ones take 1–4 K) are decoded once
#: per process while in use (the cache below holds at most 256 of them: a few MB at most).
_CACHED_CERTIFICATE_CHARS = 8192


def _certificate(text: str) -> x509.Certificate:
    der = decode_base64(text, "ds:X509Certificate")
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        raise SignatureError(
            Reason.MALFORMED, "ds:X509Certificate is not a DER certificate"
        ) from None


#: Certificates are immutable: a cached one is the same object every packet sends, and
#: everything checked on it (chain, validity, owner, XAdES digest) is still checked each time.
_cached_certificate = functools.lru_cache(maxsize=256)(_certificate)
