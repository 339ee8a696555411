"""Mail from a real `portal serve` to a real SMTP server (aiosmtpd, in this process): the
new-device notice after a device flow, as text and HTML; an invitation whose mailed link, opened
in headless Chromium, makes a member; a stopped SMTP server delays mail and loses none, and sends
none twice; two instances on one PostgreSQL database send each message once."""

import dataclasses
import email
import email.policy
import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import Server, _free_ports, _portal_info, _seed, portal_env, postgres_settings
from portal_helpers import approve_by_hand, poll_for_token, request_device_code
from test_browser_flow import artifacts_dir, browser, patient, replaced  # noqa: F401 (fixture)

MAIL_FROM = "Interop Portal <portal@interop.test>"
# The sender's first retry comes 5 s after a failure, the next 10 s after that: a message
# enqueued while the SMTP server is down arrives well within this once it is back.
WITHIN_BACK_OFF = 45


def sign_in_device(portal, device_name: str) -> str:
    grant = request_device_code(portal, device_name=device_name)
    approve_by_hand(portal, grant["user_code"])
    return poll_for_token(portal, grant["device_code"], grant["interval"])["access_token"]


def parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def device_of(message: email.message.EmailMessage) -> str:
    match = re.search(r"Device: +(\S+)", message.get_body(preferencelist=("plain",)).get_content())
    assert match, message.as_string()[:2000]
    return match.group(1)


def metric(portal, series: str) -> float:
    resp = requests.get(portal.url("/metrics"), timeout=10)
    assert resp.status_code == 200, resp.text[:300]
    for line in resp.text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


class MailPortal:
    """A portal of its own (SQLite) that mails through `mail_server`, which a test may restart.
    Its links name `public_host` (PUBLIC_BASE_URL); the tests talk to it on 127.0.0.1."""

    def __init__(self, mail_server, public_host: str = "127.0.0.1"):
        self.workdir = Path(tempfile.mkdtemp(prefix="portal-mail-"))
        self.port = _free_ports(1)[0]
        self.public_base_url = f"http://{public_host}:{self.port}"
        self.env = portal_env(DATABASE_URL=f"sqlite://{self.workdir}/portal.sqlite", DEVICE_POLL_INTERVAL="1",
                              SMTP_URL=mail_server.url, MAIL_FROM=MAIL_FROM, PUBLIC_BASE_URL=self.public_base_url)
        self.info = dataclasses.replace(_portal_info(self.port), admin_env=self.env)
        _seed(self.env, self.info)
        self.starts = 0
        self.start()

    def start(self):
        self.starts += 1
        self.server = Server(self.env, self.port, self.workdir / f"serve-{self.starts}.log")
        self.server.wait_ready()

    def stop(self):
        assert self.server.stop() is None, self.server.log_tail()

    def logs(self) -> str:
        return "".join(path.read_text(errors="replace") for path in sorted(self.workdir.glob("serve-*.log")))


@pytest.fixture
def mail_portal(mail_server):
    portal = MailPortal(mail_server)
    try:
        yield portal.info, portal.server
    finally:
        portal.server.stop()
        shutil.rmtree(portal.workdir, ignore_errors=True)


@pytest.fixture
def restartable_mail_portal(mail_server):
    portal = MailPortal(mail_server)
    try:
        yield portal
    finally:
        portal.server.stop()
        shutil.rmtree(portal.workdir, ignore_errors=True)


def test_the_new_device_notice_arrives_as_text_and_html(mail_portal, mail_server):
    portal, server = mail_portal
    before = time.time()

    sign_in_device(portal, "interop-laptop")

    [(sender, recipients, raw)] = mail_server.wait_for(1, 20, server)
    message = parsed(raw)
    assert sender == "portal@interop.test"
    assert recipients == [portal.email]
    assert message["To"] == portal.email
    assert message["From"] == MAIL_FROM
    assert message["Subject"] == "New sign-in: Interop CLI on interop-laptop"
    assert re.fullmatch(r"<outbox-[0-9a-f-]{36}@interop\.test>", message["Message-ID"]), message["Message-ID"]
    assert abs(message["Date"].datetime.timestamp() - before) < 30
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    day = time.strftime("%A %-d %B %Y", time.gmtime(before))
    for body in (text, html):
        for expected in ("Interop CLI", "interop-laptop", portal.org_name, "127.0.0.1", day, " UTC",
                         portal.url("/settings/devices")):
            assert expected in body, f"{expected!r} missing from:\n{body}"
    assert f'href="{portal.url("/settings/devices")}"' in html
    assert metric(portal, "portal_mail_sent_total") == 1


