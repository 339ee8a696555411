"""N polls held at once on one instance (`--held N`): what they cost the server in memory, and
what they leave of `GET /me`'s throughput.

N pending device codes are made through `POST /auth/device/code`; then one asyncio thread of
this process opens N loopback connections (at most 200 connecting at a time, within the
listen backlog) and sends on each one poll with `Prefer: wait=30`. A poll answered
`authorization_pending` (its 30 s ran out) is sent again on its connection after the interval,
so that every code stays held however long the measurement takes; any other answer (a poll not
held, past DEVICE_POLL_MAX_HELD for instance) is counted and ends that connection.

The steps: wrk on `GET /me` (API token) just before; VmRSS; the N polls opened, until
`portal_device_polls_held` at /metrics reads N; VmRSS while they are held; wrk on `GET /me`
again while they are held (the gauge sampled every second of it); then every socket is closed
and the gauge watched until it reads 0 again. A held poll is not answered when its connection
closes: the server answers it (to a closed connection) when its wait runs out, so the gauge
comes back to 0 up to 30 s after the last poll was sent, and that time is reported."""

import asyncio
import re
import resource
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from . import seed, wrk
from .portal import BENCH_SETTINGS, Portal, Server

WAIT = 30
HELD_GAUGE = "portal_device_polls_held"
CONNECTING = 200                  # connections being opened at once
DEFAULT_LIMIT = 10_000            # the portal's DEVICE_POLL_MAX_HELD
THROUGHPUT_TARGET = 0.80          # /me while held / /me before
HELD_AGAIN = "400 authorization_pending (held)"   # a wait that ran out; the poll is sent again
SPARE_FDS = 500                   # beyond N, for wrk, the database and everything else


@dataclass
class HeldMeasurement:
    database: str
    asked: int
    me_before: wrk.Outcome | None = None
    me_held: wrk.Outcome | None = None
    rss_before_mib: float = 0
    rss_held_mib: float = 0
    rss_after_mib: float = 0           # once the gauge read 0 again
    opened_s: float = 0                # from the first connection to every poll sent (or failed)
    reached_s: float | None = None     # from the first connection to the gauge reading N
    gauge_max: float = 0
    gauge_during: list[float] = field(default_factory=list)   # each second of the wrk run
    answers: dict[str, int] = field(default_factory=dict)     # answers that came while holding
    errors: dict[str, int] = field(default_factory=dict)      # connections that failed
    released_s: float | None = None    # from closing the sockets to the gauge reading 0
    release_trace: list[tuple[float, float]] = field(default_factory=list)  # (s, gauge) as it fell
    problems: list[str] = field(default_factory=list)
    shutdown_problem: str | None = None

    @property
    def per_poll_kib(self) -> float:
        return (self.rss_held_mib - self.rss_before_mib) * 1024 / self.asked

    @property
    def ratio(self) -> float:
        return self.me_held.rate / self.me_before.rate


