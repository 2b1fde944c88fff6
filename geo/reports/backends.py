"""Which report store: the one beside a station store's state (``geo.registry.state``)."""

from __future__ import annotations

from pathlib import Path

from geo.reports.store import ReportStore, SQLiteReportStore


def open_report_store(state, path: str | Path) -> ReportStore:
    """The report store beside ``state`` (a station store's ``store.state``): in the state's database when it
    has one (``geo.reports.store_pg``), else SQLite at ``path`` (the file store's default: beside the registry)."""
    if getattr(state, "database_url", None):
        from geo.reports.store_pg import PostgresReportStore

        return PostgresReportStore(state.database_url, getattr(state, "db", None))  # the state's connection
    return SQLiteReportStore(path)
