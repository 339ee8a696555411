"""HTTP as real networks deliver it: a form whose body arrives after its headers or in pieces,
and bodies or fields too large."""

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


def _send_in_pieces(portal, path: str, body: bytes, cookie: str, pieces: int) -> bytes:
    address = urlparse(portal.base_url)
    head = (f"POST {path} HTTP/1.1\r\nHost: {address.netloc}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
            f"Cookie: {cookie}\r\nConnection: close\r\n\r\n").encode()
    size = len(body) // pieces + 1
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(head)
        for start in range(0, len(body), size):
            time.sleep(0.05)
            connection.sendall(body[start:start + size])
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def test_a_form_body_in_several_pieces_still_passes_the_csrf_check(portal):
    page = requests.get(portal.url("/login"), timeout=10)
    body = urlencode({"email": portal.email, "password": portal.password, "next": "/auth/device",
                      "csrf_token": csrf_of(page)}).encode()
    answer = _send_in_pieces(portal, "/login", body, f"portal_csrf={page.cookies['portal_csrf']}", pieces=3)
    assert answer.split(b"\r\n", 1)[0] == b"HTTP/1.1 303 See Other", answer[:600]


def test_long_fields_get_a_clear_answer_and_bodies_past_16_kib_get_413(portal):
    web = requests.Session()
    page = web.get(portal.url("/login"), timeout=10)
    csrf = csrf_of(page)
    # A 5,000-byte password is a wrong password, not a lost form (bcrypt reads 72 bytes).
    wrong = web.post(portal.url("/login"), timeout=10, data={
        "email": "nobody@example.com", "password": "x" * 5000, "csrf_token": csrf, "next": "/" * 3000})
    assert wrong.status_code == 401 and "not right" in wrong.text
    huge = web.post(portal.url("/login"), timeout=10, data={
        "email": "nobody@example.com", "password": "x" * 20000, "csrf_token": csrf})
    assert huge.status_code == 413
    code = requests.post(portal.url("/auth/device/code"), timeout=10,
                         data={"client_id": portal.client_id, "device_name": "x" * 20000})
    assert code.status_code == 413 and code.json()["error"] == "too_large"
    long_name = requests.post(portal.url("/auth/device/code"), timeout=10,
                              data={"client_id": portal.client_id, "device_name": "x" * 101})
    assert long_name.status_code == 400 and long_name.json()["error"] == "invalid_request"
