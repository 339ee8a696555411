"""Running wrk with bench/wrk/route.lua against one route, and reading what it found."""

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .processes import spawn, stop

LUA_SCRIPT = Path(__file__).resolve().parent.parent / "wrk" / "route.lua"
# The variables route.lua reads; none may leak from the caller's environment into a run.
LUA_SETTINGS = ("BENCH_METHOD", "BENCH_AUTHORIZATION", "BENCH_BODY", "BENCH_POOL_FILE", "BENCH_THREADS")


@dataclass(frozen=True)
class Request:
    """What every request of a run sends. With `pool`, `body` has a "{device_code}" that
    each request fills with the next code of the pool file. `origin` sends the run somewhere
    else than the server (nginx in front of it)."""
    method: str
    path: str
    authorization: str | None = None
    body: str | None = None
    pool: Path | None = None
    origin: str | None = None

    def environment(self) -> dict[str, str]:
        settings = {"BENCH_METHOD": self.method, "BENCH_AUTHORIZATION": self.authorization,
                    "BENCH_BODY": self.body, "BENCH_POOL_FILE": self.pool and str(self.pool)}
        return {name: value for name, value in settings.items() if value is not None}


@dataclass(frozen=True)
class Load:
    seconds: int
    connections: int
    threads: int


@dataclass
class Outcome:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    answers: dict[str, int]          # "<status> <error or ->" -> count
    socket_errors: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def run(base_url: str, request: Request, load: Load) -> Outcome:
    env = {name: value for name, value in os.environ.items() if name not in LUA_SETTINGS}
    env.update(request.environment(), BENCH_THREADS=str(load.threads))
    command = ["/usr/bin/wrk", f"-t{load.threads}", f"-c{load.connections}", f"-d{load.seconds}s",
               "--timeout", "5s", "-s", str(LUA_SCRIPT), (request.origin or base_url) + request.path]
    process = spawn(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=load.seconds + 60)
    finally:
        stop(process)
    line = next((l for l in stdout.splitlines() if l.startswith("BENCH_RESULT ")), None)
    if process.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed on {request.method} {request.path}:\n{stdout}\n{stderr}")
    found = json.loads(line.removeprefix("BENCH_RESULT "))
    return Outcome(
        requests=found["requests"], seconds=found["duration_us"] / 1e6,
        p50_ms=found["p50_us"] / 1000, p99_ms=found["p99_us"] / 1000, max_ms=found["max_us"] / 1000,
        answers=found["answers"],
        socket_errors={kind: count for kind, count in found["socket_errors"].items() if count})


def summed(counts) -> dict[str, int]:
    """Counts by name (answers, socket errors) of several runs, added up."""
    total: dict[str, int] = {}
    for each in counts:
        for name, count in each.items():
            total[name] = total.get(name, 0) + count
    return total
