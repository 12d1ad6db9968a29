"""Step 4 of the request path: XSD validation with the schemas of the selected format bundle."""

from __future__ import annotations

import re

from lxml import etree

from gateway.errors import HeaderInvalid, SchemaInvalid
from gateway.formats import Bundle
from gateway.namespaces import BASE, qname
from gateway.registry import Service

_VERSION = qname(BASE, "version")


def validate(bundle: Bundle, service: Service, element: etree._Element) -> None:
    """Validate the operation element with the bundle's compiled schema of the service."""
    schema = bundle.schemas[service.name]
    # lxml XMLSchema objects are not safe to share between threads while validating.
    with bundle.lock:
        ok = schema.validate(element)
        log = schema.error_log
    if not ok:
        raise SchemaInvalid(_explain(log))


def validate_header(bundle: Bundle, service: Service, header: etree._Element) -> None:
    """Validate base:RequestHeader with the base schema the service's schema imports: a
    malformed Date or GUID anywhere in it is refused (FMT001307), not read leniently."""
    schema = bundle.schemas[service.name]
    with bundle.lock:
        ok = schema.validate(header)
        log = schema.error_log
    if not ok:
        raise HeaderInvalid(_explain(log).replace("The packet", "RequestHeader", 1))


_CLARK = re.compile(r"\{[^}]*\}")
_DECIMAL_COMMA = re.compile(r"'-?\d+,\d+'")


def _explain(log: etree._ListErrorLog) -> str:
    """A readable summary of the first schema errors (local names, hints for common slips)."""
    messages = []
    for entry in list(log)[:5]:
        message = _CLARK.sub("", entry.message)
        if _DECIMAL_COMMA.search(message):
            message += " Decimal numbers use a point, not a comma (e.g. 12.5)."
        messages.append(f"line {entry.line}: {message}")
    return "The packet does not match the format: " + " ".join(messages)


def request_version(element: etree._Element) -> str | None:
    """The format version of a request element: base:version, or an unprefixed version."""
    return element.get(_VERSION) or element.get("version")
