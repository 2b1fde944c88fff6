"""The planners' workbench for one registry snapshot: population coverage and new-site plans, cached per snapshot version.

The web page, the report and the CLI call these; the work is done by ``geo.planning.population``
(demand grid), ``geo.planning.popcoverage`` (who is covered) and ``geo.planning.siting`` (where to build).

Caching: the modelled demand grid is cached per ``Districts`` object and cell size
(``geo.planning.population.default_population_grid``). Coverage results and plans are cached on the
snapshot object (``snapshot._planning_cache``, at most ``MAX_CACHED`` entries, least recently
used dropped), so they live exactly as long as the registry version they describe. A
coverage ``at`` a time is keyed by *which* stations are open then, so 22:00 and 22:30 share
an entry when no station opens or closes in between. Plans with uploaded candidates are
not cached. Cached results are shared: treat them as read-only.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import replace
from threading import Lock

import geopandas as gpd
import numpy as np

from geo.errors import Problem, ValidationError
from geo.hours import open_mask
from geo.messages import Text
from geo.planning.popcoverage import (
    EBIKE_15_MIN_M,
    RADIUS_PRESETS,
    WALK_15_MIN_M,
    PopulationCoverage,
    counted_stations,
    parse_at,
    population_coverage,
)
from geo.planning.population import DEFAULT_CELL_M, PopulationGrid, check_cell_size, default_population_grid
from geo.planning.siting import DEFAULT_TIME_LIMIT_S, SitingPlan, plan_sites
from geo.queries.coverage import check_radius
from geo.schema import KINDS

__all__ = [
    "EBIKE_15_MIN_M", "RADIUS_PRESETS", "WALK_15_MIN_M", "PopulationCoverage", "SitingPlan", "planning_cache",
    "snapshot_population_grid", "snapshot_population_coverage", "snapshot_plan", "snapshot_stations",
]

CACHE_ATTR = "_planning_cache"
MAX_CACHED = 16
# District plans default to finer cells: 1 km cells are coarse next to a 1.2 km walk.
DISTRICT_CELL_M = 500.0
# Coverage figures default to 500 m cells: against 250 m, 1 km cells move a district's share by up to
# 2.7 percentage points, 500 m cells by 1.3, and the city-wide figure takes ~0.6 s (scripts/bench_discretisation.py).
COVERAGE_CELL_M = 500.0

_LOCK = Lock()


def planning_cache(snapshot) -> OrderedDict:
    """The per-snapshot LRU dict for planning results (created on first use)."""
    with _LOCK:
        return snapshot.__dict__.setdefault(CACHE_ATTR, OrderedDict())


def _cached(snapshot, key, compute):
    cache = planning_cache(snapshot)
    with _LOCK:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    value = compute()
    with _LOCK:
        cache[key] = value
        while len(cache) > MAX_CACHED:
            cache.popitem(last=False)
    return value


def snapshot_stations(snapshot, kinds=None) -> gpd.GeoDataFrame:
    """The snapshot's active stations, optionally only these kinds (codes from ``geo.schema.KINDS``)."""
    active = snapshot.active
    if not kinds:
        return active
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValidationError(Problem("kinds", Text("plan.unknown_kinds", kinds=", ".join(unknown)), Text("hint.allowed", names=", ".join(KINDS))))
    return active[active["kind"].isin(list(kinds))].reset_index(drop=True)


def snapshot_population_grid(snapshot, cell_m: float = DEFAULT_CELL_M) -> PopulationGrid:
    """The modelled 2020-census demand grid for the snapshot's districts (cached per districts object)."""
    return default_population_grid(snapshot.districts, cell_m)


def snapshot_population_coverage(snapshot, radius_m: float = WALK_15_MIN_M, at=None, *, cell_m: float = DEFAULT_CELL_M,
                                 kinds=None, grid: PopulationGrid | None = None, area_method: str = "auto") -> PopulationCoverage:
    """``population_coverage`` of the snapshot's active stations, cached per snapshot.

    ``at``: datetime, "HH:MM" (today, Chongqing time) or None. ``grid`` overrides the
    modelled grid (e.g. one from ``population_from_raster``); it is cached by identity.
    """
    radius_m = check_radius(radius_m)
    grid = grid if grid is not None else snapshot_population_grid(snapshot, check_cell_size(cell_m))
    stations = snapshot_stations(snapshot, kinds)
    when = parse_at(at)
    if when is None:
        state = b"all"
    else:
        mask = open_mask(stations["opening_hours"].to_numpy(), when) if len(stations) else np.zeros(0, bool)
        state = hashlib.blake2b(np.packbits(mask).tobytes() + len(mask).to_bytes(8, "little"), digest_size=16).digest()
    key = ("coverage", round(radius_m, 3), id(grid), tuple(sorted(kinds or ())), area_method, state)

    # The result holds the grid, so id(grid) in the key cannot be reused while the entry lives.
    result = _cached(snapshot, key, lambda: population_coverage(stations, grid, snapshot.districts, radius_m, at=when,
                                                                 area_method=area_method))
    if result.at != when:  # same open set, different clock time: report the time asked for
        result = replace(result, at=when)
    return result


def snapshot_plan(snapshot, n_new: int, radius_m: float = WALK_15_MIN_M, district: str | None = None, *, candidates=None,
                  method: str = "greedy", time_limit_s: float = DEFAULT_TIME_LIMIT_S, cell_m: float | None = None,
                  kinds=None, grid: PopulationGrid | None = None, progress=None, at=None) -> SitingPlan:
    """``plan_sites`` over the snapshot's active stations and the modelled grid.

    ``cell_m`` defaults to 500 m for a district plan and 1,000 m for the whole city.
    ``at`` (datetime, "HH:MM", "Mo 22:00", ISO): only stations open then count as existing
    cover, so the plan places sites for the residents left without an open station at that hour.
    Results without ``candidates`` are cached per snapshot (an exact plan can take minutes).
    """
    if cell_m is None:
        cell_m = DISTRICT_CELL_M if district is not None else DEFAULT_CELL_M
    grid = grid if grid is not None else snapshot_population_grid(snapshot, check_cell_size(cell_m))
    stations, when = counted_stations(snapshot_stations(snapshot, kinds), at)

    def compute():
        plan = plan_sites(grid, stations, radius_m, n_new, district=district, candidates=candidates, method=method,
                          time_limit_s=time_limit_s, progress=progress, districts=snapshot.districts)
        plan.at = when
        if plan.alternative is not None:
            plan.alternative.at = when
        return plan

    if candidates is not None:
        return compute()
    open_key = None if when is None else tuple(stations["id"].tolist()) if "id" in stations.columns else when
    key = ("plan", int(n_new) if isinstance(n_new, int | np.integer) else n_new, float(check_radius(radius_m)), district,
           method, repr(time_limit_s), id(grid), tuple(sorted(kinds or ())), open_key)
    # (grid, plan): holding the grid keeps id(grid) in the key from being reused while cached.
    return _cached(snapshot, key, lambda: (grid, compute()))[1]
