"""Issue 14 part 5: CRL files in the configuration, re-read when they change; a revoked signer
or TLS client certificate is refused with AUT011004 (reason "revoked")."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from gateway.client import envelope, find_target
from gateway.errors import CertificateRefused
from gateway.namespaces import BASE, qname
from gateway.revocation import Revocation
from signing import pki, sign
from signing.pki import CA_CERT, CA_KEY
from tests.security.splitting import example, serialize
from tests.security.tls import server_certificate
from tests.stand import gateway_cli, side_server

HM_PATH = "/ext-bus-home-management-service/services/HomeManagementAsync"


def write_crl(path: Path, ca_dir: Path, revoked: list[x509.Certificate], key=None) -> None:  # type: ignore[no-untyped-def]
    """A CRL of the demo CA (or signed by ``key``) listing ``revoked``; replaced atomically."""
    ca_cert = pki.load_certificate(ca_dir / CA_CERT)
    now = datetime.now(UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - timedelta(minutes=1))
        .next_update(now + timedelta(days=1))
    )
    for cert in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(now - timedelta(seconds=30))
            .build()
        )
    crl = builder.sign(key or pki.load_private_key(ca_dir / CA_KEY), hashes.SHA256())  # type: ignore[arg-type]
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    os.replace(tmp, path)


# --- unit ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("crl-ca")
    pki.init_ca(root / "ca")
    return root / "ca"


def test_a_revoked_certificate_is_refused_and_others_are_not(ca: Path, tmp_path: Path) -> None:
    _, revoked = pki.issue(ca, str(uuid.uuid4()), tmp_path / "a")
    _, fine = pki.issue(ca, str(uuid.uuid4()), tmp_path / "b")
    crl = tmp_path / "ca.crl"
    write_crl(crl, ca, [revoked])
    revocation = Revocation([crl], anchors=lambda: [pki.load_certificate(ca / CA_CERT)])
    with pytest.raises(CertificateRefused, match=r"\(revoked\)") as refused:
        revocation.check([revoked], "Signer certificate")
    assert refused.value.code == "AUT011004"
    revocation.check([fine], "Signer certificate")


def test_a_crl_not_signed_by_its_issuer_is_ignored(ca: Path, tmp_path: Path) -> None:
    _, cert = pki.issue(ca, str(uuid.uuid4()), tmp_path / "a")
    crl = tmp_path / "forged.crl"
    write_crl(crl, ca, [cert], key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    revocation = Revocation([crl], anchors=lambda: [pki.load_certificate(ca / CA_CERT)])
    revocation.check([cert], "Signer certificate")  # a forged CRL revokes nothing


def test_a_changed_file_is_read_again_and_a_removed_one_unrevokes_nothing(
    ca: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gateway.revocation._RECHECK_SECONDS", 0.0)
    _, cert = pki.issue(ca, str(uuid.uuid4()), tmp_path / "a")
    crl = tmp_path / "ca.crl"
    write_crl(crl, ca, [])
    revocation = Revocation([crl])
    revocation.check([cert], "x")
    write_crl(crl, ca, [cert])
    with pytest.raises(CertificateRefused):
        revocation.check([cert], "x")
    crl.unlink()
    with pytest.raises(CertificateRefused):
        revocation.check([cert], "x")


# --- against the real server -----------------------------------------------------------------


def _post(url: str, data: bytes, action: str, **kwargs) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    response = requests.post(
        url + HM_PATH,
        data=data,
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f"urn:{action}"},
        timeout=30,
        **kwargs,
    )
    root = etree.fromstring(response.content)
    code = root.findtext(f".//{qname(BASE, 'ErrorCode')}") or ""
    message = root.findtext(f".//{qname(BASE, 'ErrorMessage')}") or ""
    return response.status_code, code, message


def _signed_export(guid: str, key_file: Path, cert_file: Path) -> bytes:
    element = example("exportHouseData")
    env = envelope(element, guid)
    sign(element, pki.load_private_key(key_file), pki.load_certificate(cert_file))
    return serialize(env)


def _get_state(guid: str) -> bytes:
    request = etree.Element(qname(BASE, "getStateRequest"), nsmap={"base": BASE})
    etree.SubElement(request, qname(BASE, "MessageGUID")).text = str(uuid.uuid4())
    return serialize(envelope(request, guid))


def test_revoking_a_certificate_in_the_crl_file_refuses_it_without_a_restart(
    stand, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    ca_dir = stand["pki"] / "ca"
    ca = str(ca_dir / "ca.pem")
    guid = str(uuid.uuid4())
    out = tmp_path / "org"
    pki.issue(ca_dir, guid, out)
    key_file, cert_file = out / "key.pem", out / "cert.pem"
    gateway_cli(
        "orgs", "add", "--guid", guid, "--name", "Revoked later", "--role", "uo",
        "--cert", str(cert_file), "--data-dir", str(stand["data_dir"]),
    )  # fmt: skip
    crl = tmp_path / "ca.crl"
    write_crl(crl, ca_dir, [])
    server_cert, server_key = server_certificate(ca_dir, tmp_path / "server")
    tls = {"verify": ca, "cert": (str(cert_file), str(key_file))}
    operation = find_target(example("exportHouseData")).operation.name
    with side_server(
        stand,
        tmp_path / "data",
        verify=ca,
        server_tls_cert=str(server_cert),
        server_tls_key=str(server_key),
        server_client_ca=ca,
        security_crl_files=str(crl),
    ) as server:
        assert _post(server.url, _signed_export(guid, key_file, cert_file), operation, verify=ca)[
            :2
        ] == (200, "")
        assert _post(server.url, _get_state(guid), "getState", **tls)[1] == "INT002013"

        write_crl(crl, ca_dir, [pki.load_certificate(cert_file)])
        deadline = time.monotonic() + 30
        while True:  # each process re-reads the file within a second
            status, code, message = _post(
                server.url, _signed_export(guid, key_file, cert_file), operation, verify=ca
            )
            if code or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert code == "AUT011004" and "(revoked)" in message, message
        status, code, message = _post(server.url, _get_state(guid), "getState", **tls)
        assert code == "AUT011004" and "(revoked)" in message, message

        uo = stand["orgs"]["uo"]  # everyone else is unaffected
        assert _post(server.url, _signed_export(uo.guid, uo.key, uo.cert), operation, verify=ca)[
            :2
        ] == (200, "")
