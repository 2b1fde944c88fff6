"""The station registry: immutable snapshots behind one store contract.

- ``snapshot``: one version of the registry and what is derived from it;
- ``store``: the contract the CLI and the web app use, and the rules of writing;
- ``backend``: what a storage backend does (store and fetch, atomically);
- ``filestore``: the GeoJSON file backend (the embedded default);
- ``postgis``: the PostgreSQL/PostGIS backend (several app servers, one database);
- ``audit``: the append-only log of every write; ``validate``: what a station must be;
- ``state`` (``state_file``, ``state_pg``): the app's other state (accounts, counters, drafts…)
  beside the registry: local files, or the same database.

``open_store(url)`` chooses the backend; nothing outside a store opens the registry.

Importing the package imports none of its modules (they are imported when first named): a light
one, ``postgis_load``, can start reading a database before geopandas and the rest are imported.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from geo.districts import Districts
    from geo.registry.store import StationStore

__all__ = ["GeoJSONFileStore", "Snapshot", "StationStore", "cached_on", "dump_feature_collection", "is_database_url",
           "now_iso", "open_state", "open_store", "prepare_new_features", "stations_frame"]
#: what the package names, and the module each comes from (imported on first use)
_LAZY = {"GeoJSONFileStore": "filestore", "dump_feature_collection": "filestore", "Snapshot": "snapshot",
         "cached_on": "snapshot", "stations_frame": "snapshot", "StationStore": "store", "now_iso": "store",
         "prepare_new_features": "store"}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

DATABASE_SCHEMES = ("postgresql://", "postgres://")


def is_database_url(url: str | Path | None) -> bool:
    return isinstance(url, str) and url.startswith(DATABASE_SCHEMES)


def open_store(url: str | Path | None = None, districts: str | Path | Districts | None = None) -> StationStore:
    """The store at ``url``: a path or ``file:`` URL of a GeoJSON registry (default ``data/stations.geojson``),
    or ``postgresql://user@host/db`` for the PostGIS store (schema made by ``stationmap db upgrade``).

    ``districts`` is a Districts map or the path of its GeoJSON (default ``data/districts.geojson``).
    """
    from geo.districts import Districts
    from geo.paths import default_districts_path, default_registry_path
    from geo.registry.filestore import GeoJSONFileStore
    from geo.registry.store import StationStore

    if not isinstance(districts, Districts):
        districts = Districts.load(districts or default_districts_path())
    if is_database_url(url):
        from geo.registry.postgis import PostGISBackend
        from geo.registry.state_pg import PostgresState

        return StationStore(PostGISBackend(str(url)), districts, PostgresState(str(url)))
    if isinstance(url, str) and url.startswith("file:"):
        url = url.removeprefix("file://") if url.startswith("file://") else url.removeprefix("file:")
    return GeoJSONFileStore(url or default_registry_path(), districts)


def open_state(url: str | Path | None = None):
    """The app state (accounts, counters, drafts…) of the store at ``url`` without loading its stations: what
    ``open_store(url).state`` would be. For a database, its schema is checked first (one clear line if wrong)."""
    if is_database_url(url):
        from geo.registry.postgis import check_schema, connect
        from geo.registry.state_pg import PostgresState

        with connect(str(url)) as conn:
            check_schema(conn, str(url))
        return PostgresState(str(url))
    from geo.registry.state_file import FileState

    return FileState()
