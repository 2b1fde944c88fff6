"""The app's report store (riders' problem reports) and freshness settings, shared by the public pages and the portal."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app

from geo.reports.freshness import DEFAULT_MAX_AGE_DAYS
from geo.reports.store import ReportStore, SQLiteReportStore

EXTENSION = "stationmap.reports"


def init_app(app: Flask) -> None:
    """Open the store: ``REPORTS_STORE`` if given, else SQLite at ``REPORTS_PATH`` (default: beside the registry)."""
    if not app.config.get("REPORTS_PATH"):
        app.config["REPORTS_PATH"] = str(Path(app.config["REGISTRY_PATH"]).with_name("reports.sqlite"))
    app.extensions[EXTENSION] = app.config.get("REPORTS_STORE") or SQLiteReportStore(app.config["REPORTS_PATH"])


def get_reports(app: Flask | None = None) -> ReportStore:
    return (app or current_app).extensions[EXTENSION]


def max_age_days(app: Flask | None = None) -> int:
    return int((app or current_app).config.get("FRESHNESS_MAX_AGE_DAYS", DEFAULT_MAX_AGE_DAYS))
