"""The operation registry: (service, operation) ► request element, schema, handler, roles.

Later services only add entries; the SOAP layer routes every request through here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from gateway.errors import UnsupportedOperation
from gateway.namespaces import BASE, qname
from persistence.roles import Role

if TYPE_CHECKING:
    from gateway.handlers.base import Handler

OperationKind = Literal["import", "export", "state"]
#: The SOAP header a service's calls carry: base:RequestHeader names the sender's orgPPAGUID;
#: base:ISRequestHeader (org-registry-common, nsi-common) does not, the transport names it.
HeaderKind = Literal["RequestHeader", "ISRequestHeader"]


@dataclass(frozen=True)
class Operation:
    service: str
    name: str  # wsdl operation name; SOAPAction is urn:<name>
    request_element: str  # Clark QName of the operation element in the Body
    kind: OperationKind
    roles: frozenset[Role]
    handler: Handler | None = None  # None for getState
    versions: tuple[str, ...] = ()  # format versions accepted in base:version; () = any
    extension: bool = False  # the gateway's own addition: absent from the published formats


@dataclass(frozen=True)
class Service:
    name: str  # e.g. "house-management"
    path: str  # HTTP path of the endpoint
    types_namespace: str
    wsdl_file: Path  # relative to the wsdl directory
    xsd_file: Path  # relative to the xsd directory
    result_version: str  # base:version written on getStateResult
    header: HeaderKind = "RequestHeader"
    operations: dict[str, Operation] = field(default_factory=dict)

    def add(self, operation: Operation) -> None:
        self.operations[operation.name] = operation

    def serve(
        self,
        name: str,
        *,
        request: str,
        kind: OperationKind,
        roles: frozenset[Role],
        handler: Handler,
        versions: tuple[str, ...] = (),
        extension: bool = False,
    ) -> None:
        """Add operation ``name`` whose request element ``request`` is in this service's
        types namespace."""
        self.add(
            Operation(
                service=self.name,
                name=name,
                request_element=qname(self.types_namespace, request),
                kind=kind,
                roles=roles,
                handler=handler,
                versions=versions,
                extension=extension,
            )
        )

    @property
    def state_result_tag(self) -> str:
        return f"{{{self.types_namespace}}}getStateResult"


def published_layout(
    name: str,
    *,
    path: str,
    types_namespace: str,
    result_version: str,
    header: HeaderKind = "RequestHeader",
) -> Service:
    """A service whose contract files are laid out as in the published bundle:
    ``<name>/hcs-<name>-service-async.wsdl`` and ``<name>/hcs-<name>-types.xsd``."""
    return Service(
        name=name,
        path=path,
        types_namespace=types_namespace,
        wsdl_file=Path(f"{name}/hcs-{name}-service-async.wsdl"),
        xsd_file=Path(f"{name}/hcs-{name}-types.xsd"),
        result_version=result_version,
        header=header,
    )


class Registry:
    """All services the gateway serves, looked up by endpoint path."""

    def __init__(self) -> None:
        self.services: dict[str, Service] = {}

    def add(self, service: Service) -> Service:
        """Register a service; every asynchronous service answers getState the same way."""
        service.add(
            Operation(
                service=service.name,
                name="getState",
                request_element=qname(BASE, "getStateRequest"),
                kind="state",
                roles=frozenset(Role),
            )
        )
        self.services[service.path] = service
        return service

    def service_for_path(self, path: str) -> Service | None:
        return self.services.get(path.rstrip("/"))

    def by_name(self, name: str) -> Service:
        return next(s for s in self.services.values() if s.name == name)

    def operation(self, service_name: str, operation_name: str) -> Operation:
        return self.by_name(service_name).operations[operation_name]

    def route(
        self,
        service: Service,
        soap_action: str | None,
        body_tag: str,
        wcf_action: str | None = None,
    ) -> Operation:
        """Find the operation by SOAPAction (quoted or not), check the body element matches,
        and that a WCF ``Action`` header, when sent, names the same operation."""
        op = self._route(service, soap_action, body_tag)
        if wcf_action is not None:
            named = wcf_action[4:] if wcf_action.startswith("urn:") else wcf_action
            if named != op.name:
                raise UnsupportedOperation(
                    f"The WCF Action header names '{wcf_action}' but the request is urn:{op.name}."
                )
        return op

    def _route(self, service: Service, soap_action: str | None, body_tag: str) -> Operation:
        action = (soap_action or "").strip().strip('"').strip()
        name = action[4:] if action.startswith("urn:") else action
        if name:
            op = service.operations.get(name)
            if op is None:
                raise UnsupportedOperation(
                    f"Operation '{name}' is not served by {service.name}; served: "
                    + ", ".join(sorted(service.operations))
                )
            if op.request_element != body_tag:
                raise UnsupportedOperation(
                    f"SOAPAction urn:{name} expects body element {op.request_element}, got {body_tag}."
                )
            return op
        by_element = [op for op in service.operations.values() if op.request_element == body_tag]
        if len(by_element) == 1:
            return by_element[0]
        raise UnsupportedOperation(f"No operation of {service.name} takes body element {body_tag}.")
