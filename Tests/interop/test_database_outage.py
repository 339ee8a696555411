"""A database that goes away and comes back (issue #14), on the real PostgreSQL cluster of
scripts/with-postgres.sh: under a light load of GET /me with an API token and GET /readyz, the
cluster is stopped (`pg_ctl stop -m fast`) and started again. Meanwhile the portal must say so
(/readyz 503; guarded routes, OAuth endpoints and pages 503, JSON with Retry-After for the API),
never answer 500, never exit, and within seconds of the database's return serve every route again
without a restart, with everything committed before the outage still there.

The portal has a database and a `portal serve` of its own; the cluster is shared, so the test
always starts it again, whatever happens. Behind PgBouncer (scripts/with-pgbouncer.sh) PgBouncer
stays up and the cluster behind it goes away, which the portal must ride out just the same."""

import dataclasses
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from conftest import Server, _free_port, _portal_info, _seed, portal_env, postgres_settings
from portal_helpers import approve_by_hand, get_me, poll_for_token, poll_once, request_device_code, sign_in

# How long the portal may take to notice the outage, and to recover once the database is back.
NOTICE_WITHIN = 15.0
RECOVER_WITHIN = 10.0
# How long the database stays away.
OUTAGE_SECONDS = 12.0


def _cluster_control() -> tuple[str, str, str]:
    names = ("PGBIN", "PGDATA_DIR", "PGLOG_FILE")
    values = [os.environ.get(name, "") for name in names]
    if not all(values):
        pytest.fail("the outage test stops and starts the PostgreSQL cluster itself: run it inside "
                    "scripts/with-postgres.sh, which exports PGBIN, PGDATA_DIR and PGLOG_FILE")
    return values[0], values[1], values[2]


