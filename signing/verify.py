"""Verification of the enveloped XML-DSig / XAdES-BES signature of a request element.

The sequence is fixed: locate the one ds:Signature (first child of the element) ►
canonicalize SignedInfo and read it from those canonical bytes (parsed again), refusing
algorithms, references and transforms before any cryptography ► verify SignatureValue over
those bytes with the KeyInfo certificate (RSA, ECDSA, GOST R 34.10-2012), so the SignedInfo
the references are planned from is the one verified (bytes verified in the signer's context
instead must read exactly the same) ► check that exactly one
reference covers this element (unique Id in the whole document) and its digest ► check every
other reference, each of which must point inside this ds:Signature (XAdES SignedProperties,
KeyInfo, Object) ► check the XAdES properties. Nothing is stored between calls but decoded
KeyInfo certificates (immutable; every check on them runs each call); the functions are
thread-safe.

Tolerance for clients that sign the element in a document of its own and then put it into
the SOAP envelope: inclusive canonicalization (of SignedInfo, of SignedProperties without
transforms, or of the data) then sees the envelope's namespaces as well. When the
in-document form does not verify, it is retried once with the element treated as the
document root (:func:`signing.c14n.in_signer_context`). Exclusive c14n needs no retry.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from lxml import etree

from . import xades
from .algorithms import (
    C14N,
    SUPPORTED_DIGESTS,
    SUPPORTED_SIGNATURE_METHODS,
    Digest,
    SignatureMethod,
    Transform,
)
from .c14n import canonicalize, escape_attribute, exclude_first_child, in_signer_context
from .crypto import certificate_key, check_key, verify_value
from .errors import Reason, SignatureError
from .names import ID_ATTRIBUTES, SIGNED_PROPERTIES_TYPE, ds
from .structure import (
    Reference,
    SignedInfo,
    decode_base64,
    elements,
    read_c14n_method,
    read_certificate,
    read_signed_info,
    signature_parts,
)


@dataclass(frozen=True)
class VerifyPolicy:
    """What a signature may use. The defaults are safe; insecure choices cannot be allowed."""

    require_xades: bool = True
    c14n_methods: frozenset[C14N] = field(default_factory=lambda: frozenset(C14N))
    signature_methods: frozenset[SignatureMethod] = SUPPORTED_SIGNATURE_METHODS
    digest_methods: frozenset[Digest] = SUPPORTED_DIGESTS
    min_rsa_key_size: int = 2048
    #: retry inclusive c14n with the element as document root (see the module docstring)
    signer_context_retry: bool = True

    def __post_init__(self) -> None:
        for name, kind, supported in (
            ("c14n_methods", C14N, frozenset(C14N)),
            ("signature_methods", SignatureMethod, SUPPORTED_SIGNATURE_METHODS),
            ("digest_methods", Digest, SUPPORTED_DIGESTS),
        ):
            values = frozenset(kind(value) for value in getattr(self, name))
            refused = values - supported
            if refused:
                raise ValueError(f"{name} may not allow {sorted(refused)}: insecure or unsupported")
            object.__setattr__(self, name, values)


DEFAULT_POLICY = VerifyPolicy()

#: References one SignedInfo may carry: the data, SignedProperties and a few more inside
#: the signature (KeyInfo, Objects) that XAdES libraries sign.
MAX_REFERENCES = 8


@dataclass(frozen=True)
class Verified:
    """The result of a successful :func:`verify`; only ``signed_element`` was verified."""

    signed_element: etree._Element
    certificate: x509.Certificate
    signing_time: datetime | None
    signature_method: str
    c14n_method: str
    #: exclusive c14n (no comments, no InclusiveNamespaces) of ``signed_element``, signature
    #: included, when the data reference used exactly that (None otherwise): computed for
    #: the digest, reusable by callers that need the element's canonical form
    exclusive_c14n: bytes | None = None


@dataclass(frozen=True)
class _Inner:
    """A reference to another element of the signature (e.g. KeyInfo)."""

    reference: Reference
    c14n: C14N
    target: etree._Element


@dataclass(frozen=True)
class _Plan:
    """The references of a SignedInfo, checked against the document and the policy."""

    data: Reference
    data_c14n: C14N
    properties: Reference | None
    properties_c14n: C14N
    signed_properties: etree._Element | None
    inner: tuple[_Inner, ...] = ()


def verify(element: etree._Element, policy: VerifyPolicy = DEFAULT_POLICY) -> Verified:
    """Verify the signature enveloped in ``element``; raise :class:`SignatureError` if refused."""
    signature = _locate(element)
    signed_info_el, value_el, key_info = signature_parts(signature)
    c14n, prefixes = read_c14n_method(signed_info_el)
    if c14n not in policy.c14n_methods:
        raise SignatureError(
            Reason.ALGORITHM_UNSUPPORTED, f"canonicalization {c14n} is not allowed"
        )
    # SignedInfo is read from the bytes its SignatureValue must verify, not from the tree.
    canonical_signed_info = canonicalize(signed_info_el, c14n, prefixes)
    claimed = read_signed_info(_reparse(canonical_signed_info))
    if (claimed.c14n, claimed.c14n_prefixes) != (c14n, prefixes):
        raise SignatureError(Reason.MALFORMED, "canonical SignedInfo reads otherwise than the tree")
    plan = _plan(claimed, element, signature, policy)  # refuse early, before any cryptography
    certificate = read_certificate(key_info)
    value = decode_base64(value_el.text, "ds:SignatureValue")
    verified_bytes = _check_signature_value(
        signed_info_el, claimed, element, certificate, value, policy, canonical_signed_info
    )
    # Verified in the signer's context (inclusive c14n) instead: everything below follows
    # the plan made from ``claimed``, which holds only when those bytes read the same,
    # algorithms, references and digests alike.
    if (
        verified_bytes is not canonical_signed_info
        and read_signed_info(_reparse(verified_bytes)) != claimed
    ):
        raise SignatureError(Reason.MALFORMED, "verified SignedInfo differs from the document's")
    canonical = _check_data(plan, element, signature, policy)
    signing_time = None
    if plan.properties is not None and plan.signed_properties is not None:
        _check_digest(
            plan.properties,
            candidates(
                plan.signed_properties,
                plan.properties_c14n,
                plan.properties.inclusive_prefixes,
                element,
                policy,
            ),
            "SignedProperties",
        )
        signing_time = xades.check(
            signature, plan.signed_properties, certificate, policy.digest_methods
        )
    for inner in plan.inner:
        what = f"{etree.QName(inner.target).localname} ({inner.reference.uri})"
        _check_digest(
            inner.reference,
            candidates(
                inner.target, inner.c14n, inner.reference.inclusive_prefixes, element, policy
            ),
            what,
        )
    return Verified(
        signed_element=element,
        certificate=certificate,
        signing_time=signing_time,
        signature_method=str(claimed.signature_method),
        c14n_method=str(claimed.c14n),
        exclusive_c14n=(
            canonical
            if plan.data_c14n is C14N.EXCLUSIVE and not plan.data.inclusive_prefixes
            else None
        ),
    )


def _locate(element: etree._Element) -> etree._Element:
    """The one ds:Signature of ``element``'s subtree, which must be its first child element."""
    signatures = list(element.iter(ds("Signature")))
    if not signatures:
        raise SignatureError(Reason.MISSING, f"no ds:Signature in {etree.QName(element).localname}")
    first = next(elements(element), None)
    if first is None or first is not signatures[0] or first.tag != ds("Signature"):
        raise SignatureError(
            Reason.WRAPPING, "ds:Signature must be the first child element of the signed element"
        )
    if len(signatures) > 1:
        raise SignatureError(Reason.WRAPPING, "more than one ds:Signature in the signed element")
    return first


