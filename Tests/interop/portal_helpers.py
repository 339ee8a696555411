"""What the interop tests share: the person's part of the device flow done with plain form
posts (login, enter the code, approve), and a token poller that keeps to the interval."""

import re
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser

import requests

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Portal:
    base_url: str
    client_id: str
    email: str
    password: str
    user_name: str
    org_slug: str
    org_name: str
    # The environment the admin commands need to act on this portal's database.
    admin_env: dict = field(default_factory=dict, compare=False, repr=False)

    def url(self, path: str) -> str:
        return self.base_url + path


class _Inputs(HTMLParser):
    """Collects the name and value of every <input> of a page."""

    def __init__(self):
        super().__init__()
        self.fields = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and "name" in attrs:
            self.fields.setdefault(attrs["name"], []).append(attrs.get("value") or "")


def answers_200(url: str, timeout: float = 2) -> bool:
    """For readiness waits: whether `url` answers 200 now. A refused connection or a slow answer
    (a busy machine at start-up) is "not yet", for the caller to try again until its deadline."""
    return _status(url, timeout) == 200


def answers_at_all(url: str, timeout: float = 2) -> bool:
    """For readiness waits on a proxy, whose answers depend on what is behind it."""
    return _status(url, timeout) is not None


def _status(url: str, timeout: float) -> int | None:
    try:
        return requests.get(url, timeout=timeout).status_code
    except (requests.ConnectionError, requests.Timeout):
        return None


def form_inputs(html: str) -> dict:
    """{name: [values]} for every named <input> in the page."""
    parser = _Inputs()
    parser.feed(html)
    return parser.fields


def csrf_of(resp: requests.Response) -> str:
    assert resp.status_code == 200, (resp.status_code, resp.url, resp.text[:500])
    token = form_inputs(resp.text).get("csrf_token", [""])[0]
    assert token, f"no csrf_token on {resp.url}"
    return token


def request_device_code(portal: Portal, **extra) -> dict:
    resp = requests.post(portal.url("/auth/device/code"),
                         data={"client_id": portal.client_id, **extra}, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def sign_in(portal: Portal) -> requests.Session:
    """A browser-like session signed in through the login form."""
    web = requests.Session()
    page = web.get(portal.url("/login"), timeout=10)
    assert "portal_csrf" in web.cookies, page.headers
    resp = web.post(portal.url("/login"), timeout=10, data={
        "email": portal.email, "password": portal.password, "next": "/auth/device",
        "csrf_token": csrf_of(page)})
    assert resp.status_code == 200 and resp.url.endswith("/auth/device"), (resp.status_code, resp.url)
    return web


def approve_by_hand(portal: Portal, user_code: str, action: str = "approve",
                    web: requests.Session | None = None) -> str:
    """What the person does in the browser, as form posts; returns the final page's HTML.
    Signs in first unless given a signed-in session `web`."""
    web = sign_in(portal) if web is None else web
    enter = web.get(portal.url("/auth/device"), params={"user_code": user_code}, timeout=10)
    assert form_inputs(enter.text)["user_code"] == [user_code], "user_code not prefilled"
    confirm = web.post(portal.url("/auth/device"), timeout=10,
                       data={"user_code": user_code, "csrf_token": csrf_of(enter)})
    assert portal.org_slug in form_inputs(confirm.text).get("org", []), confirm.text[:2000]
    done = web.post(portal.url("/auth/device/confirm"), timeout=10, data={
        "user_code": user_code, "org": portal.org_slug, "action": action,
        "csrf_token": csrf_of(confirm)})
    # On failure, say which session and CSRF token were sent, to tell a stale page from a lost session.
    assert done.status_code == 200, (done.status_code, sorted(web.cookies.keys()),
                                     csrf_of(confirm)[:8], done.text[-600:])
    return done.text


def poll_once(portal: Portal, device_code: str) -> requests.Response:
    """One poll of the token endpoint."""
    return requests.post(portal.url("/auth/device/token"), timeout=10, data={
        "grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": portal.client_id})


def poll_for_token(portal: Portal, device_code: str, interval: float, timeout: float = 30) -> dict:
    """Polls the token endpoint as RFC 8628 §3.5 asks: every `interval` seconds, +5 on slow_down."""
    deadline = time.monotonic() + timeout
    while True:
        resp = poll_once(portal, device_code)
        body = resp.json()
        if resp.status_code == 200:
            return body
        assert resp.status_code == 400 and body["error"] in ("authorization_pending", "slow_down"), body
        if body["error"] == "slow_down":
            interval += 5
        assert time.monotonic() + interval < deadline, f"no token after {timeout}s: {body}"
        time.sleep(interval)


def get_me(portal: Portal, token: str) -> requests.Response:
    return requests.get(portal.url("/me"), headers={"Authorization": f"Bearer {token}"}, timeout=10)
