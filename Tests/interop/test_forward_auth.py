"""Another service behind the portal's guard, through a real nginx (Debian's, built with
auth_request): a small upstream echoes the headers it receives, and nginx asks /auth/verify
before every request. The nginx configuration is the one docs/FORWARD-AUTH.md shows."""

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from conftest import ROOT, _free_ports
from portal_helpers import answers_at_all, approve_by_hand, poll_for_token, request_device_code

IDENTITY = ("X-Portal-User-Id", "X-Portal-User-Email", "X-Portal-Org-Id", "X-Portal-Org-Slug", "X-Portal-Role",
            "X-Portal-Permissions", "X-Portal-Credential")

NGINX_CONF = """
worker_processes 1;
error_log {dir}/error.log;
pid {dir}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    server {{
        listen 127.0.0.1:{port};

        # The guard's decision for every request; only the Authorization header goes along.
        location = /_portal_verify {{
            internal;
            proxy_pass {portal}/auth/verify$portal_permission;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
        }}

        location / {{
            set $portal_permission "";
            auth_request /_portal_verify;
            include {identity};
            proxy_pass http://127.0.0.1:{upstream};
        }}

        # The SQL runner needs a permission of its own.
        location /sql/ {{
            set $portal_permission "?permission=sql:run";
            auth_request /_portal_verify;
            include {identity};
            proxy_pass http://127.0.0.1:{upstream};
        }}
    }}
}}
"""

# Each identity header the upstream sees is the portal's answer: the file the documentation shows.
IDENTITY_CONF = ROOT / "deploy/nginx/portal-identity.conf"


def test_the_identity_file_is_the_documented_one_and_replaces_every_identity_header():
    """The file the tests include is the block docs/FORWARD-AUTH.md shows, and it sets each of the
    portal's identity headers (so a client's own copy of any of them is replaced)."""
    conf = IDENTITY_CONF.read_text()
    assert f"```nginx\n{conf}```" in (ROOT / "docs/FORWARD-AUTH.md").read_text()
    set_headers = [line.split()[1] for line in conf.splitlines() if line.startswith("proxy_set_header ")]
    assert sorted(set_headers) == sorted(IDENTITY)


class Upstream(ThreadingHTTPServer):
    """Echoes the request's headers as JSON, and remembers every request it got."""

    def __init__(self, port: int):
        self.seen: list[dict] = []
        upstream = self

        class Echo(BaseHTTPRequestHandler):
            def do_GET(self):
                headers = {name: value for name, value in self.headers.items()}
                upstream.seen.append(headers)
                body = json.dumps({"path": self.path, "headers": headers}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", port), Echo)


@pytest.fixture(scope="module")
def proxy(portal):
    """nginx on a free port in front of the echoing upstream, asking `portal` about each request."""
    nginx = shutil.which("nginx", path=f"/usr/sbin:{os.environ.get('PATH', '')}")
    assert nginx, "nginx is missing: scripts/interop-test.sh installs Debian's nginx"
    port, upstream_port = _free_ports(2)
    upstream = Upstream(upstream_port)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    workdir = Path(tempfile.mkdtemp(prefix="portal-nginx-"))
    (workdir / "nginx.conf").write_text(NGINX_CONF.format(dir=workdir, port=port, upstream=upstream_port,
                                                          portal=portal.base_url, identity=IDENTITY_CONF))
    started = subprocess.run([nginx, "-c", str(workdir / "nginx.conf"), "-p", str(workdir)],
                             capture_output=True, text=True, timeout=30)
    assert started.returncode == 0, f"nginx did not start:\n{started.stderr}"
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not answers_at_all(base + "/"):
        assert time.monotonic() < deadline, f"nginx on {base} did not answer in 30 s"
        time.sleep(0.1)
    try:
        yield base, upstream
    finally:
        subprocess.run([nginx, "-c", str(workdir / "nginx.conf"), "-p", str(workdir), "-s", "stop"],
                       capture_output=True, timeout=30)
        upstream.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)


def _token(portal) -> str:
    code = request_device_code(portal, device_name="forward-auth")
    approve_by_hand(portal, code["user_code"])
    return poll_for_token(portal, code["device_code"], interval=1)["access_token"]


def test_an_api_token_reaches_the_upstream_with_the_portal_identity_and_never_a_forged_one(portal, proxy):
    base, upstream = proxy
    token = _token(portal)
    answer = requests.get(base + "/reports/1", timeout=10, headers={
        "Authorization": f"Bearer {token}", "X-Portal-User-Id": "forged", "X-Portal-Role": "owner",
        "X-Portal-Org-Slug": "someone-elses"})
    assert answer.status_code == 200, answer.text
    seen = answer.json()["headers"]
    me = requests.get(portal.url("/me"), headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    assert seen["X-Portal-User-Id"] == me["user"]["id"]
    assert seen["X-Portal-User-Email"] == portal.email
    assert seen["X-Portal-Org-Slug"] == portal.org_slug
    assert seen["X-Portal-Role"] == me["role"]["name"]
    assert seen["X-Portal-Permissions"].split(",") == me["role"]["permissions"]
    assert seen["X-Portal-Credential"] == "api_token"
    assert "forged" not in json.dumps(upstream.seen) and "someone-elses" not in json.dumps(upstream.seen)


def test_a_session_jwt_passes_too(portal, proxy):
    from portal_helpers import sign_in, csrf_of
    base, _ = proxy
    web = sign_in(portal)
    page = web.get(portal.url("/settings/devices"), timeout=10)
    jwt = web.post(portal.url("/auth/session/token"), headers={"X-CSRF-Token": csrf_of(page)}, timeout=10).json()["token"]
    answer = requests.get(base + "/dashboards", headers={"Authorization": f"Bearer {jwt}"}, timeout=10)
    assert answer.status_code == 200
    assert answer.json()["headers"]["X-Portal-Credential"] == "session"


def test_no_credential_a_bad_one_or_a_revoked_one_never_reaches_the_upstream(portal, proxy):
    base, upstream = proxy
    before = len(upstream.seen)
    assert requests.get(base + "/reports/1", timeout=10).status_code == 401
    forged = {"Authorization": "Bearer " + "0" * 64, "X-Portal-User-Id": "forged"}
    assert requests.get(base + "/reports/1", headers=forged, timeout=10).status_code == 401
    token = _token(portal)
    assert requests.get(base + "/reports/1", headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code == 200
    requests.post(portal.url("/auth/token/revoke"), data={"token": token}, timeout=10)
    assert requests.get(base + "/reports/1", headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code == 401
    assert len(upstream.seen) == before + 1


def test_a_route_that_needs_a_permission_refuses_a_viewer(portal, proxy):
    base, _ = proxy
    from conftest import admin
    admin(portal.admin_env, "create-user", "--email", "viewer-fa@example.com", "--name", "Vera", "--password",
          "correct horse battery staple")
    admin(portal.admin_env, "add-member", "--org", portal.org_slug, "--email", "viewer-fa@example.com",
          "--role", "viewer")
    import dataclasses
    vera = dataclasses.replace(portal, email="viewer-fa@example.com")
    token = _token(vera)
    bearer = {"Authorization": f"Bearer {token}"}
    assert requests.get(base + "/reports/1", headers=bearer, timeout=10).status_code == 200
    assert requests.get(base + "/sql/run", headers=bearer, timeout=10).status_code == 403
    owner = {"Authorization": f"Bearer {_token(portal)}"}
    assert requests.get(base + "/sql/run", headers=owner, timeout=10).status_code == 200
