"""Third-party OAuth clients (Authlib, oauthlib) run the device flow (RFC 8628) against a real
`portal serve`; the person's approval is made with plain form posts."""

import re
import time

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from oauthlib.oauth2 import DeviceClient, OAuth2Error

from portal_helpers import DEVICE_GRANT, HEX64, approve_by_hand, get_me, request_device_code

USER_CODE = re.compile(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}")


def wait_interval(last_poll: float, interval: float):
    """Sleeps only what is left of the polling interval since the previous poll."""
    time.sleep(max(0.0, last_poll + interval + 0.1 - time.monotonic()))


def test_authlib_completes_the_device_flow(portal):
    session = OAuth2Session(client_id=portal.client_id, token_endpoint_auth_method="none")
    resp = session.post(portal.url("/auth/device/code"), withhold_token=True,
                        data={"client_id": portal.client_id, "device_name": "authlib-box"})
    assert resp.status_code == 200, resp.text
    assert "no-store" in resp.headers.get("Cache-Control", "")
    grant = resp.json()
    assert USER_CODE.fullmatch(grant["user_code"]), grant
    assert grant["verification_uri"] == portal.url("/auth/device")
    assert grant["verification_uri_complete"] == portal.url(f"/auth/device?user_code={grant['user_code']}")
    assert grant["interval"] == 1 and grant["expires_in"] == 900

    def fetch():
        return session.fetch_token(portal.url("/auth/device/token"), grant_type=DEVICE_GRANT,
                                   device_code=grant["device_code"])

    with pytest.raises(OAuthError) as pending:
        fetch()
    assert pending.value.error == "authorization_pending"
    last_poll = time.monotonic()

    assert "Device connected" in approve_by_hand(portal, grant["user_code"])

    wait_interval(last_poll, grant["interval"])
    token = fetch()
    assert HEX64.fullmatch(token["access_token"]), token
    assert token["token_type"] == "Bearer" and token["expires_in"] == 7776000
    assert token["user"]["email"] == portal.email
    assert token["organization"]["slug"] == portal.org_slug

    # Authlib now sends the token itself, as `Authorization: Bearer …`.
    me = session.get(portal.url("/me"))
    assert me.status_code == 200, me.text
    body = me.json()
    assert (body["user"]["email"], body["user"]["name"]) == (portal.email, portal.user_name)
    assert (body["organization"]["slug"], body["organization"]["name"]) == (portal.org_slug, portal.org_name)
    assert body["role"]["name"] == "owner" and body["auth"]["type"] == "api_token"

    # A device code yields its token exactly once.
    with pytest.raises(OAuthError) as again:
        fetch()
    assert again.value.error == "invalid_grant"

    revoked = session.revoke_token(portal.url("/auth/token/revoke"), token=token["access_token"],
                                   token_type_hint="access_token")
    assert revoked.status_code == 200, revoked.text
    dead = get_me(portal, token["access_token"])
    assert dead.status_code == 401, dead.text
    assert 'error="invalid_token"' in dead.headers.get("WWW-Authenticate", "")


def test_oauthlib_device_client_gets_a_working_token(portal):
    client = DeviceClient(portal.client_id)
    grant = request_device_code(portal)

    def poll():
        body = client.prepare_request_body(device_code=grant["device_code"], include_client_id=True)
        resp = requests.post(portal.url("/auth/device/token"), data=body, timeout=10,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
        return client.parse_request_body_response(resp.text)

    with pytest.raises(OAuth2Error) as pending:
        poll()
    assert pending.value.error == "authorization_pending"
    last_poll = time.monotonic()

    approve_by_hand(portal, grant["user_code"])
    wait_interval(last_poll, grant["interval"])
    token = poll()
    assert HEX64.fullmatch(token["access_token"]), token
    me = get_me(portal, token["access_token"])
    assert me.status_code == 200, me.text
    assert me.json()["organization"]["slug"] == portal.org_slug
