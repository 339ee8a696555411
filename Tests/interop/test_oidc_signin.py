"""Sign-in with the company's OpenID Connect provider (issue 15), against a real provider this
project did not write (oidc-provider-mock 0.3.4, started here) and headless Chromium:
- an existing account (portal create-user, a member) signs in by the "Sign in with …" button, is
  linked by its verified email, and approves a device it was asked about (`next` kept through
  the provider); the API token acts with the member's role on /me;
- a person with no account and a verified email is created (named as the provider says), and
  once `portal add-member` adds them, approves a device;
- `portal link-identity` links an account whatever email the provider gives;
- a client registered at the provider (its redirect URI and secret checked) signs in; a wrong
  secret gets a page;
- an unverified email gets a page saying so (403) and nobody is signed in; with
  OIDC_AUTO_CREATE=false a person with no account gets a page saying so;
- denying at the provider shows the denial page (oidc-provider-mock's Deny leaves `state` out,
  which gets the unknown-sign-in page); a callback URL used twice, twice at once, or in another
  browser, gets the 400 page; `next` never leads out of the portal;
- PASSWORD_SIGNIN=false: the sign-in page has only the button and POST /login with a password is
  403; screenshots of the sign-in page in both modes go to $INTEROP_ARTIFACTS;
- the provider going down: a sign-in under way gets a 503 page, and so does the button (of a
  provider down from the start, and of one that went down after use); the server lives,
  password sign-in and API tokens keep working, fast; a provider that never answers costs the
  button a bounded wait and API tokens nothing."""

import dataclasses
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from conftest import ROOT, _free_port, _portal_bin
from identity_fixtures import (NO_WAIT, BlackHole, oidc_provider, oidc_settings, page_text, provider_mock, signed_in,
                               signin_through_provider, start_portal)
from portal_helpers import Portal, approve_by_hand, csrf_of, get_me, poll_for_token, request_device_code, sign_in
from test_browser_flow import artifacts_dir, browser, patient, replaced


@pytest.fixture(scope="module")
def sso_portal(oidc_provider):
    """A portal that offers the provider's button above the password form (auto-create on)."""
    own = start_portal(**oidc_settings(oidc_provider))
    try:
        yield own
    finally:
        own.stop()


def metric(portal: Portal, series: str) -> float:
    """The value of one series of /metrics (loopback needs no token); 0 when absent."""
    text = requests.get(portal.url("/metrics"), timeout=10).text
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def assert_no_account(portal: Portal, email: str):
    """No account has this email: `portal add-member` for it fails."""
    added = subprocess.run([_portal_bin(), "add-member", "--org", portal.org_slug, "--email", email, "--role", "member"],
                           cwd=ROOT, env=portal.admin_env, capture_output=True, text=True, timeout=120)
    assert added.returncode != 0, f"an account exists for {email}: {added.stdout}"


def on_portal(portal: Portal, path: str):
    """A wait condition: the browser is on the portal, at `path`."""
    def there(driver):
        url = urlparse(driver.current_url)
        return f"{url.scheme}://{url.netloc}" == portal.base_url and url.path == path
    return there


def through_provider_form(browser, provider, sub: str | None):
    """At the provider's authorize page: answers with `sub`, or presses Deny."""
    WebDriverWait(browser, 15).until(lambda d: d.current_url.startswith(provider.issuer + "/oauth2/authorize"))
    if sub is None:
        browser.find_element(By.CSS_SELECTOR, "button[name=action][value=deny]").click()
    else:
        field = browser.find_element(By.NAME, "sub")
        field.send_keys(sub)
        field.submit()


def approve_in_browser(browser, portal: Portal, org_slug: str):
    """On the code page (prefilled): continue, pick the org, approve, and wait for the result."""
    wait = WebDriverWait(browser, 15)
    wait.until(EC.presence_of_element_located((By.NAME, "user_code"))).submit()
    org = wait.until(EC.element_to_be_clickable(
        (By.CSS_SELECTOR, f"input[type=radio][name=org][value='{org_slug}']")))
    org.click()
    heading = browser.find_element(By.TAG_NAME, "h1")
    browser.find_element(By.CSS_SELECTOR, "button[name=action][value=approve]").click()
    wait.until(replaced(heading))
    patient(browser).until(lambda d: d.find_element(By.TAG_NAME, "h1").text == "Device connected")