def _element_ids(element: etree._Element) -> set[str]:
    return {value for name in ID_ATTRIBUTES if (value := element.get(name))}


def _plan(
    signed_info: SignedInfo,
    element: etree._Element,
    signature: etree._Element,
    policy: VerifyPolicy,
) -> _Plan:
    """Check algorithms and references against the policy and the document (the
    canonicalization of SignedInfo was checked before it was canonicalized)."""
    if signed_info.signature_method not in policy.signature_methods:
        raise SignatureError(
            Reason.ALGORITHM_UNSUPPORTED,
            f"signature method {signed_info.signature_method} is not allowed",
        )
    references = signed_info.references
    for ref in references:
        if not ref.uri or not ref.uri.startswith("#") or len(ref.uri) == 1:
            raise SignatureError(
                Reason.BAD_REFERENCE,
                f"reference URI {ref.uri!r} refused: only '#<Id>' of the request element "
                "and of SignedProperties are accepted",
            )
        if ref.uri.startswith("#xpointer("):
            raise SignatureError(Reason.BAD_REFERENCE, f"XPointer reference {ref.uri!r} refused")
        if ref.digest_method not in policy.digest_methods:
            raise SignatureError(
                Reason.ALGORITHM_UNSUPPORTED, f"digest method {ref.digest_method} is not allowed"
            )
    ids = _element_ids(element)
    if not ids:
        raise SignatureError(Reason.WRAPPING, "the signed element carries no Id attribute")
    data_refs = [ref for ref in references if _target_id(ref) in ids]
    if not data_refs:
        targets = ", ".join(str(ref.uri) for ref in references)
        raise SignatureError(
            Reason.WRAPPING,
            f"no reference points to the signed element (#{sorted(ids)[0]}); found {targets}",
        )
    if len(data_refs) > 1:
        raise SignatureError(
            Reason.BAD_REFERENCE, "exactly one reference may cover the request element"
        )
    if len(references) > MAX_REFERENCES:
        raise SignatureError(
            Reason.BAD_REFERENCE, f"more than {MAX_REFERENCES} references in ds:SignedInfo"
        )
    data = data_refs[0]
    data_c14n = _data_c14n(data, policy)
    signed_properties = xades.find_signed_properties(signature)
    properties: Reference | None = None
    properties_c14n = C14N.INCLUSIVE
    inner: list[_Inner] = []
    ids_inside = _ids_inside(signature)
    for ref in references:
        if ref is data:
            continue
        target = _inside_signature(signature, ref, ids_inside)
        if target is not None and target is signed_properties:
            if properties is not None:
                raise SignatureError(
                    Reason.BAD_REFERENCE, "SignedProperties is referenced more than once"
                )
            if ref.type not in (None, SIGNED_PROPERTIES_TYPE):
                raise SignatureError(Reason.BAD_REFERENCE, f"unexpected reference Type {ref.type}")
            properties, properties_c14n = ref, _inner_c14n(ref, policy)
        elif target is None or ref.type == SIGNED_PROPERTIES_TYPE:
            raise SignatureError(
                Reason.BAD_REFERENCE,
                f"reference {ref.uri} points to neither the request element nor an element "
                "of this signature (its xades:SignedProperties, KeyInfo or Object)",
            )
        else:
            inner.append(_Inner(ref, _inner_c14n(ref, policy), target))
    if properties is None and policy.require_xades:
        raise SignatureError(Reason.XADES_MISSING, "signed XAdES SignedProperties are required")
    return _Plan(data, data_c14n, properties, properties_c14n, signed_properties, tuple(inner))


