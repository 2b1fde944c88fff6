"""The app's state in the store's PostgreSQL database (migration ``0002_app_state``), shared by every app server.

Accounts and tokens, secrets, fixed-window counters, Idempotency-Key records, upload drafts and
planner inputs; riders' reports are ``geo.reports.store_pg``. Every write is one transaction and
safe when several servers run it at once: ``INSERT … ON CONFLICT`` for counters, keys, secrets and
inputs, ``DELETE … RETURNING`` for claiming a draft, and a table lock that queues account writers
(readers never wait) so the rule "one active account per district" is checked against what is
committed. No local file is written.

Each process keeps one connection per database for all of these (``shared_connection``), used
under a lock (statements take well under a millisecond), never across a fork; a lost connection
is dropped and the next call reconnects, and meanwhile calls fail with ``RegistryUnavailableError``
(HTTP 503).
"""

from __future__ import annotations

import json
import os
import threading
import time
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
from limits.storage import Storage
from psycopg.types.json import Jsonb

from geo.access.records import AccountRecords, Token, User
from geo.errors import RegistryUnavailableError
from geo.messages import Text
from geo.registry.postgis import bounded_connect, connection_lost
from geo.registry.state import AppState, Blobs, Drafts, IdempotencyRecords

COUNTER_SCHEME = "stationmap+postgresql"
_ACCOUNT_COLUMNS = "name, role, district_adcode, disabled, password_hash, created_at, session_version"
_PRUNE_EVERY_S = 3600


class SharedConnection:
    """One connection per process to ``url``, shared by its threads and greenlets under a lock."""

    def __init__(self, url: str):
        self.url = url
        self._lock = threading.Lock()
        self._conn: psycopg.Connection | None = None
        self._pid = os.getpid()
        self._inherited: list = []  # a parent's connections: never used or closed in a child

    @contextmanager
    def _connected(self):
        """This process's connection (autocommit: a lone statement is one round trip) under the lock."""
        with self._lock:
            if self._pid != os.getpid():
                self._inherited.append(self._conn)
                self._conn, self._pid = None, os.getpid()
            if self._conn is None or self._conn.closed:
                try:
                    self._conn = bounded_connect(self.url, autocommit=True)
                except RegistryUnavailableError as exc:
                    raise RegistryUnavailableError(Text("registry.writes_unavailable")) from exc
            conn = self._conn
            try:
                yield conn
            except psycopg.OperationalError as exc:
                self._conn = None
                raise connection_lost(conn) from exc

    @contextmanager
    def transaction(self):
        """A connection inside one transaction: committed when the block ends, rolled back if it raises."""
        with self._connected() as conn, conn.transaction():
            yield conn

    def query(self, sql: str, params=()) -> list[tuple]:
        """The rows of one statement (atomic on its own), in one round trip."""
        with self._connected() as conn:
            return conn.execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None


_SHARED: dict[str, SharedConnection] = {}
_SHARED_LOCK = threading.Lock()


def shared_connection(url: str) -> SharedConnection:
    """This process's shared connection to ``url`` (made on first use)."""
    with _SHARED_LOCK:
        shared = _SHARED.get(url)
        if shared is None:
            shared = _SHARED[url] = SharedConnection(url)
        return shared


class PostgresState(AppState):
    """Every piece in the database at ``url`` (its schema made by ``stationmap db upgrade``)."""

    def __init__(self, url: str):
        self.database_url = url
        self.db = SharedConnection(url)  # its own: two stores in one process behave as two servers

    def accounts(self, path=None) -> PostgresAccountRecords:
        return PostgresAccountRecords(self.db)

    def secret(self, name: str, path, make) -> str:
        return get_or_make_secret(self.db, name, make)

    def counters_uri(self, path=None) -> str:
        scheme, rest = self.database_url.split("://", 1)
        return f"{COUNTER_SCHEME}://{rest}"

    def idempotency(self, path=None) -> PostgresIdempotency:
        return PostgresIdempotency(self.db)

    def drafts(self, directory=None) -> PostgresDrafts:
        return PostgresDrafts(self.db)

    def planner_inputs(self, directory=None) -> PostgresBlobs:
        return PostgresBlobs(self.db)

    def close(self) -> None:
        self.db.close()


def get_or_make_secret(db: SharedConnection, name: str, make) -> str:
    """The secret ``name``; the first process to ask stores ``make()``, every other reads that one."""
    with db.transaction() as conn:
        row = conn.execute("SELECT value FROM app_secrets WHERE name = %s", (name,)).fetchone()
        if row is not None:
            return row[0]
        conn.execute("INSERT INTO app_secrets (name, value) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING", (name, make()))
        return conn.execute("SELECT value FROM app_secrets WHERE name = %s", (name,)).fetchone()[0]


# -- accounts -----------------------------------------------------------------------------------


