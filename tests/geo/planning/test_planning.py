"""Population coverage and siting: hand-computable squares, the hour filter, greedy vs exact vs brute force, exports."""

from __future__ import annotations

import io
import itertools
import json
import math
from datetime import datetime

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from geo.errors import ValidationError
from geo.planning import export as planexport
from geo.planning import mclp
from geo.planning.mclp import _bound, solve_mclp
from geo.planning.popcoverage import EBIKE_15_MIN_M, WALK_15_MIN_M, parse_at, population_coverage
from geo.planning.population import UNIFORM_MODEL, modelled_population, population_from_points_csv
from geo.planning.siting import coverage_matrix, greedy_cover, plan_sites
from geo.projection import metric_to_lonlat
from tests.planning_fixtures import SIDE_M, one_square, square_districts, stations_at

AREA_KM2 = (SIDE_M / 1000) ** 2


@pytest.fixture(scope="module")
def square():
    return one_square(400_000)


@pytest.fixture(scope="module")
def uniform_grid(square):
    return modelled_population(square, 500.0, UNIFORM_MODEL)


# -- population coverage ----------------------------------------------------------------------


def test_presets():
    assert WALK_15_MIN_M == 1200 and EBIKE_15_MIN_M == 4000


@pytest.mark.parametrize("radius_m", [1200.0, 3000.0, 4000.0])
def test_central_station_covers_a_circle(square, uniform_grid, radius_m):
    cov = population_coverage(stations_at([(0.0, 0.0)]), uniform_grid, square, radius_m, area_method="exact")
    row = cov.table.iloc[0]
    expected = math.pi * (radius_m / 1000) ** 2 / AREA_KM2
    assert row["area_share"] == pytest.approx(expected, rel=0.005)
    # Uniform density: the population share is the area share up to the grid's discretisation.
    cells_in_circle = math.pi * (radius_m / 500) ** 2
    assert row["population_share"] == pytest.approx(expected, abs=2 * math.sqrt(cells_in_circle) / 1600)
    assert row["stations"] == 1 and row["residents_per_station"] == pytest.approx(400_000)
    assert cov.totals["population_share"] == pytest.approx(row["population_share"])


def test_sampled_area_agrees_with_exact_area(square, uniform_grid):
    stations = stations_at([(0.0, 0.0), (-6000.0, 4000.0), (7000.0, -7000.0)])
    exact = population_coverage(stations, uniform_grid, square, 2500, area_method="exact").totals["area_share"]
    sampled = population_coverage(stations, uniform_grid, square, 2500, area_method="grid").totals["area_share"]
    assert sampled == pytest.approx(exact, abs=0.004)


def test_population_share_equals_area_share_under_uniform_density(square, uniform_grid):
    rng = np.random.default_rng(11)
    stations = stations_at(rng.uniform(-9000, 9000, size=(12, 2)))
    cov = population_coverage(stations, uniform_grid, square, 1500, area_method="exact")
    assert cov.totals["population_share"] == pytest.approx(cov.totals["area_share"], abs=0.01)


def test_all_population_in_one_cell(square):
    lon, lat = metric_to_lonlat(5200.0, -3100.0)
    grid = population_from_points_csv(f"lon,lat,weight\n{lon},{lat},1000\n".encode(), square, 1000)
    assert len(grid) == 1 and grid.total == 1000
    cell_x, cell_y = grid.x[0], grid.y[0]  # the cell centre (5500, -3500)
    near = population_coverage(stations_at([(cell_x + 900.0, cell_y)]), grid, square, 1000)
    far = population_coverage(stations_at([(cell_x + 1100.0, cell_y)]), grid, square, 1000)
    assert near.totals["population_share"] == 1.0 and near.totals["residents_covered"] == 1000
    assert far.totals["population_share"] == 0.0
    assert far.nearest_m[0] == pytest.approx(1100.0)