def pg_ctl(arguments: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """pg_ctl on the shared cluster, as the postgres user that owns it."""
    pgbin, data, _ = _cluster_control()
    command = f"{pgbin}/pg_ctl -D {data} {arguments}"
    argv = ["su", "postgres", "-s", "/bin/sh", "-c", command] if os.getuid() == 0 else ["sh", "-c", command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def cluster_running() -> bool:
    return pg_ctl("status").returncode == 0


def start_cluster():
    _, _, log = _cluster_control()
    done = pg_ctl(f"-l {log} -w start")
    assert done.returncode == 0 or cluster_running(), f"pg_ctl start failed:\n{done.stdout}{done.stderr}"


@dataclasses.dataclass
class Seen:
    started: float
    phase: str
    path: str
    status: int | str  # a status code, or the name of the exception
    retry_after: str | None = None
    body: str = ""


class Load:
    """GET /me (with an API token) and GET /readyz, one after the other, from a thread, until stopped;
    every answer is kept with the phase it was sent in."""

    def __init__(self, portal, token: str):
        self.portal, self.token = portal, token
        self.phase = "up"
        self.seen: list[Seen] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for path, headers in (("/me", {"Authorization": f"Bearer {self.token}"}), ("/readyz", {})):
                phase, started = self.phase, time.monotonic()
                try:
                    resp = requests.get(self.portal.url(path), headers=headers, timeout=15)
                    self.seen.append(Seen(started, phase, path, resp.status_code, resp.headers.get("Retry-After"),
                                          resp.text[:300]))
                except requests.RequestException as error:
                    self.seen.append(Seen(started, phase, path, type(error).__name__, body=str(error)[:300]))
            self._stop.wait(0.1)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)

    def statuses(self, phase: str) -> set:
        return {(s.path, s.status) for s in self.seen if s.phase == phase}


def wait_for(what: str, check, within: float, server: Server):
    """Polls `check()` (which returns (done, detail)) until done; fails after `within` seconds."""
    deadline, detail = time.monotonic() + within, None
    while time.monotonic() < deadline:
        assert server.process.poll() is None, f"portal serve exited ({server.process.returncode}) {what}"
        try:
            done, detail = check()
            if done:
                return detail
        except requests.RequestException as error:
            detail = repr(error)
        time.sleep(0.2)
    pytest.fail(f"not {what} after {within:.0f}s; last: {detail}")


def _status(path: str, **kwargs):
    resp = requests.get(path, timeout=15, **kwargs)
    return resp, f"{resp.status_code} {resp.headers.get('Retry-After')} {resp.text[:200]}"


def connect(portal) -> str:
    grant = request_device_code(portal, device_name="outage-box")
    approve_by_hand(portal, grant["user_code"])
    return poll_for_token(portal, grant["device_code"], grant["interval"])["access_token"]


@pytest.fixture
def outage_portal(new_postgres_database):
    """A portal of its own on a database of its own (passing DATABASE_PREPARED_STATEMENTS as a
    variable behind PgBouncer); the cluster is started again whatever the test did."""
    _cluster_control()
    url = new_postgres_database("portal_outage")
    workdir = Path(tempfile.mkdtemp(prefix="portal-outage-"))
    port = _free_port()
    env = portal_env(**postgres_settings(url, "env"), PORTAL_SECRET=secrets.token_hex(32), DEVICE_POLL_INTERVAL="1")
    info = dataclasses.replace(_portal_info(port), admin_env=env)
    _seed(env, info)
    server = Server(env, port, workdir / "serve.log")
    try:
        server.wait_ready(paths=("/healthz", "/readyz"))
        yield info, server
    finally:
        if not cluster_running():
            start_cluster()
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def test_the_portal_rides_out_a_database_outage_and_recovers_without_a_restart(outage_portal):
    """Stops the cluster under load, checks the answers while it is down, starts it again. What is
    wrong while it is down is collected, so that one run also says whether the recovery works."""
    portal, server = outage_portal
    first, second = connect(portal), connect(portal)
    pending = request_device_code(portal)  # polled while the database is away
    web = sign_in(portal)
    problems: list[str] = []

    def expect(ok: bool, what: str, resp: requests.Response | None = None):
        if not ok:
            problems.append(what + (f": {resp.status_code}, Content-Type {resp.headers.get('Content-Type')}, "
                                    f"Retry-After {resp.headers.get('Retry-After')}, {resp.text[:200]!r}"
                                    if resp is not None else ""))

    with Load(portal, first) as load:
        time.sleep(1.0)
        try:
            load.phase = "stopping"
            stopped = pg_ctl("-m fast -w stop")
            stopped_at = time.monotonic()
            assert stopped.returncode == 0, f"pg_ctl stop failed:\n{stopped.stdout}{stopped.stderr}"

            def readyz_is_503():
                resp, detail = _status(portal.url("/readyz"))
                return resp.status_code == 503, detail

            wait_for("answering /readyz 503 with the database down", readyz_is_503, NOTICE_WITHIN, server)
            load.phase = "down"
            me = requests.get(portal.url("/me"), headers={"Authorization": f"Bearer {first}"}, timeout=15)
            expect(me.status_code == 503, "GET /me with the database down is not 503", me)
            expect(me.headers.get("Content-Type", "").startswith("application/json")
                   and isinstance(_json(me).get("error"), str), "GET /me's 503 has no JSON error body", me)
            expect(me.headers.get("Retry-After", "").isdigit(), "GET /me's 503 has no Retry-After", me)
            healthz = requests.get(portal.url("/healthz"), timeout=15)
            expect(healthz.status_code == 200, "GET /healthz (liveness, no database) is not 200", healthz)
            code = requests.post(portal.url("/auth/device/code"), data={"client_id": portal.client_id}, timeout=15)
            expect(code.status_code == 503, "POST /auth/device/code with the database down is not 503", code)
            poll = poll_once(portal, pending["device_code"])
            expect(poll.status_code == 503 and poll.headers.get("Retry-After", "").isdigit(),
                   "a poll of /auth/device/token with the database down is not 503 with Retry-After", poll)
            tokens = requests.get(portal.url("/api/me/tokens"), headers={"Authorization": f"Bearer {first}"}, timeout=15)
            expect(tokens.status_code == 503, "GET /api/me/tokens with the database down is not 503", tokens)
            page = web.get(portal.url("/auth/device"), timeout=15, allow_redirects=False)
            expect(page.status_code == 503, "GET /auth/device (signed in) with the database down is not 503", page)
            # The load goes on against a database that is not there, long enough for a connection
            # pool's reconnection backoff to grow (recovery must not wait for it).
            time.sleep(max(0.0, stopped_at + OUTAGE_SECONDS - time.monotonic()))
            assert server.process.poll() is None, f"portal serve exited ({server.process.returncode})"
        finally:
            load.phase = "starting"
            start_cluster()
        back_at = time.monotonic()

        def all_ready():
            ready, detail = _status(portal.url("/readyz"))
            me = get_me(portal, first)
            return ready.status_code == 200 and me.status_code == 200, f"{detail}; /me {me.status_code} {me.text[:200]}"

        wait_for("serving /readyz and /me again after the database came back", all_ready, RECOVER_WITHIN, server)
        recovered_in = time.monotonic() - back_at
        load.phase = "back"
        time.sleep(1.0)

    # Every route works again: a new device flow (sign-in, approval pages, token), and what had
    # committed before the outage is still there.
    third = connect(portal)
    for token in (first, second, third):
        me = get_me(portal, token)
        assert me.status_code == 200, (me.status_code, me.text[:300])
    mine = requests.get(portal.url("/api/me/tokens"), headers={"Authorization": f"Bearer {third}"}, timeout=15)
    assert mine.status_code == 200 and len(mine.json()["items"]) >= 3, mine.text[:500]

    seen = sorted({(s.phase, s.path, s.status) for s in load.seen}, key=str)
    print(f"database outage: recovered {recovered_in:.1f}s after the cluster was back; load answers: {seen}")
    def tally(items: list[Seen]) -> str:
        return str(Counter((s.phase, s.path, s.status) for s in items).most_common()) + \
            (f"; e.g. {items[0].body[:160]!r}" if items else "")

    errors = [s for s in load.seen if not isinstance(s.status, int) or (s.status >= 500 and s.status != 503)]
    expect(not errors, f"the load saw errors or 5xx other than 503: {tally(errors)}")
    down = [s for s in load.seen if s.phase == "down" and s.status != 503]
    expect(not down, f"the load got answers other than 503 while the database was down: {tally(down)}")
    missing_retry = [s for s in load.seen if s.path == "/me" and s.status == 503 and not (s.retry_after or "").isdigit()]
    expect(not missing_retry, f"503 from /me without Retry-After: {tally(missing_retry)}")
    back = [s for s in load.seen if s.phase == "back" and s.status != 200]
    expect(not back, f"the load got answers other than 200 after the recovery: {tally(back)}")
    assert server.process.poll() is None, f"portal serve exited ({server.process.returncode})"
    assert not problems, "\n".join([f"(it recovered {recovered_in:.1f}s after the cluster was back)", *problems])


def _json(resp: requests.Response) -> dict:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
