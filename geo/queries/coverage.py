"""Coverage by district: stations per resident and per area, and the share of area within R metres.

Buffers, unions and areas are computed in the Chongqing Albers equal-area CRS
(``geo.projection``). A station covers land in every district its circle reaches, not
just its own: a worker near a boundary does not care which union runs the station.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from threading import Lock

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo import schema
from geo.districts import Districts
from geo.errors import Problem, ValidationError
from geo.messages import Text, clipped
from geo.projection import CHONGQING_EQUAL_AREA, lonlat_to_metric

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

TABLE_COLUMNS = (
    "adcode", "district", "district_en", "population", "area_km2",
    *schema.KINDS, "stations", "per_10k_residents", "per_100km2", "covered_km2", "covered_share",
)


@dataclass
class CoverageResult:
    """Coverage at one radius.

    ``table``: one row per district (columns ``TABLE_COLUMNS``; ``covered_share`` in [0, 1]).
    ``totals``: the same figures for the whole municipality. ``gaps``: uncovered land as
    polygons in EPSG:4326 with ``adcode``, ``district``, ``area_km2``.
    """

    radius_m: float
    table: pd.DataFrame
    totals: dict
    gaps: gpd.GeoDataFrame = field(repr=False)

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


def covered_areas(stations: gpd.GeoDataFrame, districts: Districts, radius_m: float):
    """Per district, the union of station circles clipped to the district (metric CRS).

    Returns a list of shapely geometries aligned with ``districts.frame``.
    """
    radius_m = check_radius(radius_m)
    x, y = lonlat_to_metric(stations.geometry.x.to_numpy(), stations.geometry.y.to_numpy())
    circles = shapely.buffer(shapely.points(x, y), radius_m * AREA_EQUALISING_FACTOR, quad_segs=QUAD_SEGS)
    tree = shapely.STRtree(circles)
    covered = []
    for polygon in districts.metric_frame.geometry:
        near = tree.query(polygon, predicate="intersects")
        if len(near) == 0:
            covered.append(shapely.Polygon())
            continue
        covered.append(shapely.intersection(shapely.union_all(circles[near]), polygon))
    return covered


def district_coverage(stations: gpd.GeoDataFrame, districts: Districts, radius_m: float = 1000.0) -> CoverageResult:
    """Coverage figures per district and for Chongqing as a whole.

    Parameters
    ----------
    stations : GeoDataFrame
        Active stations, points in EPSG:4326 with ``kind`` and ``district_adcode``.
    districts : Districts
    radius_m : float
        Reach of a station in metres (1,000 m ≈ a 12–15-minute walk).
    """
    radius_m = check_radius(radius_m)
    frame = districts.frame
    metric = districts.metric_frame
    covered = covered_areas(stations, districts, radius_m)
    covered_m2 = np.array([g.area for g in covered])
    area_m2 = metric.area.to_numpy()
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
    return CoverageResult(radius_m, table, totals, coverage_gaps(districts, covered))


def share(part, whole):
    """``part / whole`` clamped to [0, 1] (0 where ``whole`` is 0), scalars or arrays.

    Shares are reported with a schema maximum of 1, but a covered area summed from
    buffers intersected with each district can exceed the district's area in the last
    bits (1.0000000000000004); clamping here, where shares are made, keeps every
    figure downstream inside its range.
    """
    part = np.asarray(part, dtype=float)
    whole = np.asarray(whole, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(whole > 0, part / np.where(whole > 0, whole, 1.0), 0.0)
    ratio = np.clip(np.nan_to_num(ratio, nan=0.0), 0.0, 1.0)
    return float(ratio) if ratio.ndim == 0 else ratio


def coverage_gaps(districts: Districts, covered) -> gpd.GeoDataFrame:
    """Uncovered land per district as polygons, EPSG:4326, largest first."""
    metric = districts.metric_frame
    rows = []
    for (adcode, name, polygon), cover in zip(metric[["adcode", "name_zh", "geometry"]].itertuples(index=False), covered, strict=False):
        gap = shapely.difference(polygon, cover) if not cover.is_empty else polygon
        for part in shapely.get_parts(gap):
            if part.geom_type == "Polygon" and part.area >= MIN_GAP_AREA_M2:
                rows.append((adcode, name, part.area / 1e6, shapely.simplify(part, GAP_SIMPLIFY_M, preserve_topology=True)))
    gaps = gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=["adcode", "district", "area_km2", "geometry"]),
        geometry="geometry", crs=CHONGQING_EQUAL_AREA,
    )
    return gaps.sort_values("area_km2", ascending=False, ignore_index=True).to_crs(4326)


def _plain(row: dict) -> dict:
    """numpy scalars → Python numbers, for JSON."""
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}


_CACHED_RADII = 8


def snapshot_coverage(snapshot, radius_m: float = 1000.0) -> CoverageResult:
    """District coverage of a registry snapshot at ``radius_m``, cached per version (a handful of radii)."""
    cache, lock = snapshot.cached("coverage_cache", lambda: (OrderedDict(), Lock()))
    key = round(float(radius_m), 3)
    with lock:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    result = district_coverage(snapshot.active, snapshot.districts, radius_m=key)
    with lock:
        cache[key] = result
        while len(cache) > _CACHED_RADII:
            cache.popitem(last=False)
    return result
