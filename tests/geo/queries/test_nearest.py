"""Nearest queries equal brute force with pyproj.Geod, everywhere: inside, at stations, at the edges, far away."""

from __future__ import annotations

from datetime import datetime

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.errors import ValidationError
from geo.projection import GEOD, TO_ECEF, ecef_point
from geo.queries.nearest import NearestIndex
from geo.registry import stations_frame
from tests.conftest import SMALL_REGISTRY, make_station


def random_stations(n: int, seed: int, bbox=(105.3, 28.2, 110.2, 32.2)) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    lon = rng.uniform(bbox[0], bbox[2], n)
    lat = rng.uniform(bbox[1], bbox[3], n)
    kinds = rng.choice(["outdoor_station", "bookshelf", "childcare"], n, p=[0.9, 0.07, 0.03])
    amenity_pool = ["rest", "toilet", "drinking_water", "wifi", "battery_swap"]
    frame = gpd.GeoDataFrame(
        {
            "id": [f"S{i}" for i in range(n)],
            "kind": kinds,
            "amenities": [list(rng.choice(amenity_pool, rng.integers(0, 4), replace=False)) for _ in range(n)],
            "opening_hours": rng.choice(["24/7", "Mo-Fr 08:00-18:00", "Mo-Su 07:00-22:00"], n),
        },
        geometry=shapely.points(lon, lat),
        crs="EPSG:4326",
    )
    return frame


def brute_force(frame, lon, lat, k, mask=None):
    """Reference answer: geodesic distance to every station, sorted (ties by position)."""
    positions = np.arange(len(frame)) if mask is None else np.flatnonzero(mask)
    _, _, dist = GEOD.inv(
        np.full(len(positions), lon), np.full(len(positions), lat),
        frame.geometry.x.to_numpy()[positions], frame.geometry.y.to_numpy()[positions],
    )
    order = np.lexsort((positions, dist))[:k]
    return positions[order], dist[order]


def assert_same_ranking(hits, expected_positions, expected_dist):
    got_dist = np.array([h.distance_m for h in hits])
    np.testing.assert_allclose(got_dist, expected_dist, rtol=0, atol=1e-6)
    # Positions must agree except where two stations are equally far (a true tie).
    for hit, pos, dist in zip(hits, expected_positions, expected_dist, strict=False):
        if hit.position != pos:
            assert abs(hit.distance_m - dist) < 1e-6


STATIONS = random_stations(3000, seed=7)
INDEX = NearestIndex(STATIONS)

lons = st.floats(min_value=-180, max_value=180, allow_nan=False)
lats = st.floats(min_value=-90, max_value=90, allow_nan=False)
chongqing_lon = st.floats(min_value=105.2, max_value=110.3)
chongqing_lat = st.floats(min_value=28.1, max_value=32.3)


@settings(max_examples=200, deadline=None)
@given(lon=chongqing_lon, lat=chongqing_lat, k=st.integers(1, 12))
def test_nearest_equals_brute_force_in_chongqing(lon, lat, k):
    hits = INDEX.nearest(lon, lat, k=k)
    assert_same_ranking(hits, *brute_force(STATIONS, lon, lat, k))


@settings(max_examples=100, deadline=None)
@given(lon=lons, lat=lats, k=st.integers(1, 5))
def test_nearest_equals_brute_force_anywhere_on_earth(lon, lat, k):
    hits = INDEX.nearest(lon, lat, k=k)
    assert_same_ranking(hits, *brute_force(STATIONS, lon, lat, k))


@settings(max_examples=50, deadline=None)
@given(lon=lons, lat=lats)
def test_one_point_ecef_matches_pyproj(lon, lat):
    # The per-query closed form must agree with the transform the index was built with.
    assert np.allclose(ecef_point(lon, lat), TO_ECEF.transform(lon, lat, 0.0), rtol=0, atol=1e-6)


