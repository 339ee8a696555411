"""The release archive, as an operator installs it. `scripts/package` runs once here (the only
release build CI makes; incremental when .build-release is already there); the archive is
unpacked into a temporary folder and its `portal` started from `/`:
- beside its Templates/ and Public/: the login page, the CSS and a whole device flow work, the
  admin commands run with the same environment;
- with Templates/ and Public/ elsewhere, named by PORTAL_RESOURCES: the same;
- the executable alone refuses to start (serve and demo), with a message naming PORTAL_RESOURCES,
  and writes nothing;
- `portal backup` taken while polls, /me requests and new sign-ins run is a sound database
  (`PRAGMA integrity_check`) holding every token issued before it began; a server restored from
  it as docs/OPERATIONS.md says (stop, replace the file, keep portal.secret) accepts those tokens;
- `systemd-analyze verify` passes on the unit, which keeps the hardening the docs promise.
The figures (build time, archive size and contents, the backup's numbers) are printed (`-s`) and
written to $INTEROP_ARTIFACTS/package-figures.json."""

import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import _free_port, _portal_info, portal_env
from portal_helpers import answers_200, approve_by_hand, csrf_of, get_me, poll_once, request_device_code, sign_in

ROOT = Path(__file__).resolve().parents[2]
FIGURES: dict = {}
ARCHIVE_NAME = re.compile(r"portal-[A-Za-z0-9][A-Za-z0-9._+-]*-linux-[a-z0-9_]+\.tar\.gz")


@pytest.fixture(scope="module", autouse=True)
def figures():
    yield FIGURES
    text = json.dumps(FIGURES, indent=2)
    print(f"\npackage figures:\n{text}")
    artifacts = os.environ.get("INTEROP_ARTIFACTS")
    if artifacts:
        Path(artifacts, "package-figures.json").write_text(text)


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    """The archive scripts/package makes, built once for the module."""
    out = tmp_path_factory.mktemp("package-out")
    started = time.monotonic()
    done = subprocess.run([str(ROOT / "scripts" / "package"), str(out)], cwd=ROOT, capture_output=True,
                          text=True, timeout=3600)
    FIGURES["scripts/package seconds"] = round(time.monotonic() - started, 1)
    assert done.returncode == 0, f"scripts/package failed:\n{done.stderr[-6000:]}"
    path = Path(done.stdout.strip().splitlines()[-1])
    assert path.parent == out and ARCHIVE_NAME.fullmatch(path.name), path
    digest = (out / (path.name + ".sha256")).read_text().split()[0]
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    FIGURES["archive"] = path.name
    FIGURES["archive bytes"] = path.stat().st_size
    return path


@pytest.fixture(scope="module")
def unpacked(archive, tmp_path_factory) -> Path:
    """The archive's one folder, unpacked as an operator would (tar -xzf)."""
    target = tmp_path_factory.mktemp("unpacked")
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(target)], check=True)
    (folder,) = target.iterdir()
    assert folder.name == archive.name.removesuffix(".tar.gz")
    return folder


def _env(database_folder: Path, **settings) -> dict:
    """A portal's environment: its own SQLite file, nothing from the developer's shell."""
    env = portal_env(DATABASE_URL=f"sqlite://{database_folder}/portal.sqlite", DEVICE_POLL_INTERVAL="1",
                     **settings)
    if "PORTAL_RESOURCES" not in settings:
        env.pop("PORTAL_RESOURCES", None)
    return env


def _run(binary: Path, env: dict, *args, timeout: float = 120) -> subprocess.CompletedProcess:
    """The executable run from `/`, as a service manager or an operator's shell would."""
    return subprocess.run([str(binary), *args], cwd="/", env=env, capture_output=True, text=True,
                          timeout=timeout)


def _admin(binary: Path, env: dict, *args) -> str:
    done = _run(binary, env, *args)
    assert done.returncode == 0, f"portal {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


class Installed:
    """One `portal serve` of the unpacked archive, started from `/`."""

    def __init__(self, binary: Path, env: dict, log: Path, port: int | None = None):
        self.port = port or _free_port()
        self.log = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [str(binary), "serve", "--hostname", "127.0.0.1", "--port", str(self.port)],
                cwd="/", env=env, stdout=out, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        for path in ("/healthz", "/readyz"):
            while True:
                assert self.process.poll() is None, f"portal serve exited:\n{log.read_text()[-3000:]}"
                assert time.monotonic() < deadline, f"{path} not ready:\n{log.read_text()[-3000:]}"
                if answers_200(self.url + path):
                    break
                time.sleep(0.1)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


