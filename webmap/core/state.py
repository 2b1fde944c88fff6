"""The app's registry: one store per app, one snapshot (with its indexes) per registry version.

The store is chosen by configuration (``STORE_URL``: a GeoJSON path or ``postgresql://…``;
default ``REGISTRY_PATH``); nothing in the web app knows which backend it has. With
``REGISTRY_FOLLOW`` (what ``stationmap serve`` sets) the store follows other processes' writes
in a background thread and builds each new version's nearest index before swapping it in,
so a write never makes a rider's request wait for a reload (``"workers"``: only in the processes
forked from this one).
"""

from __future__ import annotations

from flask import Flask, current_app

from geo.districts import Districts
from geo.registry import Snapshot, StationStore, open_store
from geo.registry.state import AppState

EXTENSION = "stationmap"


def init_app(app: Flask) -> None:
    """Open the store now, so a missing or corrupt registry (or an unreachable database) stops start-up
    with a clear error."""
    store = app.config.get("STORE")
    if store is None:
        districts = Districts.load(app.config["DISTRICTS_PATH"])
        store = open_store(app.config.get("STORE_URL") or app.config["REGISTRY_PATH"], districts)
    if app.config.get("REGISTRY_FOLLOW"):
        from geo.queries.nearest import warm

        store.warm_with(warm)
        store.keep_current(here=app.config["REGISTRY_FOLLOW"] != "workers")
    store.snapshot()
    app.extensions[EXTENSION] = store


def get_store() -> StationStore:
    return current_app.extensions[EXTENSION]


def get_app_state(app: Flask | None = None) -> AppState:
    """Where accounts, counters, drafts, planner inputs, reports and the secret live: the store's
    (``geo.registry.state``); each factory takes the file place from the config, which a database ignores."""
    return (app or current_app).extensions[EXTENSION].state


def get_snapshot() -> Snapshot:
    """The current registry version; a new version written by any process shows on the next request
    (with ``REGISTRY_FOLLOW``, as soon as the background thread has built it)."""
    return get_store().snapshot()
