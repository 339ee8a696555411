"""The servers the interop tests talk to, started with the real `portal` executable and
seeded with its admin commands:
- `portal`: one `portal serve` on a fresh SQLite database, for the whole session;
- `cluster`: three `portal serve` on one fresh PostgreSQL database (in the cluster DATABASE_URL
  names, as scripts/with-postgres.sh sets it), started at the same moment, for the multi-instance
  tests;
- `mail_server`: a real SMTP server (aiosmtpd) in the test process, which a test stops and starts
  again on the same port, for a portal started with `SMTP_URL` pointing at it.
Both are stopped at the end. Every server is watched: one that dies fails the test during which it
died, with its exit code and the end of its log (see `pytest_runtest_makereport`).

Tests that need PostgreSQL get the `postgres` marker (from the fixtures they use), so that
scripts/test can run them a second time through PgBouncer (scripts/with-pgbouncer.sh):
`-m postgres`. There DATABASE_URL points at PgBouncer and POSTGRES_ADMIN_URL at PostgreSQL itself,
for createdb and dropdb (PgBouncer cannot create databases)."""

import dataclasses
import os
import signal
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlparse

import pytest
from aiosmtpd.controller import Controller

from portal_helpers import Portal, answers_200

ROOT = Path(__file__).resolve().parents[2]
# Settings from the contract that a developer's shell could carry; the tests set their own.
CONTRACT_VARS = ("DATABASE_URL", "PUBLIC_BASE_URL", "DEVICE_CODE_TTL", "DEVICE_POLL_INTERVAL",
                 "TOKEN_TTL", "SESSION_JWT_TTL", "PORTAL_NAME", "PORTAL_SECRET",
                 "TRUSTED_PROXIES", "METRICS_TOKEN", "AUTO_MIGRATE", "DEVICE_CODE_RATE_LIMIT",
                 "LOG_FORMAT", "DATABASE_PREPARED_STATEMENTS", "DATABASE_POOL_SIZE",
                 "OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_NAME", "OIDC_SCOPES",
                 "OIDC_AUTO_CREATE", "PASSWORD_SIGNIN", "EXTERNAL_JWT_ISSUER", "EXTERNAL_JWT_JWKS_URL",
                 "EXTERNAL_JWT_AUDIENCE", "EXTERNAL_JWT_AUTHORIZED_PARTIES", "EXTERNAL_JWT_ORG_CLAIM",
                 "SMTP_URL", "MAIL_FROM", "PORTAL_RESOURCES")
