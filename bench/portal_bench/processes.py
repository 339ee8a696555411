"""Starting child processes so that none outlives the benchmark.

Every process started here is written to the file named by BENCH_PIDFILE, together with
its executable: bench/run's exit trap kills whatever in that list is still running, even
when this Python process itself was killed and its `finally` blocks never ran."""

import os
import signal
import subprocess
import time


def spawn(command: list[str], **popen_args) -> subprocess.Popen:
    process = subprocess.Popen(command, **popen_args)
    pidfile = os.environ.get("BENCH_PIDFILE")
    if pidfile:
        with open(pidfile, "a") as listing:
            listing.write(f"{process.pid} {os.path.realpath(command[0])}\n")
    return process


def stop(process: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM (the portal shuts down cleanly on it), then SIGKILL after `grace` seconds."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if process.poll() is None:
        process.kill()
        process.wait()
