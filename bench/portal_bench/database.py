"""The benchmark's own access to the portal's database, for two things only: making it big
(100,000 rows through the endpoints would take too long, and tokens cannot be made in bulk
through them at all) and counting what is in it. Everything else goes through the portal.

Bulk rows are copies of a row the portal wrote itself, with new ids and hashes, so that
how each driver stores dates (SQLite: REAL Unix seconds; PostgreSQL: timestamptz) and
foreign keys never has to be spelled out here: only the new ids are, and `check_ids` makes
sure they are stored as the portal stores its own."""

import secrets
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# sqlite-nio stores a UUID as its uppercase text form (as read from rows the portal wrote);
# `h` is 32 random hex digits from the CTE `fresh`, materialized so that each row's value is
# drawn once.
SQLITE_FRESH = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count),
fresh AS MATERIALIZED (SELECT i, hex(randomblob(16)) AS h FROM n)
"""
SQLITE_UUID = ("substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4) || '-' ||"
               " substr(h, 17, 4) || '-' || substr(h, 21)")
# Copies of one token (same user, org, client and dates) under random hashes nobody holds.
SQLITE_TOKENS = SQLITE_FRESH + f"""
INSERT INTO api_tokens (id, token_hash, user_id, organization_id, client_id, device_name,
                        created_at, expires_at)
SELECT {SQLITE_UUID}, lower(hex(randomblob(32))), t.user_id, t.organization_id, t.client_id,
       'bench-' || i, t.created_at, t.expires_at
FROM fresh, api_tokens t WHERE t.token_hash = :like
"""
# Copies of one pending code. User codes are unique: the server draws its own from an
# alphabet without "A", so these ("A0000001", ...) never collide with one it makes.
SQLITE_PENDING = SQLITE_FRESH + f"""
INSERT INTO device_authorizations (id, device_code_hash, user_code, client_id, status, created_at,
                                   expires_at, poll_interval, last_poll_was_early, device_name)
SELECT {SQLITE_UUID}, lower(hex(randomblob(32))), 'A' || printf('%07d', i), d.client_id,
       'pending', d.created_at, d.expires_at, d.poll_interval, d.last_poll_was_early, 'bench-' || i
FROM fresh, device_authorizations d WHERE d.device_code_hash = :like
"""
POSTGRES_TOKENS = """
INSERT INTO api_tokens (id, token_hash, user_id, organization_id, client_id, device_name,
                        created_at, expires_at)
SELECT gen_random_uuid(), md5(random()::text) || md5(random()::text), t.user_id, t.organization_id,
       t.client_id, 'bench-' || n.i, t.created_at, t.expires_at
FROM generate_series(1, :count) AS n(i), api_tokens t WHERE t.token_hash = :'like';
"""
POSTGRES_PENDING = """
INSERT INTO device_authorizations (id, device_code_hash, user_code, client_id, status, created_at,
                                   expires_at, poll_interval, last_poll_was_early, device_name)
SELECT gen_random_uuid(), md5(random()::text) || md5(random()::text), 'A' || lpad(n.i::text, 7, '0'),
       d.client_id, 'pending', d.created_at, d.expires_at, d.poll_interval, d.last_poll_was_early,
       'bench-' || n.i
FROM generate_series(1, :count) AS n(i), device_authorizations d WHERE d.device_code_hash = :'like';
"""
COUNT_TOKENS = "SELECT count(*) FROM api_tokens"
COUNT_PENDING = "SELECT count(*) FROM device_authorizations WHERE status = 'pending'"


class SQLiteDatabase:
    kind = "sqlite"
    tokens_sql, pending_sql = SQLITE_TOKENS, SQLITE_PENDING

    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=False)
        self.path = directory / "portal.sqlite"
        self.url = f"sqlite://{self.path}"
        # portal.secret is generated beside the file on the first start.
        self.server_env: dict[str, str] = {}

    def _connect(self) -> sqlite3.Connection:
        # The running server writes to the file too: wait for its lock rather than fail.
        return sqlite3.connect(self.path, timeout=30)

    def execute(self, sql: str, **params) -> None:
        with closing(self._connect()) as db, db:
            db.execute(sql, params)

    def scalar(self, sql: str) -> int:
        with closing(self._connect()) as db:
            return db.execute(sql).fetchone()[0]

    def check_ids(self) -> None:
        """SQLite stores any value in any column: the copies' ids must be stored as the
        portal's own are (text), or the portal could not read those rows back."""
        for table in ("api_tokens", "device_authorizations"):
            kinds = self.scalar(f"SELECT count(DISTINCT typeof(id)) FROM {table}")
            if kinds != 1:
                raise RuntimeError(f"{table}: the bulk rows' ids are stored unlike the portal's")


class PostgresDatabase:
    """A database of its own in the cluster of scripts/with-postgres.sh, made and filled through
    psql. The server reaches it at `served_url`'s host (PgBouncer, with --pgbouncer) and query."""
    tokens_sql, pending_sql = POSTGRES_TOKENS, POSTGRES_PENDING

    def __init__(self, cluster_url: str, name: str, served_url: str | None = None):
        self._psql(cluster_url, f'CREATE DATABASE "{name}"')
        self.admin_url = urlunsplit(urlsplit(cluster_url)._replace(path="/" + name))
        self.url = urlunsplit(urlsplit(served_url or cluster_url)._replace(path="/" + name))
        self.kind = "postgresql" if served_url in (None, cluster_url) else "pgbouncer"
        # Required with PostgreSQL: every instance of one deployment shares it.
        self.server_env = {"PORTAL_SECRET": secrets.token_hex(32)}

    @staticmethod
    def _psql(url: str, sql: str, **params) -> str:
        variables = [arg for name, value in params.items() for arg in ("-v", f"{name}={value}")]
        # psql substitutes :name and :'name' in what it reads, not in -c: the SQL goes in on stdin.
        done = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", *variables, url],
                              input=sql, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr}")
        return done.stdout.strip()

    def execute(self, sql: str, **params) -> None:
        self._psql(self.admin_url, sql, **params)

    def scalar(self, sql: str) -> int:
        return int(self._psql(self.admin_url, sql + ";"))

    def check_ids(self) -> None:
        """Nothing to check: a uuid column holds nothing else."""


def grow(db, tokens: int, pending: int, token_hash: str, code_hash: str) -> None:
    """Adds `tokens` API tokens like the one with `token_hash`, and `pending` pending device
    codes like the one with `code_hash`."""
    if tokens > 0:
        db.execute(db.tokens_sql, count=tokens, like=token_hash)
    if pending > 0:
        db.execute(db.pending_sql, count=pending, like=code_hash)
    db.check_ids()


def counts(db) -> tuple[int, int]:
    """(API tokens, pending device codes) in the database."""
    return db.scalar(COUNT_TOKENS), db.scalar(COUNT_PENDING)