@given(i=st.integers(0, len(STATIONS) - 1))
def test_query_at_a_station_finds_it_at_zero_metres(i):
    point = STATIONS.geometry.iloc[i]
    hits = INDEX.nearest(point.x, point.y, k=1)
    assert hits[0].position == i
    assert hits[0].distance_m == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("lon,lat", [
    (105.2866, 29.5), (110.195, 31.0), (108.0, 28.164), (108.5, 32.203),  # Chongqing's edges
    (116.39, 39.9), (-74.0, 40.7), (-73.4, -29.6), (0.0, 90.0), (179.99, -89.0),  # far outside, antipode, poles
])
def test_edges_and_far_away(lon, lat):
    for k in (1, 5):
        assert_same_ranking(INDEX.nearest(lon, lat, k=k), *brute_force(STATIONS, lon, lat, k))
    # The outdoor stations (most of them) share the tree of all stations; the others have trees of their own.
    assert INDEX._trees["outdoor_station"] is INDEX._trees[None] and INDEX._trees["bookshelf"] is not INDEX._trees[None]
    for kind in ("outdoor_station", "bookshelf"):
        mask = STATIONS["kind"].to_numpy() == kind
        assert_same_ranking(INDEX.nearest(lon, lat, k=5, kind=kind), *brute_force(STATIONS, lon, lat, 5, mask))


@settings(max_examples=100, deadline=None)
@given(lon=chongqing_lon, lat=chongqing_lat, kind=st.sampled_from([None, "outdoor_station", "bookshelf", "childcare"]),
       amenity=st.sampled_from([(), ("toilet",), ("wifi", "rest")]), hour=st.integers(0, 23))
def test_filters_equal_brute_force(lon, lat, kind, amenity, hour):
    when = datetime(2026, 11, 26, hour, 30)  # a Thursday
    hits = INDEX.nearest(lon, lat, k=5, kind=kind, amenities=amenity, open_at=when)
    from geo.hours import open_mask

    mask = np.ones(len(STATIONS), dtype=bool)
    if kind:
        mask &= STATIONS["kind"].to_numpy() == kind
    mask &= np.array([set(amenity) <= set(a) for a in STATIONS["amenities"]])
    mask &= open_mask(STATIONS["opening_hours"].to_numpy(), when)
    assert_same_ranking(hits, *brute_force(STATIONS, lon, lat, 5, mask))


def test_open_filter_drops_closed_stations():
    frame = stations_frame([s for s in SMALL_REGISTRY if s["properties"]["status"] == "active"])
    index = NearestIndex(frame)
    at_night = datetime(2026, 11, 26, 23, 0)
    ids = [h.id for h in index.nearest(106.5700, 29.5560, k=20, open_at=at_night)]
    assert "500103-OS-0002" not in ids  # Mo-Fr 08:00-18:00
    assert "500103-OS-0001" in ids  # 24/7
    ids_day = [h.id for h in index.nearest(106.5700, 29.5560, k=20, open_at=datetime(2026, 11, 26, 10, 0))]
    assert ids_day[0] == "500103-OS-0002"


def test_fewer_matches_than_k_returns_what_exists():
    frame = stations_frame([make_station("500105-CC-0001", 106.56, 29.59, kind="childcare")])
    assert len(NearestIndex(frame).nearest(106.5, 29.5, k=5, kind="childcare")) == 1
    assert NearestIndex(frame).nearest(106.5, 29.5, k=5, kind="bookshelf") == []


def test_no_station_passing_the_filters_answers_empty():
    frame = stations_frame([make_station("500103-OS-0001", 106.56, 29.59, hours="Mo-Fr 08:00-18:00"),
                            make_station("500103-OS-0002", 106.57, 29.58, amenities=("rest",))])
    index = NearestIndex(frame)
    sunday = datetime(2026, 11, 29, 12, 0)
    assert index.nearest(106.5, 29.5, k=5, amenities=("toilet",), open_at=sunday) == []
    assert [h.id for h in index.nearest(106.5, 29.5, k=5, open_at=sunday)] == ["500103-OS-0002"]


