"""Other services verify session JWTs with nothing but the published JWKS: PyJWT does it here,
as a third party would, and refuses a token whose payload was changed."""

import jwt
import pytest
import requests

from portal_helpers import csrf_of, get_me, sign_in


def session_jwt(portal) -> str:
    web = sign_in(portal)
    page = web.get(portal.url("/auth/device"), timeout=10)
    resp = web.post(portal.url("/auth/session/token"), headers={"X-CSRF-Token": csrf_of(page)}, timeout=10)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["expires_in"] == 60
    return body["token"]


def test_pyjwt_verifies_a_session_jwt_with_the_published_jwks(portal):
    token = session_jwt(portal)
    metadata = requests.get(portal.url("/.well-known/oauth-authorization-server"), timeout=10).json()
    signing_key = jwt.PyJWKClient(metadata["jwks_uri"]).get_signing_key_from_jwt(token)

    claims = jwt.decode(token, signing_key.key, algorithms=["ES256"], issuer=metadata["issuer"],
                        options={"require": ["iss", "sub", "org", "sid", "iat", "exp"]})

    assert claims["exp"] - claims["iat"] == 60
    me = get_me(portal, token)
    assert me.status_code == 200
    assert me.json()["auth"]["type"] == "session"
    assert claims["sub"] == me.json()["user"]["id"]
    assert claims["org"] == me.json()["organization"]["id"]


def test_pyjwt_refuses_a_tampered_session_jwt(portal):
    token = session_jwt(portal)
    header, payload, signature = token.split(".")
    tampered = ".".join([header, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB"), signature])
    signing_key = jwt.PyJWKClient(portal.url("/.well-known/jwks.json")).get_signing_key_from_jwt(token)
    with pytest.raises(jwt.PyJWTError):
        jwt.decode(tampered, signing_key.key, algorithms=["ES256"], options={"verify_aud": False})
    assert get_me(portal, tampered).status_code == 401
