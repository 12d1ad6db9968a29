"""`gateway verify`: the real command on packets signed with GOST, tampered, expired, pinned."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
from lxml import etree
from signing_helpers import body_element, envelope_xml, operation_xml, parse

from signing import gost, pki, sign
from signing.algorithms import C14N, Digest

pytestmark = pytest.mark.skipif(not gost.available(), reason=f"{gost.unavailable_reason()}")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "verify", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def packet(tmp_path_factory):
    d = tmp_path_factory.mktemp("verify")
    pki.init_ca(d / "ca", "GOST verify CA", algorithm="gost2012-256")
    key, cert = pki.issue(d / "ca", str(uuid.uuid4()), d / "org", key_type="gost2012-256")
    root = parse(envelope_xml(operation_xml()))
    sign(
        body_element(root),
        key,
        cert,
        signedinfo_c14n=C14N.INCLUSIVE,
        properties_digest=Digest.GOSTR3411_94,
        properties_transforms=False,
        key_info_reference=True,
    )
    envelope = d / "envelope.xml"
    envelope.write_bytes(etree.tostring(root))
    return {"dir": d, "envelope": envelope, "cert": cert}


def test_valid_packet(packet):
    done = run(str(packet["envelope"]), "--trust", str(packet["dir"] / "ca" / "ca.pem"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "VALID" in done.stdout and "INVALID" not in done.stdout
    assert done.stdout.count("result:     matches") == 3  # data, SignedProperties, KeyInfo
    assert "gostr34102012-gostr34112012-256" in done.stdout
    assert "GOST R 34.10-2012 256-bit" in done.stdout


def test_only_the_signed_element_and_a_pinned_signer_certificate(packet, tmp_path):
    root = etree.parse(str(packet["envelope"])).getroot()
    only = tmp_path / "element.xml"
    only.write_bytes(etree.tostring(body_element(root)))
    done = run(str(only), "--trust", str(packet["dir"] / "org" / "cert.pem"))
    # Taken out of its envelope, inclusive c14n sees other namespaces: the gateway's
    # signer-context rule is what makes it verify, and the verdict must agree.
    assert done.returncode == 0, done.stdout + done.stderr


def test_tampered_byte_names_the_reference(packet, tmp_path):
    tampered = tmp_path / "tampered.xml"
    tampered.write_bytes(packet["envelope"].read_bytes().replace(b"1234.5", b"1234.6"))
    done = run(str(tampered), "--trust", str(packet["dir"] / "ca" / "ca.pem"), "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["valid"] is False
    assert "digest-mismatch" in report["verdict"]
    by_uri = {ref["uri"]: ref for ref in report["references"]}
    assert by_uri["#signed-data-container"]["matches"] is False
    assert (
        by_uri["#signed-data-container"]["expected"] != by_uri["#signed-data-container"]["computed"]
    )
    others = [ref for uri, ref in by_uri.items() if uri != "#signed-data-container"]
    assert others and all(ref["matches"] for ref in others)
    assert report["signature_verifies"] is True


def test_expired_certificate_says_expired_not_bad_signature(packet):
    done = run(
        str(packet["envelope"]),
        "--trust",
        str(packet["dir"] / "ca" / "ca.pem"),
        "--at",
        "2099-01-01T00:00:00+00:00",
    )
    assert done.returncode == 1
    assert "expired" in done.stdout
    assert "signature value:  verifies" in done.stdout


def test_untrusted_certificate(packet, tmp_path):
    pki.init_ca(tmp_path / "other", "another CA", algorithm="gost2012-256")
    done = run(str(packet["envelope"]), "--trust", str(tmp_path / "other" / "ca.pem"))
    assert done.returncode == 1
    assert "untrusted" in done.stdout


def test_not_xml_is_a_usage_error(tmp_path):
    junk = tmp_path / "junk.xml"
    junk.write_text("not xml at all")
    done = run(str(junk), "--trust", str(junk))
    assert done.returncode == 2
    assert "not a readable XML packet" in done.stderr
    assert "Traceback" not in done.stderr
