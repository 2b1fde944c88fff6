"""Coverage after a write works out only the districts the write can reach, and equals a fresh computation."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import geo.queries.coverage as coverage
from geo.queries.coverage import district_coverage, snapshot_coverage
from geo.registry.snapshot import Snapshot
from tests.conftest import SMALL_REGISTRY, make_station


def assert_same(result, expected):
    assert result.table.drop(columns=["covered_km2", "covered_share"]).equals(
        expected.table.drop(columns=["covered_km2", "covered_share"]))
    np.testing.assert_allclose(result.table["covered_km2"], expected.table["covered_km2"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(result.gaps["area_km2"].sort_values(), expected.gaps["area_km2"].sort_values(), rtol=1e-9)
    assert result.totals["stations"] == expected.totals["stations"]


@pytest.mark.parametrize("radius", [500.0, 3000.0])
def test_carried_coverage_equals_a_fresh_one_and_recomputes_only_what_a_write_reaches(districts, monkeypatch, radius):
    snap = Snapshot(1, copy.deepcopy(SMALL_REGISTRY), districts)
    snapshot_coverage(snap, radius)
    moved = snap.get("500105-OS-0001")  # 江北: moved a little; another station retired; one added in 城口
    moved["geometry"]["coordinates"] = [106.5800, 29.5900]
    retired = snap.get("500103-OS-0002")
    retired["properties"]["status"] = "retired"
    added = make_station("500229-OS-0101", 108.66, 31.95)
    snap2 = snap.with_changes(2, [moved, retired, added])

    worked_out = []
    real = coverage.covered_areas

    def spy(stations, districts, radius_m, only=None, previous=None):
        worked_out.append(None if only is None else {a for a, o in zip(districts.frame["adcode"], only, strict=True) if o})
        return real(stations, districts, radius_m, only=only, previous=previous)

    monkeypatch.setattr(coverage, "covered_areas", spy)
    result = snapshot_coverage(snap2, radius)
    touched = worked_out[0]
    assert touched is not None and {"500103", "500105", "500229"} <= touched and len(touched) < len(districts.frame)
    monkeypatch.setattr(coverage, "covered_areas", real)
    assert_same(result, district_coverage(snap2.active, districts, radius))


def test_a_version_without_an_earlier_result_is_computed_in_full(districts):
    snap = Snapshot(1, copy.deepcopy(SMALL_REGISTRY), districts)
    moved = snap.get("500105-OS-0001")
    moved["geometry"]["coordinates"] = [106.5800, 29.5900]
    snap2 = snap.with_changes(2, [moved])
    assert_same(snapshot_coverage(snap2, 1000.0), district_coverage(snap2.active, districts, 1000.0))


def test_the_grid_method_agrees_with_the_exact_union(districts, monkeypatch):
    """Large registries measure covered area on 250 m cells; it must agree with the union of circles."""
    snap = Snapshot(1, copy.deepcopy(SMALL_REGISTRY), districts)
    exact = district_coverage(snap.active, districts, 5000.0)
    monkeypatch.setattr(coverage, "GRID_ABOVE_STATIONS", 0)
    grid = district_coverage(snap.active, districts, 5000.0)
    assert (exact.method, grid.method) == ("exact", "grid") and grid.totals["area_method"] == "grid"
    assert grid.totals["covered_km2"] == pytest.approx(exact.totals["covered_km2"], rel=0.03)
    big = exact.table["covered_km2"] > 10
    assert big.sum() >= 3
    np.testing.assert_allclose(grid.table["covered_km2"][big], exact.table["covered_km2"][big], rtol=0.05)
    assert (grid.table["covered_share"] <= 1).all() and (grid.table.loc[~big, "covered_km2"] < 10).all()
    # the gaps drawn from the cells cover what is not covered
    uncovered = exact.totals["area_km2"] - exact.totals["covered_km2"]
    assert grid.gaps.to_crs(coverage.CHONGQING_EQUAL_AREA).area.sum() / 1e6 == pytest.approx(uncovered, rel=0.01)
    assert set(grid.gaps["adcode"]) == set(exact.gaps["adcode"])


def test_a_grid_coverage_draws_its_gaps_once_and_alike_wherever_it_runs(districts, monkeypatch):
    """The server draws a grid coverage's gaps in a separate process: the job and its answer cross a pipe."""
    import pickle

    snap = Snapshot(1, copy.deepcopy(SMALL_REGISTRY), districts)
    monkeypatch.setattr(coverage, "GRID_ABOVE_STATIONS", 0)
    here, there = (district_coverage(snap.active, districts, 3000.0) for _ in range(2))
    calls = []

    def crossed(value):
        return pickle.loads(pickle.dumps(value))  # noqa: S301 - our own bytes, as the work pool's pipe carries them

    def elsewhere(fn, *args):
        calls.append(fn.__name__)
        return crossed(crossed(fn)(*crossed(args)))

    assert there.gap_source is not None and there._gaps is None  # nothing drawn until asked for
    drawn = there.gap_polygons(run=elsewhere)
    assert calls == ["trace_gaps"] and there.gap_polygons(run=elsewhere) is drawn and calls == ["trace_gaps"]
    assert there.gap_source is None  # the cells go once drawn
    assert len(drawn) == len(here.gaps) > 0
    assert drawn["area_km2"].tolist() == here.gaps["area_km2"].tolist()
    assert all(a.equals(b) for a, b in zip(drawn.geometry, here.gaps.geometry, strict=True))
