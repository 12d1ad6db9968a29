"""The result writer's text escaping (gateway/imports/answer.py): what XML needs escaped is,
what XML 1.0 cannot carry becomes U+FFFD, the rest is left as it is."""

from __future__ import annotations

import itertools
import re
from xml.sax.saxutils import escape

from lxml import etree

from gateway.imports.answer import _text

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
CHARACTERS = [
    *"aZ09-:. ",
    *"&<>\"'",
    "\t",
    "\n",
    "\r",
    "\x00",
    "\x08",
    "\x0b",
    "\x1f",
    "\x7f",
    "\u00a0",
    "\u0436",
    "\u2028",
    "\ud800",
    "\udfff",
    "\ufffe",
    "\uffff",
    "\U0001f600",
]


def _expected(value: str) -> str:
    return _NOT_XML.sub("\ufffd", escape(value, {'"': "&quot;"}))


def test_text_is_escaped_for_xml() -> None:
    for length in (0, 1, 2):
        for chars in itertools.product(CHARACTERS, repeat=length):
            value = "".join(chars)
            assert _text(value) == _expected(value), repr(value)
    assert _text("d55af9f4-978f-4c0d-9788-795f87bdd308") == "d55af9f4-978f-4c0d-9788-795f87bdd308"


def test_escaped_text_reads_back_as_sent() -> None:
    value = 'a & b < c > d "e" \u0436'
    element = etree.fromstring(f'<r a="{_text(value)}">{_text(value)}</r>')
    assert element.text == value and element.get("a") == value
