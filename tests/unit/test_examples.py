"""Every example packet is a valid operation element of a served operation (ours and published XSD)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from gateway.client import find_target
from gateway.config import load_settings
from tests.stand import published

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*/*.xml"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_example_is_a_valid_request_of_its_operation(example: Path) -> None:
    element = etree.parse(str(example)).getroot()
    target = find_target(element)
    assert target.operation.name == example.stem
    schema = etree.XMLSchema(etree.parse(str(load_settings().xsd_dir / target.service.xsd_file)))
    assert schema.validate(element), schema.error_log
    theirs = published(target.service.xsd_file.as_posix())
    if theirs is not None and example.stem != "importHouseRSOData":  # an extension beyond 16.3.0.0
        published_schema = etree.XMLSchema(etree.parse(str(theirs)))
        assert published_schema.validate(element), published_schema.error_log


def test_there_is_an_example_for_every_signed_operation() -> None:
    from gateway.services import build_registry

    operations = {
        op.name
        for s in build_registry().services.values()
        for op in s.operations.values()
        if op.kind != "state"
    }
    assert operations <= {p.stem for p in EXAMPLES}
