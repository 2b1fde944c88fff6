"""Failed sign-in counts shared by every server process on one machine: a SQLite storage for ``limits``.

flask-limiter keeps its counters in a ``limits`` storage. The in-memory one belongs to a
single process, so with gunicorn's two workers an attacker got twice the attempts, and a
restart forgot them. Redis or memcached would share them, but the product runs on one
machine with no external service. This plugs SQLite (Python's standard library; atomic
upserts, safe across processes) into ``limits``' storage interface for the fixed-window
strategy flask-limiter uses: ``RATELIMIT_STORAGE_URI = "sqlite:///var/lib/stationmap/logins.sqlite"``
(``sqlite://`` followed by an absolute path).
Importing this module registers the ``sqlite`` scheme.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

from limits.storage import Storage

PRUNE_EVERY_S = 3600
SCHEMA = "CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires REAL NOT NULL)"


def _now() -> float:
    return time.time()


class _Result:
    """A statement's rows and row count, fetched while the connection was held."""

    def __init__(self, cursor: sqlite3.Cursor):
        self.rows = cursor.fetchall()
        self.rowcount = cursor.rowcount

    def fetchone(self):
        return self.rows[0] if self.rows else None


class SharedSQLite:
    """One SQLite connection per process, shared by its threads and greenlets under a lock.

    A connection per thread (``threading.local``) is a connection per *greenlet* under the
    gevent worker, where ``threading.local`` is greenlet-local: every request opened the file,
    set WAL and read the schema again, and an attacker's bad tokens cost riders most of the
    worker. Statements here are a few microseconds, so holding a lock around each costs
    nothing; WAL with ``synchronous=NORMAL`` skips the fsync per commit (counters and replay
    records need not survive a power cut). A connection never crosses a fork: gunicorn forks
    workers after the app is built.
    """

    def __init__(self, path: Path, schema: str):
        self.path, self.schema = path, schema
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._pid = 0

    def execute(self, sql: str, params=()) -> _Result:
        with self._lock:
            if self._db is None or self._pid != os.getpid():
                self._db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute(self.schema)
                self._pid = os.getpid()
            return _Result(self._db.execute(sql, params))


class SQLiteStorage(Storage):
    """Fixed-window counters in one SQLite file (one connection per process: ``SharedSQLite``)."""

    STORAGE_SCHEME = ["sqlite"]

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        path = unquote(urlsplit(uri).path)
        if not path or path == "/":
            raise ValueError(f"{uri!r}: give a file, e.g. sqlite:///var/lib/stationmap/logins.sqlite")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._shared = SharedSQLite(self.path, SCHEMA)
        self._pruned_at = 0.0

    @property
    def base_exceptions(self) -> type[Exception]:
        return sqlite3.Error

    def _db(self) -> SharedSQLite:
        return self._shared

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = _now()
        if now - self._pruned_at > PRUNE_EVERY_S:
            self._pruned_at = now
            self.prune()
        row = self._db().execute(
            "INSERT INTO counters (key, count, expires) VALUES (?1, ?2, ?3 + ?4) "
            "ON CONFLICT (key) DO UPDATE SET "
            "count = CASE WHEN expires <= ?3 THEN ?2 ELSE count + ?2 END, "
            "expires = CASE WHEN expires <= ?3 THEN ?3 + ?4 ELSE expires END "
            "RETURNING count",
            (key, amount, now, expiry),
        ).fetchone()
        return int(row[0])

    def get(self, key: str) -> int:
        row = self._db().execute("SELECT count FROM counters WHERE key = ? AND expires > ?", (key, _now())).fetchone()
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        now = _now()
        row = self._db().execute("SELECT expires FROM counters WHERE key = ? AND expires > ?", (key, now)).fetchone()
        return float(row[0]) if row else now

    def check(self) -> bool:
        try:
            self._db().execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int:
        return self._db().execute("DELETE FROM counters").rowcount

    def clear(self, key: str) -> None:
        self._db().execute("DELETE FROM counters WHERE key = ?", (key,))

    def prune(self) -> int:
        """Drop expired counters (the file would otherwise keep one row per address ever seen)."""
        return self._db().execute("DELETE FROM counters WHERE expires <= ?", (_now(),)).rowcount