# The PostgreSQL that scripts/with-postgres.sh started (or PgBouncer in front of it, from
# scripts/with-pgbouncer.sh), read before any environment is stripped.
POSTGRES_URL = os.environ.get("DATABASE_URL", "")
# Where createdb and dropdb go: PostgreSQL itself, even when the servers go through PgBouncer.
POSTGRES_ADMIN_URL = os.environ.get("POSTGRES_ADMIN_URL", POSTGRES_URL)
PG_BIN = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")  # as in scripts/with-postgres.sh
# Fixtures that mean a test runs on PostgreSQL (the `postgres` marker).
POSTGRES_FIXTURES = {"postgres_database", "cluster", "new_postgres_database"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """This suite must never pass by skipping: a skipped test counts as a failure. A server that
    died fails the test during which it died (or that test's teardown), with its exit code and
    log tail: a crash must be pinned on the test that caused it, not found at the end of the
    session. A failed multi-instance test shows the end of every server's log."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped tests are not allowed in the interop suite: {report.longrepr}"
    dead = Server.newly_dead()
    if dead:
        report.outcome = "failed"
        deaths = "\n".join(f"portal serve on {server.base_url} ({server.log_path}) died with exit code "
                           f"{server.died_with}{_signal_name(server.died_with)}; its log ends:\n"
                           f"{server.log_tail()}" for server in dead)
        report.longrepr = f"{report.longrepr}\n\n{deaths}" if report.longrepr else deaths
    cluster = item.funcargs.get("cluster") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(cluster, Cluster):
        report.sections.append(("portal serve logs", cluster.log_tails()))


def _signal_name(code) -> str:
    if isinstance(code, int) and code < 0:
        try:
            return f" ({signal.Signals(-code).name})"
        except ValueError:
            return ""
    return ""


def pytest_collection_modifyitems(config, items):
    """Marks every test that runs on PostgreSQL, by the fixtures it uses."""
    for item in items:
        if POSTGRES_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


def _free_port() -> int:
    return _free_ports(1)[0]


def _free_ports(count: int) -> list[int]:
    """Distinct ports nobody listens on: all held open until every one is chosen."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _portal_bin() -> str:
    path = Path(os.environ.get("PORTAL_BIN", ".build/debug/portal"))
    if not path.is_absolute():
        path = ROOT / path
    assert path.is_file() and os.access(path, os.X_OK), f"no portal executable at {path}"
    return str(path)


def portal_env(**settings) -> dict:
    """This process's environment without the contract's settings, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if k not in CONTRACT_VARS}
    # The interop tests share one address (127.0.0.1) and are not about the per-IP code limit.
    env.update({"BCRYPT_COST": "10", "DEVICE_CODE_RATE_LIMIT": "1000", **settings})
    return env


def admin(env: dict, *args):
    done = subprocess.run([_portal_bin(), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f"portal {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"


def _seed(env: dict, info: Portal):
    """The user, an org they own and the public client, made with the admin commands."""
    admin(env, "create-user", "--email", info.email, "--name", info.user_name, "--password", info.password)
    admin(env, "create-org", "--slug", info.org_slug, "--name", info.org_name)
    admin(env, "add-member", "--org", info.org_slug, "--email", info.email, "--role", "owner")
    admin(env, "create-client", "--client-id", info.client_id, "--name", "Interop CLI")


def _portal_info(port: int) -> Portal:
    return Portal(base_url=f"http://127.0.0.1:{port}", client_id="interop-cli",
                  email="ada@example.com", password="correct horse battery staple",
                  user_name="Ada Lovelace", org_slug="analytical", org_name="Analytical Engines")


class Server:
    """One `portal serve` on 127.0.0.1, its output in a log file. Every one started is watched
    until `stop()` (or until a test that stops it on purpose calls `expect_exit()`)."""

    watched: list["Server"] = []

    def __init__(self, env: dict, port: int, log_path: Path):
        self.base_url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.died_with = None  # the exit code of a death nobody asked for, once seen
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [_portal_bin(), "serve", "--hostname", "127.0.0.1", "--port", str(port)],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        Server.watched.append(self)

    def expect_exit(self):
        """The test is about to stop this server itself (a signal): its exit is no crash."""
        if self in Server.watched:
            Server.watched.remove(self)

    @classmethod
    def newly_dead(cls) -> list["Server"]:
        """The watched servers that have exited since the last look; each is reported once."""
        dead = [server for server in cls.watched if server.process.poll() is not None]
        for server in dead:
            server.died_with = server.process.returncode
            cls.watched.remove(server)
        return dead

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the log; what `stop()` last read if the file is gone (its directory removed)."""
        try:
            self._last_log = self.log_path.read_text(errors="replace")[-20000:]
        except OSError:
            pass
        return getattr(self, "_last_log", "(no log)")[-chars:]

    def wait_ready(self, paths=("/healthz",), timeout: float = 60):
        """Waits until every path answers 200; fails with the log if the server exits or not in time."""
        deadline = time.monotonic() + timeout
        pending = list(paths)
        while pending and time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"portal serve on {self.base_url} exited with {self.process.returncode}:\n"
                            f"{self.log_tail()}")
            if answers_200(self.base_url + pending[0]):
                pending.pop(0)
                continue
            time.sleep(0.1)
        if pending:
            pytest.fail(f"{self.base_url}{pending[0]} not 200 after {timeout}s:\n{self.log_tail()}")

    def stop(self):
        """Terminates the server; returns its exit code if it had died by itself, else None."""
        died = self.process.poll()
        self.log_tail()  # kept for a report after the log's directory is removed
        if died is not None and self in Server.watched:
            self.died_with = died  # the hook reports it for the test being torn down
        else:
            self.expect_exit()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return died


@pytest.fixture(scope="session")
def portal():
    workdir = Path(tempfile.mkdtemp(prefix="portal-interop-"))
    port = _free_port()
    env = portal_env(DATABASE_URL=f"sqlite://{workdir}/portal.sqlite", DEVICE_POLL_INTERVAL="1")
    info = dataclasses.replace(_portal_info(port), admin_env=env)
    _seed(env, info)
    server = Server(env, port, workdir / "serve.log")
    try:
        server.wait_ready()
        yield info
    finally:
        died = server.stop()
        log = server.log_tail()
        shutil.rmtree(workdir, ignore_errors=True)
    if died is not None:
        pytest.fail(f"portal serve died during the tests (exit {died}):\n{log}")


@dataclasses.dataclass
class Cluster:
    """Three instances of one deployment: the same database and PORTAL_SECRET, one port each."""
    instances: list[Portal]  # A, B, C
    servers: list[Server]    # in the same order

    def log_tails(self, chars: int = 3000) -> str:
        return "\n".join(f"--- instance {name}, {server.base_url}:\n{server.log_tail(chars)}"
                         for name, server in zip("ABC", self.servers))


