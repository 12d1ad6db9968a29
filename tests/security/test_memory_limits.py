"""Issue 14 part 3: the memory one request can make the server hold.

Limits on elements, depth, attributes and value length are checked while parsing (or proved
by byte counts before it), generous for the largest legitimate packets; a request crossing
one is refused (FMT001300) before the rest of its tree is built, costs < 64 MB while it runs,
and after a burst of them the server's memory returns to where it was.
"""

from __future__ import annotations

import copy
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from lxml import etree

from gateway.client import GatewayClient, envelope, find_target
from gateway.errors import MalformedXml, TooComplex
from gateway.xmlparse import DEFAULT_LIMITS, XmlLimits, parse_xml
from signing import pki, sign
from tests.security import probe
from tests.security.splitting import example, serialize
from tests.stand import fresh_orgs, side_server

MB = 1024 * 1024


def _replicate(root: etree._Element, local_name: str, count: int) -> etree._Element:
    """The packet with its first ``local_name`` group repeated ``count`` times, each copy with
    fresh TransportGUIDs and numbers."""
    group = next(e for e in root.iter() if etree.QName(e).localname == local_name)
    parent = group.getparent()
    at = parent.index(group)
    for e in [e for e in parent if etree.QName(e).localname == local_name]:
        parent.remove(e)
    for n in reversed(range(count)):
        item = copy.deepcopy(group)
        for e in item.iter():
            name = etree.QName(e).localname
            if name in ("TransportGUID", "MeteringDeviceRootGUID"):
                e.text = str(uuid.uuid4())
            elif name in ("PremisesNum", "RoomNumber"):
                e.text = f"{n + 1}{e.text if name == 'RoomNumber' else ''}"
        parent.insert(at, item)
    return root


def largest_house() -> etree._Element:
    """A 1500-flat house, every flat with its two living rooms (~60 000 elements)."""
    return _replicate(example("importHouseUOData"), "ResidentialPremises", 1500)


def largest_readings() -> etree._Element:
    """Readings of 1000 meters, the example's richest reading each."""
    root = example("importMeteringDeviceValues")
    richest = max(
        (e for e in root if etree.QName(e).localname == "MeteringDevicesValues"),
        key=lambda e: sum(1 for _ in e.iter()),
    )
    root.insert(0, richest)
    return _replicate(root, "MeteringDevicesValues", 1000)


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("pki")
    pki.init_ca(root / "ca")
    return pki.issue(root / "ca", str(uuid.uuid4()), root / "org")


@pytest.mark.parametrize("build", [largest_house, largest_readings])
def test_the_largest_legitimate_packets_are_within_the_limits(build, signer) -> None:  # type: ignore[no-untyped-def]
    element = build()
    sign(element, *signer)
    data = serialize(envelope(element, str(uuid.uuid4())))
    root = parse_xml(data)
    elements = sum(1 for _ in root.iter())
    assert elements * 2 < DEFAULT_LIMITS.max_elements, elements  # a margin of 2x at least


def _elements(n: int) -> bytes:
    return b"<r>" + b"<a/>" * n + b"</r>"


LIMITS = XmlLimits(max_elements=1000, max_depth=10, max_attributes=500, max_text_bytes=2000)


@pytest.mark.parametrize(
    "data",
    [
        _elements(1000 + 1),  # past the elements (slow path: byte counts cannot prove it)
        b"<r>" + b"<a x='1' y='2'/>" * 300 + b"</r>",  # 600 attributes in 300 elements
        b"<r " + b" ".join(b"a%d=''" % n for n in range(501)) + b"/>",  # on one element
        b"<a>" * 11 + b"</a>" * 11,  # depth 11
        b"<r>" + b"x" * 2001 + b"</r>",  # one long value
        b"<r a='" + b"x" * 2001 + b"'/>",  # one long attribute value
    ],
    ids=["elements", "attributes", "attributes-one-tag", "depth", "text", "attr-value"],
)
def test_a_packet_past_a_limit_is_refused(data: bytes) -> None:
    with pytest.raises(TooComplex):
        parse_xml(data, LIMITS)


def test_a_start_tag_too_long_to_build_is_refused_before_parsing() -> None:
    """libxml2 builds a start tag whole before the counting parser sees it: a tag longer than
    64 KB is refused from the bytes when the counts cannot prove the packet small."""
    tag = b"<r " + b" ".join(b"a%05d=''" % n for n in range(12_000)) + b">"
    with pytest.raises(TooComplex, match="start tag"):
        parse_xml(tag + b"<a/>" * 2000 + b"</r>", XmlLimits(max_elements=1000))


