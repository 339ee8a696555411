"""bench/run's driver: options, one measurement per database size (or, with --latency or
--held, those measurements instead), the tables, the exit code (1 when any route gave an answer
other than its own, a socket error, a memory failure, or a latency or held-poll round failed)."""

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import held, latency, report
from .benchmark import measure, say
from .database import PostgresDatabase, SQLiteDatabase
from .portal import PACKAGE_ROOT


def parse_options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=(
        "Measures DevicePortal's routes with wrk on a fresh database and prints req/s, p50/p99 "
        "latency and the ratio of each to GET /readyz."))
    parser.add_argument("--postgres", action="store_true",
                        help="run against a throwaway PostgreSQL (scripts/with-postgres.sh) instead of SQLite")
    parser.add_argument("--pgbouncer", action="store_true", help=(
        "with --postgres (implied): the server reaches PostgreSQL through PgBouncer in transaction "
        "mode (scripts/with-pgbouncer.sh), with prepared_statements=false"))
    parser.add_argument("--no-build", action="store_true", help="use the last release build as it is")
    parser.add_argument("--rows", default="100", help=(
        "database sizes, comma-separated: N API tokens and N pending device codes (at least the "
        "pool); two sizes also print the flat-cost ratios (default 100)"))
    parser.add_argument("--flat-cost", action="store_true", help="the same as --rows 100,100000")
    parser.add_argument("--duration", type=int, default=10, help="seconds of each wrk run (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--repeat", type=int, default=1, help=(
        "runs of every route; the table shows each route's median run and the spread (default 1)"))
    parser.add_argument("--pool", type=int, default=20_000, help=(
        "pending device codes polled in turn (default 20000): large enough that none is polled "
        "sooner than the 1 s interval"))
    parser.add_argument("--memory", action="store_true", help=(
        "also check that VmRSS after --memory-requests requests of GET /me stays within 20%% of "
        "its value after --memory-warmup requests (takes minutes)"))
    parser.add_argument("--memory-warmup", type=int, default=50_000)
    parser.add_argument("--memory-requests", type=int, default=1_000_000)
    parser.add_argument("--no-nginx", action="store_true", help=(
        "leave out the row of GET /me through nginx (auth_request to /auth/verify), which is run "
        "when /usr/sbin/nginx exists"))
    parser.add_argument("--latency", action="store_true", help=(
        "instead of the route table: approval -> token latency with Prefer: wait=25 (one instance; "
        "with --postgres also across two instances) and with plain polling every 5 s (about 2 minutes)"))
    parser.add_argument("--latency-rounds", type=int, default=30, help="rounds of each held case (default 30)")
    parser.add_argument("--plain-rounds", type=int, default=10, help="rounds of plain polling (default 10)")
    parser.add_argument("--held", type=int, nargs="?", const=10_000, metavar="N", help=(
        "instead of the route table: N polls held at once (default 10000): the gauge, VmRSS per "
        "held poll, GET /me throughput while they are held against just before (with --latency, both)"))
    parser.add_argument("--log-level", help="LOG_LEVEL of the server (default: the portal's own)")
    parser.add_argument("--keep", action="store_true", help="keep the databases and the server log")
    options = parser.parse_args()
    options.sizes = [100, 100_000] if options.flat_cost else [int(n) for n in options.rows.split(",")]
    options.server_env = {"LOG_LEVEL": options.log_level} if options.log_level else {}
    options.nginx = not options.no_nginx
    options.routes = not (options.latency or options.held)
    if options.held is not None and options.held < 1:
        parser.error("--held needs N ≥ 1")
    if options.latency_rounds < 1 or options.plain_rounds < 0:
        parser.error("--latency-rounds must be ≥ 1 and --plain-rounds ≥ 0")
    return options


