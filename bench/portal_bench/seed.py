"""Credentials and device codes made through the portal's real endpoints, as a desktop app
and a person in a browser would make them."""

import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .client import Client, csrf_token, inputs

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass(frozen=True)
class Account:
    """The user, organization and desktop client the admin commands create."""
    email: str = "bench@example.com"
    name: str = "Bench User"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    org_slug: str = "bench"
    org_name: str = "Bench Inc."
    client_id: str = "bench-cli"

    def admin_commands(self) -> list[list[str]]:
        return [
            ["create-user", "--email", self.email, "--name", self.name, "--password", self.password],
            ["create-org", "--slug", self.org_slug, "--name", self.org_name],
            ["add-member", "--org", self.org_slug, "--email", self.email, "--role", "owner"],
            ["create-client", "--client-id", self.client_id, "--name", "Bench CLI"],
        ]


def poll_body(client_id: str, device_code: str) -> str:
    """The token request's form body (nothing in these values needs URL-encoding but the grant)."""
    return (f"grant_type={DEVICE_GRANT.replace(':', '%3A')}"
            f"&device_code={device_code}&client_id={client_id}")


def request_code(app: Client, client_id: str, device_name: str) -> dict:
    answer = app.post("/auth/device/code", {"client_id": client_id, "device_name": device_name})
    if answer.status != 200:
        raise RuntimeError(f"POST /auth/device/code: {answer.status} {answer.text[:300]}")
    return answer.json()


def poll(app: Client, client_id: str, device_code: str):
    return poll_with(app, client_id, device_code, None)


def poll_with(app: Client, client_id: str, device_code: str, headers: dict | None):
    """A poll with extra request headers (`Prefer: wait=N`)."""
    return app.post("/auth/device/token", {
        "grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": client_id}, headers)


def sign_in(base_url: str, account: Account) -> Client:
    web = Client(base_url)
    form = web.get("/login")
    signed_in = web.post("/login", {"email": account.email, "password": account.password,
                                    "next": "/auth/device", "csrf_token": csrf_token(form)})
    if signed_in.status not in (302, 303) or "portal_session" not in web.cookies:
        raise RuntimeError(f"sign-in failed: {signed_in.status} {signed_in.text[:300]}")
    return web


def approve(web: Client, account: Account, user_code: str) -> tuple[float, float]:
    """What the person does: enter the code, pick the organization, press Approve. Returns
    when (time.monotonic()) the last form post, the approval, was sent and when its answer
    had been read."""
    enter = web.get(f"/auth/device?user_code={user_code}")
    confirm = web.post("/auth/device", {"user_code": user_code, "csrf_token": csrf_token(enter)})
    if account.org_slug not in inputs(confirm.text).get("org", []):
        raise RuntimeError(f"no org picker on the confirmation page: {confirm.status} {confirm.text[:300]}")
    sent_at = time.monotonic()
    done = web.post("/auth/device/confirm", {"user_code": user_code, "org": account.org_slug,
                                             "action": "approve", "csrf_token": csrf_token(confirm)})
    approved_at = time.monotonic()
    if done.status != 200:
        raise RuntimeError(f"approval failed: {done.status} {done.text[:300]}")
    return sent_at, approved_at


def api_token(base_url: str, account: Account, web: Client) -> str:
    """The whole device flow: code, approval in the signed-in browser `web`, one poll."""
    app = Client(base_url)
    code = request_code(app, account.client_id, "bench-machine")
    approve(web, account, code["user_code"])
    # The first poll of a code is never slow_down, and this one comes after the approval.
    answer = poll(app, account.client_id, code["device_code"])
    if answer.status != 200:
        raise RuntimeError(f"token exchange failed: {answer.status} {answer.text[:300]}")
    app.close()
    return answer.json()["access_token"]


def session_jwt(web: Client) -> str:
    """A session JWT for the signed-in browser `web`; the CSRF token is the session's own,
    read from a page rendered for it."""
    page = web.get("/auth/device")
    answer = web.post("/auth/session/token", headers={"X-CSRF-Token": csrf_token(page)})
    if answer.status != 200:
        raise RuntimeError(f"POST /auth/session/token: {answer.status} {answer.text[:300]}")
    return answer.json()["token"]


def pending_pool(base_url: str, client_id: str, count: int, path: Path, workers: int = 8) -> Path:
    """`count` fresh device codes, one a line in `path`: nobody approves them, so every
    poll of them answers authorization_pending (when it keeps to the interval)."""
    def share(worker: int) -> list[str]:
        app = Client(base_url)
        codes = [request_code(app, client_id, f"bench-pool-{worker}")["device_code"]
                 for _ in range(worker, count, workers)]
        app.close()
        return codes

    with ThreadPoolExecutor(workers) as executor:
        codes = [code for shard in executor.map(share, range(workers)) for code in shard]
    path.write_text("\n".join(codes) + "\n")
    return path


def slowed_down_code(base_url: str, client_id: str) -> str:
    """A device code polled twice just now: the first poll answers authorization_pending, the
    second slow_down and pushes the interval to 6 s, so that every poll of a run that starts
    within those 6 s is early too (each one adds 5 s more, up to 60)."""
    app = Client(base_url)
    device_code = request_code(app, client_id, "bench-hammered")["device_code"]
    answers = [poll(app, client_id, device_code).json().get("error") for _ in range(2)]
    app.close()
    if answers != ["authorization_pending", "slow_down"]:
        raise RuntimeError(f"unexpected answers to the first polls of a code: {answers}")
    return device_code
