"""The watch on every server (conftest.py's makereport hook): a `portal serve` that dies fails the
test during which it died, with its exit code and log, and not the tests after it. Checked by a
small pytest session of its own that uses this suite's conftest and kills a server on purpose."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent

INNER_CONFTEST = f"""
import importlib.util, sys
sys.path.insert(0, {str(HERE)!r})
spec = importlib.util.spec_from_file_location("interop_conftest", {str(HERE / "conftest.py")!r})
interop_conftest = importlib.util.module_from_spec(spec)
sys.modules["interop_conftest"] = interop_conftest
spec.loader.exec_module(interop_conftest)
pytest_runtest_makereport = interop_conftest.pytest_runtest_makereport
"""

INNER_TESTS = """
import signal
from interop_conftest import Server, _free_port, portal_env

def test_the_server_dies_here(tmp_path):
    server = Server(portal_env(DATABASE_URL=f"sqlite://{tmp_path}/portal.sqlite"), _free_port(), tmp_path / "serve.log")
    server.wait_ready()
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()

def test_a_later_test_is_not_blamed():
    pass
"""


def test_a_server_that_dies_fails_the_test_during_which_it_died(tmp_path):
    (tmp_path / "conftest.py").write_text(textwrap.dedent(INNER_CONFTEST))
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(INNER_TESTS))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", str(tmp_path)],
                          cwd=tmp_path, env=os.environ.copy(), capture_output=True, text=True, timeout=180)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "1 failed, 1 passed" in output, output
    assert "FAILED test_inner.py::test_the_server_dies_here" in output, output
    assert "died with exit code -9 (SIGKILL)" in output, output
    assert "Server started on" in output, "the report carries the end of the server's log:\n" + output
