"""The company's session JWTs at the guard (issue 15), minted with PyJWT (and once with joserfc)
and checked against a JWKS served from this process, on a `portal serve` of these tests' own:
- accepted on /me (`auth.type` external_jwt, the current role) and on /api/orgs/{slug}/…, with a
  nested org claim (`o.id`) and, on a second server, the default `org_id`; RS256, ES256 and EdDSA;
  an ES256 token of joserfc too; no JWKS fetch per request once the keys are cached;
- `portal set-role` counts on the very next request, `portal remove-member` makes it 401;
- introspection says `token_type: external_jwt`;
- refusals, each 401 `invalid_token` (JSON and WWW-Authenticate) and counted by reason in
  `portal_external_jwt_refusals_total`: expired, `nbf` ahead, wrong `aud`, `azp` missing or not
  listed, wrong `iss`, `alg: none`, HS256 signed with the public key (key confusion), a key of
  another algorithm, a bad signature, an unknown kid, no org claim, unknown org, not a member,
  unknown `sub`;
- rotated keys: a new kid is fetched once and accepted; a flood of 50 unknown kids costs the JWKS
  at most one fetch; keys published for encryption, symmetric keys and keys under another
  algorithm's label verify nothing; a key the portal cannot read does not spoil the others;
- a JWKS that cannot be fetched, or never answers: external JWTs 401 within bounded time, API
  tokens unaffected and fast;
- a real provider's (oidc-provider-mock's) own ID tokens for another app pass the guard once the
  person has signed in to the portal with it (keys found by discovery)."""

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey

from conftest import _free_port
from identity_fixtures import (NO_WAIT, BlackHole, EndlessAnswer, KeySetServer, jwks_server, oidc_settings, provider_id_token, provider_mock,
                               signin_through_provider, start_portal)
from portal_helpers import approve_by_hand, csrf_of, get_me, poll_for_token, request_device_code, sign_in

ISSUER = "https://clerk.acme.test"
AUDIENCE = "device-portal-api"
APP = "https://app.acme.test"
ORG_ID = "org_2analytical"
OTHER_ORG_ID = "org_2babbage"


class SigningKey:
    """A private key of PyJWT's, its kid and algorithm, and its public half as a JWK."""

    def __init__(self, kid: str, algorithm: str, private, jwk_of):
        self.kid, self.algorithm, self.private = kid, algorithm, private
        self.jwk = {**jwk_of(private.public_key(), as_dict=True), "kid": kid, "alg": algorithm, "use": "sig"}

    @classmethod
    def rsa(cls, kid: str):
        return cls(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048), RSAAlgorithm.to_jwk)

    @classmethod
    def ec(cls, kid: str):
        return cls(kid, "ES256", ec.generate_private_key(ec.SECP256R1()), ECAlgorithm.to_jwk)

    @classmethod
    def ed25519(cls, kid: str):
        return cls(kid, "EdDSA", ed25519.Ed25519PrivateKey.generate(), OKPAlgorithm.to_jwk)

    def sign(self, claims: dict, **header) -> str:
        return jwt.encode(claims, self.private, algorithm=self.algorithm, headers={"kid": self.kid, **header})

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)


RSA_KEY = SigningKey.rsa("rsa-2026-1")
EC_KEY = SigningKey.ec("ec-2026-1")
ED_KEY = SigningKey.ed25519("ed-2026-1")
JOSE_KEY = ECKey.generate_key("P-256", parameters={"kid": "jose-ec-1", "alg": "ES256", "use": "sig"})