def test_an_existing_account_signs_in_with_the_provider_and_approves_a_device(sso_portal, oidc_provider, browser):
    portal = sso_portal.info
    sso_portal.run("create-user", "--email", "linus@example.com", "--name", "Linus", "--password", "a long password 1")
    sso_portal.run("add-member", "--org", portal.org_slug, "--email", "linus@example.com", "--role", "member")
    # The provider's email differs in case only: linking compares emails case-insensitively.
    oidc_provider.set_user("user_2linus", "Linus@Example.com", verified=True, name="Linus at Acme")
    signins_before = metric(portal, 'portal_signins_total{method="oidc",outcome="succeeded"}')
    grant = request_device_code(portal, device_name="linus-laptop")

    # The app opened verification_uri_complete: the portal asks for a sign-in and keeps `next`.
    browser.get(grant["verification_uri_complete"])
    WebDriverWait(browser, 15).until(on_portal(portal, "/login"))
    button = browser.find_element(By.ID, "provider-signin")
    assert button.text == "Sign in with Acme SSO"
    assert browser.find_elements(By.NAME, "password"), "the password form should be shown too"
    button.click()
    through_provider_form(browser, oidc_provider, "user_2linus")

    # Back at the portal, signed in, on the page `next` named: the code is prefilled.
    WebDriverWait(browser, 20).until(on_portal(portal, "/auth/device"))
    code = browser.find_element(By.NAME, "user_code")
    assert code.get_attribute("value") == grant["user_code"], "next (with its user_code) was lost"
    assert "linus@example.com" in browser.page_source, "not signed in as the linked account"
    approve_in_browser(browser, portal, portal.org_slug)
    assert "Interop CLI on linus-laptop is now signed in to" in browser.find_element(By.TAG_NAME, "main").text

    token = poll_for_token(portal, grant["device_code"], grant["interval"])
    assert token["user"]["email"] == "linus@example.com"
    me = get_me(portal, token["access_token"])
    assert me.status_code == 200, me.text
    assert me.json()["user"]["email"] == "linus@example.com"
    assert me.json()["user"]["name"] == "Linus", "signing in through the provider must not rename the account"
    assert me.json()["role"]["name"] == "member"
    assert me.json()["organization"]["slug"] == portal.org_slug
    assert me.json()["auth"]["type"] == "api_token"
    assert metric(portal, 'portal_signins_total{method="oidc",outcome="succeeded"}') == signins_before + 1

    # Linked now by (issuer, sub): a later sign-in works even after the email changed at the provider.
    oidc_provider.set_user("user_2linus", "linus.torvalds@acme.example", verified=False)
    again = signin_through_provider(portal, "user_2linus")
    assert again.landing.status_code in (302, 303), (again.landing.status_code, page_text(again.landing.text))
    assert signed_in(portal, again.web)
    assert "linus@example.com" in again.web.get(portal.url("/auth/device"), timeout=10).text


