"""Approval → token latency: how long after the person's approval the app has its token.

Each round is one device flow on a fresh code: the app (a thread) polls the token endpoint,
the person (this thread, signed in through the login form) enters the code and approves it
with the same form posts a browser sends; the latency is the time from the answer to the
approving post (`POST /auth/device/confirm`) to the app's token answer, both read on this
machine's monotonic clock. A token that arrives before the approval page has been read counts
as a latency below zero (the server wakes the poll when the approval commits, before the page
is written); nothing is clamped. Beside it, the time from the sending of the approving post to
the token answer: the approval's own handling included, an upper bound.

Three cases, on a server of their own with DEVICE_POLL_INTERVAL=5 (what a deployment uses):
- held, one instance: the app keeps one `Prefer: wait=25` poll open (re-polling at the
  interval after an `authorization_pending` answer) and the person approves on the same
  instance, once /metrics shows the poll held and a random 0-0.5 s later;
- held across instances (PostgreSQL only): the same poll held on instance A, the approval on
  instance B, a second `portal serve` on the same database and PORTAL_SECRET: the poll is
  woken by NOTIFY (through PgBouncer, which cannot LISTEN, by the 2 s sweep of held codes);
- plain polling, one instance: no Prefer, a poll every 5 s, the approval at moments spread
  evenly over the interval after the first answer (round k of n at (k + 0.5) / n of it, in a
  shuffled order); the latency is then up to the interval by design, about half of it at p50.

p50 and p99 are nearest-rank percentiles (with 30 rounds the p99 is the slowest round)."""

import math
import random
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from . import seed
from .client import Client
from .portal import Portal, Server

INTERVAL = 5
WAIT = 25
TARGET_P50_MS = 100
TARGET_P99_MS = 250
HELD_GAUGE = "portal_device_polls_held"


@dataclass
class Case:
    key: str
    label: str
    samples_ms: list[float] = field(default_factory=list)       # from the approval's answer
    from_sent_ms: list[float] = field(default_factory=list)     # from the approving post's sending
    problems: list[str] = field(default_factory=list)
    targets: bool = True                 # whether the held-poll targets apply
    skipped: str | None = None           # why the case was not run

    def percentile(self, p: float, samples: list[float] | None = None) -> float:
        ordered = sorted(self.samples_ms if samples is None else samples)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class LatencyMeasurement:
    database: str
    interval: int
    wait: int
    cases: list[Case]
    shutdown_problems: list[str]


class App(threading.Thread):
    """The device's side of one flow: polls until it has its token (or `deadline` passes),
    keeping to the interval (+5 s on slow_down) as RFC 8628 asks."""

    def __init__(self, base_url: str, client_id: str, device_code: str, wait: int | None, timeout: float):
        super().__init__(daemon=True)
        self.base_url, self.client_id, self.device_code, self.wait = base_url, client_id, device_code, wait
        self.deadline = time.monotonic() + timeout
        self.first_answer = threading.Event()
        self.token_at: float | None = None
        self.preference_applied: str | None = None
        self.failure: str | None = None
        self.polls = 0

    def run(self):
        app = Client(self.base_url)
        interval = INTERVAL
        headers = {"Prefer": f"wait={self.wait}"} if self.wait else None
        try:
            while time.monotonic() < self.deadline:
                answer = seed.poll_with(app, self.client_id, self.device_code, headers)
                answered_at = time.monotonic()
                self.polls += 1
                if answer.status == 200:
                    self.token_at = answered_at
                    self.preference_applied = answer.headers.get("Preference-Applied")
                    return
                error = answer.json().get("error") if answer.status == 400 else None
                if error == "slow_down":
                    interval += 5
                elif error != "authorization_pending":
                    self.failure = f"poll answered {answer.status} {answer.text[:200]}"
                    return
                self.first_answer.set()
                time.sleep(interval)
            self.failure = "no token before the round's deadline"
        except Exception as error:  # noqa: BLE001 - reported as the round's problem
            self.failure = f"poll failed: {error!r}"
        finally:
            self.first_answer.set()
            app.close()


