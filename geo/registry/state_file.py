"""The app's state in local files (the embedded default): what one machine's processes share.

- accounts: one JSON file (``geo.access.records.FileAccountRecords``);
- secrets: one file each, mode 0600, made once (``geo.fileio.create_once``) so concurrent workers agree;
- counters and Idempotency-Key records: SQLite files (one connection per process: ``SharedSQLite``);
- upload drafts and planner inputs: files in a private directory (0700, ours, not a symlink).

Importing this module registers the ``sqlite`` scheme of ``limits`` storages (``SQLiteStorage``).
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

from limits.storage import Storage

from geo.access.records import FileAccountRecords
from geo.errors import RegistryUnavailableError
from geo.fileio import create_once
from geo.registry.state import AppState, Blobs, Drafts, IdempotencyRecords

PRUNE_EVERY_S = 3600
COUNTERS_SCHEMA = "CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires REAL NOT NULL)"
IDEMPOTENCY_SCHEMA = ("CREATE TABLE IF NOT EXISTS idempotency (scope TEXT NOT NULL, key TEXT NOT NULL, "
                      "fingerprint TEXT NOT NULL, state TEXT NOT NULL, status INTEGER, headers TEXT, body BLOB, "
                      "created REAL NOT NULL, PRIMARY KEY (scope, key))")


def _now() -> float:
    return time.time()


class FileState(AppState):
    """Every piece in the place the app's configuration names (see ``webmap.core.config``)."""

    def accounts(self, path):
        return FileAccountRecords(path)

    def secret(self, name: str, path, make) -> str:
        path = Path(path)
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            return create_once(path, make())  # another process may win the race: its secret, then

    def counters_uri(self, path) -> str:
        return f"sqlite://{Path(path).resolve()}"

    def idempotency(self, path) -> IdempotencyRecords:
        return SQLiteIdempotency(Path(path))

    def drafts(self, directory) -> Drafts:
        return FileDrafts(directory)

    def planner_inputs(self, directory) -> Blobs:
        return FileBlobs(directory)


# -- SQLite, shared by a machine's processes ----------------------------------------------------


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
                self._db = self._connect()
                self._pid = os.getpid()
            return _Result(self._db.execute(sql, params))

    def _connect(self, patience: float = 10.0) -> sqlite3.Connection:
        """Open the file and set it up. Switching a new file to WAL takes an exclusive lock and
        SQLite answers "database is locked" at once, without its busy timeout, when another
        process or handle is doing the same: retry that for up to ``patience`` seconds."""
        db = sqlite3.connect(self.path, timeout=patience, isolation_level=None, check_same_thread=False)
        deadline, pause = time.monotonic() + patience, 0.005
        while True:
            try:
                if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute(self.schema)
                return db
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    db.close()
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.2)


class SQLiteStorage(Storage):
    """Fixed-window counters in one SQLite file (one connection per process: ``SharedSQLite``):
    ``sqlite:///var/lib/stationmap/logins.sqlite`` (``sqlite://`` followed by an absolute path)."""

    STORAGE_SCHEME = ["sqlite"]

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        path = unquote(urlsplit(uri).path)
        if not path or path == "/":
            raise ValueError(f"{uri!r}: give a file, e.g. sqlite:///var/lib/stationmap/logins.sqlite")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._shared = SharedSQLite(self.path, COUNTERS_SCHEMA)
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


class SQLiteIdempotency(IdempotencyRecords):
    """Idempotency-Key records in one SQLite file."""

    def __init__(self, path: Path):
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = SharedSQLite(self.path, IDEMPOTENCY_SCHEMA)

    def expire(self, before: float) -> None:
        self._db.execute("DELETE FROM idempotency WHERE created < ?", (before,))

    def insert_pending(self, scope, key, fingerprint, now) -> bool:
        return bool(self._db.execute("INSERT OR IGNORE INTO idempotency (scope, key, fingerprint, state, created) "
                                     "VALUES (?, ?, ?, 'pending', ?)", (scope, key, fingerprint, now)).rowcount)

    def get(self, scope, key):
        return self._db.execute("SELECT fingerprint, state, status, headers, body, created FROM idempotency "
                                "WHERE scope = ? AND key = ?", (scope, key)).fetchone()

    def finish(self, scope, key, status, headers, body) -> None:
        self._db.execute("UPDATE idempotency SET state = 'done', status = ?, headers = ?, body = ? WHERE scope = ? AND key = ?",
                         (status, headers, body, scope, key))

    def delete(self, scope, key, pending_only=False) -> None:
        self._db.execute("DELETE FROM idempotency WHERE scope = ? AND key = ? AND (state = 'pending' OR NOT ?)",
                         (scope, key, bool(pending_only)))


# -- private directories ------------------------------------------------------------------------


def private_directory(directory: Path) -> Path:
    """``directory``, created 0700 if missing; refused if it is a symlink or another user's (a shared /tmp
    must not let anyone plant files)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(directory)
    if not os.path.isdir(directory) or os.path.islink(directory) or info.st_uid != os.getuid():
        raise RegistryUnavailableError(f"{directory} is not a private directory of this user; refusing to keep uploads there")
    return directory


def _expire_files(directory: Path, before: float) -> None:
    for path in directory.iterdir():
        try:
            if path.stat().st_mtime < before:
                path.unlink()
        except OSError:
            continue


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


class FileDrafts(Drafts):
    """``<token>.json`` (meta) and ``<token>.bin`` (the file) in a private directory; a claim is an atomic
    rename of the meta file, so of two simultaneous claims only one succeeds."""

    def __init__(self, directory):
        self.directory = Path(directory)

    def put(self, token, meta, raw) -> None:
        directory = private_directory(self.directory)
        _write_private(directory / f"{token}.bin", raw)
        _write_private(directory / f"{token}.json", json.dumps(meta, ensure_ascii=False).encode("utf-8"))

    def peek(self, token):
        try:
            return json.loads((private_directory(self.directory) / f"{token}.json").read_bytes())
        except (OSError, ValueError):
            return None

    def take(self, token):
        directory = private_directory(self.directory)
        meta_path, raw_path = directory / f"{token}.json", directory / f"{token}.bin"
        claimed = directory / f"{token}.claimed-{secrets.token_hex(4)}"
        try:
            os.rename(meta_path, claimed)  # atomic: of two simultaneous commits only one gets here
        except OSError:
            return None
        try:
            return json.loads(claimed.read_bytes()), raw_path.read_bytes()
        except (OSError, ValueError):
            return None
        finally:
            for path in (claimed, raw_path):
                path.unlink(missing_ok=True)

    def expire(self, before) -> None:
        _expire_files(private_directory(self.directory), before)


class FileBlobs(Blobs):
    """``<digest>.csv`` files in a private directory; their mtime is when they were last used."""

    def __init__(self, directory):
        self.directory = Path(directory)

    def put(self, digest, data) -> None:
        folder = private_directory(self.directory)
        target = folder / f"{digest}.csv"
        if not target.exists():
            fd, temp = tempfile.mkstemp(dir=folder, prefix=".upload-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temp, target)
        else:
            os.utime(target)

    def get(self, digest, max_age_s):
        path = self.directory / f"{digest}.csv"
        try:
            if time.time() - path.stat().st_mtime > max_age_s:
                return None
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def expire(self, before) -> None:
        _expire_files(private_directory(self.directory), before)