def _seeded(binary: Path, env: dict, port: int):
    """The interop suite's user, org and client, made with the admin commands of the archive."""
    info = _portal_info(port)
    _admin(binary, env, "create-user", "--email", info.email, "--name", info.user_name, "--password", info.password)
    _admin(binary, env, "create-org", "--slug", info.org_slug, "--name", info.org_name)
    _admin(binary, env, "add-member", "--org", info.org_slug, "--email", info.email, "--role", "owner")
    _admin(binary, env, "create-client", "--client-id", info.client_id, "--name", "Interop CLI")
    return info


def _issue_token(portal, web: requests.Session, name: str) -> str:
    """A whole device flow: a code, the person's approval, the app's poll."""
    code = request_device_code(portal, device_name=name)
    approve_by_hand(portal, code["user_code"], web=web)
    resp = poll_once(portal, code["device_code"])
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]


def _serves_pages_and_the_flow(binary: Path, env: dict, workdir: Path):
    port = _free_port()
    portal = _seeded(binary, env, port)
    server = Installed(binary, env, workdir / "serve.log", port)
    try:
        login = requests.get(portal.url("/login"), timeout=10)
        assert login.status_code == 200 and "text/html" in login.headers["Content-Type"]
        csrf_of(login)
        css = requests.get(portal.url("/css/portal.css"), timeout=10)
        assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css"), css.headers
        assert css.content == (Path(env.get("PORTAL_RESOURCES") or binary.parent) / "Public/css/portal.css").read_bytes()
        token = _issue_token(portal, sign_in(portal), "packaged")
        me = get_me(portal, token)
        assert me.status_code == 200 and me.json()["user"]["email"] == portal.email, me.text
        missing = requests.get(portal.url("/no/such/page"), timeout=10, headers={"Accept": "text/html"})
        assert missing.status_code == 404 and "<html" in missing.text.lower()
    finally:
        assert server.stop() == 0, (workdir / "serve.log").read_text()[-3000:]


def test_archive_holds_the_executable_its_folders_the_unit_and_the_settings(archive, unpacked):
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
    top = unpacked.name
    names = {m.name for m in members}
    assert {f"{top}/portal", f"{top}/Templates/layout.leaf", f"{top}/Public/css/portal.css",
            f"{top}/Public/openapi.json", f"{top}/portal.service", f"{top}/portal.env.example",
            f"{top}/OPERATIONS.md"} <= names
    assert all(name == top or name.startswith(top + "/") for name in names), "one folder only"
    assert all(m.uid == 0 and m.gid == 0 for m in members)
    for folder in ("Templates", "Public"):
        shipped = {p.relative_to(unpacked / folder) for p in (unpacked / folder).rglob("*") if p.is_file()}
        repository = {p.relative_to(ROOT / folder) for p in (ROOT / folder).rglob("*") if p.is_file()}
        assert shipped == repository, folder
    assert os.access(unpacked / "portal", os.X_OK)
    FIGURES["executable bytes"] = (unpacked / "portal").stat().st_size
    FIGURES["contents"] = sorted(f"{m.name} ({m.size} B)" for m in members
                                 if m.isfile() and m.name.count("/") == 1) + [
        f"{top}/Templates/: {sum(1 for n in names if n.startswith(top + '/Templates/') and n.endswith('.leaf'))} templates",
        f"{top}/Public/: {sum(1 for m in members if m.isfile() and m.name.startswith(top + '/Public/'))} files"]
    libraries = subprocess.run(["ldd", str(unpacked / "portal")], capture_output=True, text=True).stdout
    FIGURES["links"] = sorted(line.split()[0] for line in libraries.splitlines() if "=>" in line)
    assert "not found" not in libraries and "swift" not in libraries, libraries

    # Every setting the portal reads is in the example environment file, with a comment above it.
    # Config/ spells no other upper-case word in quotes than a setting's name.
    settings = "".join(f.read_text() for f in (ROOT / "Sources/DevicePortal/Config").glob("*.swift"))
    names = set(re.findall(r'"([A-Z][A-Z0-9_]{3,})"', settings))
    assert {"DATABASE_URL", "PORTAL_RESOURCES", "DEVICE_POLL_MAX_HELD", "OIDC_ISSUER", "SMTP_URL"} <= names
    example = (unpacked / "portal.env.example").read_text().splitlines()
    for name in names | {"LOG_FORMAT", "LOG_LEVEL"}:
        at = next((i for i, line in enumerate(example) if re.match(rf"#?{name}=", line)), None)
        assert at is not None, f"{name} is not in portal.env.example"
        assert example[at - 1].startswith("# "), f"{name} has no comment in portal.env.example"


