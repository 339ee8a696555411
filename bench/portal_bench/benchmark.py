"""One database size, start to finish: a fresh database, the seeding, every route under wrk,
and (when asked) the memory check."""

import hashlib
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from . import company_jwt, memory, nginx, seed, wrk
from .database import counts, grow
from .portal import Portal
from .scenarios import Scenario, Seeded, all_scenarios


@dataclass
class Run:
    """A route's runs (one per --repeat) and the server's VmRSS right after its last one."""
    scenario: Scenario
    outcomes: list[wrk.Outcome]
    rss_mib: float = 0

    @property
    def outcome(self) -> wrk.Outcome:
        """The run of median throughput: a shared machine makes single runs noisy."""
        return sorted(self.outcomes, key=lambda outcome: outcome.rate)[len(self.outcomes) // 2]

    @property
    def spread(self) -> float:
        """(highest - lowest) / median req/s of the runs."""
        rates = [outcome.rate for outcome in self.outcomes]
        return (max(rates) - min(rates)) / self.outcome.rate

    def answers(self) -> dict[str, int]:
        return wrk.summed(outcome.answers for outcome in self.outcomes)

    def unexpected(self) -> dict[str, int]:
        return wrk.summed(self.scenario.unexpected(outcome.answers) for outcome in self.outcomes)

    def socket_errors(self) -> dict[str, int]:
        return wrk.summed(outcome.socket_errors for outcome in self.outcomes)


@dataclass
class Measurement:
    database: str           # "sqlite" or "postgresql"
    rows: int               # as asked for
    tokens: int             # as found in the database before the runs
    pending: int
    runs: list[Run]
    memory: memory.MemoryCheck | None
    shutdown_problem: str | None    # the server did not exit cleanly when stopped

    def run(self, key: str) -> Run:
        return next(run for run in self.runs if run.scenario.key == key)


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def sha256(secret: str) -> str:
    """How the portal stores tokens and device codes."""
    return hashlib.sha256(secret.encode()).hexdigest()


def measure(rows: int, options, database, binary: Path, workdir: Path) -> Measurement:
    account = seed.Account()
    load = wrk.Load(options.duration, options.connections, options.threads)
    with ExitStack() as stack:
        keys = stack.enter_context(company_jwt.serving(workdir))
        portal = Portal(binary, database.url,
                        {**database.server_env, **options.server_env, **company_jwt.server_env(keys)},
                        workdir / f"server-{rows}.log")
        say(f"{database.kind}, {rows} rows: creating the user, organization and client")
        for command in account.admin_commands() + company_jwt.admin_commands(account.org_slug, account.email):
            portal.admin(command)
        server = stack.enter_context(portal.serving())
        say("a token through the device flow, a session JWT through the signed-in browser, a company JWT")
        web = seed.sign_in(server.base_url, account)
        token = seed.api_token(server.base_url, account, web)
        jwt = seed.session_jwt(web)
        say(f"{options.pool} pending device codes through POST /auth/device/code")
        pool = seed.pending_pool(server.base_url, account.client_id, options.pool, workdir / f"pool-{rows}.txt")
        first_code = pool.read_text().split("\n", 1)[0]
        grow(database, tokens=rows - 1, pending=rows - options.pool,
             token_hash=sha256(token), code_hash=sha256(first_code))
        tokens, pending = counts(database)
        say(f"database holds {tokens} API tokens and {pending} pending device codes")

        proxy = None
        if options.nginx and nginx.available():
            say(f"nginx (auth_request to /auth/verify) in front of {server.base_url}")
            proxy = stack.enter_context(nginx.in_front_of(server.base_url, workdir, f"Bearer {token}"))
        elif options.nginx:
            say(f"no {nginx.NGINX}: the row through nginx is left out (scripts/interop-test.sh installs it)")
        seeded = Seeded(server.base_url, account.client_id, token, jwt, keys.sign(), pool, proxy)
        scenarios = all_scenarios(seeded, options.duration)
        warm_up(server.base_url, scenarios, load)
        fetches_before = keys.fetches[0]
        runs = [Run(scenario, []) for scenario in scenarios]
        for repeat in range(1, options.repeat + 1):
            for run in runs:
                # Lets the previous run's connections close, and the pool's 1 s interval pass.
                time.sleep(1.5)
                say(f"wrk {run.scenario.label} for {load.seconds} s ({repeat}/{options.repeat})")
                run.outcomes.append(wrk.run(server.base_url, run.scenario.make_request(), load))
                run.rss_mib = server.rss_mib()
        if keys.fetches[0] != fetches_before:
            raise RuntimeError(f"the portal fetched the company JWKS {keys.fetches[0] - fetches_before} times "
                               "under load: the keys should have been cached")
        check = None
        if options.memory:
            me = next(s for s in scenarios if s.key == "me_token")
            say(f"memory: {options.memory_warmup} requests of warm-up, then {options.memory_requests} more")
            check = memory.check(server, me, load, options.memory_warmup, options.memory_requests)
    return Measurement(database.kind, rows, tokens, pending, runs, check, portal.shutdown_problem())


def warm_up(base_url: str, scenarios: list[Scenario], load: wrk.Load) -> None:
    """A short run of each read-only route first, so that the first measured route does not
    pay for opening database connections or filling caches. The polls are left alone: an
    early poll would grow its code's interval and spoil the pool."""
    short = wrk.Load(2, load.connections, load.threads)
    for scenario in scenarios:
        if scenario.key in ("healthz", "readyz", "me_token", "me_jwt", "me_external_jwt", "verify_token", "nginx_me"):
            wrk.run(base_url, scenario.make_request(), short)
