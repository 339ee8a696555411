"""A person approves a device in headless Chromium: sign in, type the code, pick the org,
approve; the app's side (code request, polling, /me) is plain HTTP."""

import os
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from portal_helpers import get_me, poll_for_token, request_device_code


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    try:
        yield driver
    finally:
        driver.quit()


def artifacts_dir() -> Path:
    """Where screenshots go: $INTEROP_ARTIFACTS, or a fresh temp dir; never the repository."""
    configured = os.environ.get("INTEROP_ARTIFACTS")
    path = Path(configured) if configured else Path(tempfile.mkdtemp(prefix="portal-interop-shots-"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_person_approves_a_device_in_the_browser(portal, browser):
    grant = request_device_code(portal, device_name="selenium-box")
    wait = WebDriverWait(browser, 15)

    browser.get(portal.url("/auth/device"))
    wait.until(lambda d: urlparse(d.current_url).path == "/login")
    browser.find_element(By.NAME, "email").send_keys(portal.email)
    browser.find_element(By.NAME, "password").send_keys(portal.password)
    browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()

    wait.until(lambda d: urlparse(d.current_url).path == "/auth/device")
    code_field = wait.until(EC.presence_of_element_located((By.NAME, "user_code")))
    code_field.clear()
    code_field.send_keys(grant["user_code"].replace("-", "").lower())
    code_field.submit()

    org = wait.until(EC.element_to_be_clickable(
        (By.CSS_SELECTOR, f"input[type=radio][name=org][value='{portal.org_slug}']")))
    assert "selenium-box" in browser.page_source and "Interop CLI" in browser.page_source
    org.click()
    confirm_page = browser.find_element(By.TAG_NAME, "h1")
    browser.find_element(By.CSS_SELECTOR, "button[name=action][value=approve]").click()

    wait.until(EC.staleness_of(confirm_page))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Device connected"
    assert portal.org_name in browser.page_source
    shot = artifacts_dir() / "device-connected.png"
    assert browser.save_screenshot(str(shot)), shot
    print(f"screenshot: {shot}")

    token = poll_for_token(portal, grant["device_code"], grant["interval"])
    me = get_me(portal, token["access_token"])
    assert me.status_code == 200, me.text
    assert me.json()["user"]["email"] == portal.email
    assert me.json()["organization"]["slug"] == portal.org_slug
