"""The one hardened XML parse function of the gateway.

No DTD, no entity expansion, no network access, no huge trees: a packet that needs any of
these is refused as malformed (FMT001300).

Comments and processing instructions are dropped while parsing (CDATA sections and character
references become plain text). The signature digests the canonical form without comments, so
a comment inside a value (``<GUID>5b4a<!-- -->9c2e…</GUID>``) would otherwise split the text
that handlers read from the text that was signed; without them, the tree every step reads
(validation, signature, handlers, the worker re-reading the stored bytes) is the one digested.

Size limits (``XmlLimits``) bound the memory a packet can make the process hold: a body within
the size limit that is nothing but empty elements builds ~35 bytes of tree per byte. Cheap
byte counts prove most packets within the element and attribute limits before parsing (every
element takes at least 4 bytes and starts with a ``<`` not followed by ``/``; every attribute
takes at least 5 bytes and has a ``=``: a packet short enough needs no count at all); a packet
they cannot prove is parsed incrementally and refused as soon as it crosses a limit, before
the rest of its tree is built.
"""

from __future__ import annotations

import codecs
import re
import threading
from dataclasses import dataclass
from typing import Any

from lxml import etree

from gateway.errors import MalformedXml, TooComplex

_local = threading.local()
_FEED = 64 * 1024
_DECLARED = re.compile(
    rb"""^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']"""
)
#: A start tag longer than this is refused before it is parsed (libxml2 builds a whole tag
#: at once, so a tag of a million attributes would be built before it could be counted).
MAX_TAG_BYTES = 64 * 1024
_LONG_TAG = re.compile(rb"<[A-Za-z_:\x80-\xff][^<>]{%d}" % MAX_TAG_BYTES)


@dataclass(frozen=True)
class XmlLimits:
    """What one document may contain; generous for the largest legitimate packets (a
    1500-flat house is ~12 000 elements, 1000 readings ~10 000, depth < 20)."""

    max_elements: int = 150_000
    max_depth: int = 64
    max_attributes: int = 20_000  # in the whole document (GIS formats use few)
    max_text_bytes: int = 1_000_000  # one text value or attribute value (characters)


DEFAULT_LIMITS = XmlLimits()

_OPTIONS: dict[str, Any] = dict(
    resolve_entities=False,
    no_network=True,
    dtd_validation=False,
    load_dtd=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
    strip_cdata=True,
    collect_ids=False,
)


def _parser() -> etree.XMLParser:
    # lxml parsers are not thread-safe; keep one per thread.
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.XMLParser(**_OPTIONS)
    return parser


def parse_xml(data: bytes, limits: XmlLimits = DEFAULT_LIMITS) -> etree._Element:
    """Parse bytes into an element tree, refusing DTDs, entities and oversized documents."""
    if not data or not data.strip():
        raise MalformedXml("The request body is empty.")
    _check_encoding(data)
    try:
        if _provably_within(data, limits):
            root = etree.fromstring(data, _parser())
        else:
            root = _parse_counting(data, limits)
    except etree.XMLSyntaxError as exc:
        raise MalformedXml(f"The packet is not well-formed XML: {exc}") from None
    doc = root.getroottree()
    if doc.docinfo.doctype or doc.docinfo.internalDTD is not None:  # type: ignore[union-attr]
        raise MalformedXml("Document type declarations (DTD) are not allowed.")
    if b"&" in data:  # an entity reference node needs one in the bytes
        for node in root.iter(etree.Entity):
            raise MalformedXml(f"Entity references are not allowed (&{node.name};).")  # type: ignore[union-attr]
    _check_shape(root, data, limits)
    return root


#: The fewest bytes an element takes (``<a/>``) and an attribute (`` a=""``).
_ELEMENT_BYTES = 4
_ATTRIBUTE_BYTES = 5


def _provably_within(data: bytes, limits: XmlLimits) -> bool:
    """Upper bounds from the length, else from byte counts (C speed): elements ≤ '<' not
    followed by '/', attributes ≤ '='."""
    size = len(data)
    if size > _ELEMENT_BYTES * limits.max_elements:
        elements = data.count(b"<") - data.count(b"</")
        if elements > limits.max_elements:
            return False
    return (
        size <= _ATTRIBUTE_BYTES * limits.max_attributes
        or data.count(b"=") <= limits.max_attributes
    )


#: Encodings that can also write ``<``, ``&`` … otherwise than as their ASCII bytes (UTF-7's
#: ``+ADw-`` is a ``<`` that no byte count sees).
_SHIFTING = frozenset({"utf-7"})


def _check_encoding(data: bytes) -> None:
    """The byte counts hold for UTF-8 and the encodings that write ``<``, ``/``, ``=`` and
    ``>`` as ASCII and only so; UTF-16/32, UTF-7 and EBCDIC packets are refused (GIS ZhKKh
    sends UTF-8)."""
    if b"\x00" in data:
        raise MalformedXml("The packet must be encoded in UTF-8 (it contains NUL bytes).")
    declared = _DECLARED.match(data[:256])
    if declared is not None:
        name = declared.group(1).decode("ascii")
        try:
            codec = codecs.lookup(name).name
            ascii_compatible = codec not in _SHIFTING and "</=>".encode(codec) == b"</=>"
        except (LookupError, UnicodeError):
            ascii_compatible = False
        if not ascii_compatible:
            raise MalformedXml(f"The packet must be encoded in UTF-8, not {name}.")
    elif not data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        raise MalformedXml(
            "The packet is not well-formed XML: it must start with '<' and be encoded in UTF-8."
        )


def _parse_counting(data: bytes, limits: XmlLimits) -> etree._Element:
    """Parse in chunks, counting elements and attributes as they are built; stop at a limit."""
    if _LONG_TAG.search(data) is not None:
        raise TooComplex(f"The packet has a start tag longer than {MAX_TAG_BYTES} bytes.")
    parser = etree.XMLPullParser(events=("start",), **_OPTIONS)
    elements = attributes = 0
    for offset in range(0, len(data), _FEED):
        parser.feed(data[offset : offset + _FEED])
        for _event, element in parser.read_events():
            elements += 1
            if elements > limits.max_elements:
                raise TooComplex(
                    f"The packet has more than {limits.max_elements} elements "
                    "(refused while parsing)."
                )
            attributes += len(element.attrib)  # type: ignore[union-attr]
            if attributes > limits.max_attributes:
                raise TooComplex(
                    f"The packet has more than {limits.max_attributes} attributes "
                    "(refused while parsing)."
                )
    return parser.close()


_DEEPER = etree.XPath("boolean(/" + "*/" * DEFAULT_LIMITS.max_depth + "*)")


def _check_shape(root: etree._Element, data: bytes, limits: XmlLimits) -> None:
    """Depth (libxml2 itself stops at 256 while parsing) and the length of values."""
    deeper = (
        _DEEPER
        if limits.max_depth == DEFAULT_LIMITS.max_depth
        else etree.XPath("boolean(/" + "*/" * limits.max_depth + "*)")
    )
    if deeper(root):
        raise TooComplex(f"The packet is nested deeper than {limits.max_depth} elements.")
    if len(data) > limits.max_text_bytes:
        n = limits.max_text_bytes
        if root.xpath(f"boolean(//text()[string-length() > {n}] | //@*[string-length() > {n}])"):
            raise TooComplex(f"The packet has a value longer than {n} characters.")
