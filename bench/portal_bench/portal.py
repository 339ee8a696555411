"""The release binary run as an operator runs it: admin commands, then `portal serve`."""

import os
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.request import urlopen

from .processes import spawn, stop

PACKAGE_ROOT = Path(__file__).resolve().parents[2]

# Settings of the runs: cheap password hashing for seeding (the floor the portal allows),
# a 1 s interval so that a pool of 20,000 codes is never polled early, codes and JWTs that
# outlive the longest run (a memory check of a million requests takes minutes), and no per-IP
# limit on device codes (every request of the benchmark comes from 127.0.0.1).
BENCH_SETTINGS = {
    "BCRYPT_COST": "10",
    "DEVICE_CODE_RATE_LIMIT": "0",
    "DEVICE_POLL_INTERVAL": "1",
    "DEVICE_CODE_TTL": "86400",
    "SESSION_JWT_TTL": "3600",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Server:
    process: subprocess.Popen
    base_url: str

    def rss_mib(self) -> float:
        """Resident memory (VmRSS) of the server process."""
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS in /proc status")

    def metric(self, name: str, timeout: float = 30) -> float:
        """The value of an unlabelled series at /metrics (answered to loopback without a token)."""
        with urlopen(self.base_url + "/metrics", timeout=timeout) as answer:
            text = answer.read().decode()
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise RuntimeError(f"no {name} at /metrics")


class Portal:
    """One `portal serve` (and the admin commands) on one database; two Portals with the same
    database URL and PORTAL_SECRET are two instances of one deployment."""

    def __init__(self, binary: Path, database_url: str, extra_env: dict[str, str], log: Path):
        self.binary = binary
        self.log = log
        self.exit_status: int | None = None     # of the last `serve`, once stopped
        self.env = {**os.environ, **BENCH_SETTINGS, **extra_env, "DATABASE_URL": database_url}

    def _run(self, arguments: list[str], **popen_args) -> subprocess.Popen:
        # Templates/ and Public/ are read from the working directory.
        return spawn([str(self.binary), *arguments], cwd=PACKAGE_ROOT, env=self.env, **popen_args)

    def admin(self, arguments: list[str]) -> None:
        process = self._run(arguments, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        output, _ = process.communicate(timeout=120)
        if process.returncode != 0:
            raise RuntimeError(f"portal {arguments[0]} failed ({process.returncode}):\n{output}")

    @contextmanager
    def serving(self):
        port = free_port()
        with open(self.log, "ab") as log:
            process = self._run(["serve", "--hostname", "127.0.0.1", "--port", str(port)],
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            server = Server(process, f"http://127.0.0.1:{port}")
            self._wait_until_live(server)
            yield server
        finally:
            stop(process)
            self.exit_status = process.returncode

    def shutdown_problem(self) -> str | None:
        """How the last `serve` failed to exit cleanly (status 0) on SIGTERM, with the log's reason."""
        if self.exit_status == 0:
            return None
        how = ("was still running 10 s after SIGTERM and was killed" if self.exit_status == -signal.SIGKILL
               else f"exited with {self.exit_status} on SIGTERM")
        lines = self.log.read_text(errors="replace").splitlines()
        # The crash's own message, else the signal that the backtracer names.
        reasons = [line.strip(" *") for marker in ("runtime failure", "Fatal error", "*** Signal")
                   for line in lines if marker in line]
        return f"portal serve {how}" + (f" ({reasons[0]})" if reasons else "")

    def _wait_until_live(self, server: Server, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"portal serve exited with {server.process.returncode}:\n{self.log_tail()}")
            try:
                with urlopen(server.base_url + "/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"portal serve did not answer /healthz in {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
