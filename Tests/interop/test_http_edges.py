"""HTTP as real networks deliver it: a form whose body arrives after its headers."""

import socket
import time
from urllib.parse import urlencode, urlparse

import requests

from portal_helpers import csrf_of


def test_a_form_body_sent_after_the_headers_still_passes_the_csrf_check(portal):
    page = requests.get(portal.url("/login"), timeout=10)
    body = urlencode({"email": portal.email, "password": portal.password, "next": "/auth/device",
                      "csrf_token": csrf_of(page)}).encode()
    address = urlparse(portal.base_url)
    head = (f"POST /login HTTP/1.1\r\nHost: {address.netloc}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
            f"Cookie: portal_csrf={page.cookies['portal_csrf']}\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(head)
        time.sleep(0.3)  # the body comes in a later packet: the server sees it as a stream
        connection.sendall(body)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0].decode()
    assert status_line == "HTTP/1.1 303 See Other", answer[:600]
