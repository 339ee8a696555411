"""The routes measured, in the order they run, each with the one answer it must give under
load and, where the issue sets one, its throughput target as a ratio to GET /readyz (or, for
forward auth, to GET /me with the same token)."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import seed
from .wrk import Request


@dataclass(frozen=True)
class Scenario:
    key: str                               # stable name, for comparisons and the JSON results
    label: str
    make_request: Callable[[], Request]    # called right before the run (see the hammered code)
    expected: str                          # "<status> <error of the body, or ->"
    target: float | None = None            # least req/s as a fraction of GET /readyz's
    tolerated: dict[str, int] = field(default_factory=dict)  # other answers allowed this often
    hint: str = ""                         # the likely cause, printed when an answer is unexpected
    versus: str | None = None              # key of a second route to compare req/s with
    versus_target: float | None = None     # least req/s as a fraction of that route's

    def unexpected(self, answers: dict[str, int]) -> dict[str, int]:
        """The answers of one run that this route should not have given."""
        return {answer: count for answer, count in answers.items()
                if answer != self.expected and count > self.tolerated.get(answer, 0)}


@dataclass(frozen=True)
class Seeded:
    base_url: str
    client_id: str
    api_token: str
    session_jwt: str
    company_jwt: str                       # the company's session JWT (EXTERNAL_JWT_ISSUER)
    pool: Path
    nginx: str | None = None               # base URL of nginx in front of the server, if any


def all_scenarios(seeded: Seeded, seconds: int) -> list[Scenario]:
    poll = seed.poll_body(seeded.client_id, "{device_code}")

    def hammered() -> Request:
        code = seed.slowed_down_code(seeded.base_url, seeded.client_id)
        return Request("POST", "/auth/device/token", body=seed.poll_body(seeded.client_id, code))

    return [
        Scenario("healthz", "GET /healthz", lambda: Request("GET", "/healthz"), "200 -"),
        Scenario("readyz", "GET /readyz", lambda: Request("GET", "/readyz"), "200 -"),
        Scenario("me_token", "GET /me (API token)",
                 lambda: Request("GET", "/me", authorization=f"Bearer {seeded.api_token}"), "200 -", 0.80),
        Scenario("me_jwt", "GET /me (session JWT)",
                 lambda: Request("GET", "/me", authorization=f"Bearer {seeded.session_jwt}"), "200 -"),
        # The company's session JWT: an RS256 signature and a look-up by linked identity.
        Scenario("me_external_jwt", "GET /me (company JWT)",
                 lambda: Request("GET", "/me", authorization=f"Bearer {seeded.company_jwt}"), "200 -",
                 versus="me_jwt", versus_target=0.75),
        # Forward auth: the guard's decision alone, an empty 200 with the X-Portal-* headers.
        Scenario("verify_token", "GET /auth/verify (API token)",
                 lambda: Request("GET", "/auth/verify", authorization=f"Bearer {seeded.api_token}"), "200 -",
                 versus="me_token", versus_target=0.90),
        *([Scenario("nginx_me", "GET /me via nginx auth_request",
                    lambda: Request("GET", "/me", authorization=f"Bearer {seeded.api_token}",
                                    origin=seeded.nginx), "200 -",
                    versus="me_token", hint="see the nginx error.log (--keep)")]
          if seeded.nginx else []),
        Scenario("poll_pending", "POST /auth/device/token (pending pool)",
                 lambda: Request("POST", "/auth/device/token", body=poll, pool=seeded.pool),
                 "400 authorization_pending", 0.60,
                 hint="slow_down here means the pool is too small for this rate: raise --pool"),
        # Once the interval has grown to its 60 s cap, one poll a minute is on time again and
        # rightly answers authorization_pending.
        Scenario("poll_hammered", "POST /auth/device/token (one code)", hammered, "400 slow_down",
                 tolerated={"400 authorization_pending": (seconds + 5) // 60}),
        # Last: every request adds a row, and the other routes should see the seeded sizes.
        Scenario("device_code", "POST /auth/device/code",
                 lambda: Request("POST", "/auth/device/code",
                                 body=f"client_id={seeded.client_id}&device_name=bench"), "200 -"),
    ]