def test_serves_from_root_beside_its_folders(unpacked, tmp_path):
    _serves_pages_and_the_flow(unpacked / "portal", _env(tmp_path), tmp_path)


def test_serves_from_root_with_PORTAL_RESOURCES_elsewhere(unpacked, tmp_path):
    alone = tmp_path / "bin"
    resources = tmp_path / "share" / "portal"
    alone.mkdir()
    resources.mkdir(parents=True)
    shutil.copy2(unpacked / "portal", alone / "portal")
    for folder in ("Templates", "Public"):
        shutil.copytree(unpacked / folder, resources / folder)
    _serves_pages_and_the_flow(alone / "portal", _env(tmp_path, PORTAL_RESOURCES=str(resources)), tmp_path)


def test_the_executable_alone_refuses_to_start_naming_PORTAL_RESOURCES(unpacked, tmp_path):
    alone = tmp_path / "bin"
    data = tmp_path / "data"
    alone.mkdir()
    data.mkdir()
    shutil.copy2(unpacked / "portal", alone / "portal")
    for args in (["serve", "--port", str(_free_port())], ["demo", "--port", str(_free_port())]):
        started = time.monotonic()
        done = _run(alone / "portal", _env(data), *args, timeout=30)
        assert done.returncode != 0, done
        assert time.monotonic() - started < 10
        message = done.stdout + done.stderr
        assert "PORTAL_RESOURCES" in message and f"{alone}/ (beside the executable)" in message, message
        assert "/ (the working directory)" in message and "Templates/layout.leaf" in message, message
        FIGURES.setdefault("refusal", message.strip().splitlines()[-1])
    # A PORTAL_RESOURCES without them is refused even where the working directory has them.
    done = subprocess.run([str(unpacked / "portal"), "serve", "--port", str(_free_port())], cwd=unpacked,
                          env=_env(data, PORTAL_RESOURCES=str(tmp_path)), capture_output=True, text=True,
                          timeout=30)
    assert done.returncode != 0 and f"{tmp_path}/ (PORTAL_RESOURCES)" in done.stderr, done
    assert list(data.iterdir()) == [], "it wrote before refusing"


