"""The docs page as a person uses it: headless Chromium on `/docs` of the local stack.

It renders every operation of the served document, and "Try it out" calls the API with the ID
token pasted into "Authorize" (or obtained by logging in through the page). Needs Debian's
`chromium` and `chromium-driver` (`make test` installs them where it runs as root) and skips,
saying why, where they are missing.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.request
import warnings

import pytest

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CUSTOMER = ("docs-customer@example.com", "DocsCustomer123")
# No network here: without these Chromium keeps trying to reach Google's services.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1280,1000")
WAIT_SECONDS = 15


def _skip_loudly(reason: str) -> None:
    warnings.warn(f"the docs page's browser test did not run: {reason}", stacklevel=2)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def webdriver_module():
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        _skip_loudly(f"{' and '.join(missing)} missing: install Debian's chromium and chromium-driver "
                     "(`make test` does as root with apt-get)")
    try:
        from selenium import webdriver
    except ImportError:
        _skip_loudly("selenium is not installed (requirements-dev.txt)")
    return webdriver


@pytest.fixture(scope="module")
def base_url(webdriver_module, tmp_path_factory):
    """The local stack (`python -m local.run`, as `make run` starts it) on a free port."""
    from tests.stack import local_run

    with local_run(tmp_path_factory.mktemp("docs-stack") / "run.log",
                   LOCAL_CUSTOMER_EMAIL=CUSTOMER[0], LOCAL_CUSTOMER_PASSWORD=CUSTOMER[1]) as base:
        yield base


@pytest.fixture(scope="module")
def browser(webdriver_module):
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="docs-chromium-")
    options = webdriver_module.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver_module.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _get_json(url: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=15) as response:
        return json.loads(response.read())


def _wait(driver):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.05)


def _clickable(driver, selector: str, by: str = "css selector"):
    from selenium.webdriver.support import expected_conditions as ec

    element = _wait(driver).until(ec.element_to_be_clickable((by, selector)))
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    return element


def _open_docs(browser, base_url: str) -> dict:
    """The page with every operation drawn, loaded once for the module (drawing it takes seconds)."""
    spec = _get_json(base_url + "/openapi.json")
    if browser.current_url.split("#")[0] != base_url + "/docs":  # deep links change only the fragment
        browser.get(base_url + "/docs")
    expected = sum(len(operations) for operations in spec["paths"].values())
    _wait(browser).until(lambda d: len(d.find_elements("css selector", ".opblock")) >= expected)
    return spec


def _log_out(browser) -> None:
    """Forget the page's token ("Authorize", "Logout") if it holds one."""
    from selenium.webdriver.common.by import By

    if browser.find_elements(By.CSS_SELECTOR, ".auth-wrapper .btn.authorize.locked"):
        _clickable(browser, ".auth-wrapper .btn.authorize").click()
        _clickable(browser, "//*[contains(@class, 'modal-ux')]//button[normalize-space()='Logout']", By.XPATH).click()
        _clickable(browser, ".modal-ux .btn-done").click()
    _wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, ".auth-wrapper .btn.authorize.unlocked"))


def _paste(browser, field, text: str) -> None:
    """Put text in a React-controlled field at once, as pasting does (typing a token key by key takes seconds)."""
    browser.execute_script("""
        const [field, text] = arguments;
        const prototype = field.tagName === 'TEXTAREA' ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
        Object.getOwnPropertyDescriptor(prototype, 'value').set.call(field, text);
        field.dispatchEvent(new Event('input', {bubbles: true}));""", field, text)


def _operation(spec: dict, method: str, path: str) -> str:
    """The CSS id Swagger UI gives an operation's block."""
    operation = spec["paths"][path][method]
    return f"#operations-{operation['tags'][0]}-{operation['operationId']}"


def _execute(browser, block: str) -> tuple[str, str]:
    """Open the operation, "Try it out", "Execute": its live response's (status, body)."""
    from selenium.webdriver.common.by import By

    _clickable(browser, f"{block} .opblock-summary-control").click()
    _clickable(browser, f"{block} .try-out__btn").click()
    _clickable(browser, f"{block} .btn.execute").click()
    status = _wait(browser).until(lambda d: d.find_element(
        By.CSS_SELECTOR, f"{block} .live-responses-table tr.response .response-col_status").text.strip() or False)
    body = browser.find_element(By.CSS_SELECTOR, f"{block} .live-responses-table tr.response .response-col_description pre")
    return status, body.text


def test_the_page_renders_every_operation_of_the_document_with_no_policy_violation(browser, base_url):
    spec = _open_docs(browser, base_url)
    rendered = browser.execute_script("""
        return Array.from(document.querySelectorAll('.opblock')).map(b => [
            b.querySelector('.opblock-summary-method').textContent.trim().toLowerCase(),
            b.querySelector('.opblock-summary-path').getAttribute('data-path')]);""")
    documented = {(method, path) for path, operations in spec["paths"].items() for method in operations}
    assert {tuple(row) for row in rendered} == documented
    assert len(rendered) == len(documented)
    refused = [entry["message"] for entry in browser.get_log("browser")
               if entry["level"] == "SEVERE" and "Content Security Policy" in entry["message"]]
    assert not refused, refused  # Swagger UI runs under the page's CSP (self-hosted scripts only)


def test_try_it_out_calls_get_me_with_the_pasted_id_token(browser, base_url):
    from selenium.webdriver.common.by import By

    token = _get_json(base_url + "/auth/login", {"email": CUSTOMER[0], "password": CUSTOMER[1]})["idToken"]
    spec = _open_docs(browser, base_url)
    _log_out(browser)
    _clickable(browser, ".auth-wrapper .btn.authorize").click()
    _paste(browser, _clickable(browser, ".modal-ux .auth-container input[type=text]"), token)
    _clickable(browser, ".modal-ux .auth-btn-wrapper .btn.authorize").click()
    _clickable(browser, ".modal-ux .btn-done").click()

    block = _operation(spec, "get", "/me")
    status, body = _execute(browser, block)
    assert status == "200", body
    assert json.loads(body)["email"] == CUSTOMER[0]
    curl = browser.find_element(By.CSS_SELECTOR, f"{block} .curl-command").text
    assert f"Authorization: {token}" in curl


def test_logging_in_through_try_it_out_authorizes_the_page(browser, base_url):
    from selenium.webdriver.common.by import By

    spec = _open_docs(browser, base_url)
    _log_out(browser)
    block = _operation(spec, "post", "/auth/login")
    _clickable(browser, f"{block} .opblock-summary-control").click()
    _clickable(browser, f"{block} .try-out__btn").click()
    _paste(browser, _clickable(browser, f"{block} textarea.body-param__text"),
           json.dumps({"email": CUSTOMER[0], "password": CUSTOMER[1]}))
    _clickable(browser, f"{block} .btn.execute").click()
    _wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, ".auth-wrapper .btn.authorize.locked"))

    status, answer = _execute(browser, _operation(spec, "get", "/basket"))
    assert status == "200", answer
    assert "items" in json.loads(answer)