def _ids_inside(signature: etree._Element) -> dict[str, list[etree._Element]]:
    """The elements of ``signature``'s subtree (itself included) by each Id they carry."""
    index: dict[str, list[etree._Element]] = {}
    first, second, third = ID_ATTRIBUTES
    for node in signature.iter(etree.Element):
        # a walk of the few elements of a signature costs less than an XPath evaluation
        a, b, c = node.get(first), node.get(second), node.get(third)
        if a or b or c:
            for value in {a, b, c}:
                if value:
                    index.setdefault(value, []).append(node)
    return index


def _inside_signature(
    signature: etree._Element, ref: Reference, ids_inside: dict[str, list[etree._Element]]
) -> etree._Element | None:
    """The one element of ``signature`` whose Id the reference names, if it may be signed
    (``ids_inside``: :func:`_ids_inside` of ``signature``).

    SignedInfo and SignatureValue (and what contains them) cannot be covered by a
    reference of the same signature; such a reference is refused.
    """
    assert ref.uri is not None
    value = ref.uri[1:]
    found = ids_inside.get(value, ())
    if not found:
        return None
    if len(found) > 1:
        raise SignatureError(Reason.WRAPPING, f"Id {value!r} occurs more than once")
    target = found[0]
    # ``target`` is ``signature`` or inside it: it contains SignedInfo and SignatureValue
    # only if it is ``signature``, and lies inside one of them if one is among its ancestors.
    signed_info, signature_value = signature[0], signature[1]
    node: etree._Element | None = target
    while node is not None and node not in (signature, signed_info, signature_value):
        node = node.getparent()
    if node is not signature or target is signature:
        raise SignatureError(
            Reason.BAD_REFERENCE,
            f"reference {ref.uri} covers ds:SignedInfo or ds:SignatureValue of its own signature",
        )
    return target


