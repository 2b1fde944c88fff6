"""The app's report store (riders' problem reports) and freshness settings, shared by the public pages and the portal."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app

from geo.reports.backends import open_report_store
from geo.reports.freshness import DEFAULT_MAX_AGE_DAYS
from geo.reports.store import ReportStore

EXTENSION = "stationmap.reports"


def init_app(app: Flask) -> None:
    """Open the store: ``REPORTS_STORE`` if given, else the station store's (SQLite at ``REPORTS_PATH``, default
    beside the registry, for the file store; the database for the PostgreSQL store)."""
    from webmap.core.state import get_app_state

    if not app.config.get("REPORTS_PATH"):
        app.config["REPORTS_PATH"] = str(Path(app.config["REGISTRY_PATH"]).with_name("reports.sqlite"))
    app.extensions[EXTENSION] = app.config.get("REPORTS_STORE") or open_report_store(get_app_state(app),
                                                                                      app.config["REPORTS_PATH"])


def get_reports(app: Flask | None = None) -> ReportStore:
    return (app or current_app).extensions[EXTENSION]


def max_age_days(app: Flask | None = None) -> int:
    return int((app or current_app).config.get("FRESHNESS_MAX_AGE_DAYS", DEFAULT_MAX_AGE_DAYS))
