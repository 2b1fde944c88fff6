"""Where reports are kept: the ``ReportStore`` contract and a SQLite backend (one file beside the registry).

SQLite gives atomic, crash-safe writes and a lock shared by every server process without a
server of its own; each write is one ``BEGIN IMMEDIATE`` transaction. A PostgreSQL store can
implement the same methods when the registry moves there.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from abc import ABC, abstractmethod
from datetime import datetime
from pathlib import Path

from geo.errors import NotFoundError, ValidationError
from geo.errors import Problem as _Problem
from geo.hours import CHONGQING_TZ
from geo.messages import Text
from geo.reports.model import MAX_NOTES_KEPT, OUTCOMES, Report, Submission, new_code, normal_code


def now_iso() -> str:
    return datetime.now(CHONGQING_TZ).replace(microsecond=0).isoformat()


class ReportStore(ABC):
    """Reports: add (merging an open duplicate), read, list per district, resolve."""

    @abstractmethod
    def submit(self, submission: Submission) -> tuple[Report, bool]:
        """Store a report, or merge it into the open one with the same station, category and facility.

        Returns ``(report, merged)``.
        """

    @abstractmethod
    def get(self, code: str) -> Report:
        """The report with this receipt code; ``NotFoundError`` if none."""

    @abstractmethod
    def list(self, district: str | None = None, status: str | None = None, station_id: str | None = None,
             limit: int = 500) -> list[Report]:
        """Reports, newest first, filtered (``status`` None or "all": every status)."""

    @abstractmethod
    def close(self, code: str, status: str, outcome: str, reason: str, by: str) -> Report:
        """Mark an open report confirmed or dismissed; ``ValidationError`` if it is no longer open."""

    @abstractmethod
    def version(self) -> int:
        """A number that changes with every write (for caches)."""

    def open_counts(self) -> dict[str, int]:
        """Open reports per district adcode."""
        counts: dict[str, int] = {}
        for report in self.list(status="open", limit=100_000):
            counts[report.district_adcode] = counts.get(report.district_adcode, 0) + 1
        return counts

    def reported_closed(self) -> frozenset[str]:
        """Ids of stations with an open "closed" report (the finder hides them by default)."""
        return frozenset(r.station_id for r in self.list(status="open", limit=100_000) if r.category == "closed")


SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
  code TEXT PRIMARY KEY, station_id TEXT NOT NULL, district_adcode TEXT NOT NULL, station_name TEXT NOT NULL,
  category TEXT NOT NULL, facility TEXT NOT NULL, lon REAL, lat REAL, notes TEXT NOT NULL, count INTEGER NOT NULL,
  status TEXT NOT NULL, outcome TEXT NOT NULL, reason TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  resolved_by TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS reports_district ON reports (district_adcode, status);
CREATE INDEX IF NOT EXISTS reports_station ON reports (station_id, status);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('version', 0);
"""
COLUMNS = ("code", "station_id", "district_adcode", "station_name", "category", "facility", "lon", "lat", "notes",
           "count", "status", "outcome", "reason", "created_at", "updated_at", "resolved_by")
SELECT = ("SELECT code, station_id, district_adcode, station_name, category, facility, lon, lat, notes, count, status, "
          "outcome, reason, created_at, updated_at, resolved_by FROM reports")
