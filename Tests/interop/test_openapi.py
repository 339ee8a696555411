"""Public/openapi.json, served at /openapi.json, is true to the server: every real answer below, success
and error, to every documented operation, is checked against it (status documented, content type,
required headers, body schema), and every route of routes.swift that answers JSON is in it.

The tests work in an organization of their own ("openapi"), so the rest of the suite's data is
untouched. The last test checks that every documented status of every operation was seen, except
the few no request can provoke on demand (listed with the reason)."""

import dataclasses
import json
import re
import subprocess
import time
import uuid
from pathlib import Path

import jsonschema
import pytest
import referencing
import referencing.jsonschema
import requests
from openapi_spec_validator import validate as validate_spec

from conftest import ROOT, _portal_bin, admin, portal_env
from portal_helpers import (DEVICE_GRANT, approve_by_hand, csrf_of, poll_for_token,
                            request_device_code, sign_in)

DOCUMENT_PATH = ROOT / "Public" / "openapi.json"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
ORG = "openapi"
BIG = "x" * 20_000  # over the 16 KiB every body is limited to

# Documented answers that no request can bring about on demand, and why.
UNPROVOKABLE = {
    ("get", "/readyz", "503"): "needs the database to fail",
    ("post", "/auth/device/code", "503"): "needs five user-code collisions in a row",
    ("post", "/auth/device/code", "429"): "the shared interop portal allows 1000 codes a minute; "
                                          "DeviceCodeEndpointTests.perIPLimit provokes it",
    ("put", "/api/orgs/{slug}/members/{userId}", "409"): "the last-owner refusal needs two owners demoting "
                                                         "each other at once (the Swift tests race it)",
    ("delete", "/api/orgs/{slug}/members/{userId}", "409"): "as above, with removals",
}


class Document:
    """The OpenAPI document and a checker of real responses against it."""

    def __init__(self, document: dict):
        self.document = document
        resource = referencing.Resource.from_contents(document, default_specification=referencing.jsonschema.DRAFT202012)
        self.registry = referencing.Registry().with_resource("urn:portal-openapi", resource)
        self.seen: set[tuple[str, str, str]] = set()

    def _at(self, pointer: str) -> tuple[dict, str]:
        """The node at a JSON pointer, following $refs; and the pointer where it really is."""
        node = self.document
        for part in pointer.split("/")[1:]:
            node = node[part.replace("~1", "/").replace("~0", "~")]
        if isinstance(node, dict) and "$ref" in node:
            return self._at(node["$ref"].removeprefix("#"))
        return node, pointer

    def _validate(self, instance, pointer: str, what: str):
        """Validates against the schema at `pointer`, its "#/components/..." references resolved in the document."""
        validator = jsonschema.Draft202012Validator({"$ref": "urn:portal-openapi#" + pointer}, registry=self.registry)
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
        assert not errors, f"{what} breaks the document: " + "; ".join(
            f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors[:5])

    def check(self, method: str, template: str, response: requests.Response) -> requests.Response:
        """Fails unless the document describes this response of this operation."""
        escaped = template.replace("~", "~0").replace("/", "~1")
        operation, _ = self._at(f"/paths/{escaped}/{method}")
        status = str(response.status_code)
        label = f"{method.upper()} {template} → {status}"
        assert status in operation["responses"], (
            f"{label} is not documented (documented: {sorted(operation['responses'])}); body: {response.text[:300]}")
        self.seen.add((method, template, status))
        documented, at = self._at(f"/paths/{escaped}/{method}/responses/{status}")
        for name in documented.get("headers", {}):
            header, header_at = self._at(f"{at}/headers/{name}")
            value = response.headers.get(name)
            if value is None:
                assert not header.get("required"), f"{label}: required header {name} is missing"
                continue
            self._validate(value, f"{header_at}/schema", f"{label}: header {name}={value!r}")
        content = documented.get("content")
        if not content:
            assert response.content == b"", f"{label}: documented without a body, got {response.text[:200]!r}"
            return response
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        assert media_type in content, f"{label}: Content-Type {media_type!r}, documented {sorted(content)}"
        self._validate(response.json(), f"{at}/content/{media_type.replace('/', '~1')}/schema",
                       f"{label}: body {response.text[:300]}")
        return response