def claims(sub: str, org: str | None = ORG_ID, nested: bool = True, **changes) -> dict:
    """A Clerk-like session JWT's claims; `changes` replace (None removes) any of them."""
    now = int(time.time())
    body = {"iss": ISSUER, "sub": sub, "aud": [AUDIENCE], "azp": APP, "iat": now - 5, "nbf": now - 5,
            "exp": now + 300, "sid": "sess_" + secrets.token_hex(6)}
    if org is not None:
        body.update({"o": {"id": org, "rol": "admin"}} if nested else {"org_id": org})
    for name, value in changes.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    return body


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict, body: dict, sign) -> str:
    """A JWT put together by hand, for what no library will sign (none, HMAC with a public key)."""
    head = b64(json.dumps(header).encode()) + "." + b64(json.dumps(body).encode())
    return head + "." + b64(sign(head.encode()))


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def me(portal, token: str) -> requests.Response:
    return requests.get(portal.url("/me"), headers=bearer(token), timeout=10)


def assert_invalid_token(resp: requests.Response, what: str):
    assert resp.status_code == 401, (what, resp.status_code, resp.text)
    assert 'error="invalid_token"' in resp.headers.get("WWW-Authenticate", ""), (what, resp.headers)
    assert resp.json()["error"] == "invalid_token", (what, resp.text)


def refusals(portal) -> dict[str, float]:
    """`portal_external_jwt_refusals_total` by reason, from /metrics (loopback needs no token)."""
    text = requests.get(portal.url("/metrics"), timeout=10).text
    return {reason: float(value) for reason, value in
            re.findall(r'^portal_external_jwt_refusals_total\{reason="([a-z_]+)"\} (\S+)$', text, re.MULTILINE)}


def jwt_settings(keys: KeySetServer, **extra) -> dict:
    return {"EXTERNAL_JWT_ISSUER": ISSUER, "EXTERNAL_JWT_JWKS_URL": keys.url, "EXTERNAL_JWT_AUDIENCE": AUDIENCE,
            "EXTERNAL_JWT_AUTHORIZED_PARTIES": f"{APP},https://admin.acme.test", **extra}


def seed_people(own):
    """Ada (owner) and Bob (member) of `analytical`, linked to the issuer; `babbage`, where nobody is."""
    portal = own.info
    own.run("set-org-external-id", "--org", portal.org_slug, "--external-id", ORG_ID)
    own.run("create-org", "--slug", "babbage", "--name", "Babbage & Co", "--external-id", OTHER_ORG_ID)
    own.run("link-identity", "--email", portal.email, "--issuer", ISSUER, "--subject", "user_2ada")
    own.run("create-user", "--email", "bob@example.com", "--name", "Bob", "--password", "bob's long password")
    own.run("add-member", "--org", portal.org_slug, "--email", "bob@example.com", "--role", "member")
    own.run("link-identity", "--email", "bob@example.com", "--issuer", ISSUER, "--subject", "user_2bob")


def publish_keys(keys: KeySetServer):
    """The JWKS holds at least the keys these tests sign with (a rotated one stays)."""
    published = {key["kid"] for key in keys.keys}
    base = [RSA_KEY.jwk, EC_KEY.jwk, ED_KEY.jwk, JOSE_KEY.as_dict(private=False)]
    keys.keys = [*keys.keys, *(key for key in base if key["kid"] not in published)]


@pytest.fixture(scope="module")
def jwt_portal(jwks_server):
    """A portal that takes the issuer's JWTs, the org named by the nested claim `o.id`."""
    publish_keys(jwks_server)
    own = start_portal(**jwt_settings(jwks_server, EXTERNAL_JWT_ORG_CLAIM="o.id"))
    try:
        seed_people(own)
        jwks_server.wait_for_fetches(1)  # the keys are fetched at start-up
        yield own
    finally:
        own.stop()


