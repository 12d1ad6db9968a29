"""The console in a real headless Chromium (Debian's chromium + chromedriver, via selenium):
log in, filter failed packets, open one, replay it, see it processed.

Skips with the reason when chromium or chromedriver is not installed (``scripts/test``
installs them when it runs as root).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.ops.conftest import OPERATOR, OPERATOR_PASSWORD, OpsStand

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1000",
)

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="headless browser test needs Debian's chromium and chromium-driver "
    "(apt-get install -y chromium chromium-driver; scripts/test does it as root)",
)


def _start(webdriver: Any, service_class: Any, options: Any, attempts: int = 3) -> Any:
    """Start chromium; on a loaded machine its first start can crash, so try again."""
    from selenium.common.exceptions import WebDriverException

    for attempt in range(1, attempts + 1):
        try:
            return webdriver.Chrome(
                service=service_class(executable_path=CHROMEDRIVER), options=options
            )
        except WebDriverException:
            if attempt == attempts:
                raise
            time.sleep(2 * attempt)
    raise AssertionError("unreachable")


@pytest.fixture
def browser() -> Iterator[Any]:
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ARGS:
        options.add_argument(arg)
    driver = _start(webdriver, Service, options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def test_log_in_filter_failed_open_replay_and_see_it_processed(
    ops_stand: OpsStand, browser: Any
) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    guid = ops_stand.failed[-1]
    assert ops_stand.state(guid) == "failed"
    # the detail page refreshes itself while a packet is queued: an element found just before
    # a refresh goes stale, and the wait looks again
    wait = WebDriverWait(
        browser, 30, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,)
    )

    browser.get(ops_stand.url + "/console/")
    assert browser.current_url.endswith("/console/login")
    browser.find_element(By.ID, "login").send_keys(OPERATOR)
    browser.find_element(By.ID, "password").send_keys(OPERATOR_PASSWORD)
    browser.find_element(By.ID, "login-submit").click()
    wait.until(lambda d: d.find_elements(By.ID, "filters"))
    assert browser.find_element(By.ID, "overview").is_displayed()
    for chart in ("chart-packets", "chart-item-errors", "chart-queue-depth", "chart-oldest-age"):
        svg = browser.find_element(By.ID, chart)
        assert svg.is_displayed() and svg.size["width"] > 300, chart
        assert svg.find_elements(By.CSS_SELECTOR, "polyline.series")
    # organisation names beside their GUIDs
    assert "UK Ops" in browser.find_element(By.ID, "packets").text

    # the other kind of "failed": processed packets whose items carry errors
    Select(browser.find_element(By.ID, "filter-state")).select_by_value("processed")
    browser.find_element(By.ID, "filter-errors").click()
    browser.find_element(By.ID, "filter-submit").click()
    wait.until(lambda d: "errors=1" in d.current_url)
    assert ops_stand.with_item_errors in browser.find_element(By.ID, "packets").text

    Select(browser.find_element(By.ID, "filter-state")).select_by_value("failed")
    browser.find_element(By.ID, "filter-errors").click()  # untick
    browser.find_element(By.ID, "filter-submit").click()
    wait.until(lambda d: "state=failed" in d.current_url and "errors=1" not in d.current_url)
    rows = browser.find_elements(By.CSS_SELECTOR, "#packets tbody tr")
    assert rows and all("failed" in row.text for row in rows)
    browser.find_element(By.LINK_TEXT, guid).click()

    wait.until(lambda d: d.find_elements(By.ID, "packet-state"))
    assert browser.find_element(By.ID, "packet-state").text == "failed"
    assert "EXP001000" in browser.find_element(By.ID, "packet-error").text
    history = browser.find_element(By.ID, "history").text
    assert "attempt 1 by" in history and "KeyError" in history
    assert ops_stand.org.guid in browser.find_element(By.ID, "signer").text
    raw = browser.find_element(By.ID, "raw").text
    assert "exportMeteringDeviceDataRequest" in raw and "<" in raw  # shown as text
    # the signature is folded away: its summary shows, its content only once opened
    signature = browser.find_element(By.CSS_SELECTOR, "#raw details.signature")
    value = signature.find_element(By.TAG_NAME, "pre")
    assert "SignatureValue" not in raw and not value.is_displayed()
    summary = signature.find_element(By.TAG_NAME, "summary")
    assert "ds:Signature> folded" in summary.text
    summary.click()
    wait.until(lambda d: value.is_displayed())
    assert "SignatureValue" in value.text
    assert browser.find_elements(By.TAG_NAME, "script") == []

    browser.find_element(By.ID, "replay").click()
    wait.until(lambda d: d.find_elements(By.ID, "notice"))
    assert "Replay queued" in browser.find_element(By.ID, "notice").text
    # the page refreshes itself while the packet is queued or processing
    wait.until(lambda d: d.find_element(By.ID, "packet-state").text == "processed")
    assert "console:" + OPERATOR in browser.find_element(By.ID, "replays").text
    assert "exportMeteringDeviceDataResult" in browser.find_element(
        By.ID, "result-xml"
    ).get_attribute("textContent")
    assert ops_stand.state(guid) == "processed"
