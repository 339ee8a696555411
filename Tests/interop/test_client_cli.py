"""`portal login`, `portal whoami` and `portal logout` as a person runs them against a real
`portal serve`: the code and the link printed, the approval made through the web forms, the
token kept in a private file and never printed, and dead on the server after logout."""

import dataclasses
import json
import os
import queue
import re
import shutil
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import ROOT, Server, _free_port, _portal_bin, _portal_info, _seed, portal_env
from portal_helpers import HEX64, approve_by_hand, csrf_of, form_inputs, get_me, sign_in

USER_CODE = re.compile(r"shows the code ([BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4})")
# What the commands name themselves in User-Agent, as the approval page's Software line shows it.
SOFTWARE = re.compile(r'<dd class="ua">portal/[0-9]+\.[0-9]+\.[0-9]+ \(Linux\)</dd>')


def client_env(config_home: Path) -> dict:
    """The file store in a folder of the test's own, whatever desktop runs the tests: no
    session bus (so no Secret Service) and no display (so no browser)."""
    env = portal_env(XDG_CONFIG_HOME=str(config_home))
    for name in ("DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY"):
        env.pop(name, None)
    return env


def run_client(*args, env, cwd, timeout=60):
    return subprocess.run([_portal_bin(), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


class Login:
    """A running `portal login`, its standard output read line by line as it comes."""

    def __init__(self, *args, env, cwd):
        self.process = subprocess.Popen([_portal_bin(), "login", *args], cwd=cwd, env=env, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = queue.Queue()
        self.stdout = ""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, pattern: re.Pattern, timeout: float = 30) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.stdout += line
            if match := pattern.search(line):
                return match
        raise AssertionError(f"no {pattern.pattern!r} in portal login's output:\n{self.stdout}")

    def finish(self, timeout: float = 60):
        self.process.wait(timeout=timeout)
        while (line := self.lines.get(timeout=5)) is not None:
            self.stdout += line
        return self.process.returncode, self.stdout, self.process.stderr.read()


def test_login_whoami_logout_end_to_end(portal, tmp_path):
    config = tmp_path / "config"
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    env = client_env(config)

    login = Login("--server", portal.base_url, "--client-id", portal.client_id, "--device-name", "interop-laptop",
                  "--no-browser", env=env, cwd=workdir)
    user_code = login.wait_for(USER_CODE).group(1)
    assert f"{portal.base_url}/auth/device?user_code={user_code}" in login.stdout
    page = approve_by_hand(portal, user_code)
    assert "Device connected" in page
    status, stdout, stderr = login.finish()
    transcript = f"$ portal login --server {portal.base_url} --client-id {portal.client_id} --no-browser\n{stdout}"
    assert status == 0, stdout + stderr
    assert (f"Signed in to {portal.base_url} as {portal.user_name} <{portal.email}> "
            f"in {portal.org_name} ({portal.org_slug}).") in stdout

    credentials = config / "devportal" / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE(credentials.parent.stat().st_mode) == 0o700
    stored = json.loads(credentials.read_text())
    assert stored["server"] == portal.base_url and stored["client_id"] == portal.client_id
    token = stored["token"]
    assert HEX64.fullmatch(token)
    assert token not in stdout + stderr
    assert get_me(portal, token).status_code == 200

    whoami = run_client("whoami", env=env, cwd=workdir)
    transcript += f"$ portal whoami\n{whoami.stdout}"
    assert whoami.returncode == 0, whoami.stdout + whoami.stderr
    assert f"as {portal.user_name} <{portal.email}> in {portal.org_name} ({portal.org_slug}), role owner." in whoami.stdout

    logout = run_client("logout", env=env, cwd=workdir)
    transcript += f"$ portal logout\n{logout.stdout}"
    assert logout.returncode == 0, logout.stdout + logout.stderr
    assert not credentials.exists()
    assert get_me(portal, token).status_code == 401
    assert token not in whoami.stdout + whoami.stderr + logout.stdout + logout.stderr

    again = run_client("whoami", env=env, cwd=workdir)
    transcript += f"$ portal whoami\n{again.stderr}(exit {again.returncode})\n"
    assert again.returncode == 1 and "Not signed in" in again.stderr

    # The client commands never touched a database or made a portal.secret.
    assert list(workdir.iterdir()) == []
    artifacts = os.environ.get("INTEROP_ARTIFACTS")
    if artifacts:
        Path(artifacts, "portal-login-session.txt").write_text(transcript)


def test_client_command_errors_are_clear_and_exit_non_zero(portal, tmp_path):
    env = client_env(tmp_path / "config")
    unknown = run_client("login", "--server", portal.base_url, "--client-id", "no-such-app", "--no-browser",
                         env=env, cwd=tmp_path)
    assert unknown.returncode == 1
    assert 'does not know the client id "no-such-app"' in unknown.stderr

    dead = f"http://127.0.0.1:{_free_port()}"
    unreachable = run_client("login", "--server", dead, "--client-id", portal.client_id, env=env, cwd=tmp_path)
    assert unreachable.returncode == 1
    assert f"error: Cannot reach {dead}" in unreachable.stderr

    usage = run_client("login", "--client-id", portal.client_id, env=env, cwd=tmp_path)
    assert usage.returncode == 2 and "missing --server URL" in usage.stderr

    assert not (tmp_path / "config").exists()


def test_client_commands_refuse_plain_http_to_another_machine(tmp_path):
    """Plain http goes to this machine only: a name that merely starts like a loopback address,
    or any other host, is refused before anything is sent, unless --insecure-http is given."""
    env = client_env(tmp_path / "config")
    for server in ("http://127.attacker.example", "http://portal.example.com"):
        login = run_client("login", "--server", server, "--client-id", "demo-cli", "--no-browser",
                           env=env, cwd=tmp_path)
        assert login.returncode == 1, login.stderr
        assert f"error: {server} is plain http to another machine" in login.stderr
        assert "--insecure-http" in login.stderr
        assert "To sign in" not in login.stdout
    config = tmp_path / "config" / "devportal"
    config.mkdir(parents=True, mode=0o700)
    (config / "credentials.json").write_text(json.dumps(
        {"server": "http://portal.example.com", "client_id": "demo-cli", "token": "ab" * 32}))
    for command in ("whoami", "logout"):
        refused = run_client(command, env=env, cwd=tmp_path)
        assert refused.returncode == 1 and "--insecure-http" in refused.stderr, refused.stderr
    assert (config / "credentials.json").exists()


@pytest.fixture
def slow_portal():
    """A portal of its own whose codes are polled only every 5 s: a sign-in that completes
    sooner after the approval than that was answered by a held poll."""
    workdir = Path(tempfile.mkdtemp(prefix="portal-held-"))
    port = _free_port()
    env = portal_env(DATABASE_URL=f"sqlite://{workdir}/portal.sqlite", DEVICE_POLL_INTERVAL="5")
    info = dataclasses.replace(_portal_info(port), admin_env=env)
    _seed(env, info)
    server = Server(env, port, workdir / "serve.log")
    try:
        server.wait_ready()
        yield info
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _polls_held(portal) -> float:
    text = requests.get(portal.url("/metrics"), timeout=10).text
    line = next(line for line in text.splitlines() if line.startswith("portal_device_polls_held "))
    return float(line.split()[1])


def test_login_completes_the_moment_the_person_approves(slow_portal, tmp_path):
    """`portal login` asks the portal to hold each poll (Prefer: wait): an approval half a second
    into the first poll signs it in at once, where plain polling every 5 s would take 4.5 s. The
    approval page names the software that asks: portal/<version> (Linux)."""
    portal = slow_portal
    env = client_env(tmp_path / "config")
    login = Login("--server", portal.base_url, "--client-id", portal.client_id, "--no-browser",
                  env=env, cwd=tmp_path)
    user_code = login.wait_for(USER_CODE).group(1)
    web = sign_in(portal)
    enter = web.get(portal.url("/auth/device"), params={"user_code": user_code}, timeout=10)
    confirm = web.post(portal.url("/auth/device"), timeout=10,
                       data={"user_code": user_code, "csrf_token": csrf_of(enter)})
    assert SOFTWARE.search(confirm.text), confirm.text[:3000]
    assert portal.org_slug in form_inputs(confirm.text).get("org", [])

    deadline = time.monotonic() + 30
    while _polls_held(portal) < 1:
        assert time.monotonic() < deadline, "portal login's first poll was never held"
        time.sleep(0.05)
    time.sleep(0.5)
    approved_at = time.monotonic()
    done = web.post(portal.url("/auth/device/confirm"), timeout=10, data={
        "user_code": user_code, "org": portal.org_slug, "action": "approve", "csrf_token": csrf_of(confirm)})
    assert "Device connected" in done.text
    login.wait_for(re.compile(r"^Signed in to "), timeout=30)
    took = time.monotonic() - approved_at
    status, stdout, stderr = login.finish()
    assert status == 0, stdout + stderr
    # The approval, the held poll's answer and the token stored, with room for a loaded machine.
    assert took < 2.0, f"signed in {took:.2f} s after the approval"
