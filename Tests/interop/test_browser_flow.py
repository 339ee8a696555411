"""A person approves a device in headless Chromium: sign in, type the code, pick the org,
approve; the app's side (code request, polling, /me) is plain HTTP."""

import dataclasses
import os
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from conftest import admin
from portal_helpers import approve_by_hand, get_me, poll_for_token, request_device_code


def replaced(element):
    """True once the page holding `element` is gone. While a page is being replaced, Chrome can
    answer any error about its nodes (not only a stale reference), so any WebDriver error counts."""
    def gone(_driver):
        try:
            element.is_enabled()
            return False
        except WebDriverException:
            return True
    return gone


def patient(browser):
    """A wait that keeps trying through the errors of a page still loading."""
    return WebDriverWait(browser, 15, ignored_exceptions=(WebDriverException,))


def chromium() -> webdriver.Chrome:
    """A fresh headless Chromium: its own profile, so no cookie of another browser."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,900"):
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))


@pytest.fixture
def browser():
    driver = chromium()
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

    wait.until(replaced(confirm_page))
    patient(browser).until(lambda d: d.find_element(By.TAG_NAME, "h1").text == "Device connected")
    assert portal.org_name in browser.page_source
    shot = artifacts_dir() / "device-connected.png"
    assert browser.save_screenshot(str(shot)), shot
    print(f"screenshot: {shot}")

    token = poll_for_token(portal, grant["device_code"], grant["interval"])
    me = get_me(portal, token["access_token"])
    assert me.status_code == 200, me.text
    assert me.json()["user"]["email"] == portal.email
    assert me.json()["organization"]["slug"] == portal.org_slug


def test_owner_removes_a_member_in_the_members_page_and_their_token_dies(portal, browser):
    bob = dataclasses.replace(portal, email="bob@example.com", password="bob's long password", user_name="Bob")
    admin(portal.admin_env, "create-user", "--email", bob.email, "--name", bob.user_name, "--password", bob.password)
    admin(portal.admin_env, "add-member", "--org", portal.org_slug, "--email", bob.email, "--role", "member")
    grant = request_device_code(bob, device_name="bobs-laptop")
    approve_by_hand(bob, grant["user_code"])
    token = poll_for_token(bob, grant["device_code"], grant["interval"])["access_token"]
    assert get_me(portal, token).status_code == 200

    wait = WebDriverWait(browser, 15)
    browser.get(portal.url(f"/login?next=/orgs/{portal.org_slug}/members"))
    browser.find_element(By.NAME, "email").send_keys(portal.email)
    browser.find_element(By.NAME, "password").send_keys(portal.password)
    browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
    wait.until(lambda d: urlparse(d.current_url).path == f"/orgs/{portal.org_slug}/members")

    bobs_card = browser.find_element(By.XPATH, f"//li[.//*[contains(text(), '{bob.email}')]]")
    remove = bobs_card.find_element(By.XPATH, ".//button[contains(text(), 'Remove')]")
    assert remove.text == "Remove (revokes 1 token)"
    remove.click()
    wait.until(replaced(bobs_card))
    patient(browser).until(lambda d: "Members" in d.title and bob.email not in d.page_source)

    me = get_me(portal, token)
    assert me.status_code == 401
    assert 'error="invalid_token"' in me.headers["WWW-Authenticate"]
