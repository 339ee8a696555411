"""The company's session JWT for GET /me: an RS256 key made with openssl, its JWKS served on
loopback by this process, and one JWT signed with it. Standard library and the openssl command
only, like the rest of the benchmark. The JWKS server counts its fetches: once the keys are
cached, the requests under wrk must cause none."""

import base64
import json
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ISSUER = "https://login.bench.example"
SUBJECT = "user_bench"
ORG_EXTERNAL_ID = "org_bench"
KID = "bench-key-1"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class KeySet:
    jwks_url: str
    key_path: Path
    fetches: list[int]

    def sign(self, lifetime: int = 86_400) -> str:
        header = _b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": KID}).encode())
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": SUBJECT, "org_id": ORG_EXTERNAL_ID, "iat": now, "exp": now + lifetime}
        payload = _b64url(json.dumps(claims).encode())
        signing_input = f"{header}.{payload}".encode()
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key_path)],
                                   input=signing_input, capture_output=True, check=True).stdout
        return f"{header}.{payload}.{_b64url(signature)}"


def _jwks(key_path: Path) -> bytes:
    text = subprocess.run(["openssl", "rsa", "-in", str(key_path), "-noout", "-modulus"],
                          capture_output=True, text=True, check=True).stdout
    modulus = bytes.fromhex(text.strip().split("=", 1)[1])
    key = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID, "n": _b64url(modulus), "e": "AQAB"}
    return json.dumps({"keys": [key]}).encode()


@contextmanager
def serving(workdir: Path):
    """A fresh RSA key and its JWKS at http://127.0.0.1:PORT/jwks.json, while in the block."""
    key_path = workdir / "company-jwt-key.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key_path), "2048"], capture_output=True, check=True)
    body = _jwks(key_path)
    fetches = [0]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            fetches[0] += 1
            self.send_response(200 if self.path == "/jwks.json" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield KeySet(f"http://127.0.0.1:{server.server_address[1]}/jwks.json", key_path, fetches)
    finally:
        server.shutdown()


def server_env(keys: KeySet) -> dict[str, str]:
    return {"EXTERNAL_JWT_ISSUER": ISSUER, "EXTERNAL_JWT_JWKS_URL": keys.jwks_url}


def admin_commands(org_slug: str, email: str) -> list[list[str]]:
    return [
        ["set-org-external-id", "--org", org_slug, "--external-id", ORG_EXTERNAL_ID],
        ["link-identity", "--email", email, "--issuer", ISSUER, "--subject", SUBJECT],
    ]
