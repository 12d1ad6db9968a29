"""org-registry-common and nsi-common over real HTTP: zeep clients built from the WSDL the
gateway serves (and from the published WSDLs when given), ISRequestHeader calls authenticated
by the transport, every getStateResult valid against our schema and the published one."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import zeep
from lxml import etree
from zeep.exceptions import Fault
from zeep.plugins import HistoryPlugin
from zeep.transports import Transport

from gateway.namespaces import BASE, NSI_COMMON, ORGANIZATIONS_REGISTRY_COMMON, SOAP_ENV
from gateway.services import service_path
from persistence import nsi
from tests.gis_client import GisClient, fault_code
from tests.stand import (
    ROOT,
    Org,
    Server,
    gateway_cli,
    published,
    published_or_skip,
    start_server,
    stop_server,
)

ORG_PATH = service_path("organizations-registry-common")
NSI_PATH = service_path("nsi-common")
ORG_XSD = "organizations-registry-common/hcs-organizations-registry-common-types.xsd"
NSI_XSD = "nsi-common/hcs-nsi-common-types.xsd"

HEAD = "0a1b2c3d-0000-4000-8000-0000000000d1"
BRANCH = "0a1b2c3d-0000-4000-8000-0000000000d2"
ENTREPRENEUR = "0a1b2c3d-0000-4000-8000-0000000000d3"
OGRN, OGRNIP = "1027700132195", "304500116000157"


@dataclass(frozen=True)
class Stand:
    server: Server
    head: Org
    branch_password: str
    entrepreneur_password: str


def _password(output: str) -> str:
    return next(
        line.split(": ", 1)[1] for line in output.splitlines() if line.startswith("HTTP password")
    )


@pytest.fixture(scope="module")
def stand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stand]:
    base = tmp_path_factory.mktemp("registry")
    data, pki = base / "data", base / "pki"
    gateway_cli("pki", "init", "--out", str(pki / "ca"))
    gateway_cli("trust", "add", str(pki / "ca" / "ca.pem"), "--data-dir", str(data))
    gateway_cli("pki", "issue", "--ca", str(pki / "ca"), "--org", HEAD, "--out", str(pki / HEAD))
    store = ["--data-dir", str(data)]
    head = _password(
        gateway_cli(
            *("orgs", "add", "--guid", HEAD, "--name", "UK Registr", "--role", "uo"),
            *("--ogrn", OGRN, "--inn", "7701234567", "--kpp", "770101001"),
            *("--full-name", 'ООО "Управляющая компания Регистр"', "--short-name", "УК Регистр"),
            *("--registration-date", "2002-08-14", "--cert", str(pki / HEAD / "cert.pem")),
            *store,
        )
    )
    branch = _password(
        gateway_cli(
            *("orgs", "add", "--guid", BRANCH, "--name", "UK Registr filial", "--role", "uo"),
            *("--kind", "branch", "--ogrn", OGRN, "--inn", "7701234567", "--kpp", "770201001"),
            *("--parent", HEAD, "--full-name", 'Филиал ООО "УК Регистр"'),
            *store,
        )
    )
    entrepreneur = _password(
        gateway_cli(
            *("orgs", "add", "--guid", ENTREPRENEUR, "--name", "IP Ivanov", "--role", "rso"),
            *("--kind", "entrepreneur", "--ogrn", OGRNIP, "--inn", "500100732259"),
            *("--full-name", "Иванов Иван Иванович"),
            *store,
        )
    )
    server = start_server(data)
    try:
        yield Stand(
            server,
            Org(HEAD, "uo", head, pki / HEAD / "key.pem", pki / HEAD / "cert.pem"),
            branch,
            entrepreneur,
        )
    finally:
        stop_server(server)


class Client:
    """A plain zeep client (no signing) of one service, HTTP Basic as ``user``."""

    def __init__(self, wsdl: str, user: str, password: str | None, address: str | None = None):
        session = requests.Session()
        if password is not None:
            session.auth = (user, password)
        self.history = HistoryPlugin()
        self.client = zeep.Client(
            wsdl,
            transport=Transport(session=session, timeout=60),
            plugins=[self.history],
            settings=zeep.Settings(strict=False),
        )
        binding = next(iter(self.client.wsdl.bindings))
        self.service = (
            self.client.create_service(binding, address) if address else self.client.service
        )

    def header(self) -> Any:
        element = self.client.get_element(f"{{{BASE}}}ISRequestHeader")
        return element(Date=datetime.now(UTC), MessageGUID=str(uuid.uuid4()))

    def send(self, operation: str, **body: Any) -> str:
        ack = getattr(self.service, operation)(_soapheaders=[self.header()], **body)
        ack = ack.body if hasattr(ack, "body") else ack
        return str(ack["Ack"]["MessageGUID"])

    def result(self, message_guid: str) -> etree._Element:
        """The processed getStateResult element as it came over the wire."""
        deadline = time.monotonic() + 60
        while True:
            self.service.getState(_soapheaders=[self.header()], MessageGUID=message_guid)
            envelope = self.history.last_received["envelope"]
            result = envelope.find(f"{{{SOAP_ENV}}}Body")[0]
            if result.findtext(f"{{{BASE}}}RequestState") == "3":
                return result
            assert time.monotonic() < deadline, f"{message_guid} not processed"
            time.sleep(0.2)


def _schema(path: Path) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(path)))


def _valid(result: etree._Element, rel: str) -> None:
    """Valid against our schema, and against the published one when it is given."""
    for path in (ROOT / "xsd" / rel, published(rel)):
        if path is None:
            continue
        schema = _schema(path)
        assert schema.validate(result), f"{path}: {schema.error_log}"


def _org_client(stand: Stand, user: str = HEAD, password: str | None = None) -> Client:
    url = stand.server.endpoint(ORG_PATH) + "?wsdl"
    return Client(url, user, stand.head.password if password is None else password)


def _registry(client: Client, *criteria: dict[str, str]) -> etree._Element:
    guid = client.send("exportOrgRegistry", SearchCriteria=list(criteria), version="10.0.2.1")
    result = client.result(guid)
    _valid(result, ORG_XSD)
    return result


def _found(result: etree._Element) -> list[etree._Element]:
    return result.findall(f"{{{ORGANIZATIONS_REGISTRY_COMMON}}}exportOrgRegistryResult")


def _local(element: etree._Element, name: str) -> etree._Element | None:
    return element.find(f".//{{*}}{name}")


def test_an_ogrn_finds_the_legal_entity_and_its_branch(stand: Stand) -> None:
    found = _found(_registry(_org_client(stand), {"OGRN": OGRN}))
    by_org = {r.findtext(f"{{{BASE}}}orgPPAGUID"): r for r in found}
    assert set(by_org) == {HEAD, BRANCH}
    legal = _local(by_org[HEAD], "Legal")
    assert legal is not None and _local(legal, "KPP").text == "770101001"  # type: ignore[union-attr]
    assert _local(legal, "FullName").text == 'ООО "Управляющая компания Регистр"'  # type: ignore[union-attr]
    assert _local(legal, "StateRegistrationDate").text == "2002-08-14"  # type: ignore[union-attr]
    branch = _local(by_org[BRANCH], "Subsidiary")
    assert branch is not None
    head_version = _local(by_org[HEAD], "orgVersionGUID").text  # type: ignore[union-attr]
    assert _local(_local(branch, "ParentOrg"), "orgVersionGUID").text == head_version  # type: ignore[arg-type, union-attr]


def test_ogrn_and_kpp_find_the_branch_and_register_guids_find_the_record(stand: Stand) -> None:
    client = _org_client(stand)
    found = _found(_registry(client, {"OGRN": OGRN, "KPP": "770201001"}))
    assert [r.findtext(f"{{{BASE}}}orgPPAGUID") for r in found] == [BRANCH]
    root = _local(found[0], "orgRootEntityGUID").text  # type: ignore[union-attr]
    version = _local(found[0], "orgVersionGUID").text  # type: ignore[union-attr]
    for criterion in ({"orgRootEntityGUID": root}, {"orgVersionGUID": version}):
        again = _found(_registry(client, criterion))
        assert [r.findtext(f"{{{BASE}}}orgPPAGUID") for r in again] == [BRANCH]


def test_an_ogrnip_finds_the_entrepreneur(stand: Stand) -> None:
    found = _found(_registry(_org_client(stand), {"OGRNIP": OGRNIP}))
    entrp = _local(found[0], "Entrp")
    assert entrp is not None
    assert [_local(entrp, n).text for n in ("Surname", "FirstName", "Patronymic")] == [  # type: ignore[union-attr]
        "Иванов",
        "Иван",
        "Иванович",
    ]


def test_an_unknown_ogrn_answers_int002012(stand: Stand) -> None:
    result = _registry(_org_client(stand), {"OGRN": "1027700000000"})
    assert result.findtext(f".//{{{BASE}}}ErrorCode") == "INT002012"


def test_data_provider_is_the_callers_own_record(stand: Stand) -> None:
    client = _org_client(stand, ENTREPRENEUR, stand.entrepreneur_password)
    result = client.result(client.send("exportDataProvider", version="10.0.2.1"))
    _valid(result, ORG_XSD)
    providers = result.findall(f"{{{ORGANIZATIONS_REGISTRY_COMMON}}}exportDataProviderResult")
    assert len(providers) == 1
    assert providers[0].findtext(f"{{{ORGANIZATIONS_REGISTRY_COMMON}}}IsActual") == "true"
    own = _found(_registry(client, {"OGRNIP": OGRNIP}))[0]
    assert (
        _local(providers[0], "orgRootEntityGUID").text  # type: ignore[union-attr]
        == _local(own, "orgRootEntityGUID").text  # type: ignore[union-attr]
    )


def test_the_transport_names_the_caller(stand: Stand) -> None:
    nobody = Client(stand.server.endpoint(ORG_PATH) + "?wsdl", HEAD, None)
    with pytest.raises(Fault) as refused:
        nobody.send("exportDataProvider", version="10.0.2.1")
    assert fault_code(refused.value) == "AUT011000"
    wrong = _org_client(stand, HEAD, "not-the-password")
    with pytest.raises(Fault) as refused:
        wrong.send("exportDataProvider", version="10.0.2.1")
    assert fault_code(refused.value) == "AUT011000"


def test_a_signed_call_is_verified_against_the_caller(stand: Stand) -> None:
    client = GisClient(
        stand.server.endpoint(ORG_PATH) + "?wsdl", stand.head, password=stand.head.password
    )
    guid = client.ack_guid(
        client.call("exportOrgRegistry", SearchCriteria=[{"OGRN": OGRN}], version="10.0.2.1")
    )
    assert int(client.wait(guid)["RequestState"]) == 3
    # the same signature sent as the branch: the certificate is not the branch's
    signed_as_other = GisClient(
        stand.server.endpoint(ORG_PATH) + "?wsdl",
        Org(BRANCH, "uo", stand.branch_password, stand.head.key, stand.head.cert),
        password=stand.branch_password,
    )
    with pytest.raises(Fault) as refused:
        signed_as_other.call("exportDataProvider", version="10.0.2.1")
    assert fault_code(refused.value) == "AUT011004"


# --- nsi-common ---------------------------------------------------------------------------


def _nsi_client(stand: Stand) -> Client:
    return Client(stand.server.endpoint(NSI_PATH) + "?wsdl", HEAD, stand.head.password)


def _nsi(client: Client, operation: str, **body: Any) -> etree._Element:
    result = client.result(client.send(operation, version="10.0.1.2", **body))
    _valid(result, NSI_XSD)
    return result


def test_nsi_list_item_and_pages(stand: Stand) -> None:
    client = _nsi_client(stand)
    listing = _nsi(client, "exportNsiList", ListGroup="NSI")
    numbers = {int(n.text or 0) for n in listing.iterfind(".//{*}NsiItemInfo/{*}RegistryNumber")}
    shipped = nsi.read_file(nsi.shipped_file())
    assert numbers == {b.registry_number for b in shipped.books}
    item = _nsi(client, "exportNsiItem", RegistryNumber=2, ListGroup="NSI")
    entries = {
        e.findtext("{*}Code"): e.findtext("{*}GUID")
        for e in item.iterfind(f"{{{NSI_COMMON}}}NsiItem/{{*}}NsiElement")
    }
    book = next(b for b in shipped.books if b.registry_number == 2)
    assert entries == {e.code: e.guid for e in book.entries}
    page = _nsi(client, "exportNsiPagingItem", RegistryNumber=2, ListGroup="NSI", Page=1)
    assert page.findtext(f".//{{{NSI_COMMON}}}TotalPages") == "1"
    assert page.findtext(f".//{{{NSI_COMMON}}}TotalItemsCount") == str(len(book.entries))
    past = _nsi(client, "exportNsiPagingItem", RegistryNumber=2, ListGroup="NSI", Page=2)
    assert past.findtext(f".//{{{BASE}}}ErrorCode") == "INT002012"
    unknown = _nsi(client, "exportNsiItem", RegistryNumber=9999, ListGroup="NSI")
    assert unknown.findtext(f".//{{{BASE}}}ErrorCode") == "INT002012"


def test_nsi_import_is_served_at_once(stand: Stand, tmp_path: Path) -> None:
    data = json.loads(nsi.shipped_file().read_text(encoding="utf-8"))
    book = next(b for b in data["books"] if b["registry_number"] == 24)
    book["items"].append(
        {"code": "4", "guid": str(uuid.uuid4()), "name": "Test state", "is_actual": True}
    )
    data["version"] = "test.1"
    changed = tmp_path / "books.json"
    changed.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    out = gateway_cli("nsi", "import", str(changed), "--data-dir", str(stand.server.data_dir))
    assert "version test.1" in out
    try:
        item = _nsi(_nsi_client(stand), "exportNsiItem", RegistryNumber=24, ListGroup="NSI")
        assert "Test state" in etree.tostring(item, encoding="unicode")
    finally:
        gateway_cli("nsi", "import", "--data-dir", str(stand.server.data_dir))


# --- zeep from the published WSDLs ------------------------------------------------------


@pytest.mark.parametrize(
    ("wsdl", "path", "operation", "body", "branch"),
    [
        (
            "organizations-registry-common/hcs-organizations-registry-common-service-async.wsdl",
            ORG_PATH,
            "exportOrgRegistry",
            {"SearchCriteria": [{"OGRN": OGRN}], "version": "10.0.2.1"},
            "exportOrgRegistryResult",
        ),
        (
            "nsi-common/hcs-nsi-common-service-async.wsdl",
            NSI_PATH,
            "exportNsiItem",
            {"RegistryNumber": 2, "ListGroup": "NSI", "version": "10.0.1.2"},
            "NsiItem",
        ),
    ],
    ids=["exportOrgRegistry", "exportNsiItem"],
)
def test_a_client_from_the_published_wsdl_works(
    stand: Stand, wsdl: str, path: str, operation: str, body: dict[str, Any], branch: str
) -> None:
    client = Client(
        str(published_or_skip(wsdl)), HEAD, stand.head.password, stand.server.endpoint(path)
    )
    guid = client.send(operation, **body)
    result = client.result(guid)
    assert result.find(f".//{{*}}{branch}") is not None
    parsed = client.service.getState(_soapheaders=[client.header()], MessageGUID=guid)
    parsed = parsed.body if hasattr(parsed, "body") else parsed
    assert parsed[branch] if branch == "NsiItem" else parsed[branch][0]


def test_is_request_header_only_where_the_format_has_it(stand: Stand) -> None:
    """house-management wants base:RequestHeader (its orgPPAGUID); the register and NSI
    services take base:ISRequestHeader, and a RequestHeader from clients that send one."""
    from gateway.client import envelope
    from tests.paths import HM_PATH

    def get_state(path: str, is_header: bool) -> tuple[int, str]:
        request = etree.Element(f"{{{BASE}}}getStateRequest", nsmap={"base": BASE})
        etree.SubElement(request, f"{{{BASE}}}MessageGUID").text = str(uuid.uuid4())
        env = envelope(request, HEAD)
        if is_header:
            header = env.find(f".//{{{BASE}}}RequestHeader")
            header.tag = f"{{{BASE}}}ISRequestHeader"
            header.remove(header.find(f"{{{BASE}}}orgPPAGUID"))
        answer = requests.post(
            stand.server.endpoint(path),
            data=etree.tostring(env),
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": "urn:getState"},
            auth=(HEAD, stand.head.password),
            timeout=30,
        )
        return answer.status_code, etree.fromstring(answer.content).findtext(
            f".//{{{BASE}}}ErrorCode"
        ) or ""

    assert get_state(HM_PATH, is_header=True) == (500, "FMT001307")
    assert get_state(NSI_PATH, is_header=True) == (500, "INT002013")  # authenticated, looked up
    assert get_state(NSI_PATH, is_header=False) == (500, "INT002013")


def test_on_published_bundles_the_services_are_served_from_them_or_from_ours(
    stand: Stand,
) -> None:
    """With the 16.3.0.0 reference alone the register and NSI services run on the gateway's
    own contract; with a bundle that has them, zeep clients of the WSDLs served from it work."""
    import os

    from tests.stand import PUBLISHED_EXTRA_ENV, REFERENCE

    if not REFERENCE.exists():
        pytest.skip(f"published formats not found at {REFERENCE}")
    dirs = [str(REFERENCE)]
    extra = os.environ.get(PUBLISHED_EXTRA_ENV)
    if extra:
        dirs.append(extra)
    server = start_server(stand.server.data_dir, {"GATEWAY_FORMATS_DIR": os.pathsep.join(dirs)})
    try:
        wsdl = requests.get(server.endpoint(NSI_PATH) + "?wsdl", timeout=30).text
        assert ("/contract/formats-" in wsdl) == bool(extra), wsdl[:400]
        registry = Client(server.endpoint(ORG_PATH) + "?wsdl", HEAD, stand.head.password)
        guid = registry.send(
            "exportOrgRegistry", SearchCriteria=[{"OGRN": OGRN}], version="10.0.2.1"
        )
        assert len(_found(registry.result(guid))) == 2
        books = Client(server.endpoint(NSI_PATH) + "?wsdl", HEAD, stand.head.password)
        item = books.result(
            books.send("exportNsiItem", RegistryNumber=24, ListGroup="NSI", version="10.0.1.2")
        )
        _valid(item, NSI_XSD)
    finally:
        stop_server(server)
