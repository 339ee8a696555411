#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL 15 cluster: a temporary directory, loopback
# only, trust auth for the one local user; stopped and removed afterwards, whatever happens.
#   scripts/with-postgres.sh swift test --skip-build
# The command sees DATABASE_URL=postgres://portal@127.0.0.1:PORT/portal.
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
as_postgres "$PGBIN/pg_ctl -D $DIR/data -l $DIR/log -w -o \"-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off\" start" >/dev/null
as_postgres "$PGBIN/createdb -h 127.0.0.1 -p $PORT -U portal portal"

export DATABASE_URL="postgres://portal@127.0.0.1:$PORT/portal"
echo "with-postgres: PostgreSQL 15 on 127.0.0.1:$PORT"
"$@"