def _postgres_tool(tool: str, *args):
    """createdb or dropdb, run against PostgreSQL itself (POSTGRES_ADMIN_URL, else DATABASE_URL)."""
    path = shutil.which(tool, path=f"{PG_BIN}:{os.environ.get('PATH', '')}")
    assert path, f"no {tool} (PostgreSQL client tools) in {PG_BIN} or on PATH"
    done = subprocess.run([path, f"--maintenance-db={POSTGRES_ADMIN_URL}", *args], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, f"{tool} {' '.join(args)} failed:\n{done.stdout}{done.stderr}"


def _require_postgres():
    if urlparse(POSTGRES_URL).scheme not in ("postgres", "postgresql"):
        pytest.fail("this test needs PostgreSQL: run it inside scripts/with-postgres.sh, "
                    "which sets DATABASE_URL=postgres://... (here DATABASE_URL is "
                    f"{'unset' if not POSTGRES_URL else 'not a postgres:// URL'})")


def postgres_settings(url: str, prepared_statements: str = "url") -> dict:
    """The settings that make a portal use database `url`. Behind PgBouncer (DATABASE_URL carries
    `prepared_statements=false`) the setting is passed as the URL says (`"url"`) or, with
    `"env"`, as DATABASE_PREPARED_STATEMENTS=false and a URL without it: both forms get used."""
    parsed = urlparse(url)
    query = parse_qsl(parsed.query, keep_blank_values=True)
    flag = [value for key, value in query if key == "prepared_statements"]
    if prepared_statements == "env" and flag:
        rest = urlencode([(key, value) for key, value in query if key != "prepared_statements"])
        return {"DATABASE_URL": parsed._replace(query=rest).geturl(), "DATABASE_PREPARED_STATEMENTS": flag[-1]}
    return {"DATABASE_URL": url}


class PostgresDatabases:
    """Makes new, empty databases in the PostgreSQL cluster, each dropped at the end."""

    def __init__(self):
        self.names: list[str] = []

    def create(self, prefix: str = "portal_test") -> str:
        """The URL (PgBouncer's, if the servers go through it) of a new database."""
        _require_postgres()
        name = f"{prefix}_{secrets.token_hex(4)}"
        _postgres_tool("createdb", name)
        self.names.append(name)
        return urlparse(POSTGRES_URL)._replace(path=f"/{name}").geturl()

    def drop_all(self):
        for name in self.names:
            _postgres_tool("dropdb", "--force", name)


@pytest.fixture(scope="session")
def postgres_database():
    """The URL of a new, empty database in the PostgreSQL cluster DATABASE_URL points at;
    dropped at the end."""
    databases = PostgresDatabases()
    yield databases.create("portal_multi")
    databases.drop_all()


@pytest.fixture
def new_postgres_database():
    """A function that makes a new, empty PostgreSQL database and returns its URL, for a test
    with a server of its own; all dropped after the test."""
    databases = PostgresDatabases()
    yield databases.create
    databases.drop_all()


@pytest.fixture(scope="session")
def cluster(postgres_database):
    """Starts three servers on a fresh database at the same moment, so they race to migrate,
    waits until each is healthy and ready, and only then seeds the data with the admin commands."""
    env = portal_env(DATABASE_URL=postgres_database, PORTAL_SECRET=secrets.token_hex(32),
                     DEVICE_POLL_INTERVAL="2")
    workdir = Path(tempfile.mkdtemp(prefix="portal-multi-"))
    ports = _free_ports(3)
    servers = [Server(env, port, workdir / f"serve-{name}.log") for port, name in zip(ports, "ABC")]
    cluster = Cluster(instances=[_portal_info(port) for port in ports], servers=servers)
    try:
        for server in servers:
            server.wait_ready(paths=("/healthz", "/readyz"))
        _seed(env, cluster.instances[0])
        yield cluster
    finally:
        died = {s.base_url: s.stop() for s in servers}
        logs = cluster.log_tails()
        shutil.rmtree(workdir, ignore_errors=True)
    died = {url: code for url, code in died.items() if code is not None}
    if died:
        pytest.fail(f"portal serve died during the tests (exit codes {died}):\n{logs}")


class MailServer:
    """aiosmtpd on 127.0.0.1: every message it accepts, as (envelope sender, recipients, bytes)."""

    def __init__(self):
        self.port = _free_port()
        self.received: list[tuple[str, list[str], bytes]] = []
        self._controller = None

    async def handle_DATA(self, server, session, envelope):
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 accepted"

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self):
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self):
        """Nobody listens on the port until `start()`: a portal's connections are refused."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait_for(self, count: int, timeout: float, server=None) -> list[tuple[str, list[str], bytes]]:
        """Waits until `count` messages have arrived (fails after `timeout` seconds with what came)."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            if server is not None and server.process.poll() is not None:
                pytest.fail(f"portal serve exited with {server.process.returncode}:\n{server.log_tail()}")
            time.sleep(0.2)
        assert len(self.received) >= count, (f"{len(self.received)} of {count} messages after {timeout}s"
                                             + (f"; the portal's log ends:\n{server.log_tail()}" if server else ""))
        return list(self.received)


@pytest.fixture
def mail_server():
    server = MailServer()
    server.start()
    yield server
    server.stop()


def pytest_configure(config):
    config.addinivalue_line("markers", "settings(**env): extra environment for a test's own portal")
    config.addinivalue_line("markers", "postgres: runs on PostgreSQL (set from the fixtures a test uses); "
                                       "scripts/test runs these again through PgBouncer")
