"""The demand grid: census sums, the density model, and the raster / CSV loaders' checks."""

from __future__ import annotations

import numpy as np
import pytest

from geo.errors import ValidationError
from geo.planning.population import (
    DEFAULT_MODEL,
    UNIFORM_MODEL,
    check_cell_size,
    default_population_grid,
    modelled_grid,
    modelled_population,
    population_from_points_csv,
    population_from_raster,
    scale_to_totals,
)
from geo.projection import lonlat_to_metric, metric_to_lonlat
from tests.planning_fixtures import SIDE_M, one_square, square_districts, write_geotiff

# -- the census model -----------------------------------------------------------------------


@pytest.mark.parametrize("cell_m", [1000.0, 500.0])
def test_model_sums_to_the_census_in_every_district(districts, cell_m):
    grid = default_population_grid(districts, cell_m)
    census = districts.frame.set_index("adcode")["population_2020"].astype(float)
    sums = grid.by_district()
    np.testing.assert_allclose(sums.to_numpy(), census.reindex(sums.index).to_numpy(), rtol=1e-13, atol=1e-6)
    assert grid.total == pytest.approx(32_054_159, abs=1e-4)
    assert (grid.residents > 0).all()
    assert set(grid.adcode) == set(districts.frame["adcode"])


def test_model_grid_has_about_one_cell_per_square_kilometre(districts):
    grid = default_population_grid(districts, 1000.0)
    assert abs(len(grid) - 82_382) < 300  # the municipality is 82,382 km²
    assert grid.cell_area_km2 == 1.0


def test_cells_lie_in_their_district(districts):
    grid = default_population_grid(districts, 1000.0)
    sample = np.random.default_rng(1).choice(len(grid), 3000, replace=False)
    found = districts.locate(grid.lon[sample], grid.lat[sample])
    assert (found == grid.adcode[sample]).mean() > 0.999


def test_default_grid_is_cached_and_read_only(districts):
    a = default_population_grid(districts, 1000)
    assert default_population_grid(districts, 1000.0) is a
    with pytest.raises(ValueError):
        a.residents[0] = 0


def test_uniform_square_spreads_people_evenly():
    d = one_square(400_000)
    grid = modelled_population(d, 1000.0, UNIFORM_MODEL)
    assert len(grid) == 400  # 20 km × 20 km, cells aligned with the square's edges
    np.testing.assert_allclose(grid.residents, 1000.0, rtol=1e-12)
    assert grid.x.min() == -9500 and grid.x.max() == 9500
    assert modelled_population(d, 500.0, UNIFORM_MODEL).residents.sum() == pytest.approx(400_000, rel=1e-14)


def test_density_falls_with_distance_from_the_seat():
    grid = modelled_population(one_square(400_000), 1000.0, DEFAULT_MODEL)
    distance = np.hypot(grid.x, grid.y)
    order = np.argsort(distance)
    assert np.all(np.diff(grid.residents[order]) <= 1e-9)
    assert grid.residents.max() / grid.residents.min() > 10
    lam = DEFAULT_MODEL.decay_length_m(400.0)[()]
    assert lam == pytest.approx(1600.0)  # 0.08 · √400 km² = 1.6 km


def test_model_does_not_depend_on_cell_size(districts):
    coarse = default_population_grid(districts, 1000.0)
    fine = default_population_grid(districts, 500.0)
    seat_x, seat_y = lonlat_to_metric(106.631, 29.718)  # 渝北's seat
    shares = []
    for grid in (coarse, fine):
        mask = grid.mask("500112")
        near = np.hypot(grid.x[mask] - seat_x, grid.y[mask] - seat_y) <= 5000
        shares.append(grid.residents[mask][near].sum() / grid.residents[mask].sum())
    assert shares[0] == pytest.approx(shares[1], abs=0.02)


def test_district_smaller_than_a_cell_keeps_its_people():
    d = square_districts(("500103", 0.0, 0.0, SIDE_M, 100_000), ("500104", 10_300.0, 10_300.0, 300.0, 777))
    grid = modelled_population(d, 1000.0)
    tiny = grid.mask("500104")
    assert tiny.sum() == 1 and grid.residents[tiny][0] == pytest.approx(777)
    assert grid.by_district()["500103"] == pytest.approx(100_000)


def test_scale_to_totals_is_exact_per_district():
    rng = np.random.default_rng(7)
    idx = rng.integers(0, 5, 10_000)
    totals = np.array([1e6, 3.3, 123456789.0, 0.1, 42.0])
    scaled = scale_to_totals(rng.random(10_000), idx, totals)
    np.testing.assert_allclose(np.bincount(idx, weights=scaled), totals, rtol=1e-14)


@pytest.mark.parametrize("bad", [300, "big", None, float("nan")])
def test_cell_size_must_be_supported(bad):
    with pytest.raises(ValidationError, match="cell size"):
        check_cell_size(bad)


# -- points CSV ------------------------------------------------------------------------------


def _lonlat(x, y):
    lon, lat = metric_to_lonlat(x, y)
    return float(lon), float(lat)


def test_points_csv_aggregates_to_cells():
    d = one_square()
    a, b = _lonlat(100, 100), _lonlat(300, 400)   # same 1 km cell
    c = _lonlat(-5200, 7700)
    text = f"名称,经度,纬度,人口\nA,{a[0]},{a[1]},10\nB,{b[0]},{b[1]},5.5\n\nC,{c[0]},{c[1]},2\n"
    grid = population_from_points_csv(text.encode("utf-8-sig"), d, 1000)
    assert len(grid) == 2 and grid.total == pytest.approx(17.5)
    cell = np.flatnonzero(grid.residents == 15.5)[0]
    assert (grid.x[cell], grid.y[cell]) == (500.0, 500.0)