class Holder:
    """N connections, each with one held poll, on an event loop in a thread of its own."""

    def __init__(self, base_url: str, client_id: str, codes: list[str], interval: float):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.client_id, self.codes, self.interval = client_id, codes, interval
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.tasks: list[asyncio.Task] = []
        self.sent = 0
        self.answers: dict[str, int] = {}
        self.errors: dict[str, int] = {}

    def open(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=60)

    async def _start(self):
        connecting = asyncio.Semaphore(CONNECTING)
        self.tasks = [asyncio.create_task(self._hold(code, connecting)) for code in self.codes]

    async def _hold(self, code: str, connecting: asyncio.Semaphore):
        body = seed.poll_body(self.client_id, code).encode()
        request = (f"POST /auth/device/token HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                   f"Content-Type: application/x-www-form-urlencoded\r\nPrefer: wait={WAIT}\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        writer = None
        try:
            async with connecting:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), 30)
                writer.write(request)
                await writer.drain()
                self.sent += 1
            # Bounded: ten waits of 30 s are far more than any measurement takes.
            for _ in range(10):
                answer = await _read_answer(reader)
                self.answers[answer] = self.answers.get(answer, 0) + 1
                if answer != HELD_AGAIN:
                    return
                # Its wait ran out: hold it again, no sooner than the interval allows.
                await asyncio.sleep(self.interval + 0.2)
                writer.write(request)
                await writer.drain()
        except asyncio.CancelledError:
            raise
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as error:
            self.errors[type(error).__name__] = self.errors.get(type(error).__name__, 0) + 1
        finally:
            if writer is not None:
                writer.close()

    def close(self) -> None:
        """Closes every connection (ends every task) and the loop."""
        if not self.thread.is_alive():
            return
        async def cancel():
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
        asyncio.run_coroutine_threadsafe(cancel(), self.loop).result(timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()


async def _read_answer(reader: asyncio.StreamReader) -> str:
    """One response: "<status> <error of the body, or ->", with " (held)" when it says
    Preference-Applied."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    status = head.split(" ", 2)[1]
    length = re.search(r"(?im)^content-length:\s*(\d+)", head)
    body = (await reader.readexactly(int(length.group(1)))).decode("utf-8", "replace") if length else ""
    error = re.search(r'"error"\s*:\s*"([^"]*)"', body)
    held = re.search(r"(?im)^preference-applied:", head)
    return f"{status} {error.group(1) if error else '-'}{' (held)' if held else ''}"


def _raise_fd_limit(needed: int) -> None:
    """The server inherits this process's limit: both need one descriptor per held poll."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise SystemExit(f"--held {needed - SPARE_FDS} needs {needed} file descriptors; ulimit -n allows {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def _watch(server: Server, until, timeout: float, step: float = 0.25,
           trace: list | None = None) -> tuple[float | None, float]:
    """Reads the gauge until `until(value)` or `timeout` s: (seconds it took or None, last value).
    A server busy with thousands of connections opening or closing may answer /metrics slowly
    (a debug build, seconds): a read that fails is tried again, within the same `timeout`."""
    started = time.monotonic()
    value = float("nan")
    while True:
        left = timeout - (time.monotonic() - started)
        try:
            value = server.metric(HELD_GAUGE, timeout=max(left, 1))
            if trace is not None and (not trace or trace[-1][1] != value):
                trace.append((round(time.monotonic() - started, 2), value))
            if until(value):
                return time.monotonic() - started, value
        except OSError:
            pass
        if time.monotonic() - started > timeout:
            return None, value
        time.sleep(step)


def measure(options, database, binary: Path, workdir: Path, say) -> HeldMeasurement:
    n = options.held
    _raise_fd_limit(n + SPARE_FDS)
    result = HeldMeasurement(database.kind, n)
    account = seed.Account()
    env = {**database.server_env, **options.server_env}
    if n > DEFAULT_LIMIT:
        env["DEVICE_POLL_MAX_HELD"] = str(n)   # else the portal's default, 10,000
    portal = Portal(binary, database.url, env, workdir / "server-held.log")
    for command in account.admin_commands():
        portal.admin(command)
    load = wrk.Load(options.duration, options.connections, options.threads)
    interval = float(env.get("DEVICE_POLL_INTERVAL", BENCH_SETTINGS["DEVICE_POLL_INTERVAL"]))
    with portal.serving() as server:
        web = seed.sign_in(server.base_url, account)
        token = seed.api_token(server.base_url, account, web)
        me = wrk.Request("GET", "/me", authorization=f"Bearer {token}")
        say(f"held: {n} pending device codes through POST /auth/device/code")
        codes = seed.pending_pool(server.base_url, account.client_id, n, workdir / "held-codes.txt")
        codes = codes.read_text().split()

        wrk.run(server.base_url, me, wrk.Load(2, load.connections, load.threads))   # warm-up
        time.sleep(1.5)
        say(f"held: wrk GET /me for {load.seconds} s before")
        result.me_before = wrk.run(server.base_url, me, load)
        result.rss_before_mib = server.rss_mib()

        holder = Holder(server.base_url, account.client_id, codes, interval)
        say(f"held: opening {n} connections, one poll with Prefer: wait={WAIT} on each")
        started = time.monotonic()
        try:
            holder.open()
            deadline = started + 120
            while holder.sent + sum(holder.errors.values()) < n and time.monotonic() < deadline:
                time.sleep(0.1)
            result.opened_s = time.monotonic() - started
            reached, value = _watch(server, lambda v: v >= n, timeout=10)
            result.gauge_max = value
            if reached is None:
                result.problems.append(f"{HELD_GAUGE} reached {value:.0f}, not {n}")
            else:
                result.reached_s = time.monotonic() - started
            result.rss_held_mib = server.rss_mib()
            say(f"held: {value:.0f} held after {time.monotonic() - started:.1f} s;"
                f" wrk GET /me for {load.seconds} s while they are")
            sampling = threading.Event()
            sampler = threading.Thread(target=_sample, args=(server, result.gauge_during, sampling), daemon=True)
            sampler.start()
            try:
                result.me_held = wrk.run(server.base_url, me, load)
            finally:
                sampling.set()
                sampler.join(timeout=15)
            result.gauge_max = max([result.gauge_max, *(v for v in result.gauge_during if v == v)])
            result.rss_held_mib = max(result.rss_held_mib, server.rss_mib())
        finally:
            say("held: closing every connection")
            closed = time.monotonic()
            holder.close()
            result.answers, result.errors = dict(holder.answers), dict(holder.errors)
        released, value = _watch(server, lambda v: v == 0, timeout=WAIT + 15, step=0.5,
                                 trace=result.release_trace)
        if released is None:
            result.problems.append(f"{HELD_GAUGE} still {value:.0f} {WAIT + 15} s after the sockets closed")
        else:
            result.released_s = time.monotonic() - closed
        result.rss_after_mib = server.rss_mib()
    result.shutdown_problem = portal.shutdown_problem()
    _judge(result)
    return result


