"""geo.queries.distance and the finder's use of it: labels and estimates, river crossings, far-away riders."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo.projection import geodesic_distance_m
from geo.queries import distance
from geo.queries.distance import Trip, minutes, rider_whereabouts, river_lines, trip_estimator, use_trip_estimator
from geo.queries.finder import find_for_rider, rider_hits
from tests.conftest import make_station

NANAN = (106.5800, 29.5300)  # 南岸, south bank of the Yangtze, facing 渝中


def test_minutes_use_the_detour_factor_and_never_say_zero():
    assert minutes(0, distance.WALK_M_PER_MIN) == 1
    assert minutes(21, distance.WALK_M_PER_MIN) == 1
    assert minutes(750, distance.WALK_M_PER_MIN) == math.ceil(750 * distance.DETOUR_FACTOR / 75)  # 14, not 10
    assert minutes(1000, distance.RIDE_M_PER_MIN) == math.ceil(1000 * distance.DETOUR_FACTOR / 250)
    with pytest.raises(ValueError):
        minutes(float("nan"), 75)


@given(st.floats(0, 60_000), st.floats(0, 60_000))
def test_minutes_are_monotone_and_at_least_one(a, b):
    low, high = sorted((a, b))
    assert 1 <= minutes(low, 75) <= minutes(high, 75)


def test_rivers_come_from_shared_district_borders(districts):
    rivers = river_lines(districts)
    assert rivers is not None and rivers.geom_type == "MultiLineString"
    # The border between 渝中 and 沙坪坝 is land: a line from one to the other along 渝中 does not count.
    estimator = trip_estimator(districts)
    yuzhong, shapingba_nearby = (106.5300, 29.5500), np.array([[106.5000, 29.5480]])
    assert not estimator.crossings(*yuzhong, shapingba_nearby)[0]
    # 南岸 → 解放碑 crosses the Yangtze; 渝中 → 江北 (观音桥) crosses the Jialing.
    assert estimator.crossings(*NANAN, np.array([[106.5770, 29.5590]]))[0]
    assert estimator.crossings(106.5700, 29.5560, np.array([[106.5320, 29.5760]]))[0]
    assert not estimator.crossings(*NANAN, np.array([[106.5650, 29.5250]]))[0]  # along the south bank


def test_trip_fields_label_the_straight_line(districts):
    trip = trip_estimator(districts).trips(*NANAN, np.array([[106.5770, 29.5590]]), np.array([3200.0]))[0]
    assert trip.as_dict() == {"distance_m": 3200.0, "distance_kind": "straight_line", "walk_minutes": 60,
                              "ride_minutes": 18, "crosses_river": True, "estimate": "estimate"}


def test_crossing_stations_rank_after_same_bank_ones_of_similar_distance(tmp_path, districts):
    from geo.registry import GeoJSONFileStore, dump_feature_collection

    rider = (106.5750, 29.5420)  # 南岸, by the Yangtze
    across = make_station("500103-OS-0001", 106.5750, 29.5530)  # 渝中, 1.2 km north across the river
    same = make_station("500103-OS-0002", 106.5880, 29.5420)  # 南岸, 1.3 km east on the rider's bank
    same["properties"].update(id="500108-OS-0001", district_adcode="500108", district="南岸区",
                              address="重庆市南岸区测试路1号", operator="南岸区总工会")
    path = tmp_path / "stations.geojson"
    path.write_bytes(dump_feature_collection([across, same]))
    snapshot = GeoJSONFileStore(path, districts).snapshot()
    d_across = float(geodesic_distance_m(*rider, 106.5750, 29.5530))
    d_same = float(geodesic_distance_m(*rider, 106.5880, 29.5420))
    assert d_across < d_same < d_across * distance.CROSSING_RANK_FACTOR  # nearer, but across the water
    pairs, note = rider_hits(snapshot, *rider, k=2)
    assert note is None
    assert [hit.id for hit, _ in pairs] == ["500108-OS-0001", "500103-OS-0001"]
    assert [trip.crosses_river for _, trip in pairs] == [False, True]


def test_outside_chongqing_and_too_far(store):
    snapshot = store.snapshot()
    beijing = find_for_rider(snapshot, 116.40, 39.90)
    assert beijing.note == "outside_chongqing" and beijing.features == []
    wanzhou = find_for_rider(snapshot, 108.40, 30.80)  # in Chongqing, but no station within 50 km here
    assert wanzhou.note == "too_far" and wanzhou.features == []
    assert rider_whereabouts(snapshot.districts, 106.577, 29.559).inside


def test_swapped_coordinates_get_the_fix_in_chinese(store):
    from geo.errors import ValidationError

    with pytest.raises(ValidationError) as caught:
        find_for_rider(store.snapshot(), 29.559, 106.577)
    rendered = caught.value.problems[0].as_dict("zh")
    assert "经纬度似乎填反了" in rendered["hint"]
    with pytest.raises(ValidationError) as caught:
        find_for_rider(store.snapshot(), 39.9, 116.4)  # Beijing, swapped: latitude out of range
    assert all("经纬度似乎填反了" in p.as_dict("zh")["hint"] for p in caught.value.problems)


def test_gcj02_given_as_wgs84_is_detected(store):
    from geo.coords import from_wgs84

    glon, glat = from_wgs84(106.5770, 29.5590, "gcj02")  # station 500103-OS-0001 as Amap shows it
    answer = find_for_rider(store.snapshot(), glon, glat, crs="wgs84")
    assert answer.crs_hint == "gcj02"
    assert find_for_rider(store.snapshot(), 106.5770, 29.5590).crs_hint is None


def test_a_network_backend_replaces_the_estimate_without_the_callers_changing(store):
    class Routed:  # what a road-network router returns: its own metres and minutes
        def trips(self, lon, lat, destinations, straight_m):
            return [Trip(float(m), 99, 33, False, "network") for m in straight_m]

    snapshot = store.snapshot()
    use_trip_estimator(snapshot.districts, Routed())
    try:
        props = find_for_rider(snapshot, 106.5770, 29.5590, k=1).features[0]["properties"]
        assert (props["walk_minutes"], props["ride_minutes"], props["estimate"]) == (99, 33, "network")
    finally:
        snapshot.districts.derived.pop("trip_estimator")