def _allowed_c14n(transform: Transform, policy: VerifyPolicy) -> C14N:
    c14n = transform.c14n
    assert c14n is not None
    if c14n not in policy.c14n_methods:
        raise SignatureError(Reason.ALGORITHM_UNSUPPORTED, f"transform {c14n} is not allowed")
    # A same-document '#id' reference never keeps comments (XML-DSig 4.3.3.3).
    return c14n.without_comments


def _data_c14n(ref: Reference, policy: VerifyPolicy) -> C14N:
    """Transforms of the data reference: enveloped-signature, then at most one c14n."""
    chain = ref.transforms
    if not chain or chain[0] is not Transform.ENVELOPED or len(chain) > 2:
        raise SignatureError(
            Reason.BAD_REFERENCE,
            "the request reference must use enveloped-signature then one canonicalization",
        )
    if len(chain) == 1:
        return C14N.INCLUSIVE
    if chain[1] is Transform.ENVELOPED:
        raise SignatureError(Reason.BAD_REFERENCE, "enveloped-signature transform repeated")
    return _allowed_c14n(chain[1], policy)


def _inner_c14n(ref: Reference, policy: VerifyPolicy) -> C14N:
    """Transforms of a reference inside the signature (SignedProperties, KeyInfo, …): none
    (inclusive c14n) or one c14n."""
    chain = ref.transforms
    if not chain:
        return C14N.INCLUSIVE
    if len(chain) > 1 or chain[0] is Transform.ENVELOPED:
        raise SignatureError(
            Reason.BAD_REFERENCE,
            f"reference {ref.uri} inside the signature allows one c14n transform only",
        )
    return _allowed_c14n(chain[0], policy)


def candidates(
    target: etree._Element,
    c14n: C14N,
    prefixes: tuple[str, ...],
    element: etree._Element,
    policy: VerifyPolicy,
    *,
    first: bytes | None = None,
) -> Iterator[bytes]:
    """Canonical bytes of ``target`` in the document (``first``: when already computed),
    then (inclusive c14n of an element that has ancestors) once more in the signer's
    standalone context."""
    yield canonicalize(target, c14n, prefixes) if first is None else first
    if not c14n.exclusive and policy.signer_context_retry and element.getparent() is not None:
        (standalone,) = in_signer_context(element, target)
        yield canonicalize(standalone, c14n, prefixes)


def _check_signature_value(
    signed_info: etree._Element,
    claimed: SignedInfo,
    element: etree._Element,
    certificate: x509.Certificate,
    value: bytes,
    policy: VerifyPolicy,
    canonical: bytes,
) -> bytes:
    """The canonical SignedInfo bytes that the SignatureValue verifies: ``canonical`` (its
    form in the document) or its form in the signer's context."""
    method = claimed.signature_method
    key = certificate_key(certificate)
    check_key(method, key, policy.min_rsa_key_size)
    forms = candidates(
        signed_info, claimed.c14n, claimed.c14n_prefixes, element, policy, first=canonical
    )
    for data in forms:
        if verify_value(method, key, data, value):
            return data
    raise SignatureError(
        Reason.BAD_SIGNATURE, "SignatureValue does not verify with the KeyInfo certificate"
    )


_local = threading.local()