def _sample(server: Server, samples: list[float], stop: threading.Event) -> None:
    while not stop.wait(1.0):
        try:
            samples.append(server.metric(HELD_GAUGE, timeout=10))
        except OSError:
            samples.append(float("nan"))


def _judge(m: HeldMeasurement) -> None:
    not_held = {answer: count for answer, count in m.answers.items() if answer != HELD_AGAIN}
    if not_held:
        m.problems.append("answers that were not held: " + ", ".join(f"{c} × {a}" for a, c in not_held.items()))
    if m.errors:
        m.problems.append("connections that failed: " + ", ".join(f"{c} × {e}" for e, c in m.errors.items()))
    for name, outcome in (("before", m.me_before), ("while held", m.me_held)):
        if outcome and (set(outcome.answers) - {"200 -"} or outcome.socket_errors):
            m.problems.append(f"GET /me {name}: {outcome.answers} {outcome.socket_errors}")


def table(m: HeldMeasurement, header: str) -> str:
    lines = [f"{header}; {m.database}: {m.asked} polls held at once (Prefer: wait={WAIT}), one instance"]
    if m.me_before and m.me_held:
        lines += [
            f"{'GET /me (API token)':<32} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7}",
            f"{'  just before':<32} {m.me_before.rate:>8.0f} {m.me_before.p50_ms:>7.2f} {m.me_before.p99_ms:>7.2f}",
            f"{'  while held':<32} {m.me_held.rate:>8.0f} {m.me_held.p50_ms:>7.2f} {m.me_held.p99_ms:>7.2f}"
            f"   ratio {m.ratio:.2f} ≥{THROUGHPUT_TARGET:.2f} {'ok' if m.ratio >= THROUGHPUT_TARGET else 'MISS'}",
        ]
    during = [v for v in m.gauge_during if v == v]
    lines += [
        f"{HELD_GAUGE}: {m.gauge_max:.0f} at most"
        + (f", {m.reached_s:.1f} s after the first connection" if m.reached_s is not None else " (never N)")
        + (f"; {min(during):.0f}–{max(during):.0f} during the wrk run" if during else "")
        + (f"; 0 again {m.released_s:.1f} s after the sockets closed" if m.released_s is not None else ""),
        f"VmRSS: {m.rss_before_mib:.1f} MiB before, {m.rss_held_mib:.1f} MiB while held"
        f" ({m.per_poll_kib:+.1f} KiB per held poll, its connection included),"
        f" {m.rss_after_mib:.1f} MiB once released",
        f"every poll sent {m.opened_s:.1f} s after the first connection; answers while held: "
        + (", ".join(f"{c} × {a}" for a, c in sorted(m.answers.items())) or "none")
        + (" (a wait that ran out, held again)" if HELD_AGAIN in m.answers else ""),
    ]
    if during and min(during) < m.asked:
        lines.append(f"note: the gauge fell to {min(during):.0f} during the wrk run: waits ran out"
                     f" ({WAIT} s) and were held again; a shorter --duration keeps all {m.asked} held")
    lines += [f"FAIL: {problem}" for problem in m.problems]
    if m.shutdown_problem:
        lines.append(f"warning: {m.shutdown_problem}")
    return "\n".join(lines)


def failed(m: HeldMeasurement) -> bool:
    return bool(m.problems)
