"""Hypothesis strategies that build random instances of an XSD element (with xmlschema).

Every optional element, choice branch and occurrence count is a drawn decision, and every
simple value is drawn within the type's facets, so the instances cover what a client
generated from the schema may send. Signatures (ds:*) are never generated.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import xmlschema
from hypothesis import strategies as st
from lxml import etree
from xmlschema.validators import XsdAnyElement, XsdElement, XsdGroup

XSD = "{http://www.w3.org/2001/XMLSchema}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"
SAMPLE_GUID = "0a1b2c3d-0000-4000-8000-000000000001"
MAX_REPEAT = 2  # extra occurrences beyond minOccurs
MAX_DEPTH = 14
ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
TEXT = st.characters(whitelist_categories=("Lu", "Ll", "Nd"), max_codepoint=0x44F)

INTEGER_BOUNDS = {
    "byte": (-128, 127),
    "short": (-32768, 32767),
    "int": (-(2**31), 2**31 - 1),
    "long": (-(2**63), 2**63 - 1),
    "unsignedByte": (0, 255),
    "unsignedShort": (0, 65535),
    "unsignedInt": (0, 2**32 - 1),
    "unsignedLong": (0, 2**64 - 1),
    "nonNegativeInteger": (0, None),
    "positiveInteger": (1, None),
    "nonPositiveInteger": (None, 0),
    "negativeInteger": (None, -1),
    "integer": (None, None),
}


def _chain(simple: Any) -> list[Any]:
    """The simple type and its restriction bases, most derived first."""
    chain = []
    while simple is not None and simple.is_simple():
        chain.append(simple)
        base = getattr(simple, "base_type", None)
        if base is None or base is simple:
            break
        simple = base
    return chain


def _facet(chain: list[Any], name: str) -> Any:
    for t in chain:
        facet = getattr(t, "facets", {}).get(f"{XSD}{name}")
        if facet is not None:
            return getattr(facet, "value", facet)
    return None


def _patterns(chain: list[Any]) -> list[str]:
    patterns = []
    for t in chain:
        if getattr(t, "patterns", None):
            patterns.extend(t.patterns.regexps)
    return patterns


def _builtin(chain: list[Any]) -> str:
    for t in chain:
        if t.name and t.name.startswith(XSD):
            local = t.name[len(XSD) :]
            if local in INTEGER_BOUNDS or local in {
                "boolean",
                "date",
                "dateTime",
                "decimal",
                "string",
                "base64Binary",
                "anyURI",
                "time",
                "gYear",
                "gYearMonth",
                "double",
                "float",
                "normalizedString",
                "token",
                "hexBinary",
                "duration",
            }:
                return local
    primitive = getattr(chain[-1], "primitive_type", None) if chain else None
    return primitive.local_name if primitive is not None and primitive.name else "string"


def _xsd_regex(pattern: str) -> str:
    # XSD patterns are anchored and use \d for decimal digits; keep the values ASCII.
    return pattern.replace("\\d", "[0-9]")


def simple_values(simple: Any) -> st.SearchStrategy[str]:
    """Lexical values of a simple type, within its facets."""
    if getattr(simple, "member_types", None):  # union
        return st.one_of([simple_values(m) for m in simple.member_types])
    if getattr(simple, "item_type", None) is not None:  # list
        return st.lists(simple_values(simple.item_type), min_size=1, max_size=3).map(" ".join)
    chain = _chain(simple)
    enumeration = next((t.enumeration for t in chain if getattr(t, "enumeration", None)), None)
    if enumeration:
        return st.sampled_from(
            [str(v).lower() if isinstance(v, bool) else str(v) for v in enumeration]
        )
    patterns = _patterns(chain)
    builtin = _builtin(chain)
    if (
        patterns
        and all(re.fullmatch(_xsd_regex(p), SAMPLE_GUID) for p in patterns)
        and "{8}" in patterns[0]
    ):
        # GUIDs: distinct random values (keys like TransportGUID must be unique in a packet)
        return st.uuids().map(str)
    if patterns:
        first, rest = patterns[0], [re.compile(_xsd_regex(p)) for p in patterns[1:]]
        length = _facet(chain, "length")
        min_len, max_len = _facet(chain, "minLength"), _facet(chain, "maxLength")
        strategy = st.from_regex(_xsd_regex(first), fullmatch=True, alphabet=ASCII)

        def fits(value: str) -> bool:
            if length is not None and len(value) != length:
                return False
            if min_len is not None and len(value) < min_len:
                return False
            if max_len is not None and len(value) > max_len:
                return False
            return all(r.fullmatch(value) for r in rest)

        return strategy.filter(fits)
    if builtin in INTEGER_BOUNDS or (builtin == "decimal" and _facet(chain, "fractionDigits") == 0):
        low, high = INTEGER_BOUNDS.get(builtin, (None, None))
        for name, shift in (("minInclusive", 0), ("minExclusive", 1)):
            v = _facet(chain, name)
            if v is not None:
                low = max(int(v) + shift, low if low is not None else int(v) + shift)
        for name, shift in (("maxInclusive", 0), ("maxExclusive", -1)):
            v = _facet(chain, name)
            if v is not None:
                high = min(int(v) + shift, high if high is not None else int(v) + shift)
        total = _facet(chain, "totalDigits")
        if total is not None:
            high = min(high if high is not None else 10**total - 1, 10**total - 1)
            low = max(low if low is not None else -(10**total - 1), -(10**total - 1))
        low = low if low is not None else -(10**6)
        high = high if high is not None else 10**6
        high = min(high, max(low, 0) + 10**6)
        return st.integers(low, high).map(str)
    if builtin in ("decimal", "double", "float"):
        fraction = _facet(chain, "fractionDigits")
        places = min(fraction if fraction is not None else 2, 4)
        total = _facet(chain, "totalDigits")
        low, high = _facet(chain, "minInclusive"), _facet(chain, "maxInclusive")
        ex_low, ex_high = _facet(chain, "minExclusive"), _facet(chain, "maxExclusive")
        low = (
            Decimal(str(low))
            if low is not None
            else (
                Decimal(str(ex_low)) + Decimal(1) / 10**places if ex_low is not None else Decimal(0)
            )
        )
        cap = Decimal(10) ** min((total - places) if total else 6, 6) - 1
        high = (
            Decimal(str(high))
            if high is not None
            else (Decimal(str(ex_high)) - Decimal(1) / 10**places if ex_high is not None else cap)
        )
        high = min(high, low + cap)
        return st.decimals(
            min_value=low, max_value=high, places=places, allow_nan=False, allow_infinity=False
        ).map(lambda d: format(d, "f"))
    if builtin == "boolean":
        return st.sampled_from(["true", "false"])
    if builtin == "date":
        return st.dates(date(2000, 1, 1), date(2030, 12, 31)).map(date.isoformat)
    if builtin == "dateTime":
        return st.datetimes(
            datetime(2000, 1, 1), datetime(2030, 12, 31), timezones=st.just(UTC)
        ).map(lambda d: d.replace(microsecond=0).isoformat())
    if builtin == "time":
        return st.just("12:30:00")
    if builtin == "gYear":
        return st.integers(1900, 2030).map(str)
    if builtin == "gYearMonth":
        return st.tuples(st.integers(1900, 2030), st.integers(1, 12)).map(
            lambda t: f"{t[0]}-{t[1]:02d}"
        )
    if builtin == "base64Binary":
        return st.binary(min_size=1, max_size=24).map(lambda b: base64.b64encode(b).decode())
    if builtin == "hexBinary":
        return st.binary(min_size=1, max_size=16).map(lambda b: b.hex())
    if builtin == "anyURI":
        return st.just("http://example.org/doc")
    if builtin == "duration":
        return st.just("P1D")
    length = _facet(chain, "length")
    min_len = length if length is not None else (_facet(chain, "minLength") or 1)
    max_len = (
        length if length is not None else min(_facet(chain, "maxLength") or 24, max(min_len, 24))
    )
    return st.text(TEXT, min_size=min_len, max_size=max_len).filter(
        lambda s: s.strip() == s and s != ""
    )


class InstanceBuilder:
    """Draws an lxml element for an xmlschema element declaration."""

    def __init__(self, schema: xmlschema.XMLSchema) -> None:
        self.schema = schema

    def element(self, draw: Any, decl: XsdElement, depth: int = 0) -> etree._Element:
        element = etree.Element(decl.name)
        xsd_type = decl.type
        for name, attribute in (
            xsd_type.attributes.items() if hasattr(xsd_type, "attributes") else []
        ):
            if name is None:
                continue
            if attribute.use == "prohibited":
                continue
            if attribute.use != "required" and not draw(st.booleans()):
                continue
            value = (
                attribute.fixed
                if attribute.fixed is not None
                else draw(simple_values(attribute.type))
            )
            element.set(
                attribute.name, str(value).lower() if isinstance(value, bool) else str(value)
            )
        if decl.fixed is not None:
            element.text = (
                str(decl.fixed).lower() if isinstance(decl.fixed, bool) else str(decl.fixed)
            )
            return element
        if xsd_type.is_simple():
            element.text = draw(simple_values(xsd_type))
        elif xsd_type.has_simple_content():
            element.text = draw(simple_values(xsd_type.content))
        elif xsd_type.content is not None and hasattr(xsd_type.content, "model"):
            self.group(draw, xsd_type.content, element, depth + 1)
        return element

    def _count(self, draw: Any, particle: Any, depth: int) -> int:
        low = particle.min_occurs
        high = particle.max_occurs if particle.max_occurs is not None else low + MAX_REPEAT
        high = min(high, low + MAX_REPEAT)
        if depth > MAX_DEPTH:
            high = low
        return draw(st.integers(low, high))

    def group(self, draw: Any, group: XsdGroup, parent: etree._Element, depth: int) -> None:
        for _ in range(self._count(draw, group, depth)):
            if group.model == "choice":
                options = [
                    p
                    for p in group
                    if not (isinstance(p, XsdElement) and p.name and p.name.startswith(DS))
                ]
                if not options:
                    continue
                self.particle(draw, draw(st.sampled_from(options)), parent, depth, once=True)
            else:
                for particle in group:
                    self.particle(draw, particle, parent, depth)

    def particle(
        self, draw: Any, particle: Any, parent: etree._Element, depth: int, *, once: bool = False
    ) -> None:
        if isinstance(particle, XsdGroup):
            if once:
                # a chosen group branch must appear at least once
                for _ in range(max(1, self._count(draw, particle, depth))):
                    self._group_once(draw, particle, parent, depth)
            else:
                self.group(draw, particle, parent, depth)
        elif isinstance(particle, XsdAnyElement):
            return  # wildcards: nothing (clients send the declared elements)
        elif isinstance(particle, XsdElement):
            if particle.name and particle.name.startswith(DS):
                return  # signatures are made by signing, not generated
            count = (
                max(1, self._count(draw, particle, depth))
                if once
                else self._count(draw, particle, depth)
            )
            for _ in range(count):
                parent.append(self.element(draw, particle, depth))

    def _group_once(self, draw: Any, group: XsdGroup, parent: etree._Element, depth: int) -> None:
        if group.model == "choice":
            options = list(group)
            self.particle(draw, draw(st.sampled_from(options)), parent, depth, once=True)
        else:
            for particle in group:
                self.particle(draw, particle, parent, depth)


def instances(schema: xmlschema.XMLSchema, element_name: str) -> st.SearchStrategy[etree._Element]:
    """Random instances of a global element of ``schema``."""
    decl = schema.elements[element_name]
    builder = InstanceBuilder(schema)
    return st.composite(lambda draw: builder.element(draw, decl))()
