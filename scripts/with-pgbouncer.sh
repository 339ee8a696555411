#!/usr/bin/env bash
# Runs a command with DATABASE_URL pointing at a throwaway PgBouncer in transaction pooling mode
# in front of the PostgreSQL that DATABASE_URL names; run it inside scripts/with-postgres.sh:
#   scripts/with-postgres.sh scripts/with-pgbouncer.sh bash scripts/interop-test.sh -m postgres
# In transaction pooling mode consecutive transactions of one client may run on different server
# connections, and PgBouncer 1.18 (Debian's) keeps no prepared statements, so the portal must not
# use named prepared statements there: DATABASE_URL gets `?prepared_statements=false`.
# PgBouncer forwards every database name (`* = ...`), so tests can make databases of their own;
# it cannot create or drop them, so POSTGRES_ADMIN_URL keeps naming PostgreSQL itself.
# The command also sees PGBOUNCER_PORT. PgBouncer is stopped afterwards, whatever happens.
set -euo pipefail

if [[ "${DATABASE_URL:-}" != postgres://* && "${DATABASE_URL:-}" != postgresql://* ]]; then
    echo "with-pgbouncer: DATABASE_URL must name PostgreSQL (run inside scripts/with-postgres.sh)" >&2
    exit 1
fi
if ! command -v pgbouncer >/dev/null && [[ ! -x /usr/sbin/pgbouncer ]]; then
    if [[ "$(id -u)" -ne 0 ]]; then
        echo "with-pgbouncer: pgbouncer is missing; as root run: apt-get install -y pgbouncer" >&2
        exit 1
    fi
    apt-get -o DPkg::Lock::Timeout=600 update
    # policy-rc.d 101: the package must not start Debian's own pgbouncer service.
    POLICY=/usr/sbin/policy-rc.d
    [[ -e "$POLICY" ]] || { printf '#!/bin/sh\nexit 101\n' >"$POLICY"; chmod +x "$POLICY"; ADDED_POLICY=1; }
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y pgbouncer
    [[ -n "${ADDED_POLICY:-}" ]] && rm -f "$POLICY"
fi
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)

# The PostgreSQL that DATABASE_URL names: host, port, user, database.
read -r PG_HOST PG_PORT PG_USER PG_DB < <(python3 -c '
import sys; from urllib.parse import urlparse
u = urlparse(sys.argv[1]); print(u.hostname, u.port or 5432, u.username or "portal", u.path.lstrip("/") or "portal")
' "$DATABASE_URL")

DIR=$(mktemp -d "${TMPDIR:-/tmp}/portal-pgbouncer.XXXXXX")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_postgres() { if [[ "$(id -u)" -eq 0 ]]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }

cat >"$DIR/userlist.txt" <<USERS
"$PG_USER" ""
USERS
cat >"$DIR/pgbouncer.ini" <<INI
[databases]
* = host=$PG_HOST port=$PG_PORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PORT
unix_socket_dir = $DIR
auth_type = trust
auth_file = $DIR/userlist.txt
pool_mode = transaction
; Three instances with their pools, a fuzzer and an outage test: many clients, few servers.
max_client_conn = 1000
default_pool_size = 40
max_db_connections = 150
; Drivers send these at start-up; PgBouncer refuses unknown ones unless told to ignore them.
ignore_startup_parameters = extra_float_digits,options
; While PostgreSQL is away (Tests/interop/test_database_outage.py stops it): retry connecting to it
; every second, not every 15, and fail a query that waits for a server connection after 5 s instead
; of holding it for 120 (PgBouncer's defaults would keep the portal's queries waiting for two minutes).
server_login_retry = 1
query_wait_timeout = 5
logfile = $DIR/pgbouncer.log
pidfile = $DIR/pgbouncer.pid
admin_users = $PG_USER
INI
[[ "$(id -u)" -eq 0 ]] && chown -R postgres "$DIR"

stop() {
    if [[ -f "$DIR/pgbouncer.pid" ]]; then
        kill "$(cat "$DIR/pgbouncer.pid")" 2>/dev/null || true
        for _ in $(seq 50); do [[ -f "$DIR/pgbouncer.pid" ]] || break; sleep 0.1; done
    fi
    rm -rf "$DIR"
}
trap stop EXIT

as_postgres "$PGBOUNCER -d $DIR/pgbouncer.ini"
for _ in $(seq 100); do
    python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$PORT" \
        2>/dev/null && break
    sleep 0.1
done

export POSTGRES_ADMIN_URL="${POSTGRES_ADMIN_URL:-$DATABASE_URL}"
export DATABASE_URL="postgres://$PG_USER@127.0.0.1:$PORT/$PG_DB?prepared_statements=false"
export PGBOUNCER_PORT="$PORT"
echo "with-pgbouncer: PgBouncer $("$PGBOUNCER" --version | head -1 | awk '{print $2}') on 127.0.0.1:$PORT" \
    "(transaction pooling) in front of $PG_HOST:$PG_PORT"
"$@"
