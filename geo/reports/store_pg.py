"""Riders' reports in the PostgreSQL store's database (table ``reports``, migration ``0002_app_state``).

The same contract as the SQLite store (``geo.reports.store.ReportStore``): each write is one
transaction that also bumps ``reports_meta.version``. Two servers merging the same report at once
cannot make two open reports: a transaction-scoped advisory lock on the merge key serialises them,
and a unique partial index (one open report per station, category and facility) backs it up.
"""

from __future__ import annotations

import os
import threading
import time
import zlib

from psycopg.types.json import Jsonb

from geo.errors import Problem as _Problem
from geo.errors import RegistryUnavailableError, ValidationError
from geo.messages import Text
from geo.registry.backend import native_thread
from geo.registry.state_pg import SharedConnection
from geo.reports.model import MAX_NOTES_KEPT, OUTCOMES, Report, Submission, new_code
from geo.reports.store import COLUMNS, FILTER_COLUMNS, CachedFlagsStore, now_iso

# notes as JSON text, as the SQLite store keeps them (one row reader for both)
_SELECT = f"SELECT {', '.join(c + '::text' if c == 'notes' else c for c in COLUMNS)} FROM reports"  # noqa: S608 - fixed names
FLAGS_RECHECK_S = 1.0
_REPORT_LOCK = 7_406_114  # pg_advisory_xact_lock(class, key): one merge per key at a time


class PostgresReportStore(CachedFlagsStore):
    """Reports in the database at ``url`` (schema by ``stationmap db upgrade``).

    The open-report flags riders' answers use (``reported_closed``: the finder hides those stations)
    are read on every ``/api/nearest``: they are kept in memory and refreshed from the database in a
    background thread at most every ``FLAGS_RECHECK_S``, so a rider never waits for the database and
    reads keep working while it is away (another server's report shows within about a second; this
    process's own writes at once)."""

    def __init__(self, url: str, db: SharedConnection | None = None):
        self.db = db or SharedConnection(url)
        self._checked_at = 0.0
        self._refreshing, self._pid = threading.Lock(), os.getpid()

    def _write(self, work):
        with self.db.transaction() as conn:
            result = work(conn)
            conn.execute("UPDATE reports_meta SET version = version + 1")
        self._cache = None  # this process's next read sees its own write
        return result

    def _flags(self) -> tuple[frozenset[str], dict[str, int]]:
        cache = self._cache
        if cache is None:
            flags = super()._flags()  # the first read (at start-up, or after a write here): from the database
            self._checked_at = time.monotonic()
            return flags
        if self._pid != os.getpid():  # forked: a refresh in flight in the parent never finishes here
            self._refreshing, self._pid = threading.Lock(), os.getpid()
        if time.monotonic() - self._checked_at >= FLAGS_RECHECK_S and self._refreshing.acquire(blocking=False):
            native_thread(self._refresh_flags, "stationmap-report-flags").start()
        return cache[1], cache[2]

    def _refresh_flags(self) -> None:
        try:
            super()._flags()
        except RegistryUnavailableError:
            pass  # keep answering from the last flags; try again later
        finally:
            self._checked_at = time.monotonic()
            self._refreshing.release()

    def version(self) -> int:
        with self.db.transaction() as conn:
            return int(conn.execute("SELECT version FROM reports_meta").fetchone()[0])

    def submit(self, submission: Submission) -> tuple[Report, bool]:
        stamp = now_iso()

        def work(conn):
            key = "\x1f".join(submission.merge_key())
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_REPORT_LOCK, zlib.crc32(key.encode()) - 2**31))
            row = conn.execute("SELECT code, notes, lon, lat FROM reports WHERE station_id = %s AND category = %s "
                               "AND facility = %s AND status = 'open' FOR UPDATE", submission.merge_key()).fetchone()
            if row is not None:
                code, notes = row[0], list(row[1])
                if submission.note and submission.note not in notes and len(notes) < MAX_NOTES_KEPT:
                    notes.append(submission.note)
                lon, lat = submission.location or (row[2], row[3])
                conn.execute("UPDATE reports SET notes = %s, count = count + 1, updated_at = %s, lon = %s, lat = %s "
                             "WHERE code = %s", (Jsonb(notes), stamp, lon, lat, code))
                return code, True
            lon, lat = submission.location or (None, None)
            while True:
                code = new_code()
                inserted = conn.execute(
                    f"INSERT INTO reports ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))}) "  # noqa: S608
                    "ON CONFLICT (code) DO NOTHING",
                    (code, submission.station_id, submission.district_adcode, submission.station_name,
                     submission.category, submission.facility, lon, lat,
                     Jsonb([submission.note] if submission.note else []), 1, "open", "", "", stamp, stamp, "")).rowcount
                if inserted:
                    return code, False

        code, merged = self._write(work)
        return self.get(code), merged

    def _rows(self, filters: dict[str, str], limit: int) -> list[tuple]:
        where = " AND ".join(f"{column} = %s" for column in filters if column in FILTER_COLUMNS)
        sql = _SELECT + (f" WHERE {where}" if where else "") + " ORDER BY updated_at DESC, code LIMIT %s"
        with self.db.transaction() as conn:
            return conn.execute(sql, (*filters.values(), int(limit))).fetchall()

    def close(self, code: str, status: str, outcome: str, reason: str, by: str) -> Report:
        if status not in ("confirmed", "dismissed") or outcome not in OUTCOMES:
            raise ValueError(f"cannot close a report as {status}/{outcome}")
        report = self.get(code)

        def work(conn):
            changed = conn.execute("UPDATE reports SET status = %s, outcome = %s, reason = %s, resolved_by = %s, "
                                   "updated_at = %s WHERE code = %s AND status = 'open'",
                                   (status, outcome, reason, by, now_iso(), report.code))
            if changed.rowcount != 1:
                raise ValidationError(_Problem(report.code, Text("report.already_closed")))

        self._write(work)
        return self.get(report.code)

    def _open_rows(self) -> list[tuple[str, str, str]]:
        with self.db.transaction() as conn:
            return conn.execute("SELECT station_id, district_adcode, category FROM reports WHERE status = 'open'").fetchall()

    def close_connection(self) -> None:
        self.db.close()


def import_reports(url: str, reports: list[Report]) -> int:
    """Copy ``reports`` (from a SQLite store) into the database's empty ``reports`` table, in one transaction."""
    db = SharedConnection(url)
    try:
        with db.transaction() as conn:
            conn.execute("LOCK TABLE reports IN EXCLUSIVE MODE")
            (held,) = conn.execute("SELECT count(*) FROM reports").fetchone()
            if held:
                raise RegistryUnavailableError(f"the database already holds {held} reports; import only into a new one")
            with conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO reports ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})",  # noqa: S608
                    [(r.code, r.station_id, r.district_adcode, r.station_name, r.category, r.facility,
                      *(r.location or (None, None)), Jsonb(list(r.notes)), r.count, r.status, r.outcome, r.reason,
                      r.created_at, r.updated_at, r.resolved_by) for r in reports])
            conn.execute("UPDATE reports_meta SET version = version + 1")
    finally:
        db.close()
    return len(reports)
