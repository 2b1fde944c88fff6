"""Coverage by district: stations per resident and per area, and the share of area within R metres.

Buffers, unions and areas are computed in the Chongqing Albers equal-area CRS
(``geo.projection``). A station covers land in every district its circle reaches, not
just its own: a worker near a boundary does not care which union runs the station.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from threading import Lock

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.geometry

from geo import schema
from geo.districts import Districts
from geo.errors import Problem, ValidationError
from geo.gridding import Grid, district_grid
from geo.messages import Text, clipped
from geo.projection import CHONGQING_EQUAL_AREA, lonlat_to_metric
from geo.registry.snapshot import cached_on

# Segments per quarter circle. A 64-gon's area is 0.16 % short of the circle's; the
# radius is scaled up so each buffer's *area* equals the true circle's instead.
QUAD_SEGS = 16
_N = 4 * QUAD_SEGS
AREA_EQUALISING_FACTOR = math.sqrt((2 * math.pi / _N) / math.sin(2 * math.pi / _N))
MAX_RADIUS_M = 50_000.0
# Gap polygons are simplified this much (metres) before leaving the server; the district
# boundaries themselves were simplified at ~20 m.
GAP_SIMPLIFY_M = 10.0
MIN_GAP_AREA_M2 = 100.0

# Above this many active stations the covered area is measured on a sampling grid (the method
# the population coverage uses): buffering and unioning 200,000 circles takes ~15 s, the grid
# ~1 s, and a 250 m cell changes a district's covered share by well under one percentage point.
GRID_ABOVE_STATIONS = 20_000
GRID_CELL_M = 250.0

TABLE_COLUMNS = (
    "adcode", "district", "district_en", "population", "area_km2",
    *schema.KINDS, "stations", "per_10k_residents", "per_100km2", "covered_km2", "covered_share",
)


@dataclass
class CoverageResult:
    """Coverage at one radius.

    ``table``: one row per district (columns ``TABLE_COLUMNS``; ``covered_share`` in [0, 1]).
    ``totals``: the same figures for the whole municipality. ``gaps``: uncovered land as
    polygons in EPSG:4326 with ``adcode``, ``district``, ``area_km2``, made when first read.
    """

    radius_m: float
    table: pd.DataFrame
    totals: dict
    #: per district: the covered area (metric) and its gap rows, kept to work out the next version
    covered: list | None = field(default=None, repr=False)
    gap_rows: list | None = field(default=None, repr=False)
    #: "exact" (union of circles) or "grid" (share of 250 m cells within reach; gaps drawn from the cells)
    method: str = "exact"
    #: the gap rows when there are none yet (the grid's cells, drawn when the gaps are first asked for)
    gap_source: Callable[..., list] | None = field(default=None, repr=False)
    _gaps: gpd.GeoDataFrame | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def gaps(self) -> gpd.GeoDataFrame:
        return self.gap_polygons()

    def gap_polygons(self, run=None) -> gpd.GeoDataFrame:
        """``gaps``, drawn once; ``run(fn, *args)`` runs a grid's drawing elsewhere (``GapCells.rows``)."""
        gaps = self._gaps
        if gaps is None:
            source = self.gap_source
            if self.gap_rows is not None:
                rows = self.gap_rows
            elif source is None:  # drawn meanwhile by another thread
                return self._gaps
            else:
                rows = source(run)
            gaps = self._gaps = gaps_frame(rows)
            self.gap_source = None  # the cells are not needed once drawn
        return gaps

    def records(self) -> list[dict]:
        return [_plain(row) for row in self.table.to_dict(orient="records")]


def check_radius(radius_m) -> float:
    """A coverage radius in metres, 1 m to 50 km; ``ValidationError`` otherwise."""
    try:
        radius = float(radius_m)
    except (TypeError, ValueError):
        raise ValidationError(Problem("radius_m", Text("q.not_number", value=clipped(radius_m)))) from None
    if not math.isfinite(radius) or not 1 <= radius <= MAX_RADIUS_M:
        raise ValidationError(Problem("radius_m", Text("q.radius_range", value=clipped(radius_m), max=f"{MAX_RADIUS_M:g}")))
    return radius


