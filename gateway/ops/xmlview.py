"""The raw packet as the console shows it: pretty-printed, each ``ds:Signature`` folded away.

The stored bytes stay the record (``/raw`` serves them untouched); this is a reading aid. The
packet is parsed with the hardened parser; what does not parse is shown as it is.
"""

from __future__ import annotations

import copy
import re
import secrets
from dataclasses import dataclass

from lxml import etree

from gateway.errors import GatewayError
from gateway.namespaces import DS
from gateway.xmlparse import parse_xml


@dataclass(frozen=True)
class Segment:
    """A run of pretty-printed XML, or (``folded``) a signature shown only when opened."""

    text: str
    folded: bool = False
    summary: str = ""
    #: the folded element's indentation, shown before its summary
    indent: str = ""


def _strip_blank(root: etree._Element) -> None:
    for el in root.iter():
        if len(el) and el.text is not None and not el.text.strip():
            el.text = None
        if el.tail is not None and not el.tail.strip():
            el.tail = None


def _summary(signature: etree._Element) -> str:
    method = signature.find(f"{{{DS}}}SignedInfo/{{{DS}}}SignatureMethod")
    algorithm = (method.get("Algorithm") or "").rsplit("#", 1)[-1] if method is not None else ""
    references = len(signature.findall(f"{{{DS}}}SignedInfo/{{{DS}}}Reference"))
    xades = any(
        etree.QName(el).localname == "QualifyingProperties" for el in signature.iter("{*}*")
    )
    facts = [algorithm or "unknown algorithm", f"{references} reference(s)"]
    if xades:
        facts.append("XAdES")
    return f"<ds:Signature> folded: {', '.join(facts)}"


def pretty_segments(raw: bytes) -> list[Segment] | None:
    """Segments of the pretty-printed packet, or None when it does not parse."""
    try:
        root = parse_xml(raw)
    except (GatewayError, ValueError):
        return None
    _strip_blank(root)
    token = secrets.token_hex(8)  # a packet cannot forge the fold markers
    folded: list[tuple[str, str]] = []
    for i, signature in enumerate(list(root.iter(f"{{{DS}}}Signature"))):
        parent = signature.getparent()
        if parent is None:
            continue
        shown = copy.deepcopy(signature)
        etree.cleanup_namespaces(shown)  # only the declarations the signature uses
        etree.indent(shown, space="  ")
        folded.append(
            (etree.tostring(shown, encoding="unicode", with_tail=False), _summary(signature))
        )
        marker = etree.Comment(f"fold-{token}-{i}")
        marker.tail = signature.tail
        parent.replace(signature, marker)
    etree.indent(root, space="  ")
    text = etree.tostring(root, encoding="unicode")
    segments: list[Segment] = []
    pattern = re.compile(rf"^([ \t]*)<!--fold-{token}-(\d+)-->\n?", re.MULTILINE)
    position = 0
    for found in pattern.finditer(text):
        if found.start() > position:
            segments.append(Segment(text[position : found.start()]))
        indent, index = found.group(1), int(found.group(2))
        body, summary = folded[index]
        indented = "\n".join(indent + line for line in body.splitlines())
        segments.append(Segment(indented + "\n", folded=True, summary=summary, indent=indent))
        position = found.end()
    if position < len(text):
        segments.append(Segment(text[position:]))
    return segments