# Each account with its tokens (oldest first) in one row: a session check or a token lookup is one round trip.
_USER_SELECT = (f"SELECT {_ACCOUNT_COLUMNS}, coalesce((SELECT json_agg(json_build_array(t.id, t.hash, t.created_at, "  # noqa: S608
                "t.label) ORDER BY t.ord) FROM account_tokens t WHERE t.account = a.name), '[]'::json)::text FROM accounts a")


def _user(row) -> User:
    name, role, district, disabled, password_hash, created_at, version, tokens = row
    return User(name=name, role=role, district_adcode=district, disabled=disabled, password_hash=password_hash,
                tokens=tuple(Token(*token) for token in json.loads(tokens)), created_at=created_at,
                session_version=int(version))


class PostgresAccountRecords(AccountRecords):
    """Accounts in ``accounts`` and ``account_tokens``; the token key is the secret ``token_key``."""

    label = "PostgreSQL"

    def __init__(self, db: SharedConnection):
        self.db = db

    def users(self) -> dict:
        return {user.name: user for user in map(_user, self.db.query(_USER_SELECT + " ORDER BY name"))}

    def get(self, name: str):
        rows = self.db.query(_USER_SELECT + " WHERE a.name = %s", (name,))
        return _user(rows[0]) if rows else None

    def by_token(self, token_id: str):
        owner = " WHERE a.name = (SELECT account FROM account_tokens WHERE id = %s)"
        rows = self.db.query(_USER_SELECT + owner, (token_id,))
        user = _user(rows[0]) if rows else None
        token = next((t for t in user.tokens if t.id == token_id), None) if user is not None else None
        return (user, token) if token is not None else None

    def write(self, change):
        with self.db.transaction() as conn:
            # Writers queue here (the lock conflicts with itself), readers never wait.
            conn.execute("LOCK TABLE accounts IN SHARE ROW EXCLUSIVE MODE")
            before = {user.name: user for user in map(_user, conn.execute(_USER_SELECT).fetchall())}
            users = dict(before)
            result = change(users)
            store_account_changes(conn, before, users)
        return result

    def token_key(self) -> bytes:
        import secrets

        return bytes.fromhex(get_or_make_secret(self.db, "token_key", lambda: secrets.token_bytes(32).hex()))


def store_account_changes(conn, before: dict, after: dict) -> None:
    """Write the accounts that differ between ``before`` and ``after`` (inside the caller's transaction)."""
    gone = [name for name in before if name not in after]
    if gone:
        conn.execute("DELETE FROM accounts WHERE name = ANY(%s)", (gone,))
    for name, user in after.items():
        if before.get(name) == user:
            continue
        conn.execute(
            f"INSERT INTO accounts ({_ACCOUNT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s) "  # noqa: S608
            "ON CONFLICT (name) DO UPDATE SET role = excluded.role, district_adcode = excluded.district_adcode, "
            "disabled = excluded.disabled, password_hash = excluded.password_hash, created_at = excluded.created_at, "
            "session_version = excluded.session_version",
            (user.name, user.role, user.district_adcode, user.disabled, user.password_hash, user.created_at,
             user.session_version))
        keep = [t.id for t in user.tokens]
        conn.execute("DELETE FROM account_tokens WHERE account = %s AND NOT (id = ANY(%s))", (name, keep))
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO account_tokens (id, account, hash, created_at, label) VALUES (%s, %s, %s, %s, %s) "
                            "ON CONFLICT (id) DO NOTHING",
                            [(t.id, name, t.hash, t.created_at, t.label) for t in user.tokens])


# -- counters (a ``limits`` storage) -------------------------------------------------------------