def test_a_new_person_with_a_verified_email_is_created_then_added_and_approves(sso_portal, oidc_provider, browser):
    portal = sso_portal.info
    oidc_provider.set_user("user_2grace", "grace@example.com", verified=True, name="Grace Hopper")
    browser.get(portal.url("/login"))
    browser.find_element(By.ID, "provider-signin").click()
    through_provider_form(browser, oidc_provider, "user_2grace")

    # Signed in to a new account (no org yet): the page header names her.
    WebDriverWait(browser, 20).until(on_portal(portal, "/auth/device"))
    assert "grace@example.com" in browser.page_source
    assert browser.find_elements(By.CSS_SELECTOR, "form[action='/logout']"), "not signed in"

    # The account exists: an admin adds her, and she approves a device as a viewer.
    sso_portal.run("add-member", "--org", portal.org_slug, "--email", "grace@example.com", "--role", "viewer")
    grant = request_device_code(portal, device_name="grace-box")
    browser.get(grant["verification_uri_complete"])
    WebDriverWait(browser, 15).until(on_portal(portal, "/auth/device"))
    approve_in_browser(browser, portal, portal.org_slug)
    token = poll_for_token(portal, grant["device_code"], grant["interval"])
    me = get_me(portal, token["access_token"])
    assert me.status_code == 200, me.text
    assert me.json()["user"] == {"id": me.json()["user"]["id"], "email": "grace@example.com", "name": "Grace Hopper"}
    assert me.json()["role"]["name"] == "viewer"
    # The account has no password: the password form does not sign her in with an empty or any one.
    web = requests.Session()
    page = web.get(portal.url("/login"), timeout=10)
    refused = web.post(portal.url("/login"), timeout=10, data={
        "email": "grace@example.com", "password": "anything at all", "next": "/auth/device",
        "csrf_token": csrf_of(page)})
    assert refused.status_code == 401 and not signed_in(portal, web)


def test_an_unverified_email_is_refused_and_nobody_is_signed_in(sso_portal, oidc_provider, browser):
    portal = sso_portal.info
    # An account with this email exists: an unverified email must not take it over.
    sso_portal.run("create-user", "--email", "mallory@example.com", "--name", "Mallory", "--password", "a long password 2")
    oidc_provider.set_user("user_2mallory", "mallory@example.com", verified=False)
    failures_before = metric(portal, 'portal_signins_total{method="oidc",outcome="failed"}')

    attempt = signin_through_provider(portal, "user_2mallory")
    assert attempt.landing.status_code == 403, (attempt.landing.status_code, attempt.landing.headers)
    assert "not verified" in page_text(attempt.landing.text)
    assert "portal_session" not in attempt.web.cookies
    assert not signed_in(portal, attempt.web)
    assert metric(portal, 'portal_signins_total{method="oidc",outcome="failed"}') == failures_before + 1

    # The same in Chromium: the page says so, and the portal still asks for a sign-in.
    browser.get(portal.url("/login?next=/settings/devices"))
    browser.find_element(By.ID, "provider-signin").click()
    through_provider_form(browser, oidc_provider, "user_2mallory")
    WebDriverWait(browser, 20).until(on_portal(portal, "/login/oidc/callback"))
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "not verified" in body, body
    assert not browser.find_elements(By.CSS_SELECTOR, "form[action='/logout']")
    browser.get(portal.url("/settings/devices"))
    WebDriverWait(browser, 15).until(on_portal(portal, "/login"))

    # Someone new with an unverified email is not given an account either (auto-create is on).
    oidc_provider.set_user("user_2newbie", "newbie@example.com", verified=False, name="New Bie")
    newbie = signin_through_provider(portal, "user_2newbie")
    assert newbie.landing.status_code == 403 and "not verified" in page_text(newbie.landing.text)
    assert not signed_in(portal, newbie.web)
    assert_no_account(portal, "newbie@example.com")


def test_an_account_linked_by_hand_signs_in_whatever_its_email_says(sso_portal, oidc_provider):
    portal = sso_portal.info
    sso_portal.run("create-user", "--email", "carol@example.com", "--name", "Carol", "--password", "a long password 3")
    sso_portal.run("add-member", "--org", portal.org_slug, "--email", "carol@example.com", "--role", "viewer")
    sso_portal.run("link-identity", "--email", "carol@example.com", "--issuer", oidc_provider.issuer,
                   "--subject", "user_2carol")
    # Her provider account's email is another one, and not verified: the link by hand is what counts.
    oidc_provider.set_user("user_2carol", "c.jones@acme.example", verified=False)
    done = signin_through_provider(portal, "user_2carol", next_path="/settings/devices")
    assert done.landing.status_code in (302, 303), (done.landing.status_code, page_text(done.landing.text)[:300])
    assert done.landing.headers["Location"] == "/settings/devices"
    devices = done.web.get(portal.url("/settings/devices"), allow_redirects=False, timeout=10)
    assert devices.status_code == 200 and "carol@example.com" in devices.text


