"""Whether the server's memory stays put under a long run: VmRSS after a warm-up, then after
a million more requests, must differ by at most 20%. wrk runs for a time, not a count, so the
requests are driven in runs sized from the rate seen so far, RSS read after each."""

import math
from dataclasses import dataclass, field

from . import wrk
from .portal import Server
from .scenarios import Scenario

LIMIT = 0.20


@dataclass
class MemoryCheck:
    route: str
    warmup_requests: int = 0
    warmup_rss_mib: float = 0
    requests: int = 0                       # after the warm-up
    rss_mib: float = 0
    trace: list[tuple[int, float]] = field(default_factory=list)   # (requests in all, RSS)
    unexpected: dict[str, int] = field(default_factory=dict)

    @property
    def growth(self) -> float:
        return self.rss_mib / self.warmup_rss_mib - 1

    @property
    def ok(self) -> bool:
        return abs(self.growth) <= LIMIT and not self.unexpected


def check(server: Server, scenario: Scenario, load: wrk.Load, warmup: int, requests: int) -> MemoryCheck:
    result = MemoryCheck(scenario.label)
    rate = None
    done = 0

    def drive(goal: int) -> None:
        nonlocal rate, done
        while done < goal:
            # A last run just long enough, and no run longer than the configured duration.
            seconds = load.seconds if rate is None else min(load.seconds, math.ceil((goal - done) / rate))
            outcome = wrk.run(server.base_url, scenario.make_request(),
                              wrk.Load(max(seconds, 1), load.connections, load.threads))
            rate, done = outcome.rate, done + outcome.requests
            result.trace.append((done, server.rss_mib()))
            socket_errors = {f"socket {kind} error": count for kind, count in outcome.socket_errors.items()}
            result.unexpected = wrk.summed([result.unexpected, scenario.unexpected(outcome.answers), socket_errors])

    drive(warmup)
    result.warmup_requests, result.warmup_rss_mib = done, server.rss_mib()
    drive(result.warmup_requests + requests)
    result.requests, result.rss_mib = done - result.warmup_requests, server.rss_mib()
    return result
