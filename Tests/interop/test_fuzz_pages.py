"""A bounded, hostile fuzzer over every web page and form route, the logo upload, the OAuth
endpoints and the JSON API, against a real `portal serve` of its own, on SQLite and on PostgreSQL
(issue #14: no request can crash the portal or earn a 500).

First a sweep puts each known hole of the issue on every route it could be on (an empty or quoted
empty multipart boundary with the CSRF token in the body and in X-CSRF-Token; a NUL and invalid
UTF-8 in every field, path segment and query parameter; a path below a file of Public/), then a
random part mixes hostile bodies, content types, headers, paths and values.

Why raw sockets: an HTTP library repairs what this test must send broken (an empty multipart
boundary, two Content-Type headers, raw invalid UTF-8 in the request line, a `&` followed by a
combining mark, which a Swift `Character` split would not see as `&`). Why its own generator with a
fixed seed rather than Hypothesis: every request is built from the seed, so a failure seen once is
seen again with the same build, and the run is bounded by a count and a time (FUZZ_PAGES_REQUESTS,
default 3000; FUZZ_PAGES_SECONDS, default 150; FUZZ_PAGES_SEED, default 14).

Why two signed-in people (an owner and a viewer in the web pages) and another owner for the API's
bearer token: the fuzzer sends valid session cookies and CSRF tokens, so that hostile values reach
the handlers and the database instead of being turned away at the door, and what it revokes or
signs out along the way (its own session, a member's tokens) must not be the credential it needs
next. After every batch it checks that the server process is alive and /healthz answers, and signs
in again or fetches a new token when one was lost.

It fails on any 5xx (also on the ordinary requests that keep its sessions), on a request that gets
no answer within 15 s, and on a server that died (it is then started again on the same database, to
find what else there is; a body that crashed it is not sent again, and the sweep sends a crashing
kind of body to three routes at most). A request the HTTP parser refuses by closing the connection
(an unknown method, raw bytes that are not ASCII in the request line) is counted, not failed. The
summary (requests sent, status counts, each 5xx and crash with the request that caused it) is
printed and written to $INTEROP_ARTIFACTS/fuzz-pages-<database>.json."""

import base64
import dataclasses
import json
import os
import random
import re
import secrets
import shutil
import socket
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import quote_from_bytes

import requests

from conftest import Server, _free_port, admin, portal_env, postgres_settings
from portal_helpers import DEVICE_GRANT, Portal, approve_by_hand, csrf_of, form_inputs

SEED = int(os.environ.get("FUZZ_PAGES_SEED", "14"))
MAX_REQUESTS = int(os.environ.get("FUZZ_PAGES_REQUESTS", "3000"))
MAX_SECONDS = float(os.environ.get("FUZZ_PAGES_SECONDS", "150"))
BATCH = 40
MAX_RESTARTS = 25
# The kinds of body that may be banned from a run after they crashed the server once.
BODY_KINDS = ("multipart", "json", "form", "content-type", "upload", "body:", "chunked")
ANSWER_TIMEOUT = 15
PASSWORD = "fuzzing pages is not a password"
ORG, OTHER_ORG = "fuzz", "other"
PERMISSIONS = ["members:read", "members:manage", "roles:manage", "tokens:manage", "audit:read", "queries:read",
               "queries:run", "sql:run", "slack:post"]
# People in the organization whose rows the fuzzer may change or remove (never its own).
VICTIMS = ("admin", "member", "viewer", "analyst")


# ---------------------------------------------------------------- hostile values

def _hostile_values() -> list[tuple[str, bytes]]:
    """Values that have broken web servers and databases before, as bytes (some not UTF-8)."""
    return [
        ("nul", b"\x00"), ("nul-inside", b"ab\x00cd"), ("nul-email", b"decoy@fuzz.example\x00"),
        ("nul-many", b"\x00" * 64),
        ("crlf", b"a\r\nSet-Cookie: injected=1"), ("cr", b"\r"), ("lf", b"\n"), ("crlfcrlf", b"\r\n\r\nGET / HTTP/1.1"),
        ("controls", bytes(range(1, 32))), ("del", b"\x7f"), ("escape", b"\x1b[2J\x1b]0;x\x07"),
        ("c1-controls", "\u0085\u0090\u009f".encode()),
        ("invalid-utf8", b"\xff\xfe\xfd"), ("overlong-utf8", b"\xc0\xaf\xc0\xae"), ("surrogate-utf8", b"\xed\xa0\x80"),
        ("beyond-unicode", b"\xf4\x90\x80\x80"), ("truncated-utf8", b"caf\xc3"), ("latin1", "café".encode("latin-1")),
        ("emoji-100", ("\U0001F600" * 100).encode()), ("zwj-families", ("\U0001F469\u200d\U0001F469\u200d\U0001F467" * 30).encode()),
        ("flags", ("\U0001F1FA\U0001F1F8" * 50).encode()),
        ("amp-combining", "&\u0301".encode()), ("amp-combining-field", "x&\u0301csrf_token=y".encode()),
        ("eq-combining", "=\u0301".encode()), ("percent-combining", "%\u0301".encode()),
        ("combining-only", "\u0301\u0302\u0303".encode()), ("zalgo", ("e" + "\u0301" * 300).encode()),
        ("bom", "\ufeffviewer".encode()), ("rtl-override", "\u202egnp.exe".encode()), ("zero-width", "\u200b\u200c\u200d\u2060".encode()),
        ("nbsp", "\u00a0".encode()), ("fullwidth", "\uff4f\uff57\uff4e\uff45\uff52".encode()),
        ("nfd", "e\u0301".encode()), ("private-use", "\ue000\U000F0000".encode()), ("noncharacter", "\ufffe\uffff".encode()),
        ("long-5000", b"x" * 5000), ("long-unicode", ("\u00e9" * 1500).encode()), ("long-1000-emoji", ("\U0001F4A9" * 1000).encode()),
        ("empty", b""), ("space", b" "), ("tab", b"\t"), ("percent", b"%"), ("percent-bad", b"%zz%4"), ("plus", b"+"),
        ("dots", b"../../etc/passwd"), ("slashes", b"//evil.example/"), ("backslash", b"\\\\evil.example"),
        ("scheme", b"javascript:alert(1)"), ("html", b"<script>alert(1)</script>"), ("leaf", b'#(page) #extend("x")'),
        ("sql", b"' OR '1'='1' --"), ("sql-like", b"%_%\\"), ("format", b"%s%n%x%@"),
        ("number-huge", b"99999999999999999999999"), ("number-min", b"-9223372036854775809"), ("number-neg", b"-1"),
        ("number-float", b"1e309"), ("nan", b"NaN"), ("zero", b"0"),
        ("uuid-nil", b"00000000-0000-0000-0000-000000000000"), ("uuid-lower", str(uuid.UUID(int=7)).encode()),
        ("uuid-braces", b"{" + str(uuid.UUID(int=9)).encode() + b"}"),
        ("brackets", b"[]"), ("braces", b"{}"), ("true", b"true"), ("null-word", b"null"),
        ("user-code-ish", b"BCDF-GHJK\x00"), ("hex64-nul", b"a" * 63 + b"\x00"),
    ]


HOSTILE = _hostile_values()
DATABASE_HOSTILE = [(label, value) for label, value in HOSTILE if b"\x00" in value or label.endswith("utf8")]


def pct(value: bytes) -> bytes:
    return quote_from_bytes(value, safe="").encode()


# ---------------------------------------------------------------- raw HTTP

@dataclasses.dataclass
class Answer:
    status: int | None
    head: bytes = b""
    body: bytes = b""
    error: str = ""


def exchange(port: int, raw: bytes, timeout: float = ANSWER_TIMEOUT) -> Answer:
    """Sends the bytes on a new connection and reads until the server closes it."""
    try:
        connection = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError as error:
        return Answer(None, error=f"connect: {error}")
    data, error = b"", ""
    with connection:
        try:
            connection.sendall(raw)
        except OSError as e:  # it may answer (413) and close before reading everything
            error = f"send: {e}"
        try:
            while chunk := connection.recv(65536):
                data += chunk
                if len(data) > 2_000_000:
                    break
        except socket.timeout:
            error = "timeout"
        except OSError as e:
            error = error or f"recv: {e}"
    head, _, body = data.partition(b"\r\n\r\n")
    status = None
    parts = head.split(b"\r\n", 1)[0].split(b" ", 2)
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        status = int(parts[1])
    return Answer(status, head, body[:4000], error)