def machine_header(options, binary: Path) -> str:
    commit = subprocess.run(["git", "-C", str(PACKAGE_ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    # Sources are edited while benchmarks run: say whether the binary is older than them.
    built = binary.stat().st_mtime
    edited = max(path.stat().st_mtime for path in (PACKAGE_ROOT / "Sources").rglob("*.swift"))
    kind = "DEBUG" if "/debug/" in str(binary) else "release"
    build = (f"{kind} binary of {time.strftime('%H:%M', time.localtime(built))}, HEAD {commit}"
             f"{', Sources edited since' if edited > built else ''}")
    # Builds and tests on the machine take CPU from the server and wrk alike: say so.
    others = sorted({name for pid in os.listdir("/proc") if pid.isdigit() for name in _swift_work(pid)})
    load = Path("/proc/loadavg").read_text().split()[:3]
    return (f"{build}; "
            f"{os.cpu_count()} cores, load {' '.join(load)}, "
            f"{'RUNNING: ' + ', '.join(others) if others else 'no swift-build or tests running'}; "
            f"wrk -t{options.threads} -c{options.connections} -d{options.duration}s")


def _swift_work(pid: str) -> list[str]:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [name for name in ("swift-build", "swift-test", ".xctest") if name.encode() in command]


def main() -> int:
    options = parse_options()
    options.postgres = options.postgres or options.pgbouncer
    binary = Path(os.environ.get("PORTAL_BIN", PACKAGE_ROOT / ".build-release/release/portal"))
    workdir = Path(os.environ.get("BENCH_WORKDIR") or tempfile.mkdtemp(prefix="portal-bench."))
    if options.postgres:
        # With --pgbouncer, scripts/with-pgbouncer.sh points DATABASE_URL at PgBouncer and keeps
        # the cluster itself in POSTGRES_ADMIN_URL (PgBouncer cannot create databases).
        served = os.environ.get("DATABASE_URL", "")
        cluster = os.environ.get("POSTGRES_ADMIN_URL", served)
        if not cluster.startswith("postgres"):
            sys.exit("--postgres needs DATABASE_URL from scripts/with-postgres.sh: run it through bench/run")
        new_database = lambda name: PostgresDatabase(cluster, f"bench_{name}", served)
    else:
        new_database = lambda name: SQLiteDatabase(workdir / f"sqlite-{name}")

    if not options.routes:
        return other_modes(options, new_database, binary, workdir)
    measurements = []
    for rows in options.sizes:
        header = machine_header(options, binary)
        measured = measure(rows, options, new_database(f"rows_{rows}"), binary, workdir)
        measurements.append(measured)
        print("\n" + report.size_table(measured, header), flush=True)
    if len(measurements) >= 2:
        print("\n" + report.flat_cost_table(measurements[0], measurements[-1]), flush=True)
    save(measurements, measurements[0].database)
    if options.keep:
        say(f"databases and server log kept in {workdir}")
    failures = [m for m in measurements if report.failed(m)]
    print("\nFAILED: see UNEXPECTED or FAIL above" if failures
          else "\nevery route gave only its expected answer, no socket errors")
    return 1 if failures else 0


def other_modes(options, new_database, binary: Path, workdir: Path) -> int:
    """--latency and --held: each on a server and database of its own."""
    failed = False
    if options.latency:
        header = machine_header(options, binary).rsplit("; wrk", 1)[0]
        measured = latency.measure(options, new_database("latency"), binary, workdir, say)
        print("\n" + latency.table(measured, header), flush=True)
        save([measured], f"latency-{measured.database}")
        failed |= latency.failed(measured)
    if options.held:
        header = machine_header(options, binary)
        measured = held.measure(options, new_database("held"), binary, workdir, say)
        print("\n" + held.table(measured, header), flush=True)
        save([measured], f"held-{measured.database}")
        failed |= held.failed(measured)
    if options.keep:
        say(f"databases and server logs kept in {workdir}")
    print("\nFAILED: see FAIL above" if failed else "\nevery round and every held poll went as it should")
    return 1 if failed else 0


def save(measurements, name: str) -> None:
    """Every figure, as JSON under bench/results/, to compare runs later."""
    folder = PACKAGE_ROOT / "bench/results"
    folder.mkdir(exist_ok=True)
    path = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}.json"
    # The scenarios' request factories are left out; paths are written as text.
    plain = lambda value: None if callable(value) else str(value)
    path.write_text(json.dumps([dataclasses.asdict(m) for m in measurements], indent=1, default=plain))
    say(f"figures saved to {path.relative_to(PACKAGE_ROOT)}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        # The servers are stopped by the `finally` blocks on the way out, wrk by the signal itself.
        sys.exit(130)
