"""Tests of geo.queries.grouping: cell sizes per zoom, counts that add up, stable grids, and coarsening to a cell budget."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from geo.queries.grouping import BUBBLE_PX, CELL_PX, cell_size_deg, group_points, mercator_y, zoom_for_bbox

CHONGQING = (105.3, 28.2, 110.2, 32.2)


def random_points(n, seed=0, bbox=CHONGQING, n_kinds=3):
    rng = np.random.default_rng(seed)
    lon = rng.uniform(bbox[0], bbox[2], n)
    lat = rng.uniform(bbox[1], bbox[3], n)
    return lon, lat, rng.integers(0, n_kinds, n)


def test_cell_size_halves_per_zoom_level():
    assert cell_size_deg(0) == pytest.approx(360 / 256 * CELL_PX)
    for z in range(22):
        assert cell_size_deg(z + 1) == pytest.approx(cell_size_deg(z) / 2)
    assert cell_size_deg(9.7) == cell_size_deg(9)  # fractional zoom uses the whole level below
    assert cell_size_deg(-5) == cell_size_deg(0) and cell_size_deg(99) == cell_size_deg(22)


def test_zoom_for_bbox():
    assert zoom_for_bbox((-180, -85, 180, 85)) <= 2
    chongqing = zoom_for_bbox(CHONGQING)
    assert 6 <= chongqing <= 9
    assert zoom_for_bbox((106.5, 29.5, 106.6, 29.6)) > chongqing
    assert zoom_for_bbox((106.5, 29.5, 106.5, 29.5)) == 22  # a point: deepest zoom


def test_counts_kinds_and_bounds_add_up():
    lon, lat, kinds = random_points(5000)
    g = group_points(lon, lat, kinds, 3, cell_size_deg(8))
    assert g.count.sum() == 5000 and len(g.cell_of) == 5000
    assert (g.kind_counts.sum(axis=1) == g.count).all()
    assert np.array_equal(np.bincount(g.cell_of, minlength=len(g)), g.count)
    assert (g.bounds[g.cell_of, 0] <= lon).all() and (lon <= g.bounds[g.cell_of, 2]).all()
    assert (g.bounds[g.cell_of, 1] <= lat).all() and (lat <= g.bounds[g.cell_of, 3]).all()
    assert ((g.bounds[:, 0] <= g.lon) & (g.lon <= g.bounds[:, 2])).all()
    assert ((g.bounds[:, 1] <= g.lat) & (g.lat <= g.bounds[:, 3])).all()
    for c in (0, len(g) // 2, len(g) - 1):
        members = g.cell_of == c
        assert g.lon[c] == pytest.approx(lon[members].mean()) and g.lat[c] == pytest.approx(lat[members].mean())
        assert g.cell_of[g.first[c]] == c and g.first[c] == np.flatnonzero(members)[0]


def test_cells_are_square_on_a_mercator_map():
    lon, lat, kinds = random_points(20000, seed=1)
    g = group_points(lon, lat, kinds, 3, 0.25)
    width = g.bounds[:, 2] - g.bounds[:, 0]
    height = mercator_y(g.bounds[:, 3]) - mercator_y(g.bounds[:, 1])
    assert width.max() <= 0.25 and height.max() <= 0.25 + 1e-9


def test_grid_is_stable_when_points_are_added_or_removed():
    """Panning changes which points are sent, never which cell a point belongs to."""
    lon, lat, kinds = random_points(3000, seed=2)
    cell = cell_size_deg(9)
    whole = group_points(lon, lat, kinds, 3, cell)
    part = np.flatnonzero(lon < 107.5)
    sub = group_points(lon[part], lat[part], kinds[part], 3, cell)
    for i, j in zip(part[:200], range(200), strict=True):
        same_whole = whole.cell_of[part] == whole.cell_of[i]
        same_sub = sub.cell_of == sub.cell_of[j]
        assert np.array_equal(same_whole, same_sub)


def test_zooming_in_splits_cells():
    lon, lat, kinds = random_points(3000, seed=3)
    coarse = group_points(lon, lat, kinds, 3, cell_size_deg(8))
    fine = group_points(lon, lat, kinds, 3, cell_size_deg(9))
    for c in range(len(fine)):
        assert len(np.unique(coarse.cell_of[fine.cell_of == c])) == 1


def test_coarsens_to_the_cell_budget():
    lon, lat, kinds = random_points(5000, seed=4)
    g = group_points(lon, lat, kinds, 3, cell_size_deg(22), max_cells=100)
    assert len(g) <= 100 and g.count.sum() == 5000
    assert g.cell_deg > cell_size_deg(22)


def test_edge_cases():
    empty = group_points([], [], [], 3, 1.0)
    assert len(empty) == 0 and empty.kind_counts.shape == (0, 3)
    one = group_points([106.5], [29.5], [2], 3, 1.0, max_cells=1)
    assert one.count.tolist() == [1] and one.lon.tolist() == [106.5] and one.kind_counts.tolist() == [[0, 0, 1]]
    same = group_points([106.5] * 4, [29.5] * 4, [0, 1, 1, 2], 3, 1e-9, max_cells=1)
    assert same.count.tolist() == [4]
    across = group_points([-0.5, 0.5], [-0.5, 0.5], [0, 0], 1, 1e-3, max_cells=1)  # either side of lon 0 / lat 0
    assert across.count.tolist() == [2]
    poles = group_points([0, 0, 179.99, -180], [90, -90, 0, 0], [0, 0, 0, 0], 1, 1.0)
    assert poles.count.sum() == 4 and np.isfinite(poles.lat).all()


@pytest.mark.parametrize("args, message", [
    (([1, 2], [1], [0, 0], 1, 1.0), "one length"),
    (([np.nan], [1], [0], 1, 1.0), "finite"),
    (([1], [1], [3], 3, 1.0), "kind codes"),
    (([1], [1], [0], 1, 0.0), "positive"),
    (([1], [1], [0], 1, float("nan")), "positive"),
])
def test_rejects_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        group_points(*args)


coordinates = st.integers(min_value=0, max_value=300)


@settings(max_examples=150, deadline=None)
@given(
    lon=hnp.arrays(float, coordinates, elements=st.floats(-180, 180)),
    data=st.data(),
    zoom=st.integers(0, 22),
    max_cells=st.one_of(st.none(), st.integers(1, 50)),
)
def test_property_every_point_is_in_exactly_one_cell(lon, data, zoom, max_cells):
    n = len(lon)
    lat = data.draw(hnp.arrays(float, n, elements=st.floats(-90, 90)))
    kinds = data.draw(hnp.arrays(np.int64, n, elements=st.integers(0, 2)))
    g = group_points(lon, lat, kinds, 3, cell_size_deg(zoom), max_cells=max_cells)
    assert g.count.sum() == n and (g.count >= 1).all()
    assert (g.kind_counts.sum(axis=1) == g.count).all()
    if max_cells is not None and n:
        assert len(g) <= max_cells
    if n:
        assert (g.bounds[g.cell_of, 0] <= lon).all() and (g.bounds[g.cell_of, 3] >= lat).all()
        assert np.isfinite(g.lon).all() and np.isfinite(g.lat).all()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 3000), zoom=st.integers(6, 16))
def test_bubbles_of_neighbouring_cells_never_overlap(seed, n, zoom):
    # Dense and clustered: half the points in one urban core, where cell means crowd the edges.
    lon, lat, kinds = random_points(n, seed)
    lon[: n // 2] = 106.55 + (lon[: n // 2] - 105.3) * 0.01
    lat[: n // 2] = 29.55 + (lat[: n // 2] - 28.2) * 0.01
    cell = cell_size_deg(zoom)
    g = group_points(lon, lat, kinds, 3, cell)
    px = CELL_PX / g.cell_deg  # screen pixels per Mercator degree at this zoom
    x, y = (g.anchor_lon + 180) * px, (mercator_y(g.anchor_lat) + 180) * px
    # Each anchor is in its own cell, at least half a bubble from every edge ...
    x_cell, y_cell = (g.lon + 180) * px // CELL_PX, (mercator_y(g.lat) + 180) * px // CELL_PX
    assert np.all(x // CELL_PX == x_cell) and np.all(y // CELL_PX == y_cell)
    inner_x, inner_y = x - x_cell * CELL_PX, y - y_cell * CELL_PX
    assert inner_x.min() >= BUBBLE_PX / 2 - 1e-6 and inner_x.max() <= CELL_PX - BUBBLE_PX / 2 + 1e-6
    assert inner_y.min() >= BUBBLE_PX / 2 - 1e-6 and inner_y.max() <= CELL_PX - BUBBLE_PX / 2 + 1e-6
    # ... so any two anchors are a bubble apart along x or y: their bubbles cannot overlap.
    if len(g) > 1:
        apart = np.maximum(np.abs(x[:, None] - x[None, :]), np.abs(y[:, None] - y[None, :]))
        np.fill_diagonal(apart, np.inf)
        assert apart.min() >= BUBBLE_PX - 1e-6
