"""The docs page works in a real browser: Authorize with a key and a token, then Try it out.

Headless Chromium (Debian's chromium and chromium-driver, installed by
.ci/run) opens the served Swagger UI, enters the API key and a bearer token in
the Authorize dialog, creates an application with "Try it out" and lists it.
"""

from __future__ import annotations

import json
import shutil
import time

import jwt
import pytest
from live_server import RestartableServer

pytestmark = [pytest.mark.slow, pytest.mark.own_database]

KEY = "docs-page-api-key-000000000000"
SECRET = "docs-page-secret-" + "0" * 32
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
BODY = {"accountName": "From the docs page", "_links": {"apiture:product": {
    "href": "https://www.example.com/products/products/51df9a81-2cb8-4515-aad1-9543b3c4fc18"}}}


@pytest.fixture
def browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in [test]")
    if not (CHROMIUM and DRIVER):
        pytest.skip("no chromium and chromedriver (.ci/run installs Debian's packages)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER),
                              options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture
def server(tmp_path):
    settings = {"ACCOUNTAPPS_DATABASE_URL": f"sqlite:///{tmp_path}/docs.db",
                "ACCOUNTAPPS_JWT_SECRET": SECRET, "ACCOUNTAPPS_API_KEYS": KEY}
    live = RestartableServer(settings, workers=1, threads=4, log_dir=tmp_path).start()
    yield live
    live.stop()


def _wait(find, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = find()
            if found:
                return found
        except Exception:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise TimeoutError("the docs page did not show what was expected")
        time.sleep(0.2)


def _click(driver, element) -> None:
    # A script's click: the page's sticky parts may lie over an element scrolled into view.
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();",
                          element)


def _run(driver, operation: str, body: dict | None = None) -> tuple[str, str]:
    """Open an operation, Try it out, Execute; its status code and response body."""
    by = pytest.importorskip("selenium.webdriver.common.by").By
    block = _wait(lambda: driver.find_element(by.ID, operation))
    if not block.find_elements(by.CSS_SELECTOR, ".try-out__btn"):
        summary = (block.find_elements(by.CSS_SELECTOR, ".opblock-summary-control")
                   or block.find_elements(by.CSS_SELECTOR, ".opblock-summary"))
        _click(driver, summary[0])
    _click(driver, _wait(lambda: block.find_element(by.CSS_SELECTOR, ".try-out__btn")))
    if body is not None:
        area = _wait(lambda: block.find_element(by.CSS_SELECTOR, "textarea.body-param__text"))
        area.clear()
        area.send_keys(json.dumps(body))
    _click(driver, block.find_element(by.CSS_SELECTOR, ".execute"))
    status = _wait(lambda: block.find_element(
        by.CSS_SELECTOR, ".live-responses-table tbody .response-col_status").text.strip())
    text = block.find_element(by.CSS_SELECTOR, ".live-responses-table .microlight").text
    return status.split()[0], text


def test_the_docs_page_authorizes_and_tries_out_a_create_and_a_list(browser, server):
    by = pytest.importorskip("selenium.webdriver.common.by").By
    now = int(time.time())
    token = jwt.encode({"sub": "greta", "scope": "banking/full", "iat": now, "exp": now + 600},
                       SECRET, algorithm="HS256")
    browser.get(f"{server.url}/accountApplications/docs")
    _click(browser, _wait(lambda: browser.find_element(by.CSS_SELECTOR, "button.authorize")))
    forms = _wait(lambda: browser.find_elements(by.CSS_SELECTOR, ".modal-ux .auth-container"))
    for form in forms:
        title = form.text
        field = form.find_element(by.CSS_SELECTOR, "input")
        field.send_keys(KEY if "apiKey" in title else token)
        _click(browser, form.find_element(by.CSS_SELECTOR, "button.authorize"))
    _click(browser, browser.find_element(by.CSS_SELECTOR, ".modal-ux button.btn-done"))
    status, created = _run(browser, "operations-applications-createApplication", BODY)
    assert status == "201", created
    application_id = json.loads(created)["_id"]
    status, listed = _run(browser, "operations-applications-getApplications")
    assert status == "200", listed
    assert [item["_id"] for item in json.loads(listed)["_embedded"]["items"]] == [application_id]
