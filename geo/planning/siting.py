"""Where to build next: the Maximal Covering Location Problem with existing stations fixed, by greedy and by exact MIP.

Given demand (a ``PopulationGrid``), the existing stations (fixed open) and candidate sites,
choose ``n_new`` sites that maximise the residents within ``radius_m`` of some station.

* Greedy: repeatedly take the candidate that adds the most still-uncovered residents. The
  candidate × demand coverage matrix is sparse (scipy.sparse from a cKDTree); after each pick
  only the candidates sharing demand with it are updated, so 80,000 candidates take about
  a second. Coverage is submodular, so greedy is within (1 − 1/e) ≈ 63 % of optimal; in
  practice it is usually within a fraction of a percent.
* Exact: PySAL spopt's ``MCLP`` solved by CBC (bundled with PuLP) under a time limit, started
  from the greedy solution. Demand already covered by existing stations is a constant of the
  objective, so the model keeps only uncovered demand within reach of some candidate, merges
  demand points covered by the same candidates and candidates covering the same demand — all
  exact reductions. Existing stations then cover none of the remaining demand; they enter
  the model as spopt predefined (forced-open) facilities only when ``reduce=False``.

Distances are Euclidean in the Chongqing Albers CRS (≤ 0.1 % scale error).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.coords import wgs84_to_gcj02
from geo.districts import Districts
from geo.errors import Problem, ValidationError
from geo.messages import Text, clipped
from geo.planning.popcoverage import nearest_distance, station_xy
from geo.planning.population import PopulationGrid, read_points_csv

if TYPE_CHECKING:  # scipy is imported by the planning jobs (run in their own processes), not by every server
    from scipy import sparse
from geo.planning.sitenames import site_names
from geo.projection import lonlat_to_metric
from geo.queries.coverage import check_radius

METHODS = ("greedy", "exact", "both")
MAX_NEW_SITES = 1000
DEFAULT_TIME_LIMIT_S = 120.0
# A site is proposed only if it brings at least this many residents (model people) within reach:
# a site adding 0.3 modelled residents (or floating-point dust left by the greedy updates) reads
# as "adds 0 people" in every table, and is not worth building.
MIN_USEFUL_RESIDENTS = 1.0
# spopt's own builder (MCLP.from_cost_matrix) takes a dense cost matrix and loops over every
# (demand, facility) pair in Python; above this many pairs the same model is built sparsely.
DENSE_MODEL_MAX_PAIRS = 200_000

# Grid-cell candidates are named "cell <col>,<row>" until ``site_names`` gives them a real one.
_CELL_NAME = re.compile(r"cell -?\d+,-?\d+")

Progress = Callable[[str, int, int], None]


@dataclass
class SitingPlan:
    """The chosen sites and what they add.

    Attributes
    ----------
    method : "greedy" or "exact"
    sites : DataFrame
        Chosen sites in greedy order: rank, name, lon, lat (WGS-84), adcode, district,
        residents_added (marginal, given the existing stations and the sites ranked before),
        cumulative_added, x, y (Albers metres).
    districts : DataFrame
        Per district in scope: adcode, district, district_en, residents, covered_before, covered_after, added, share_before,
        share_after, new_sites.
    totals : dict
        residents (in scope), covered_before, covered_after, added, share_before, share_after.
    objective : float
        Residents in scope within ``radius_m`` of an existing or new station.
    status : str
        "greedy"; for exact plans "optimal", "time_limit" (CBC's best solution when its time
        limit hit), "stopped" (CBC produced nothing in time: the greedy sites are reported) or
        "not_solved".
    best_bound : float or None
        Proven upper bound on the objective: for greedy, the data-dependent submodular bound
        (``greedy_cover``); for exact, CBC's bound or that one, whichever is tighter —
        equal to ``objective`` when optimal. ``gap`` = (bound − objective) / bound.
    alternative : SitingPlan or None
        The greedy plan, when ``method="both"``.
    """

    method: str
    radius_m: float
    n_new: int
    district: str | None
    sites: pd.DataFrame
    districts: pd.DataFrame
    totals: dict
    objective: float
    status: str
    best_bound: float | None = None
    runtime_s: float = 0.0
    model_size: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)  # geo.messages.Text
    alternative: SitingPlan | None = field(default=None, repr=False)
    at: datetime | None = None  # Chongqing local time: only stations open then counted as existing cover

    @property
    def gap(self) -> float | None:
        """Relative optimality gap (bound − objective) / bound, exact only."""
        if self.best_bound is None or self.best_bound <= 0:
            return None
        return max(0.0, (self.best_bound - self.objective) / self.best_bound)

    @property
    def fewer_sites(self) -> bool:
        """True when fewer sites add residents than were asked for (the plan then holds only the useful ones)."""
        return len(self.sites) < self.n_new

    def shortfall(self) -> Text | None:
        """The sentence every surface shows when ``fewer_sites``: "fewer useful sites than asked: 3 of 5 …"."""
        if not self.fewer_sites:
            return None
        return Text("plan.fewer_sites", n=len(self.sites), asked=self.n_new)

    def comparison(self) -> dict:
        """Both objectives when both methods ran: greedy, exact, bound, greedy/exact ratio."""
        out = {self.method: self.objective}
        if self.best_bound is not None:
            out["best_bound"] = self.best_bound
        if self.alternative is not None:
            out[self.alternative.method] = self.alternative.objective
            if "exact" in out and out["exact"] > 0:
                out["greedy_over_exact"] = out["greedy"] / out["exact"]
        return out

    def summary(self) -> dict:
        """JSON-safe summary (no tables)."""
        return {
            "method": self.method, "status": self.status, "radius_m": self.radius_m, "n_new": self.n_new,
            "sites_chosen": int(len(self.sites)), "fewer_sites": self.fewer_sites,
            "shortfall": None if self.shortfall() is None else {"zh": self.shortfall().render("zh"), "en": str(self.shortfall())}, "district": self.district, "objective": self.objective,
            "best_bound": self.best_bound, "gap": self.gap, "runtime_s": round(self.runtime_s, 3),
            **{k: v for k, v in self.totals.items()}, "model_size": self.model_size, "notes": list(self.notes),
            "comparison": self.comparison(), "at": self.at.isoformat(timespec="minutes") if self.at else None,
        }


@dataclass
class Candidates:
    """Candidate sites: positions (WGS-84 and Albers), names, district row."""

    lon: np.ndarray
    lat: np.ndarray
    x: np.ndarray
    y: np.ndarray
    name: np.ndarray
    district_idx: np.ndarray

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, mask) -> Candidates:
        return Candidates(self.lon[mask], self.lat[mask], self.x[mask], self.y[mask], self.name[mask], self.district_idx[mask])


def load_candidates(source, districts: Districts) -> Candidates:
    """Candidate hosts from a GeoDataFrame of points (any CRS; optional ``name`` column) or a CSV (name, lon, lat).

    Every point must lie in Chongqing; ``ValidationError`` lists those that do not.
    """
    if isinstance(source, gpd.GeoDataFrame):
        if source.crs is None:
            raise ValidationError(Problem("candidates", Text("site.no_crs"), Text("site.no_crs_hint")))
        frame = source.to_crs(4326)
        bad = [i for i, g in enumerate(frame.geometry) if g is None or g.geom_type != "Point" or g.is_empty]
        if bad:
            raise ValidationError([Problem(f"candidates[{i}].geometry", Text("site.not_point")) for i in bad[:50]])
        lon, lat = frame.geometry.x.to_numpy(float), frame.geometry.y.to_numpy(float)
        codes = districts.locate(lon, lat)
        outside = np.flatnonzero(pd.isna(codes))
        if len(outside):
            raise ValidationError([Problem(f"candidates[{i}].geometry", Text("site.outside", lon=f"{lon[i]:g}", lat=f"{lat[i]:g}"))
                                   for i in outside[:50]])
        name_col = next((c for c in ("name", "名称") if c in frame.columns), None)
        names = (frame[name_col].astype(str).to_numpy(dtype=object) if name_col
                 else np.array([f"candidate {i + 1}" for i in range(len(frame))], dtype=object))
        idx = np.array([districts.by_adcode[c] for c in codes], dtype=np.int64)
    else:
        table = read_points_csv(source, districts)
        lon, lat, names, idx = table["lon"], table["lat"], table["name"], table["district_idx"]
    x, y = lonlat_to_metric(lon, lat)
    return Candidates(np.asarray(lon, float), np.asarray(lat, float), np.asarray(x), np.asarray(y), names, idx)


def grid_candidates(grid: PopulationGrid, mask: np.ndarray) -> Candidates:
    """Every distinct record centre of ``grid`` within ``mask``, named by its cell."""
    idx = np.flatnonzero(mask)
    _, first = np.unique(np.column_stack([grid.x[idx], grid.y[idx]]), axis=0, return_index=True)
    idx = idx[np.sort(first)]
    names = np.array([f"cell {int(x // grid.cell_m)},{int(y // grid.cell_m)}" for x, y in zip(grid.x[idx], grid.y[idx], strict=True)],
                     dtype=object)
    return Candidates(grid.lon[idx], grid.lat[idx], grid.x[idx], grid.y[idx], names, grid.district_idx[idx])


def coverage_matrix(cand_xy: np.ndarray, demand_xy: np.ndarray, radius_m: float) -> sparse.csr_matrix:
    """Sparse 0/1 matrix, candidates × demand points, 1 where the distance is ≤ ``radius_m`` (Albers metres)."""
    from scipy import sparse
    from scipy.spatial import cKDTree

    if len(cand_xy) == 0 or len(demand_xy) == 0:
        return sparse.csr_matrix((len(cand_xy), len(demand_xy)), dtype=np.float64)

    neighbours = cKDTree(demand_xy).query_ball_point(cand_xy, r=radius_m, workers=-1, return_sorted=False)
    lengths = np.fromiter((len(n) for n in neighbours), dtype=np.int64, count=len(neighbours))
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = np.concatenate([np.asarray(n, dtype=np.int32) for n in neighbours]) if indptr[-1] else np.empty(0, np.int32)
    matrix = sparse.csr_matrix((np.ones(len(indices)), indices, indptr), shape=(len(cand_xy), len(demand_xy)))
    matrix.sort_indices()
    return matrix


def greedy_cover(matrix: sparse.csr_matrix, weights: np.ndarray, n: int,
                 progress: Progress | None = None) -> tuple[list[int], list[float], float]:
    """Greedy maximal cover: up to ``n`` rows of ``matrix``, each adding the most still-uncovered weight.

    Returns (chosen row indices, marginal weight each added, upper bound on the best weight
    any ``n`` rows can cover). The bound is the data-dependent one of submodular
    maximisation: for every greedy prefix S, OPT ≤ f(S) + the sum of the ``n`` largest
    marginal gains given S (Minoux 1978; Leskovec et al. 2007); the smallest is kept.
    Stops early when no row adds at least ``MIN_USEFUL_RESIDENTS`` (the gains are updated by
    subtraction, so "nothing" can be floating-point dust). Ties go to the lowest row index.
    """
    w = np.asarray(weights, dtype=float).copy()
    gains = matrix @ w
    by_column = matrix.tocsc()
    chosen, added = [], []
    covered = 0.0
    bound = _top_sum(gains, n)
    while len(chosen) < n:
        best = int(np.argmax(gains)) if len(gains) else -1
        if best < 0 or gains[best] < MIN_USEFUL_RESIDENTS:
            break
        cols = matrix.indices[matrix.indptr[best]:matrix.indptr[best + 1]]
        newly = cols[w[cols] > 0]
        gain = float(w[newly].sum())  # exact, unlike gains[best]
        if gain < MIN_USEFUL_RESIDENTS:
            gains[best] = 0.0
            continue
        chosen.append(best)
        added.append(gain)
        covered += added[-1]
        gains -= by_column[:, newly] @ w[newly]
        w[newly] = 0.0
        gains[best] = 0.0
        np.maximum(gains, 0.0, out=gains)
        bound = min(bound, covered + _top_sum(gains, n))
        if progress:
            progress("greedy", len(chosen), n)
    return chosen, added, max(bound, covered)


def _top_sum(values: np.ndarray, n: int) -> float:
    if len(values) <= n:
        return float(values.sum())
    return float(np.partition(values, len(values) - n)[-n:].sum())


def plan_sites(grid: PopulationGrid, stations: gpd.GeoDataFrame, radius_m: float, n_new: int, district: str | None = None,
               candidates=None, method: str = "greedy", time_limit_s: float = DEFAULT_TIME_LIMIT_S,
               progress: Progress | None = None, *, districts: Districts | None = None, reduce: bool = True) -> SitingPlan:
    """Choose ``n_new`` new station sites maximising residents within ``radius_m``, existing stations kept.

    Parameters
    ----------
    grid : PopulationGrid
        Demand. With ``district``, only its residents count (and, by default, only its cells
        are candidates); existing stations anywhere count for them.
    stations : GeoDataFrame
        Existing active stations (EPSG:4326 points), fixed.
    radius_m : float
        Reach in metres, e.g. ``WALK_15_MIN_M`` (1,200).
    n_new : int
        Sites to add (1–1,000). Fewer are returned if no further site adds residents.
    district : str or None
        Adcode to plan for; ``None`` plans for the whole municipality.
    candidates : None, GeoDataFrame, CSV path or bytes
        ``None``: every grid cell centre in scope. Otherwise candidate hosts with names
        (``load_candidates``); with ``district``, those outside it are dropped.
    method : "greedy", "exact" or "both"
        "both" returns the exact plan with the greedy one as ``alternative``.
    time_limit_s : float
        Seconds for the exact method (greedy, model building and CBC together; CBC gets what
        is left, at least 5 s). When hit, the best solution found and the proven bound are
        reported; if CBC overruns badly it is killed and the greedy plan is reported.
    progress : callable(stage, done, total) or None
    districts : Districts, optional
        For district names and to locate supplied candidates (required for CSV candidates).
    reduce : bool
        Keep only uncovered demand in the exact model (exact reduction). ``False`` keeps all
        in-scope demand with existing stations as spopt predefined facilities (for checking).
    """
    started = time.perf_counter()
    radius_m = check_radius(radius_m)
    if method not in METHODS:
        raise ValidationError(Problem("method", Text("site.bad_method", value=clipped(method), choices=", ".join(METHODS))))
    if isinstance(n_new, bool) or not isinstance(n_new, int | np.integer) or not 1 <= n_new <= MAX_NEW_SITES:
        raise ValidationError(Problem("n_new", Text("site.n_new", value=clipped(n_new), max=MAX_NEW_SITES)))
    n_new = int(n_new)
    try:
        time_limit_s = float(time_limit_s)
    except (TypeError, ValueError):
        time_limit_s = math.nan
    if not 1 <= time_limit_s <= 3600:
        raise ValidationError(Problem("time_limit_s", Text("site.time_limit")))
    scope = grid.mask(district)
    notes: list[str] = []
    if candidates is None:
        cand = grid_candidates(grid, scope)
    else:
        if districts is None and not isinstance(candidates, gpd.GeoDataFrame):
            raise ValidationError(Problem("candidates", Text("site.needs_districts")))
        cand = load_candidates(candidates, districts) if districts is not None else _candidates_without_districts(candidates, grid)
        if district is not None:
            keep = grid.district_codes[cand.district_idx] == district
            if (~keep).any():
                notes.append(Text("site.note.outside_district", n=int((~keep).sum()), district=district))
            cand = cand.subset(keep)
    if len(cand) == 0:
        raise ValidationError(Problem("candidates", Text("site.no_candidates")))

    demand_xy = grid.xy[scope]
    weights = grid.residents[scope]
    existing_xy = station_xy(stations)
    before = nearest_distance(demand_xy, existing_xy, upper_bound=radius_m * (1 + 1e-12)) <= radius_m
    open_demand = np.flatnonzero(~before & (weights > 0))
    if progress:
        progress("coverage matrix", 0, 1)
    matrix = coverage_matrix(np.column_stack([cand.x, cand.y]), demand_xy[open_demand], radius_m)
    if progress:
        progress("coverage matrix", 1, 1)
    context = _Context(grid, scope, weights, before, demand_xy, existing_xy, cand, radius_m, n_new, district, districts, stations)

    chosen, added, greedy_bound = greedy_cover(matrix, weights[open_demand], n_new, progress)
    constant = float(weights[before].sum())
    greedy = _plan(context, "greedy", chosen, "greedy", greedy_bound + constant, time.perf_counter() - started,
                   {"candidates": len(cand), "demand": int(len(open_demand)), "nonzeros": int(matrix.nnz)}, list(notes))
    if method == "greedy":
        return greedy
    exact = _exact(context, matrix, open_demand, chosen, greedy_bound + constant, time_limit_s, reduce, progress, started, notes)
    if method == "both":
        exact.alternative = greedy
    return exact


@dataclass
class _Context:
    grid: PopulationGrid
    scope: np.ndarray
    weights: np.ndarray
    before: np.ndarray
    demand_xy: np.ndarray
    existing_xy: np.ndarray
    cand: Candidates
    radius_m: float
    n_new: int
    district: str | None
    districts: Districts | None
    stations: gpd.GeoDataFrame


def _candidates_without_districts(frame: gpd.GeoDataFrame, grid: PopulationGrid) -> Candidates:
    """A candidate GeoDataFrame located by the nearest grid record (when no district map is given)."""
    if frame.crs is None:
        raise ValidationError(Problem("candidates", Text("site.no_crs"), Text("site.no_crs_hint")))
    frame = frame.to_crs(4326)
    lon, lat = frame.geometry.x.to_numpy(float), frame.geometry.y.to_numpy(float)
    x, y = lonlat_to_metric(lon, lat)
    from scipy.spatial import cKDTree

    _, nearest = cKDTree(grid.xy).query(np.column_stack([x, y]), k=1)
    names = frame["name"].astype(str).to_numpy(dtype=object) if "name" in frame.columns else np.array(
        [f"candidate {i + 1}" for i in range(len(frame))], dtype=object)
    return Candidates(lon, lat, np.asarray(x), np.asarray(y), names, grid.district_idx[nearest])


def _exact(ctx: _Context, matrix, open_demand, greedy_rows, greedy_bound, time_limit_s, reduce, progress, started, notes) -> SitingPlan:
    """Solve the MCLP with spopt + CBC, warm-started from the greedy rows."""
    from geo.planning.mclp import solve_mclp

    weights_open = ctx.weights[open_demand]
    if reduce:
        fac_matrix, dem_weights, fac_rows = matrix, weights_open, np.arange(matrix.shape[0])
        predefined = np.zeros(0, dtype=bool)
        constant = float(ctx.weights[ctx.before].sum())
    else:
        # Faithful model: all in-scope demand; existing stations near it are forced-open facilities.
        demand_all = np.flatnonzero(ctx.weights > 0)
        cand_xy = np.column_stack([ctx.cand.x, ctx.cand.y])
        near = nearest_distance(ctx.existing_xy, ctx.demand_xy[demand_all], upper_bound=ctx.radius_m * (1 + 1e-12)) <= ctx.radius_m
        fac_xy = np.vstack([ctx.existing_xy[near], cand_xy])
        fac_matrix = coverage_matrix(fac_xy, ctx.demand_xy[demand_all], ctx.radius_m)
        dem_weights = ctx.weights[demand_all]
        predefined = np.r_[np.ones(int(near.sum()), bool), np.zeros(len(cand_xy), bool)]
        fac_rows = np.r_[np.full(int(near.sum()), -1), np.arange(len(cand_xy))]
        constant = 0.0
    warm = np.flatnonzero(predefined).tolist() + [int(np.flatnonzero(fac_rows == r)[0]) for r in greedy_rows]
    result = solve_mclp(fac_matrix, dem_weights, n_new=ctx.n_new, predefined=predefined, warm_start=warm,
                        time_limit_s=max(1.0, time_limit_s - (time.perf_counter() - started)), progress=progress)
    notes = list(notes) + result.notes
    chosen_fac = [j for j in result.chosen if not (len(predefined) and predefined[j])]
    chosen_rows = [int(fac_rows[j]) for j in chosen_fac]
    # Report the sites in greedy order of their marginal contribution.
    sub = matrix[chosen_rows] if chosen_rows else matrix[:0]
    order, _, _ = greedy_cover(sub, weights_open, len(chosen_rows))
    if len(order) < len(chosen_rows):  # spopt opens exactly p facilities; those adding no one are not worth building
        notes.append(Text("site.note.left_out", n=len(chosen_rows) - len(order)))
    ranked = [chosen_rows[k] for k in order]
    # CBC's bound when it has one; the greedy's submodular bound is valid too (take the tighter).
    bound = greedy_bound if result.best_bound is None else min(result.best_bound + constant, greedy_bound)
    if result.status == "optimal":
        bound = result.best_bound + constant
    plan = _plan(ctx, "exact", ranked, result.status, bound, time.perf_counter() - started, result.model_size, notes)
    if result.objective is not None and abs(result.objective + constant - plan.objective) > 1e-6 * max(1.0, plan.objective):
        plan.notes.append(Text("site.note.objective", solver=f"{result.objective + constant:.1f}", recomputed=f"{plan.objective:.1f}"))
    return plan


def _marginals(ctx: _Context, site_xy: np.ndarray) -> tuple[list[float], np.ndarray]:
    """Residents each site adds in rank order (recomputed from scratch, independent of the solver), and the covered mask."""
    covered = ctx.before.copy()
    added = []
    from scipy.spatial import cKDTree

    tree = cKDTree(ctx.demand_xy)
    for xy in site_xy:
        hits = np.asarray(tree.query_ball_point(xy, r=ctx.radius_m), dtype=np.int64)
        hits = hits[~covered[hits]] if len(hits) else hits
        added.append(float(ctx.weights[hits].sum()))
        covered[hits] = True
    return added, covered


def _plan(ctx: _Context, method, rows, status, bound, runtime, size, notes) -> SitingPlan:
    """Sites table, before/after per district and totals for the chosen candidate rows.

    Rows that add fewer than ``MIN_USEFUL_RESIDENTS`` given those ranked before them are
    dropped (and the rest re-measured) until every site left adds someone.
    """
    grid, cand = ctx.grid, ctx.cand
    rows = list(rows)
    while True:
        site_xy = np.column_stack([cand.x[rows], cand.y[rows]]) if rows else np.empty((0, 2))
        added, covered = _marginals(ctx, site_xy)
        useless = [r for r, a in zip(rows, added, strict=True) if a < MIN_USEFUL_RESIDENTS]
        if not useless:
            break
        rows = [r for r in rows if r not in useless]
    codes = grid.district_codes[cand.district_idx[rows]] if rows else np.empty(0, dtype=object)
    names_zh, names_en = _names(ctx.districts), _names(ctx.districts, "name_en")
    lon, lat = cand.lon[rows], cand.lat[rows]
    given = cand.name[rows] if rows else np.empty(0, dtype=object)
    auto_zh, auto_en, streets = site_names(lon, lat, codes, names_zh, names_en, ctx.stations)
    is_cell = [bool(_CELL_NAME.fullmatch(str(n))) for n in given]
    gcj_lon, gcj_lat = wgs84_to_gcj02(lon, lat) if rows else (np.empty(0), np.empty(0))
    sites = pd.DataFrame({
        "rank": np.arange(1, len(rows) + 1),
        "name": [z if c else str(g) for z, g, c in zip(auto_zh, given, is_cell, strict=True)],
        "name_en": [e if c else str(g) for e, g, c in zip(auto_en, given, is_cell, strict=True)],
        "street": streets, "adcode": codes, "district": [names_zh.get(c, c) for c in codes],
        "lon": lon, "lat": lat, "lon_gcj02": np.asarray(gcj_lon, float), "lat_gcj02": np.asarray(gcj_lat, float),
        "residents_added": added, "cumulative_added": np.cumsum(added) if added else np.empty(0),
        "x": cand.x[rows], "y": cand.y[rows],
    })
    idx = grid.district_idx[ctx.scope]
    n_d = len(grid.district_codes)
    residents = np.bincount(idx, weights=ctx.weights, minlength=n_d)
    cov_before = np.bincount(idx, weights=ctx.weights * ctx.before, minlength=n_d)
    cov_after = np.bincount(idx, weights=ctx.weights * covered, minlength=n_d)
    new_sites = np.bincount(cand.district_idx[rows], minlength=n_d) if rows else np.zeros(n_d, int)
    in_scope = np.flatnonzero(np.bincount(idx, minlength=n_d) > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        table = pd.DataFrame({
            "adcode": grid.district_codes[in_scope], "district": [names_zh.get(c, c) for c in grid.district_codes[in_scope]],
            "district_en": [names_en.get(c, c) for c in grid.district_codes[in_scope]],
            "residents": residents[in_scope], "covered_before": cov_before[in_scope], "covered_after": cov_after[in_scope],
            "added": cov_after[in_scope] - cov_before[in_scope],
            "share_before": np.where(residents[in_scope] > 0, cov_before[in_scope] / residents[in_scope], 0.0),
            "share_after": np.where(residents[in_scope] > 0, cov_after[in_scope] / residents[in_scope], 0.0),
            "new_sites": new_sites[in_scope],
        })
    total = float(ctx.weights.sum())
    before_total, after_total = float(ctx.weights[ctx.before].sum()), float(ctx.weights[covered].sum())
    totals = {"residents": total, "covered_before": before_total, "covered_after": after_total, "added": after_total - before_total,
              "share_before": before_total / total if total else 0.0, "share_after": after_total / total if total else 0.0}
    return SitingPlan(method, ctx.radius_m, ctx.n_new, ctx.district, sites, table, totals, after_total, status,
                      bound, runtime, dict(size), list(notes))


def _names(districts: Districts | None, column: str = "name_zh") -> dict:
    if districts is None:
        return {}
    return dict(zip(districts.frame["adcode"], districts.frame[column], strict=True))

