"""Fixtures for the signing tests: a demo PKI, signed envelopes, python-xmlsec."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from types import ModuleType

import pytest
from lxml import etree
from signing_helpers import Pki, Signer, body_element, envelope_xml, operation_xml, parse, wire

from signing import pki, sign


@pytest.fixture(scope="session")
def demo_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("pki")
    _, ca_cert = pki.init_ca(root / "ca", email="ca@demo.example")
    rsa_key, rsa_cert = pki.issue(root / "ca", str(uuid.uuid4()), root / "rsa")
    ec_key, ec_cert = pki.issue(root / "ca", str(uuid.uuid4()), root / "ec", key_type="ec")
    _, other_ca = pki.init_ca(root / "other-ca", "another CA")
    other_key, other_cert = pki.issue(root / "other-ca", str(uuid.uuid4()), root / "other")
    return Pki(
        root=root,
        ca_dir=root / "ca",
        ca_cert=ca_cert,
        rsa=Signer(rsa_key, rsa_cert),
        ec=Signer(ec_key, ec_cert),
        other_ca_cert=other_ca,
        other=Signer(other_key, other_cert),
    )


SignedFactory = Callable[..., etree._Element]


@pytest.fixture
def signed_envelope(demo_pki: Pki) -> SignedFactory:
    """Build an envelope, sign its body element in place, return the received root."""

    def make(
        signer: Signer | None = None,
        *,
        element_id: str = "signed-data-container",
        envelope_attrs: str = "",
        **sign_kwargs: object,
    ) -> etree._Element:
        signer = signer or demo_pki.rsa
        root = parse(envelope_xml(operation_xml(element_id), envelope_attrs=envelope_attrs))
        sign(body_element(root), signer.key, signer.cert, **sign_kwargs)
        return wire(root)

    return make


@pytest.fixture(scope="session")
def xmlsec() -> ModuleType:
    """python-xmlsec, when it imports and shares lxml's libxml2 version."""
    try:
        import xmlsec as module
    except ImportError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"python-xmlsec does not import: {exc}")
    lxml_version = etree.LIBXML_VERSION
    xmlsec_version = module.get_libxml_version()
    if tuple(xmlsec_version) != tuple(lxml_version):  # pragma: no cover
        pytest.skip(
            f"python-xmlsec uses libxml2 {xmlsec_version} but lxml {lxml_version}; "
            "passing lxml trees to it would be unsafe"
        )
    return module
