"""Just enough HTTP for seeding through the portal's real endpoints, from the standard
library alone (no virtual environment to set up): one keep-alive connection, cookies kept
like a browser keeps them, form posts, and the inputs of a page. Redirects are not
followed: callers check where they were sent."""

import http.client
import json
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urlencode, urlsplit


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    text: str

    def json(self) -> dict:
        return json.loads(self.text)


class Client:
    def __init__(self, base_url: str):
        parts = urlsplit(base_url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        self.cookies: dict[str, str] = {}

    def get(self, path: str, headers: dict | None = None) -> Response:
        return self.request("GET", path, None, headers)

    def post(self, path: str, form: dict | None = None, headers: dict | None = None) -> Response:
        return self.request("POST", path, form, headers)

    def request(self, method: str, path: str, form: dict | None, headers: dict | None) -> Response:
        sent = dict(headers or {})
        body = None
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        self.connection.request(method, path, body, sent)
        answer = self.connection.getresponse()
        text = answer.read().decode()
        self._keep_cookies(answer.headers.get_all("Set-Cookie") or [])
        return Response(answer.status, answer.headers, text)

    def _keep_cookies(self, set_cookies: list[str]) -> None:
        for set_cookie in set_cookies:
            name, _, rest = set_cookie.partition("=")
            value, _, attributes = rest.partition(";")
            if "max-age=0" in attributes.lower().replace(" ", ""):
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies[name.strip()] = value.strip()

    def close(self) -> None:
        self.connection.close()


class _Inputs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.fields: dict[str, list[str]] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and "name" in attrs:
            self.fields.setdefault(attrs["name"], []).append(attrs.get("value") or "")


def inputs(html: str) -> dict[str, list[str]]:
    """{name: [values]} of every named <input> of a page (hidden fields, radio buttons)."""
    parser = _Inputs()
    parser.feed(html)
    return parser.fields


def csrf_token(page: Response) -> str:
    if page.status != 200:
        raise RuntimeError(f"expected a page, got {page.status}: {page.text[:300]}")
    token = inputs(page.text).get("csrf_token", [""])[0]
    if not token:
        raise RuntimeError("the page has no csrf_token")
    return token