def test_closed_stations_do_not_count(square, uniform_grid):
    stations = stations_at([(0.0, 0.0)], hours="Mo-Su 08:00-18:00")
    night = population_coverage(stations, uniform_grid, square, 2000, at=datetime(2026, 12, 1, 22, 0))
    day = population_coverage(stations, uniform_grid, square, 2000, at=datetime(2026, 12, 1, 10, 0))
    assert night.totals["population_share"] == 0 and night.totals["stations"] == 0
    assert day.totals["population_share"] > 0 and day.totals["stations"] == 1
    assert np.isinf(night.nearest_m).all()
    assert night.table.iloc[0]["area_share"] == 0 and math.isnan(night.table.iloc[0]["residents_per_station"])


def test_at_accepts_hh_mm_today():
    when = parse_at("22:00")
    assert (when.hour, when.minute) == (22, 0)
    assert parse_at("2026-12-01 07:30") == datetime(2026, 12, 1, 7, 30)
    with pytest.raises(ValidationError, match="is not a time"):
        parse_at("25:99")


def test_coverage_is_monotone_in_radius(square, uniform_grid):
    stations = stations_at([(1000.0, 1000.0), (-5000.0, 0.0)])
    shares = [population_coverage(stations, uniform_grid, square, r, area_method="grid").totals["population_share"]
              for r in (500, 1000, 2000, 4000, 8000)]
    assert shares == sorted(shares) and 0 <= shares[0] and shares[-1] <= 1


def test_nearest_distance_is_exact_and_cdf_matches_share(square, uniform_grid):
    points = np.random.default_rng(5).uniform(-9000, 9000, size=(7, 2))
    cov = population_coverage(stations_at(points), uniform_grid, square, 1200)
    brute = np.min(np.hypot(uniform_grid.x[:, None] - points[None, :, 0], uniform_grid.y[:, None] - points[None, :, 1]), axis=1)
    # station points went through lon/lat and back: micrometres apart
    np.testing.assert_allclose(cov.nearest_m, brute, atol=1e-3)
    cdf = cov.distance_cdf([1200.0])
    assert cdf["share"].iloc[0] == pytest.approx(cov.totals["population_share"])
    d, share = cov.cdf_curve()
    assert np.all(np.diff(d) >= 0) and np.all(np.diff(share) >= 0) and share[-1] == pytest.approx(1.0)


def test_gap_cells_and_worst_served():
    d = square_districts(("500103", 0.0, 0.0, 10_000.0, 100_000), ("500105", 20_000.0, 0.0, 10_000.0, 50_000))
    grid = modelled_population(d, 1000.0)
    cov = population_coverage(stations_at([(0.0, 0.0)]), grid, d, 2000)
    gaps = cov.gap_cells(None)
    assert (np.diff(gaps["residents"].to_numpy()) <= 0).all()
    assert (gaps["nearest_m"] > 2000).all()
    assert gaps["residents"].sum() == pytest.approx(cov.totals["residents_uncovered"])
    assert cov.worst_served()["adcode"].tolist() == ["500105", "500103"]
    assert set(cov.gap_cells(5, adcode="500105")["adcode"]) == {"500105"}


def test_grid_from_other_districts_is_refused(square, districts):
    grid = modelled_population(square, 1000.0)
    with pytest.raises(ValidationError, match="different district map"):
        population_coverage(stations_at([(0.0, 0.0)]), grid, districts, 1000)


# -- siting: greedy, exact, brute force --------------------------------------------------------


def _random_instance(seed, n_fac=9, n_dem=40, density=0.25):
    rng = np.random.default_rng(seed)
    covers = rng.random((n_fac, n_dem)) < density
    weights = rng.integers(0, 100, n_dem).astype(float)
    return sparse.csr_matrix(covers.astype(float)), weights


def _brute_force(matrix, weights, n):
    dense = matrix.toarray() > 0
    best = 0.0
    for combo in itertools.combinations(range(dense.shape[0]), n):
        best = max(best, weights[dense[list(combo)].any(axis=0)].sum())
    return best


@pytest.mark.parametrize("seed", range(12))
def test_exact_equals_brute_force_and_greedy_is_within_1_minus_1_over_e(seed):
    matrix, weights = _random_instance(seed)
    n = 1 + seed % 4
    best = _brute_force(matrix, weights, n)
    exact = solve_mclp(matrix, weights, n, time_limit_s=30)
    assert exact.status == "optimal"
    assert exact.objective == pytest.approx(best)
    assert exact.best_bound == pytest.approx(best)
    chosen, added, bound = greedy_cover(matrix, weights, n)
    assert sum(added) >= (1 - 1 / math.e) * best - 1e-9
    assert sum(added) <= best + 1e-9 <= bound + 2e-9  # the greedy's bound is a true upper bound


