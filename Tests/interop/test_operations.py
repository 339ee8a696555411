"""Operations, against a real `portal serve`: JSON logs with a request id on every request's
line and the ids and IP of each audited event (never a secret), /metrics behind METRICS_TOKEN,
and a graceful shutdown on SIGTERM that finishes the request in flight."""

import dataclasses
import json
import secrets
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path

from urllib.parse import urlencode

import pytest
import requests

from conftest import Server, _free_port, _portal_info, _seed, portal_env
from portal_helpers import approve_by_hand, csrf_of, get_me, poll_for_token, request_device_code, sign_in

METRICS_TOKEN = secrets.token_hex(16)


@pytest.fixture
def json_portal(request):
    """A fresh portal of its own (it is stopped by the tests), logging JSON lines; a test may
    pass extra settings with @pytest.mark.settings(...)."""
    marker = request.node.get_closest_marker("settings")
    workdir = Path(tempfile.mkdtemp(prefix="portal-ops-"))
    port = _free_port()
    env = portal_env(DATABASE_URL=f"sqlite://{workdir}/portal.sqlite", DEVICE_POLL_INTERVAL="1",
                     LOG_FORMAT="json", METRICS_TOKEN=METRICS_TOKEN, **(marker.kwargs if marker else {}))
    info = dataclasses.replace(_portal_info(port), admin_env=env)
    _seed(env, info)
    server = Server(env, port, workdir / "serve.log")
    try:
        server.wait_ready(paths=("/healthz", "/readyz"))
        yield info, server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _log_lines(server: Server) -> list[dict]:
    # Vapor prints one empty line when a signal arrives (to clear a ^C on a terminal).
    lines = [line for line in server.log_path.read_text().splitlines() if line]
    assert lines, "the server logged nothing"
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"a log line is not JSON: {line!r}")
    return parsed


def _sigterm(server: Server):
    """Stops the server on purpose: its exit is what the test checks, not a crash."""
    server.expect_exit()
    server.process.send_signal(signal.SIGTERM)


def _stop(server: Server, timeout: float = 15) -> int:
    _sigterm(server)
    return server.process.wait(timeout=timeout)


def test_json_logs_carry_request_ids_and_event_ids_but_no_secrets(json_portal):
    portal, server = json_portal
    code = request_device_code(portal, device_name="ops-laptop")
    web = sign_in(portal)
    approve_by_hand(portal, code["user_code"], web=web)
    token = poll_for_token(portal, code["device_code"], interval=1)["access_token"]
    assert get_me(portal, token).status_code == 200
    denied = request_device_code(portal)
    approve_by_hand(portal, denied["user_code"], action="deny", web=web)
    refused = requests.get(portal.url("/me"), timeout=10, headers={
        "Authorization": "Bearer " + "0" * 64, "X-Request-Id": "interop-refusal-1"})
    assert refused.status_code == 401 and refused.headers["X-Request-Id"] == "interop-refusal-1"
    revoked = requests.post(portal.url("/auth/token/revoke"), timeout=10,
                            data={"token": token, "client_id": portal.client_id})
    assert revoked.status_code == 200
    session_cookie = web.cookies.get("portal_session") or ""
    assert _stop(server) == 0

    lines = _log_lines(server)
    for line in lines:
        assert {"time", "level", "label", "message"} <= line.keys(), line
        if line["label"] == "codes.vapor.request":
            assert line.get("request-id"), f"a request's line without request-id: {line}"
    events = {line["message"]: line for line in lines if "event" in line}
    for event in ("signin.succeeded", "device.approved", "device.denied", "token.issued"):
        assert events[event]["user_id"], events[event]
        assert events[event]["request-id"], events[event]
    assert events["device.approved"]["org_id"] and events["device.approved"]["ip"] == "127.0.0.1"
    assert events["token.revoked"]["reason"] == "sign-out"
    refusal = next(line for line in lines if line["message"] == "guard refused a credential")
    assert refusal["request-id"] == "interop-refusal-1"
    assert refusal["reason"] == "unknown" and refusal["ip"] == "127.0.0.1"

    text = server.log_path.read_text()
    for secret in (token, code["device_code"], code["user_code"], denied["user_code"], portal.password,
                   portal.email, session_cookie):
        assert secret and secret not in text, "a secret or an email reached the log"


def test_metrics_need_the_token_and_count_what_happened(json_portal):
    portal, _ = json_portal
    assert requests.get(portal.url("/metrics"), timeout=10).status_code == 401
    request_device_code(portal)
    scrape = requests.get(portal.url("/metrics"), timeout=10,
                          headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scrape.status_code == 200
    assert scrape.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = dict(line.rsplit(" ", 1) for line in scrape.text.splitlines() if line and not line.startswith("#"))
    assert float(samples['portal_device_flow_total{step="issued"}']) == 1
    assert float(samples["portal_pending_device_codes"]) == 1
    assert float(samples['portal_http_requests_total{method="POST",route="/auth/device/code",status="200"}']) == 1


def test_sigterm_finishes_the_request_in_flight_and_accepts_no_new_ones(json_portal):
    portal, server = json_portal
    port = int(portal.base_url.rsplit(":", 1)[1])
    body = f"client_id={portal.client_id}&device_name=in-flight".encode()
    in_flight = socket.create_connection(("127.0.0.1", port), timeout=20)
    # The request has begun (its headers are in) but its body is still on the way.
    in_flight.sendall(b"POST /auth/device/code HTTP/1.1\r\nHost: portal\r\n"
                      b"Content-Type: application/x-www-form-urlencoded\r\n"
                      b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    time.sleep(0.5)
    _sigterm(server)
    time.sleep(1.0)
    assert server.process.poll() is None, "the server quit with a request in flight"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()

    in_flight.sendall(body)
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
        chunk = in_flight.recv(65536)
        if not chunk:
            break
        answer += chunk
    in_flight.close()
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), answer[:500]
    assert json.loads(payload)["device_code"]
    assert server.process.wait(timeout=15) == 0
    assert "HTTP server stopped; closing the database" in server.log_path.read_text()


@pytest.mark.settings(BCRYPT_COST="14")
def test_sigterm_waits_for_a_handler_whose_client_hung_up(json_portal):
    """A sign-in whose client has gone is still running (bcrypt, then the audit row): the server
    has no connection left to wait for, so the database must stay open until the handler ends."""
    portal, server = json_portal
    page = requests.get(portal.url("/login"), timeout=10)
    body = urlencode({"email": "nobody@example.com", "password": "wrong", "csrf_token": csrf_of(page)}).encode()
    port = int(portal.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as abandoned:
        abandoned.sendall(b"POST /login HTTP/1.1\r\nHost: portal\r\n"
                          b"Content-Type: application/x-www-form-urlencoded\r\n"
                          b"Cookie: portal_csrf=" + page.cookies["portal_csrf"].encode() + b"\r\n"
                          b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        time.sleep(0.3)  # the handler is inside bcrypt (cost 14: about a second here)
    _sigterm(server)
    assert server.process.wait(timeout=30) == 0, server.log_path.read_text()[-2000:]
    events = [line.get("event") for line in _log_lines(server)]
    assert "signin.failed" in events, "the abandoned sign-in did not finish before the database closed"