@pytest.fixture
def public_mail_portal(mail_server):
    """A mailing portal whose PUBLIC_BASE_URL (localhost) is not the address the tests use
    (127.0.0.1), so that a link built from the request's Host would show."""
    portal = MailPortal(mail_server, public_host="localhost")
    try:
        yield portal
    finally:
        portal.server.stop()
        shutil.rmtree(portal.workdir, ignore_errors=True)


def mail_to(mail_server, address: str) -> list[email.message.EmailMessage]:
    return [parsed(raw) for _, recipients, raw in mail_server.received if recipients == [address]]


def test_the_mailed_invitation_link_makes_a_member_in_a_fresh_browser(public_mail_portal, mail_server, browser):
    mailing = public_mail_portal
    portal, server = mailing.info, mailing.server
    admin_token = sign_in_device(portal, "admin-box")
    mail_server.wait_for(1, 20, server)  # the admin's own new-device notice
    nia = f"nia-{secrets.token_hex(4)}@example.com"

    invited = requests.post(portal.url(f"/api/orgs/{portal.org_slug}/invitations"), timeout=10,
                            headers={"Authorization": f"Bearer {admin_token}"},
                            json={"email": nia, "role": "viewer"})
    assert invited.status_code == 201, invited.text
    assert invited.json()["invitation"]["email"] == nia, invited.text

    mail_server.wait_for(2, 20, server)
    [message] = mail_to(mail_server, nia)
    assert message["To"] == nia and message["From"] == MAIL_FROM
    assert message["Subject"] == f"{portal.email} invites you to {portal.org_name} on DevicePortal", message["Subject"]
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    for body in (text, html):
        for expected in (portal.org_name, "viewer", portal.email):
            assert expected in body, f"{expected!r} missing from:\n{body}"
    links = re.findall(r"https?://[^\s<>\"]+/invitations/[^\s<>\"]+", text)
    assert len(links) == 1, text
    [link] = links
    assert re.fullmatch(re.escape(mailing.public_base_url) + r"/invitations/[A-Za-z0-9_-]{32,}", link), link
    assert f'href="{link}"' in html, html
    assert re.findall(r"https?://[^\s<>\"]+/invitations/[^\s<>\"]+", html) == [link], html

    members_path = f"/orgs/{portal.org_slug}/members"
    wait = WebDriverWait(browser, 15)
    browser.get(link)
    wait.until(lambda d: d.find_element(By.TAG_NAME, "h1").text == f"Join {portal.org_name}")
    page = browser.find_element(By.CSS_SELECTOR, "dl.details").text
    assert "viewer" in page and portal.email in page and nia in page, page
    shot = artifacts_dir() / "invitation-page-from-mail.png"
    assert browser.save_screenshot(str(shot)), shot
    print(f"screenshot: {shot}")
    browser.find_element(By.NAME, "name").send_keys("Nia Newcomer")
    browser.find_element(By.NAME, "password").send_keys("nia's long password")
    submit = browser.find_element(By.CSS_SELECTOR, "button[type=submit].primary")
    submit.click()
    wait.until(replaced(submit))
    patient(browser).until(lambda d: urlparse(d.current_url).path == members_path)
    assert "Nia Newcomer" in browser.page_source  # signed in, on the members page

    members = requests.get(portal.url(f"/api/orgs/{portal.org_slug}/members"), timeout=10,
                           headers={"Authorization": f"Bearer {admin_token}"})
    assert members.status_code == 200, members.text
    joined = [(m["user"]["name"], m["role"]) for m in members.json()["items"] if m["user"]["email"] == nia]
    assert joined == [("Nia Newcomer", "viewer")], members.text
    assert requests.get(link, timeout=10).status_code == 410

    # The new member signs a device in: they are told by mail, and the invitation is not sent again.
    newcomer = dataclasses.replace(portal, email=nia, password="nia's long password", user_name="Nia Newcomer")
    sign_in_device(newcomer, "nia-laptop")
    mail_server.wait_for(3, 20, server)
    time.sleep(6)  # past a round of retries: a second copy of anything would have come by now
    assert len(mail_server.received) == 3, [parsed(raw)["Subject"] for _, _, raw in mail_server.received]
    invitation, notice = mail_to(mail_server, nia)
    assert invitation["Message-ID"] == message["Message-ID"]
    assert notice["Subject"] == "New sign-in: Interop CLI on nia-laptop" and device_of(notice) == "nia-laptop"
    assert portal.org_name in notice.get_body(preferencelist=("plain",)).get_content()
    assert metric(portal, "portal_mail_sent_total") == 3