def test_sparse_model_builder_matches_spopts_dense_one(monkeypatch):
    matrix, weights = _random_instance(99, n_fac=10, n_dem=60)
    dense = solve_mclp(matrix, weights, 3)
    monkeypatch.setattr(mclp, "DENSE_MODEL_MAX_PAIRS", 0)
    sparse_built = solve_mclp(matrix, weights, 3)
    assert sparse_built.objective == pytest.approx(dense.objective) == pytest.approx(_brute_force(matrix, weights, 3))


def test_predefined_facilities_stay_open():
    matrix, weights = _random_instance(3, n_fac=8, n_dem=50)
    forced = np.zeros(8, bool)
    forced[[2, 5]] = True
    result = solve_mclp(matrix, weights, 2, predefined=forced)
    assert {2, 5} <= set(result.chosen) and len(result.chosen) == 4
    dense = matrix.toarray() > 0
    best = max(weights[dense[[2, 5, *c]].any(axis=0)].sum() for c in itertools.combinations([0, 1, 3, 4, 6, 7], 2))
    assert result.objective == pytest.approx(best)


def test_cbc_that_overruns_is_killed_and_greedy_reported(monkeypatch, clustered):
    d, grid = clustered
    monkeypatch.setattr(mclp, "HARD_LIMIT_FACTOR", 0.0)
    monkeypatch.setattr(mclp, "HARD_LIMIT_GRACE_S", 0.001)
    plan = plan_sites(grid, stations_at([]), 1000, 2, method="both", districts=d, time_limit_s=5)
    assert plan.status == "stopped" and any("was stopped" in str(n) for n in plan.notes)
    assert plan.objective == pytest.approx(plan.alternative.objective)
    assert sorted(plan.sites["x"]) == sorted(plan.alternative.sites["x"])


def test_cbc_bound_is_read_from_its_log():
    log = "Cbc0005I Partial search - best objective -46142 (best possible -54160.592), took 0 iterations\n" \
          "Result - Stopped on time limit\n\nObjective value:                46142.00000000\nUpper bound:                    54160.592\n"
    assert _bound(log) == pytest.approx(54160.592)
    assert _bound("Cbc0005I Partial search - best objective -10 (best possible -12.5), took") == pytest.approx(12.5)
    assert _bound("nothing useful") is None


def test_coverage_matrix_is_distance_within_radius():
    rng = np.random.default_rng(2)
    cand, dem = rng.uniform(0, 5000, (30, 2)), rng.uniform(0, 5000, (200, 2))
    matrix = coverage_matrix(cand, dem, 1000.0)
    brute = np.hypot(cand[:, None, 0] - dem[None, :, 0], cand[:, None, 1] - dem[None, :, 1]) <= 1000.0
    assert (matrix.toarray() > 0).tolist() == brute.tolist()


@pytest.fixture(scope="module")
def clustered():
    """Two 5,000-person towns 8 km apart and a thin floor, in one 20 km square."""
    d = one_square(100_000)
    grid = modelled_population(d, 500.0, UNIFORM_MODEL)
    residents = grid.residents.copy()
    for tx, ty in ((-4000.0, 0.0), (4000.0, 0.0)):
        town = np.hypot(grid.x - tx, grid.y - ty) < 800
        residents[town] += 5000 / town.sum()
    residents *= 100_000 / residents.sum()
    grid.residents = residents
    return d, grid


def test_plan_finds_both_towns_and_exact_agrees(clustered):
    d, grid = clustered
    plan = plan_sites(grid, stations_at([]), 1000, 2, method="both", districts=d, time_limit_s=60)
    assert plan.method == "exact" and plan.status == "optimal"
    xs = sorted(plan.sites["x"].round(-3))
    assert xs == [-4000.0, 4000.0]
    assert plan.objective >= plan.alternative.objective - 1e-6
    assert plan.comparison()["greedy_over_exact"] <= 1.0 + 1e-12
    assert plan.totals["covered_before"] == 0
    assert plan.sites["residents_added"].sum() == pytest.approx(plan.totals["added"])
    assert list(plan.districts.columns)[:3] == ["adcode", "district", "district_en"]


