#!/usr/bin/env bash
# Out-of-process interop tests: a third-party OAuth client (Authlib, oauthlib), a headless
# Chromium and a real nginx (forward auth) drive the device flow against a real `portal serve` (SQLite); the CLI tests run the
# executable; the multi-instance tests run three `portal serve` on one PostgreSQL database; a
# hostile-request fuzzer hits every page, form, upload, OAuth and API route on SQLite and on
# PostgreSQL (test_fuzz_pages.py); the outage test stops and starts the PostgreSQL cluster under
# load (test_database_outage.py); a real SMTP server (aiosmtpd) receives the portal's mail, stopped
# and started again, with one instance on SQLite and two on PostgreSQL (test_mail.py). So run this inside scripts/with-postgres.sh (the PostgreSQL
# tests fail without a postgres:// DATABASE_URL):
#   scripts/with-postgres.sh bash scripts/interop-test.sh
# Extra arguments go to pytest, e.g. the PostgreSQL tests only, through PgBouncer:
#   scripts/with-postgres.sh scripts/with-pgbouncer.sh bash scripts/interop-test.sh -m postgres
# or one part: ... bash scripts/interop-test.sh -k fuzz_pages   (FUZZ_PAGES_REQUESTS, _SECONDS, _SEED)
# Assumes the debug build exists (the main test script builds first); override with PORTAL_BIN.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export PORTAL_BIN="${PORTAL_BIN:-$ROOT/.build/debug/portal}"
if [[ ! -x "$PORTAL_BIN" ]]; then
    echo "interop-test: no portal binary at $PORTAL_BIN (run 'swift build' first)" >&2
    exit 1
fi

# Headless Chromium and its driver (Debian packages), only when missing.
if [[ ! -x /usr/bin/chromedriver ]]; then
    if [[ "$(id -u)" -ne 0 ]]; then
        echo "interop-test: /usr/bin/chromedriver is missing; as root run: apt-get install -y chromium chromium-driver" >&2
        exit 1
    fi
    apt-get -o DPkg::Lock::Timeout=600 update
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y chromium chromium-driver
fi

# Debian's nginx (built with auth_request), for the forward-auth tests; only when missing. A
# policy-rc.d that says no keeps the package from starting its own nginx on port 80.
if [[ ! -x /usr/sbin/nginx ]]; then
    if [[ "$(id -u)" -ne 0 ]]; then
        echo "interop-test: nginx is missing; as root run: apt-get install -y nginx" >&2
        exit 1
    fi
    POLICY=/usr/sbin/policy-rc.d
    [[ -e "$POLICY" ]] || { printf '#!/bin/sh\nexit 101\n' >"$POLICY"; chmod +x "$POLICY"; ADDED_POLICY=1; }
    apt-get -o DPkg::Lock::Timeout=600 update
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y nginx
    [[ -n "${ADDED_POLICY:-}" ]] && rm -f "$POLICY"
fi

# Python tools in a private venv, installed once (Authlib, oauthlib, Selenium, PyJWT, Schemathesis...).
source "$ROOT/scripts/python-venv.sh"

# Screenshots and the fuzzer's findings (fuzz-pages-*.json) for a human to look at, outside the repository.
export INTEROP_ARTIFACTS="${INTEROP_ARTIFACTS:-$(mktemp -d "${TMPDIR:-/tmp}/portal-interop-shots.XXXXXX")}"
echo "interop-test: screenshots and fuzzer reports go to $INTEROP_ARTIFACTS"

# -p no:cacheprovider: leave no .pytest_cache behind in the repository.
exec "$PY" -m pytest -q -p no:cacheprovider -rfEs Tests/interop "$@"
