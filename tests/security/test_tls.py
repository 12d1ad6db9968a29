"""Issue 14 part 4: TLS and mutual TLS on `gateway serve`, as in production.

A client certificate registered for an organisation authenticates its calls in place of
HTTP Basic; the RequestHeader's orgPPAGUID must be that organisation's (else 403 AUT011000).
Real TLS from requests and from zeep; expired and foreign certificates fail the handshake
(with TLS 1.3 the client learns it as a closed connection: requests' ConnectionError).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from lxml import etree

from gateway.client import envelope
from gateway.namespaces import BASE, qname
from signing import pki
from tests.gis_client import GisClient
from tests.security.splitting import serialize
from tests.security.tls import server_certificate
from tests.stand import gateway_cli, side_server

HM_PATH = "/ext-bus-home-management-service/services/HomeManagementAsync"


@pytest.fixture(scope="module")
def tls(stand, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    base = tmp_path_factory.mktemp("tls")
    ca_dir = stand["pki"] / "ca"
    cert, key = server_certificate(ca_dir, base / "server")
    ca = str(ca_dir / "ca.pem")
    with side_server(
        stand,
        base / "data",
        verify=ca,
        server_tls_cert=str(cert),
        server_tls_key=str(key),
        server_client_ca=ca,
    ) as server:
        yield {"server": server, "ca": ca, "cert": cert, "key": key, "base": base}


def _get_state(url: str, org_guid: str, **kwargs) -> requests.Response:  # type: ignore[no-untyped-def]
    request = etree.Element(qname(BASE, "getStateRequest"), nsmap={"base": BASE})
    etree.SubElement(request, qname(BASE, "MessageGUID")).text = str(uuid.uuid4())
    return requests.post(
        url + HM_PATH,
        data=serialize(envelope(request, org_guid)),
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": "urn:getState"},
        timeout=30,
        **kwargs,
    )


def _code(response: requests.Response) -> str:
    return etree.fromstring(response.content).findtext(f".//{qname(BASE, 'ErrorCode')}") or ""


def _pair(org) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    return (str(org.cert), str(org.key))


def test_a_registered_client_certificate_authenticates_in_place_of_basic(stand, tls) -> None:  # type: ignore[no-untyped-def]
    uo = stand["orgs"]["uo"]
    answer = _get_state(tls["server"].url, uo.guid, verify=tls["ca"], cert=_pair(uo))
    # authenticated: the unknown MessageGUID is looked up (INT002013), not refused (AUT011000)
    assert (answer.status_code, _code(answer)) == (500, "INT002013")


def test_without_a_certificate_basic_is_still_needed(stand, tls) -> None:  # type: ignore[no-untyped-def]
    uo = stand["orgs"]["uo"]
    refused = _get_state(tls["server"].url, uo.guid, verify=tls["ca"])
    assert (refused.status_code, _code(refused)) == (401, "AUT011000")
    basic = _get_state(tls["server"].url, uo.guid, verify=tls["ca"], auth=(uo.guid, uo.password))
    assert _code(basic) == "INT002013"


def test_a_certificate_of_another_organisation_is_refused(stand, tls) -> None:  # type: ignore[no-untyped-def]
    uo, uo2 = stand["orgs"]["uo"], stand["orgs"]["uo2"]
    answer = _get_state(tls["server"].url, uo.guid, verify=tls["ca"], cert=_pair(uo2))
    assert (answer.status_code, _code(answer)) == (403, "AUT011000")
    # ... even with the right Basic credentials beside it
    both = _get_state(
        tls["server"].url, uo.guid, verify=tls["ca"], cert=_pair(uo2), auth=(uo.guid, uo.password)
    )
    assert (both.status_code, _code(both)) == (403, "AUT011000")


def test_an_unregistered_certificate_authenticates_no_one(stand, tls) -> None:  # type: ignore[no-untyped-def]
    uo = stand["orgs"]["uo"]
    out = tls["base"] / "unregistered"
    pki.issue(stand["pki"] / "ca", uo.guid, out)  # the right CA, but never registered
    answer = _get_state(
        tls["server"].url,
        uo.guid,
        verify=tls["ca"],
        cert=(str(out / "cert.pem"), str(out / "key.pem")),
    )
    assert (answer.status_code, _code(answer)) == (401, "AUT011000")


def test_an_expired_client_certificate_fails_the_handshake(stand, tls) -> None:  # type: ignore[no-untyped-def]
    guid = str(uuid.uuid4())
    out = tls["base"] / "expired"
    long_ago = datetime.now(UTC) - timedelta(days=30)
    pki.issue(
        stand["pki"] / "ca", guid, out, not_before=long_ago, not_after=long_ago + timedelta(days=1)
    )
    gateway_cli(
        "orgs", "add", "--guid", guid, "--name", "Expired", "--role", "uo",
        "--cert", str(out / "cert.pem"), "--data-dir", str(stand["data_dir"]),
    )  # fmt: skip
    with pytest.raises(requests.exceptions.ConnectionError):
        _get_state(
            tls["server"].url,
            guid,
            verify=tls["ca"],
            cert=(str(out / "cert.pem"), str(out / "key.pem")),
        )


def test_a_certificate_from_another_ca_fails_the_handshake(stand, tls) -> None:  # type: ignore[no-untyped-def]
    other = tls["base"] / "other-ca"
    pki.init_ca(other / "ca", "another CA")
    pki.issue(other / "ca", stand["orgs"]["uo"].guid, other / "org")
    with pytest.raises(requests.exceptions.ConnectionError):
        _get_state(
            tls["server"].url,
            stand["orgs"]["uo"].guid,
            verify=tls["ca"],
            cert=(str(other / "org" / "cert.pem"), str(other / "org" / "key.pem")),
        )


def test_zeep_imports_and_polls_over_mutual_tls_without_a_password(stand, tls) -> None:  # type: ignore[no-untyped-def]
    from tests.e2e.house_data import new_apartment_house

    uo = stand["orgs"]["uo"]
    session = requests.Session()
    session.verify, session.cert = tls["ca"], _pair(uo)
    session.trust_env = False  # else REQUESTS_CA_BUNDLE overrides the session's verify
    client = GisClient(tls["server"].url + HM_PATH + "?wsdl", uo, session=session)
    ack = client.call("importHouseUOData", **new_apartment_house(str(uuid.uuid4()), flats=2))
    state = client.wait(client.ack_guid(ack), timeout=120)  # getState: the certificate only
    assert int(state["RequestState"]) == 3


def test_serve_require_client_cert_refuses_a_handshake_without_one(stand, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ca_dir = stand["pki"] / "ca"
    cert, key = server_certificate(ca_dir, tmp_path / "server")
    ca = str(ca_dir / "ca.pem")
    uo = stand["orgs"]["uo"]
    with side_server(
        stand,
        tmp_path / "data",
        verify=ca,
        cert=_pair(uo),
        args=("--tls-cert", str(cert), "--tls-key", str(key), "--client-ca", ca)
        + ("--require-client-cert",),
    ) as server:
        with pytest.raises(requests.exceptions.ConnectionError):
            _get_state(server.url, uo.guid, verify=ca, auth=(uo.guid, uo.password))
        answer = _get_state(server.url, uo.guid, verify=ca, cert=_pair(uo))
        assert _code(answer) == "INT002013"


def _is_get_state(url: str, **kwargs) -> requests.Response:  # type: ignore[no-untyped-def]
    """getState on nsi-common with base:ISRequestHeader: no orgPPAGUID, the transport names
    the caller."""
    from gateway.services import service_path

    request = etree.Element(qname(BASE, "getStateRequest"), nsmap={"base": BASE})
    etree.SubElement(request, qname(BASE, "MessageGUID")).text = str(uuid.uuid4())
    env = envelope(request, str(uuid.uuid4()))
    header = env.find(f".//{qname(BASE, 'RequestHeader')}")
    header.tag = qname(BASE, "ISRequestHeader")
    header.remove(header.find(qname(BASE, "orgPPAGUID")))
    return requests.post(
        url + service_path("nsi-common"),
        data=serialize(env),
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": "urn:getState"},
        timeout=30,
        **kwargs,
    )


def test_an_is_request_header_call_is_the_client_certificates_organisation(stand, tls) -> None:  # type: ignore[no-untyped-def]
    uo, uo2 = stand["orgs"]["uo"], stand["orgs"]["uo2"]
    url, ca = tls["server"].url, tls["ca"]
    answer = _is_get_state(url, verify=ca, cert=_pair(uo))
    assert (answer.status_code, _code(answer)) == (500, "INT002013")  # authenticated, looked up
    nobody = _is_get_state(url, verify=ca)
    assert (nobody.status_code, _code(nobody)) == (401, "AUT011000")
    # Basic names uo, the certificate is uo2's: refused, as with a RequestHeader
    both = _is_get_state(url, verify=ca, cert=_pair(uo2), auth=(uo.guid, uo.password))
    assert (both.status_code, _code(both)) == (403, "AUT011000")