def test_existing_stations_stay_fixed(clustered):
    d, grid = clustered
    existing = stations_at([(-4000.0, 0.0)])
    plan = plan_sites(grid, existing, 1000, 1, districts=d)
    site = plan.sites.iloc[0]
    assert abs(site["x"] - 4000) <= 500  # the other town, not the one already served
    assert plan.totals["covered_before"] > 0
    # a site right next to the existing station adds (almost) no one
    lon, lat = metric_to_lonlat([-3990.0, 8000.0], [0.0, 8000.0])
    hosts = gpd.GeoDataFrame({"name": ["next door", "far corner"]}, geometry=shapely.points(lon, lat), crs=4326)
    next_door = plan_sites(grid, existing, 1000, 1, candidates=hosts.iloc[[0]], districts=d)
    assert next_door.totals["added"] < 0.01 * plan.totals["added"]


def test_exact_reduction_matches_the_faithful_model(clustered):
    d, grid = clustered
    existing = stations_at([(-4000.0, 0.0), (6000.0, 6000.0)])
    reduced = plan_sites(grid, existing, 1500, 2, method="exact", districts=d, time_limit_s=60)
    faithful = plan_sites(grid, existing, 1500, 2, method="exact", districts=d, time_limit_s=60, reduce=False)
    assert faithful.model_size["forced_open"] == 2
    assert reduced.objective == pytest.approx(faithful.objective, rel=1e-9)
    assert reduced.best_bound == pytest.approx(faithful.best_bound, rel=1e-9)


def test_candidates_csv_with_names_and_district_filter(tmp_path):
    d = square_districts(("500103", 0.0, 0.0, 10_000.0, 100_000), ("500105", 20_000.0, 0.0, 10_000.0, 50_000))
    grid = modelled_population(d, 500.0)
    rows = ["名称,经度,纬度"]
    for name, (x, y) in {"=cmd()": (0.0, 0.0), "加油站": (2000.0, 0.0), "邻区": (20_000.0, 0.0)}.items():
        lon, lat = metric_to_lonlat(x, y)
        rows.append(f"{name},{lon},{lat}")
    path = tmp_path / "hosts.csv"
    path.write_text("\n".join(rows), encoding="utf-8")
    plan = plan_sites(grid, stations_at([]), 1200, 2, district="500103", candidates=path, districts=d)
    assert set(plan.sites["name"]) <= {"=cmd()", "加油站"} and "ignored" in str(plan.notes[0])
    csv = planexport.csv_bytes(plan.sites, lang="zh")
    assert csv.startswith(b"\xef\xbb\xbf") and "名称".encode() in csv
    assert b"'=cmd()" in csv and b",=cmd()" not in csv


def test_bad_candidates_are_rejected(tmp_path):
    d = one_square()
    path = tmp_path / "hosts.csv"
    path.write_text("name,lon,lat\nX,116.4,39.9\n", encoding="utf-8")
    grid = modelled_population(d, 1000.0)
    with pytest.raises(ValidationError, match="row 2, columns lon/lat"):
        plan_sites(grid, stations_at([]), 1200, 1, candidates=path, districts=d)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"n_new": 0}, "n_new"), ({"n_new": 2.5}, "n_new"), ({"method": "magic"}, "method"),
    ({"radius_m": -1}, "radius_m"), ({"time_limit_s": 0}, "time_limit_s"), ({"district": "509999"}, "district"),
])
def test_plan_arguments_are_checked(kwargs, field):
    d = one_square()
    grid = modelled_population(d, 1000.0)
    args = {"radius_m": 1200, "n_new": 1, **kwargs}
    with pytest.raises(ValidationError) as info:
        plan_sites(grid, stations_at([]), districts=d, **args)
    assert info.value.problems[0].where == field


