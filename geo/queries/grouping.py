"""Grouping of map points into square Web-Mercator grid cells, so a dense map view receives cells instead of thousands of points.

The grid is anchored at the map's south-west corner (lon -180, Mercator y -180°) and its
cell size depends only on the zoom level, so panning at one zoom keeps every cell where
it was (no flicker), and zooming in by one level splits each cell into four. A cell is drawn near the mean position of
its members, so a cluster of one street's stations sits on that street, but never closer to its cell's edge than half
the largest count bubble (``anchor_lon``/``anchor_lat``): bubbles of neighbouring cells never overlap.
Pure numpy; no Flask.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TILE_PX = 256
# Target on-screen size of one cell (pixels); Leaflet.markercluster's default radius is 80.
CELL_PX = 96
# The largest count bubble the map draws (webmap/static/js/map.js, cellMarker), pixels.
BUBBLE_PX = 60
MAX_ZOOM = 22
# Assumed width of a map view (pixels) when only its bounding box is known.
VIEW_PX = 1024
# Web Mercator's latitude limit; points beyond it are clamped onto the edge row.
MERCATOR_MAX_LAT = 85.05112878
# Smallest cell accepted (about 0.1 m), so column and row numbers always fit in 32 bits.
MIN_CELL_DEG = 1e-6


@dataclass(frozen=True)
class Grouping:
    """Points grouped into grid cells; every array is indexed by cell, in grid order.

    Attributes
    ----------
    cell_deg : float
        Cell size in degrees of longitude (and of Mercator y expressed in degrees).
    cell_of : ndarray of int, (n_points,)
        Cell index of each input point.
    count : ndarray of int, (n_cells,)
    lon, lat : ndarray of float, (n_cells,)
        Mean WGS-84 position of each cell's members, degrees.
    anchor_lon, anchor_lat : ndarray of float, (n_cells,)
        Where to draw the cell: its mean, moved inside the cell to half a ``BUBBLE_PX``
        bubble (at the zoom asked for) from the edge if nearer, so bubbles of neighbouring
        cells cannot overlap; never more than half a bubble from the mean.
    bounds : ndarray of float, (n_cells, 4)
        minlon, minlat, maxlon, maxlat of each cell's members, degrees.
    kind_counts : ndarray of int, (n_cells, n_kinds)
        Members of each kind code.
    first : ndarray of int, (n_cells,)
        Input index of one member (the earliest), to show a one-member cell as the point itself.
    """

    cell_deg: float
    cell_of: np.ndarray
    count: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    bounds: np.ndarray
    kind_counts: np.ndarray
    first: np.ndarray
    anchor_lon: np.ndarray
    anchor_lat: np.ndarray

    def __len__(self) -> int:
        return len(self.count)


def cell_size_deg(zoom: float, cell_px: float = CELL_PX) -> float:
    """Cell size, in degrees of longitude, that shows as ``cell_px`` pixels at Web-Mercator ``zoom``."""
    zoom = min(max(float(zoom), 0.0), MAX_ZOOM)
    return 360.0 / (TILE_PX * 2.0 ** math.floor(zoom)) * cell_px


def zoom_for_bbox(bbox, view_px: float = VIEW_PX) -> int:
    """The whole zoom level at which ``bbox`` (minlon, minlat, maxlon, maxlat; degrees) fills about ``view_px`` pixels."""
    minlon, minlat, maxlon, maxlat = (float(v) for v in bbox)
    width = maxlon - minlon
    height = float(mercator_y(maxlat) - mercator_y(minlat))
    span = max(width, height, 1e-9)
    zoom = math.floor(math.log2(360.0 * view_px / (TILE_PX * span)))
    return int(min(max(zoom, 0), MAX_ZOOM))


def mercator_y(lat) -> np.ndarray:
    """Web-Mercator northing expressed in degrees (equal to longitude degrees at the equator)."""
    phi = np.radians(np.clip(np.asarray(lat, dtype=float), -MERCATOR_MAX_LAT, MERCATOR_MAX_LAT))
    return np.degrees(np.arcsinh(np.tan(phi)))


def group_points(lon, lat, kinds, n_kinds: int, cell_deg: float, max_cells: int | None = None) -> Grouping:
    """Group points into square Mercator cells of ``cell_deg``, coarsening until at most ``max_cells``.

    Parameters
    ----------
    lon, lat : array-like of float, (n,)
        WGS-84 degrees; must be finite.
    kinds : array-like of int, (n,)
        Kind code of each point, ``0 <= code < n_kinds``.
    n_kinds : int
    cell_deg : float
        Starting cell size in degrees of longitude (see ``cell_size_deg``); positive.
    max_cells : int, optional
        If more cells than this are occupied, the cell size doubles (one zoom level out)
        until they fit; at most 64 doublings.

    Returns
    -------
    Grouping
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    kinds = np.asarray(kinds, dtype=np.int64)
    if not (lon.shape == lat.shape == kinds.shape and lon.ndim == 1):
        raise ValueError("lon, lat and kinds must be 1-d arrays of one length")
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        raise ValueError("coordinates must be finite degrees")
    if len(kinds) and (kinds.min() < 0 or kinds.max() >= n_kinds):
        raise ValueError(f"kind codes must lie in [0, {n_kinds})")
    if not (math.isfinite(cell_deg) and cell_deg > 0):
        raise ValueError("cell_deg must be a positive number of degrees")
    cell_deg = max(float(cell_deg), MIN_CELL_DEG)
    y = mercator_y(lat)
    # Half a bubble at the zoom asked for; coarser cells (to fit max_cells) keep this margin.
    margin_deg = cell_deg * min(BUBBLE_PX / 2 / CELL_PX, 0.5)
    for _ in range(65):
        keys = _cell_keys(lon, y, cell_deg)
        unique, first, cell_of = np.unique(keys, return_index=True, return_inverse=True)
        if max_cells is None or len(unique) <= max_cells or len(unique) <= 1:
            break
        cell_deg *= 2.0
    return _summarise(lon, lat, kinds, n_kinds, cell_deg, first, cell_of.reshape(-1), margin_deg)


