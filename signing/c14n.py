"""Canonical XML of an element inside a larger document, with lxml.

What lxml does (checked on lxml 6 / libxml2 2.14) and what this module adds:

* ``etree.tostring(el, method="c14n")`` of a non-root element serializes it as the apex of
  a document subset: inclusive c14n renders on the apex *every* namespace in scope,
  including those declared on ancestors and not used; exclusive c14n renders only the
  visibly used ones (plus the InclusiveNamespaces prefixes). That matches the specs and
  libxmlsec1.
* lxml does **not** import the ``xml:*`` attributes of ancestors (``xml:lang``,
  ``xml:space``...) onto the apex, which inclusive C14N requires and libxmlsec1 does.
  :func:`canonicalize` adds them (C14N 1.1: ``xml:id`` is not inherited; an inherited
  ``xml:base`` would need the 1.1 fix-up, which is refused rather than guessed).
* lxml emits a bogus ``xmlns=""`` deep inside a non-root apex when a default namespace is
  in scope (inclusive only); :func:`_inclusive_subtree` works around it.
* lxml has no C14N 1.1; for a whole subtree 1.1 equals 1.0 except for that ``xml:*``
  inheritance, so 1.1 is served by the 1.0 serializer.
* lxml drops ``#default`` from an InclusiveNamespaces prefix list (it keeps only prefixes
  present in the document's dictionary), so ``#default`` is refused.
* The enveloped-signature transform is applied by cutting the signature's bytes out of
  the element's canonical form (no tree copy; a copy costs ~40% of the c14n itself).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any

from lxml import etree

from .algorithms import C14N
from .errors import Reason, SignatureError
from .names import XML

_START_TAG = re.compile(rb'<([^\s>]+)((?:\s[^\s=]+="[^"]*")*)>')
_ATTRIBUTE = re.compile(rb'\s([^\s=]+)="([^"]*)"')
_XML_PREFIX = f"{{{XML}}}"


def canonicalize(
    element: etree._Element,
    algorithm: C14N | str,
    inclusive_ns_prefixes: Sequence[str] | None = None,
    *,
    exclude: etree._Element | None = None,
) -> bytes:
    """Canonical form of ``element`` (the subtree as a document subset, in its context).

    ``inclusive_ns_prefixes`` is the exclusive-c14n InclusiveNamespaces PrefixList.
    ``exclude`` is the element's first child element to leave out (enveloped signature).
    """
    if not isinstance(algorithm, C14N):
        algorithm = C14N(algorithm)
    prefixes = list(inclusive_ns_prefixes or ())
    if prefixes and not algorithm.exclusive:
        raise ValueError("InclusiveNamespaces only apply to exclusive canonicalization")
    if "#default" in prefixes or "" in prefixes:
        raise SignatureError(
            Reason.ALGORITHM_UNSUPPORTED,
            "InclusiveNamespaces '#default' is not supported (lxml ignores it)",
        )
    try:
        if algorithm.exclusive or element.getparent() is None:
            out = _tostring(element, algorithm, prefixes)
        else:
            out = _inclusive_subtree(element, algorithm)
    except etree.LxmlError as exc:
        raise SignatureError(Reason.MALFORMED, f"cannot canonicalize: {exc}") from None
    if not algorithm.exclusive:
        inherited = _inherited_xml_attributes(element, version_11=algorithm.version_11)
        if inherited:
            out = _add_apex_attributes(out, element, inherited)
    if exclude is not None:
        out = exclude_first_child(out, element, exclude, with_comments=algorithm.with_comments)
    return out


def _tostring(element: etree._Element, algorithm: C14N, prefixes: list[str]) -> bytes:
    return etree.tostring(
        element,
        method="c14n",
        exclusive=algorithm.exclusive,
        with_comments=algorithm.with_comments,
        inclusive_ns_prefixes=prefixes or None,
    )


def _inclusive_subtree(element: etree._Element, algorithm: C14N) -> bytes:
    """Inclusive c14n of a non-root element, working around an lxml/libxml2 bug.

    With a default namespace in scope at a non-root apex, lxml emits a bogus ``xmlns=""``
    on elements two or more levels below it (``<a xmlns="urn:d"><b><c xmlns="">``), so
    e.g. a default-namespace ds:SignedInfo (.NET) would not verify. The subtree is rebuilt
    as a document root that declares every namespace in scope, which lxml gets right.
    """
    nsmap: Any = element.nsmap  # lxml allows the None key of a default namespace
    attributes: Any = dict(element.attrib)
    apex = etree.Element(element.tag, attributes, nsmap=nsmap)
    apex.text = element.text
    for child in element:
        apex.append(copy.deepcopy(child))
    out = _tostring(apex, algorithm, [])
    if len(set(nsmap.values())) < len(nsmap):
        # Several prefixes bind one URI: lxml may have picked another prefix for the apex.
        direct = _tostring(element, algorithm, [])
        head, expected = _START_TAG.match(out), _START_TAG.match(direct)
        if head is None or expected is None or head.group(0) != expected.group(0):
            raise SignatureError(
                Reason.ALGORITHM_UNSUPPORTED,
                "inclusive c14n of an element whose namespace has several prefixes",
            )
    return out


def in_signer_context(root: etree._Element, *targets: etree._Element) -> tuple[etree._Element, ...]:
    """The counterparts of ``targets`` in one standalone copy of their ancestor-or-self ``root``.

    The copy keeps the namespaces declared inside ``root`` plus those of ``root``'s
    ancestors that the subtree uses — the context a client had when it signed ``root`` as
    a document of its own before putting it into an envelope.
    """
    standalone = copy.deepcopy(root)
    return tuple(_follow(standalone, _path(root, target)) for target in targets)


def _path(root: etree._Element, target: etree._Element) -> list[int]:
    path: list[int] = []
    node = target
    while node is not root:
        parent = node.getparent()
        if parent is None:
            raise ValueError("root is not an ancestor of target")
        path.append(parent.index(node))
        node = parent
    return path[::-1]


def _follow(node: etree._Element, path: list[int]) -> etree._Element:
    for index in path:
        node = node[index]
    return node


def _inherited_xml_attributes(element: etree._Element, *, version_11: bool) -> dict[str, str]:
    """``xml:*`` attributes the apex inherits from its ancestors (nearest wins)."""
    inherited: dict[str, str] = {}
    parent = element.getparent()
    while parent is not None:
        for name, value in parent.attrib.items():
            if str(name).startswith(_XML_PREFIX):
                inherited.setdefault(str(name)[len(_XML_PREFIX) :], str(value))
        parent = parent.getparent()
    for name in element.attrib:
        if str(name).startswith(_XML_PREFIX):
            inherited.pop(str(name)[len(_XML_PREFIX) :], None)
    if version_11:
        inherited.pop("id", None)
        if "base" in inherited:
            raise SignatureError(
                Reason.ALGORITHM_UNSUPPORTED,
                "C14N 1.1 xml:base fix-up of an ancestor's xml:base is not supported",
            )
    return inherited


def _add_apex_attributes(out: bytes, element: etree._Element, extra: dict[str, str]) -> bytes:
    """Insert ``xml:*`` attributes into the apex start tag in canonical order."""
    match = _START_TAG.match(out)
    if match is None:  # pragma: no cover - lxml always emits a start tag first
        raise SignatureError(Reason.MALFORMED, "cannot read the canonical start tag")
    qname, attribute_bytes = match.group(1), match.group(2)
    namespaces: list[bytes] = []
    attributes: list[tuple[tuple[str, str], bytes]] = []
    nsmap = element.nsmap
    for token in _ATTRIBUTE.finditer(attribute_bytes):
        name = token.group(1).decode()
        text = token.group(0)[1:]
        if name == "xmlns" or name.startswith("xmlns:"):
            namespaces.append(text)
            continue
        prefix, _, local = name.rpartition(":")
        uri = XML if prefix == "xml" else (nsmap.get(prefix) or "") if prefix else ""
        attributes.append(((uri, local), text))
    for local, value in extra.items():
        attributes.append(((XML, local), f'xml:{local}="{escape_attribute(value)}"'.encode()))
    attributes.sort(key=lambda item: item[0])
    parts = [b"<" + qname, *(b" " + n for n in namespaces), *(b" " + a for _, a in attributes)]
    return b"".join(parts) + b">" + out[match.end() :]


def escape_attribute(value: str) -> str:
    """An attribute value escaped as canonical XML writes it."""
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace('"', "&quot;")
        .replace("\t", "&#x9;")
        .replace("\n", "&#xA;")
        .replace("\r", "&#xD;")
    )


def _qname(element: etree._Element) -> bytes:
    local = element.tag.rpartition("}")[2]
    return (f"{element.prefix}:{local}" if element.prefix else local).encode()


def exclude_first_child(
    out: bytes, element: etree._Element, child: etree._Element, *, with_comments: bool = False
) -> bytes:
    """Remove ``child`` (the first child element) from ``element``'s canonical bytes.

    Text and attribute values cannot contain a raw ``<``, so the child starts at the first
    ``<`` after the apex start tag and ends at the first matching end tag, provided no
    processing instruction (or comment, when kept) precedes or lives inside it and no
    descendant shares its qualified name. SOAP forbids processing instructions anyway.
    """
    if child.getparent() is not element:
        raise ValueError("exclude must be a child of the canonicalized element")
    unsafe = (
        (etree._ProcessingInstruction, etree._Comment)
        if with_comments
        else (etree._ProcessingInstruction,)
    )
    preceding = list(child.itersiblings(preceding=True))
    if any(isinstance(node.tag, str) for node in preceding):
        raise ValueError("exclude must be the first child element")
    if any(isinstance(node, unsafe) for node in preceding):
        raise SignatureError(
            Reason.MALFORMED, "processing instructions before ds:Signature are not accepted"
        )
    qname = _qname(child)
    local = child.tag.rpartition("}")[2]
    # What could make the child's canonical end tag ambiguous: processing instructions
    # (and comments, when kept), and descendants with the child's local name.
    kinds: tuple[Any, ...] = (etree.PI, etree.Comment) if with_comments else (etree.PI,)
    for node in child.iter(*kinds, "{*}" + local):
        if node is child:
            continue
        if isinstance(node, unsafe):
            raise SignatureError(
                Reason.MALFORMED, "processing instructions inside ds:Signature are not accepted"
            )
        if isinstance(node.tag, str) and node.prefix == child.prefix:
            raise SignatureError(
                Reason.MALFORMED, "an element inside ds:Signature repeats its qualified name"
            )
    head = _START_TAG.match(out)
    if head is None:  # pragma: no cover
        raise SignatureError(Reason.MALFORMED, "cannot read the canonical start tag")
    start = out.find(b"<", head.end())
    opening = b"<" + qname
    if start < 0 or not out.startswith(opening, start) or out[start + len(opening)] not in b" >":
        raise SignatureError(Reason.MALFORMED, "cannot locate ds:Signature in the signed element")
    closing = b"</" + qname + b">"
    end = out.find(closing, start)
    if end < 0:  # pragma: no cover - well-formed output always closes it
        raise SignatureError(Reason.MALFORMED, "cannot locate the end of ds:Signature")
    view = memoryview(out)
    return b"".join((view[:start], view[end + len(closing) :]))  # one copy of the bytes