def test_a_client_registered_at_the_provider_signs_in_and_a_wrong_secret_gets_a_page(oidc_provider):
    """Registered at the provider (RFC 7591), the portal's client has its redirect URI compared
    exactly and its secret checked. (oidc-provider-mock 0.3.4's token endpoint takes no public
    client, `token_endpoint_auth_method: none`, so PKCE alone cannot be tried against it.)"""
    port = _free_port()
    client = oidc_provider.register_client(f"http://127.0.0.1:{port}/login/oidc/callback", "client_secret_basic")
    for secret, signs_in in ((client["client_secret"], True), ("not-the-secret", False)):
        own = start_portal(port=port, OIDC_ISSUER=oidc_provider.issuer, OIDC_CLIENT_ID=client["client_id"],
                           OIDC_CLIENT_SECRET=secret)
        try:
            portal = own.info
            oidc_provider.set_user("user_2ada", portal.email, verified=True)
            done = signin_through_provider(portal, "user_2ada")
            if signs_in:
                assert done.landing.status_code in (302, 303), (done.landing.status_code,
                                                                page_text(done.landing.text)[:300])
            else:
                assert done.landing.status_code == 400, done.landing.status_code
                assert "refused to complete the sign-in" in page_text(done.landing.text)
            assert signed_in(portal, done.web) == signs_in
        finally:
            own.stop()


def test_without_auto_create_a_person_with_no_account_is_refused(oidc_provider, browser):
    own = start_portal(**oidc_settings(oidc_provider, OIDC_AUTO_CREATE="false"))
    try:
        portal = own.info
        oidc_provider.set_user("user_2nobody", "nobody@example.com", verified=True, name="No Body")
        attempt = signin_through_provider(portal, "user_2nobody")
        assert attempt.landing.status_code == 403, attempt.landing.status_code
        assert "no portal account for nobody@example.com" in page_text(attempt.landing.text)
        assert not signed_in(portal, attempt.web)
        assert_no_account(portal, "nobody@example.com")

        browser.get(portal.url("/login"))
        browser.find_element(By.ID, "provider-signin").click()
        through_provider_form(browser, oidc_provider, "user_2nobody")
        WebDriverWait(browser, 20).until(on_portal(portal, "/login/oidc/callback"))
        assert "accounts are not created automatically" in browser.find_element(By.TAG_NAME, "body").text
        # An existing account is still linked by its verified email.
        oidc_provider.set_user("user_2ada", portal.email, verified=True)
        ada = signin_through_provider(portal, "user_2ada")
        assert ada.landing.status_code in (302, 303) and signed_in(portal, ada.web)
    finally:
        own.stop()


