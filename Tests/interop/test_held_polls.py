"""Instant completion across instances: a poll held with `Prefer: wait` on instance A is answered
when the code is approved or denied on instance B (PostgreSQL NOTIFY), even across a restart of
the database. Through PgBouncer in transaction mode nothing can LISTEN, so there the answer comes
from the 2-second sweep of held codes instead."""

import os
import threading
import time

import requests

from portal_helpers import DEVICE_GRANT, approve_by_hand, request_device_code
from test_database_outage import cluster_running, pg_ctl, start_cluster

THROUGH_POOLER = "prepared_statements=false" in os.environ.get("DATABASE_URL", "")
# How soon after the decision the held poll must answer: NOTIFY, or at worst one sweep.
PROMPTLY = 3.0 if THROUGH_POOLER else 1.0


class HeldPoll(threading.Thread):
    """One poll with Prefer: wait, in the background; `answer` and `answered_at` when it returns."""

    def __init__(self, instance, device_code: str, wait: int = 25):
        super().__init__(daemon=True)
        self.instance, self.device_code, self.wait = instance, device_code, wait
        self.answer: requests.Response | None = None
        self.answered_at = 0.0
        self.start()

    def run(self):
        self.answer = requests.post(
            self.instance.url("/auth/device/token"), timeout=self.wait + 30,
            headers={"Prefer": f"wait={self.wait}"},
            data={"grant_type": DEVICE_GRANT, "device_code": self.device_code, "client_id": self.instance.client_id})
        self.answered_at = time.monotonic()


def _held_metric(instance) -> float:
    text = requests.get(instance.url("/metrics"), timeout=10).text
    line = next(line for line in text.splitlines() if line.startswith("portal_device_polls_held "))
    return float(line.split()[1])


def _wait_until_held(instance, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while _held_metric(instance) < 1:
        assert time.monotonic() < deadline, "the poll was never held"
        time.sleep(0.05)


def test_a_poll_held_on_a_is_answered_with_the_token_when_b_approves(cluster):
    a, b, _ = cluster.instances
    code = request_device_code(a, device_name="held-box")
    held = HeldPoll(a, code["device_code"])
    _wait_until_held(a)
    assert "Device connected" in approve_by_hand(b, code["user_code"])
    approved_at = time.monotonic()
    held.join(timeout=30)
    assert held.answer is not None and held.answer.status_code == 200, held.answer and held.answer.text
    assert len(held.answer.json()["access_token"]) == 64
    assert held.answer.headers["Preference-Applied"] == "wait=25"
    assert held.answered_at - approved_at < PROMPTLY, f"answered {held.answered_at - approved_at:.2f} s late"


def test_a_poll_held_on_a_is_answered_access_denied_when_b_denies(cluster):
    a, b, _ = cluster.instances
    code = request_device_code(a)
    held = HeldPoll(a, code["device_code"])
    _wait_until_held(a)
    approve_by_hand(b, code["user_code"], action="deny")
    denied_at = time.monotonic()
    held.join(timeout=30)
    assert held.answer.json()["error"] == "access_denied"
    assert held.answered_at - denied_at < PROMPTLY


def test_a_held_poll_survives_a_database_restart_and_still_gets_its_token(cluster):
    a, b, _ = cluster.instances
    code = request_device_code(a)
    held = HeldPoll(a, code["device_code"], wait=30)
    _wait_until_held(a)
    stopped = pg_ctl("-m fast -w stop")
    assert stopped.returncode == 0, stopped.stderr
    try:
        time.sleep(2)
    finally:
        start_cluster()
    assert cluster_running()
    # Every instance answers again within seconds (the pools and the listener reconnect).
    deadline = time.monotonic() + 30
    while requests.get(b.url("/readyz"), timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "instance B never became ready again"
        time.sleep(0.2)
    time.sleep(1.5)  # the listener on A reconnects within a second and re-checks what it holds
    assert "Device connected" in approve_by_hand(b, code["user_code"])
    approved_at = time.monotonic()
    held.join(timeout=40)
    assert held.answer is not None and held.answer.status_code == 200, held.answer and held.answer.text
    assert held.answered_at - approved_at < PROMPTLY + 2