@pytest.fixture(scope="module")
def doc() -> Document:
    return Document(json.loads(DOCUMENT_PATH.read_text()))


@dataclasses.dataclass
class World:
    """The organization these tests work in, its people and their credentials."""
    base_url: str
    owner: str          # API tokens, from the device flow
    viewer: str
    analyst: str        # a custom role without members:read
    owner_id: str
    viewer_id: str
    member_id: str
    service: tuple[str, str]  # a confidential client's id and secret
    owner_portal: object
    lonely_portal: object     # a user in no organization

    def url(self, path: str) -> str:
        return self.base_url + path


def _token(portal) -> str:
    code = request_device_code(portal, device_name="openapi-test")
    approve_by_hand(portal, code["user_code"])
    return poll_for_token(portal, code["device_code"], code["interval"])["access_token"]


@pytest.fixture(scope="module")
def world(portal) -> World:
    env = portal.admin_env
    people = {"owner": "owner", "viewer": "viewer", "member": "member", "analyst": "analyst", "leaver": "member",
              "lonely": None}
    ids = {}
    for name in people:
        done = subprocess.run([_portal_bin(), "create-user", "--email", f"oa-{name}@example.com", "--name",
                               f"OA {name}", "--password", portal.password], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        ids[name] = re.search(r"id ([0-9A-F-]{36})", done.stdout).group(1)
    admin(env, "create-org", "--slug", ORG, "--name", "OpenAPI Org")
    admin(env, "create-role", "--org", ORG, "--name", "analyst", "--permissions", "queries:read")
    for name, role in people.items():
        if role:
            admin(env, "add-member", "--org", ORG, "--email", f"oa-{name}@example.com", "--role", role)
    done = subprocess.run([_portal_bin(), "create-client", "--client-id", "openapi-service", "--name",
                           "OpenAPI Service", "--confidential"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    secret = re.search(r"\b[0-9a-f]{64}\b", done.stdout).group(0)

    def as_(name):
        return dataclasses.replace(portal, email=f"oa-{name}@example.com", org_slug=ORG, org_name="OpenAPI Org")

    return World(base_url=portal.base_url, owner=_token(as_("owner")), viewer=_token(as_("viewer")),
                 analyst=_token(as_("analyst")), owner_id=ids["owner"], viewer_id=ids["viewer"],
                 member_id=ids["member"], service=("openapi-service", secret), owner_portal=as_("owner"),
                 lonely_portal=as_("lonely"))


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


class Caller:
    """Sends a request to a documented operation and checks the answer against the document."""

    def __init__(self, doc: Document, world: World):
        self.doc, self.world = doc, world

    def __call__(self, method: str, template: str, *, token: str | None = None, path: dict | None = None,
                 **kwargs) -> requests.Response:
        """`path` fills the template's parameters; the rest goes to requests (`params` is the query)."""
        url = template.format(**(path or {}))
        headers = {**(bearer(token) if token else {}), **kwargs.pop("headers", {})}
        response = requests.request(method, self.world.url(url), headers=headers, timeout=15, **kwargs)
        return self.doc.check(method, template, response)


@pytest.fixture(scope="module")
def call(doc, world) -> Caller:
    return Caller(doc, world)


def error_of(response: requests.Response) -> str:
    return response.json()["error"]


# The document itself

def test_the_document_is_valid_openapi_and_served_as_json(portal, doc):
    validate_spec(doc.document)
    served = requests.get(portal.url("/openapi.json"), timeout=10)
    assert served.status_code == 200
    assert served.headers["Content-Type"].split(";")[0] == "application/json"
    assert served.json() == doc.document
    doc.check("get", "/openapi.json", served)


def _routes() -> dict[tuple[str, str], str]:
    """{(method, path): "json" or "page"} of every route the server has, as `portal routes` prints
    them (Vapor's command; its last column is the format routes.swift declares with
    `answering(...)`), path parameters written `{}`."""
    done = subprocess.run([_portal_bin(), "routes"], env=portal_env(DATABASE_URL="sqlite://:memory:"),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"portal routes failed:\n{done.stdout}\n{done.stderr}"
    routes = {}
    for line in done.stdout.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].isupper():
            path = re.sub(r"/:[^/]+", "/{}", cells[1])
            routes[(cells[0].lower(), path)] = {"answers JSON": "json", "answers SCIM": "scim"}.get(cells[2], "page")
    return routes


def test_every_json_route_is_documented_and_no_other(doc):
    routes = _routes()
    assert len(routes) > 40, f"portal routes read badly: {sorted(routes)}"
    # SCIM (/scim/v2/) describes itself (ServiceProviderConfig, Schemas, ResourceTypes), answers
    # application/scim+json behind a directory token, and test_scim.py checks it with scim2-tester:
    # it is not in this document, so Schemathesis does not fuzz it with an API token.
    assert set(routes.values()) == {"json", "page", "scim"}, f"portal routes read badly: {routes}"
    json_routes = {route for route, answer in routes.items() if answer == "json"}
    documented = {(method, re.sub(r"\{[^}]+\}", "{}", path))
                  for path, item in doc.document["paths"].items() for method in item if method in METHODS}
    documented.discard(("get", "/openapi.json"))  # a static file, not a route
    json_routes.discard(("get", "/metrics"))  # Prometheus text for a scraper (only its errors are JSON)
    # Forward auth answers a proxy with headers on an empty 200, on any method (only its errors are
    # JSON); docs/FORWARD-AUTH.md describes it, and test_forward_auth.py drives it through nginx.
    json_routes -= {route for route in json_routes if route[1] == "/auth/verify"}
    assert json_routes - documented == set(), "routes answering JSON missing from Public/openapi.json"
    assert documented - json_routes == set(), "documented operations that routes.swift does not have"


# Operations

def test_health_checks(call):
    assert call("get", "/healthz").json() == {"status": "ok"}
    assert call("get", "/readyz").json() == {"status": "ok"}


# OAuth

def test_device_code_endpoint(call, world, portal):
    ok = call("post", "/auth/device/code", data={"client_id": portal.client_id, "device_name": "box",
                                                 "scope": "anything", "unknown": "ignored"})
    assert ok.status_code == 200
    for data in ({"client_id": ""}, {"scope": "x"}, {"client_id": portal.client_id, "device_name": "y" * 101},
                 {"client_id": portal.client_id, "device_name": "a\x01b"}, {"client_id": portal.client_id,
                                                                            "scope": "s" * 1001}):
        assert error_of(call("post", "/auth/device/code", data=data)) == "invalid_request", data
    not_a_form = call("post", "/auth/device/code", json={"client_id": portal.client_id})
    assert (not_a_form.status_code, error_of(not_a_form)) == (400, "invalid_request")
    for client_id in ("nobody", world.service[0]):
        refused = call("post", "/auth/device/code", data={"client_id": client_id})
        assert (refused.status_code, error_of(refused)) == (401, "invalid_client")
    assert call("post", "/auth/device/code", data={"client_id": portal.client_id, "x": BIG}).status_code == 413


def test_device_token_endpoint(call, world, portal):
    def poll(**data):
        return call("post", "/auth/device/token", data=data)

    grant = {"grant_type": DEVICE_GRANT, "client_id": portal.client_id}
    assert error_of(poll(grant_type="password", device_code="x", client_id=portal.client_id)) == \
        "unsupported_grant_type"
    assert error_of(poll(grant_type=DEVICE_GRANT, client_id=portal.client_id)) == "invalid_request"
    assert error_of(poll(**grant, device_code="d" * 101)) == "invalid_request"
    assert error_of(call("post", "/auth/device/token", json={**grant, "device_code": "x"})) == "invalid_request"
    assert error_of(poll(grant_type=DEVICE_GRANT, device_code="x", client_id="nobody")) == "invalid_client"
    assert error_of(poll(**grant, device_code="unknown")) == "invalid_grant"

    code = request_device_code(world.owner_portal)
    assert error_of(poll(**grant, device_code=code["device_code"])) == "authorization_pending"
    assert error_of(poll(**grant, device_code=code["device_code"])) == "slow_down"
    approve_by_hand(world.owner_portal, code["user_code"])
    time.sleep(code["interval"] + 5)  # the interval grew by 5 s with slow_down
    granted = poll(**grant, device_code=code["device_code"])
    assert granted.status_code == 200 and granted.json()["organization"]["slug"] == ORG
    assert error_of(poll(**grant, device_code=code["device_code"])) == "invalid_grant"

    denied = request_device_code(world.owner_portal)
    approve_by_hand(world.owner_portal, denied["user_code"], action="deny")
    assert error_of(poll(**grant, device_code=denied["device_code"])) == "access_denied"
    assert call("post", "/auth/device/token", data={**grant, "device_code": "x", "pad": BIG}).status_code == 413


def test_revocation_endpoint(call, world, portal):
    token = _token(world.owner_portal)
    assert call("post", "/auth/token/revoke", data={"token": token, "token_type_hint": "access_token"}).json() == {}
    assert call("get", "/me", token=token).status_code == 401
    assert call("post", "/auth/token/revoke", data={"token": "not-a-token"}).status_code == 200
    assert error_of(call("post", "/auth/token/revoke", data={"token_type_hint": "x"})) == "invalid_request"
    assert error_of(call("post", "/auth/token/revoke", json={"token": token})) == "invalid_request"
    assert call("post", "/auth/token/revoke", data={"token": BIG}).status_code == 413


def test_introspection_endpoint(call, world, portal):
    def introspect(token, auth=world.service, **kwargs):
        return call("post", "/auth/introspect", auth=auth, data={"token": token}, **kwargs)

    active = introspect(world.owner).json()
    assert (active["active"], active["token_type"], active["role"]) == (True, "api_token", "owner")
    jwt = _session_jwt(world.owner_portal)
    assert introspect(jwt).json()["token_type"] == "session"
    assert introspect("f" * 64).json() == {"active": False}
    for auth in (None, (world.service[0], "wrong"), (portal.client_id, "")):
        refused = introspect(world.owner, auth=auth)
        assert (refused.status_code, error_of(refused)) == (401, "invalid_client")
    assert error_of(call("post", "/auth/introspect", auth=world.service, data={})) == "invalid_request"
    assert introspect(BIG).status_code == 413


def test_metadata_and_jwks(call, world):
    metadata = call("get", "/.well-known/oauth-authorization-server").json()
    assert metadata["issuer"] == world.base_url
    assert call("get", "/.well-known/jwks.json").json()["keys"]


# Session JWTs

def _session_jwt(person) -> str:
    web = sign_in(person)
    csrf = csrf_of(web.get(person.url("/auth/device"), timeout=10))
    return web.post(person.url("/auth/session/token"), headers={"X-CSRF-Token": csrf}, timeout=10).json()["token"]


def test_session_token_endpoint(call, doc, world):
    web = sign_in(world.owner_portal)
    csrf = csrf_of(web.get(world.url("/auth/device"), timeout=10))
    minted = doc.check("post", "/auth/session/token",
                       web.post(world.url("/auth/session/token"), headers={"X-CSRF-Token": csrf}, timeout=10))
    assert minted.status_code == 200
    wrong = doc.check("post", "/auth/session/token",
                      web.post(world.url("/auth/session/token"), headers={"X-CSRF-Token": "nope"}, timeout=10))
    assert (wrong.status_code, error_of(wrong)) == (403, "forbidden")
    # Before sign-in the CSRF check is the sign-in form's cookie: it passes, but there is no session.
    anonymous = call("post", "/auth/session/token", headers={"X-CSRF-Token": "a" * 64},
                     cookies={"portal_csrf": "a" * 64})
    assert (anonymous.status_code, error_of(anonymous)) == (401, "unauthorized")

    lonely = sign_in(world.lonely_portal)
    lonely_csrf = csrf_of(lonely.get(world.url("/auth/device"), timeout=10))
    orphan = doc.check("post", "/auth/session/token",
                       lonely.post(world.url("/auth/session/token"), headers={"X-CSRF-Token": lonely_csrf}, timeout=10))
    assert (orphan.status_code, error_of(orphan)) == (403, "no_organization")


# The guard and the caller's own data

def test_me_with_an_api_token_a_session_jwt_and_bad_credentials(call, world):
    assert call("get", "/me", token=world.owner).json()["auth"]["type"] == "api_token"
    assert call("get", "/me", token=_session_jwt(world.owner_portal)).json()["auth"]["type"] == "session"
    missing = call("get", "/me")
    assert (error_of(missing), missing.headers["WWW-Authenticate"]) == ("unauthorized", "Bearer")
    for header in ("Bearer " + "0" * 64, "Bearer not-a-credential", "Basic abc"):
        bad = call("get", "/me", headers={"Authorization": header})
        assert (error_of(bad), bad.headers["WWW-Authenticate"]) == ("invalid_token", 'Bearer error="invalid_token"')


def test_my_tokens(call, world):
    listed = call("get", "/api/me/tokens", token=world.owner).json()["items"]
    assert listed
    spare = _token(world.owner_portal)
    spare_id = call("get", "/me", token=spare).json()["auth"]["token_id"]
    tokens = "/api/me/tokens/{id}"
    assert call("delete", tokens, token=world.owner, path={"id": spare_id}).status_code == 204
    assert call("delete", tokens, token=world.owner, path={"id": spare_id}).status_code == 204  # no-op
    assert call("get", "/me", token=spare).status_code == 401
    viewer_token_id = call("get", "/me", token=world.viewer).json()["auth"]["token_id"]
    for other in (viewer_token_id, str(uuid.uuid4()), "not-an-id"):
        assert call("delete", tokens, token=world.owner, path={"id": other}).status_code == 404
    # A credential may revoke itself.
    itself = _token(world.owner_portal)
    itself_id = call("get", "/me", token=itself).json()["auth"]["token_id"]
    assert call("delete", tokens, token=itself, path={"id": itself_id}).status_code == 204
    assert call("delete", tokens, token=itself, path={"id": itself_id}).status_code == 401
    assert call("get", "/api/me/tokens").status_code == 401


# The organization API

def test_settings(call, world):
    settings = "/api/orgs/{slug}/settings"
    slug = {"slug": ORG}
    assert call("get", settings, token=world.owner, path=slug).json()["device_signin"] is True
    assert call("get", settings, token=world.viewer, path=slug).status_code == 403
    assert call("get", settings, token=world.owner, path={"slug": "elsewhere"}).status_code == 403
    assert call("get", settings, path=slug).status_code == 401

    def put(body=None, token=world.owner, **kwargs):
        return call("put", settings, token=token, path=slug, json=body, **kwargs)

    assert put({"device_signin": True, "token_ttl": 3600}).json() == {"device_signin": True, "token_ttl": 3600,
                                                                      "scim_default_role": "member"}
    assert put({"device_signin": True, "token_ttl": None}).json() == {"device_signin": True,
                                                                      "scim_default_role": "member"}
    assert put({"device_signin": True, "scim_default_role": "viewer"}).json() == {"device_signin": True,
                                                                                  "scim_default_role": "viewer"}
    assert put({"device_signin": True}).json() == {"device_signin": True, "scim_default_role": "viewer"}
    assert error_of(put({"device_signin": True, "scim_default_role": "owner"})) == "unprocessable"
    assert put({"device_signin": True, "scim_default_role": "member"}).status_code == 200
    for body in ({"device_signin": "yes"}, {"device_signin": None}, ["device_signin"]):
        assert error_of(put(body)) == "invalid_request", body
    assert error_of(call("put", settings, token=world.owner, path=slug, data="{", headers={
        "Content-Type": "application/json"})) == "invalid_request"
    for body in ({"device_signin": True, "extra": 1}, {}, {"device_signin": True, "token_ttl": 59}):
        assert error_of(put(body)) == "unprocessable", body
    assert error_of(call("put", settings, token=world.owner, path=slug, data={"device_signin": "true"})) == \
        "unsupported_media_type"
    assert put({"device_signin": True, "pad": BIG}).status_code == 413
    assert put({"device_signin": False}, token=world.viewer).status_code == 403


def test_directory_tokens(call, world):
    tokens = "/api/orgs/{slug}/scim-tokens"
    token = "/api/orgs/{slug}/scim-tokens/{id}"
    slug = {"slug": ORG}
    made = call("post", tokens, token=world.owner, path=slug)
    assert made.status_code == 201 and made.json()["token"].startswith("scim_"), made.text
    secret, made_id = made.json()["token"], made.json()["id"]
    listed = call("get", tokens, token=world.owner, path=slug)
    assert [item["id"] for item in listed.json()["items"]] == [made_id] and secret not in listed.text
    assert call("get", tokens, token=world.viewer, path=slug).status_code == 403
    assert call("post", tokens, token=world.viewer, path=slug).status_code == 403
    assert call("post", tokens, token=world.owner, path=slug, data=BIG,
                headers={"Content-Type": "application/json"}).status_code == 413
    scim = requests.get(world.url("/scim/v2/Users"), headers=bearer(secret), timeout=10)
    assert scim.status_code == 200, scim.text
    assert call("delete", token, token=world.viewer, path={**slug, "id": made_id}).status_code == 403
    assert call("delete", token, token=world.owner, path={**slug, "id": str(uuid.uuid4())}).status_code == 404
    assert call("delete", token, token=world.owner, path={**slug, "id": made_id}).status_code == 204
    assert requests.get(world.url("/scim/v2/Users"), headers=bearer(secret), timeout=10).status_code == 401


def test_members(call, world):
    members = "/api/orgs/{slug}/members"
    member = "/api/orgs/{slug}/members/{userId}"
    items = call("get", members, token=world.owner, path={"slug": ORG}).json()["items"]
    assert {m["user"]["email"] for m in items} >= {"oa-owner@example.com", "oa-viewer@example.com"}
    assert call("get", members, token=world.viewer, path={"slug": ORG}).status_code == 200
    assert call("get", members, token=world.analyst, path={"slug": ORG}).status_code == 403
    assert call("get", members, token=world.owner, path={"slug": "elsewhere"}).status_code == 403

    def put(user_id, body, token=world.owner, **kwargs):
        return call("put", member, token=token, path={"slug": ORG, "userId": user_id}, json=body, **kwargs)

    changed = put(world.member_id, {"role": "analyst"}).json()
    assert changed["role"] == "analyst"
    assert put(world.member_id, {"role": "member"}).json()["role"] == "member"
    assert put(world.owner_id, {"role": "admin"}).status_code == 403        # nobody changes their own role
    assert put(world.member_id, {"role": "admin"}, token=world.viewer).status_code == 403
    assert put(str(uuid.uuid4()), {"role": "member"}).status_code == 404
    assert put("not-an-id", {"role": "member"}).status_code == 404
    assert error_of(put(world.member_id, {"role": "no-such-role"})) == "unprocessable"
    assert error_of(put(world.member_id, {"role": 7})) == "invalid_request"
    assert error_of(put(world.member_id, {"role": "member", "why": "x"})) == "unprocessable"
    assert call("put", member, token=world.owner, path={"slug": ORG, "userId": world.member_id},
                data="role=member").status_code == 415
    assert put(world.member_id, {"role": "member", "pad": BIG}).status_code == 413

    leaver = next(m["user"]["id"] for m in items if m["user"]["email"] == "oa-leaver@example.com")
    remove = {"slug": ORG, "userId": leaver}
    assert call("delete", member, token=world.viewer, path=remove).status_code == 403
    assert call("delete", member, token=world.owner, path=remove).json() == {"revoked_tokens": 0}
    assert call("delete", member, token=world.owner, path=remove).status_code == 404
    assert call("delete", member, token=world.owner, path={"slug": ORG, "userId": world.owner_id}).status_code == 403
    assert call("delete", member, path=remove).status_code == 401


def test_adding_and_inviting(call, world):
    members = "/api/orgs/{slug}/members"
    invitations = "/api/orgs/{slug}/invitations"
    invitation = "/api/orgs/{slug}/invitations/{id}"
    slug = {"slug": ORG}

    def post(template, body, token=world.owner, **kwargs):
        return call("post", template, token=token, path=slug, json=body, **kwargs)

    added = post(members, {"email": "OA-Leaver@example.com", "role": "viewer"})  # removed by test_members
    assert added.status_code == 201 and added.json()["role"] == "viewer", added.text
    fresh = f"oa-new-{uuid.uuid4().hex[:8]}@example.com"
    invited = post(members, {"email": fresh, "role": "member"}).json()["invitation"]
    assert invited["url"].startswith(world.url("/invitations/")) and invited["email"] == fresh
    again = post(invitations, {"email": fresh, "role": "viewer"})
    assert again.status_code == 201 and again.json()["invitation"]["role"] == "viewer"
    pending = call("get", invitations, token=world.viewer, path=slug).json()["items"]
    assert [i["email"] for i in pending if i["email"] == fresh] == [fresh]
    assert all("url" not in i for i in pending)
    assert call("get", invitations, token=world.analyst, path=slug).status_code == 403
    for template in (members, invitations):
        assert post(template, {"email": "oa-viewer@example.com", "role": "member"}).status_code == 409
        assert post(template, {"email": "x@example.com", "role": "member"}, token=world.viewer).status_code == 403
        assert error_of(post(template, {"email": "not-an-email", "role": "member"})) == "unprocessable"
        assert error_of(post(template, {"email": "x@example.com", "role": "no-such-role"})) == "unprocessable"
        assert error_of(post(template, {"email": 7, "role": "member"})) == "invalid_request"
        assert call("post", template, token=world.owner, path=slug, data="email=x").status_code == 415
        assert post(template, {"email": "x@example.com", "role": "member", "pad": BIG}).status_code == 413

    target = {"slug": ORG, "id": again.json()["invitation"]["id"]}
    assert call("delete", invitation, token=world.viewer, path=target).status_code == 403
    assert call("delete", invitation, token=world.owner, path=target).status_code == 204
    assert call("delete", invitation, token=world.owner, path=target).status_code == 404
    assert requests.get(again.json()["invitation"]["url"], timeout=10).status_code == 410


def test_revoking_a_members_tokens(call, world):
    tokens = "/api/orgs/{slug}/members/{userId}/tokens"
    member_portal = dataclasses.replace(world.owner_portal, email="oa-member@example.com")
    member_token = _token(member_portal)
    target = {"slug": ORG, "userId": world.member_id}
    assert call("delete", tokens, token=world.viewer, path=target).status_code == 403
    assert call("delete", tokens, token=world.owner, path=target).json() == {"revoked_tokens": 1}
    assert call("get", "/me", token=member_token).status_code == 401
    assert call("delete", tokens, token=world.owner, path={"slug": ORG, "userId": str(uuid.uuid4())}).status_code \
        == 404
    assert call("delete", tokens, token=member_token, path=target).status_code == 401


def test_roles(call, world):
    roles = "/api/orgs/{slug}/roles"
    role = "/api/orgs/{slug}/roles/{name}"
    slug = {"slug": ORG}
    names = [r["name"] for r in call("get", roles, token=world.owner, path=slug).json()["items"]]
    assert names[:4] == ["owner", "admin", "member", "viewer"] and "analyst" in names
    assert call("get", roles, token=world.viewer, path=slug).status_code == 403

    def post(body, token=world.owner, **kwargs):
        return call("post", roles, token=token, path=slug, json=body, **kwargs)

    created = post({"name": "auditor", "permissions": ["audit:read", "members:read"]})
    assert created.status_code == 201 and created.json()["built_in"] is False
    assert post({"name": "auditor", "permissions": []}).status_code == 409
    for body in ({"name": "Bad Name", "permissions": []}, {"name": "owner", "permissions": []},
                 {"name": "ok", "permissions": ["root"]}, {"name": "ok"}, {"name": "ok", "permissions": [],
                                                                          "x": 1}):
        assert error_of(post(body)) == "unprocessable", body
    assert error_of(post({"name": "ok", "permissions": "audit:read"})) == "invalid_request"
    assert call("post", roles, token=world.owner, path=slug, data="name=ok").status_code == 415
    assert post({"name": "ok", "permissions": [], "pad": BIG}).status_code == 413
    assert post({"name": "ok", "permissions": []}, token=world.viewer).status_code == 403

    def put(name, body, token=world.owner):
        return call("put", role, token=token, path={"slug": ORG, "name": name}, json=body)

    assert put("auditor", {"name": "inspector"}).json()["name"] == "inspector"
    assert put("inspector", {"permissions": ["audit:read"], "name": None}).json()["permissions"] == ["audit:read"]
    assert put("inspector", {"name": "analyst"}).status_code == 409
    assert put("viewer", {"permissions": []}).status_code == 403
    assert put("no-such-role", {}).status_code == 404
    assert error_of(put("inspector", {"name": "-bad"})) == "unprocessable"
    assert error_of(put("inspector", {"permissions": [1]})) == "invalid_request"
    assert put("inspector", {"name": "x" + BIG}).status_code == 413
    assert call("put", role, token=world.owner, path={"slug": ORG, "name": "inspector"},
                data="name=x").status_code == 415
    assert put("inspector", {}, token=world.viewer).status_code == 403

    def delete(name):
        return call("delete", role, token=world.owner, path={"slug": ORG, "name": name})

    assert delete("analyst").status_code == 409      # held by oa-analyst
    assert delete("viewer").status_code == 403
    assert delete("inspector").status_code == 204
    assert delete("inspector").status_code == 404
    assert call("delete", role, path={"slug": ORG, "name": "x"}).status_code == 401


def test_audit(call, world):
    audit = "/api/orgs/{slug}/audit"

    def get(token=world.owner, slug=ORG, **query):
        return call("get", audit, token=token, path={"slug": slug}, params=query)

    first = get(limit=1).json()
    assert len(first["items"]) == 1 and first["next_before"]
    second = get(limit=1, before=first["next_before"]).json()
    assert second["items"][0]["id"] != first["items"][0]["id"]
    assert all(e["kind"] == "member.removed" for e in get(kind="member.removed").json()["items"])
    assert get(user=world.viewer_id, kind="", before="").status_code == 200
    for query in ({"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"before": "x"}, {"user": "x"},
                  {"kind": "nope"}):
        assert error_of(get(**query)) == "invalid_request", query
    assert get(token=world.viewer).status_code == 403
    assert get(slug="elsewhere").status_code == 403
    assert call("get", audit, path={"slug": ORG}).status_code == 401


def test_every_guarded_operation_without_a_credential_is_401(call, doc):
    for template, item in doc.document["paths"].items():
        for method, operation in item.items():
            if method in METHODS and any("bearer" in need for need in operation.get("security", [])):
                path = {"slug": ORG, "userId": str(uuid.uuid4()), "id": str(uuid.uuid4()), "name": "analyst"}
                body = {"json": {}} if "requestBody" in operation else {}
                refused = call(method, template, path=path, **body)
                assert (refused.status_code, error_of(refused)) == (401, "unauthorized"), f"{method} {template}"


def test_every_operation_refuses_a_control_character_in_its_query_with_400(call, doc):
    """Checked before anything else: no credential, body or route logic is reached."""
    for template, item in doc.document["paths"].items():
        for method, operation in item.items():
            if method in METHODS and template != "/openapi.json":
                path = {"slug": ORG, "userId": str(uuid.uuid4()), "id": str(uuid.uuid4()), "name": "analyst"}
                refused = call(method, template, path=path, params={"probe": "a\x00b"})
                assert (refused.status_code, error_of(refused)) == (400, "invalid_request"), f"{method} {template}"


# What the reference says beyond what a schema can tell

def test_a_role_without_the_permission_gets_insufficient_scope(call, world):
    """docs/REFERENCE.md, the guard: "A valid one without the permission the route needs → 403 with
    error="insufficient_scope"" (RFC 6750 §3.1), as the document says."""
    refused = call("get", "/api/orgs/{slug}/roles", token=world.viewer, path={"slug": ORG})
    assert refused.status_code == 403
    assert error_of(refused) == "insufficient_scope", refused.json()
    assert refused.headers.get("WWW-Authenticate") == 'Bearer error="insufficient_scope", scope="roles:manage"'


def test_every_documented_answer_was_seen(doc):
    """Runs last: the tests above provoked every documented status of every operation."""
    documented = {(method, path, status) for path, item in doc.document["paths"].items()
                  for method, operation in item.items() if method in METHODS
                  for status in operation["responses"]}
    missing = documented - doc.seen - set(UNPROVOKABLE)
    assert not missing, f"documented answers no test provoked: {sorted(missing)}"