def covered_areas(stations: gpd.GeoDataFrame, districts: Districts, radius_m: float, only=None, previous=None):
    """Per district, the union of station circles clipped to the district (metric CRS).

    Returns a list of shapely geometries aligned with ``districts.frame``. With ``only`` (bool per
    district) and ``previous`` (the list of an earlier version), only those districts are worked
    out again and the others are taken from ``previous``.
    """
    radius_m = check_radius(radius_m)
    x, y = lonlat_to_metric(stations.geometry.x.to_numpy(), stations.geometry.y.to_numpy())
    reach = radius_m * AREA_EQUALISING_FACTOR
    polygons = districts.metric_frame.geometry.to_numpy()
    wanted = np.ones(len(polygons), dtype=bool) if only is None else np.asarray(only, dtype=bool)
    if only is not None and wanted.any():  # only the stations whose circle can reach those districts
        minx, miny, maxx, maxy = shapely.total_bounds(polygons[wanted])
        near = (x >= minx - reach) & (x <= maxx + reach) & (y >= miny - reach) & (y <= maxy + reach)
        x, y = x[near], y[near]
    circles = shapely.buffer(shapely.points(x, y), reach, quad_segs=QUAD_SEGS) if wanted.any() else np.empty(0, dtype=object)
    tree = shapely.STRtree(circles)
    covered = []
    for d, polygon in enumerate(polygons):
        if not wanted[d]:
            covered.append(previous[d])
            continue
        near = tree.query(polygon, predicate="intersects")
        covered.append(shapely.intersection(shapely.union_all(circles[near]), polygon) if len(near) else shapely.Polygon())
    return covered


def districts_near(districts: Districts, lon, lat, radius_m: float) -> np.ndarray:
    """Which districts (bool, ``districts.frame`` order) lie within ``radius_m`` (a coverage radius) of any point."""
    if not len(lon):
        return np.zeros(len(districts.frame), dtype=bool)
    x, y = lonlat_to_metric(lon, lat)
    reach = shapely.buffer(shapely.multipoints(np.column_stack([x, y])), radius_m * AREA_EQUALISING_FACTOR + 1.0)
    return shapely.intersects(districts.metric_frame.geometry.to_numpy(), reach)


def district_coverage(stations: gpd.GeoDataFrame, districts: Districts, radius_m: float = 1000.0,
                      previous: CoverageResult | None = None, moved=None) -> CoverageResult:
    """Coverage figures per district and for Chongqing as a whole.

    Parameters
    ----------
    stations : GeoDataFrame
        Active stations, points in EPSG:4326 with ``kind`` and ``district_adcode``.
    districts : Districts
    radius_m : float
        Reach of a station in metres (1,000 m ≈ a 12–15-minute walk).
    previous, moved : CoverageResult of an earlier version at this radius, and (n, 2) lon/lat of every
        station written since (where it was and where it is): only the districts those points
        can reach are worked out again.
    """
    radius_m = check_radius(radius_m)
    frame = districts.frame
    metric = districts.metric_frame
    area_m2 = metric.area.to_numpy()
    only = covered = None
    if len(stations) > GRID_ABOVE_STATIONS:
        method = "grid"
        covered_m2, gap_cells = grid_coverage(stations, districts, radius_m, area_m2)
    else:
        method = "exact"
        if previous is not None and previous.covered is not None and moved is not None:
            only = districts_near(districts, moved[:, 0], moved[:, 1], radius_m)
        covered = covered_areas(stations, districts, radius_m, only=only, previous=previous.covered if only is not None else None)
        covered_m2 = np.array([g.area for g in covered])
        gap_rows = gap_rows_by_district(districts, covered, only=only, previous=previous.gap_rows if only is not None else None)
    counts = (
        pd.crosstab(stations["district_adcode"], stations["kind"]).reindex(index=frame["adcode"], columns=list(schema.KINDS), fill_value=0)
        if len(stations) else pd.DataFrame(0, index=frame["adcode"], columns=list(schema.KINDS))
    )
    population = frame["population_2020"].to_numpy(dtype=float)
    table = pd.DataFrame({
        "adcode": frame["adcode"].to_numpy(),
        "district": frame["name_zh"].to_numpy(),
        "district_en": frame["name_en"].to_numpy(),
        "population": frame["population_2020"].to_numpy(dtype=np.int64),
        "area_km2": area_m2 / 1e6,
    })
    for kind in schema.KINDS:
        table[kind] = counts[kind].to_numpy(dtype=np.int64)
    table["stations"] = counts.sum(axis=1).to_numpy(dtype=np.int64)
    table["per_10k_residents"] = table["stations"] / population * 1e4
    table["per_100km2"] = table["stations"] / table["area_km2"] * 100
    table["covered_km2"] = covered_m2 / 1e6
    table["covered_share"] = share(covered_m2, area_m2)
    totals = {
        "adcode": "500000", "district": "重庆市", "district_en": "Chongqing Municipality",
        "population": int(population.sum()), "area_km2": float(area_m2.sum() / 1e6),
        **{kind: int(table[kind].sum()) for kind in schema.KINDS},
        "stations": int(table["stations"].sum()),
    }
    totals["per_10k_residents"] = totals["stations"] / totals["population"] * 1e4
    totals["per_100km2"] = totals["stations"] / totals["area_km2"] * 100
    totals["covered_km2"] = float(covered_m2.sum() / 1e6)
    totals["covered_share"] = share(covered_m2.sum(), area_m2.sum())
    totals["area_method"] = method
    # The exact method keeps its areas and gap rows to work out the next version from; the grid starts afresh,
    # and draws its gaps only when they are first asked for.
    if method == "exact":
        return CoverageResult(radius_m, table, totals, covered=covered, gap_rows=gap_rows, method=method)
    return CoverageResult(radius_m, table, totals, method=method, gap_source=gap_cells.rows)


