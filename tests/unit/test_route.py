"""Routing a request to an operation: by SOAPAction when there is one, else by the body
element; the two must agree."""

from __future__ import annotations

import pytest

from gateway.errors import UnsupportedOperation
from gateway.services import build_registry, service_path


@pytest.fixture(scope="module")
def registry():  # type: ignore[no-untyped-def]
    return build_registry()


def test_soapaction_names_the_operation(registry) -> None:  # type: ignore[no-untyped-def]
    service = registry.service_for_path(service_path("house-management"))
    op = service.operations["importHouseUOData"]
    for action in ('"urn:importHouseUOData"', "urn:importHouseUOData", " importHouseUOData "):
        assert registry.route(service, action, op.request_element) is op


def test_without_soapaction_the_body_element_decides(registry) -> None:  # type: ignore[no-untyped-def]
    service = registry.service_for_path(service_path("house-management"))
    op = service.operations["importHouseUOData"]
    for action in (None, "", '""'):
        assert registry.route(service, action, op.request_element) is op
    with pytest.raises(UnsupportedOperation, match="takes body element"):
        registry.route(service, None, "{urn:nowhere}importSomething")


def test_soapaction_and_body_element_must_agree(registry) -> None:  # type: ignore[no-untyped-def]
    service = registry.service_for_path(service_path("house-management"))
    other = next(op for op in service.operations.values() if op.name != "importHouseUOData")
    with pytest.raises(UnsupportedOperation, match="expects body element"):
        registry.route(service, "urn:importHouseUOData", other.request_element)
    with pytest.raises(UnsupportedOperation, match="is not served by"):
        registry.route(service, "urn:noSuchOperation", other.request_element)
    with pytest.raises(UnsupportedOperation, match="WCF Action header"):
        registry.route(
            service,
            "urn:importHouseUOData",
            service.operations["importHouseUOData"].request_element,
            "urn:" + other.name,
        )
