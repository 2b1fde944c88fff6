"""Nearest costs the same everywhere: the geodesic ball tree is exact at any distance and does little work far away."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.projection import GEOD
from geo.queries.nearest import GeodesicBallTree, NearestIndex, chord_to_max_geodesic, ecef, meridian_distance
from tests.geo.queries.test_nearest import assert_same_ranking, brute_force, random_stations

lons = st.floats(min_value=-180, max_value=180, allow_nan=False)
lats = st.floats(min_value=-90, max_value=90, allow_nan=False)

# Stations spread over the whole Earth (across the date line, near both poles), so the bounds
# are tested where Chongqing's data never reaches.
rng = np.random.default_rng(3)
WORLD_LON = rng.uniform(-180, 180, 1500)
WORLD_LAT = np.degrees(np.arcsin(rng.uniform(-1, 1, 1500)))
WORLD = GeodesicBallTree(ecef(WORLD_LON, WORLD_LAT), WORLD_LON, WORLD_LAT, leaf_size=8)

FAR_AWAY = [(-0.13, 51.5), (151.2, -33.9), (-72.5, -30.0), (-73.4, -29.6), (0.0, 90.0), (0.0, -90.0),
            (180.0, 0.0), (-180.0, 45.0), (179.999, -60.0), (-122.4, 37.8), (37.6, 55.8), (18.4, -33.9)]


def brute_world(lon, lat, k):
    _, _, dist = GEOD.inv(np.full(WORLD_LON.size, lon), np.full(WORLD_LAT.size, lat), WORLD_LON, WORLD_LAT)
    return np.sort(dist)[:k]


@settings(max_examples=150, deadline=None)
@given(lon=lons, lat=lats, k=st.integers(1, 6))
def test_ball_tree_equals_brute_force_anywhere(lon, lat, k):
    found = WORLD.nearest(lon, lat, k)
    np.testing.assert_allclose([d for d, _ in found], brute_world(lon, lat, k), rtol=0, atol=1e-6)
    for d, i in found:
        assert GEOD.inv(lon, lat, WORLD_LON[i], WORLD_LAT[i])[2] == pytest.approx(d, abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(lon1=lons, lat1=lats, dlon=st.floats(-3, 3), dlat=st.floats(-3, 3))
def test_chord_bound_is_never_below_the_geodesic(lon1, lat1, dlon, dlat):
    lon2 = (lon1 + dlon + 180) % 360 - 180
    lat2 = float(np.clip(lat1 + dlat, -90, 90))
    a, b = ecef([lon1, lon2], [lat1, lat2])
    chord = float(np.linalg.norm(a - b))
    assert chord_to_max_geodesic(chord) >= GEOD.inv(lon1, lat1, lon2, lat2)[2]


@settings(max_examples=200, deadline=None)
@given(lon1=lons, lat1=lats, lon2=lons, lat2=lats)
def test_meridian_bound_is_never_above_the_geodesic(lon1, lat1, lon2, lat2):
    g1, g2 = meridian_distance(np.array([lat1, lat2]))
    assert abs(g1 - g2) <= GEOD.inv(lon1, lat1, lon2, lat2)[2] + 1e-6


def test_far_queries_compute_few_geodesics_at_scale():
    stations = random_stations(20_000, seed=11)
    index = NearestIndex(stations)
    tree = index.ball_tree(None)
    for lon, lat in FAR_AWAY:
        before = tree.geodesics
        hits = index.nearest(lon, lat, k=5)
        # Brute force would compute 20,000; the chord bound alone, nearly as many.
        assert tree.geodesics - before < 300, (lon, lat, tree.geodesics - before)
        assert_same_ranking(hits, *brute_force(stations, lon, lat, 5))


def test_city_queries_do_not_touch_the_ball_tree():
    stations = random_stations(2_000, seed=5)
    index = NearestIndex(stations)
    index.nearest(106.55, 29.56, k=5)
    assert index.ball_tree(None).geodesics == 0
