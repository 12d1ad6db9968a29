"""The console over plain HTTP: login, sessions, CSRF, headers, escaping of packet text."""

from __future__ import annotations

import re

import requests

from tests.ops.conftest import OPERATOR, OPERATOR_PASSWORD, OpsStand

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _csrf(html: str) -> str:
    match = CSRF.search(html)
    assert match, html
    return match.group(1)


def login(
    stand: OpsStand, user: str = OPERATOR, password: str = OPERATOR_PASSWORD
) -> requests.Session:
    session = requests.Session()
    page = session.get(stand.url + "/console/login", timeout=10)
    answer = session.post(
        stand.url + "/console/login",
        data={"csrf": _csrf(page.text), "login": user, "password": password},
        headers={"Origin": stand.url},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 303, answer.text
    return session


def test_login_is_required_and_pages_carry_security_headers(ops_stand: OpsStand) -> None:
    anonymous = requests.get(ops_stand.url + "/console/", allow_redirects=False, timeout=10)
    assert anonymous.status_code == 303 and anonymous.headers["Location"] == "/console/login"
    page = requests.get(ops_stand.url + "/console/login", timeout=10)
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src" not in csp  # no scripts at all
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    cookie = page.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert (
        requests.post(
            ops_stand.url + "/console/packets/" + ops_stand.failed[0] + "/replay", timeout=10
        ).status_code
        == 401
    )


def test_wrong_password_and_stale_forms_are_refused(ops_stand: OpsStand) -> None:
    session = requests.Session()
    page = session.get(ops_stand.url + "/console/login", timeout=10)
    wrong = session.post(
        ops_stand.url + "/console/login",
        data={"csrf": _csrf(page.text), "login": OPERATOR, "password": "guess"},
        allow_redirects=False,
        timeout=10,
    )
    assert wrong.status_code == 401 and "Wrong login or password" in wrong.text
    no_token = session.post(
        ops_stand.url + "/console/login",
        data={"login": OPERATOR, "password": OPERATOR_PASSWORD},
        allow_redirects=False,
        timeout=10,
    )
    assert no_token.status_code == 403


def test_replay_needs_the_session_token_and_this_origin(ops_stand: OpsStand) -> None:
    session = login(ops_stand)
    url = f"{ops_stand.url}/console/packets/{ops_stand.failed[-1]}"
    token = _csrf(session.get(url, timeout=10).text)
    for data, headers in (
        ({}, {}),
        ({"csrf": "forged"}, {}),
        ({"csrf": token}, {"Origin": "http://evil.example"}),
    ):
        refused = session.post(url + "/replay", data=data, headers=headers, allow_redirects=False)
        assert refused.status_code == 403
    assert ops_stand.state(ops_stand.failed[-1]) == "failed"  # nothing was replayed
    forged_cookie = requests.get(
        ops_stand.url + "/console/",
        cookies={"hcs_console": session.cookies["hcs_console"][:-4] + "AAAA"},
        allow_redirects=False,
        timeout=10,
    )
    assert forged_cookie.status_code == 303


def test_packet_text_is_escaped_and_raw_is_served_as_plain_text(ops_stand: OpsStand) -> None:
    session = login(ops_stand)
    page = session.get(f"{ops_stand.url}/console/packets/{ops_stand.script_rejected}", timeout=10)
    assert page.status_code == 200
    assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in page.text
    assert "<script" not in page.text and "<b>bold" not in page.text
    raw = session.get(
        f"{ops_stand.url}/console/packets/{ops_stand.script_rejected}/raw", timeout=10
    )
    assert raw.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert raw.headers["X-Content-Type-Options"] == "nosniff"
    assert raw.content == b"<script>alert('owned')</script><b>bold</b>"
    listing = session.get(ops_stand.url + "/console/?state=failed&since=2h", timeout=10).text
    assert ops_stand.failed[-1] in listing and ops_stand.processed not in listing
    errors = session.get(ops_stand.url + "/console/?state=processed&errors=1", timeout=10).text
    assert ops_stand.with_item_errors in errors and ops_stand.failed[-1] not in errors
    bad = session.get(ops_stand.url + "/console/?since=<i>soon</i>", timeout=10)
    assert bad.status_code == 200 and "&lt;i&gt;soon&lt;/i&gt;" in bad.text


def test_disabled_operator_and_logout_end_the_session(ops_stand: OpsStand) -> None:
    output = ops_stand.cli("operators", "add", "temp-ops").stdout
    password = output.split("console password: ")[1].strip()
    session = login(ops_stand, "temp-ops", password)
    assert session.get(ops_stand.url + "/console/", timeout=10).url.endswith("/console/")
    ops_stand.cli("operators", "disable", "temp-ops")
    assert session.get(ops_stand.url + "/console/", timeout=10).url.endswith("/console/login")
    assert "disabled" in ops_stand.cli("operators", "list").stdout

    session = login(ops_stand)
    home = session.get(ops_stand.url + "/console/", timeout=10)
    session.post(
        ops_stand.url + "/console/logout",
        data={"csrf": _csrf(home.text)},
        headers={"Origin": ops_stand.url},
        timeout=10,
    )
    assert session.get(ops_stand.url + "/console/", timeout=10).url.endswith("/console/login")


def test_rejected_signature_page_shows_the_diagnosis(ops_stand: OpsStand) -> None:
    session = login(ops_stand)
    page = session.get(f"{ops_stand.url}/console/packets/{ops_stand.rejected}", timeout=10)
    assert page.status_code == 200
    match = re.search(r'<pre class="xml" id="signature-diagnosis">(.*?)</pre>', page.text, re.S)
    assert match, page.text
    report = match.group(1)
    # The house import's FloorCount was changed after signing: the data reference differs,
    # the SignedInfo itself still verifies, the certificate is trusted.
    assert "URI=#" in report and "MISMATCH" in report
    assert "signature value:  verifies" in report
    assert "trusted:  yes" in report
    assert "INVALID: signature refused (digest-mismatch)" in report
    # A packet refused before any signature check gets no diagnosis section.
    other = session.get(f"{ops_stand.url}/console/packets/{ops_stand.script_rejected}", timeout=10)
    assert "signature-diagnosis" not in other.text


def test_names_beside_guids_and_the_raw_packet_pretty_with_the_signature_folded(
    ops_stand: OpsStand,
) -> None:
    from lxml import html as lxml_html

    session = login(ops_stand)
    listing = lxml_html.fromstring(session.get(ops_stand.url + "/console/", timeout=10).text)
    cells = listing.xpath("//table[@id='packets']//td[@class='org']")
    assert any(
        c.findtext(".//span[@class='org-name']") == "UK Ops"
        and c.findtext(".//span[@class='guid']") == ops_stand.org.guid
        for c in cells
    )
    page = session.get(f"{ops_stand.url}/console/packets/{ops_stand.processed}", timeout=10)
    doc = lxml_html.fromstring(page.text)
    assert "UK Ops" in doc.get_element_by_id("organisation").text_content()
    raw = doc.get_element_by_id("raw")
    shown = "".join(p.text_content() for p in raw.xpath("./pre"))
    folded = raw.xpath("./details[@class='signature']")
    assert len(folded) == 1  # the signature: folded, not gone
    assert "ds:Signature> folded" in folded[0].find("summary").text_content()
    assert "SignatureValue" in folded[0].findtext("pre") and "SignatureValue" not in shown
    assert re.search(r"\n  <[\w-]+:Body>\n    <", shown)  # indented, two spaces a level
    assert not doc.xpath("//script")
    # the stored bytes stay the record
    assert (
        session.get(
            f"{ops_stand.url}/console/packets/{ops_stand.processed}/raw", timeout=10
        ).content
        == ops_stand.processed_bytes
    )


def test_overview_charts_count_what_the_stand_went_through(ops_stand: OpsStand) -> None:
    from lxml import html as lxml_html

    session = login(ops_stand)
    doc = lxml_html.fromstring(session.get(ops_stand.url + "/console/", timeout=10).text)

    def total(chart: str, series: str) -> float:
        (line,) = doc.xpath(f"//*[@id='{chart}']//*[@data-series='{series}']")
        assert len(line.get("points").split()) == 180  # one point a minute, 3 hours
        return float(line.get("data-total"))

    states = dict(ops_stand.sql("SELECT state, COUNT(*) FROM packets GROUP BY state"))
    errors = ops_stand.sql("SELECT SUM(result_errors) FROM packets WHERE state = 'processed'")
    assert total("chart-packets", "received") == sum(states.values())
    assert total("chart-packets", "refused") == states["rejected"]
    assert total("chart-packets", "processed") == states["processed"]
    assert total("chart-packets", "failed") == states.get("failed", 0) + states.get("dead", 0)
    assert total("chart-item-errors", "item-errors") == errors[0][0] >= 1
    depth = doc.xpath("//*[@id='chart-queue-depth']//*[@data-series='depth']")[0]
    assert float(depth.get("data-peak")) >= 1  # every accepted packet waited in the queue
    age = doc.xpath("//*[@id='chart-oldest-age']//*[@data-series='oldest-age']")[0]
    assert float(age.get("data-peak")) > 0
