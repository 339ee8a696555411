"""The printed tables, and the verdict on each run."""

from .benchmark import Measurement, Run
from .memory import LIMIT as MEMORY_LIMIT

FLAT_COST_TARGET = 0.90
FLAT_COST_ROUTES = ("me_token", "me_jwt", "verify_token", "poll_pending")


def problems(run: Run) -> list[str]:
    """What fails a route: answers other than the expected one (5xx included), socket errors."""
    found = [f"{count} × {answer}" for answer, count in sorted(run.unexpected().items())]
    return found + [f"{count} socket {kind} errors" for kind, count in run.socket_errors().items()]


def _answers(run: Run) -> str:
    found = problems(run)
    if found:
        return "UNEXPECTED: " + ", ".join(found) + (f" ({run.scenario.hint})" if run.scenario.hint else "")
    answers = run.answers()
    return f"ok: {answers.pop(run.scenario.expected, 0)} × {run.scenario.expected}" + "".join(
        f" (+{count} × {answer}, allowed)" for answer, count in answers.items())


def _target(ratio: float, target: float | None) -> str:
    if target is None:
        return ""
    return f"≥{target:.2f} {'ok' if ratio >= target else 'MISS'}"


def size_table(m: Measurement, header: str) -> str:
    readyz = m.run("readyz").outcome.rate
    repeated = len(m.runs[0].outcomes) > 1
    # With --repeat, the figures are those of each route's median run; "spread" is how far
    # apart its fastest and slowest runs were, a measure of the machine's noise.
    lines = [f"{header}; {m.database}: {m.tokens} API tokens, {m.pending} pending device codes"
             + (f"; medians of {len(m.runs[0].outcomes)} runs" if repeated else ""),
             f"{'route':<40} {'req/s':>8}{' spread' if repeated else ''} {'p50 ms':>7} {'p99 ms':>7}"
             f" {'/readyz':>7} {'target':<10} {'vs /me':>6} {'target':<10} {'RSS MiB':>7}  answers",
             "(vs /me: forward auth against /me with the API token, the company JWT against the session JWT)"]
    for run in m.runs:
        ratio = run.outcome.rate / readyz
        spread = f" {run.spread:>6.0%}" if repeated else ""
        # Forward auth against GET /me with the same API token (the route it stands in front of),
        # the company's session JWT against the portal's own.
        versus, versus_target = "", ""
        if run.scenario.versus:
            versus_ratio = run.outcome.rate / m.run(run.scenario.versus).outcome.rate
            versus, versus_target = f"{versus_ratio:.2f}", _target(versus_ratio, run.scenario.versus_target)
        lines.append(f"{run.scenario.label:<40} {run.outcome.rate:>8.0f}{spread} {run.outcome.p50_ms:>7.2f}"
                     f" {run.outcome.p99_ms:>7.2f} {ratio:>7.2f} {_target(ratio, run.scenario.target):<10}"
                     f" {versus:>6} {versus_target:<10} {run.rss_mib:>7.1f}  {_answers(run)}")
    if m.memory:
        lines.append(memory_line(m))
    if m.shutdown_problem:
        # Not one of the benchmark's checks, but a server that crashes when stopped loses the
        # requests it was still answering: worth seeing.
        lines.append(f"warning: {m.shutdown_problem}")
    return "\n".join(lines)


def memory_line(m: Measurement) -> str:
    check = m.memory
    line = (f"memory, {check.route}: VmRSS {check.warmup_rss_mib:.1f} MiB after {check.warmup_requests}"
            f" requests of warm-up, {check.rss_mib:.1f} MiB after {check.requests} more"
            f" ({check.growth:+.1%}, limit ±{MEMORY_LIMIT:.0%}) {'ok' if check.ok else 'FAIL'}")
    if check.unexpected:
        line += "; UNEXPECTED answers: " + ", ".join(f"{c} × {a}" for a, c in check.unexpected.items())
    return line


def flat_cost_table(small: Measurement, large: Measurement) -> str:
    lines = [f"flat cost: {large.tokens} tokens / {large.pending} pending codes"
             f" against {small.tokens} / {small.pending} ({small.database})",
             f"{'route':<40} {'req/s':>8} {'req/s':>8} {'ratio':>6}  target"]
    for key in FLAT_COST_ROUTES:
        before, after = small.run(key).outcome, large.run(key).outcome
        ratio = after.rate / before.rate
        lines.append(f"{small.run(key).scenario.label:<40} {before.rate:>8.0f} {after.rate:>8.0f}"
                     f" {ratio:>6.2f}  {_target(ratio, FLAT_COST_TARGET)}")
    return "\n".join(lines)


def failed(m: Measurement) -> bool:
    return any(problems(run) for run in m.runs) or (m.memory is not None and not m.memory.ok)
