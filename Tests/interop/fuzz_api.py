"""A bounded Schemathesis run against a fresh `portal serve` and the document it serves at
/openapi.json (scripts/fuzz-api.sh runs this). Fails on any 5xx, any answer the document does not
describe, or any error the server logs.

The server gets a temporary SQLite database seeded with the admin commands: an owner, an admin, a
member, a viewer and a holder of a custom role in one organization, a public client and a
confidential one. The owner's API tokens come from the real device flow (form posts, as a person
would approve), and a signed-in browser session is there for POST /auth/session/token.

Two passes, so that the fuzzer cannot saw off the branch it sits on. It acts as the owner, who may
revoke their own tokens: DELETE /api/me/tokens/{id} with the credential's own id, or
DELETE /api/orgs/{slug}/members/{userId}/tokens naming the owner, would turn every later request
into a 401 and leave the rest untested (the stateful phase does find those ids in
GET /me and GET .../members). So:
  1. every other operation, with the owner's first token (afterwards the token must still work);
  2. those two, with the owner's second token, last: whatever they revoke, nothing is left to test.
Both operations are also driven on purpose, success and errors, by test_openapi.py.

Environment: PORTAL_BIN (default .build/debug/portal); FUZZ_MAX_EXAMPLES (default 200: about 70 s in all and
4 500 requests on an idle 2-core machine; each pass is stopped after 300 s whatever happens); FUZZ_EXTRA_ARGS, more `schemathesis run`
options (another --seed, --report har...)."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import ROOT, Server, _free_port, _portal_bin, admin, portal_env  # noqa: E402
from portal_helpers import (Portal, approve_by_hand, csrf_of, poll_for_token,  # noqa: E402
                            request_device_code, sign_in)

HERE = Path(__file__).resolve().parent
PASSWORD = "fuzzing is not a password"
SELF_DESTRUCTIVE = ("revokeMyToken", "revokeMemberTokens")
# A hard stop per pass, so that the run stays bounded whatever the machine.
PASS_TIMEOUT = 300
REQUEST_LINE = re.compile(r"^\[ INFO \] (GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|TRACE|CONNECT) ", re.M)
SERVER_ERROR = re.compile(r"^\[ (ERROR|CRITICAL) \]", re.M)


def seed(env: dict) -> tuple[str, str]:
    """The organization and its people; returns the confidential client's id and secret."""
    users = {"owner": "owner", "admin": "admin", "member": "member", "viewer": "viewer", "analyst": "analyst"}
    for name in users:
        admin(env, "create-user", "--email", f"{name}@fuzz.example", "--name", name.title(), "--password", PASSWORD)
    admin(env, "create-org", "--slug", "fuzz", "--name", "Fuzz Org")
    admin(env, "create-role", "--org", "fuzz", "--name", "analyst", "--permissions", "queries:read,queries:run")
    for name, role in users.items():
        admin(env, "add-member", "--org", "fuzz", "--email", f"{name}@fuzz.example", "--role", role)
    admin(env, "create-client", "--client-id", "fuzz-cli", "--name", "Fuzz CLI")
    done = subprocess.run([_portal_bin(), "create-client", "--client-id", "fuzz-service", "--name", "Fuzz Service",
                           "--confidential"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    secret = re.search(r"\b[0-9a-f]{64}\b", done.stdout)
    assert done.returncode == 0 and secret, f"create-client --confidential failed:\n{done.stdout}{done.stderr}"
    return "fuzz-service", secret.group(0)


def device_flow_token(portal: Portal) -> str:
    code = request_device_code(portal, device_name="fuzz-box")
    approve_by_hand(portal, code["user_code"])
    return poll_for_token(portal, code["device_code"], code["interval"])["access_token"]


def run_schemathesis(base_url: str, env: dict, max_examples: int, operations: list[str], workdir: Path) -> int:
    """One Schemathesis run; its working files stay in the temporary directory, out of the repository."""
    command = [str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(HERE / "schemathesis.toml"),
               "run", f"{base_url}/openapi.json", "--max-examples", str(max_examples), "--no-color",
               "--output-truncate", "true", *operations, *os.environ.get("FUZZ_EXTRA_ARGS", "").split()]
    print("+", " ".join(command), flush=True)
    try:
        return subprocess.run(command, env=env, cwd=workdir, timeout=PASS_TIMEOUT).returncode
    except subprocess.TimeoutExpired:
        print(f"fuzz-api: the pass took more than {PASS_TIMEOUT}s: lower FUZZ_MAX_EXAMPLES", flush=True)
        return 1


def main() -> int:
    started = time.monotonic()
    max_examples = int(os.environ.get("FUZZ_MAX_EXAMPLES", "200"))
    workdir = Path(tempfile.mkdtemp(prefix="portal-fuzz-"))
    port = _free_port()
    env = portal_env(DATABASE_URL=f"sqlite://{workdir}/portal.sqlite", DEVICE_POLL_INTERVAL="1")
    client_id, client_secret = seed(env)
    server = Server(env, port, workdir / "serve.log")
    status = 1
    try:
        server.wait_ready()
        portal = Portal(base_url=server.base_url, client_id="fuzz-cli", email="owner@fuzz.example",
                        password=PASSWORD, user_name="Owner", org_slug="fuzz", org_name="Fuzz Org")
        first, second = device_flow_token(portal), device_flow_token(portal)
        web = sign_in(portal)
        csrf = csrf_of(web.get(portal.url("/auth/device"), timeout=10))
        fuzz_env = {**os.environ, "FUZZ_CLIENT_ID": client_id, "FUZZ_CLIENT_SECRET": client_secret,
                    "FUZZ_SESSION_COOKIE": web.cookies["portal_session"], "FUZZ_CSRF_TOKEN": csrf}
        print(f"fuzz-api: seeded in {time.monotonic() - started:.0f}s; server log {server.log_path}", flush=True)
        before = len(REQUEST_LINE.findall(server.log_path.read_text(errors="replace")))

        print("== pass 1: every operation but the two that can revoke the fuzzer's own token", flush=True)
        excluded = [arg for op in SELF_DESTRUCTIVE for arg in ("--exclude-operation-id", op)]
        first_pass = run_schemathesis(server.base_url, {**fuzz_env, "FUZZ_BEARER": first}, max_examples, excluded, workdir)
        alive = requests.get(portal.url("/me"), headers={"Authorization": f"Bearer {first}"}, timeout=10)
        if alive.status_code != 200:
            print(f"fuzz-api: the first token stopped working during pass 1 ({alive.status_code}): "
                  "its later requests tested only the 401 path", flush=True)

        print("== pass 2: the self-revoking operations, with a second token", flush=True)
        included = [arg for op in SELF_DESTRUCTIVE for arg in ("--include-operation-id", op)]
        second_pass = run_schemathesis(server.base_url, {**fuzz_env, "FUZZ_BEARER": second},
                                       max(10, max_examples // 3), included, workdir)

        log = server.log_path.read_text(errors="replace")
        sent = len(REQUEST_LINE.findall(log)) - before
        errors = [line for line in log.splitlines() if SERVER_ERROR.match(line)]
        print(f"fuzz-api: {sent} requests sent to the server in {time.monotonic() - started:.0f}s in all")
        if errors:
            print("fuzz-api: the server logged errors:\n  " + "\n  ".join(errors[:20]))
        status = 0 if first_pass == 0 and second_pass == 0 and alive.status_code == 200 and not errors else 1
    finally:
        died = server.stop()
        if died is not None:
            print(f"fuzz-api: portal serve died (exit {died}):\n{server.log_tail()}")
            status = 1
        if status == 0:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"fuzz-api: FAILED; the database and server log are kept in {workdir}")
    return status


if __name__ == "__main__":
    sys.exit(main())
