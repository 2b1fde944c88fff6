"""Population-weighted coverage: how many residents live within R of a station (open at a given time), per district.

Residents are the records of a ``PopulationGrid`` (``geo.planning.population``); a record counts as
covered when its cell centre lies within ``radius_m`` of a counted station. Distances are
Euclidean in the Chongqing Albers equal-area CRS, whose linear scale is within 0.1 % of true
across the city (``geo.projection``): a 1,200 m radius is 1,200 ± 1.2 m. Each record is
treated as a point, so shares carry a discretisation error of the order of the cell size
over the radius; use 500 m cells for walking radii in small districts.

Area shares come from ``geo.queries.coverage`` (exact buffers and unions) or, for very large
registries, from a 250 m sampling grid (``area_method``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.districts import Districts
from geo.errors import Problem, ValidationError
from geo.hours import chongqing_now, open_mask, to_local_naive
from geo.messages import Text, clipped
from geo.planning.population import PopulationGrid, cached_grid_cells
from geo.projection import lonlat_to_metric
from geo.queries.coverage import check_radius, covered_areas, share

# 15 minutes at 4.8 km/h on foot, and at 16 km/h by e-bike (delivery riders' typical speed).
WALK_15_MIN_M = 1200.0
EBIKE_15_MIN_M = 4000.0
RADIUS_PRESETS = {"walk15": WALK_15_MIN_M, "ebike15": EBIKE_15_MIN_M}

CDF_THRESHOLDS_M = (250.0, 500.0, 1000.0, 1200.0, 2000.0, 4000.0, 8000.0, 16000.0)

# Above this many counted stations, "auto" measures area on a sampling grid instead of
# buffering and unioning every circle (200,000 circles take ~15 s; the grid ~1 s).
AREA_EXACT_MAX_STATIONS = 20_000
AREA_SAMPLING_CELL_M = 250.0

TABLE_COLUMNS = (
    "adcode", "district", "district_en", "population", "residents", "stations", "residents_per_station",
    "residents_covered", "residents_uncovered", "population_share", "area_km2", "covered_km2", "area_share",
    "median_distance_m",
)


@dataclass
class PopulationCoverage:
    """Residents within ``radius_m`` of a counted station.

    Attributes
    ----------
    radius_m : float
    at : datetime or None
        Chongqing local time the stations were filtered by (``None``: every station counts).
    table : DataFrame
        One row per district, columns ``TABLE_COLUMNS``: ``population`` (census),
        ``residents`` (sum of the grid), ``stations`` counted in the district,
        ``residents_per_station`` (census / stations, NaN with no station),
        ``residents_covered``, ``population_share`` (= covered / residents), ``area_share``,
        ``median_distance_m`` (resident-weighted median distance to the nearest station).
    totals : dict
        The same for the municipality (adcode ``500000``).
    nearest_m : ndarray
        Distance (metres) from each grid record to the nearest counted station; ``inf`` if none.
    covered : ndarray of bool
        ``nearest_m <= radius_m`` per grid record.
    grid : PopulationGrid
    area_method : str
        ``"exact"`` (buffers) or ``"grid"`` (250 m sampling).
    """

    radius_m: float
    at: datetime | None
    table: pd.DataFrame
    totals: dict
    nearest_m: np.ndarray = field(repr=False)
    covered: np.ndarray = field(repr=False)
    grid: PopulationGrid = field(repr=False)
    area_method: str = "exact"
    district_names: dict = field(default_factory=dict, repr=False)

    def records(self) -> list[dict]:
        """Table rows as JSON-safe dicts (NaN → None)."""
        return [_plain(r) for r in self.table.to_dict(orient="records")]

    def totals_record(self) -> dict:
        return _plain(self.totals)

    def worst_served(self, n: int | None = 10) -> pd.DataFrame:
        """Districts by population share, lowest first (ties: more uncovered residents first)."""
        ranked = self.table.sort_values(["population_share", "residents_uncovered"], ascending=[True, False], ignore_index=True)
        return ranked if n is None else ranked.head(n)

    def gap_cells(self, n: int | None = 100, adcode: str | None = None) -> pd.DataFrame:
        """Uncovered grid records ranked by residents: lon, lat, x, y, adcode, district, residents, nearest_m."""
        grid = self.grid
        mask = ~self.covered & (grid.residents > 0)
        if adcode is not None:
            mask &= grid.mask(adcode)
        idx = np.flatnonzero(mask)
        idx = idx[np.argsort(-grid.residents[idx], kind="stable")]
        if n is not None:
            idx = idx[:n]
        codes = grid.adcode[idx]
        return pd.DataFrame({
            "lon": grid.lon[idx], "lat": grid.lat[idx], "x": grid.x[idx], "y": grid.y[idx], "adcode": codes,
            "district": [self.district_names.get(c, c) for c in codes],
            "residents": grid.residents[idx], "nearest_m": self.nearest_m[idx],
        })

    def distance_cdf(self, thresholds=CDF_THRESHOLDS_M, adcode: str | None = None) -> pd.DataFrame:
        """Residents living within each distance of the nearest station: distance_m, residents, share."""
        mask = self.grid.mask(adcode)
        d, w = self.nearest_m[mask], self.grid.residents[mask]
        total = w.sum()
        within = np.array([w[d <= t].sum() for t in thresholds])
        return pd.DataFrame({"distance_m": np.asarray(thresholds, float), "residents": within,
                             "share": within / total if total > 0 else np.zeros(len(within))})

    def cdf_curve(self, adcode: str | None = None, max_points: int = 400) -> tuple[np.ndarray, np.ndarray]:
        """(distance_m, cumulative share of residents) sorted by distance, thinned to ``max_points``, for plots."""
        mask = self.grid.mask(adcode)
        d, w = self.nearest_m[mask], self.grid.residents[mask]
        order = np.argsort(d, kind="stable")
        d, cum = d[order], np.cumsum(w[order])
        share = cum / cum[-1] if len(cum) and cum[-1] > 0 else np.zeros(len(cum))
        finite = np.isfinite(d)
        d, share = d[finite], share[finite]
        if len(d) > max_points:
            pick = np.unique(np.linspace(0, len(d) - 1, max_points).astype(int))
            d, share = d[pick], share[pick]
        return d, share


_WEEKDAYS = {"mo": 0, "tu": 1, "we": 2, "th": 3, "fr": 4, "sa": 5, "su": 6,
             "周一": 0, "周二": 1, "周三": 2, "周四": 3, "周五": 4, "周六": 5, "周日": 6, "周天": 6}


def parse_at(value) -> datetime | None:
    """A moment in Chongqing local time.

    Accepts ``None``, a datetime, ``"HH:MM"`` (today), ``"Mo 22:00"`` / ``"周一 22:00"`` (the
    next such weekday, today included: OpenStreetMap's Mo Tu We Th Fr Sa Su), or an ISO date
    and time (``"2026-12-07T22:00"``, ``"2026-12-07 22:00"``). The result is naive local time.
    """
    if value is None or isinstance(value, datetime):
        return None if value is None else to_local_naive(value)
    text = str(value).strip()
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    day = re.fullmatch(r"(?i)([a-z]{2}|周[一二三四五六日天])\.?\s*(\d{1,2}):(\d{2})", text)
    try:
        if m:
            return datetime.combine(chongqing_now().date(), time(int(m[1]), int(m[2])))
        if day and day[1].lower() in _WEEKDAYS:
            today = chongqing_now().date()
            date = today + timedelta(days=(_WEEKDAYS[day[1].lower()] - today.weekday()) % 7)
            return datetime.combine(date, time(int(day[2]), int(day[3])))
        if not day:
            return to_local_naive(datetime.fromisoformat(text.replace(" ", "T", 1)))
    except ValueError:
        pass
    raise ValidationError(Problem("at", Text("plan.bad_time", value=clipped(value)), Text("plan.time_hint")))


def counted_stations(stations: gpd.GeoDataFrame, at=None) -> tuple[gpd.GeoDataFrame, datetime | None]:
    """The stations that count at ``at`` (all of them if ``None``), and ``at`` as a local datetime."""
    when = parse_at(at)
    if when is None or len(stations) == 0:
        return stations, when
    return stations[open_mask(stations["opening_hours"].to_numpy(), when)], when


def station_xy(stations: gpd.GeoDataFrame) -> np.ndarray:
    """(n, 2) Albers metres of station points (EPSG:4326 lon/lat)."""
    if len(stations) == 0:
        return np.empty((0, 2))
    x, y = lonlat_to_metric(stations.geometry.x.to_numpy(), stations.geometry.y.to_numpy())
    return np.column_stack([x, y])


def nearest_distance(points_xy: np.ndarray, stations_xy: np.ndarray, upper_bound: float = np.inf) -> np.ndarray:
    """Albers distance (m) from each point to the nearest station; ``inf`` if none (or beyond ``upper_bound``)."""
    if len(stations_xy) == 0 or len(points_xy) == 0:
        return np.full(len(points_xy), np.inf)
    from pykdtree.kdtree import KDTree  # as the nearest index: scipy's cKDTree would add 16 MB to every worker

    d, _ = KDTree(np.ascontiguousarray(stations_xy, dtype=float)).query(
        np.ascontiguousarray(points_xy, dtype=float), k=1, distance_upper_bound=None if np.isinf(upper_bound) else upper_bound)
    return d


def population_coverage(stations: gpd.GeoDataFrame, grid: PopulationGrid, districts: Districts, radius_m: float = WALK_15_MIN_M,
                        at=None, *, area_method: str = "auto") -> PopulationCoverage:
    """Residents within ``radius_m`` of a station, per district and for Chongqing.

    Parameters
    ----------
    stations : GeoDataFrame
        Active stations, points in EPSG:4326 with ``district_adcode`` and ``opening_hours``.
        A station counts for every district its circle reaches.
    grid : PopulationGrid
        Demand, e.g. ``geo.planning.population.default_population_grid(districts)``.
    districts : Districts
        The same districts the grid was built from.
    radius_m : float
        Reach in metres (``WALK_15_MIN_M`` = 1,200, ``EBIKE_15_MIN_M`` = 4,000).
    at : datetime, "HH:MM" or None
        Only stations open then (Chongqing time; "HH:MM" is today) count.
    area_method : "auto", "exact" or "grid"
        How ``area_share`` is measured: exact buffers (``geo.queries.coverage``), or the share of
        250 m sampling cells within the radius (±0.3 percentage points); "auto" is exact up
        to ``AREA_EXACT_MAX_STATIONS`` counted stations.
    """
    radius_m = check_radius(radius_m)
    if area_method not in ("auto", "exact", "grid"):
        raise ValidationError(Problem("area_method", Text("plan.bad_area_method", value=clipped(area_method))))
    stations, when = counted_stations(stations, at)
    frame = districts.frame
    if len(grid.district_codes) != len(frame) or not np.array_equal(grid.district_codes, frame["adcode"].to_numpy(dtype=str)):
        raise ValidationError(Problem("grid", Text("plan.other_grid")))
    xy = station_xy(stations)
    nearest = nearest_distance(grid.xy, xy)
    covered = nearest <= radius_m
    n_d = len(frame)
    residents = np.bincount(grid.district_idx, weights=grid.residents, minlength=n_d)
    resident_cov = np.bincount(grid.district_idx, weights=grid.residents * covered, minlength=n_d)
    counts = stations["district_adcode"].value_counts().reindex(frame["adcode"], fill_value=0).to_numpy() if len(stations) else np.zeros(n_d, int)
    population = frame["population_2020"].to_numpy(dtype=float)
    method = area_method if area_method != "auto" else ("exact" if len(stations) <= AREA_EXACT_MAX_STATIONS else "grid")
    area_m2 = districts.metric_frame.area.to_numpy()
    covered_m2 = (np.array([g.area for g in covered_areas(stations, districts, radius_m)]) if method == "exact"
                  else _sampled_covered_area(districts, xy, radius_m, area_m2))
    with np.errstate(divide="ignore", invalid="ignore"):
        table = pd.DataFrame({
            "adcode": frame["adcode"].to_numpy(), "district": frame["name_zh"].to_numpy(), "district_en": frame["name_en"].to_numpy(),
            "population": population.astype(np.int64), "residents": residents, "stations": counts.astype(np.int64),
            "residents_per_station": np.where(counts > 0, population / counts, np.nan),
            "residents_covered": resident_cov, "residents_uncovered": residents - resident_cov,
            "population_share": share(resident_cov, residents),
            "area_km2": area_m2 / 1e6, "covered_km2": covered_m2 / 1e6, "area_share": share(covered_m2, area_m2),
            "median_distance_m": _weighted_median(nearest, grid.residents, grid.district_idx, n_d),
        })
    total_res = residents.sum()
    totals = {
        "adcode": "500000", "district": "重庆市", "district_en": "Chongqing Municipality",
        "population": int(population.sum()), "residents": float(total_res), "stations": int(len(stations)),
        "residents_per_station": float(population.sum() / len(stations)) if len(stations) else None,
        "residents_covered": float(resident_cov.sum()), "residents_uncovered": float(total_res - resident_cov.sum()),
        "population_share": share(resident_cov.sum(), total_res),
        "area_km2": float(area_m2.sum() / 1e6), "covered_km2": float(covered_m2.sum() / 1e6),
        "area_share": share(covered_m2.sum(), area_m2.sum()),
        "median_distance_m": float(_weighted_median(nearest, grid.residents, np.zeros(len(grid), int), 1)[0]),
    }
    names = dict(zip(frame["adcode"], frame["name_zh"], strict=True))
    return PopulationCoverage(radius_m, when, table, totals, nearest, covered, grid, method, names)


def _sampled_covered_area(districts: Districts, stations_xy: np.ndarray, radius_m: float, area_m2: np.ndarray) -> np.ndarray:
    """Covered area per district from a 250 m sampling grid, scaled to each district's true area."""
    x, y, idx = cached_grid_cells(districts, AREA_SAMPLING_CELL_M)
    hit = np.isfinite(nearest_distance(np.column_stack([x, y]), stations_xy, upper_bound=radius_m * (1 + 1e-12)))
    n = np.bincount(idx, minlength=len(area_m2))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, np.bincount(idx, weights=hit, minlength=len(area_m2)) / n, 0.0) * area_m2


def _weighted_median(values: np.ndarray, weights: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Per group, the smallest value with at least half the group's weight at or below it (NaN for empty groups)."""
    order = np.lexsort((values, groups))
    v, w, g = values[order], weights[order], groups[order]
    out = np.full(n_groups, np.nan)
    bounds = np.searchsorted(g, np.arange(n_groups + 1))
    for k in range(n_groups):
        lo, hi = bounds[k], bounds[k + 1]
        if hi > lo and w[lo:hi].sum() > 0:
            cum = np.cumsum(w[lo:hi])
            out[k] = v[lo + np.searchsorted(cum, cum[-1] / 2)]
    return out


def _plain(row: dict) -> dict:
    """numpy scalars → Python numbers; NaN and inf → None (JSON has neither)."""
    out = {}
    for k, v in row.items():
        v = v.item() if hasattr(v, "item") else v
        out[k] = None if isinstance(v, float) and not np.isfinite(v) else v
    return out