def test_denying_at_the_provider_shows_the_denial_page(sso_portal, oidc_provider, browser):
    """oidc-provider-mock 0.3.4's Deny redirects with `error=access_denied` but without the
    `state` it was given (RFC 6749 §4.1.2.1 says it must send it back). A refusal signs nobody
    in whatever its state, so the portal tells it as it is either way: the denial page."""
    portal = sso_portal.info
    stateless = signin_through_provider(portal, None)
    assert "state=" not in stateless.callback_url, "the mock now sends state back"
    assert stateless.landing.status_code == 403, stateless.landing.status_code
    assert "did not allow the sign-in" in page_text(stateless.landing.text)
    assert not signed_in(portal, stateless.web)

    # The denial as the RFC has it, answering this browser's own attempt.
    web = requests.Session()
    start = web.get(portal.url("/login/oidc"), allow_redirects=False, timeout=15)
    state = parse_qs(urlparse(start.headers["Location"]).query)["state"][0]
    denied = web.get(portal.url("/login/oidc/callback"), allow_redirects=False, timeout=15,
                     params={"error": "access_denied", "state": state})
    assert denied.status_code == 403, denied.status_code
    assert "did not allow the sign-in" in page_text(denied.text)
    assert not signed_in(portal, web)

    # In Chromium: the button, the provider's page, then the provider's denial (with the state).
    browser.get(portal.url("/login"))
    browser.find_element(By.ID, "provider-signin").click()
    WebDriverWait(browser, 15).until(lambda d: d.current_url.startswith(oidc_provider.issuer + "/oauth2/authorize"))
    state = parse_qs(urlparse(browser.current_url).query)["state"][0]
    browser.get(portal.url(f"/login/oidc/callback?error=access_denied&state={state}"))
    WebDriverWait(browser, 20).until(on_portal(portal, "/login/oidc/callback"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "You are not signed in"
    assert "did not allow the sign-in" in browser.find_element(By.TAG_NAME, "body").text
    assert not browser.find_elements(By.CSS_SELECTOR, "form[action='/logout']")
    # The provider's own Deny button in Chromium: the denial page, nobody signed in.
    browser.get(portal.url("/login"))
    browser.find_element(By.ID, "provider-signin").click()
    through_provider_form(browser, oidc_provider, None)
    WebDriverWait(browser, 20).until(on_portal(portal, "/login/oidc/callback"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "You are not signed in"
    assert "did not allow the sign-in" in browser.find_element(By.TAG_NAME, "body").text
    assert not browser.find_elements(By.CSS_SELECTOR, "form[action='/logout']")


def test_a_replayed_or_foreign_callback_is_refused(sso_portal, oidc_provider):
    portal = sso_portal.info
    oidc_provider.set_user("user_2ada", portal.email, verified=True)
    first = signin_through_provider(portal, "user_2ada")
    assert first.landing.status_code in (302, 303) and signed_in(portal, first.web)

    # The same callback URL again, in the same browser: its state was used once.
    replay = first.web.get(first.callback_url, allow_redirects=False, timeout=15)
    assert replay.status_code == 400, replay.status_code
    assert "already used" in page_text(replay.text)

    # A fresh attempt's callback opened in another browser (no binding cookie): refused, and the
    # attempt is then spent for the browser that started it too.
    started = requests.Session()
    start = started.get(portal.url("/login/oidc"), allow_redirects=False, timeout=15)
    answer = started.post(start.headers["Location"], data={"sub": "user_2ada"}, allow_redirects=False, timeout=15)
    callback = answer.headers["Location"]
    stranger = requests.Session()
    foreign = stranger.get(callback, allow_redirects=False, timeout=15)
    assert foreign.status_code == 400 and not signed_in(portal, stranger)
    # The same callback twice at once, in the browser that started it: exactly one signs in.
    racing = requests.Session()
    start = racing.get(portal.url("/login/oidc"), allow_redirects=False, timeout=15)
    answer = racing.post(start.headers["Location"], data={"sub": "user_2ada"}, allow_redirects=False, timeout=15)
    callback = answer.headers["Location"]
    cookies = racing.cookies.get_dict()
    with ThreadPoolExecutor(max_workers=2) as pool:
        both = list(pool.map(lambda _: requests.get(callback, cookies=cookies, allow_redirects=False, timeout=30),
                             range(2)))
    assert sorted(resp.status_code for resp in both) == [303, 400], [resp.status_code for resp in both]
    # A made-up state, and no state at all.
    for query in ("?state=made-up&code=x", "?code=x"):
        resp = requests.get(portal.url("/login/oidc/callback" + query), allow_redirects=False, timeout=15)
        assert resp.status_code == 400, (query, resp.status_code)
    assert sso_portal.alive()


@pytest.mark.parametrize("target", ["https://evil.example/phish", "//evil.example/phish", "/\\evil.example"])
def test_next_never_leaves_the_portal_after_a_provider_sign_in(sso_portal, oidc_provider, target):
    portal = sso_portal.info
    oidc_provider.set_user("user_2ada", portal.email, verified=True)
    done = signin_through_provider(portal, "user_2ada", next_path=target)
    assert done.landing.status_code in (302, 303), done.landing.status_code
    location = done.landing.headers["Location"]
    assert location.startswith("/") and not location.startswith(("//", "/\\")), location
    assert "evil.example" not in location, location


def test_the_sign_in_page_in_both_modes(sso_portal, oidc_provider, browser):
    portal = sso_portal.info
    shots = artifacts_dir()
    browser.get(portal.url("/login"))
    button = browser.find_element(By.ID, "provider-signin")
    assert button.text == "Sign in with Acme SSO"
    assert browser.find_element(By.NAME, "password").is_displayed()
    both = shots / "oidc-signin-page-button-and-password-form.png"
    assert browser.save_screenshot(str(both)), both
    print(f"screenshot: {both}")

    own = start_portal(**oidc_settings(oidc_provider, PASSWORD_SIGNIN="false"))
    try:
        only = own.info
        browser.get(only.url("/login"))
        assert browser.find_element(By.ID, "provider-signin").text == "Sign in with Acme SSO"
        assert not browser.find_elements(By.NAME, "password")
        assert not browser.find_elements(By.CSS_SELECTOR, "form[action='/login']")
        alone = shots / "oidc-signin-page-button-only.png"
        assert browser.save_screenshot(str(alone)), alone
        print(f"screenshot: {alone}")

        # A password POST is refused with a 403 page, even with the right password and a valid CSRF token.
        web = requests.Session()
        page = web.get(only.url("/login"), timeout=10)
        assert page.status_code == 200 and 'type="password"' not in page.text
        csrf = web.cookies.get("portal_csrf")
        assert csrf, "no pre-sign-in CSRF cookie"
        refused = web.post(only.url("/login"), timeout=10, allow_redirects=False, data={
            "email": only.email, "password": only.password, "next": "/auth/device", "csrf_token": csrf})
        assert refused.status_code == 403, refused.status_code
        assert "Passwords are turned off" in page_text(refused.text)
        assert not signed_in(only, web)
        # The provider still signs people in there.
        oidc_provider.set_user("user_2ada", only.email, verified=True)
        ada = signin_through_provider(only, "user_2ada")
        assert ada.landing.status_code in (302, 303) and signed_in(only, ada.web)
    finally:
        own.stop()


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_the_provider_going_down_leaves_passwords_and_tokens_working():
    with provider_mock() as provider:
        own = start_portal(**oidc_settings(provider))
        try:
            portal = own.info
            provider.set_user("user_2ada", portal.email, verified=True)
            ok = signin_through_provider(portal, "user_2ada")
            assert ok.landing.status_code in (302, 303) and signed_in(portal, ok.web)
            # Bob signs in with a password (Ada's went when the provider's sign-in took her account over).
            bob = dataclasses.replace(portal, email="bob@example.com", password="bob's long password")
            own.run("create-user", "--email", bob.email, "--name", "Bob", "--password", bob.password)
            own.run("add-member", "--org", portal.org_slug, "--email", bob.email, "--role", "member")
            grant = request_device_code(bob, device_name="before-the-outage")
            approve_by_hand(bob, grant["user_code"])
            token = poll_for_token(bob, grant["device_code"], grant["interval"])["access_token"]
            # A sign-in under way: the provider has sent the browser back with a code...
            web = requests.Session()
            start = web.get(portal.url("/login/oidc"), allow_redirects=False, timeout=15)
            answer = web.post(start.headers["Location"], data={"sub": "user_2ada"}, allow_redirects=False, timeout=15)
            callback = answer.headers["Location"]

            provider.stop()
            # ...and the provider is gone before the portal exchanges the code: a 503 page, fast.
            landing, took = timed(lambda: web.get(callback, allow_redirects=False, timeout=30))
            assert landing.status_code == 503, (landing.status_code, page_text(landing.text)[:300])
            assert "cannot be reached" in page_text(landing.text) and took < 10, took
            assert not signed_in(portal, web)
            assert requests.get(portal.url("/healthz"), timeout=5).status_code == 200
            assert metric(portal, 'portal_identity_provider_up{provider="oidc",document="token"}') == 0

            web = sign_in(bob)  # the password form still signs in
            assert signed_in(portal, web)
            for _ in range(5):
                me, took = timed(lambda: get_me(portal, token))
                assert me.status_code == 200, me.text
                assert took < NO_WAIT, f"/me took {took:.2f}s with the provider down"
            grant = request_device_code(portal, device_name="during-the-outage")
            approve_by_hand(portal, grant["user_code"], web=web)
            assert poll_for_token(portal, grant["device_code"], grant["interval"])["access_token"]
            assert own.alive()
        finally:
            own.stop()


def test_a_provider_down_from_the_start_gives_a_503_page_on_the_button():
    nobody = f"http://127.0.0.1:{_free_port()}"
    own = start_portal(OIDC_ISSUER=nobody, OIDC_CLIENT_ID="device-portal", OIDC_NAME="Acme SSO")
    try:
        portal = own.info
        login = requests.get(portal.url("/login"), timeout=10)
        assert login.status_code == 200 and 'id="provider-signin"' in login.text
        button, took = timed(lambda: requests.get(portal.url("/login/oidc?next=/settings/devices"),
                                                  allow_redirects=False, timeout=30))
        assert button.status_code == 503, (button.status_code, button.headers.get("Location"))
        assert "cannot be reached" in page_text(button.text)
        assert button.headers.get("Retry-After"), button.headers
        assert took < 10, took
        assert metric(portal, 'portal_identity_provider_up{provider="oidc",document="discovery"}') == 0
        assert signed_in(portal, sign_in(portal))
        assert own.alive()
    finally:
        own.stop()


def test_the_sign_in_button_gives_a_page_when_a_provider_it_used_goes_down():
    """The portal keeps the provider's discovery document for an hour: the button must still
    not send people to a provider that is down (they would see the browser's own error page
    rather than the portal's)."""
    with provider_mock() as provider:
        own = start_portal(**oidc_settings(provider))
        try:
            portal = own.info
            provider.set_user("user_2ada", portal.email, verified=True)
            ok = signin_through_provider(portal, "user_2ada")
            assert ok.landing.status_code in (302, 303) and signed_in(portal, ok.web)
            provider.stop()
            button, took = timed(lambda: requests.get(portal.url("/login/oidc"), allow_redirects=False, timeout=30))
            assert button.status_code == 503, (button.status_code, button.headers.get("Location"))
            assert "cannot be reached" in page_text(button.text) and took < 10, took
            assert own.alive()
        finally:
            own.stop()


def test_a_provider_that_never_answers_costs_the_button_bounded_time_and_api_tokens_nothing():
    hole = BlackHole()
    own = start_portal(OIDC_ISSUER=hole.url, OIDC_CLIENT_ID="device-portal", OIDC_NAME="Acme SSO")
    try:
        portal = own.info
        grant = request_device_code(portal, device_name="slow-provider")
        approve_by_hand(portal, grant["user_code"])
        token = poll_for_token(portal, grant["device_code"], grant["interval"])["access_token"]
        with ThreadPoolExecutor(max_workers=1) as pool:
            clicked = pool.submit(timed, lambda: requests.get(portal.url("/login/oidc"), allow_redirects=False,
                                                              timeout=60))
            time.sleep(0.5)  # the sign-in now waits for the provider: API tokens must not
            while not clicked.done():
                me, took = timed(lambda: get_me(portal, token))
                assert me.status_code == 200 and took < NO_WAIT, (me.status_code, took)
                time.sleep(0.2)
            button, took = clicked.result()
        assert button.status_code == 503, button.status_code
        assert "cannot be reached" in page_text(button.text)
        assert took < 15, f"the button waited {took:.1f}s for a provider that never answers"
        print(f"a provider that never answers: the button's 503 page after {took:.1f}s")
        assert signed_in(portal, sign_in(portal)) and own.alive()
    finally:
        own.stop()
        hole.stop()
