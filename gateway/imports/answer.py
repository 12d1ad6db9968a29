"""The one result writer of the imports: an item's ImportResult / CommonResult.

Every import answers one element per item, in the order the items were read:

    success  GUID?, TransportGUID, UniqueNumber?, UpdateDate, then the operation's detail
             (e.g. ImportAccount, importMeteringDevice)
    refusal  TransportGUID, Error {ErrorCode, Description}

An :class:`Answer` says where those elements go: the result tag and namespace, and for the
house-management imports the ``ImportResult`` (with ``base:version``) that wraps them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lxml import etree

from gateway.handlers.base import HandlerResult, ItemError, format_value
from gateway.namespaces import BASE, qname
from gateway.trace import Tally
from gateway.xmlparse import parse_xml

if TYPE_CHECKING:
    from gateway.imports.pipeline import Item


@dataclass(frozen=True)
class Detail:
    """An element the operation adds to a successful result: ``name`` in ``ns`` holding
    ``fields``, each (namespace, name, text)."""

    ns: str
    name: str
    fields: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class Done:
    """What a successful item answers."""

    guid: str | None
    unique_number: str | None = None
    detail: Detail | None = None


@dataclass(frozen=True)
class Refused:
    error: ItemError


@dataclass(frozen=True)
class Previous:
    """An item the first run of a replayed packet applied: its result element, as answered."""

    element: etree._Element
    done: Done


@dataclass
class PreviousResults:
    """The successful items of a packet's last processed run, by TransportGUID."""

    by_transport_guid: dict[str, list[Previous]] = field(default_factory=dict)

    @staticmethod
    def from_xml(result_xml: str | None) -> PreviousResults:
        found: dict[str, list[Previous]] = {}
        if result_xml:
            for transport in parse_xml(result_xml.encode()).iter(qname(BASE, "TransportGUID")):
                result = transport.getparent()
                if result is None or result.find(qname(BASE, "Error")) is not None:
                    continue
                done = Done(
                    guid=result.findtext(qname(BASE, "GUID")),
                    unique_number=result.findtext(qname(BASE, "UniqueNumber")),
                )
                found.setdefault((transport.text or "").strip(), []).append(Previous(result, done))
        return PreviousResults(found)

    def take(self, transport_guid: str) -> Previous | None:
        """The earlier success of the next item with this TransportGUID, if any."""
        earlier = self.by_transport_guid.get(transport_guid)
        return earlier.pop(0) if earlier else None


@dataclass(frozen=True)
class Answer:
    """Where an operation's item results go."""

    ns: str  # namespace of the result elements
    tag: str = "ImportResult"  # CommonResult inside a wrapping ImportResult
    #: house management: the results are wrapped in one ``ImportResult`` with this version
    wrapper_version: str | None = None
    nsmap: Mapping[str, str] = field(default_factory=dict)

    def build(
        self,
        items: Sequence[Item[Any]],
        outcomes: Sequence[Done | Refused | Previous],
        now: datetime,
    ) -> HandlerResult:
        """The results, written as the text they are stored as (``gateway.state.pack_results``):
        one string per element, joined once, instead of an element per field to serialise."""
        prefixes = _Prefixes(self.nsmap)
        result_tag = prefixes.tag(self.ns, self.tag)
        update_date = f"<{prefixes.tag(BASE, 'UpdateDate')}>{_text(format_value(now))}</"
        update_date += f"{prefixes.tag(BASE, 'UpdateDate')}>"
        guid, transport, unique_number, error, code, description = (
            prefixes.tag(BASE, name)
            for name in (
                "GUID",
                "TransportGUID",
                "UniqueNumber",
                "Error",
                "ErrorCode",
                "Description",
            )
        )
        refused: Counter[str] = Counter()
        parts: list[str] = []
        add = parts.append
        for item, outcome in zip(items, outcomes, strict=True):
            if isinstance(outcome, Previous):
                add(etree.tostring(outcome.element, encoding="unicode", with_tail=False))
                continue
            add(f"<{result_tag}>")
            if isinstance(outcome, Refused):
                refused[outcome.error.code] += 1
                add(
                    f"<{transport}>{_text(item.transport_guid)}</{transport}><{error}>"
                    f"<{code}>{_text(str(outcome.error.code))}</{code}>"
                    f"<{description}>{_text(outcome.error.description)}</{description}>"
                    f"</{error}></{result_tag}>"
                )
                continue
            if outcome.guid:
                add(f"<{guid}>{_text(outcome.guid)}</{guid}>")
            add(f"<{transport}>{_text(item.transport_guid)}</{transport}>")
            if outcome.unique_number:
                add(f"<{unique_number}>{_text(outcome.unique_number)}</{unique_number}>")
            add(update_date)
            if outcome.detail is not None:
                detail = prefixes.tag(outcome.detail.ns, outcome.detail.name)
                add(f"<{detail}>")
                for ns, name, value in outcome.detail.fields:
                    field_tag = prefixes.tag(ns, name)
                    add(f"<{field_tag}>{_text(value)}</{field_tag}>")
                add(f"</{detail}>")
            add(f"</{result_tag}>")
        body = "".join(parts)
        if self.wrapper_version is not None:
            wrapper = prefixes.tag(self.ns, "ImportResult")
            version = prefixes.tag(BASE, "version")
            body = (
                f'<{wrapper}{prefixes.declarations()} {version}="{_text(self.wrapper_version)}">'
                f"{body}</{wrapper}>"
            )
            packed = f"<{_WRAPPER}>{body}</{_WRAPPER}>"
        else:
            packed = f"<{_WRAPPER}{prefixes.declarations()}>{body}</{_WRAPPER}>"
        counted = Tally(len(outcomes), dict(refused), sum(refused.values()))
        return HandlerResult(tally=counted, packed=packed)


class _Prefixes:
    """Prefixes of the namespaces a result uses: the answer's own (``Answer.nsmap``), ``base``,
    then ``ns0``, ``ns1``… for any other a detail brings."""

    def __init__(self, nsmap: Mapping[str, str]) -> None:
        self.by_ns: dict[str, str] = {ns: prefix for prefix, ns in nsmap.items() if prefix}
        self.by_ns.setdefault(BASE, "base" if "base" not in nsmap else f"ns{len(self.by_ns)}")
        self._tags: dict[tuple[str, str], str] = {}

    def tag(self, ns: str, name: str) -> str:
        found = self._tags.get((ns, name))
        if found is None:
            prefix = self.by_ns.get(ns)
            if prefix is None:
                prefix = self.by_ns[ns] = f"ns{len(self.by_ns)}"
            found = self._tags[(ns, name)] = f"{prefix}:{name}"
        return found

    def declarations(self) -> str:
        """The namespace declarations of every prefix used (call after the last ``tag``)."""
        return "".join(f' xmlns:{prefix}="{_text(ns)}"' for ns, prefix in self.by_ns.items())


#: characters XML 1.0 cannot carry (a description quoting a value could hold one)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: str) -> str:
    """Text (or an attribute value in double quotes) escaped for XML."""
    if (
        value.isprintable()  # no control character, surrogate or non-character
        and "&" not in value
        and "<" not in value
        and ">" not in value
        and '"' not in value
    ):
        return value  # GUIDs, numbers, dates: nothing to escape
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if '"' in value:
        value = value.replace('"', "&quot;")
    return _NOT_XML.sub("\ufffd", value)


#: the wrapper of a stored result (gateway.state.pack_results)
_WRAPPER = "results"
