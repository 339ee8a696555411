"""Debian's nginx in front of the portal, as docs/FORWARD-AUTH.md configures it: every request
is first asked of `GET /auth/verify` (auth_request), and the portal's identity headers are set
on the request to the upstream, which here is the portal's own `GET /me`. nginx is not
installed by the benchmark (scripts/interop-test.sh installs it); without it the row is left
out of the table. Its configuration and error.log are kept with --keep.

Two things differ from the documentation's configuration, both what a deployment under load
does: nginx keeps its connections to the portal open (an `upstream` with `keepalive`, HTTP/1.1;
without them every request would open two TCP connections, and a 10 s run would run out of
loopback ports), and `daemon off`, so that the benchmark's own process bookkeeping stops it."""

import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

from .portal import free_port
from .processes import spawn, stop

NGINX = Path("/usr/sbin/nginx")

# One worker: the two cores are shared with the portal and wrk already.
CONF = """
worker_processes 1;
daemon off;
error_log {dir}/error.log;
pid {dir}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    upstream portal {{
        server {portal};
        keepalive 64;
    }}

    server {{
        listen 127.0.0.1:{port};

        # The guard's decision for every request; only the headers go along, not the body.
        location = /_portal_verify {{
            internal;
            proxy_pass http://portal/auth/verify;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
        }}

        # The protected service: the portal's own /me, with the Authorization header the
        # client sent and the identity headers of the portal's answer.
        location / {{
            auth_request /_portal_verify;
            include {identity};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://portal;
        }}
    }}
}}
"""

# The identity headers as docs/FORWARD-AUTH.md copies them (the file the interop tests include).
IDENTITY_CONF = Path(__file__).resolve().parents[2] / "deploy/nginx/portal-identity.conf"


def available() -> bool:
    return NGINX.is_file()


@contextmanager
def in_front_of(portal_base_url: str, workdir: Path, authorization: str):
    """nginx on a free loopback port in front of the portal; yields its base URL once a
    request through it with `authorization` answered 200."""
    folder = Path(tempfile.mkdtemp(prefix="nginx.", dir=workdir))
    port = free_port()
    conf = folder / "nginx.conf"
    conf.write_text(CONF.format(dir=folder, port=port, portal=portal_base_url.removeprefix("http://"),
                                identity=IDENTITY_CONF))
    with open(folder / "stderr.log", "ab") as log:
        process = spawn([str(NGINX), "-c", str(conf), "-p", str(folder)],
                        stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_through(process, base, authorization, folder)
        yield base
    finally:
        stop(process)
        if process.returncode not in (0, None):
            print(f"[bench] nginx exited with {process.returncode}", flush=True)
        # The folder (configuration, error.log) goes with the work folder, unless --keep.


def _wait_until_through(process, base: str, authorization: str, folder: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with {process.returncode}:\n{_logs(folder)}")
        try:
            with urlopen(Request(base + "/me", headers={"Authorization": authorization}), timeout=5) as answer:
                if answer.status == 200:
                    return
        except HTTPError as error:
            raise RuntimeError(f"GET /me through nginx answered {error.code}:\n{_logs(folder)}")
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nginx did not answer in {timeout:.0f} s:\n{_logs(folder)}")


def _logs(folder: Path) -> str:
    return "\n".join(path.read_text(errors="replace")[-2000:]
                     for path in (folder / "error.log", folder / "stderr.log") if path.exists())
