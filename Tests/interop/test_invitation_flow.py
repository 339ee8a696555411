"""An admin invites someone from the members page in headless Chromium; the link the page shows
is opened in a fresh browser, where the person creates their account and lands as a member with
the role they were invited to (checked through the JSON API)."""

import secrets
from urllib.parse import urlparse

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from portal_helpers import approve_by_hand, poll_for_token, request_device_code
from test_browser_flow import artifacts_dir, browser, chromium, patient, replaced  # noqa: F401 (fixture)


@pytest.fixture
def fresh_browser():
    driver = chromium()
    try:
        yield driver
    finally:
        driver.quit()


def test_admin_invites_from_the_members_page_and_the_person_joins_in_a_fresh_browser(portal, browser,
                                                                                     fresh_browser):
    email = f"nia-{secrets.token_hex(4)}@example.com"
    members_path = f"/orgs/{portal.org_slug}/members"
    wait = WebDriverWait(browser, 15)
    browser.get(portal.url(f"/login?next={members_path}"))
    browser.find_element(By.NAME, "email").send_keys(portal.email)
    browser.find_element(By.NAME, "password").send_keys(portal.password)
    browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
    wait.until(lambda d: urlparse(d.current_url).path == members_path)

    form = browser.find_element(By.CSS_SELECTOR, f"form[action='{members_path}']")
    form.find_element(By.NAME, "email").send_keys(email)
    Select(form.find_element(By.NAME, "role")).select_by_value("viewer")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(replaced(form))
    link = patient(browser).until(lambda d: d.find_element(By.ID, "invitation-url")).get_attribute("value")
    assert link.startswith(portal.url("/invitations/")), link
    shot = artifacts_dir() / "invitation-made.png"
    assert browser.save_screenshot(str(shot)), shot
    print(f"screenshot: {shot}")
    # The link is shown once: the page itself no longer carries it.
    browser.get(portal.url(members_path))
    assert email in browser.page_source and link not in browser.page_source

    fresh = WebDriverWait(fresh_browser, 15)
    fresh_browser.get(link)
    fresh.until(lambda d: d.find_element(By.TAG_NAME, "h1").text == f"Join {portal.org_name}")
    assert "viewer" in fresh_browser.page_source and portal.email in fresh_browser.page_source
    fresh_browser.find_element(By.NAME, "name").send_keys("Nia Newcomer")
    fresh_browser.find_element(By.NAME, "password").send_keys("nia's long password")
    shot = artifacts_dir() / "invitation-page.png"
    assert fresh_browser.save_screenshot(str(shot)), shot
    print(f"screenshot: {shot}")
    submit = fresh_browser.find_element(By.CSS_SELECTOR, "button[type=submit].primary")
    submit.click()
    fresh.until(replaced(submit))
    patient(fresh_browser).until(lambda d: urlparse(d.current_url).path == members_path)
    assert "Nia Newcomer" in fresh_browser.page_source

    # Spent: the same link now answers 410 and changes nothing.
    assert requests.get(link, timeout=10).status_code == 410

    grant = request_device_code(portal, device_name="invitation-check")
    approve_by_hand(portal, grant["user_code"])
    token = poll_for_token(portal, grant["device_code"], grant["interval"])["access_token"]
    members = requests.get(portal.url(f"/api/orgs/{portal.org_slug}/members"),
                           headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert members.status_code == 200, members.text
    joined = [m for m in members.json()["items"] if m["user"]["email"] == email]
    assert [(m["user"]["name"], m["role"]) for m in joined] == [("Nia Newcomer", "viewer")], members.text
    pending = requests.get(portal.url(f"/api/orgs/{portal.org_slug}/invitations"),
                           headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert pending.status_code == 200 and all(i["email"] != email for i in pending.json()["items"]), pending.text