@dataclasses.dataclass
class Probe:
    """One request, and what is hostile about it."""
    method: bytes
    target: bytes
    route: str
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    kinds: list[str] = dataclasses.field(default_factory=list)
    framing: str = "length"  # length | chunked | none

    def raw(self) -> bytes:
        lines = [self.method + b" " + self.target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
        lines += [name + b": " + value for name, value in self.headers]
        body = self.body
        if self.framing == "chunked":
            lines.append(b"Transfer-Encoding: chunked")
            chunks, rest = [], body
            while rest:
                size = max(1, len(rest) // 3 + 1)
                chunks.append(f"{size:x}".encode() + b"\r\n" + rest[:size] + b"\r\n")
                rest = rest[size:]
            body = b"".join(chunks) + b"0\r\n\r\n"
        elif self.framing == "length" and (body or self.method in (b"POST", b"PUT", b"PATCH", b"DELETE")):
            lines.append(b"Content-Length: " + str(len(body)).encode())
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    def describe(self, limit: int = 700) -> str:
        text = repr(self.raw())
        return text if len(text) <= limit else text[:limit] + f"... ({len(self.raw())} bytes)"


# ---------------------------------------------------------------- routes

@dataclasses.dataclass(frozen=True)
class Route:
    method: str
    path: str            # with {slug}, {user_id}, {token_id}, {role}
    area: str            # web | oauth | api | public
    fields: tuple = ()   # form fields (web, oauth) or JSON keys (api)
    query: tuple = ()


ROUTES = [
    Route("GET", "/login", "web", query=("next",)),
    Route("POST", "/login", "web", ("email", "password", "next")),
    Route("POST", "/logout", "web"),
    Route("POST", "/auth/session/token", "web"),
    Route("GET", "/auth/device", "web", query=("user_code",)),
    Route("POST", "/auth/device", "web", ("user_code",)),
    Route("POST", "/auth/device/confirm", "web", ("user_code", "org", "action")),
    Route("POST", "/session/organization", "web", ("org", "next")),
    Route("GET", "/settings/devices", "web"),
    Route("POST", "/settings/devices/{token_id}/revoke", "web"),
    Route("POST", "/settings/devices/revoke-all", "web"),
    Route("GET", "/orgs/{slug}/members", "web"),
    Route("POST", "/orgs/{slug}/members", "web", ("email", "role")),
    Route("POST", "/orgs/{slug}/invitations/{token_id}/withdraw", "web"),  # any UUID stands for an invitation id
    Route("GET", "/invitations/" + "A" * 43, "web"),  # the shape of an invitation link's secret
    Route("POST", "/invitations/" + "A" * 43, "web", ("name", "password")),
    Route("POST", "/invitations/" + "A" * 43 + "/accept", "web"),
    Route("POST", "/orgs/{slug}/members/{user_id}/role", "web", ("role",)),
    Route("POST", "/orgs/{slug}/members/{user_id}/remove", "web"),
    Route("POST", "/orgs/{slug}/members/{user_id}/revoke-tokens", "web"),
    Route("GET", "/orgs/{slug}/roles", "web"),
    Route("POST", "/orgs/{slug}/roles", "web", ("name", "permissions[]")),
    Route("POST", "/orgs/{slug}/roles/{role}", "web", ("name", "permissions[]")),
    Route("POST", "/orgs/{slug}/roles/{role}/delete", "web"),
    Route("GET", "/orgs/{slug}/settings", "web"),
    Route("POST", "/orgs/{slug}/settings", "web", ("device_signin", "token_ttl")),
    Route("GET", "/orgs/{slug}/audit", "web", query=("kind", "user", "before")),
    Route("GET", "/orgs/{slug}/logo", "web"),
    Route("POST", "/orgs/{slug}/logo", "web", ("logo",)),
    Route("POST", "/auth/device/code", "oauth", ("client_id", "scope", "device_name")),
    Route("POST", "/auth/device/token", "oauth", ("grant_type", "device_code", "client_id")),
    Route("POST", "/auth/token/revoke", "oauth", ("token", "token_type_hint", "client_id")),
    Route("POST", "/auth/introspect", "oauth", ("token", "token_type_hint")),
    Route("GET", "/me", "api"),
    Route("GET", "/auth/verify", "api", query=("permission",)),  # forward auth, any method
    Route("POST", "/auth/verify", "api"),
    Route("GET", "/api/me/tokens", "api"),
    Route("DELETE", "/api/me/tokens/{token_id}", "api"),
    Route("GET", "/api/orgs/{slug}/settings", "api"),
    Route("PUT", "/api/orgs/{slug}/settings", "api", ("device_signin", "token_ttl")),
    Route("GET", "/api/orgs/{slug}/members", "api"),
    Route("POST", "/api/orgs/{slug}/members", "api", ("email", "role")),
    Route("GET", "/api/orgs/{slug}/invitations", "api"),
    Route("POST", "/api/orgs/{slug}/invitations", "api", ("email", "role")),
    Route("DELETE", "/api/orgs/{slug}/invitations/{token_id}", "api"),
    Route("PUT", "/api/orgs/{slug}/members/{user_id}", "api", ("role",)),
    Route("DELETE", "/api/orgs/{slug}/members/{user_id}", "api"),
    Route("DELETE", "/api/orgs/{slug}/members/{user_id}/tokens", "api"),
    Route("GET", "/api/orgs/{slug}/roles", "api"),
    Route("POST", "/api/orgs/{slug}/roles", "api", ("name", "permissions")),
    Route("PUT", "/api/orgs/{slug}/roles/{role}", "api", ("name", "permissions")),
    Route("DELETE", "/api/orgs/{slug}/roles/{role}", "api"),
    Route("GET", "/api/orgs/{slug}/audit", "api", query=("limit", "before", "user", "kind")),
    Route("GET", "/healthz", "public"),
    Route("GET", "/readyz", "public"),
    Route("GET", "/.well-known/oauth-authorization-server", "public"),
    Route("GET", "/.well-known/jwks.json", "public"),
    Route("GET", "/openapi.json", "public"),
    Route("GET", "/css/portal.css", "public"),
    Route("GET", "/", "web"),
]

TINY_PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                         "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")
TINY_GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00," \
           b"\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"


# ---------------------------------------------------------------- the world the fuzzer acts in

@dataclasses.dataclass
class Session:
    cookie: str = ""
    csrf: str = ""


@dataclasses.dataclass
class World:
    port: int
    owner: Session           # signed in to the web pages (owner of ORG)
    viewer: Session          # signed in, a viewer: the refusals
    anon_cookie: str = ""    # the sign-in form's double-submit cookie and token
    anon_csrf: str = ""
    bearer: str = ""         # an API token of `apiowner`, another owner of ORG
    jwt: str = ""            # a session JWT of the owner
    spare_tokens: list = dataclasses.field(default_factory=list)   # apiowner's tokens the fuzzer may revoke
    token_ids: list = dataclasses.field(default_factory=list)      # ids of tokens it may revoke
    user_ids: dict = dataclasses.field(default_factory=dict)       # name -> id
    user_code: str = "BCDF-GHJK"
    device_code: str = "x" * 43
    sign_ins: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Generator:
    """Builds probes from a seeded random source."""

    def __init__(self, rng: random.Random, world: World):
        self.rng = rng
        self.world = world
        self.banned: set[str] = set()  # kinds that crashed the server twice: no more of them

    # -- values

    def hostile(self) -> tuple[str, bytes]:
        # A NUL or invalid UTF-8 a third of the time: what PostgreSQL refuses and SQLite keeps.
        return self.rng.choice(DATABASE_HOSTILE if self.rng.random() < 0.33 else HOSTILE)

    def valid(self, name: str) -> bytes:
        w, r = self.world, self.rng
        choices = {
            "email": ["decoy@fuzz.example", "nobody@fuzz.example", "DECOY@FUZZ.EXAMPLE "],
            "password": ["wrong password", PASSWORD],
            "next": ["/auth/device", f"/orgs/{ORG}/members", "/settings/devices"],
            "user_code": [w.user_code, w.user_code.replace("-", "").lower(), "BCDF-GHJK"],
            "org": [ORG, OTHER_ORG],
            "action": ["approve", "deny"],
            "role": ["viewer", "member", "analyst", "admin", "owner", "nope"],
            "name": [f"fz-{r.randrange(16 ** 6):06x}", "analyst", "owner"],
            "permissions[]": PERMISSIONS, "permissions": PERMISSIONS,
            "device_signin": ["on"],
            "token_ttl": ["", "3600", "60", "59"],
            "client_id": ["fuzz-cli", "fuzz-cli", "unknown-client"],
            "scope": ["openid", ""],
            "device_name": ["fuzz-box", "laptop"],
            "grant_type": [DEVICE_GRANT, "authorization_code"],
            "device_code": [w.device_code, "A" * 43],
            "token": (w.spare_tokens[:1] or ["0" * 64]) + ["f" * 64, w.jwt or "e30.e30.x"],
            "token_type_hint": ["access_token", "refresh_token"],
            "logo": ["x"],
            "kind": ["signin.failed", "token.issued", ""], "user": [w.user_ids.get("member", ""), ""],
            "before": ["2026-12-01T00:00:00Z", ""], "limit": ["10", "1", "500"],
            "permission": ["members:read", "sql:run", "nope"],
        }
        return r.choice(choices.get(name, ["x"])).encode()

    def mutated(self, name: str) -> tuple[str, bytes]:
        """A hostile value: on its own, or around a valid one (to get past the first check)."""
        label, value = self.hostile()
        style = self.rng.random()
        if style < 0.5:
            return label, value
        if style < 0.75:
            return label + "+suffix", self.valid(name) + value
        return label + "+prefix", value + self.valid(name)

    def path_value(self, param: str) -> tuple[str | None, bytes]:
        w, r = self.world, self.rng
        if r.random() < 0.25:
            label, value = self.mutated(param)
            if r.random() < 0.1 and b"/" not in value and b"?" not in value and b"#" not in value \
                    and not any(c < 0x21 for c in value):
                return f"path-raw:{label}", value  # not percent-encoded: raw bytes in the request line
            return f"path:{label}", pct(value)
        if param == "slug":
            return None, r.choice([ORG, ORG, ORG, OTHER_ORG, "no-such-org"]).encode()
        if param == "user_id":
            ids = [w.user_ids[n] for n in VICTIMS if n in w.user_ids]
            return None, r.choice(ids + [str(uuid.uuid4()).upper()]).encode()
        if param == "token_id":
            return None, r.choice(w.token_ids + [str(uuid.uuid4())]).encode()
        if param == "role":
            return None, r.choice(["analyst", "owner", "viewer", "nope"]).encode()
        return None, b"x"

    # -- the probe

    def probe(self) -> Probe:
        for _ in range(50):
            probe = self._probe()
            if not self.banned & set(probe.kinds):
                return probe
        return probe

    def _probe(self) -> Probe:
        r = self.rng
        route = r.choice(ROUTES)
        kinds: list[str] = []
        method = route.method.encode()
        if r.random() < 0.06:
            method = r.choice([b"GET", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"HEAD", b"FUZZ"])
            kinds.append(f"method:{method.decode()}")
        path = route.path.encode()
        for param in ("slug", "user_id", "token_id", "role"):
            marker = b"{" + param.encode() + b"}"
            if marker in path:
                label, value = self.path_value(param)
                if label:
                    kinds.append(label)
                path = path.replace(marker, value)
        if r.random() < 0.04:
            suffix = r.choice([b"/", b"//", b"/%00", b"/..", b"/%2e%2e/%2e%2e/", b";x=1", b"/%ff", b"/x"])
            path += suffix
            kinds.append(f"path-suffix:{suffix!r}")
        query = self.query(route, kinds)
        target = path + (b"?" + query if query is not None else b"")
        headers: list[tuple[bytes, bytes]] = []
        body, framing = b"", "length"
        csrf = self.credentials(route, headers, kinds)
        if route.fields or route.method in ("POST", "PUT", "DELETE") or r.random() < 0.05:
            body, framing = self.body(route, csrf, headers, kinds)
        self.header_noise(headers, kinds)
        return Probe(method, target, route.path, headers, body, kinds, framing)

    # -- the sweep: each known hole of issue #14 on every route it could be on, before the random part

    SWEEP_LAST = ("/logout", "/settings/devices/revoke-all")  # they end the sweep's own session or tokens

    def sweep(self) -> list:
        """What the random part might miss, once per route: a multipart body with an empty (or
        quoted empty) boundary, the CSRF token in the body or in X-CSRF-Token (the route then reads
        the body itself); a NUL and invalid UTF-8 in every field, path segment and query parameter.
        Returns functions that build each probe with the credentials of the moment."""
        specs = []
        for route in sorted(ROUTES, key=lambda r: r.path in self.SWEEP_LAST):
            params = [p for p in ("slug", "user_id", "token_id", "role") if "{" + p + "}" in route.path]
            if route.method in ("POST", "PUT", "DELETE") and route.area != "public":
                for boundary in (b"multipart/form-data; boundary=", b'multipart/form-data; boundary=""'):
                    for csrf_in_header in ((False, True) if route.area == "web" else (False,)):
                        specs.append((route, "boundary", boundary, csrf_in_header))
            for name in route.fields:
                for bad in (b"\x00", b"\xff\xfe"):
                    specs.append((route, "field", name, bad))
            for param in params:
                for bad in (b"\x00", b"\xff"):
                    specs.append((route, "path", param, bad))
            for name in route.query or (("x",) if route.method == "GET" else ()):
                specs.append((route, "query", name, b"\x00"))
            if route.area == "public" or route.method == "GET":
                for suffix in (b"/x", b"/..", b"/", b"/%00"):  # below a file of Public/ (a 500 once)
                    specs.append((route, "suffix", suffix, None))
        return [lambda spec=spec: self.sweep_probe(*spec) for spec in specs]

    def sweep_probe(self, route: Route, variant: str, what, detail) -> Probe:
        w = self.world
        headers: list[tuple[bytes, bytes]] = []
        kinds = [f"sweep:{variant}"]
        path = route.path.encode()
        for param in ("slug", "user_id", "token_id", "role"):
            marker = b"{" + param.encode() + b"}"
            if marker in path:
                value = {"slug": ORG.encode(), "user_id": (w.user_ids.get("member") or str(uuid.UUID(int=1))).encode(),
                         "token_id": (w.token_ids[:1] or [str(uuid.UUID(int=2))])[0].encode(),
                         "role": b"analyst"}[param]
                if variant == "path" and param == what:
                    value = pct(value + detail)
                    kinds.append(f"path:{param}:{detail!r}")
                path = path.replace(marker, value)
        if variant == "suffix":
            path += what
            kinds.append(f"path-suffix:{what!r}")
        query = b""
        if variant == "query":
            query = b"?" + what.encode() + b"=" + pct(self.valid(what) + detail)
            kinds.append(f"query:{what}:{detail!r}")
        csrf = None
        if route.area == "web":
            if route.path == "/login":
                headers.append((b"Cookie", f"portal_csrf={w.anon_cookie}".encode()))
                csrf = w.anon_csrf.encode()
            else:
                headers.append((b"Cookie", f"portal_session={w.owner.cookie}".encode()))
                csrf = w.owner.csrf.encode()
        elif route.area == "api":
            headers.append((b"Authorization", b"Bearer " + w.bearer.encode()))
        pairs = [(n.encode(), self.valid(n)) for n in route.fields]
        if variant == "field":
            pairs = [(n, v + detail if n == what.encode() else v) for n, v in pairs]
            kinds.append(f"field:{what}:{detail!r}")
        body = b""
        if variant == "boundary":
            kinds.append(f"multipart-boundary:{'empty' if what.endswith(b'=') else 'quoted-empty'}"
                         + (":csrf-in-header" if detail else ""))
            headers.append((b"Content-Type", what))
            if csrf is not None and detail:
                headers.append((b"X-CSRF-Token", csrf))
            elif csrf is not None:
                pairs.append((b"csrf_token", csrf))
            body = self._multipart(pairs or [(b"x", b"y")], b"fuzzfuzz")
        elif route.area == "api" and route.fields:
            valid = {"permissions": ["audit:read"], "device_signin": True, "token_ttl": None, "role": "viewer",
                     "email": "fz-sweep@fuzz.example",
                     "name": f"fz-sweep-{self.rng.randrange(16 ** 6):06x}"}
            obj = {name: valid[name] for name in route.fields}
            if variant == "field":
                bad = detail.decode("utf-8", "surrogateescape")  # \x00 becomes \u0000, \xff stays a raw byte
                obj[what] = [f"audit:read{bad}"] if what == "permissions" else f"x{bad}"
            headers.append((b"Content-Type", b"application/json"))
            body = json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogateescape")
        elif route.fields or route.method == "POST":
            if csrf is not None:
                pairs.append((b"csrf_token", csrf))
            headers.append((b"Content-Type", self.FORM))
            body = b"&".join(pct(k).replace(b"%5B%5D", b"[]") + b"=" + pct(v) for k, v in pairs)
        return Probe(route.method.encode(), path + query, route.path, headers, body, kinds)

    def query(self, route: Route, kinds: list) -> bytes | None:
        r = self.rng
        if route.query and r.random() < 0.7:
            pairs = []
            for name in route.query:
                if r.random() < 0.5:
                    label, value = self.mutated(name)
                    kinds.append(f"query:{name}:{label}")
                    pairs.append(name.encode() + b"=" + pct(value))
                elif r.random() < 0.5:
                    pairs.append(name.encode() + b"=" + pct(self.valid(name)))
            return b"&".join(pairs)
        if r.random() < 0.08:
            label, value = self.hostile()
            kinds.append(f"query-garbage:{label}")
            return r.choice([pct(value) + b"=" + pct(value), b"a[b][c][d]=" + pct(value), b"&&=&" + pct(value),
                             b"%00=%00", b"x=" + value.replace(b" ", b"+").replace(b"#", b"%23")
                             if not any(c < 0x21 for c in value) else b"x=%0d%0a"])
        return None

    def credentials(self, route: Route, headers: list, kinds: list) -> bytes | None:
        """Adds cookies or a bearer token; returns the CSRF token that goes with them (if any)."""
        w, r = self.world, self.rng
        roll = r.random()
        if route.area in ("web", "public"):
            if route.path == "/login" and roll < 0.45:
                headers.append((b"Cookie", f"portal_csrf={w.anon_cookie}".encode()))
                return w.anon_csrf.encode()
            if roll < 0.55:
                headers.append((b"Cookie", f"portal_session={w.owner.cookie}".encode()))
                return w.owner.csrf.encode()
            if roll < 0.68:
                headers.append((b"Cookie", f"portal_session={w.viewer.cookie}".encode()))
                return w.viewer.csrf.encode()
            if roll < 0.76:
                label, value = self.hostile()
                kinds.append(f"cookie:{label}")
                headers.append((b"Cookie", b"portal_session=" + header_safe(value) + b"; portal_csrf=" + header_safe(value)))
                return value
            if roll < 0.8:
                headers.append((b"Cookie", f"portal_session={w.owner.cookie}".encode()))
                kinds.append("csrf:wrong")
                return b"%064x" % r.getrandbits(256)
            return None
        if route.area == "api":
            if roll < 0.62:
                headers.append((b"Authorization", b"Bearer " + w.bearer.encode()))
            elif roll < 0.72 and w.jwt:
                headers.append((b"Authorization", b"Bearer " + w.jwt.encode()))
            elif roll < 0.9:
                label, value = self.hostile()
                kinds.append(f"bearer:{label}")
                headers.append((b"Authorization", b"Bearer " + header_safe(value)))
            elif roll < 0.95:
                headers.append((b"Cookie", f"portal_session={w.owner.cookie}".encode()))
                headers.append((b"X-CSRF-Token", w.owner.csrf.encode()))
            return None
        if roll < 0.1:  # oauth: a client's Basic credentials, hostile
            label, value = self.hostile()
            kinds.append(f"basic:{label}")
            headers.append((b"Authorization", b"Basic " + r.choice([base64.b64encode(b"fuzz-cli:" + value),
                                                                      header_safe(value), b"!!!notbase64"])))
        return None

    def fields(self, route: Route, csrf: bytes | None, kinds: list) -> list[tuple[bytes, bytes]]:
        """The route's fields with valid values, one or two of them hostile, and the CSRF token."""
        r = self.rng
        names = list(route.fields)
        pairs = [(n.encode(), self.valid(n)) for n in names if r.random() < 0.9]
        if "permissions[]" in names:
            pairs += [(b"permissions[]", p.encode()) for p in r.sample(PERMISSIONS, r.randint(0, 3))]
        if pairs and r.random() < 0.8:
            for _ in range(r.choice([1, 1, 2])):
                i = r.randrange(len(pairs))
                label, value = self.mutated(pairs[i][0].decode())
                kinds.append(f"field:{pairs[i][0].decode()}:{label}")
                pairs[i] = (pairs[i][0], value)
        if r.random() < 0.1:
            label, value = self.hostile()
            kinds.append(f"field-name:{label}")
            pairs.append((value or b"x", b"1"))
        if r.random() < 0.08 and pairs:
            kinds.append("field:duplicated")
            pairs.append(r.choice(pairs))
        if csrf is not None and r.random() < 0.85:
            pairs.insert(r.randrange(len(pairs) + 1), (b"csrf_token", csrf))
        r.shuffle(pairs)
        return pairs

    def body(self, route: Route, csrf: bytes | None, headers: list, kinds: list) -> tuple[bytes, str]:
        r = self.rng
        if csrf is not None and r.random() < 0.3:
            headers.append((b"X-CSRF-Token", header_safe(csrf)))
        if route.area == "api":
            choice = r.choices(["json", "json-garbage", "json-deep", "form", "multipart-boundary", "odd-type", "empty"],
                               [45, 20, 5, 8, 10, 7, 5])[0]
        elif route.path.endswith("/logo"):
            choice = r.choices(["upload", "multipart-boundary", "multipart-broken", "form", "odd-type"],
                               [50, 20, 15, 10, 5])[0]
        else:
            choice = r.choices(["form", "form-raw", "form-structure", "multipart", "multipart-boundary",
                                "multipart-broken", "json", "json-garbage", "odd-type", "empty"],
                               [33, 10, 8, 12, 12, 9, 5, 4, 5, 2])[0]
        framing = "chunked" if r.random() < 0.05 else "length"
        if framing == "chunked":
            kinds.append("chunked")
        maker = getattr(self, "body_" + choice.replace("-", "_"))
        return maker(route, csrf, headers, kinds), framing

    FORM = b"application/x-www-form-urlencoded"

    def body_form(self, route, csrf, headers, kinds):
        pairs = self.fields(route, csrf, kinds)
        headers.append((b"Content-Type", self.rng.choice([self.FORM, self.FORM, self.FORM + b"; charset=utf-8"])))
        return b"&".join(pct(k).replace(b"%5B%5D", b"[]") + b"=" + pct(v) for k, v in pairs)

    def body_form_raw(self, route, csrf, headers, kinds):
        """Field values as raw bytes, not percent-encoded: an `&` with a combining mark, raw UTF-8."""
        pairs = self.fields(route, csrf, kinds)
        kinds.append("form:raw")
        headers.append((b"Content-Type", self.FORM))
        return b"&".join(k + b"=" + v for k, v in pairs)

    def body_form_structure(self, route, csrf, headers, kinds):
        r = self.rng
        label, shape = r.choice([
            ("deep-keys", b"a" + b"[a]" * 2000 + b"=1"),
            ("array-explosion", b"&".join([b"permissions[]=audit%3Aread"] * 1500)),
            ("index-huge", b"permissions[99999999999999999999]=x"),
            ("mixed-shapes", b"csrf_token=a&csrf_token[]=b&csrf_token[x]=c"),
            ("bad-escapes", b"csrf_token=%&email=%G0%&password=%%%"),
            ("no-equals", b"csrf_token&email&&&&"),
            ("only-separators", b"&&&&====&&&"),
            ("unclosed-bracket", b"permissions[=x&role]=y&[[[=z"),
            ("amp-combining", "email=a&\u0301password=b&\u0301csrf_token=".encode()),
            ("nul-key", b"\x00=\x00&csrf_token\x00=x"),
        ])
        kinds.append(f"form-structure:{label}")
        headers.append((b"Content-Type", self.FORM))
        if csrf is not None:
            shape += b"&csrf_token=" + pct(csrf)
        return shape

    def _multipart(self, pairs, boundary: bytes, files=()) -> bytes:
        out = b""
        for name, value in pairs:
            out += b"--" + boundary + b'\r\nContent-Disposition: form-data; name="' + name + b'"\r\n\r\n' + value + b"\r\n"
        for name, filename, content_type, content in files:
            out += (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="' + name + b'"; filename="' + filename
                    + b'"\r\nContent-Type: ' + content_type + b"\r\n\r\n" + content + b"\r\n")
        return out + b"--" + boundary + b"--\r\n"

    def body_multipart(self, route, csrf, headers, kinds):
        boundary = b"----fuzz" + b"%016x" % self.rng.getrandbits(64)
        headers.append((b"Content-Type", b"multipart/form-data; boundary=" + boundary))
        kinds.append("multipart")
        return self._multipart(self.fields(route, csrf, kinds), boundary)

    def body_upload(self, route, csrf, headers, kinds):
        r = self.rng
        boundary = b"----fuzz" + b"%016x" % r.getrandbits(64)
        headers.append((b"Content-Type", b"multipart/form-data; boundary=" + boundary))
        label, content = r.choice([
            ("png", TINY_PNG), ("gif", TINY_GIF), ("svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>x</script></svg>'),
            ("html", b"<html><body>x</body></html>"), ("empty", b""), ("nul", b"\x00" * 100),
            ("png-truncated", TINY_PNG[:20]), ("png-then-garbage", TINY_PNG[:16] + r.randbytes(200)),
            ("random", r.randbytes(1000)), ("elf", b"\x7fELF" + b"\x00" * 60),
            ("too-large", TINY_PNG + b"\x00" * (520 * 1024)),
        ])
        fname_label, filename = r.choice([("plain", b"logo.png")] * 3 + [(f"filename:{n}", header_safe(v)) for n, v in
                                                                          r.sample(HOSTILE, 2)])
        ctype = r.choice([b"image/png", b"image/svg+xml", b"application/octet-stream", b"", b"text/html; charset=\xff"])
        kinds += [f"upload:{label}", fname_label]
        pairs = [(b"csrf_token", csrf)] if csrf is not None and r.random() < 0.9 else []
        files = [(b"logo", filename, ctype, content)]
        if r.random() < 0.1:
            files.append((b"logo", b"second.png", b"image/png", TINY_PNG))
            kinds.append("upload:two-files")
        return self._multipart(pairs, boundary, files)

    BOUNDARY_HEADERS = [
        ("empty", b"multipart/form-data; boundary="),
        ("quoted-empty", b'multipart/form-data; boundary=""'),
        ("missing", b"multipart/form-data"),
        ("missing-charset", b"multipart/form-data; charset=utf-8"),
        ("no-equals", b"multipart/form-data; boundary"),
        ("space-only", b"multipart/form-data; boundary= "),
        ("overlong-71", b"multipart/form-data; boundary=" + b"b" * 71),
        ("overlong-300", b"multipart/form-data; boundary=" + b"b" * 300),
        ("invalid-quote", b'multipart/form-data; boundary=a"b'),
        ("invalid-space", b'multipart/form-data; boundary="a b "'),
        ("invalid-semicolon", b"multipart/form-data; boundary=a;b"),
        ("invalid-utf8", b"multipart/form-data; boundary=\xc3\xa9t\xc3\xa9\xff"),
        ("invalid-del", b"multipart/form-data; boundary=a\x7fb"),
        ("dashes", b"multipart/form-data; boundary=--"),
        ("equals", b"multipart/form-data; boundary=="),
        ("duplicated", b"multipart/form-data; boundary=fuzzfuzz; boundary="),
        ("semicolons", b"multipart/form-data;;;"),
        ("mixed-subtype", b"multipart/mixed; boundary=fuzzfuzz"),
        ("no-subtype", b"multipart/; boundary=fuzzfuzz"),
        ("upper-case", b"MULTIPART/FORM-DATA; BOUNDARY=fuzzfuzz"),
    ]

    def body_multipart_boundary(self, route, csrf, headers, kinds):
        """A Content-Type whose boundary is empty, quoted, too long, invalid or missing."""
        label, header = self.rng.choice(self.BOUNDARY_HEADERS)
        kinds.append(f"multipart-boundary:{label}")
        headers.append((b"Content-Type", header))
        pairs = self.fields(route, csrf, kinds) if route.fields or csrf else [(b"x", b"y")]
        boundary = header.split(b"boundary=", 1)[1].split(b";")[0].strip(b'"') if b"boundary=" in header else b"fuzzfuzz"
        return self._multipart(pairs, boundary or b"fuzzfuzz")

    def body_multipart_broken(self, route, csrf, headers, kinds):
        """A good boundary, a broken body: part headers, truncation, line endings."""
        r = self.rng
        b = b"fuzzBOUNDARY" + b"%08x" % r.getrandbits(32)
        headers.append((b"Content-Type", b"multipart/form-data; boundary=" + b))
        good = self._multipart(self.fields(route, csrf, kinds), b)
        token = pct(csrf) if csrf else b"x"
        label, body = r.choice([
            ("truncated", good[: max(1, len(good) // 2)]),
            ("no-close", good.rsplit(b"--" + b + b"--", 1)[0]),
            ("no-disposition", b"--" + b + b"\r\nContent-Type: text/plain\r\n\r\nx\r\n--" + b + b"--\r\n"),
            ("no-name", b"--" + b + b"\r\nContent-Disposition: form-data\r\n\r\nx\r\n--" + b + b"--\r\n"),
            ("unquoted-name", b"--" + b + b"\r\nContent-Disposition: form-data; name=csrf_token\r\n\r\n" + token + b"\r\n--" + b + b"--\r\n"),
            ("header-no-colon", b"--" + b + b"\r\nContent-Disposition form-data name\r\n\r\nx\r\n--" + b + b"--\r\n"),
            ("no-blank-line", b"--" + b + b'\r\nContent-Disposition: form-data; name="csrf_token"\r\n' + token + b"\r\n--" + b + b"--\r\n"),
            ("preamble-only", b"this is not multipart at all"),
            ("empty", b""),
            ("close-only", b"--" + b + b"--\r\n"),
            ("lf-only", good.replace(b"\r\n", b"\n")),
            ("wrong-boundary", good.replace(b, b"otherBOUNDARY")),
            ("nested-mixed", b"--" + b + b'\r\nContent-Disposition: form-data; name="x"\r\nContent-Type: multipart/mixed; boundary=\r\n\r\n--\r\n--' + b + b"--\r\n"),
            ("nul-name", b"--" + b + b'\r\nContent-Disposition: form-data; name="a\x00b"\r\n\r\nx\r\n--' + b + b"--\r\n"),
            ("utf8-invalid-name", b"--" + b + b'\r\nContent-Disposition: form-data; name="\xff\xfe"\r\n\r\nx\r\n--' + b + b"--\r\n"),
            ("rfc5987-name", b"--" + b + b"\r\nContent-Disposition: form-data; name*=UTF-8''%00%ff\r\n\r\nx\r\n--" + b + b"--\r\n"),
            ("deep-name", b"--" + b + b'\r\nContent-Disposition: form-data; name="a' + b"[a]" * 1500 + b'"\r\n\r\nx\r\n--' + b + b"--\r\n"),
            ("many-parts", b"".join(b"--" + b + b'\r\nContent-Disposition: form-data; name="permissions[]"\r\n\r\nx\r\n'
                                    for _ in range(250)) + b"--" + b + b"--\r\n"),
            ("huge-header", b"--" + b + b"\r\nX-Junk: " + b"j" * 9000 + b'\r\nContent-Disposition: form-data; name="x"\r\n\r\nx\r\n--' + b + b"--\r\n"),
            ("part-charset", b"--" + b + b'\r\nContent-Disposition: form-data; name="csrf_token"\r\nContent-Type: text/plain; charset=utf-16\r\n\r\n'
             + "t\u00e9".encode("utf-16") + b"\r\n--" + b + b"--\r\n"),
        ])
        kinds.append(f"multipart-broken:{label}")
        return body

    def json_value(self, route: Route, kinds: list):
        r = self.rng
        obj = {}
        for key in route.fields:
            if key == "permissions":
                obj[key] = r.sample(PERMISSIONS, r.randint(0, 3))
            elif key == "device_signin":
                obj[key] = r.choice([True, False])
            elif key == "token_ttl":
                obj[key] = r.choice([None, 3600, 60])
            elif key == "name":
                obj[key] = f"fz-{r.randrange(16 ** 6):06x}"
            else:
                obj[key] = self.valid(key).decode()
        if not obj:
            obj = {"x": 1}
        key = r.choice(list(obj))
        label, value = self.mutated(key if key != "permissions" else "x")
        text = value.decode("utf-8", "surrogateescape")
        typed = r.choice([text, text, [text], {"x": text}, 1e308, -(2 ** 63) - 1, 2 ** 64, 1.5, None, True])
        kinds.append(f"json:{key}:{label if isinstance(typed, (str, list, dict)) else type(typed).__name__}")
        obj[key] = typed
        return obj

    def body_json(self, route, csrf, headers, kinds):
        r = self.rng
        headers.append((b"Content-Type", r.choice([b"application/json", b"application/json", b"application/json; charset=utf-8"])))
        obj = self.json_value(route, kinds)
        if r.random() < 0.3:  # raw bytes inside the JSON string, not \u escapes
            label, value = self.hostile()
            kinds.append(f"json-raw-bytes:{label}")
            return json.dumps(obj).encode()[:-1] + b', "raw": "' + value + b'"}'
        try:
            return json.dumps(obj, ensure_ascii=r.random() < 0.5).encode("utf-8", "surrogateescape")
        except ValueError:
            return json.dumps(obj).encode("utf-8", "surrogateescape")

    def body_json_garbage(self, route, csrf, headers, kinds):
        r = self.rng
        label, body = r.choice([
            ("open-brace", b"{"), ("open-bracket", b"["), ("nul", b"\x00"), ("null", b"null"), ("string", b'"str"'),
            ("two-objects", b"{}{}"), ("duplicate-keys", b'{"role":"viewer","role":"owner"}'), ("bom", b"\xef\xbb\xbf{}"),
            ("utf16", '{"role": "viewer"}'.encode("utf-16")), ("single-quotes", b"{'role': 1}"), ("nan", b'{"token_ttl": NaN}'),
            ("huge-number", b'{"token_ttl": 1' + b"0" * 400 + b"}"), ("exp-number", b'{"token_ttl": 1e999999}'),
            ("neg-zero", b'{"token_ttl": -0.0e-999}'), ("escaped-nul", b'{"role": "\\u0000", "name": "\\u0000"}'),
            ("lone-surrogate", b'{"role": "\\ud800", "name": "\\udfff\\ud800"}'), ("raw-controls", b'{"role": "\x01\x02\n\t"}'),
            ("trailing-garbage", b'{"role": "viewer"} garbage'), ("comment", b'{/* x */"role": "viewer"}'),
            ("form-as-json", b"role=viewer&csrf_token=x"), ("invalid-utf8", b'{"role": "\xff\xfe"}'),
            ("long-key", b'{"' + b"k" * 10000 + b'": 1}'),
        ])
        kinds.append(f"json-garbage:{label}")
        headers.append((b"Content-Type", r.choice([b"application/json", b"application/json; charset=utf-16",
                                                   b"application/json; charset=bogus"])))
        return body

    def body_json_deep(self, route, csrf, headers, kinds):
        depth = self.rng.choice([600, 3000, 7000])
        kinds.append(f"json-deep:{depth}")
        headers.append((b"Content-Type", b"application/json"))
        return self.rng.choice([b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth])

    def body_odd_type(self, route, csrf, headers, kinds):
        r = self.rng
        label, ctype = r.choice([
            ("form-utf16", self.FORM + b"; charset=utf-16"), ("form-bogus-charset", self.FORM + b"; charset=bogus"),
            ("form-latin1", self.FORM + b"; charset=iso-8859-1"), ("text", b"text/plain"), ("xml", b"application/xml"),
            ("star", b"*/*"), ("empty", b""), ("garbage", b";;;==="), ("params-only", b"; charset=utf-8"),
            ("no-type", None), ("duplicated", "dup"), ("json-suffix", b"application/vnd.api+json"),
            ("invalid-bytes", b"application/x-www-form-\xff\xfe"), ("long", b"application/" + b"x" * 5000),
        ])
        kinds.append(f"content-type:{label}")
        pairs = self.fields(route, csrf, kinds)
        body = b"&".join(pct(k) + b"=" + pct(v) for k, v in pairs)
        if label == "form-utf16":
            body = body.decode("latin-1").encode("utf-16")
        if ctype == "dup":
            headers.append((b"Content-Type", self.FORM))
            headers.append((b"Content-Type", b"multipart/form-data; boundary="))
        elif ctype is not None:
            headers.append((b"Content-Type", ctype))
        return body

    def body_empty(self, route, csrf, headers, kinds):
        kinds.append("body:empty")
        headers.append((b"Content-Type", self.rng.choice([self.FORM, b"application/json", b"multipart/form-data; boundary=x"])))
        return b""

    def header_noise(self, headers: list, kinds: list):
        r = self.rng
        if r.random() > 0.25:
            return
        label, value = self.hostile()
        name = r.choice([b"X-CSRF-Token", b"Cookie", b"X-Forwarded-For", b"X-Request-Id", b"User-Agent", b"Accept",
                         b"Accept-Language", b"If-None-Match", b"Origin", b"Referer", b"Accept-Encoding", b"Content-Encoding",
                         b"Expect", b"Authorization"])
        raw_control = r.random() < 0.05
        safe = value.replace(b"\r", b"").replace(b"\n", b"") if raw_control else header_safe(value)
        kinds.append(f"header:{name.decode()}:{label}{':raw' if raw_control else ''}")
        headers.append((name, safe[:8000]))


def header_safe(value: bytes) -> bytes:
    """A header value that still frames as one header: control bytes percent-encoded, the rest raw."""
    return b"".join(bytes([c]) if c >= 0x20 and c != 0x7f else b"%%%02X" % c for c in value)


# ---------------------------------------------------------------- setting up and keeping credentials

def seed_people(env: dict):
    """Two owners (one for the web pages, one for the API token), the victims, a decoy who may be
    signed in as by the fuzzer, a second organization, a custom role, the public client."""
    for name in ("owner", "apiowner", *VICTIMS, "decoy"):
        admin(env, "create-user", "--email", f"{name}@fuzz.example", "--name", f"Fuzz {name}", "--password", PASSWORD)
    admin(env, "create-org", "--slug", ORG, "--name", "Fuzz Org")
    admin(env, "create-org", "--slug", OTHER_ORG, "--name", "Other Org")
    admin(env, "create-role", "--org", ORG, "--name", "analyst", "--permissions", "queries:read,queries:run")
    roles = {"owner": "owner", "apiowner": "owner", "admin": "admin", "member": "member", "viewer": "viewer",
             "analyst": "analyst"}
    for name, role in roles.items():
        admin(env, "add-member", "--org", ORG, "--email", f"{name}@fuzz.example", "--role", role)
    admin(env, "add-member", "--org", OTHER_ORG, "--email", "decoy@fuzz.example", "--role", "owner")
    admin(env, "create-client", "--client-id", "fuzz-cli", "--name", "Fuzz CLI")


class Keeper:
    """Signs in, fetches tokens and device codes for the fuzzer, and checks them after each batch.
    Sign-ins come from an address of their own each time (X-Forwarded-For, from a trusted proxy),
    so that the fuzzer's failed sign-ins from 127.0.0.1 never lock them out."""

    def __init__(self, world: World):
        self.world = world
        self.requests = 0
        self.errors: list[str] = []  # 5xx and failed steps of ordinary requests: findings too

    def http(self, method: str, path: str, **kwargs) -> requests.Response:
        """An ordinary request; a 5xx is recorded and the request tried again (at most 3 times)."""
        kwargs.setdefault("timeout", ANSWER_TIMEOUT)
        kwargs.setdefault("allow_redirects", False)
        for _ in range(3):
            self.requests += 1
            resp = requests.request(method, self.world.base_url + path, **kwargs)
            if resp.status_code < 500:
                break
            self.errors.append(f"{method} {path} -> {resp.status_code} {resp.text[:200]!r}")
        return resp

    def retrying(self, what: str, step):
        """Runs a step of ordinary requests; a failure is recorded and the step tried again."""
        for attempt in range(4):
            try:
                return step()
            except (AssertionError, requests.RequestException, KeyError, ValueError) as error:
                self.errors.append(f"{what}: {type(error).__name__}: {str(error)[:300]}")
                if attempt == 3:
                    raise
                time.sleep(0.3)

    def sign_in(self, who: str) -> Session:
        return self.retrying(f"sign in as {who}", lambda: self._sign_in(who))

    def _sign_in(self, who: str) -> Session:
        w = self.world
        w.sign_ins += 1
        n = w.sign_ins
        web = requests.Session()
        web.headers["X-Forwarded-For"] = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
        page = web.get(w.base_url + "/login", timeout=ANSWER_TIMEOUT)
        done = web.post(w.base_url + "/login", timeout=ANSWER_TIMEOUT, allow_redirects=False, data={
            "email": f"{who}@fuzz.example", "password": PASSWORD, "next": "/auth/device", "csrf_token": csrf_of(page)})
        self.requests += 3
        assert done.status_code == 303, (who, done.status_code, done.text[:500])
        cookie = web.cookies["portal_session"]
        return Session(cookie, csrf_of(web.get(w.base_url + "/auth/device", timeout=ANSWER_TIMEOUT)))

    def web_as(self, who: str) -> requests.Session:
        web = requests.Session()
        web.cookies.set("portal_session", getattr(self.world, who).cookie if who in ("owner", "viewer")
                        else self.sign_in(who).cookie)
        return web

    def anonymous_form(self):
        def step():
            page = self.http("GET", "/login")
            self.world.anon_cookie, self.world.anon_csrf = page.cookies["portal_csrf"], csrf_of(page)
        self.retrying("the sign-in form", step)

    def device_token(self, web: requests.Session, device_name: str) -> str:
        return self.retrying(f"device flow for {device_name}", lambda: self._device_token(web, device_name))

    def _device_token(self, web: requests.Session, device_name: str) -> str:
        """The whole device flow for apiowner: a code, approved in the browser, one poll."""
        w = self.world
        portal = Portal(base_url=w.base_url, client_id="fuzz-cli", email="apiowner@fuzz.example", password=PASSWORD,
                        user_name="Fuzz apiowner", org_slug=ORG, org_name="Fuzz Org")
        code = self.http("POST", "/auth/device/code", data={"client_id": "fuzz-cli", "device_name": device_name}).json()
        approve_by_hand(portal, code["user_code"], web=web)
        self.requests += 4
        token = self.http("POST", "/auth/device/token", data={
            "grant_type": DEVICE_GRANT, "device_code": code["device_code"], "client_id": "fuzz-cli"})
        assert token.status_code == 200, token.text
        return token.json()["access_token"]

    def setup(self):
        w = self.world
        w.owner, w.viewer = self.sign_in("owner"), self.sign_in("viewer")
        self.anonymous_form()
        api = self.web_as("apiowner")
        w.bearer = self.device_token(api, "fuzz-bearer")
        w.spare_tokens = [self.device_token(api, f"spare-{i}") for i in range(2)]
        members = self.http("GET", f"/api/orgs/{ORG}/members", headers={"Authorization": f"Bearer {w.bearer}"}).json()
        w.user_ids = {m["user"]["email"].split("@")[0]: m["user"]["id"] for m in members["items"]} \
            if "items" in members else {}
        self.refresh_token_ids()
        self.fresh_codes()
        self.mint_jwt()

    def refresh_token_ids(self):
        w = self.world
        mine = self.http("GET", "/api/me/tokens", headers={"Authorization": f"Bearer {w.bearer}"})
        if mine.status_code == 200:
            me = self.http("GET", "/me", headers={"Authorization": f"Bearer {w.bearer}"}).json()
            own = (me.get("auth") or {}).get("token_id")
            w.token_ids = [t["id"] for t in mine.json()["items"] if t["id"] != own and t.get("device_name") != "fuzz-bearer"]

    def fresh_codes(self):
        code = self.http("POST", "/auth/device/code", data={"client_id": "fuzz-cli", "device_name": "fuzz-pending"})
        if code.status_code == 200:
            self.world.user_code, self.world.device_code = code.json()["user_code"], code.json()["device_code"]

    def mint_jwt(self):
        w = self.world
        minted = self.http("POST", "/auth/session/token", cookies={"portal_session": w.owner.cookie},
                           headers={"X-CSRF-Token": w.owner.csrf})
        if minted.status_code == 200:
            w.jwt = minted.json().get("token", "")

    def keep(self, batch_number: int):
        """After a batch: sessions and the bearer token still work, else new ones."""
        w = self.world
        for who in ("owner", "viewer"):
            page = self.http("GET", "/settings/devices", cookies={"portal_session": getattr(w, who).cookie})
            if page.status_code != 200:
                setattr(w, who, self.sign_in(who))
        if self.http("GET", "/me", headers={"Authorization": f"Bearer {w.bearer}"}).status_code != 200:
            # The fuzzer may have turned device sign-in off for the organization: turn it on again.
            api = self.web_as("apiowner")
            page = api.get(w.base_url + f"/orgs/{ORG}/settings", timeout=ANSWER_TIMEOUT)
            api.post(w.base_url + f"/orgs/{ORG}/settings", timeout=ANSWER_TIMEOUT, allow_redirects=False,
                     data={"device_signin": "on", "token_ttl": "", "csrf_token": form_inputs(page.text).get("csrf_token", [""])[0]})
            w.bearer = self.device_token(api, "fuzz-bearer")
            w.spare_tokens = [self.device_token(api, "spare-again")]
            self.refresh_token_ids()
        if batch_number % 5 == 0:
            self.fresh_codes()
            self.anonymous_form()
            self.mint_jwt()


# ---------------------------------------------------------------- the run

@dataclasses.dataclass
class Findings:
    sent: int = 0
    statuses: Counter = dataclasses.field(default_factory=Counter)
    failures: list = dataclasses.field(default_factory=list)    # 5xx, crashes, timeouts
    unanswered: list = dataclasses.field(default_factory=list)  # closed without an answer, server alive
    restarts: int = 0
    swept: int = 0  # requests of the sweep (the first part)
    unswept: list = dataclasses.field(default_factory=list)  # left out: what they send crashed it thrice
    keeper_errors: list = dataclasses.field(default_factory=list)

    def record(self, kind: str, probe: Probe, answer: Answer | None, note: str = ""):
        entry = {"kind": kind, "route": f"{probe.method.decode(errors='replace')} {probe.route}",
                 "hostile": probe.kinds, "request": probe.describe(),
                 "answer": (answer.head[:300] + b"\r\n\r\n" + answer.body[:300]).decode(errors="replace") if answer else "",
                 "note": note}
        (self.failures if kind != "no-answer" else self.unanswered).append(entry)

    def summary(self, database: str, seconds: float, keeper_requests: int, log_errors: int,
                keeper_errors: list[str]) -> str:
        lines = [f"fuzz-pages [{database}]: {self.sent} fuzz requests ({self.swept - len(self.unswept)} of the sweep, then random; "
                 f"+{keeper_requests} to keep sessions and tokens) in {seconds:.0f}s, seed {SEED}; statuses: "
                 + ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items(), key=lambda i: str(i[0]))),
                 f"  server restarts after a crash: {self.restarts}; closed without an answer (server alive): "
                 f"{len(self.unanswered)}; [ ERROR ] lines in the server logs: {log_errors}"]
        groups: dict = {}
        for failure in self.failures:
            key = (failure["kind"], failure["route"], failure["answer"].split("\r\n", 1)[0][:40])
            groups.setdefault(key, []).append(failure)
        if self.unanswered:
            kinds = Counter(k.split(":")[0] for u in self.unanswered for k in u["hostile"])
            lines.append("  closed without an answer (the HTTP parser refused them), by what they had: "
                         + ", ".join(f"{k} {n}" for k, n in kinds.most_common(6))
                         + f"; e.g. {self.unanswered[0]['request'][:160]}")
        if keeper_errors:
            lines.append(f"  ordinary requests (sign-in, device flow, /me) that failed: {len(keeper_errors)}; "
                         + "; ".join(f"{e} (x{n})" for e, n in Counter(keeper_errors).most_common(5)))
        if self.unswept:
            lines.append(f"  left out of the sweep because the same body had crashed the server three times: "
                         f"{len(self.unswept)} requests, to {len({u.rsplit(' [', 1)[0] for u in self.unswept})} routes")
        lines.append(f"  failures: {len(self.failures)} in {len(groups)} groups (kind, route, answer)")
        for (kind, route, status), items in sorted(groups.items(), key=lambda g: -len(g[1])):
            first = items[0]
            kinds = Counter(k for item in items for k in item["hostile"])
            lines.append(f"  - {kind} x{len(items)}: {route} -> {status or first['note']}; hostile parts seen: "
                         + ", ".join(f"{k} ({n})" for k, n in kinds.most_common(6)))
            lines.append(f"      e.g. {first['request']}")
            if first["answer"]:
                lines.append(f"      answer: {first['answer'][:300]!r}")
        return "\n".join(lines)


def _restart(server_box: list, env: dict, workdir: Path, world: World) -> None:
    port = _free_port()
    server = Server(env, port, workdir / f"serve-{len(server_box)}.log")
    server_box.append(server)
    server.wait_ready(paths=("/healthz", "/readyz"))
    world.port = port


def _crash_log(server: Server) -> str:
    """The message of a trap ("...: Precondition failed", "Fatal error: ..."), else the log's last lines."""
    lines = server.log_tail(20000).splitlines()
    fatal = [line for line in lines if re.search(r"Fatal error|Precondition failed|Assertion failed|"
                                                  r"Crash|Illegal instruction|Segmentation", line)]
    return " | ".join(fatal[:3] or lines[-4:])


def _died(server: Server, base_url: str) -> bool:
    """After a request that got no answer: has the server died? (It may just have refused to parse it.)"""
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return True
        time.sleep(0.02)
    try:
        requests.get(base_url + "/healthz", timeout=5)
    except requests.RequestException:
        time.sleep(1)
    return server.process.poll() is not None


def run_fuzzer(database: str, settings: dict) -> tuple[Findings, str]:
    workdir = Path(tempfile.mkdtemp(prefix=f"portal-fuzz-pages-{database}-"))
    # SWIFT_BACKTRACE: a trap exits at once with its message (a symbolicated backtrace takes 7 s).
    env = portal_env(**settings, DEVICE_POLL_INTERVAL="1", TRUSTED_PROXIES="127.0.0.1", SESSION_JWT_TTL="3600",
                     PORTAL_SECRET=secrets.token_hex(32), SWIFT_BACKTRACE="enable=no")
    seed_people(env)
    servers: list[Server] = []
    world = World(port=0, owner=Session(), viewer=Session())
    findings = Findings()
    started = time.monotonic()
    keeper = Keeper(world)
    try:
        _restart(servers, env, workdir, world)
        try:
            keeper.setup()
        except Exception as error:  # noqa: BLE001 - reported with the summary
            keeper.errors.append(f"setting up sessions and tokens failed, nothing was fuzzed: {error!r}"[:600])
        generator = Generator(random.Random(SEED), world)
        sweep = generator.sweep()
        findings.swept = len(sweep)
        sweep_crashes, sweep_banned = Counter(), set()
        batch = 0
        while not keeper.errors[-1:] or not keeper.errors[-1].startswith(("setting up", "keeping")):
            if findings.sent >= MAX_REQUESTS or time.monotonic() - started >= MAX_SECONDS:
                break
            batch += 1
            for _ in range(BATCH):
                probe = sweep.pop(0)() if sweep else generator.probe()
                if sweep_banned & set(probe.kinds):
                    findings.unswept.append(f"{probe.method.decode()} {probe.route} {probe.kinds}")
                    continue
                answer = exchange(world.port, probe.raw())
                findings.sent += 1
                findings.statuses[answer.status if answer.status is not None else "none"] += 1
                if answer.status is not None and answer.status >= 500:
                    findings.record("5xx", probe, answer)
                elif answer.error == "timeout":
                    findings.record("timeout", probe, answer, f"no complete answer in {ANSWER_TIMEOUT}s")
                elif answer.status is None:
                    if _died(servers[-1], world.base_url):
                        code = servers[-1].process.returncode
                        findings.record("crash", probe, answer, f"the server died (exit {code}) on this request; "
                                        f"its log ends: {_crash_log(servers[-1])}")
                        break
                    findings.record("no-answer", probe, answer, answer.error or "closed without a status line")
            server = servers[-1]
            alive = server.process.poll() is None
            if alive:
                try:
                    alive = requests.get(world.base_url + "/healthz", timeout=ANSWER_TIMEOUT).status_code == 200
                except requests.RequestException:
                    alive = False
            if not alive:
                if not findings.failures or findings.failures[-1]["kind"] != "crash":
                    findings.record("crash", probe, None, f"the server was dead or /healthz failed after batch {batch} "
                                                         f"(exit {server.process.poll()}); the last request is shown; "
                                                         f"its log ends: {_crash_log(server)}")
                server.expect_exit()  # reported here, with the request that killed it
                # What crashed it is not sent again by the random part (which looks for other holes),
                # nor by the sweep once it has crashed the server on three routes.
                crashed_by = findings.failures[-1]["hostile"]
                generator.banned.update(kind for kind in crashed_by if kind.startswith(BODY_KINDS))
                sweep_crashes.update(kind for kind in crashed_by if kind.startswith("multipart-boundary"))
                sweep_banned.update(kind for kind, n in sweep_crashes.items() if n >= 3)
                if findings.restarts >= MAX_RESTARTS:
                    break
                findings.restarts += 1
                server.stop()
                _restart(servers, env, workdir, world)
            try:
                keeper.keep(batch)
            except Exception as error:  # noqa: BLE001 - reported with the summary
                keeper.errors.append(f"keeping sessions and tokens failed after batch {batch}: {error!r}"[:600])
        log_errors = sum(s.log_path.read_text(errors="replace").count("[ ERROR ]") for s in servers)
        findings.keeper_errors = keeper.errors
        text = findings.summary(database, time.monotonic() - started, keeper.requests, log_errors, keeper.errors)
        artifacts = os.environ.get("INTEROP_ARTIFACTS")
        if artifacts:
            Path(artifacts, f"fuzz-pages-{database}.json").write_text(json.dumps({
                "database": database, "seed": SEED, "sent": findings.sent, "restarts": findings.restarts,
                "statuses": {str(k): v for k, v in findings.statuses.items()}, "failures": findings.failures,
                "unanswered": findings.unanswered}, indent=1))
        return findings, text
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _check(findings: Findings, text: str, capsys):
    with capsys.disabled():
        print("\n" + text, flush=True)
    assert findings.sent >= min(MAX_REQUESTS, 500), f"only {findings.sent} requests were sent\n{text}"
    assert not findings.failures and not findings.keeper_errors, text


def test_hostile_requests_to_every_route_on_sqlite_get_no_5xx_and_no_crash(capsys):
    """SQLite: no request, however malformed, crashes `portal serve` or gets a 5xx."""
    workdir = Path(tempfile.mkdtemp(prefix="portal-fuzz-pages-db-"))
    try:
        findings, text = run_fuzzer("sqlite", {"DATABASE_URL": f"sqlite://{workdir}/portal.sqlite"})
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    _check(findings, text, capsys)


def test_hostile_requests_to_every_route_on_postgres_get_no_5xx_and_no_crash(new_postgres_database, capsys):
    """PostgreSQL refuses what SQLite stores (a NUL in text, invalid UTF-8), so the same requests
    run on it too. Behind PgBouncer the prepared-statement setting is passed as
    DATABASE_PREPARED_STATEMENTS (the multi-instance tests pass it in the URL)."""
    database = "postgres-pgbouncer" if os.environ.get("PGBOUNCER_PORT") else "postgres"
    findings, text = run_fuzzer(database, postgres_settings(new_postgres_database("portal_fuzz"), "env"))
    _check(findings, text, capsys)