def _district_grid(districts: Districts, cell_m: float) -> Grid:
    """The districts on an Albers grid of ``cell_m`` (``geo.gridding``), cached on the district map.
    Chongqing's 38 districts at 250 m are 3.4 million cells: 3.4 MB as uint8 (the cells inside are
    found again per use, in milliseconds, rather than held)."""
    return cached_on(districts, f"coverage_grid:{cell_m:g}",
                     lambda: district_grid(districts.metric_frame.geometry.to_numpy(), cell_m))


def grid_coverage(stations: gpd.GeoDataFrame, districts: Districts, radius_m: float, area_m2: np.ndarray):
    """Covered area per district (m², the share of its cells within ``radius_m`` of a station times its true
    area), and the uncovered cells (``GapCells``: drawn as polygons only if asked for)."""
    from pykdtree.kdtree import KDTree  # the nearest index's k-d tree: scipy's would add 16 MB to every worker

    grid = _district_grid(districts, GRID_CELL_M)
    labels = grid.labels
    inside = np.flatnonzero(labels)
    rows, cols = np.divmod(inside, labels.shape[1])
    x, y = lonlat_to_metric(stations.geometry.x.to_numpy(), stations.geometry.y.to_numpy())
    district = labels.ravel()[inside].astype(np.intp) - 1
    if len(x):
        centres = np.column_stack(grid.centres(rows, cols))
        reach, _ = KDTree(np.column_stack([x, y])).query(centres, k=1, distance_upper_bound=radius_m * (1 + 1e-12))
        del centres
        hit = np.isfinite(reach)
    else:
        hit = np.zeros(len(rows), dtype=bool)
    n_d = len(area_m2)
    cells = np.bincount(district, minlength=n_d)
    with np.errstate(divide="ignore", invalid="ignore"):
        covered_m2 = np.where(cells > 0, np.bincount(district, weights=hit, minlength=n_d) / np.maximum(cells, 1), 0.0) * area_m2
    del rows, cols
    gap = np.zeros_like(labels)
    gap.ravel()[inside[~hit]] = labels.ravel()[inside[~hit]]
    return covered_m2, GapCells(grid, gap, districts)


class GapCells:
    """The uncovered cells of a grid coverage (``gap``: the district label where uncovered, else 0),
    drawn as polygons per district when first asked for (``rows``). Drawing needs rasterio (GDAL,
    ~30 MB resident once loaded): a server runs it in a separate process, so its workers never load it."""

    def __init__(self, grid: Grid, gap: np.ndarray, districts: Districts):
        self.grid, self.gap, self.districts = grid, gap, districts

    def rows(self, run=None) -> list[list[tuple]]:
        """Per district, its uncovered polygons as (adcode, district, km², simplified metric polygon);
        ``run(fn, *args)`` runs the drawing (``trace_gaps``) elsewhere, else it runs here."""
        frame = self.districts.frame
        args = (self.gap, self.grid.cell_m, self.grid.x0, self.grid.y1, frame["adcode"].tolist(), frame["name_zh"].tolist())
        return run(trace_gaps, *args) if run is not None else trace_gaps(*args)


def trace_gaps(gap: np.ndarray, cell_m: float, x0: float, y1: float, adcodes: list, names: list) -> list[list[tuple]]:
    """Per district (``adcodes``/``names`` in label order), the polygons of its uncovered cells in ``gap``
    (a grid of ``cell_m`` from the north-west corner ``x0``, ``y1``), as ``GapCells.rows`` gives them."""
    from rasterio import features

    gap_rows: list[list[tuple]] = [[] for _ in adcodes]
    transform = Grid(cell_m, x0, y1, gap).transform()
    for geometry, value in features.shapes(gap, mask=gap > 0, transform=transform, connectivity=4):
        d = int(value) - 1
        polygon = shapely.geometry.shape(geometry)
        if polygon.area >= MIN_GAP_AREA_M2:
            gap_rows[d].append((adcodes[d], names[d], polygon.area / 1e6,
                                shapely.simplify(polygon, GAP_SIMPLIFY_M, preserve_topology=True)))
    return gap_rows


