"""Issue 14 part 5: the whole RequestHeader is validated against the base schema, and a packet
made long ago (header Date, or the signed XAdES SigningTime) is refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
from lxml import etree

from gateway.client import envelope, find_target
from gateway.namespaces import BASE, qname
from signing import pki, sign
from tests.security.splitting import example, serialize

HM_PATH = "/ext-bus-home-management-service/services/HomeManagementAsync"


def _post(stand, data: bytes, action: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    uo = stand["orgs"]["uo"]
    response = requests.post(
        stand["server"].url + HM_PATH,
        data=data,
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f"urn:{action}"},
        auth=(uo.guid, uo.password),
        timeout=30,
    )
    code = etree.fromstring(response.content).findtext(f".//{qname(BASE, 'ErrorCode')}") or ""
    return response.status_code, code


def _get_state(stand, edit) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    request = etree.Element(qname(BASE, "getStateRequest"), nsmap={"base": BASE})
    etree.SubElement(request, qname(BASE, "MessageGUID")).text = str(uuid.uuid4())
    env = envelope(request, stand["orgs"]["uo"].guid)
    edit(env.find(f".//{qname(BASE, 'RequestHeader')}"))
    return _post(stand, serialize(env), "getState")


def _set(name: str, value: str):  # type: ignore[no-untyped-def]
    def edit(header: etree._Element) -> None:
        header.find(qname(BASE, name)).text = value

    return edit


def _ago(delta: timedelta) -> str:
    return (datetime.now(UTC) - delta).isoformat(timespec="milliseconds")


@pytest.mark.parametrize(
    "date",
    [
        "2026-12-02T16:49:4n%719888+00:00",  # found by the mutation fuzz
        "2026-13-02T16:49:40+00:00",
        "2026-12-02 16:49:40",
        "yesterday",
        "2026-12-02T16:49:40+25:00",
    ],
)
def test_a_malformed_date_is_refused(stand, date: str) -> None:  # type: ignore[no-untyped-def]
    assert _get_state(stand, _set("Date", date)) == (500, "FMT001307")


def test_anything_else_the_base_schema_refuses_is_refused(stand) -> None:  # type: ignore[no-untyped-def]
    def extra_child(header: etree._Element) -> None:
        etree.SubElement(header, qname(BASE, "Surprise")).text = "x"

    def operator_false(header: etree._Element) -> None:
        etree.SubElement(header, qname(BASE, "IsOperatorSignature")).text = "false"

    def attribute(header: etree._Element) -> None:
        header.set("foo", "bar")

    for edit in (extra_child, operator_false, attribute):
        assert _get_state(stand, edit) == (500, "FMT001307"), edit.__name__


@pytest.mark.parametrize("delta", [timedelta(hours=25), timedelta(days=400), -timedelta(hours=25)])
def test_a_date_outside_the_window_is_refused(stand, delta: timedelta) -> None:  # type: ignore[no-untyped-def]
    assert _get_state(stand, _set("Date", _ago(delta))) == (500, "FMT001307")


@pytest.mark.parametrize("delta", [timedelta(hours=23), -timedelta(hours=1), timedelta(0)])
def test_a_date_within_the_window_is_accepted(stand, delta: timedelta) -> None:  # type: ignore[no-untyped-def]
    # accepted: the unknown MessageGUID is looked up (INT002013)
    assert _get_state(stand, _set("Date", _ago(delta))) == (500, "INT002013")


def test_a_packet_signed_two_days_ago_is_refused_under_a_fresh_header(stand) -> None:  # type: ignore[no-untyped-def]
    """The header is not signed, so its Date can be renewed by whoever captured a packet; the
    XAdES SigningTime is signed and cannot."""
    uo = stand["orgs"]["uo"]
    element = example("exportHouseData")
    env = envelope(element, uo.guid)
    key, cert = pki.load_private_key(uo.key), pki.load_certificate(uo.cert)
    sign(element, key, cert, signing_time=datetime.now(UTC) - timedelta(days=2))
    operation = find_target(element).operation.name
    assert _post(stand, serialize(env), operation) == (500, "AUT011005")

    fresh = example("exportHouseData")
    env = envelope(fresh, uo.guid)
    sign(fresh, key, cert)
    assert _post(stand, serialize(env), operation) == (200, "")
