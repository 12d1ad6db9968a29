"""The one hardened XML parse function of the gateway.

No DTD, no entity expansion, no network access, no huge trees: a packet that needs any of
these is refused as malformed (FMT001300).

Comments and processing instructions are dropped while parsing (CDATA sections and character
references become plain text). The signature digests the canonical form without comments, so
a comment inside a value (``<GUID>5b4a<!-- -->9c2e…</GUID>``) would otherwise split the text
that handlers read from the text that was signed; without them, the tree every step reads
(validation, signature, handlers, the worker re-reading the stored bytes) is the one digested.
"""

from __future__ import annotations

import threading

from lxml import etree

from gateway.errors import MalformedXml

_local = threading.local()


def _parser() -> etree.XMLParser:
    # lxml parsers are not thread-safe; keep one per thread.
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
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
        _local.parser = parser
    return parser


def parse_xml(data: bytes) -> etree._Element:
    """Parse bytes into an element tree, refusing DTDs and entities."""
    if not data or not data.strip():
        raise MalformedXml("The request body is empty.")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise MalformedXml(f"The packet is not well-formed XML: {exc}") from None
    doc = root.getroottree()
    if doc.docinfo.doctype or doc.docinfo.internalDTD is not None:
        raise MalformedXml("Document type declarations (DTD) are not allowed.")
    for node in root.iter(etree.Entity):
        raise MalformedXml(f"Entity references are not allowed (&{node.name};).")
    return root
