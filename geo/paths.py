"""Where the bundled data lives, overridable by environment variables for deployments."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"


def default_registry_path() -> Path:
    """The station registry: ``$STATIONMAP_REGISTRY`` or ``data/stations.geojson``."""
    return Path(os.environ.get("STATIONMAP_REGISTRY", DATA_DIR / "stations.geojson"))


def default_districts_path() -> Path:
    """The 38 district boundaries with census population: ``$STATIONMAP_DISTRICTS`` or ``data/districts.geojson``."""
    return Path(os.environ.get("STATIONMAP_DISTRICTS", DATA_DIR / "districts.geojson"))