def test_accepted_on_me_and_the_api_with_the_current_role(jwt_portal, jwks_server):
    portal = jwt_portal.info
    fetches = jwks_server.fetch_count()
    token = RSA_KEY.sign(claims("user_2ada"))
    resp = me(portal, token)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["user"]["email"] == portal.email
    assert body["organization"]["slug"] == portal.org_slug
    assert body["role"]["name"] == "owner"
    assert body["auth"]["type"] == "external_jwt"
    assert "token_id" not in body["auth"] or body["auth"]["token_id"] is None
    assert resp.headers.get("Cache-Control") == "no-store"
    members = requests.get(portal.url(f"/api/orgs/{portal.org_slug}/members"), headers=bearer(token), timeout=10)
    assert members.status_code == 200, members.text
    assert {m["user"]["email"] if "user" in m else m.get("email") for m in members.json()["items"]} >= {
        portal.email, "bob@example.com"}, members.text
    # Never another org than the token's own.
    other = requests.get(portal.url("/api/orgs/babbage/members"), headers=bearer(token), timeout=10)
    assert other.status_code == 403, other.status_code
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    assert datetime.fromisoformat(body["auth"]["expires_at"].replace("Z", "+00:00")).timestamp() == exp
    for _ in range(20):
        assert me(portal, token).status_code == 200
    assert jwks_server.fetch_count() == fetches, "the JWKS was fetched on the request path"
    # The portal's own session JWTs still work beside the issuer's.
    web = sign_in(portal)
    minted = web.post(portal.url("/auth/session/token"), timeout=10,
                      headers={"X-CSRF-Token": csrf_of(web.get(portal.url("/auth/device"), timeout=10))})
    assert minted.status_code == 200, minted.text
    own = me(portal, minted.json()["token"])
    assert own.status_code == 200 and own.json()["auth"]["type"] == "session", own.text


def test_a_role_change_and_a_removal_count_on_the_next_request(jwt_portal):
    portal = jwt_portal.info
    token = RSA_KEY.sign(claims("user_2bob"))
    audit = portal.url(f"/api/orgs/{portal.org_slug}/audit")
    assert me(portal, token).json()["role"]["name"] == "member"
    refused = requests.get(audit, headers=bearer(token), timeout=10)
    assert refused.status_code == 403 and 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]

    jwt_portal.run("set-role", "--org", portal.org_slug, "--email", "bob@example.com", "--role", "admin")
    assert me(portal, token).json()["role"]["name"] == "admin"
    assert requests.get(audit, headers=bearer(token), timeout=10).status_code == 200

    jwt_portal.run("remove-member", "--org", portal.org_slug, "--email", "bob@example.com")
    assert_invalid_token(me(portal, token), "removed member")
    assert_invalid_token(requests.get(audit, headers=bearer(token), timeout=10), "removed member on /api")


@pytest.mark.parametrize("key", [RSA_KEY, EC_KEY, ED_KEY], ids=lambda key: key.algorithm)
def test_each_asymmetric_algorithm_is_accepted(jwt_portal, key):
    resp = me(jwt_portal.info, key.sign(claims("user_2ada")))
    assert resp.status_code == 200, (key.algorithm, resp.text)
    assert resp.json()["auth"]["type"] == "external_jwt"


def test_a_single_audience_may_be_a_string(jwt_portal):
    resp = me(jwt_portal.info, RSA_KEY.sign(claims("user_2ada", aud=AUDIENCE)))
    assert resp.status_code == 200, resp.text
    several = me(jwt_portal.info, RSA_KEY.sign(claims("user_2ada", aud=["another-api", AUDIENCE])))
    assert several.status_code == 200, several.text


def test_a_joserfc_es256_token_is_accepted(jwt_portal):
    token = jose_jwt.encode({"alg": "ES256", "kid": "jose-ec-1", "typ": "JWT"}, claims("user_2ada"), JOSE_KEY)
    resp = me(jwt_portal.info, token)
    assert resp.status_code == 200, resp.text
    assert resp.json()["auth"]["type"] == "external_jwt" and resp.json()["role"]["name"] == "owner"


