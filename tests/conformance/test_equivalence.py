"""Our XSDs accept exactly what the published ones accept, for every operation we serve.

Random instances are drawn from the published schema (every optional element, choice branch
and occurrence count a drawn decision) and must validate against ours; instances drawn from
ours must validate against the published one. Mutations that break an instance must be
refused by both. Skips when the published formats are not beside the project.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import xmlschema
from hypothesis import HealthCheck, assume, given, settings
from lxml import etree

from gateway.config import load_settings
from gateway.services import build_registry
from tests.conformance.xsd_strategies import instances
from tests.stand import published_or_skip

EXAMPLES = int(os.environ.get("GATEWAY_CONFORMANCE_EXAMPLES", "25"))
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
EXTENSIONS = {"importHouseRSORequest"}  # ours only: not in the published 16.3.0.0 format

REQUESTS = sorted(
    {
        (service.xsd_file.as_posix(), op.request_element.split("}")[1])
        for service in build_registry().services.values()
        for op in service.operations.values()
        if op.kind != "state" and op.request_element.split("}")[1] not in EXTENSIONS
    }
)


class Pair:
    def __init__(self, rel: str, published: Path) -> None:
        ours = load_settings().xsd_dir / rel
        self.published_lxml = etree.XMLSchema(etree.parse(str(published)))
        self.ours_lxml = etree.XMLSchema(etree.parse(str(ours)))
        self.published = xmlschema.XMLSchema(str(published))
        self.ours = xmlschema.XMLSchema(str(ours))


_pairs: dict[str, Pair] = {}


def pair(rel: str) -> Pair:
    published = published_or_skip(rel)
    if rel not in _pairs:
        _pairs[rel] = Pair(rel, published)
    return _pairs[rel]


def _errors(schema: etree.XMLSchema) -> str:
    return "; ".join(str(e) for e in list(schema.error_log)[:3])


@pytest.mark.parametrize(("xsd", "element"), REQUESTS, ids=[e for _, e in REQUESTS])
def test_ours_accepts_what_the_published_schema_accepts(xsd: str, element: str) -> None:
    schemas = pair(xsd)

    @SETTINGS
    @given(instances(schemas.published, element))
    def check(instance: etree._Element) -> None:
        # identity constraints (keys) are not drawn; such rare instances are not valid at all
        assume(schemas.published_lxml.validate(instance))
        assert schemas.ours_lxml.validate(instance), _errors(schemas.ours_lxml)

    check()


@pytest.mark.parametrize(("xsd", "element"), REQUESTS, ids=[e for _, e in REQUESTS])
def test_published_schema_accepts_what_ours_accepts(xsd: str, element: str) -> None:
    schemas = pair(xsd)

    @SETTINGS
    @given(instances(schemas.ours, element))
    def check(instance: etree._Element) -> None:
        assume(schemas.ours_lxml.validate(instance))
        assert schemas.published_lxml.validate(instance), _errors(schemas.published_lxml)

    check()


def _mutations(instance: etree._Element) -> list[etree._Element]:
    """Copies of the instance each broken in one place: a child dropped, a value garbled."""
    broken = []
    leaves = [
        e for e in instance.iter() if isinstance(e.tag, str) and len(e) == 0 and e is not instance
    ]
    for index in range(min(len(leaves), 6)):
        copy = etree.fromstring(etree.tostring(instance))
        target = [
            e for e in copy.iter() if isinstance(e.tag, str) and len(e) == 0 and e is not copy
        ][index]
        target.getparent().remove(target)
        broken.append(copy)
        copy = etree.fromstring(etree.tostring(instance))
        target = [
            e for e in copy.iter() if isinstance(e.tag, str) and len(e) == 0 and e is not copy
        ][index]
        target.text = "12,5 not-a-valid-value-\u2603"
        broken.append(copy)
    unknown = etree.fromstring(etree.tostring(instance))
    etree.SubElement(unknown, f"{{{etree.QName(unknown).namespace}}}NotInTheFormat").text = "x"
    broken.append(unknown)
    return broken


@pytest.mark.parametrize(("xsd", "element"), REQUESTS, ids=[e for _, e in REQUESTS])
def test_both_schemas_refuse_the_same_broken_packets(xsd: str, element: str) -> None:
    schemas = pair(xsd)

    @settings(
        max_examples=max(EXAMPLES // 3, 5),
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    @given(instances(schemas.published, element))
    def check(instance: etree._Element) -> None:
        assume(schemas.published_lxml.validate(instance))
        for broken in _mutations(instance):
            published_ok = schemas.published_lxml.validate(broken)
            ours_ok = schemas.ours_lxml.validate(broken)
            assert published_ok == ours_ok, (
                f"published {'accepts' if published_ok else 'refuses'}, ours {'accepts' if ours_ok else 'refuses'}: "
                + etree.tostring(broken, encoding="unicode")[:2000]
            )

    check()


def test_every_served_request_is_covered() -> None:
    served = {
        op.request_element.split("}")[1]
        for s in build_registry().services.values()
        for op in s.operations.values()
        if op.kind != "state"
    }
    assert served - EXTENSIONS == {e for _, e in REQUESTS}
    assert Path(load_settings().xsd_dir).is_dir()


#: services whose answers are compared too: every getStateResult our schema allows must be
#: one the published schema allows (the gateway answers with ours)
ANSWERS = [
    "organizations-registry-common/hcs-organizations-registry-common-types.xsd",
    "nsi-common/hcs-nsi-common-types.xsd",
]


@pytest.mark.parametrize("xsd", ANSWERS, ids=[a.split("/")[0] for a in ANSWERS])
def test_published_schema_accepts_the_answers_ours_allows(xsd: str) -> None:
    schemas = pair(xsd)

    @SETTINGS
    @given(instances(schemas.ours, "getStateResult"))
    def check(instance: etree._Element) -> None:
        assume(schemas.ours_lxml.validate(instance))
        assert schemas.published_lxml.validate(instance), _errors(schemas.published_lxml)

    check()