class Load:
    """Threads that keep the server writing and reading: token polls (a write each), /me with
    the issued tokens, and new device flows; every answer is checked."""

    def __init__(self, portal, web: requests.Session, tokens: list[str]):
        self.portal, self.web, self.tokens = portal, web, tokens
        self.stop = threading.Event()
        self.counts = {"polls": 0, "me": 0, "flows": 0}
        self.issued_during: list[str] = []
        self.problems: list[str] = []
        self.threads = [threading.Thread(target=self._guard, args=(body,)) for body in
                        (self._polls, self._polls, self._me, self._flows)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _guard(self, body):
        try:
            body()
        except Exception as error:  # noqa: BLE001 - reported by the test
            self.problems.append(repr(error))

    def _polls(self):
        code = request_device_code(self.portal, device_name="load")
        while not self.stop.is_set():
            resp = poll_once(self.portal, code["device_code"])
            if resp.status_code != 400 or resp.json()["error"] not in ("authorization_pending", "slow_down"):
                self.problems.append(f"poll: {resp.status_code} {resp.text[:200]}")
            self.counts["polls"] += 1

    def _me(self):
        index = 0
        while not self.stop.is_set():
            resp = get_me(self.portal, self.tokens[index % len(self.tokens)])
            if resp.status_code != 200:
                self.problems.append(f"/me: {resp.status_code} {resp.text[:200]}")
            self.counts["me"] += 1
            index += 1

    def _flows(self):
        while not self.stop.is_set():
            self.issued_during.append(_issue_token(self.portal, self.web, f"during-{len(self.issued_during)}"))
            self.counts["flows"] += 1


def test_backup_while_serving_is_sound_and_restores(unpacked, tmp_path):
    binary = unpacked / "portal"
    env = _env(tmp_path)
    port = _free_port()
    portal = _seeded(binary, env, port)
    server = Installed(binary, env, tmp_path / "serve.log", port)
    web = sign_in(portal)
    before = [_issue_token(portal, web, f"before-{i}") for i in range(25)]
    backup = tmp_path / "backups" / "portal-backup.sqlite"
    backup.parent.mkdir()
    try:
        with Load(portal, web, before) as load:
            time.sleep(1)
            counts_at_start = dict(load.counts)
            started = time.monotonic()
            done = _run(binary, env, "backup", "--to", str(backup))
            seconds = time.monotonic() - started
            counts_at_end = dict(load.counts)
            time.sleep(1)
        assert not load.problems, load.problems[:5]
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"to {backup}:" in done.stdout and "portal.secret" in done.stdout, done.stdout
        during = {k: counts_at_end[k] - counts_at_start[k] for k in load.counts}
        assert during["polls"] > 0 and during["me"] > 0, during

        # Never over an existing file: refused, the file unchanged.
        digest = hashlib.sha256(backup.read_bytes()).hexdigest()
        again = _run(binary, env, "backup", "--to", str(backup))
        assert again.returncode != 0 and "already exists" in again.stderr + again.stdout, again
        assert hashlib.sha256(backup.read_bytes()).hexdigest() == digest

        with sqlite3.connect(f"file:{backup}?mode=ro", uri=True) as copy:
            assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            rows = copy.execute("SELECT count(*) FROM api_tokens").fetchone()[0]
        assert rows >= len(before)
    finally:
        assert server.stop() == 0, (tmp_path / "serve.log").read_text()[-3000:]

    # The restore of docs/OPERATIONS.md: server stopped, the file replaced (its -wal and -shm
    # gone with it), portal.secret kept.
    database = tmp_path / "portal.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    shutil.copy2(backup, database)
    restored = Installed(binary, env, tmp_path / "restored.log")
    try:
        restored_portal = _portal_info(restored.port)
        for token in before:
            resp = get_me(restored_portal, token)
            assert resp.status_code == 200, resp.text
        kept = sum(get_me(restored_portal, token).status_code == 200 for token in load.issued_during)
    finally:
        assert restored.stop() == 0, (tmp_path / "restored.log").read_text()[-3000:]

    FIGURES["backup"] = {
        "tokens issued before it began": len(before),
        "seconds": round(seconds, 2),
        "bytes": backup.stat().st_size,
        "api_tokens rows in the copy": rows,
        "requests answered while it ran": during,
        "requests answered during the whole load": load.counts,
        "tokens issued during the load": len(load.issued_during),
        "of those, in the copy (issued before its snapshot)": kept,
        "integrity_check": "ok",
    }


def test_the_unit_verifies_and_keeps_its_hardening(unpacked, tmp_path):
    text = (unpacked / "portal.service").read_text()
    unit = tmp_path / "portal.service"
    assert "ExecStart=/opt/portal/portal serve " in text
    unit.write_text(text.replace("/opt/portal/portal serve ", f"{unpacked}/portal serve "))
    if shutil.which("systemd-analyze") is None:
        # scripts/package installs it when missing; the archive fixture has run it.
        pytest.fail("no systemd-analyze although scripts/package ran")
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr
    settings = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    for key, value in {"DynamicUser": "yes", "ProtectSystem": "strict", "NoNewPrivileges": "yes",
                       "PrivateTmp": "yes", "StateDirectory": "portal", "WorkingDirectory": "/var/lib/portal",
                       "Restart": "on-failure", "KillSignal": "SIGTERM"}.items():
        assert settings.get(key) == [value], (key, settings.get(key))
    assert int(settings["TimeoutStopSec"][0]) > 20
    assert "PORTAL_RESOURCES=/opt/portal" in settings["Environment"]
    assert "DATABASE_URL=sqlite:///var/lib/portal/portal.sqlite" in settings["Environment"]
