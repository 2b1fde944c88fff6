"""Chongqing's 38 district/county boundaries with 2020 census population, and point-in-district lookups."""

from __future__ import annotations

import json
import threading
from functools import cached_property
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from geo.errors import RegistryUnavailableError
from geo.paths import default_districts_path
from geo.projection import CHONGQING_EQUAL_AREA

DISTRICT_COLUMNS = ("adcode", "name_zh", "name_en", "kind", "population_2020", "seat_lon", "seat_lat")


_LOADED: dict = {}
_LOADED_LOCK = threading.Lock()


class Districts:
    """The district layer: a GeoDataFrame in EPSG:4326 plus a spatial index for lookups.

    ``frame`` columns: adcode, name_zh, name_en, kind, population_2020, seat_lon, seat_lat,
    area_km2 (recomputed in the Chongqing equal-area CRS), geometry.
    """

    def __init__(self, frame: gpd.GeoDataFrame):
        frame = frame.to_crs(4326) if frame.crs is not None and frame.crs.to_epsg() != 4326 else frame
        frame = frame.reset_index(drop=True)
        frame["adcode"] = frame["adcode"].astype(str)
        frame["area_km2"] = frame.to_crs(CHONGQING_EQUAL_AREA).area.to_numpy() / 1e6
        self.frame = frame
        self.by_adcode = {code: i for i, code in enumerate(frame["adcode"])}
        self._names = {"zh": dict(zip(frame["adcode"], frame["name_zh"], strict=False)), "en": dict(zip(frame["adcode"], frame["name_en"], strict=False))}
        self._tree = shapely.STRtree(frame.geometry.to_numpy())

    @classmethod
    def load(cls, path: str | Path | None = None) -> Districts:
        """Read the boundaries file (GeoJSON, WGS-84); the same unchanged file gives the same
        (immutable) object again, with whatever was derived from it (every app a process builds, and
        every test's, shares one)."""
        path = Path(path or default_districts_path())
        try:
            st = path.stat()
            key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
        except OSError:
            key = None
        with _LOADED_LOCK:
            held = _LOADED.get(key) if key is not None else None
        if held is not None:
            return held
        districts = cls._read(path)
        if key is not None:
            with _LOADED_LOCK:
                if len(_LOADED) >= 8:
                    _LOADED.pop(next(iter(_LOADED)))
                districts = _LOADED.setdefault(key, districts)
        return districts

    @classmethod
    def _read(cls, path: Path) -> Districts:
        # Read as JSON, not through GDAL (pyogrio): the same frame, in half the time, and a server
        # that only reads this file does not load GDAL's ~30 MB.
        try:
            with open(path, encoding="utf-8") as f:
                features = json.load(f)["features"]
            frame = gpd.GeoDataFrame.from_features(features, crs="EPSG:4326")
        except Exception as exc:  # noqa: BLE001 - any reason the file cannot be read is said the same way
            raise RegistryUnavailableError(f"{path}: cannot read district boundaries ({exc})") from exc
        frame = frame[[*(c for c in frame.columns if c != "geometry"), "geometry"]]
        missing = [c for c in DISTRICT_COLUMNS if c not in frame.columns]
        if missing:
            raise RegistryUnavailableError(f"{path}: district file lacks columns {', '.join(missing)}")
        return cls(frame)

    def __len__(self) -> int:
        return len(self.frame)

    @cached_property
    def outline(self):
        """The municipality as one geometry (WGS-84)."""
        return shapely.union_all(self.frame.geometry.to_numpy())

    @cached_property
    def metric_frame(self) -> gpd.GeoDataFrame:
        """The districts projected to the Chongqing equal-area CRS (metres)."""
        return self.frame.to_crs(CHONGQING_EQUAL_AREA)

    def name(self, adcode: str, lang: str = "zh") -> str:
        return self._names["en" if lang == "en" else "zh"][adcode]

    def locate(self, lon, lat) -> np.ndarray:
        """Adcode of the district containing each point (``None`` outside Chongqing).

        Points exactly on a shared boundary get the first district that touches them.
        """
        lon = np.atleast_1d(np.asarray(lon, dtype=float))
        lat = np.atleast_1d(np.asarray(lat, dtype=float))
        result = np.full(len(lon), None, dtype=object)
        ok = np.isfinite(lon) & np.isfinite(lat)
        points = shapely.points(lon[ok], lat[ok])
        point_idx, district_idx = self._tree.query(points, predicate="intersects")
        first = np.unique(point_idx, return_index=True)[1]
        codes = self.frame["adcode"].to_numpy(dtype=object)
        sub = np.full(ok.sum(), None, dtype=object)
        sub[point_idx[first]] = codes[district_idx[first]]
        result[ok] = sub
        return result

    def contains(self, adcode: str, lon, lat) -> np.ndarray:
        """Whether each point lies in (or on the edge of) district ``adcode``."""
        geom = self.frame.geometry.iloc[self.by_adcode[adcode]]
        return shapely.intersects_xy(geom, np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
