"""Format bundles: the schema set is a run-time input, not a constant.

A bundle is a directory laid out like the published GIS ZhKKh formats (``lib/``,
``<service>/hcs-<service>-types.xsd``, ``<service>/hcs-<service>-service-async.wsdl``); the
project's own ``xsd/`` + ``wsdl/`` form the default bundle. Several bundles can be loaded side
by side: the request element's ``base:version`` picks the bundle whose schema accepts it.
A service whose folder no loaded published bundle has (a bundle cut down to some services) is
served on the project's own contract, and start-up says so.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from gateway.config import Settings
from gateway.errors import UnsupportedOperation, UnsupportedVersion
from gateway.namespaces import WSDL, WSDL_SOAP, XS, qname
from gateway.registry import Operation, Registry, Service

log = logging.getLogger("gateway.formats")

_DOCUMENTED = re.compile(r"[Вв]ерси[ия][^0-9]{0,20}((?:\d+(?:\.\d+){2,3}[,;\s]*(?:и\s+)?)+)")
_VERSION = re.compile(r"\d+(?:\.\d+){2,3}")


class FormatsError(Exception):
    """A bundle cannot serve the gateway's services (missing files, schemas that do not compile)."""


@dataclass
class Bundle:
    """One format release: where its schemas and WSDLs are, compiled once at start-up."""

    name: str
    xsd_root: Path
    wsdl_root: Path
    published: bool
    schemas: dict[str, etree.XMLSchema] = field(default_factory=dict)
    documents: dict[str, etree._ElementTree] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def xsd(self, service: Service) -> Path:
        return self.xsd_root / service.xsd_file

    def wsdl(self, service: Service) -> Path:
        return self.wsdl_root / service.wsdl_file

    def covers(self, service: Service) -> bool:
        """The bundle has the service's folder (the project's own contract has every one)."""
        return not self.published or self.xsd(service).parent.is_dir()

    def declares(self, service: Service, operation: Operation) -> bool:
        local = operation.request_element.split("}")[1]
        if operation.kind == "state":
            return service.name in self.schemas
        return self._declaration(service, local) is not None

    def _declaration(self, service: Service, local: str) -> etree._Element | None:
        doc = self.documents.get(service.name)
        if doc is None:
            return None
        return doc.getroot().find(f"{{{XS}}}element[@name='{local}']")

    def versions(self, service: Service, operation: Operation) -> tuple[str, ...]:
        """The request versions this bundle accepts: fixed base:version, else documented, else ()."""
        if not self.published:
            return operation.versions
        declaration = self._declaration(service, operation.request_element.split("}")[1])
        if declaration is None:
            return ()
        for attribute in declaration.iter(f"{{{XS}}}attribute"):
            fixed = attribute.get("fixed")
            if attribute.get("ref", "").endswith(":version") and fixed:
                return (fixed,)
        text = " ".join(d.text or "" for d in declaration.iter(f"{{{XS}}}documentation"))
        found = _DOCUMENTED.search(text)
        if found:
            return tuple(dict.fromkeys(_VERSION.findall(found.group(1))))
        return operation.versions


def _compile(bundle: Bundle, services: list[Service]) -> None:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    for service in services:
        if not bundle.covers(service):
            continue
        xsd, wsdl = bundle.xsd(service), bundle.wsdl(service)
        missing = [str(p) for p in (xsd, wsdl) if not p.is_file()]
        if missing:
            raise FormatsError(
                f"format bundle {bundle.name} ({bundle.xsd_root}) lacks service {service.name}: "
                + ", ".join(missing)
            )
        try:
            document = etree.parse(str(xsd), parser)
            bundle.schemas[service.name] = etree.XMLSchema(document)
        except (etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
            raise FormatsError(
                f"format bundle {bundle.name}: {xsd} does not compile: {exc}"
            ) from None
        bundle.documents[service.name] = document


def own_bundle(xsd_dir: Path, wsdl_dir: Path) -> Bundle:
    return Bundle("own", xsd_dir, wsdl_dir, published=False)


def published_bundle(root: Path) -> Bundle:
    """A published bundle directory; named after the version its schemas carry."""
    if not root.is_dir():
        raise FormatsError(f"format bundle directory {root} does not exist")
    versions = []
    for types in sorted(root.glob("*/hcs-*-types.xsd")):
        version = etree.parse(str(types)).getroot().get("version")
        if version:
            versions.append(version)
    name = max(versions, key=_version_key) if versions else root.name
    return Bundle(name, root, root, published=True)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version))