def test_a_stopped_smtp_server_delays_mail_and_loses_none(mail_portal, mail_server):
    portal, server = mail_portal
    sign_in_device(portal, "first-box")
    mail_server.wait_for(1, 20, server)

    mail_server.stop()
    sign_in_device(portal, "second-box")
    sign_in_device(portal, "third-box")
    deadline = time.monotonic() + 20
    while metric(portal, 'portal_mail_failed_total{outcome="retry"}') < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert metric(portal, 'portal_mail_failed_total{outcome="retry"}') >= 2, server.log_tail()
    assert len(mail_server.received) == 1
    mail_server.start()

    received = mail_server.wait_for(3, WITHIN_BACK_OFF, server)
    time.sleep(6)  # past another round of retries: a second copy would have come by now
    received = mail_server.received
    assert len(received) == 3, [device_of(parsed(raw)) for _, _, raw in received]
    assert sorted(device_of(parsed(raw)) for _, _, raw in received[1:]) == ["second-box", "third-box"]
    assert len({parsed(raw)["Message-ID"] for _, _, raw in received}) == 3
    assert metric(portal, "portal_mail_sent_total") == 3
    assert metric(portal, "portal_mail_queued") == 0
    assert portal.email not in server.log_tail(100_000), "an email address in the log"


def test_mail_queued_before_a_restart_is_sent_after_it(restartable_mail_portal, mail_server):
    portal = restartable_mail_portal
    mail_server.stop()
    sign_in_device(portal.info, "before-restart")
    portal.stop()  # SIGTERM: a graceful shutdown with the message still in the outbox
    mail_server.start()
    assert mail_server.received == []

    portal.start()

    [(_, recipients, raw)] = mail_server.wait_for(1, WITHIN_BACK_OFF, portal.server)
    assert recipients == [portal.info.email] and device_of(parsed(raw)) == "before-restart"
    time.sleep(4)
    assert len(mail_server.received) == 1


@pytest.fixture
def mail_pair(new_postgres_database, mail_server):
    """Two instances of one deployment on a PostgreSQL database of its own, both mailing."""
    url = new_postgres_database("portal_mail")
    workdir = Path(tempfile.mkdtemp(prefix="portal-mail-pg-"))
    ports = _free_ports(2)
    env = portal_env(**postgres_settings(url), PORTAL_SECRET=secrets.token_hex(32), DEVICE_POLL_INTERVAL="1",
                     SMTP_URL=mail_server.url, MAIL_FROM=MAIL_FROM)
    servers = [Server(env, port, workdir / f"serve-{name}.log") for port, name in zip(ports, "AB")]
    try:
        for server in servers:
            server.wait_ready(paths=("/healthz", "/readyz"))
        portals = [dataclasses.replace(_portal_info(port), admin_env=env) for port in ports]
        _seed(env, portals[0])
        yield portals, servers
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def test_two_instances_send_each_message_exactly_once(mail_pair, mail_server):
    portals, servers = mail_pair
    mail_server.stop()
    devices = [f"box-{index}" for index in range(8)]
    for index, device in enumerate(devices):
        sign_in_device(portals[index % 2], device)
    time.sleep(2)
    mail_server.start()

    mail_server.wait_for(len(devices), WITHIN_BACK_OFF, servers[0])
    time.sleep(6)
    received = mail_server.received
    assert sorted(device_of(parsed(raw)) for _, _, raw in received) == sorted(devices)
    assert len({parsed(raw)["Message-ID"] for _, _, raw in received}) == len(devices)
    sent = [metric(portal, "portal_mail_sent_total") for portal in portals]
    assert sum(sent) == len(devices), sent