def _wait_until_held(server: Server, at_least: float, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while server.metric(HELD_GAUGE) < at_least:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{HELD_GAUGE} did not reach {at_least:.0f} in {timeout:.0f} s")
        time.sleep(0.01)


def _round(case: Case, account: seed.Account, polled: Server, approver: Client, held: bool, delay: float):
    """One flow; the person approves `delay` s after the poll is held (held) or after the app's
    first answer (plain)."""
    device = Client(polled.base_url)
    code = seed.request_code(device, account.client_id, f"bench-latency-{case.key}")
    device.close()
    app = App(polled.base_url, account.client_id, code["device_code"], WAIT if held else None,
              timeout=WAIT + 3 * INTERVAL + 15 if held else 6 * INTERVAL)
    # Polls this instance holds already (none, unless an earlier round failed): this round's is one more.
    before = polled.metric(HELD_GAUGE) if held else 0
    app.start()
    try:
        if held:
            _wait_until_held(polled, before + 1)
            time.sleep(delay)
        else:
            app.first_answer.wait(timeout=30)
            time.sleep(delay)
        sent_at, approved_at = seed.approve(approver, account, code["user_code"])
    finally:
        app.join(timeout=WAIT + 6 * INTERVAL + 30)
    if app.failure or app.token_at is None:
        case.problems.append(app.failure or "the app never finished")
        return
    if held and app.preference_applied != f"wait={WAIT}":
        case.problems.append(f"token answer with Preference-Applied {app.preference_applied!r}")
    case.samples_ms.append((app.token_at - approved_at) * 1000)
    case.from_sent_ms.append((app.token_at - sent_at) * 1000)


def _run_case(case: Case, rounds: int, say, account, polled, approver, held: bool) -> None:
    say(f"latency: {case.label}, {rounds} rounds")
    if held:
        # A random moment of the first half second of the hold.
        jitter = random.Random(8628)
        delays = [jitter.uniform(0, 0.5) for _ in range(rounds)]
    else:
        # Where in the interval after an answer the approval falls decides the latency (the
        # rest of the interval): spread evenly over it, in a shuffled order, so that even ten
        # rounds sample the whole interval.
        delays = [(number + 0.5) * INTERVAL / rounds for number in range(rounds)]
        random.Random(8628).shuffle(delays)
    for number, delay in enumerate(delays):
        try:
            _round(case, account, polled, approver, held, delay)
        except Exception as error:  # noqa: BLE001 - a failed round is counted, the others go on
            case.problems.append(f"round {number + 1}: {error}")
        # A run of failures means something is broken for good: stop early rather than wait.
        if len(case.problems) >= 3 and not case.samples_ms:
            case.problems.append("stopped after 3 failed rounds")
            return


def measure(options, database, binary: Path, workdir: Path, say) -> LatencyMeasurement:
    account = seed.Account()
    env = {**database.server_env, **options.server_env, "DEVICE_POLL_INTERVAL": str(INTERVAL)}
    first = Portal(binary, database.url, env, workdir / "server-latency-a.log")
    for command in account.admin_commands():
        first.admin(command)
    two = database.kind != "sqlite"
    second = Portal(binary, database.url, env, workdir / "server-latency-b.log") if two else None
    held = Case("held_one", f"held (Prefer: wait={WAIT}), one instance")
    # Through PgBouncer nothing can LISTEN: the 2 s sweep of held codes answers, by design slower.
    swept = database.kind == "pgbouncer"
    across = Case("held_across", "held, poll on A, approval on B" + (" (2 s sweep)" if swept else " (NOTIFY)"),
                  targets=not swept)
    plain = Case("plain_one", f"plain polling every {INTERVAL} s, one instance", targets=False)
    with ExitStack() as stack:
        a = stack.enter_context(first.serving())
        b = stack.enter_context(second.serving()) if second else None
        web_a = seed.sign_in(a.base_url, account)
        _run_case(held, options.latency_rounds, say, account, a, web_a, True)
        if b:
            web_b = seed.sign_in(b.base_url, account)
            _run_case(across, options.latency_rounds, say, account, a, web_b, True)
        else:
            across.skipped = "needs a second instance on one database: --postgres"
        _run_case(plain, options.plain_rounds, say, account, a, web_a, False)
    problems = [problem for portal in (first, second) if portal for problem in [portal.shutdown_problem()] if problem]
    return LatencyMeasurement(database.kind, INTERVAL, WAIT, [held, across, plain], problems)


def table(m: LatencyMeasurement, header: str) -> str:
    lines = [f"{header}; {m.database}: approval → token latency, from the answer to POST /auth/device/confirm"
             f" to the app's token answer; DEVICE_POLL_INTERVAL={m.interval}",
             f"{'case':<48} {'rounds':>6} {'min ms':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  targets"
             f"{'':<24}  from the post sent: p50, p99 ms"]
    for case in m.cases:
        if case.skipped:
            lines.append(f"{case.label:<48} {'-':>6}  skipped: {case.skipped}")
            continue
        if not case.samples_ms:
            lines.append(f"{case.label:<48} {0:>6}  FAIL: " + "; ".join(case.problems[:3]))
            continue
        p50, p99 = case.percentile(50), case.percentile(99)
        verdict = (f"p50 <{TARGET_P50_MS} {'ok' if p50 < TARGET_P50_MS else 'MISS'},"
                   f" p99 <{TARGET_P99_MS} {'ok' if p99 < TARGET_P99_MS else 'MISS'}") if case.targets else "(none)"
        lines.append(f"{case.label:<48} {len(case.samples_ms):>6} {min(case.samples_ms):>8.1f} {p50:>8.1f} {p99:>8.1f}"
                     f" {max(case.samples_ms):>8.1f}  {verdict:<32}"
                     f" {case.percentile(50, case.from_sent_ms):>8.1f} {case.percentile(99, case.from_sent_ms):>8.1f}")
        if case.problems:
            lines.append(f"    FAIL: {len(case.problems)} rounds: " + "; ".join(case.problems[:3]))
    lines += [f"warning: {problem}" for problem in m.shutdown_problems]
    return "\n".join(lines)


def failed(m: LatencyMeasurement) -> bool:
    return any(case.problems or (not case.skipped and not case.samples_ms) for case in m.cases)
