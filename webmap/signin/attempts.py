"""Failed sign-in counts shared by every server process: ``limits`` storages for the counters.

flask-limiter keeps its counters in a ``limits`` storage. The in-memory one belongs to a
single process, so with gunicorn's two workers an attacker got twice the attempts, and a
restart forgot them. The store's state (``geo.registry.state``) names the shared one:
SQLite beside the accounts file for the file store (``sqlite:///var/lib/stationmap/logins.sqlite``,
``geo.registry.state_file.SQLiteStorage``), the store's database for the PostgreSQL store
(``stationmap+postgresql://…``, ``geo.registry.state_pg.PostgresCounters``), so several app
servers on one database count together. Importing this module registers the ``sqlite`` scheme.
"""

from __future__ import annotations

from geo.registry.state_file import COUNTERS_SCHEMA as SCHEMA
from geo.registry.state_file import PRUNE_EVERY_S, SharedSQLite, SQLiteStorage

__all__ = ["PRUNE_EVERY_S", "SCHEMA", "SQLiteStorage", "SharedSQLite"]
