"""Rewrites of a packet that keep its meaning for XML but split or disguise its text values:
comments and processing instructions inside text, CDATA sections, character references."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path

from lxml import etree

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DSIG = "{http://www.w3.org/2000/09/xmldsig#}"


def example(operation: str) -> etree._Element:
    """The example operation element of ``operation`` (examples/<service>/<operation>.xml)."""
    (path,) = EXAMPLES.glob(f"*/{operation}.xml")
    return etree.parse(str(path), etree.XMLParser(remove_blank_text=False)).getroot()


def text_leaves(root: etree._Element, *, signature: bool = True) -> Iterator[etree._Element]:
    """Elements with a text value of two characters or more (optionally outside ds:Signature)."""
    for element in root.iter(etree.Element):
        if not signature and any(a.tag == f"{DSIG}Signature" for a in element.iterancestors()):
            continue
        if len(element) == 0 and element.text and len(element.text.strip()) >= 2:
            yield element


def _split_with(make: Callable[[], etree._Element]) -> Callable[[etree._Element], None]:
    def split(element: etree._Element) -> None:
        text = element.text or ""
        cut = len(text) // 2
        element.text = text[:cut]
        node = make()
        node.tail = text[cut:]
        element.append(node)

    return split


split_by_comment = _split_with(lambda: etree.Comment(" injected "))
split_by_pi = _split_with(lambda: etree.ProcessingInstruction("injected", "x"))


def split_by_both(element: etree._Element) -> None:
    """``ab<!-- -->cd<?pi?>ef``: a comment and a processing instruction in one value."""
    text = element.text or ""
    third = len(text) // 3
    element.text = text[:third]
    comment = etree.Comment(" injected ")
    comment.tail = text[third : 2 * third]
    pi = etree.ProcessingInstruction("injected", "x")
    pi.tail = text[2 * third :]
    element.extend([comment, pi])


def as_cdata(element: etree._Element) -> None:
    element.text = etree.CDATA(element.text or "")


def serialize(root: etree._Element) -> bytes:
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def with_character_references(root: etree._Element, *, signature: bool = True) -> bytes:
    """The document with every character of every text value written as ``&#N;``."""
    tree = copy.deepcopy(root)
    values: dict[str, str] = {}
    for n, element in enumerate(text_leaves(tree, signature=signature)):
        token = f"TOKEN{n:06d}X"
        values[token] = element.text or ""
        element.text = token
    data = serialize(tree)
    for token, value in values.items():
        data = data.replace(token.encode(), "".join(f"&#{ord(c)};" for c in value).encode())
    return data


def rewritten(
    root: etree._Element, how: Callable[[etree._Element], None], *, signature: bool = True
) -> bytes:
    """The document with ``how`` applied to every text value."""
    tree = copy.deepcopy(root)
    for element in list(text_leaves(tree, signature=signature)):
        how(element)
    return serialize(tree)


REWRITES: dict[str, Callable[..., bytes]] = {
    "comment": lambda root, **kw: rewritten(root, split_by_comment, **kw),
    "processing-instruction": lambda root, **kw: rewritten(root, split_by_pi, **kw),
    "cdata": lambda root, **kw: rewritten(root, as_cdata, **kw),
    "character-references": with_character_references,
}