def _cell_keys(lon: np.ndarray, y: np.ndarray, cell_deg: float) -> np.ndarray:
    # Counted from the south-west corner, columns and rows are non-negative and fit in
    # 32 bits (at MIN_CELL_DEG, 3.6e8 round the world), so one int64 key holds both.
    ix = np.floor(np.clip(lon + 180.0, 0.0, 360.0) / cell_deg).astype(np.int64)
    iy = np.floor(np.clip(y + 180.0, 0.0, 360.0) / cell_deg).astype(np.int64)
    return (ix << 32) + iy


def _summarise(lon, lat, kinds, n_kinds, cell_deg, first, cell_of, margin_deg) -> Grouping:
    n_cells = len(first)
    count = np.bincount(cell_of, minlength=n_cells)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_lon = np.bincount(cell_of, weights=lon, minlength=n_cells) / count
        mean_lat = np.bincount(cell_of, weights=lat, minlength=n_cells) / count
    bounds = np.empty((n_cells, 4))
    if n_cells:
        order = np.argsort(cell_of, kind="stable")
        starts = np.searchsorted(cell_of[order], np.arange(n_cells))
        bounds[:, 0] = np.minimum.reduceat(lon[order], starts)
        bounds[:, 1] = np.minimum.reduceat(lat[order], starts)
        bounds[:, 2] = np.maximum.reduceat(lon[order], starts)
        bounds[:, 3] = np.maximum.reduceat(lat[order], starts)
        # The mean of equal floats can round a hair outside their range; clamp it back.
        mean_lon = np.clip(mean_lon, bounds[:, 0], bounds[:, 2])
        mean_lat = np.clip(mean_lat, bounds[:, 1], bounds[:, 3])
    kind_counts = np.bincount(cell_of * n_kinds + kinds, minlength=n_cells * n_kinds).reshape(n_cells, n_kinds)
    anchor_lon, anchor_lat = _anchors(mean_lon, mean_lat, cell_deg, margin_deg)
    return Grouping(float(cell_deg), cell_of, count, mean_lon, mean_lat, bounds, kind_counts, np.asarray(first),
                    anchor_lon, anchor_lat)


def _anchors(mean_lon, mean_lat, cell_deg: float, margin: float) -> tuple[np.ndarray, np.ndarray]:
    # In Mercator degrees a cell is a square on screen, so the margin is the same both ways.
    x, y = mean_lon + 180.0, mercator_y(mean_lat) + 180.0
    x0, y0 = np.floor(x / cell_deg) * cell_deg, np.floor(y / cell_deg) * cell_deg
    x = np.clip(x, x0 + margin, x0 + cell_deg - margin)
    y = np.clip(y, y0 + margin, y0 + cell_deg - margin)
    lat = np.degrees(np.arctan(np.sinh(np.radians(y - 180.0))))
    return x - 180.0, lat
