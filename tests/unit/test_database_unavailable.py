"""A database that cannot be reached is answered with the retryable Fault EXP002001."""

from __future__ import annotations

import base64
import uuid

from lxml import etree

from gateway.accept import AcceptPipeline, HttpRequest
from gateway.client import envelope
from gateway.config import Settings
from gateway.runtime import Runtime
from tests.paths import HM_PATH as PATH

BASE = "http://dom.gosuslugi.ru/schema/integration/base/"


def test_unreachable_database_gives_exp002001(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Nothing listens on port 1: every connection attempt is refused for real.
    settings = Settings(
        data_dir=tmp_path, database_url="postgresql+psycopg://postgres@127.0.0.1:1/none"
    )
    runtime = Runtime(settings, create_tables=False)
    org = str(uuid.uuid4())
    request = etree.Element(f"{{{BASE}}}getStateRequest")
    etree.SubElement(request, f"{{{BASE}}}MessageGUID").text = str(uuid.uuid4())
    auth = "Basic " + base64.b64encode(f"{org}:pw".encode()).decode()
    reply = AcceptPipeline(runtime).handle(
        HttpRequest(PATH, "urn:getState", auth, etree.tostring(envelope(request, org)))
    )
    fault = etree.fromstring(reply.body)
    assert reply.status == 500
    assert fault.findtext(f".//{{{BASE}}}ErrorCode") == "EXP002001"
    assert fault.findtext(".//faultcode") == "soap:Server"
    runtime.close()
