"""District coverage: hand-computable shares, invariants, gaps and totals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.errors import ValidationError
from geo.queries.coverage import check_radius, district_coverage
from geo.registry import stations_frame
from tests.conftest import make_station

# A point deep inside 城口县 (500229), more than 5 km from its boundary.
CHENGKOU_INNER = (108.6650, 31.9470)


def test_single_station_covers_a_circle(districts):
    frame = stations_frame([make_station("500229-OS-0001", *CHENGKOU_INNER)])
    result = district_coverage(frame, districts, radius_m=1000)
    row = result.table.set_index("adcode").loc["500229"]
    assert row["covered_km2"] == pytest.approx(math.pi * 1.0**2, rel=0.003)  # Albers scale ≤ 0.1 % linear
    assert row["covered_share"] == pytest.approx(math.pi / row["area_km2"], rel=0.003)
    assert row["outdoor_station"] == 1 and row["stations"] == 1
    assert row["per_10k_residents"] == pytest.approx(1e4 / row["population"])
    others = result.table[result.table["adcode"] != "500229"]
    assert (others["covered_km2"] == 0).all()


def test_gaps_plus_covered_equals_area(districts, store):
    result = district_coverage(store.snapshot().active, districts, radius_m=2000)
    gaps_by_district = result.gaps.to_crs(result.gaps.crs).groupby("adcode")["area_km2"].sum()
    table = result.table.set_index("adcode")
    for adcode in ("500103", "500105", "500229"):
        assert gaps_by_district.get(adcode, 0) + table.loc[adcode, "covered_km2"] == pytest.approx(table.loc[adcode, "area_km2"], rel=1e-3)
    assert result.gaps.crs.to_epsg() == 4326


def test_totals_are_sums(districts, store):
    result = district_coverage(store.snapshot().active, districts)
    assert result.totals["stations"] == 11
    assert result.totals["population"] == 32_054_159
    assert result.totals["covered_km2"] == pytest.approx(result.table["covered_km2"].sum())
    assert result.totals["covered_share"] == pytest.approx(result.totals["covered_km2"] / result.totals["area_km2"])


def test_station_near_a_boundary_covers_both_districts(districts):
    # 500103-OS-0001's neighbourhood: a 3 km circle around 解放碑 reaches 江北 and 南岸 across the rivers.
    frame = stations_frame([make_station("500103-OS-0001", 106.5770, 29.5590)])
    table = district_coverage(frame, districts, radius_m=3000).table.set_index("adcode")
    assert table.loc["500105", "covered_km2"] > 0 and table.loc["500108", "covered_km2"] > 0
    assert table.loc["500105", "stations"] == 0


@settings(max_examples=8, deadline=None)
@given(r1=st.floats(100, 5000), r2=st.floats(100, 5000))
def test_share_in_unit_interval_and_monotone_in_radius(districts, r1, r2):
    from tests.conftest import SMALL_REGISTRY

    frame = stations_frame(SMALL_REGISTRY)
    low, high = sorted((r1, r2))
    a = district_coverage(frame, districts, radius_m=low).table["covered_share"].to_numpy()
    b = district_coverage(frame, districts, radius_m=high).table["covered_share"].to_numpy()
    assert ((a >= 0) & (a <= 1) & (b <= 1)).all()
    assert (b >= a - 1e-9).all()


def test_empty_registry_gives_zero_coverage(districts):
    frame = stations_frame([])
    result = district_coverage(frame, districts)
    assert result.totals["covered_share"] == 0 and result.totals["stations"] == 0
    assert np.isclose(result.gaps["area_km2"].sum(), result.totals["area_km2"], rtol=1e-3)


@pytest.mark.parametrize("radius", [0, -5, float("nan"), float("inf"), "abc", 50_001])
def test_bad_radius(radius):
    with pytest.raises(ValidationError, match="radius_m"):
        check_radius(radius)
