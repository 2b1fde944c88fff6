"""Districts on a square grid in the Albers CRS: which district each cell's centre lies in.

Coverage at scale and the population grids sample Chongqing on cells aligned to multiples of
the cell size. Each cell belongs to the district containing its centre (GDAL's pixel-centre
rule, what ``rasterio.features.rasterize`` does by default), so every cell is counted once.

Why not rasterio here: its ``rasterize`` gives the same labels (``tests/geo/test_gridding.py``
holds the two equal on the real districts at every cell size, and on random polygons with
holes), but it loads GDAL, ~29 MB resident in every server worker that computes coverage or
a population grid, for a raster of a few dozen polygons made once per process.
``scripts/bench_gridding.py`` measures both. rasterio stays for reading population rasters
and for drawing gap polygons from cells, which only some requests need.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely


@dataclass(frozen=True)
class Grid:
    """Cells of ``cell_m`` metres whose north-west corner is (``x0``, ``y1``); ``labels[row, col]``
    is the district row + 1 of the cell's centre, 0 outside every district."""

    cell_m: float
    x0: float
    y1: float
    labels: np.ndarray

    def centres(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Albers x, y of the centres of cells (``rows``, ``cols``)."""
        return self.x0 + (cols + 0.5) * self.cell_m, self.y1 - (rows + 0.5) * self.cell_m

    def transform(self):
        """The grid as an affine transform (pixel → Albers), for rasterio."""
        from affine import Affine

        return Affine(self.cell_m, 0.0, self.x0, 0.0, -self.cell_m, self.y1)


def district_grid(polygons, cell_m: float) -> Grid:
    """The grid of ``cell_m`` covering ``polygons`` (Albers, in district order), aligned to multiples of
    ``cell_m``; labels in the smallest unsigned type that holds them. Where polygons overlap, the later wins."""
    cell_m = float(cell_m)
    polygons = np.asarray(polygons, dtype=object)
    minx, miny, maxx, maxy = shapely.total_bounds(polygons)
    x0, y1 = math.floor(minx / cell_m) * cell_m, math.ceil(maxy / cell_m) * cell_m
    nx, ny = int(math.ceil((maxx - x0) / cell_m)), int(math.ceil((y1 - miny) / cell_m))
    dtype = next(t for t in (np.uint8, np.uint16, np.uint32) if len(polygons) < np.iinfo(t).max)
    labels = np.zeros((max(ny, 0), max(nx, 0)), dtype=dtype)
    for value, polygon in enumerate(polygons, start=1):
        burn(labels, polygon, x0, y1, cell_m, value)
    return Grid(cell_m, x0, y1, labels)


def burn(labels: np.ndarray, polygon, x0: float, y1: float, cell_m: float, value: int) -> None:
    """Set ``labels`` to ``value`` at every cell whose centre is inside ``polygon`` (holes excluded).

    Scanlines through the rows' centres: each ring edge crosses the rows whose centre y is in
    (its lower y, its upper y] (half-open, so a vertex on a scanline is crossed once), the
    crossings of a row sorted by x pair up as (enter, leave), and the cells whose centre x is in
    (enter, leave] are inside (even-odd rule, which is the polygon's interior for a valid one).
    The half-open sides are GDAL's, so a centre on an edge goes where rasterio puts it."""
    ny, nx = labels.shape
    if polygon is None or shapely.is_empty(polygon) or not ny or not nx:
        return
    rings = shapely.get_rings(shapely.get_parts(polygon))
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[:-1] == ring[1:]
    xa, ya, xb, yb = coords[:-1, 0][same], coords[:-1, 1][same], coords[1:, 0][same], coords[1:, 1][same]
    low, high = np.minimum(ya, yb), np.maximum(ya, yb)
    # Rows whose centre y = y1 - (r + 0.5) * cell_m may fall in (low, high]: a row more on each side, then checked exactly.
    first = np.maximum(np.floor((y1 - high) / cell_m - 0.5).astype(np.int64) - 1, 0)
    last = np.minimum(np.floor((y1 - low) / cell_m - 0.5).astype(np.int64) + 1, ny - 1)
    counts = np.maximum(last - first + 1, 0)
    edge = np.repeat(np.arange(len(xa)), counts)
    rows = np.repeat(first, counts) + (np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts))
    cy = y1 - (rows + 0.5) * cell_m
    crossed = (cy > low[edge]) & (cy <= high[edge])
    edge, rows, cy = edge[crossed], rows[crossed], cy[crossed]
    if not len(rows):
        return
    x = xa[edge] + (cy - ya[edge]) * (xb[edge] - xa[edge]) / (yb[edge] - ya[edge])
    order = np.lexsort((x, rows))
    rows, x = rows[order], x[order]
    # Every closed ring crosses a scanline an even number of times, so the row's crossings pair up.
    rows, enter, leave = rows[0::2], x[0::2], x[1::2]
    start = np.clip(np.floor((enter - x0) / cell_m - 0.5) + 1, 0, nx).astype(np.int64)
    stop = np.clip(np.floor((leave - x0) / cell_m - 0.5) + 1, 0, nx).astype(np.int64)
    runs = stop > start
    rows, start, stop = rows[runs], start[runs], stop[runs]
    if not len(rows):
        return
    top, left = int(rows.min()), int(start.min())
    steps = np.zeros((int(rows.max()) - top + 1, int(stop.max()) - left + 1), dtype=np.int32)
    np.add.at(steps, (rows - top, start - left), 1)
    np.add.at(steps, (rows - top, stop - left), -1)
    inside = np.cumsum(steps, axis=1)[:, :-1] > 0
    labels[top: top + inside.shape[0], left: left + inside.shape[1]][inside] = value
