"""The one result writer of the imports: an item's ImportResult / CommonResult.

Every import answers one element per item, in the order the items were read:

    success  GUID?, TransportGUID, UniqueNumber?, UpdateDate, then the operation's detail
             (e.g. ImportAccount, importMeteringDevice)
    refusal  TransportGUID, Error {ErrorCode, Description}

An :class:`Answer` says where those elements go: the result tag and namespace, and for the
house-management imports the ``ImportResult`` (with ``base:version``) that wraps them.
"""

from __future__ import annotations

import copy
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
        if self.wrapper_version is not None:
            parent = etree.Element(qname(self.ns, "ImportResult"), nsmap=dict(self.nsmap))
            parent.set(qname(BASE, "version"), self.wrapper_version)
        else:
            parent = etree.Element("results")
        tag = qname(self.ns, self.tag)
        update_date = format_value(now)
        refused: Counter[str] = Counter()
        for item, outcome in zip(items, outcomes, strict=True):
            if isinstance(outcome, Previous):
                parent.append(copy.deepcopy(outcome.element))
                continue
            result = SubElement(parent, tag)
            if isinstance(outcome, Refused):
                refused[outcome.error.code] += 1
                SubElement(result, _TRANSPORT_GUID).text = item.transport_guid
                error = SubElement(result, _ERROR)
                SubElement(error, _ERROR_CODE).text = str(outcome.error.code)
                SubElement(error, _DESCRIPTION).text = outcome.error.description
                continue
            if outcome.guid:
                SubElement(result, _GUID).text = outcome.guid
            SubElement(result, _TRANSPORT_GUID).text = item.transport_guid
            if outcome.unique_number:
                SubElement(result, _UNIQUE_NUMBER).text = outcome.unique_number
            SubElement(result, _UPDATE_DATE).text = update_date
            if outcome.detail is not None:
                detail = SubElement(result, qname(outcome.detail.ns, outcome.detail.name))
                for ns, name, value in outcome.detail.fields:
                    SubElement(detail, qname(ns, name)).text = value
        elements = [parent] if self.wrapper_version is not None else list(parent)
        counted = Tally(len(outcomes), dict(refused), sum(refused.values()))
        return HandlerResult(elements, counted)


SubElement = etree.SubElement
_GUID = qname(BASE, "GUID")
_TRANSPORT_GUID = qname(BASE, "TransportGUID")
_UNIQUE_NUMBER = qname(BASE, "UniqueNumber")
_UPDATE_DATE = qname(BASE, "UpdateDate")
_ERROR = qname(BASE, "Error")
_ERROR_CODE = qname(BASE, "ErrorCode")
_DESCRIPTION = qname(BASE, "Description")
