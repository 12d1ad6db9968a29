"""Issue 14 part 1: what is processed is exactly what was signed.

Canonical XML (what the digest covers) drops comments, so a comment inside a value used to
pass the signature while handlers read only the text before it. The one parse function drops
comments and processing instructions, so every step reads the tree that was digested.
"""

from __future__ import annotations

import uuid

import pytest
from lxml import etree

from gateway.client import GatewayClient, envelope, find_target
from gateway.namespaces import BASE, qname
from gateway.services import build_registry
from gateway.xmlparse import parse_xml
from signing import pki, sign, verify
from tests.security.splitting import REWRITES, example, serialize, split_by_both
from tests.stand import fresh_orgs

SIGNED_OPERATIONS = sorted(
    op.name
    for service in build_registry().services.values()
    for op in service.operations.values()
    if op.kind != "state"
)


def _canonical(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n", exclusive=True)


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, object]:
    root = tmp_path_factory.mktemp("pki")
    pki.init_ca(root / "ca")
    return pki.issue(root / "ca", str(uuid.uuid4()), root / "org")


@pytest.mark.parametrize("rewrite", sorted(REWRITES))
@pytest.mark.parametrize("operation", SIGNED_OPERATIONS)
def test_every_text_value_is_read_whole(operation: str, rewrite: str, signer) -> None:
    """Every value of every operation's packet, signature included, reads as what was signed,
    and the signature still verifies over it."""
    element = example(operation)
    key, cert = signer
    sign(element, key, cert)
    signed = parse_xml(serialize(element))
    received = parse_xml(REWRITES[rewrite](element))
    assert _canonical(received) == _canonical(signed)
    assert [e.text for e in received.iter()] == [e.text for e in signed.iter()]
    assert not list(received.iter(etree.Comment, etree.ProcessingInstruction))
    verify(received)


def test_a_comment_no_longer_truncates_a_guid() -> None:
    """The reported case: FIASHouseGuid with a comment in the middle."""
    data = (
        b'<hm:FIASHouseGuid xmlns:hm="urn:x">5b4a9c2e-3f1d<!-- -->'
        b"-4e8a-9b7c-1d2e3f4a5b6c</hm:FIASHouseGuid>"
    )
    assert parse_xml(data).text == "5b4a9c2e-3f1d-4e8a-9b7c-1d2e3f4a5b6c"


def test_cdata_and_character_references_read_as_their_values() -> None:
    root = parse_xml(b"<a><b><![CDATA[12<3]]>&#52;&#x35;</b></a>")
    assert root[0].text == "12<345"


# --- against the real server ----------------------------------------------------------------


@pytest.fixture(scope="module")
def orgs(stand):  # type: ignore[no-untyped-def]
    return fresh_orgs(stand)


def _org_for(orgs, operation: str):  # type: ignore[no-untyped-def]
    roles = find_target(example(operation)).operation.roles
    return next(org for org in orgs.values() if org.role in roles)


def _signed_and_split(element: etree._Element, org) -> bytes:  # type: ignore[no-untyped-def]
    """Sign the packet as its sender would, then split every value of the signed data (not of
    the signature) by a comment and by a processing instruction."""
    env = envelope(element, org.guid)
    sign(element, pki.load_private_key(org.key), pki.load_certificate(org.cert))
    for leaf in [e for e in element.iter(etree.Element) if len(e) == 0 and e.text]:
        if any(a.tag.endswith("}Signature") for a in leaf.iterancestors()):
            continue
        if len(leaf.text.strip()) >= 3:
            split_by_both(leaf)
    return serialize(env)


@pytest.mark.parametrize("operation", SIGNED_OPERATIONS)
def test_a_split_signed_packet_is_accepted_and_processed(stand, orgs, operation: str) -> None:
    """Comments and PIs inside the values of a signed packet change nothing: the signature
    verifies, the packet is acknowledged and processed (state 3)."""
    org = _org_for(orgs, operation)
    target = find_target(example(operation))
    client = GatewayClient(stand["server"].url, org.guid, org.password)
    data = _signed_and_split(example(operation), org)
    assert b"<!-- injected -->" in data and b"<?injected x?>" in data
    message_guid = client.send(target.service, operation, data)
    state = client.wait(target.service, message_guid)
    assert state.findtext(qname(BASE, "RequestState")) == "3"


def test_house_imported_with_split_values_is_stored_whole(stand, orgs) -> None:
    """A house whose FIAS GUID carries a comment and whose year a PI is found by its whole GUID
    and exported with its whole year."""
    org = orgs["uo"]
    fias = str(uuid.uuid4())
    house = example("importHouseUOData")
    hm = house.nsmap["hm"]
    house.find(f".//{{{hm}}}FIASHouseGuid").text = fias
    service = find_target(house).service
    client = GatewayClient(stand["server"].url, org.guid, org.password)
    contract = example("importContractData")  # the company manages the house from now
    contract.find(f".//{{{hm}}}FIASHouseGuid").text = fias
    env = envelope(contract, org.guid)
    sign(contract, pki.load_private_key(org.key), pki.load_certificate(org.cert))
    placed = client.wait(service, client.send(service, "importContractData", serialize(env)))
    assert placed.find(f".//{{{BASE}}}ErrorCode") is None, etree.tostring(placed)
    state = client.wait(
        service, client.send(service, "importHouseUOData", _signed_and_split(house, org))
    )
    assert state.find(f".//{{{BASE}}}ErrorCode") is None, etree.tostring(state)

    export = example("exportHouseData")
    export.find(f"{{{hm}}}FIASHouseGuid").text = fias
    env = envelope(export, org.guid)
    sign(export, pki.load_private_key(org.key), pki.load_certificate(org.cert))
    result = client.wait(service, client.send(service, "exportHouseData", serialize(env)))
    assert result.findtext(f".//{{{hm}}}FIASHouseGuid") == fias, etree.tostring(result)
    assert result.findtext(f".//{{{hm}}}UsedYear") == "1975"