def share(part, whole):
    """``part / whole`` clamped to [0, 1] (0 where ``whole`` is 0), scalars or arrays.

    Shares are reported with a schema maximum of 1, but a covered area summed from
    buffers intersected with each district can exceed the district's area in the last
    bits (1.0000000000000004); clamping here, where shares are made, keeps every
    figure downstream inside its range.
    """
    part = np.asarray(part, dtype=float)
    whole = np.asarray(whole, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # a huge part over a tiny whole: clipped below
        ratio = np.where(whole > 0, part / np.where(whole > 0, whole, 1.0), 0.0)
    ratio = np.clip(np.nan_to_num(ratio, nan=0.0), 0.0, 1.0)
    return float(ratio) if ratio.ndim == 0 else ratio


def coverage_gaps(districts: Districts, covered) -> gpd.GeoDataFrame:
    """Uncovered land per district as polygons, EPSG:4326, largest first."""
    return gaps_frame(gap_rows_by_district(districts, covered))


def gap_rows_by_district(districts: Districts, covered, only=None, previous=None) -> list[list[tuple]]:
    """Per district, its uncovered polygons as (adcode, district, km², simplified metric polygon); with
    ``only``/``previous``, the districts not in ``only`` are taken from ``previous``."""
    metric = districts.metric_frame
    rows = []
    for d, ((adcode, name, polygon), cover) in enumerate(zip(metric[["adcode", "name_zh", "geometry"]].itertuples(index=False),
                                                            covered, strict=False)):
        if only is not None and not only[d]:
            rows.append(previous[d])
            continue
        gap = shapely.difference(polygon, cover) if not cover.is_empty else polygon
        rows.append([(adcode, name, part.area / 1e6, shapely.simplify(part, GAP_SIMPLIFY_M, preserve_topology=True))
                     for part in shapely.get_parts(gap) if part.geom_type == "Polygon" and part.area >= MIN_GAP_AREA_M2])
    return rows


def gaps_frame(rows_by_district) -> gpd.GeoDataFrame:
    rows = [row for rows in rows_by_district for row in rows]
    gaps = gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=["adcode", "district", "area_km2", "geometry"]),
        geometry="geometry", crs=CHONGQING_EQUAL_AREA,
    )
    return gaps.sort_values("area_km2", ascending=False, ignore_index=True).to_crs(4326)


def _plain(row: dict) -> dict:
    """numpy scalars → Python numbers, for JSON."""
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}


_CACHED_RADII = 8


class CoverageCache:
    """A snapshot's coverage results by radius (a handful), carried to the next version lazily: the
    next version's first request at a radius works out only the districts its writes can reach."""

    def __init__(self, base: CoverageCache | None = None, moved: np.ndarray | None = None):
        self.results: OrderedDict[float, CoverageResult] = OrderedDict()
        self.lock = Lock()
        self.base, self.moved = base, moved

    def carried_to(self, snapshot) -> CoverageCache:
        if snapshot.touched_points is None:
            return CoverageCache()
        if self.results or self.base is None:
            return CoverageCache(self, snapshot.touched_points)
        return CoverageCache(self.base, np.concatenate([self.moved, snapshot.touched_points]))

    def previous(self, key: float) -> CoverageResult | None:
        if self.base is None:
            return None
        with self.base.lock:
            return self.base.results.get(key)


def coverage_points(snapshot) -> gpd.GeoDataFrame:
    """The active stations with only what coverage reads (kind, district, point), straight from the
    columns: the snapshot's full frame costs ~180 MB at 200,000 stations and is not needed here."""
    table = snapshot.table
    active = np.flatnonzero(table.equals("status", "active"))
    return gpd.GeoDataFrame({"kind": table.take("kind", active), "district_adcode": table.take("district_adcode", active)},
                            geometry=shapely.points(table.lon[active], table.lat[active]), crs="EPSG:4326")


def snapshot_coverage(snapshot, radius_m: float = 1000.0) -> CoverageResult:
    """District coverage of a registry snapshot at ``radius_m``, cached per version (a handful of radii)."""
    cache = snapshot.cached("coverage_cache", CoverageCache)
    key = round(float(radius_m), 3)
    with cache.lock:
        if key in cache.results:
            cache.results.move_to_end(key)
            return cache.results[key]
    result = district_coverage(coverage_points(snapshot), snapshot.districts, radius_m=key, previous=cache.previous(key),
                               moved=cache.moved)
    with cache.lock:
        cache.results[key] = result
        while len(cache.results) > _CACHED_RADII:
            cache.results.popitem(last=False)
        if len(cache.results) >= len(cache.base.results if cache.base else ()):
            cache.base = None  # nothing more to take from the earlier version
    return result
