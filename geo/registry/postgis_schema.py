"""The PostGIS store's schema: numbered SQL migrations (``migrations/NNNN_name.sql``) and the table that
records which have run. ``stationmap db upgrade`` applies them; the server only checks.

Each migration runs in its own transaction, under an advisory lock so two upgrades at once
cannot both apply it. The schema is never changed by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_UPGRADE_LOCK = 7_406_113  # pg_advisory_xact_lock key: one upgrader at a time


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


def migrations() -> list[Migration]:
    """Every migration shipped with this code, in order."""
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        m = _NAME.match(path.name)
        if m is None:
            raise RuntimeError(f"{path}: a migration is named NNNN_name.sql")
        found.append(Migration(int(m[1]), m[2], path))
    numbers = [m.number for m in found]
    if numbers != list(range(1, len(found) + 1)):
        raise RuntimeError(f"{MIGRATIONS_DIR}: migrations must be numbered 1, 2, 3 … without gaps")
    return found


def latest_version() -> int:
    return len(migrations())


def schema_version(conn) -> int:
    """The highest migration applied to this database; 0 for an empty one."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]
    if not exists:
        return 0
    return conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]


def upgrade(conn, log=lambda _migration: None) -> list[Migration]:
    """Apply every pending migration on ``conn`` (autocommit off or on); returns those applied.
    ``log(name)`` is told each one's name (``0001_registry``) as it is applied."""
    applied = []
    for migration in migrations():
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_UPGRADE_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                         " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
            if schema_version(conn) >= migration.number:
                continue
            conn.execute(migration.sql)
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (migration.number, migration.name))
        log(f"{migration.number:04d}_{migration.name}")
        applied.append(migration)
    return applied
