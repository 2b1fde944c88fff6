"""The app's registry: one store per app, one snapshot (with its indexes) per registry version."""

from __future__ import annotations

from flask import Flask, current_app

from geo.districts import Districts
from geo.registry import GeoJSONFileStore, Snapshot, StationStore

EXTENSION = "stationmap"


def init_app(app: Flask) -> None:
    """Open the store now, so a missing or corrupt registry stops start-up with a clear error."""
    districts = Districts.load(app.config["DISTRICTS_PATH"])
    store = app.config.get("STORE") or GeoJSONFileStore(app.config["REGISTRY_PATH"], districts)
    store.snapshot()
    app.extensions[EXTENSION] = store


def get_store() -> StationStore:
    return current_app.extensions[EXTENSION]


def get_snapshot() -> Snapshot:
    """The current registry version; a new version written by any process shows on the next request."""
    return get_store().snapshot()