@pytest.mark.slow
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 4))
def test_batch_equals_single(seed, k):
    rng = np.random.default_rng(seed)
    qlon, qlat = rng.uniform(105, 110.5, 50), rng.uniform(28, 32.5, 50)
    dist, pos = INDEX.nearest_many(qlon, qlat, k=k)
    for i in range(50):
        expected_pos, expected_dist = brute_force(STATIONS, qlon[i], qlat[i], k)
        np.testing.assert_allclose(dist[i], expected_dist, atol=1e-6)


@pytest.mark.parametrize("args,where", [
    ((float("nan"), 29.5, 5), "lon"), ((106.5, float("inf"), 5), "lat"), ((181, 29.5, 5), "lon"),
    ((106.5, -91, 5), "lat"), (("abc", 29.5, 5), "lon"), ((106.5, 29.5, 0), "k"), ((106.5, 29.5, 101), "k"),
    ((106.5, 29.5, 2.5), "k"),
])
def test_bad_query_points_are_rejected_with_the_field(args, where):
    with pytest.raises(ValidationError) as info:
        INDEX.nearest(*args)
    assert info.value.problems[0].where == where


def test_unknown_kind_and_amenity_rejected():
    with pytest.raises(ValidationError, match="unknown kind"):
        INDEX.nearest(106.5, 29.5, kind="cafe")
    with pytest.raises(ValidationError, match="unknown amenity"):
        INDEX.nearest(106.5, 29.5, amenities=("sauna",))


def test_queries_from_any_thread_run_openmp_single_threaded():
    # A threaded server's pool threads start with OpenMP's default team (one per core);
    # pykdtree would wake that team for every one-point query.
    import threading

    from threadpoolctl import threadpool_info

    seen = {}

    def query_in_new_thread():
        seen["before"] = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"]
        seen["hit"] = INDEX.nearest(106.5516, 29.5630, k=1)
        seen["after"] = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"]

    thread = threading.Thread(target=query_in_new_thread)
    thread.start()
    thread.join()
    assert len(seen["hit"]) == 1
    assert seen["after"] and set(seen["after"]) == {1}


def test_an_index_from_the_registrys_codes_equals_one_from_a_frame():
    """``active_arrays`` hands the index the registry's codes for kinds, amenities and hours (no list per
    station); what it builds is what a GeoDataFrame of the same stations builds."""
    import json

    from geo.districts import Districts
    from geo.paths import DATA_DIR
    from geo.queries.nearest import active_arrays
    from geo.registry.snapshot import Snapshot

    features = json.loads((DATA_DIR / "stations.geojson").read_text(encoding="utf-8"))["features"]
    features[3]["properties"]["opening_hours"] = None  # a null, and an odd amenity list
    features[4]["properties"]["amenities"] = ["rest", "no_such_amenity"]
    snap = Snapshot(1, features, Districts.load())
    coded, framed = NearestIndex(active_arrays(snap)), NearestIndex(snap.active)
    assert coded.size == framed.size and np.array_equal(coded.amenity_bits, framed.amenity_bits)
    assert [coded.hours_text[c] for c in coded.hours_code] == [framed.hours_text[c] for c in framed.hours_code]
    assert {k: p.tolist() for k, (_, p) in coded._trees.items()} == {k: p.tolist() for k, (_, p) in framed._trees.items()}
    when = datetime(2026, 12, 6, 23, 30)
    for lon, lat, kind, amenities in [(106.55, 29.56, None, ()), (108.4, 30.8, "outdoor_station", ("toilet",)),
                                      (107.0, 29.0, "bookshelf", ())]:
        a = coded.nearest(lon, lat, k=5, kind=kind, amenities=amenities, open_at=when)
        b = framed.nearest(lon, lat, k=5, kind=kind, amenities=amenities, open_at=when)
        assert [(h.id, round(h.distance_m, 6)) for h in a] == [(h.id, round(h.distance_m, 6)) for h in b]
        assert all(h.row == snap.by_id[h.id] for h in a) and all(h.row == -1 for h in b)  # a frame has no registry rows