def test_greedy_stops_when_nothing_is_left_to_cover(square):
    lon, lat = metric_to_lonlat(0.0, 0.0)
    grid = population_from_points_csv(f"lon,lat,weight\n{lon},{lat},10\n".encode(), square, 1000)
    plan = plan_sites(grid, stations_at([]), 1200, 5, districts=square, candidates=None)
    assert len(plan.sites) == 1 and plan.totals["share_after"] == 1.0
    assert plan.fewer_sites and plan.summary()["sites_chosen"] == 1
    assert "fewer useful sites than asked: 1 of 5" in str(plan.shortfall())


# -- exports and the snapshot cache -----------------------------------------------------------


def test_exports_are_well_formed(clustered):
    d, grid = clustered
    plan = plan_sites(grid, stations_at([(-4000.0, 0.0)]), 1000, 3, districts=d)
    geo = planexport.sites_geojson(plan)
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 3
    assert geo["features"][0]["properties"]["rank"] == 1
    json.dumps(planexport.plan_json(plan), allow_nan=False)
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(planexport.xlsx_bytes(planexport.plan_sheets(plan), lang="zh")))
    assert book.sheetnames == ["新增站点(贪心)", "各区县(贪心)", "汇总"]
    assert book["新增站点(贪心)"]["A1"].value == "序号"
    cov = population_coverage(stations_at([(-4000.0, 0.0)]), grid, d, 1000)
    gaps = planexport.gap_cells_geojson(cov, n=10)
    assert len(gaps["features"]) == 10 and len(gaps["features"][0]["geometry"]["coordinates"][0]) == 5
    json.dumps(planexport.coverage_json(cov), allow_nan=False)


def test_snapshot_results_are_cached_per_version(store):
    from geo.planning.plans import snapshot_plan, snapshot_population_coverage

    snap = store.snapshot()
    a = snapshot_population_coverage(snap, 1200, "22:00")
    b = snapshot_population_coverage(snap, 1200, "22:01")  # the same stations are open
    assert b.table is a.table and (b.at.hour, b.at.minute) == (22, 1)
    assert snapshot_population_coverage(snap, 1200) is not a
    plan = snapshot_plan(snap, 2, 1200, "500103")
    assert snapshot_plan(snap, 2, 1200, "500103") is plan
    assert plan.sites["adcode"].eq("500103").all()


def test_charts_render(store):
    from geo.planning import charts
    from geo.planning.plans import snapshot_plan, snapshot_population_coverage

    snap = store.snapshot()
    cov = snapshot_population_coverage(snap, 1200)
    assert charts.coverage_by_district_chart(cov).startswith(b"\x89PNG")
    assert charts.distance_cdf_chart(cov, adcodes=("500103",), fmt="svg").lstrip().startswith(b"<?xml")
    assert charts.plan_before_after_chart(snapshot_plan(snap, 2, 1200), lang="en").startswith(b"\x89PNG")
    with pytest.raises(ValidationError):
        charts.coverage_by_district_chart(cov, fmt="gif")


@settings(max_examples=15, deadline=None)
@given(points=st.lists(st.tuples(st.floats(-12_000, 12_000), st.floats(-12_000, 12_000)), min_size=1, max_size=6),
       radius_m=st.floats(50, 50_000), method=st.sampled_from(["exact", "grid"]))
def test_shares_never_leave_the_unit_interval(square, uniform_grid, points, radius_m, method):
    # Radii up to 50 km cover the whole 20 km square: the summed covered area then equals the
    # area up to rounding, which once reported area_share 1.0000000000000004.
    cov = population_coverage(stations_at(points), uniform_grid, square, radius_m, area_method=method)
    for key in ("area_share", "population_share"):
        assert 0.0 <= cov.totals[key] <= 1.0
        assert ((cov.table[key] >= 0) & (cov.table[key] <= 1)).all()


@given(part=st.floats(0, 1e12), whole=st.floats(0, 1e12), jitter=st.floats(0, 1e-9))
def test_share_is_clamped_at_the_source(part, whole, jitter):
    from geo.queries.coverage import share

    value = share(part * (1 + jitter), whole)
    assert 0.0 <= value <= 1.0
    assert share(whole * (1 + 4e-16), whole) <= 1.0
