"""The tests' SOAP client: gateway.zeep_client bound to a test organisation."""

from __future__ import annotations

from typing import Any

from gateway.namespaces import BASE, SOAP_ENV
from gateway.namespaces import HOUSE_MANAGEMENT as HM
from gateway.zeep_client import GisClient as _GisClient
from gateway.zeep_client import SigningPlugin, fault_code

__all__ = ["BASE", "HM", "SOAP_ENV", "GisClient", "SigningPlugin", "fault_code"]


class GisClient(_GisClient):
    """zeep client of a test organisation (guid, key, cert) against one service."""

    def __init__(
        self,
        wsdl_url: str,
        org: Any,
        *,
        password: str | None = None,
        key: Any = None,
        cert: Any = None,
        **sign_options: Any,
    ) -> None:
        super().__init__(
            wsdl_url, org.guid, key or org.key, cert or org.cert, password=password, **sign_options
        )
        self.org = org
