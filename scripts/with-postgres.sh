#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL 15 cluster: a temporary directory, loopback
# only, trust auth for the one local user; stopped and removed afterwards, whatever happens.
#   scripts/with-postgres.sh swift test --skip-build
# The command sees DATABASE_URL=postgres://portal@127.0.0.1:PORT/portal, the same URL as
# POSTGRES_ADMIN_URL (where createdb and dropdb go, even when scripts/with-pgbouncer.sh later
# points DATABASE_URL at PgBouncer), and, for a test that stops and starts the cluster itself
# (Tests/interop/test_database_outage.py), PGBIN, PGDATA_DIR and PGLOG_FILE:
#   su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $PGDATA_DIR -m fast -w stop"
#   su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $PGDATA_DIR -l $PGLOG_FILE -w start"
# (without su when not root). The port and the other settings are in the cluster's
# postgresql.conf, so a plain `pg_ctl start` brings back the same server.
set -euo pipefail

PGBIN=/usr/lib/postgresql/15/bin
if [[ ! -x "$PGBIN/initdb" ]]; then
    apt-get -o DPkg::Lock::Timeout=600 update
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y postgresql-15
fi

DIR=$(mktemp -d "${TMPDIR:-/tmp}/portal-pg.XXXXXX")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
as_postgres() { if [[ "$(id -u)" -eq 0 ]]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
[[ "$(id -u)" -eq 0 ]] && chown postgres "$DIR"

stop() {
    as_postgres "$PGBIN/pg_ctl -D $DIR/data -m fast -w stop" >/dev/null 2>&1 || true
    rm -rf "$DIR"
}
trap stop EXIT

as_postgres "$PGBIN/initdb -D $DIR/data -U portal --auth=trust -E UTF8" >/dev/null
as_postgres "cat >> $DIR/data/postgresql.conf" <<CONF
# scripts/with-postgres.sh
port = $PORT
unix_socket_directories = '$DIR'
listen_addresses = '127.0.0.1'
max_connections = 200
fsync = off
CONF
as_postgres "$PGBIN/pg_ctl -D $DIR/data -l $DIR/log -w start" >/dev/null
as_postgres "$PGBIN/createdb -h 127.0.0.1 -p $PORT -U portal portal"

export DATABASE_URL="postgres://portal@127.0.0.1:$PORT/portal"
export POSTGRES_ADMIN_URL="$DATABASE_URL"
export PGBIN PGDATA_DIR="$DIR/data" PGLOG_FILE="$DIR/log"
echo "with-postgres: PostgreSQL 15 on 127.0.0.1:$PORT (data in $PGDATA_DIR)"
"$@"