INSERT = ("INSERT INTO reports (code, station_id, district_adcode, station_name, category, facility, lon, lat, notes, "
          "count, status, outcome, reason, created_at, updated_at, resolved_by) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
# The only columns ``get`` and ``list`` filter on in SQL (values are always bound parameters).
FILTER_COLUMNS = ("code", "district_adcode", "status", "station_id")


class CachedFlagsStore(ReportStore):
    """Open-report flags (the finder's "reported closed", the portal's counts) computed once per store version."""

    _cache: tuple[int, frozenset[str], dict[str, int]] | None = None

    @abstractmethod
    def _rows(self, filters: dict[str, str], limit: int) -> list[tuple]:
        """Rows of ``COLUMNS`` where each column in ``filters`` (one of ``FILTER_COLUMNS``) equals its value,
        newest first."""

    def get(self, code: str) -> Report:
        normal = normal_code(code)
        rows = self._rows({"code": normal}, 1) if normal else []
        if not rows:
            raise NotFoundError(Text("report.not_found", code=str(code)[:32]))
        return report_from_row(rows[0])

    def list(self, district=None, status=None, station_id=None, limit: int = 500) -> list[Report]:
        status = None if status == "all" else status
        filters = {column: value for column, value in (("district_adcode", district), ("status", status),
                                                       ("station_id", station_id)) if value}
        return [report_from_row(row) for row in self._rows(filters, limit)]

    @abstractmethod
    def _open_rows(self) -> list[tuple[str, str, str]]:
        """(station_id, district_adcode, category) of every open report."""

    def _flags(self) -> tuple[frozenset[str], dict[str, int]]:
        version = self.version()
        cache = self._cache
        if cache is None or cache[0] != version:
            rows = self._open_rows()
            counts: dict[str, int] = {}
            for _, adcode, _ in rows:
                counts[adcode] = counts.get(adcode, 0) + 1
            cache = self._cache = (version, frozenset(s for s, _, c in rows if c == "closed"), counts)
        return cache[1], cache[2]

    def reported_closed(self) -> frozenset[str]:
        return self._flags()[0]

    def open_counts(self) -> dict[str, int]:
        return dict(self._flags()[1])


class SQLiteReportStore(CachedFlagsStore):
    """Reports in one SQLite file; one connection per process and thread (never across a fork)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._cache: tuple[int, frozenset[str], dict[str, int]] | None = None
        self._db()

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None or self._local.pid != os.getpid():
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            self._local.db, self._local.pid = db, os.getpid()
        return db

    def _write(self, work):
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            result = work(db)
            db.execute("UPDATE meta SET value = value + 1 WHERE key = 'version'")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return result

    def version(self) -> int:
        return int(self._db().execute("SELECT value FROM meta WHERE key = 'version'").fetchone()[0])

    def submit(self, submission: Submission) -> tuple[Report, bool]:
        stamp = now_iso()

        def work(db):
            row = db.execute("SELECT code, notes, lon, lat FROM reports WHERE station_id = ? AND category = ? "
                             "AND facility = ? AND status = 'open'", submission.merge_key()).fetchone()
            if row is not None:
                code, notes = row[0], json.loads(row[1])
                if submission.note and submission.note not in notes and len(notes) < MAX_NOTES_KEPT:
                    notes.append(submission.note)
                lon, lat = submission.location or (row[2], row[3])
                db.execute("UPDATE reports SET notes = ?, count = count + 1, updated_at = ?, lon = ?, lat = ? "
                           "WHERE code = ?", (json.dumps(notes, ensure_ascii=False), stamp, lon, lat, code))
                return code, True
            code = new_code()
            while db.execute("SELECT 1 FROM reports WHERE code = ?", (code,)).fetchone():
                code = new_code()
            lon, lat = submission.location or (None, None)
            db.execute(INSERT,
                       (code, submission.station_id, submission.district_adcode, submission.station_name,
                        submission.category, submission.facility, lon, lat,
                        json.dumps([submission.note] if submission.note else [], ensure_ascii=False), 1, "open", "",
                        "", stamp, stamp, ""))
            return code, False

        code, merged = self._write(work)
        return self.get(code), merged

    def _rows(self, filters: dict[str, str], limit: int) -> list[tuple]:
        where = " AND ".join(f"{column} = ?" for column in filters if column in FILTER_COLUMNS)
        sql = SELECT + (f" WHERE {where}" if where else "") + " ORDER BY updated_at DESC, code LIMIT ?"
        return self._db().execute(sql, (*filters.values(), int(limit))).fetchall()

    def close(self, code: str, status: str, outcome: str, reason: str, by: str) -> Report:
        if status not in ("confirmed", "dismissed") or outcome not in OUTCOMES:
            raise ValueError(f"cannot close a report as {status}/{outcome}")
        report = self.get(code)

        def work(db):
            changed = db.execute("UPDATE reports SET status = ?, outcome = ?, reason = ?, resolved_by = ?, updated_at = ? "
                                 "WHERE code = ? AND status = 'open'", (status, outcome, reason, by, now_iso(), report.code))
            if changed.rowcount != 1:
                raise ValidationError(_Problem(report.code, Text("report.already_closed")))

        self._write(work)
        return self.get(report.code)

    def _open_rows(self) -> list[tuple[str, str, str]]:
        return self._db().execute("SELECT station_id, district_adcode, category FROM reports WHERE status = 'open'").fetchall()

def report_from_row(row) -> Report:
    """A ``Report`` from a row of ``COLUMNS`` (notes as JSON text)."""
    data = dict(zip(COLUMNS, row, strict=True))
    location = (data["lon"], data["lat"]) if data["lon"] is not None else None
    return Report(code=data["code"], station_id=data["station_id"], district_adcode=data["district_adcode"],
                  station_name=data["station_name"], category=data["category"], facility=data["facility"],
                  location=location, notes=json.loads(data["notes"]), count=int(data["count"]), status=data["status"],
                  outcome=data["outcome"], reason=data["reason"], created_at=data["created_at"],
                  updated_at=data["updated_at"], resolved_by=data["resolved_by"])