class PostgresCounters(Storage):
    """Fixed-window counters in ``rate_counters``: ``stationmap+postgresql://…`` (the database's URL with
    ``stationmap+`` before its scheme; ``AppState.counters_uri`` makes it). One atomic upsert per hit."""

    STORAGE_SCHEME = [COUNTER_SCHEME]

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        parts = urlsplit(uri)
        self.db = shared_connection(urlunsplit(parts._replace(scheme="postgresql")))
        self._pruned_at = 0.0

    @property
    def base_exceptions(self) -> tuple[type[Exception], ...]:
        return (psycopg.Error, RegistryUnavailableError)

    def _one(self, sql: str, params=()):
        rows = self.db.query(sql, params)
        return rows[0] if rows else None

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        if now - self._pruned_at > _PRUNE_EVERY_S:
            self._pruned_at = now
            self.prune()
        (count,) = self._one(
            "INSERT INTO rate_counters AS c (key, count, expires) VALUES (%(key)s, %(n)s, %(now)s + %(ttl)s) "
            "ON CONFLICT (key) DO UPDATE SET "
            "count = CASE WHEN c.expires <= %(now)s THEN %(n)s ELSE c.count + %(n)s END, "
            "expires = CASE WHEN c.expires <= %(now)s THEN %(now)s + %(ttl)s ELSE c.expires END "
            "RETURNING count", {"key": key, "n": amount, "now": now, "ttl": expiry})
        return int(count)

    def get(self, key: str) -> int:
        row = self._one("SELECT count FROM rate_counters WHERE key = %s AND expires > %s", (key, time.time()))
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        now = time.time()
        row = self._one("SELECT expires FROM rate_counters WHERE key = %s AND expires > %s", (key, now))
        return float(row[0]) if row else now

    def check(self) -> bool:
        try:
            self._one("SELECT 1")
        except (psycopg.Error, RegistryUnavailableError):
            return False
        return True

    def reset(self) -> int:
        with self.db.transaction() as conn:
            return conn.execute("DELETE FROM rate_counters").rowcount

    def clear(self, key: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM rate_counters WHERE key = %s", (key,))

    def prune(self) -> int:
        with self.db.transaction() as conn:
            return conn.execute("DELETE FROM rate_counters WHERE expires <= %s", (time.time(),)).rowcount


# -- Idempotency-Key records, drafts, planner inputs -------------------------------------------------


class PostgresIdempotency(IdempotencyRecords):
    def __init__(self, db: SharedConnection):
        self.db = db

    def expire(self, before: float) -> None:
        self.db.query("DELETE FROM idempotency WHERE created < %s RETURNING 1", (before,))

    def insert_pending(self, scope, key, fingerprint, now) -> bool:
        return bool(self.db.query("INSERT INTO idempotency (scope, key, fingerprint, state, created) "
                                  "VALUES (%s, %s, %s, 'pending', %s) ON CONFLICT DO NOTHING RETURNING 1",
                                  (scope, key, fingerprint, now)))

    def get(self, scope, key):
        rows = self.db.query("SELECT fingerprint, state, status, headers, body, created FROM idempotency "
                             "WHERE scope = %s AND key = %s", (scope, key))
        if not rows:
            return None
        row = rows[0]
        return (*row[:4], bytes(row[4]) if row[4] is not None else None, row[5])

    def finish(self, scope, key, status, headers, body) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE idempotency SET state = 'done', status = %s, headers = %s, body = %s "
                         "WHERE scope = %s AND key = %s", (status, headers, body, scope, key))

    def delete(self, scope, key, pending_only=False) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM idempotency WHERE scope = %s AND key = %s AND (state = 'pending' OR NOT %s)",
                         (scope, key, bool(pending_only)))


class PostgresDrafts(Drafts):
    def __init__(self, db: SharedConnection):
        self.db = db

    def put(self, token, meta, raw) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO upload_drafts (token, meta, raw, saved_at) VALUES (%s, %s, %s, %s)",
                         (token, Jsonb(meta), raw, float(meta.get("saved_at", time.time()))))

    def peek(self, token):
        with self.db.transaction() as conn:
            row = conn.execute("SELECT meta::text FROM upload_drafts WHERE token = %s", (token,)).fetchone()
        return json.loads(row[0]) if row else None

    def take(self, token):
        with self.db.transaction() as conn:  # DELETE … RETURNING: of two simultaneous claims only one gets the row
            row = conn.execute("DELETE FROM upload_drafts WHERE token = %s RETURNING meta::text, raw", (token,)).fetchone()
        return (json.loads(row[0]), bytes(row[1])) if row else None

    def expire(self, before) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM upload_drafts WHERE saved_at < %s", (before,))


class PostgresBlobs(Blobs):
    def __init__(self, db: SharedConnection):
        self.db = db

    def put(self, digest, data) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO planner_inputs (digest, data, touched_at) VALUES (%s, %s, %s) "
                         "ON CONFLICT (digest) DO UPDATE SET touched_at = excluded.touched_at", (digest, data, time.time()))

    def get(self, digest, max_age_s):
        with self.db.transaction() as conn:
            row = conn.execute("SELECT data FROM planner_inputs WHERE digest = %s AND touched_at >= %s",
                               (digest, time.time() - max_age_s)).fetchone()
        return bytes(row[0]) if row else None

    def expire(self, before) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM planner_inputs WHERE touched_at < %s", (before,))


def import_accounts(url: str, users: dict, secrets: dict[str, str]) -> None:
    """Move accounts (``{name: User}``, as a file holds them) and the secrets their hashes and sessions depend on
    (``token_key``, ``secret_key``) into the database at ``url``, in one transaction. Refuses a database that
    already has accounts: their tokens would depend on its own key."""
    db = SharedConnection(url)
    try:
        with db.transaction() as conn:
            conn.execute("LOCK TABLE accounts IN SHARE ROW EXCLUSIVE MODE")
            (held,) = conn.execute("SELECT count(*) FROM accounts").fetchone()
            if held:
                raise RegistryUnavailableError(Text("registry.db_accounts_held", n=held))
            store_account_changes(conn, {}, users)
            for name, value in secrets.items():
                conn.execute("INSERT INTO app_secrets (name, value) VALUES (%s, %s) "
                             "ON CONFLICT (name) DO UPDATE SET value = excluded.value", (name, value))
    finally:
        db.close()
