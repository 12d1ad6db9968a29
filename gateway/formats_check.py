"""``gateway formats check DIR``: what a published bundle changes for the operations we serve.

For every served operation: is it in the bundle (schema element and WSDL operation), which
request versions the bundle accepts, and how the request element's structure differs from the
contract the handlers were written against (paths added, removed, occurrence changed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import xmlschema
from lxml import etree
from xmlschema.validators import XsdElement, XsdGroup

from gateway.config import load_settings
from gateway.formats import Formats, FormatsError, own_bundle, published_bundle
from gateway.namespaces import DS, WSDL, qname
from gateway.registry import Operation, Service
from gateway.services import build_registry

MAX_DEPTH = 12


@dataclass
class OperationReport:
    service: str
    operation: str
    present: bool
    in_wsdl: bool
    versions_ours: tuple[str, ...]
    versions_bundle: tuple[str, ...]
    extension: bool = False  # the gateway's own operation, in no published format
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)


@dataclass
class BundleReport:
    bundle: str
    problems: list[str] = field(default_factory=list)
    operations: list[OperationReport] = field(default_factory=list)
    #: services whose folder the bundle lacks: served on the gateway's own contract
    own_contract: list[str] = field(default_factory=list)

    @property
    def blocking(self) -> bool:
        """True when switching to the bundle would lose a served operation of the published
        formats (the gateway's own extensions are served on its own contract only)."""
        return bool(self.problems) or any(not o.present for o in self._lost)

    @property
    def _lost(self) -> list[OperationReport]:
        return [o for o in self.operations if not o.present and not o.extension]

    def render(self) -> str:
        lines = [f"format bundle {self.bundle}"]
        lines += [f"  PROBLEM {p}" for p in self.problems]
        lines += [
            f"  {name}: not in this bundle (served on the gateway's own contract)"
            for name in self.own_contract
        ]
        for o in self.operations:
            status = "present" if o.present else "MISSING"
            if o.extension and not o.present:
                status += " (the gateway's own extension: served only on its own contract)"
            wsdl = "" if o.in_wsdl or not o.present else " (not in the WSDL)"
            lines.append(f"  {o.service}/{o.operation}: {status}{wsdl}")
            if o.present:
                if set(o.versions_bundle) != set(o.versions_ours):
                    lines.append(
                        f"    versions: bundle {', '.join(o.versions_bundle) or 'any'}; handlers know {', '.join(o.versions_ours) or 'any'}"
                    )
                for label, paths in (
                    ("added", o.added),
                    ("removed", o.removed),
                    ("changed", o.changed),
                ):
                    for path in paths[:40]:
                        lines.append(f"    {label}: {path}")
                    if len(paths) > 40:
                        lines.append(f"    … {len(paths) - 40} more {label}")
                if not (o.added or o.removed or o.changed):
                    lines.append("    request structure unchanged")
        lost = [f"{o.service}/{o.operation}" for o in self._lost]
        lines.append(
            "verdict: "
            + (
                f"BLOCKING (served operations would be lost: {', '.join(lost) or 'see problems'})"
                if self.blocking
                else "compatible"
            )
        )
        return "\n".join(lines)


def _occurs(p: XsdElement | XsdGroup) -> str:
    return f"[{p.min_occurs}..{'n' if p.max_occurs is None else p.max_occurs}]"


def element_paths(schema: xmlschema.XMLSchema, name: str) -> dict[str, str]:
    """'a/b/c' ► occurrence and simple type of every element path under a global element."""
    paths: dict[str, str] = {}

    def walk(group: XsdGroup, prefix: str, depth: int) -> None:
        for particle in group:
            if isinstance(particle, XsdGroup):
                walk(particle, prefix, depth)
            elif (
                isinstance(particle, XsdElement)
                and particle.name
                and not particle.name.startswith(qname(DS, ""))
            ):
                path = f"{prefix}/{particle.local_name}"
                simple = particle.type.is_simple() or particle.type.has_simple_content()
                paths[path] = _occurs(particle) + (" simple" if simple else "")
                content = getattr(particle.type, "content", None)  # complex types only
                if depth < MAX_DEPTH and not simple and isinstance(content, XsdGroup):
                    walk(content, path, depth + 1)

    decl = schema.elements[name]
    content = getattr(decl.type, "content", None)
    if isinstance(content, XsdGroup):
        walk(content, name, 0)
    return paths


def _wsdl_operations(path: Path) -> set[str]:
    root = etree.parse(str(path)).getroot()
    return {
        name
        for pt in root.iter(f"{{{WSDL}}}portType")
        for o in pt.findall(f"{{{WSDL}}}operation")
        if (name := o.get("name"))
    }


def check_bundle(directory: Path) -> BundleReport:
    settings = load_settings()
    registry = build_registry()
    bundle = published_bundle(directory)
    report = BundleReport(f"{bundle.name} ({directory})")
    ours = own_bundle(settings.xsd_dir, settings.wsdl_dir)
    try:
        Formats([bundle], registry, ours)
    except FormatsError as exc:
        report.problems.append(str(exc))
        return report
    for service in registry.services.values():
        if service.name not in bundle.schemas:
            report.own_contract.append(service.name)
            continue
        theirs_schema = xmlschema.XMLSchema(str(bundle.xsd(service)))
        ours_schema = xmlschema.XMLSchema(str(ours.xsd(service)))
        in_wsdl = _wsdl_operations(bundle.wsdl(service))
        for operation in service.operations.values():
            if operation.kind == "state":
                continue
            report.operations.append(
                _compare(service, operation, bundle, ours, theirs_schema, ours_schema, in_wsdl)
            )
    return report


def _compare(
    service: Service, operation: Operation, bundle, ours, theirs_schema, ours_schema, in_wsdl
) -> OperationReport:
    name = operation.request_element.split("}")[1]
    present = name in theirs_schema.elements
    result = OperationReport(
        service.name,
        operation.name,
        present,
        operation.name in in_wsdl,
        ours.versions(service, operation),
        bundle.versions(service, operation) if present else (),
        extension=operation.extension,
    )
    if present and name in ours_schema.elements:
        before, after = element_paths(ours_schema, name), element_paths(theirs_schema, name)
        result.added = sorted(p for p in after if p not in before)
        result.removed = sorted(p for p in before if p not in after)
        result.changed = sorted(
            f"{p}: {before[p]} -> {after[p]}"
            for p in before.keys() & after.keys()
            if before[p] != after[p]
        )
    return result
