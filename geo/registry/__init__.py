"""The station registry: immutable snapshots behind one store contract.

- ``snapshot``: one version of the registry and what is derived from it;
- ``store``: the contract every backend implements, and the rules of writing;
- ``filestore``: the GeoJSON file backend (the embedded default);
- ``audit``: the append-only log of every write; ``validate``: what a station must be.

``open_store`` chooses the backend; nothing outside a store opens the registry.
"""

from __future__ import annotations

from pathlib import Path

from geo.districts import Districts
from geo.registry.filestore import GeoJSONFileStore, dump_feature_collection
from geo.registry.snapshot import Snapshot, cached_on, stations_frame
from geo.registry.store import StationStore, now_iso, prepare_new_features

__all__ = ["GeoJSONFileStore", "Snapshot", "StationStore", "cached_on", "dump_feature_collection", "now_iso",
           "open_store", "prepare_new_features", "stations_frame"]


def open_store(registry_path: str | Path | None = None, districts_path: str | Path | None = None) -> GeoJSONFileStore:
    """The file store for ``registry_path`` (default ``data/stations.geojson``)."""
    from geo.paths import default_districts_path, default_registry_path

    return GeoJSONFileStore(registry_path or default_registry_path(), Districts.load(districts_path or default_districts_path()))
