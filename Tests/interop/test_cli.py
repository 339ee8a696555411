"""The `portal` executable as an operator runs it: configuration errors, migrations,
admin commands reading a password from standard input, and the demo command."""

import re
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from conftest import ROOT, _free_port, _portal_bin, portal_env


def run(*args, env=None, stdin=None, timeout=120):
    return subprocess.run([_portal_bin(), *args], cwd=ROOT, env=portal_env(**(env or {})), input=stdin,
                          capture_output=True, text=True, timeout=timeout)


def test_bad_configuration_stops_with_the_variable_named():
    for variable, value in [("TOKEN_TTL", "abc"), ("DATABASE_URL", "mysql://db/portal")]:
        done = run("serve", env={variable: value})
        assert done.returncode != 0
        assert variable in done.stderr


def test_an_unreachable_database_stops_start_up_naming_it_but_not_its_password():
    url = f"postgres://portal:hunter2secret@127.0.0.1:{_free_port()}/portal"
    done = run("serve", env={"DATABASE_URL": url, "PORTAL_SECRET": "ab" * 32}, timeout=60)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "Cannot use the database postgres://portal:***@127.0.0.1" in output
    assert "hunter2secret" not in output


def test_a_bad_sslmode_is_refused_without_printing_the_password():
    url = "postgres://portal:S3cretPW@127.0.0.1:5432/portal?sslmode=bogus"
    done = run("serve", env={"DATABASE_URL": url, "PORTAL_SECRET": "ab" * 32}, timeout=60)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "DATABASE_URL" in output
    assert "S3cretPW" not in output


def test_serve_refuses_pending_migrations_until_migrate_runs():
    with tempfile.TemporaryDirectory() as workdir:
        env = {"DATABASE_URL": f"sqlite://{workdir}/portal.sqlite", "AUTO_MIGRATE": "false"}
        refused = run("serve", "--port", str(_free_port()), env=env, timeout=60)
        assert refused.returncode != 0
        assert "portal migrate --yes" in refused.stdout + refused.stderr

        migrated = run("migrate", "--yes", env=env)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        created = run("create-org", "--slug", "acme", "--name", "Acme", env=env)
        assert created.returncode == 0, created.stdout + created.stderr


def test_commands_started_together_on_a_new_sqlite_database_all_succeed():
    with tempfile.TemporaryDirectory() as workdir:
        env = portal_env(DATABASE_URL=f"sqlite://{workdir}/portal.sqlite")
        runs = [subprocess.Popen([_portal_bin(), "migrate", "--yes"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True) for _ in range(3)]
        outputs = [run.communicate(timeout=120)[0] for run in runs]
        assert [run.returncode for run in runs] == [0, 0, 0], outputs
        secret = Path(workdir, "portal.secret")
        assert secret.stat().st_mode & 0o777 == 0o600


def test_create_user_reads_the_password_from_stdin_and_never_prints_it():
    with tempfile.TemporaryDirectory() as workdir:
        env = {"DATABASE_URL": f"sqlite://{workdir}/portal.sqlite"}
        done = run("create-user", "--email", "ada@example.com", "--name", "Ada", env=env,
                   stdin="a long enough secret\n")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Created user ada@example.com" in done.stdout
        assert "a long enough secret" not in done.stdout + done.stderr
        again = run("create-user", "--email", "ADA@example.com", "--name", "Ada", env=env, stdin="another secret\n")
        assert again.returncode != 0
        assert "already exists" in again.stdout + again.stderr


def test_demo_serves_a_working_sign_in_with_a_fresh_password():
    """The README's first command: a newcomer can sign in with what it prints."""
    with tempfile.TemporaryDirectory() as workdir:
        base = portal_env(DATABASE_URL=f"sqlite://{workdir}/portal.sqlite")
        port = _free_port()
        log_path = Path(workdir) / "demo.log"
        with open(log_path, "w") as log:
            demo = subprocess.Popen([_portal_bin(), "demo", "--port", str(port)], cwd=ROOT, env=base,
                                    stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 60
            password = None
            while time.monotonic() < deadline and password is None:
                match = re.search(r"password: (\S+)", log_path.read_text())
                password = match.group(1) if match else None
                time.sleep(0.1)
            assert password, log_path.read_text()
            session = requests.Session()
            login = session.get(f"http://127.0.0.1:{port}/login")
            csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', login.text).group(1)
            signed_in = session.post(f"http://127.0.0.1:{port}/login", allow_redirects=False, data={
                "email": "demo@example.com", "password": password, "next": "/auth/device", "csrf_token": csrf})
            assert signed_in.status_code == 303
            code = requests.post(f"http://127.0.0.1:{port}/auth/device/code", data={"client_id": "demo-cli"})
            assert code.status_code == 200
        finally:
            demo.terminate()
            demo.wait(timeout=10)