def test_packets_at_the_limits_are_parsed_on_both_paths() -> None:
    at_limit = _elements(999)  # 1000 elements with the root
    assert len(parse_xml(at_limit, LIMITS)) == 999
    # '<' in CDATA makes the byte count unable to prove it: the counting parser takes it
    unproven = b"<r><![CDATA[" + b"<" * 2000 + b"]]>" + b"<a/>" * 998 + b"</r>"
    assert len(parse_xml(unproven, XmlLimits(max_elements=1000, max_text_bytes=5000))) == 998
    assert parse_xml(b"<a>" * 10 + b"</a>" * 10, LIMITS) is not None


@pytest.mark.parametrize(
    "data",
    [
        "<r><a/></r>".encode("utf-16"),
        '<?xml version="1.0" encoding="UTF-16"?><r/>'.encode("utf-16-le"),
        b'<?xml version="1.0" encoding="cp500"?>' + "<r/>".encode("cp500"),
        "<r/>".encode("cp500"),
        # '+ADw-a/+AD4-' is '<a/>' in UTF-7: elements no '<' byte counts
        b'<?xml version="1.0" encoding="UTF-7"?><r>' + b"+ADw-a/+AD4-" * 2000 + b"</r>",
    ],
    ids=["utf-16-bom", "utf-16-declared", "ebcdic-declared", "ebcdic", "utf-7"],
)
def test_encodings_that_would_hide_the_counts_are_refused(data: bytes) -> None:
    with pytest.raises(MalformedXml):
        parse_xml(data)


def test_windows_1251_is_still_read() -> None:
    data = '<?xml version="1.0" encoding="windows-1251"?><r>Дом</r>'.encode("cp1251")
    assert parse_xml(data).text == "Дом"


# --- against the real server ----------------------------------------------------------------


@pytest.fixture(scope="module")
def one_worker(stand, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A server with one worker process, whose memory is measured."""
    with side_server(stand, tmp_path_factory.mktemp("memory") / "data", workers=1) as server:
        (worker,) = probe.children(server.process.pid)
        yield server, worker


@pytest.mark.parametrize("bomb", sorted(probe.BOMBS))
def test_a_bomb_is_refused_and_costs_under_64_mb(one_worker, bomb: str) -> None:  # type: ignore[no-untyped-def]
    server, worker = one_worker
    body = probe.BOMBS[bomb]
    assert len(body) <= 10 * MB
    before = probe.rss_mb([worker])
    probe.reset_peaks([worker])
    status, code, _seconds = probe.post(server.url, body)
    assert (status, code) == (500, "FMT001300")
    assert probe.peak_mb(worker) - before < 64


def test_after_a_burst_memory_returns(one_worker) -> None:  # type: ignore[no-untyped-def]
    server, worker = one_worker
    bomb = probe.BOMBS["1M empty elements (4 MB)"]

    def burst() -> list[str]:
        with ThreadPoolExecutor(8) as pool:
            return [r[1] for r in pool.map(lambda _: probe.post(server.url, bomb), range(8))]

    burst()  # warm up: every thread, connection and cache a burst uses exists afterwards
    before = probe.rss_mb([worker])
    assert burst() == ["FMT001300"] * 8
    after = probe.rss_mb([worker])
    assert after <= before * 1.10, (before, after)


def test_the_largest_house_is_accepted(stand) -> None:  # type: ignore[no-untyped-def]
    org = fresh_orgs(stand)["uo"]
    house = largest_house()
    service = find_target(house).service
    env = envelope(house, org.guid)
    sign(house, pki.load_private_key(org.key), pki.load_certificate(org.cert))
    client = GatewayClient(stand["server"].url, org.guid, org.password)
    assert client.send(service, "importHouseUOData", serialize(env))


def test_a_refused_bomb_is_filed_with_its_first_bytes_only(stand) -> None:  # type: ignore[no-untyped-def]
    """Ops see the refusal and the start of the packet; the database does not take 10 MB per
    refusal."""
    from sqlalchemy import select

    from persistence.db import make_engine, make_session_factory
    from persistence.models import Packet

    body = probe.BOMBS["2.4M empty elements (9.6 MB)"]
    assert probe.post(stand["server"].url, body)[:2] == (500, "FMT001300")
    engine = make_engine(stand.database_url)
    try:
        with make_session_factory(engine)() as session:
            packet = session.scalars(
                select(Packet).where(Packet.state == "rejected").order_by(Packet.id.desc())
            ).first()
            assert packet is not None and packet.error_code == "FMT001300"
            assert len(packet.raw) == 64 * 1024 and body.startswith(packet.raw)
    finally:
        engine.dispose()