def _reparse(data: bytes) -> etree._Element:
    """Parse verified SignedInfo bytes again with a hardened parser (one per thread: lxml
    parsers are not thread-safe)."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
        )
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise SignatureError(Reason.MALFORMED, f"verified SignedInfo is not XML: {exc}") from None


def _check_data(
    plan: _Plan, element: etree._Element, signature: etree._Element, policy: VerifyPolicy
) -> bytes:
    """The data reference: Ids unique in the whole document, then the digest; returns the
    element's canonical form (signature included) that was digested without it."""
    c14n, prefixes = plan.data_c14n, plan.data.inclusive_prefixes
    full = canonicalize(element, c14n, prefixes)
    ids = [_target_id(plan.data)]
    if plan.properties is not None:
        ids.append(_target_id(plan.properties))
    ids.extend(_target_id(inner.reference) for inner in plan.inner)
    _check_unique_ids(element, full, ids)

    _check_digest(
        plan.data,
        enveloped_candidates(element, signature, c14n, prefixes, policy, full=full),
        "request element",
    )
    return full


def enveloped_candidates(
    element: etree._Element,
    signature: etree._Element,
    c14n: C14N,
    prefixes: tuple[str, ...],
    policy: VerifyPolicy,
    *,
    full: bytes | None = None,
) -> Iterator[bytes]:
    """Canonical bytes of ``element`` without its enveloped ``signature`` (``full``: the
    element's canonical bytes when already computed), then in the signer's standalone
    context as :func:`candidates` does."""
    if full is None:
        full = canonicalize(element, c14n, prefixes)
    yield exclude_first_child(full, element, signature)
    if not c14n.exclusive and policy.signer_context_retry and element.getparent() is not None:
        standalone, standalone_signature = in_signer_context(element, element, signature)
        yield canonicalize(standalone, c14n, prefixes, exclude=standalone_signature)


def _check_digest(ref: Reference, forms: Iterable[bytes], what: str) -> None:
    for data in forms:
        if hmac.compare_digest(ref.digest_method.compute(data), ref.digest_value):
            return
    raise SignatureError(
        Reason.DIGEST_MISMATCH, f"{what} digest mismatch: the signed content was changed"
    )


def _target_id(ref: Reference) -> str:
    """The Id a '#Id' reference names (its URI was checked by :func:`_plan`)."""
    return (ref.uri or "")[1:]


def _is_id(name: str | bytes) -> bool:
    return str(name).rpartition("}")[2] in ID_ATTRIBUTES


def _id_count(nodes: Iterable[etree._Element], value: str) -> int:
    return sum(
        1
        for node in nodes
        for name, found in node.attrib.items()
        if found == value and _is_id(name)
    )


def _outside(element: etree._Element) -> Iterator[etree._Element]:
    """Every element of the document that is not in ``element``'s subtree."""
    node = element
    while (parent := node.getparent()) is not None:
        yield parent
        for sibling in parent.iterchildren(tag=etree.Element):
            if sibling is not node:
                yield from sibling.iter(tag=etree.Element)
        node = parent


def _once(data: bytes, needle: bytes) -> bool:
    """``needle`` occurs in ``data`` exactly once (the first occurrence is also the last:
    the Id sits near the start, and a search from the end is quicker than a count)."""
    first = data.find(needle)
    return first >= 0 and data.rfind(needle) == first


def _check_unique_ids(element: etree._Element, canonical: bytes, values: list[str]) -> None:
    """Each referenced Id must occur exactly once in the whole document (anti-wrapping).

    Inside the element the canonical bytes are searched: the Id attribute itself accounts
    for one ``="value"``; any other occurrence (another attribute, or text that mimics one)
    is settled by walking the subtree.
    """
    for value in values:
        if not _once(canonical, b'="' + escape_attribute(value).encode() + b'"') and (
            _id_count(element.iter(tag=etree.Element), value) != 1
        ):
            raise SignatureError(
                Reason.WRAPPING, f"Id {value!r} occurs more than once in the signed element"
            )
    for node in _outside(element):
        for name, found in node.attrib.items():
            if found in values and _is_id(name):
                raise SignatureError(
                    Reason.WRAPPING,
                    f"Id {found!r} also occurs on {etree.QName(node).localname} outside "
                    "the signed element",
                )
