"""What the identity tests share (issue 15):
- `ProviderMock`: a real OpenID Connect provider that this project did not write,
  oidc-provider-mock (PyPI), in a subprocess on a free port, watched and stopped at the end;
  `oidc_provider` is one for a whole module;
- `BlackHole`: a provider that accepts connections and never answers;
- `KeySetServer`: a JWKS served by http.server in a thread of the test process, whose keys a test
  may change and which counts (and times) every fetch;
- `start_portal`: a `portal serve` of a test's own (conftest's `Server`, so a server that dies
  fails the test), on a fresh SQLite database seeded with the admin commands;
- `signin_through_provider`: the person's part of an OpenID Connect sign-in with plain HTTP;
  `provider_id_token`: an ID token the provider gives another app of the company."""

import base64
import dataclasses
import hashlib
import json
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlparse

import pytest
import requests

from conftest import ROOT, Server, _free_port, _portal_bin, _portal_info, _seed, portal_env
from portal_helpers import Portal, answers_200

# "Did not wait for the provider": well under the 5-second time-out a request stuck behind a
# provider that is down would take, and loose enough for a busy CI machine's pauses.
NO_WAIT = 2.0


class ProviderMock:
    """oidc-provider-mock 0.3.4 with `--require-nonce true`. Its issuer is `http://127.0.0.1:PORT`;
    `set_user` gives a subject its claims; its authorize page is a form (POST `sub`, or
    `action=deny`)."""

    def __init__(self, log_path: Path):
        self.port = _free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.stopped = False
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "oidc_provider_mock", "-p", str(self.port), "--require-nonce", "true"],
                stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.require_alive()
            if answers_200(self.issuer + "/.well-known/openid-configuration"):
                return
            time.sleep(0.2)
        pytest.fail(f"oidc-provider-mock not ready after {timeout}s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def require_alive(self):
        """Fails the test if the provider exited while nobody asked it to."""
        if not self.stopped and self.process.poll() is not None:
            pytest.fail(f"oidc-provider-mock exited with {self.process.returncode}:\n{self.log_tail()}")

    def set_user(self, sub: str, email: str, verified: bool = True, name: str | None = None, **extra):
        """The subject's claims (replacing any it had); `extra` ones go into its ID tokens too."""
        self.require_alive()
        claims = {"email": email, "email_verified": verified, **extra}
        if name:
            claims["name"] = name
        resp = requests.put(f"{self.issuer}/users/{sub}", json=claims, timeout=10)
        assert resp.status_code in (200, 204), (resp.status_code, resp.text)

    def register_client(self, redirect_uri: str, auth_method: str) -> dict:
        """A client registered at the provider (RFC 7591): its redirect URI and secret are then checked."""
        resp = requests.post(f"{self.issuer}/oauth2/clients", timeout=10, json={
            "redirect_uris": [redirect_uri], "token_endpoint_auth_method": auth_method})
        assert resp.status_code == 201, (resp.status_code, resp.text)
        return resp.json()

    def stop(self):
        """Stops the provider (also what a test does to make it go down)."""
        self.stopped = True
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def provider_mock():
    workdir = Path(tempfile.mkdtemp(prefix="oidc-provider-"))
    provider = ProviderMock(workdir / "provider.log")
    try:
        yield provider
        provider.require_alive()
    finally:
        provider.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def oidc_provider():
    with provider_mock() as provider:
        yield provider


class KeySetServer:
    """A JWKS at `http://127.0.0.1:PORT/jwks.json`, served from a thread: `keys` may be changed at
    any time; `fetches` holds the monotonic time of every GET of it."""

    def __init__(self):
        self.keys: list[dict] = []
        self.fetches: list[float] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path != "/jwks.json":
                    self.send_error(404)
                    return
                with owner._lock:
                    owner.fetches.append(time.monotonic())
                    body = json.dumps({"keys": list(owner.keys)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def fetch_count(self) -> int:
        with self._lock:
            return len(self.fetches)

    def seconds_since_last_fetch(self) -> float:
        with self._lock:
            return time.monotonic() - self.fetches[-1] if self.fetches else float("inf")

    def wait_for_fetches(self, count: int, timeout: float = 15):
        deadline = time.monotonic() + timeout
        while self.fetch_count() < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.fetch_count() >= count, f"the JWKS was fetched {self.fetch_count()} times, not {count}"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def jwks_server():
    server = KeySetServer()
    try:
        yield server
    finally:
        server.stop()


class BlackHole:
    """A provider that is slow past any patience: it accepts connections on `url` and never answers."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.held: list[socket.socket] = []
        self._stopped = threading.Event()
        threading.Thread(target=self._hold, daemon=True).start()

    def _hold(self):
        self.listener.settimeout(0.2)
        while not self._stopped.is_set():
            try:
                self.held.append(self.listener.accept()[0])
            except OSError:
                continue

    def stop(self):
        self._stopped.set()
        for connection in self.held:
            connection.close()
        self.listener.close()


class EndlessAnswer:
    """A provider whose every answer is `200` and a body that never ends: it counts the bytes the
    portal took from it, which a client with no cap on an answer's size keeps reading."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.sent = 0
        self._stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        self.listener.settimeout(0.2)
        while not self._stopped.is_set():
            try:
                connection = self.listener.accept()[0]
            except OSError:
                continue
            threading.Thread(target=self._pour, args=(connection,), daemon=True).start()

    def _pour(self, connection: socket.socket):
        chunk = b"[" * 65536
        try:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            while not self._stopped.is_set():
                connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.sent += len(chunk)
        except OSError:
            pass
        finally:
            connection.close()

    def stop(self):
        self._stopped.set()
        self.listener.close()


@dataclasses.dataclass
class OwnPortal:
    """A `portal serve` of a test's own, with the seed of conftest (Ada owns `analytical`, the
    public client `interop-cli`)."""
    info: Portal
    server: Server
    workdir: Path

    def run(self, *args) -> str:
        """An admin command on this portal's database; its output."""
        done = subprocess.run([_portal_bin(), *args], cwd=ROOT, env=self.info.admin_env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, f"portal {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def log(self) -> str:
        return self.server.log_tail(20000)

    def alive(self) -> bool:
        return self.server.process.poll() is None

    def stop(self):
        died = self.server.stop()
        log = self.server.log_tail()
        shutil.rmtree(self.workdir, ignore_errors=True)
        if died is not None:
            pytest.fail(f"portal serve died during the tests (exit {died}):\n{log}")


def start_portal(port: int | None = None, **settings) -> OwnPortal:
    """Seeds a fresh database, then starts `portal serve` with `settings` (on `port`, else a free
    one) and waits until it is healthy."""
    workdir = Path(tempfile.mkdtemp(prefix="portal-identity-"))
    port = port or _free_port()
    env = portal_env(DATABASE_URL=f"sqlite://{workdir}/portal.sqlite", DEVICE_POLL_INTERVAL="1", **settings)
    info = dataclasses.replace(_portal_info(port), admin_env=env)
    _seed(env, info)
    server = Server(env, port, workdir / "serve.log")
    own = OwnPortal(info=info, server=server, workdir=workdir)
    try:
        server.wait_ready()
    except BaseException:
        own.stop()
        raise
    return own


def oidc_settings(provider: ProviderMock, **extra) -> dict:
    return {"OIDC_ISSUER": provider.issuer, "OIDC_CLIENT_ID": "device-portal",
            "OIDC_CLIENT_SECRET": "interop-client-secret", "OIDC_NAME": "Acme SSO", **extra}


@dataclasses.dataclass
class ProviderRound:
    """One sign-in through the provider done with requests: every hop's answer."""
    web: requests.Session
    start: requests.Response       # GET /login/oidc
    authorize_url: str
    callback_url: str | None       # where the provider sent the browser back
    landing: requests.Response | None  # GET of the callback, redirects not followed


def signin_through_provider(portal: Portal, sub: str | None, next_path: str | None = None,
                            web: requests.Session | None = None) -> ProviderRound:
    """Clicks the button (GET /login/oidc), answers the provider's form with `sub` (or denies,
    `sub=None`) and follows the provider back to the portal's callback, without following the
    portal's own redirect."""
    web = web or requests.Session()
    params = {"next": next_path} if next_path else None
    start = web.get(portal.url("/login/oidc"), params=params, allow_redirects=False, timeout=15)
    if start.status_code != 303 and start.status_code != 302:
        return ProviderRound(web, start, "", None, None)
    authorize_url = start.headers["Location"]
    form = {"sub": sub} if sub is not None else {"action": "deny"}
    answer = web.post(authorize_url, data=form, allow_redirects=False, timeout=15)
    assert answer.status_code in (302, 303), (answer.status_code, answer.text[:1000])
    callback_url = urljoin(authorize_url, answer.headers["Location"])
    assert urlparse(callback_url).path == "/login/oidc/callback", callback_url
    landing = web.get(callback_url, allow_redirects=False, timeout=30)
    return ProviderRound(web, start, authorize_url, callback_url, landing)


def provider_id_token(provider: ProviderMock, sub: str, client_id: str) -> str:
    """An ID token that the provider issues to another of the company's apps (`client_id`), by
    the code flow with PKCE, as that app's back end would get it."""
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect_uri = "http://127.0.0.1:9/callback"
    answer = requests.post(f"{provider.issuer}/oauth2/authorize", data={"sub": sub}, allow_redirects=False, timeout=10,
                           params={"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
                                   "scope": "openid email profile", "state": secrets.token_urlsafe(8),
                                   "nonce": secrets.token_urlsafe(8), "code_challenge": challenge,
                                   "code_challenge_method": "S256"})
    assert answer.status_code in (302, 303), (answer.status_code, answer.text[:500])
    code = parse_qs(urlparse(answer.headers["Location"]).query)["code"][0]
    tokens = requests.post(f"{provider.issuer}/oauth2/token", auth=(client_id, "app-secret"), timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier})
    assert tokens.status_code == 200, tokens.text
    return tokens.json()["id_token"]


def signed_in(portal: Portal, web: requests.Session) -> bool:
    """Whether `web` holds a signed-in session: /auth/device shows its form rather than sending to /login."""
    resp = web.get(portal.url("/auth/device"), allow_redirects=False, timeout=10)
    return resp.status_code == 200 and 'name="user_code"' in resp.text


def page_text(html: str) -> str:
    """The visible words of a page, roughly: tags dropped, whitespace squeezed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#39;", "'").replace("&quot;", '"')