def test_points_csv_reports_every_problem_with_row_and_column():
    d = one_square()
    ok = _lonlat(0, 0)
    text = (f"lon,lat,weight\n{ok[0]},{ok[1]},1\nabc,{ok[1]},1\n{ok[0]},{ok[1]},-3\n{ok[0]},{ok[1]},nan\n"
            f"116.4,39.9,1\n{ok[1]},{ok[0]},1\n{ok[0]},,1\n")
    with pytest.raises(ValidationError) as info:
        population_from_points_csv(text.encode(), d, name="people.csv")
    where = {p.where: p for p in info.value.problems}
    assert "'abc' is not a finite number" in where["row 3, column lon"].message
    assert "negative" in where["row 4, column weight"].message
    assert "not a finite number" in where["row 5, column weight"].message
    assert "outside Chongqing" in where["row 6, columns lon/lat"].message
    assert "swapped" in where["row 7, columns lon/lat"].hint
    assert where["row 8, column lat"].message == "is empty"
    assert str(info.value).startswith("people.csv: row 3")


def test_points_csv_needs_its_columns():
    with pytest.raises(ValidationError, match="no weight column"):
        population_from_points_csv(b"lon,lat,people\n107.5,30,1\n", one_square())


def test_points_csv_reads_gb18030():
    lon, lat = _lonlat(0, 0)
    raw = f"经度,纬度,人口\n{lon},{lat},3\n".encode("gb18030")
    assert population_from_points_csv(raw, one_square()).total == 3


# -- rasters ---------------------------------------------------------------------------------


def _bounds_of_square(margin=0.0):
    d = one_square()
    w, s, e, n = d.outline.bounds
    return (w - margin, s - margin, e + margin, n + margin), d


def test_raster_counts_are_summed_into_cells(tmp_path):
    bounds, d = _bounds_of_square(margin=0.05)
    data = np.ones((60, 60), dtype="float32") * 2.0
    data[0, 0] = -9999  # nodata is ignored
    path = write_geotiff(tmp_path / "pop.tif", data, bounds=bounds, nodata=-9999)
    grid = population_from_raster(path, d, 1000)
    # every pixel whose centre falls in the square counts 2 people
    import rasterio
    from rasterio import features

    with rasterio.open(path) as src:
        inside = features.rasterize([(d.frame.geometry.iloc[0], 1)], out_shape=(60, 60), transform=src.transform)
    assert grid.total == pytest.approx(2.0 * inside.sum())
    assert "raster pop.tif" in str(grid.source) and "栅格 pop.tif" in grid.source.render("zh")


def test_raster_in_another_crs(tmp_path):
    d = one_square()
    data = np.zeros((40, 40), dtype="float32")
    data[20, 20] = 500.0  # one pixel in the middle of the square, 1 km pixels in Albers
    crs = "+proj=aea +lat_1=28 +lat_2=32 +lat_0=30 +lon_0=107.5 +ellps=WGS84 +units=m +no_defs"
    path = write_geotiff(tmp_path / "albers.tif", data, crs=crs, bounds=(-20000, -20000, 20000, 20000))
    grid = population_from_raster(path, d, 1000)
    assert len(grid) == 1 and grid.residents[0] == pytest.approx(500.0)
    assert (grid.x[0], grid.y[0]) == (500.0, -500.0)  # pixel centre (500, -500) lies in that cell


def test_raster_scaled_to_census(tmp_path):
    bounds, d = _bounds_of_square(margin=0.05)
    path = write_geotiff(tmp_path / "pop.tif", np.random.default_rng(3).random((50, 50)), bounds=bounds)
    grid = population_from_raster(path, d, 500, scale_to_census=True)
    assert grid.total == pytest.approx(400_000, rel=1e-13)


def test_raster_without_crs_is_rejected(tmp_path):
    path = write_geotiff(tmp_path / "nocrs.tif", np.ones((5, 5)), crs=None)
    with pytest.raises(ValidationError, match="no coordinate reference system"):
        population_from_raster(path, one_square())


def test_raster_elsewhere_is_rejected(tmp_path):
    path = write_geotiff(tmp_path / "beijing.tif", np.ones((5, 5)), bounds=(116.0, 39.5, 117.0, 40.5))
    with pytest.raises(ValidationError, match="does not overlap Chongqing"):
        population_from_raster(path, one_square())


@pytest.mark.parametrize(("value", "what"), [(-1.0, "negative"), (np.nan, "NaN"), (np.inf, "infinite")])
def test_raster_with_bad_values_is_rejected(tmp_path, value, what):
    bounds, d = _bounds_of_square()
    data = np.ones((10, 10))
    data[3, 4] = value
    path = write_geotiff(tmp_path / "bad.tif", data, bounds=bounds)
    with pytest.raises(ValidationError) as info:
        population_from_raster(path, d)
    assert what in str(info.value) and "row 3, column 4" in str(info.value)


def test_raster_that_is_not_a_raster(tmp_path):
    path = tmp_path / "x.tif"
    path.write_bytes(b"not a tiff")
    with pytest.raises(ValidationError, match="cannot read as a raster"):
        population_from_raster(path, one_square())


@pytest.mark.parametrize("cell_m", [250.0, 500.0, 1000.0, 2000.0])
def test_a_plan_names_its_modelled_grid_without_building_it(cell_m):
    grid = default_population_grid(square_districts(("500103", 0.0, 0.0, SIDE_M, 100_000)), cell_m)
    info = modelled_grid(cell_m)
    assert (str(info.source), info.cell_m) == (str(grid.source), grid.cell_m)
    assert str(info.source) != str(modelled_grid(cell_m * 2 if cell_m < 2000 else 500.0).source)
