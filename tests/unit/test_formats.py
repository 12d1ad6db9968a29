"""Format bundles: versions per bundle, several bundles side by side, start-up errors, check report."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.config import load_settings
from gateway.errors import UnsupportedOperation, UnsupportedVersion
from gateway.formats import Formats, FormatsError, own_bundle, published_bundle, served_wsdl
from gateway.formats_check import check_bundle
from gateway.services import build_registry
from tests.stand import REFERENCE

HM_TYPES = "house-management/hcs-house-management-types.xsd"
DM_TYPES = "device-metering/hcs-device-metering-types.xsd"


@pytest.fixture
def published() -> Path:
    if not REFERENCE.exists():
        pytest.skip(
            f"published formats not found at {REFERENCE} (present only beside the project's shared/ folder)"
        )
    return REFERENCE


@pytest.fixture
def newer_bundle(published: Path, tmp_path: Path) -> Path:
    """A copy of the published bundle as a later release: importHouseUORequest gains 17.0.0.1."""
    root = tmp_path / "hcs-formats-16.4.0.0"
    shutil.copytree(published, root)
    types = root / HM_TYPES
    text = types.read_text(encoding="utf-8")
    text = text.replace('version="16.3.0.0"', 'version="16.4.0.0"', 1)
    text = text.replace(
        "Доступны версии 11.0.10.1,  13.2.3.2", "Доступны версии 11.0.10.1,  13.2.3.2, 17.0.0.1", 1
    )
    types.write_text(text, encoding="utf-8")
    dm = root / DM_TYPES
    dm.write_text(
        dm.read_text(encoding="utf-8").replace('maxOccurs="1000"', 'maxOccurs="500"', 1),
        encoding="utf-8",
    )
    return root


def _own():  # type: ignore[no-untyped-def]
    """The project's own contract: it serves what a published bundle has no folder for."""
    return own_bundle(load_settings().xsd_dir, load_settings().wsdl_dir)


def _op(registry, service: str, name: str):  # type: ignore[no-untyped-def]
    s = registry.by_name(service)
    return s, s.operations[name]


def test_versions_of_the_published_bundle_match_the_handlers(published: Path) -> None:
    registry = build_registry()
    bundle = published_bundle(published)
    formats = Formats([bundle], registry, _own())
    assert bundle.name == "16.3.0.0"
    for service in registry.services.values():
        for op in service.operations.values():
            if op.kind != "state" and bundle.declares(service, op):
                assert set(bundle.versions(service, op)) <= set(op.versions) or not op.versions, (
                    op.name
                )
    service, op = _op(registry, "house-management", "importHouseUOData")
    assert formats.accepted_versions(service, op) == ["11.0.10.1", "13.2.3.2"]


def test_request_version_picks_the_bundle_side_by_side(published: Path, newer_bundle: Path) -> None:
    registry = build_registry()
    formats = Formats(
        [published_bundle(published), published_bundle(newer_bundle)], registry, _own()
    )
    service, op = _op(registry, "house-management", "importHouseUOData")
    assert formats.select(service, op, "17.0.0.1").name == "16.4.0.0"
    assert formats.select(service, op, "13.2.3.2").name == "16.4.0.0"  # newest that accepts it
    with pytest.raises(UnsupportedVersion) as refused:
        formats.select(service, op, "9.9.9.9")
    assert "11.0.10.1, 13.2.3.2, 17.0.0.1" in refused.value.message
    rso_service, rso = _op(registry, "house-management", "importHouseRSOData")
    with pytest.raises(UnsupportedOperation):
        formats.select(rso_service, rso, "11.0.0.1")
    assert any("16.4.0.0" in line and "17.0.0.1" in line for line in formats.describe())


def test_a_service_no_bundle_has_is_served_on_the_own_contract_and_said(
    published: Path, tmp_path: Path
) -> None:
    root = tmp_path / "partial"
    shutil.copytree(published, root)
    shutil.rmtree(root / "device-metering")
    registry = build_registry()
    with pytest.raises(FormatsError, match="lacks service device-metering"):
        Formats([published_bundle(root)], registry)  # without the own contract to fall back on
    formats = Formats([published_bundle(root)], registry, _own())
    dm = registry.by_name("device-metering")
    assert formats.serving(dm).published is False
    assert formats.serving(registry.by_name("house-management")).published is True
    values = dm.operations["importMeteringDeviceValues"]
    assert formats.select(dm, values, "10.0.1.1").published is False
    assert any("device-metering (no loaded bundle has it)" in line for line in formats.describe())
    report = check_bundle(root)
    assert "device-metering" in report.own_contract
    assert all(o.service != "device-metering" for o in report.operations)  # nothing lost
    assert "device-metering: not in this bundle (served on the gateway's own contract)" in (
        report.render()
    )


def test_a_service_folder_without_its_files_stops_the_start_up(
    published: Path, tmp_path: Path
) -> None:
    root = tmp_path / "broken"
    shutil.copytree(published, root)
    (root / DM_TYPES).unlink()
    with pytest.raises(FormatsError, match="lacks service device-metering"):
        Formats([published_bundle(root)], build_registry(), _own())


def test_served_published_wsdl_keeps_only_served_operations(published: Path) -> None:
    registry = build_registry()
    bundle = published_bundle(published)
    Formats([bundle], registry, _own())
    wsdl = served_wsdl(bundle, registry.by_name("house-management")).decode()
    assert 'name="importHouseUOData"' in wsdl and 'name="getState"' in wsdl
    assert 'name="importContractData"' in wsdl and 'name="importCharterRequest"' in wsdl
    assert 'name="importPublicPropertyContract"' not in wsdl
    own = own_bundle(load_settings().xsd_dir, load_settings().wsdl_dir)
    assert (
        served_wsdl(own, registry.by_name("house-management"))
        == own.wsdl(registry.by_name("house-management")).read_bytes()
    )


def test_formats_check_reports_changes_and_missing_operations(newer_bundle: Path) -> None:
    report = check_bundle(newer_bundle)
    by_op = {o.operation: o for o in report.operations}
    assert by_op["importHouseRSOData"].present is False
    assert not report.blocking  # only the gateway's own (deprecated) extension is absent
    values = by_op["importMeteringDeviceValues"]
    assert any(
        "MeteringDevicesValues" in c and "[1..1000]" in c and "[1..500]" in c
        for c in values.changed
    ), values.changed
    assert "17.0.0.1" in by_op["importHouseUOData"].versions_bundle
    text = report.render()
    assert "MISSING" in text and "versions: bundle 11.0.10.1, 13.2.3.2, 17.0.0.1" in text
    assert "importHouseRSOData: MISSING (the gateway's own extension" in text
    assert text.endswith("verdict: compatible")


def test_formats_check_blocks_a_bundle_that_loses_a_published_operation(
    newer_bundle: Path,
) -> None:
    types = newer_bundle / HM_TYPES
    text = types.read_text(encoding="utf-8")
    types.write_text(
        text.replace('name="exportStatusCAChRequest"', 'name="exportStatusCAChGone"', 1),
        encoding="utf-8",
    )
    report = check_bundle(newer_bundle)
    assert report.blocking
    assert report.render().endswith(
        "BLOCKING (served operations would be lost: house-management/exportStatusCAChData)"
    )


def test_the_published_bundle_is_compatible_without_any_extension(published: Path) -> None:
    """`gateway formats check` of the published 16.3.0.0 formats exits 0: every operation
    served beyond them is the gateway's own extension."""
    report = check_bundle(published)
    assert not report.blocking, report.render()
    missing = {o.operation for o in report.operations if not o.present}
    assert missing == {"importHouseRSOData"}
