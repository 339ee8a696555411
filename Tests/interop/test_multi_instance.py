"""Three `portal serve` processes of one deployment on one PostgreSQL database (the `cluster`
fixture): whatever one instance does, the others see, so a load balancer may send any request
anywhere. A, B and C are the three instances."""

import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import requests

from portal_helpers import (HEX64, approve_by_hand, csrf_of, form_inputs, get_me, poll_for_token,
                            poll_once, request_device_code, sign_in)


def connect_device(issue_on, approve_on, poll_on) -> dict:
    """The whole device flow, each step on the instance given; returns the token response."""
    grant = request_device_code(issue_on, device_name="multi-box")
    assert "Device connected" in approve_by_hand(approve_on, grant["user_code"])
    return poll_for_token(poll_on, grant["device_code"], grant["interval"])


def assert_me_works_everywhere(cluster, token: str):
    for instance in cluster.instances:
        me = get_me(instance, token)
        assert me.status_code == 200, (instance.base_url, me.status_code, me.text)
        body = me.json()
        assert body["user"]["email"] == instance.email and body["organization"]["slug"] == instance.org_slug


def test_three_instances_started_together_all_come_up(cluster):
    """They raced to migrate one fresh database; each is up, ready, and sees the data the admin
    commands wrote after they started."""
    for server, instance in zip(cluster.servers, cluster.instances):
        assert server.process.poll() is None, f"{instance.base_url} exited with {server.process.returncode}"
        for path in ("/healthz", "/readyz"):
            resp = requests.get(instance.url(path), timeout=10)
            assert resp.status_code == 200, (instance.url(path), resp.status_code, resp.text)
        assert request_device_code(instance)["interval"] == 2


def test_code_issued_on_one_approved_on_another_polled_on_a_third(cluster):
    a, b, c = cluster.instances
    token = connect_device(issue_on=a, approve_on=b, poll_on=c)
    assert HEX64.fullmatch(token["access_token"]), token
    assert token["user"]["email"] == a.email and token["organization"]["slug"] == a.org_slug
    assert_me_works_everywhere(cluster, token["access_token"])


def test_a_web_session_from_one_instance_is_valid_on_the_others(cluster):
    a, b, c = cluster.instances
    web = sign_in(a)  # the session cookie is for host 127.0.0.1, so it goes to every instance
    for other in (b, c):
        page = web.get(other.url("/auth/device"), allow_redirects=False, timeout=10)
        assert page.status_code == 200, (other.base_url, page.status_code, page.headers.get("Location"))
        assert "user_code" in form_inputs(page.text), page.text[:2000]

    # Signed in on A, the person approves on B (CSRF-protected form posts) a code issued on C.
    grant = request_device_code(c)
    assert "Device connected" in approve_by_hand(b, grant["user_code"], web=web)
    assert HEX64.fullmatch(poll_for_token(c, grant["device_code"], grant["interval"])["access_token"])

    # Signing out on B ends the session on A and C too, even for a client that keeps the old cookie.
    stale = requests.Session()
    stale.cookies.update(web.cookies)
    page = web.get(b.url("/auth/device"), timeout=10)
    signed_out = web.post(b.url("/logout"), data={"csrf_token": csrf_of(page)}, allow_redirects=False,
                          timeout=10)
    assert signed_out.status_code == 303, (signed_out.status_code, signed_out.text[:500])
    for other in (a, c):
        page = stale.get(other.url("/auth/device"), allow_redirects=False, timeout=10)
        assert page.status_code == 303, (other.base_url, page.status_code, page.text[:500])
        assert urlparse(page.headers["Location"]).path == "/login", page.headers["Location"]


def test_switching_instances_does_not_dodge_slow_down(cluster):
    a, b, c = cluster.instances
    grant = request_device_code(a)
    code, interval = grant["device_code"], grant["interval"]

    def poll(instance) -> str:
        resp = poll_once(instance, code)
        assert resp.status_code == 400, (instance.base_url, resp.status_code, resp.text)
        return resp.json()["error"]

    assert poll(a) == "authorization_pending"
    first_poll = time.monotonic()
    assert poll(b) == "slow_down"  # at once, on another instance: the interval grows to 2 + 5

    # Past the original interval but within the grown one: still too soon, on a third instance.
    time.sleep(max(0.0, first_poll + interval + 1 - time.monotonic()))
    assert poll(c) == "slow_down"  # the interval grows to 2 + 5 + 5

    # Neither slow_down moved the time of the first poll: 12 s after it, polling is on time again.
    time.sleep(max(0.0, first_poll + interval + 10 + 0.3 - time.monotonic()))
    assert poll(a) == "authorization_pending"


def test_24_concurrent_polls_over_three_instances_give_exactly_one_token(cluster):
    a, b, _ = cluster.instances
    grant = request_device_code(a)
    approve_by_hand(b, grant["user_code"])
    pollers = [cluster.instances[i % 3] for i in range(24)]
    start = threading.Barrier(len(pollers), timeout=30)

    def poll(instance):
        start.wait()
        resp = poll_once(instance, grant["device_code"])
        return instance.base_url, resp.status_code, resp.text

    with ThreadPoolExecutor(max_workers=len(pollers)) as pool:
        answers = list(pool.map(poll, pollers))

    assert not [answer for answer in answers if answer[1] >= 500], answers
    tokens = [json.loads(text) for _, status, text in answers if status == 200]
    assert len(tokens) == 1, answers
    refused = Counter((status, json.loads(text)["error"])
                      for _, status, text in answers if status != 200)
    assert set(refused) <= {(400, "slow_down"), (400, "invalid_grant")}, refused
    assert_me_works_everywhere(cluster, tokens[0]["access_token"])


def test_a_token_revoked_on_one_instance_is_dead_on_all(cluster):
    a, b, c = cluster.instances
    token = connect_device(issue_on=b, approve_on=c, poll_on=a)["access_token"]
    assert_me_works_everywhere(cluster, token)  # every instance has seen it valid

    revoked = requests.post(a.url("/auth/token/revoke"), data={"token": token}, timeout=10)
    assert revoked.status_code == 200, revoked.text
    for instance in cluster.instances:
        me = get_me(instance, token)
        assert me.status_code == 401, (instance.base_url, me.status_code, me.text)
        assert 'error="invalid_token"' in me.headers.get("WWW-Authenticate", ""), me.headers


def test_300_concurrent_requests_of_me_and_polls_over_three_instances_all_succeed(cluster):
    """Through PgBouncer in transaction pooling mode (scripts/test runs these tests a second time
    that way) each transaction may run on another server connection, so a named prepared statement
    fails (SQLSTATE 42P05 or 26000) about every other request unless the portal prepares none there
    (DATABASE_URL's prepared_statements=false). Many requests at once, so that the servers'
    connections are shared out differently each time: /me must be 200, a poll 400, never a 5xx."""
    a, b, c = cluster.instances
    token = connect_device(issue_on=a, approve_on=b, poll_on=c)["access_token"]
    grant = request_device_code(a)

    def one(i: int):
        instance = cluster.instances[i % 3]
        if i % 4 == 3:
            resp = poll_once(instance, grant["device_code"])
            return "poll", instance.base_url, resp.status_code, resp.text[:200]
        resp = get_me(instance, token)
        return "me", instance.base_url, resp.status_code, resp.text[:200]

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(one, range(300)))
    wrong = [answer for answer in answers if answer[2] != {"me": 200, "poll": 400}[answer[0]]]
    assert not wrong, f"{len(wrong)} of 300 answers were wrong, e.g. {wrong[:5]}; all: " \
                      f"{Counter((kind, status) for kind, _, status, _ in answers)}"
