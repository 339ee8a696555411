"""Starts one real `portal serve` for the whole session, on a fresh SQLite database seeded
with the admin commands, and stops it at the end."""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from portal_helpers import Portal

ROOT = Path(__file__).resolve().parents[2]
# Settings from the contract that a developer's shell could carry; the tests set their own.
CONTRACT_VARS = ("DATABASE_URL", "PUBLIC_BASE_URL", "DEVICE_CODE_TTL", "DEVICE_POLL_INTERVAL",
                 "TOKEN_TTL", "SESSION_JWT_TTL", "PORTAL_NAME", "PORTAL_SECRET",
                 "TRUSTED_PROXIES", "METRICS_TOKEN", "AUTO_MIGRATE")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """This suite must never pass by skipping: a skipped test counts as a failure."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped tests are not allowed in the interop suite: {report.longrepr}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _portal_bin() -> str:
    path = Path(os.environ.get("PORTAL_BIN", ".build/debug/portal"))
    if not path.is_absolute():
        path = ROOT / path
    assert path.is_file() and os.access(path, os.X_OK), f"no portal executable at {path}"
    return str(path)


@pytest.fixture(scope="session")
def portal():
    binary = _portal_bin()
    workdir = Path(tempfile.mkdtemp(prefix="portal-interop-"))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in CONTRACT_VARS}
    env.update(DATABASE_URL=f"sqlite://{workdir}/portal.sqlite", BCRYPT_COST="10",
               DEVICE_POLL_INTERVAL="1")
    info = Portal(base_url=f"http://127.0.0.1:{port}", client_id="interop-cli",
                  email="ada@example.com", password="correct horse battery staple",
                  user_name="Ada Lovelace", org_slug="analytical", org_name="Analytical Engines")

    def admin(*args):
        done = subprocess.run([binary, *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, f"portal {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"

    admin("create-user", "--email", info.email, "--name", info.user_name, "--password", info.password)
    admin("create-org", "--slug", info.org_slug, "--name", info.org_name)
    admin("add-member", "--org", info.org_slug, "--email", info.email, "--role", "owner")
    admin("create-client", "--client-id", info.client_id, "--name", "Interop CLI")

    log_path = workdir / "serve.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen([binary, "serve", "--hostname", "127.0.0.1", "--port", str(port)],
                                  cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(info, server, log_path)
        yield info
    finally:
        died = server.poll()
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log = log_path.read_text(errors="replace")
        shutil.rmtree(workdir, ignore_errors=True)
    if died is not None:
        pytest.fail(f"portal serve died during the tests (exit {died}):\n{log[-4000:]}")


def _wait_healthy(info: Portal, server: subprocess.Popen, log_path: Path, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"portal serve exited with {server.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            if requests.get(info.url("/healthz"), timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    pytest.fail(f"portal serve not healthy after {timeout}s:\n{log_path.read_text()[-4000:]}")