class Formats:
    """All loaded bundles and the choice of schema per (service, operation, version)."""

    def __init__(
        self, bundles: list[Bundle], registry: Registry, fallback: Bundle | None = None
    ) -> None:
        """``fallback`` (the project's own contract) serves the services whose folder no
        bundle has; without one, such a service stops the start-up."""
        if not bundles:
            raise FormatsError("no format bundle configured")
        services = list(registry.services.values())
        for bundle in bundles:
            _compile(bundle, services)
            if not bundle.schemas:
                raise FormatsError(
                    f"format bundle {bundle.name} ({bundle.xsd_root}) has none of the served "
                    f"services: {', '.join(s.name for s in services)}"
                )
        uncovered = [s for s in services if not any(s.name in b.schemas for b in bundles)]
        if uncovered and fallback is None:
            missing = ", ".join(str(bundles[0].xsd(s)) for s in uncovered)
            raise FormatsError(
                f"format bundle {bundles[0].name} ({bundles[0].xsd_root}) lacks service "
                f"{', '.join(s.name for s in uncovered)}: {missing}"
            )
        # newest first: it wins when several bundles accept a version
        self.bundles = sorted(
            bundles, key=lambda b: (b.published, _version_key(b.name)), reverse=True
        )
        if uncovered and fallback is not None:
            _compile(fallback, uncovered)
            self.bundles.append(fallback)  # last: only for what no bundle has
        self.registry = registry
        #: per (service, operation): the bundles that declare it, with the versions each
        #: accepts, read from the schema documents on first use (they do not change)
        self._declaring: dict[tuple[str, str], tuple[tuple[Bundle, tuple[str, ...]], ...]] = {}

    def declaring(
        self, service: Service, operation: Operation
    ) -> tuple[tuple[Bundle, tuple[str, ...]], ...]:
        """The bundles that declare ``operation``, newest first, with the versions each accepts."""
        key = (service.name, operation.name)
        found = self._declaring.get(key)
        if found is None:
            found = self._declaring[key] = tuple(
                (b, b.versions(service, operation))
                for b in self.bundles
                if b.declares(service, operation)
            )
        return found

    def select(self, service: Service, operation: Operation, version: str | None) -> Bundle:
        """The bundle whose schema validates this request version."""
        declaring = self.declaring(service, operation)
        if not declaring:
            raise UnsupportedOperation(
                f"{operation.name} is not in the loaded format bundle(s) "
                f"{', '.join(b.name for b in self.bundles)}."
            )
        for bundle, accepted in declaring:
            if not accepted or version in accepted:
                return bundle
        accepted_all = sorted({v for _, versions in declaring for v in versions}, key=_version_key)
        raise UnsupportedVersion(
            f"Version {version!r} of {operation.name} is not accepted; accepted versions: "
            + ", ".join(accepted_all)
        )

    def accepted_versions(self, service: Service, operation: Operation) -> list[str]:
        versions = {v for _, accepted in self.declaring(service, operation) for v in accepted}
        return sorted(versions, key=_version_key)

    def serving(self, service: Service) -> Bundle:
        """The bundle whose WSDL is served at ``?wsdl`` (the newest that has the service)."""
        return next(b for b in self.bundles if service.name in b.schemas)

    def describe(self) -> list[str]:
        """One line per bundle and service: the request versions loaded."""
        lines = []
        for bundle in self.bundles:
            for service in self.registry.services.values():
                if service.name not in bundle.schemas:
                    continue
                parts = []
                for op in service.operations.values():
                    if op.kind == "state":
                        continue
                    if not bundle.declares(service, op):
                        parts.append(f"{op.name} (absent)")
                        continue
                    versions = bundle.versions(service, op)
                    parts.append(f"{op.name} {'/'.join(versions) if versions else 'any'}")
                own = (
                    " (no loaded bundle has it)"
                    if self.bundles[0].published and not bundle.published
                    else ""
                )
                lines.append(
                    f"formats {bundle.name} [{bundle.xsd_root}] {service.name}{own}: "
                    + ", ".join(parts)
                )
        return lines


def load_formats(settings: Settings, registry: Registry) -> Formats:
    """The bundles the settings name (``formats_dir``), or the project's own contract."""
    own = own_bundle(settings.xsd_dir, settings.wsdl_dir)
    if settings.formats_dirs:
        return Formats([published_bundle(d) for d in settings.formats_dirs], registry, own)
    return Formats([own], registry)


def served_wsdl(bundle: Bundle, service: Service) -> bytes:
    """The bundle's WSDL of the service; a published one trimmed to the operations we serve."""
    data = bundle.wsdl(service).read_bytes()
    if not bundle.published:
        return data
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    served = {name for name, op in service.operations.items() if bundle.declares(service, op)}
    for holder in root.iter(f"{{{WSDL}}}portType", f"{{{WSDL}}}binding"):
        for operation in holder.findall(f"{{{WSDL}}}operation"):
            if operation.get("name") not in served:
                holder.remove(operation)
    used = {
        (m.get("message") or "").split(":")[-1]
        for m in root.iter(f"{{{WSDL}}}input", f"{{{WSDL}}}output", f"{{{WSDL}}}fault")
    }
    used |= {(h.get("message") or "").split(":")[-1] for h in root.iter(qname(WSDL_SOAP, "header"))}
    for message in root.findall(f"{{{WSDL}}}message"):
        if message.get("name") not in used:
            root.remove(message)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