def test_introspection_names_the_external_jwt(jwt_portal):
    portal = jwt_portal.info
    out = jwt_portal.run("create-client", "--client-id", "reporting", "--name", "Reporting", "--confidential")
    secret = re.search(r"\b[0-9a-f]{64}\b", out).group(0)
    token = EC_KEY.sign(claims("user_2ada"))
    person = me(portal, token).json()
    answer = requests.post(portal.url("/auth/introspect"), data={"token": token}, auth=("reporting", secret), timeout=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["active"] is True and body["token_type"] == "external_jwt", body
    assert body["sub"] == person["user"]["id"] and body["org"] == person["organization"]["id"], body
    assert body["role"] == "owner" and "members:manage" in body["permissions"], body
    expired = EC_KEY.sign(claims("user_2ada", exp=int(time.time()) - 600))
    answer = requests.post(portal.url("/auth/introspect"), data={"token": expired}, auth=("reporting", secret), timeout=10)
    assert answer.status_code == 200 and answer.json() == {"active": False}, answer.text


def refused_tokens() -> list[tuple[str, str, str | None]]:
    """(what, token, the reason the refusal is counted under; None: not one of the issuer's)."""
    now = int(time.time())
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = RSA_KEY.public_pem()
    return [
        ("expired", RSA_KEY.sign(claims("user_2ada", exp=now - 600, iat=now - 900, nbf=now - 900)), "expired"),
        ("nbf ahead", RSA_KEY.sign(claims("user_2ada", nbf=now + 600)), "not_yet_valid"),
        ("wrong aud", RSA_KEY.sign(claims("user_2ada", aud=["another-api"])), "audience"),
        ("no aud", RSA_KEY.sign(claims("user_2ada", aud=None)), "audience"),
        ("azp not listed", RSA_KEY.sign(claims("user_2ada", azp="https://evil.example")), "authorized_party"),
        ("no azp", RSA_KEY.sign(claims("user_2ada", azp=None)), "authorized_party"),
        ("wrong iss", RSA_KEY.sign(claims("user_2ada", iss="https://clerk.evil.test")), None),
        ("alg none", hand_made({"alg": "none", "typ": "JWT", "kid": RSA_KEY.kid}, claims("user_2ada"),
                               lambda _: b""), "algorithm"),
        ("HS256 with the public key", hand_made({"alg": "HS256", "typ": "JWT", "kid": RSA_KEY.kid}, claims("user_2ada"),
                                                lambda head: hmac.new(pem, head, hashlib.sha256).digest()), "algorithm"),
        ("RS256 under the EC key's kid", RSA_KEY.sign(claims("user_2ada"), kid=EC_KEY.kid), "algorithm"),
        ("bad signature", jwt.encode(claims("user_2ada"), other_rsa, algorithm="RS256", headers={"kid": RSA_KEY.kid}),
         "signature"),
        ("unknown kid", RSA_KEY.sign(claims("user_2ada"), kid="rsa-unknown"), "unknown_key"),
        ("no org claim", RSA_KEY.sign(claims("user_2ada", org=None)), "no_org_claim"),
        ("org claim at the top level, not o.id", RSA_KEY.sign(claims("user_2ada", nested=False)), "no_org_claim"),
        ("unknown org", RSA_KEY.sign(claims("user_2ada", org="org_2nobody")), "unknown_org"),
        ("not a member", RSA_KEY.sign(claims("user_2ada", org=OTHER_ORG_ID)), "not_a_member"),
        ("unknown sub", RSA_KEY.sign(claims("user_2stranger")), "unknown_subject"),
        ("no exp", RSA_KEY.sign(claims("user_2ada", exp=None)), "malformed"),
        ("no kid, several keys published", jwt.encode(claims("user_2ada"), RSA_KEY.private, algorithm="RS256"),
         "unknown_key"),
        ("a crit header", RSA_KEY.sign(claims("user_2ada"), crit=["exp"]), "algorithm"),
        ("over 16 KiB", RSA_KEY.sign(claims("user_2ada", padding="x" * 17_000)), None),
    ]


def test_every_refusal_is_a_401_invalid_token_counted_by_reason(jwt_portal):
    portal = jwt_portal.info
    before = refusals(portal)
    assert {"expired", "algorithm", "unknown_key", "unknown_subject"} <= set(before), before
    expected: dict[str, int] = {}
    for what, token, reason in refused_tokens():
        assert_invalid_token(me(portal, token), what)
        assert_invalid_token(requests.get(portal.url(f"/api/orgs/{portal.org_slug}/members"), headers=bearer(token),
                                          timeout=10), what + " on /api")
        if reason:
            expected[reason] = expected.get(reason, 0) + 2
    log = jwt_portal.log()
    assert not [what for what, token, _ in refused_tokens() if token.split(".")[2] and token.split(".")[2] in log]
    after = refusals(portal)
    counted = {reason: after.get(reason, 0) - before.get(reason, 0) for reason in after}
    assert {r: n for r, n in counted.items() if n} == expected, counted
    # Still fine for a good token, and the server is alive.
    assert me(portal, RSA_KEY.sign(claims("user_2ada"))).status_code == 200
    assert jwt_portal.alive()


def wait_until_a_fetch_is_allowed(keys: KeySetServer):
    """The portal fetches the JWKS at most once a minute: wait until a minute has passed."""
    time.sleep(max(0.0, 61.5 - keys.seconds_since_last_fetch()))


def test_rotated_keys_are_fetched_once_and_accepted(jwt_portal, jwks_server):
    portal = jwt_portal.info
    wait_until_a_fetch_is_allowed(jwks_server)
    rotated = SigningKey.rsa("rsa-2026-2")
    # Published beside it: a key for encryption, which must never verify a signature.
    encryption = SigningKey.rsa("rsa-enc-1")
    jwks_server.keys = [rotated.jwk, {**encryption.jwk, "use": "enc"}, *jwks_server.keys]
    fetches = jwks_server.fetch_count()
    resp = me(portal, rotated.sign(claims("user_2ada")))
    assert resp.status_code == 200, resp.text
    assert jwks_server.fetch_count() == fetches + 1
    assert_invalid_token(me(portal, encryption.sign(claims("user_2ada"))), "a key published for encryption")
    for _ in range(5):
        assert me(portal, rotated.sign(claims("user_2ada"))).status_code == 200
        assert me(portal, RSA_KEY.sign(claims("user_2ada"))).status_code == 200
    assert jwks_server.fetch_count() == fetches + 1


def test_the_default_org_claim_is_org_id(jwks_server):
    publish_keys(jwks_server)
    own = start_portal(**jwt_settings(jwks_server))
    try:
        seed_people(own)
        portal = own.info
        resp = me(portal, ED_KEY.sign(claims("user_2bob", nested=False)))
        assert resp.status_code == 200, resp.text
        assert resp.json()["role"]["name"] == "member" and resp.json()["auth"]["type"] == "external_jwt"
        api = requests.get(portal.url(f"/api/orgs/{portal.org_slug}/members"),
                           headers=bearer(RSA_KEY.sign(claims("user_2ada", nested=False))), timeout=10)
        assert api.status_code == 200, api.text
        assert_invalid_token(me(portal, RSA_KEY.sign(claims("user_2ada", nested=True))), "o.id where org_id is read")
    finally:
        own.stop()


def test_a_jwks_that_cannot_be_fetched_refuses_external_jwts_and_leaves_api_tokens_alone():
    own = start_portal(EXTERNAL_JWT_ISSUER=ISSUER, EXTERNAL_JWT_JWKS_URL=f"http://127.0.0.1:{_free_port()}/jwks.json")
    try:
        portal = own.info
        own.run("set-org-external-id", "--org", portal.org_slug, "--external-id", ORG_ID)
        own.run("link-identity", "--email", portal.email, "--issuer", ISSUER, "--subject", "user_2ada")
        grant = request_device_code(portal, device_name="during-the-jwks-outage")
        approve_by_hand(portal, grant["user_code"])
        api_token = poll_for_token(portal, grant["device_code"], grant["interval"])["access_token"]
        before = refusals(portal)
        for _ in range(3):
            started = time.monotonic()
            assert_invalid_token(me(portal, RSA_KEY.sign(claims("user_2ada", nested=False))), "no keys")
            assert time.monotonic() - started < 6
        assert refusals(portal).get("keys_unavailable", 0) - before.get("keys_unavailable", 0) == 3
        for _ in range(5):
            started = time.monotonic()
            resp = get_me(portal, api_token)
            took = time.monotonic() - started
            assert resp.status_code == 200 and resp.json()["auth"]["type"] == "api_token", resp.text
            assert took < NO_WAIT, f"/me with an API token took {took:.2f}s while the JWKS is down"
        assert own.alive()
    finally:
        own.stop()


@contextmanager
def portal_with_keys(published: list[dict]):
    """A portal of its own whose issuer publishes `published`, with Ada linked and in `analytical`."""
    keys = KeySetServer()
    keys.keys = published
    own = start_portal(**jwt_settings(keys))
    try:
        own.run("set-org-external-id", "--org", own.info.org_slug, "--external-id", ORG_ID)
        own.run("link-identity", "--email", own.info.email, "--issuer", ISSUER, "--subject", "user_2ada")
        yield own
    finally:
        own.stop()
        keys.stop()


def test_the_providers_own_tokens_work_for_the_person_who_signed_in_with_it():
    """One provider configured twice, as companies do: people sign in to the portal with it, and
    its tokens for the company's web app (another client, carrying `org_id`) pass the guard. The
    keys are found by the issuer's discovery document (no EXTERNAL_JWT_JWKS_URL), and the link
    made by the sign-in (issuer, sub) is the one the guard reads."""
    with provider_mock() as provider:
        own = start_portal(**oidc_settings(provider), EXTERNAL_JWT_ISSUER=provider.issuer,
                           EXTERNAL_JWT_AUDIENCE="company-web-app")
        try:
            portal = own.info
            own.run("set-org-external-id", "--org", portal.org_slug, "--external-id", ORG_ID)
            provider.set_user("user_2ada", portal.email, verified=True, org_id=ORG_ID)
            token = provider_id_token(provider, "user_2ada", "company-web-app")
            assert "kid" not in jwt.get_unverified_header(token)  # the provider publishes one key, and names none
            assert_invalid_token(me(portal, token), "not linked yet")  # nobody signed in with the provider yet

            assert signin_through_provider(portal, "user_2ada").landing.status_code in (302, 303)
            resp = me(portal, token)
            assert resp.status_code == 200, resp.text
            assert resp.json()["auth"]["type"] == "external_jwt" and resp.json()["user"]["email"] == portal.email
            # Its tokens for another audience do not pass.
            assert_invalid_token(me(portal, provider_id_token(provider, "user_2ada", "another-app")), "wrong aud")
            assert own.alive()
        finally:
            own.stop()


def test_symmetric_and_mislabelled_keys_in_the_jwks_verify_nothing():
    secret = secrets.token_bytes(32)
    published = [{"kty": "oct", "k": b64(secret), "kid": "hmac-1", "alg": "HS256"},
                 {**EC_KEY.jwk, "kid": "ec-labelled-rs256", "alg": "RS256"},
                 RSA_KEY.jwk]
    with portal_with_keys(published) as own:
        portal = own.info
        body = claims("user_2ada", nested=False)
        hs256 = jwt.encode(body, secret, algorithm="HS256", headers={"kid": "hmac-1"})
        assert_invalid_token(me(portal, hs256), "HS256 with a symmetric key the issuer published")
        es256 = jwt.encode(body, EC_KEY.private, algorithm="ES256", headers={"kid": "ec-labelled-rs256"})
        assert_invalid_token(me(portal, es256), "ES256 under a kid published for RS256")
        assert me(portal, RSA_KEY.sign(body)).status_code == 200
        assert own.alive()


BROKEN_KEYS = {
    "RSA without its modulus": {"kty": "RSA", "e": "AQAB", "kid": "broken-1", "alg": "RS256", "use": "sig"},
    "EC point not on the curve": {**EC_KEY.jwk, "kid": "broken-1", "x": b64(bytes(32))},
}


@pytest.mark.parametrize("broken", BROKEN_KEYS.values(), ids=BROKEN_KEYS.keys())
def test_a_key_the_portal_cannot_read_is_skipped_and_the_others_still_work(broken):
    """RFC 7517 §5: a JWK that is missing required members, or whose values are out of range,
    SHOULD be ignored; one such key among the issuer's must not make the good ones unusable."""
    with portal_with_keys([broken, RSA_KEY.jwk]) as own:
        resp = me(own.info, RSA_KEY.sign(claims("user_2ada", nested=False)))
        assert resp.status_code == 200, (resp.text, [line for line in own.log().splitlines() if "keys" in line][-2:])
        assert own.alive()


def test_a_jwks_that_never_answers_costs_external_jwts_bounded_time_and_api_tokens_nothing():
    hole = BlackHole()
    own = start_portal(EXTERNAL_JWT_ISSUER=ISSUER, EXTERNAL_JWT_JWKS_URL=hole.url + "/jwks.json")
    try:
        portal = own.info
        own.run("set-org-external-id", "--org", portal.org_slug, "--external-id", ORG_ID)
        own.run("link-identity", "--email", portal.email, "--issuer", ISSUER, "--subject", "user_2ada")
        grant = request_device_code(portal, device_name="slow-jwks")
        approve_by_hand(portal, grant["user_code"])
        api_token = poll_for_token(portal, grant["device_code"], grant["interval"])["access_token"]
        external = RSA_KEY.sign(claims("user_2ada", nested=False))
        with ThreadPoolExecutor(max_workers=4) as pool:
            waits = [pool.submit(lambda: (time.monotonic(), me(portal, external), time.monotonic())) for _ in range(3)]
            while not all(wait.done() for wait in waits):
                started = time.monotonic()
                resp = get_me(portal, api_token)
                assert resp.status_code == 200 and time.monotonic() - started < NO_WAIT, resp.status_code
                time.sleep(0.2)
        for wait in waits:
            started, resp, ended = wait.result()
            assert_invalid_token(resp, "keys that never come")
            assert ended - started < 12, f"an external JWT waited {ended - started:.1f}s"
        # Within the minute, no new fetch is tried: refused at once.
        started = time.monotonic()
        assert_invalid_token(me(portal, external), "keys that never come, again")
        assert time.monotonic() - started < NO_WAIT
        assert own.alive()
    finally:
        own.stop()
        hole.stop()


def test_a_jwks_answer_that_never_ends_is_cut_off_at_its_size_limit():
    """The keys' answer is read up to 512 KiB, not until the 5-second deadline (nor 4 GiB)."""
    endless = EndlessAnswer()
    own = start_portal(EXTERNAL_JWT_ISSUER=ISSUER, EXTERNAL_JWT_JWKS_URL=endless.url + "/jwks.json")
    try:
        own.run("set-org-external-id", "--org", own.info.org_slug, "--external-id", ORG_ID)
        started = time.monotonic()
        assert_invalid_token(me(own.info, RSA_KEY.sign(claims("user_2ada", nested=False))), "an endless key set")
        assert time.monotonic() - started < 4, "the answer was read until the deadline"
        # What the sockets' buffers hold on top of the limit, not gigabytes.
        assert endless.sent < 32 * 1024 * 1024, f"{endless.sent} bytes were read"
        assert own.alive()
    finally:
        own.stop()
        endless.stop()


def test_a_flood_of_unknown_kids_costs_at_most_one_fetch(jwt_portal, jwks_server):
    portal = jwt_portal.info
    wait_until_a_fetch_is_allowed(jwks_server)
    fetches = jwks_server.fetch_count()
    forged = [RSA_KEY.sign(claims("user_2ada"), kid=f"forged-{uuid.uuid4()}") for _ in range(50)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda token: me(portal, token), forged))
    for resp in answers:
        assert_invalid_token(resp, "forged kid")
    assert jwks_server.fetch_count() - fetches <= 1, jwks_server.fetch_count() - fetches
    # The real keys still work, without another fetch.
    assert me(portal, RSA_KEY.sign(claims("user_2ada"))).status_code == 200
    assert jwks_server.fetch_count() - fetches <= 1
    assert jwt_portal.alive()
