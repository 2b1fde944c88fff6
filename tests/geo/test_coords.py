"""Tests for geo.coords: published reference pairs, exact round trips, Chongqing shift sizes, input handling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from geo import coords
from geo.coords import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    in_china_bbox,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geo.schema import INPUT_CRS

GEOD = Geod(ellps="WGS84")

ALL_TRANSFORMS = [
    wgs84_to_gcj02,
    gcj02_to_wgs84,
    gcj02_to_bd09,
    bd09_to_gcj02,
    wgs84_to_bd09,
    bd09_to_wgs84,
]

# Chongqing municipality's bounding box, and a China box kept 0.5 degrees inside the
# GCJ-02 cut-off so that no forward shift carries a point across it.
CHONGQING = {"lon": (105.28, 110.2), "lat": (28.16, 32.21)}
CHINA = {"lon": (73.0, 135.0), "lat": (18.0, 53.5)}


def metres(lon1, lat1, lon2, lat2):
    """Geodesic distance(s) on WGS-84 in metres."""
    return GEOD.inv(lon1, lat1, lon2, lat2)[2]


def points_in(box):
    return st.tuples(
        st.floats(*box["lon"], allow_nan=False, allow_infinity=False),
        st.floats(*box["lat"], allow_nan=False, allow_infinity=False),
    )


# --- reference pairs from published open-source implementations -------------------------

# wandergis/coordtransform, README.md ("result" block), all computed at (116.404, 39.915).
# Its bd09togcj02 is the widely copied one-step inverse, which is up to ~2e-6 degrees off the exact
# inverse we compute; at this point the gap is 4e-7, inside the 1e-6 tolerance.
WANDERGIS = [
    (wgs84_to_gcj02, (116.404, 39.915), (116.41024449916938, 39.91640428150164)),
    (gcj02_to_bd09, (116.404, 39.915), (116.41036949371029, 39.92133699351021)),
    (bd09_to_gcj02, (116.404, 39.915), (116.39762729119315, 39.90865673957631)),
]

# dromara/hutool, hutool-core/src/test/java/org/dromara/hutool/core/util/CoordinateUtilTest.java
# (the second pair is credited there to https://tool.lu/coordinate/).
HUTOOL = [
    (wgs84_to_bd09, (116.404, 39.915), (116.41662724378733, 39.922699552216216)),
    (wgs84_to_bd09, (122.99395597, 44.99804071), (123.00636516028885, 45.0063690918959)),
]

# hujiulong/gcoord, test/unit/crs/{WGS84,GCJ02,BD09}.spec.ts, all at (123, 45). gcoord's own
# GCJ-02 inverse stops at a 1e-6 residual and its BD-09 inverse is one-step, so those
# expected values carry up to ~8e-7 of their own error.
GCOORD = [
    (wgs84_to_gcj02, (123.0, 45.0), (123.00607541, 45.00197815)),
    (wgs84_to_bd09, (123.0, 45.0), (123.0124491, 45.0083293)),
    (gcj02_to_wgs84, (123.0, 45.0), (122.99395597, 44.99804071)),
    (gcj02_to_bd09, (123.0, 45.0), (123.00636499, 45.00636899)),
    (bd09_to_gcj02, (123.0, 45.0), (122.99363304, 44.99365430)),
    (bd09_to_wgs84, (123.0, 45.0), (122.98762210, 44.99171540)),
]

# googollee/eviltransform, python/test.py TESTS (stored there as lat, lng; reordered to lon, lat).
EVILTRANSFORM_WGS_GCJ = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),  # Shanghai
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),  # Shenzhen
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),  # Beijing
]


@pytest.mark.parametrize(
    ("func", "given_", "expected"),
    WANDERGIS + HUTOOL + GCOORD + [(wgs84_to_gcj02, w, g) for w, g in EVILTRANSFORM_WGS_GCJ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_matches_published_reference(func, given_, expected):
    assert func(*given_) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(("wgs", "gcj"), EVILTRANSFORM_WGS_GCJ)
def test_gcj_inverse_recovers_published_wgs_exactly(wgs, gcj):
    # These GCJ values are full-precision forward results, so the exact inverse must land
    # back on the 7-decimal WGS inputs, far tighter than the ~1e-5 of the one-step formula.
    assert gcj02_to_wgs84(*gcj) == pytest.approx(wgs, abs=1e-9)


# --- round trips --------------------------------------------------------------------------


def _assert_round_trip(lon, lat, forward, inverse):
    there = forward(lon, lat)
    back = inverse(*there)
    assert abs(back[0] - lon) < 1e-9 and abs(back[1] - lat) < 1e-9
    assert metres(lon, lat, *back) < 0.01
    # Also the other way: the inverse is a true inverse, not just a left inverse.
    assert forward(*back) == pytest.approx(there, abs=1e-9)


@settings(max_examples=300, deadline=None)
@given(points_in(CHINA))
def test_round_trip_gcj_in_china(point):
    _assert_round_trip(*point, wgs84_to_gcj02, gcj02_to_wgs84)


@settings(max_examples=300, deadline=None)
@given(points_in(CHINA))
def test_round_trip_bd_in_china(point):
    _assert_round_trip(*point, wgs84_to_bd09, bd09_to_wgs84)


@pytest.mark.slow
@settings(max_examples=500, deadline=None)
@given(points_in(CHONGQING))
def test_round_trips_in_chongqing(point):
    _assert_round_trip(*point, wgs84_to_gcj02, gcj02_to_wgs84)
    _assert_round_trip(*point, wgs84_to_bd09, bd09_to_wgs84)
    _assert_round_trip(*point, gcj02_to_bd09, bd09_to_gcj02)


@settings(max_examples=200, deadline=None)
@given(points_in(CHINA))
def test_inverse_then_forward_closes(point):
    # Starting from a GCJ-02 / BD-09 point, as a user pasting from Amap or Baidu does.
    lon, lat = point
    assert wgs84_to_gcj02(*gcj02_to_wgs84(lon, lat)) == pytest.approx((lon, lat), abs=1e-9)
    assert wgs84_to_bd09(*bd09_to_wgs84(lon, lat)) == pytest.approx((lon, lat), abs=1e-9)


@pytest.mark.parametrize("dx", [0.0, 1e-15, -1e-15, 1e-12, -1e-12, 1e-9, -1e-9])
def test_inverse_converges_on_the_lon_105_cusp(dx):
    # The offset has a sqrt(|lon - 105|) term whose slope is unbounded at lon = 105.
    for start in (105.0 + dx, 105.0 - dx):
        wgs = (start, 30.0)
        back = gcj02_to_wgs84(*wgs84_to_gcj02(*wgs))
        assert back == pytest.approx(wgs, abs=1e-9)


def test_arrays_round_trip_in_chongqing_grid():
    lon, lat = np.meshgrid(np.linspace(*CHONGQING["lon"], 60), np.linspace(*CHONGQING["lat"], 50))
    for forward, inverse in ((wgs84_to_gcj02, gcj02_to_wgs84), (wgs84_to_bd09, bd09_to_wgs84)):
        back_lon, back_lat = inverse(*forward(lon, lat))
        assert np.abs(back_lon - lon).max() < 1e-9
        assert np.abs(back_lat - lat).max() < 1e-9
        assert metres(lon.ravel(), lat.ravel(), back_lon.ravel(), back_lat.ravel()).max() < 0.01


def test_bd09_inverse_is_exact_and_close_to_baidus_one_step_formula():
    lon, lat = np.meshgrid(np.linspace(73, 135, 40), np.linspace(18, 53.5, 40))
    b_lon, b_lat = gcj02_to_bd09(lon, lat)
    g_lon, g_lat = bd09_to_gcj02(b_lon, b_lat)
    assert np.abs(g_lon - lon).max() < 1e-9 and np.abs(g_lat - lat).max() < 1e-9
    # The widely copied one-step inverse, written out independently of the module.
    x, y = b_lon - 0.0065, b_lat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * np.pi * 3000 / 180)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * np.pi * 3000 / 180)
    assert np.abs(z * np.cos(theta) - g_lon).max() < 3e-6
    assert np.abs(z * np.sin(theta) - g_lat).max() < 3e-6


# --- size of the shift --------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(points_in(CHONGQING))
def test_gcj_shift_in_chongqing_is_a_few_hundred_metres(point):
    shift = metres(*point, *wgs84_to_gcj02(*point))
    assert 300 < shift < 700


def test_gcj_shift_over_chongqing_grid():
    lon, lat = np.meshgrid(np.linspace(*CHONGQING["lon"], 80), np.linspace(*CHONGQING["lat"], 80))
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    shift = metres(lon.ravel(), lat.ravel(), g_lon.ravel(), g_lat.ravel())
    assert 300 < shift.min() and shift.max() < 700


def test_jiefangbei_shift_direction():
    # Around central Chongqing GCJ-02 moves points east and slightly south, so raw GPS
    # markers on Amap tiles sit north-west of the place; a sign slip would flip this.
    lon, lat = 106.5770, 29.5570
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    assert g_lon > lon and g_lat < lat


# --- outside China ------------------------------------------------------------------------

OUTSIDE = [
    (183.0, 45.0),  # from gcoord's tests
    (-0.1278, 51.5074),  # London
    (139.6917, 35.6895),  # Tokyo, east of the box
    (151.2093, -33.8688),  # Sydney
    (72.0, 30.0),  # just west of the box
    (110.0, 55.9),  # just north of the box
]


@pytest.mark.parametrize("point", OUTSIDE)
def test_gcj_is_identity_outside_china(point):
    assert wgs84_to_gcj02(*point) == point
    assert gcj02_to_wgs84(*point) == point
    assert to_wgs84(*point, "gcj02") == point
    assert from_wgs84(*point, "gcj02") == point


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        points_in({"lon": (-180.0, 72.0), "lat": (-90.0, 90.0)}),
        points_in({"lon": (137.84, 180.0), "lat": (-90.0, 90.0)}),
        points_in({"lon": (-180.0, 180.0), "lat": (55.83, 90.0)}),
        points_in({"lon": (-180.0, 180.0), "lat": (-90.0, 0.829)}),
    )
)
def test_gcj_identity_outside_box_property(point):
    assert not in_china_bbox(*point)
    assert wgs84_to_gcj02(*point) == point
    assert gcj02_to_wgs84(*point) == point


def test_outside_and_inside_mixed_in_one_array():
    lon = np.array([106.5, -0.1278, 139.6917, 108.0])
    lat = np.array([29.5, 51.5074, 35.6895, 31.0])
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    assert np.array_equal(g_lon[1:3], lon[1:3]) and np.array_equal(g_lat[1:3], lat[1:3])
    assert np.all(g_lon[[0, 3]] != lon[[0, 3]])
    back_lon, back_lat = gcj02_to_wgs84(g_lon, g_lat)
    assert np.allclose(back_lon, lon, rtol=0, atol=1e-9) and np.allclose(back_lat, lat, rtol=0, atol=1e-9)


def test_bbox_edges_are_inside():
    assert in_china_bbox(72.004, 0.8293) and in_china_bbox(137.8347, 55.8271)
    assert not in_china_bbox(72.0039, 30.0)
    assert in_china_bbox(np.array([106.5, 0.0]), np.array([29.5, 0.0])).tolist() == [True, False]


def test_bd09_applies_everywhere():
    # The BD-09 formula has no box; outside China only the GCJ-02 step vanishes.
    lon, lat = -0.1278, 51.5074
    assert wgs84_to_bd09(lon, lat) == gcj02_to_bd09(lon, lat)
    assert wgs84_to_bd09(lon, lat) != (lon, lat)
    assert bd09_to_wgs84(*wgs84_to_bd09(lon, lat)) == pytest.approx((lon, lat), abs=1e-9)


# --- input handling -----------------------------------------------------------------------


@pytest.mark.parametrize("func", ALL_TRANSFORMS)
@pytest.mark.parametrize(
    ("lon", "lat"),
    [
        (float("nan"), 29.5),
        (106.5, float("nan")),
        (float("inf"), 29.5),
        (106.5, float("-inf")),
        (np.array([106.5, np.nan]), np.array([29.5, 29.6])),
        ([106.5, 106.6], [29.5, np.inf]),
    ],
)
def test_non_finite_rejected(func, lon, lat):
    with pytest.raises(ValueError, match="non-finite"):
        func(lon, lat)


@pytest.mark.parametrize("crs", sorted(INPUT_CRS))
def test_non_finite_rejected_by_dispatchers(crs):
    with pytest.raises(ValueError, match="non-finite"):
        to_wgs84(float("nan"), 29.5, crs)
    with pytest.raises(ValueError, match="non-finite"):
        from_wgs84(106.5, float("nan"), crs)


@pytest.mark.parametrize("func", ALL_TRANSFORMS)
def test_scalars_give_floats(func):
    for lon, lat in ((106.5, 29.5), (np.float64(106.5), np.float32(29.5)), (np.array(106.5), 29.5), (106, 29)):
        out = func(lon, lat)
        assert isinstance(out, tuple) and len(out) == 2
        assert type(out[0]) is float and type(out[1]) is float


@pytest.mark.parametrize("func", ALL_TRANSFORMS)
def test_arrays_give_arrays_matching_scalars(func):
    lon = np.array([[106.5, 107.2, 108.9], [105.3, 110.1, 106.0]])
    lat = np.array([[29.5, 30.1, 31.9], [28.2, 32.2, 29.0]])
    lon_before, lat_before = lon.copy(), lat.copy()
    out_lon, out_lat = func(lon, lat)
    assert isinstance(out_lon, np.ndarray) and out_lon.shape == lon.shape and out_lon.dtype == np.float64
    assert isinstance(out_lat, np.ndarray) and out_lat.shape == lat.shape
    for idx in np.ndindex(lon.shape):
        assert (out_lon[idx], out_lat[idx]) == pytest.approx(func(float(lon[idx]), float(lat[idx])), abs=1e-12)
    # Inputs are never written to.
    assert np.array_equal(lon, lon_before) and np.array_equal(lat, lat_before)


def test_lists_broadcasting_and_empty():
    out_lon, out_lat = wgs84_to_gcj02([106.5, 107.0], 29.5)
    assert isinstance(out_lon, np.ndarray) and out_lon.shape == (2,) and out_lat.shape == (2,)
    assert (out_lon[1], out_lat[1]) == pytest.approx(wgs84_to_gcj02(107.0, 29.5), abs=1e-12)
    for func in ALL_TRANSFORMS:
        e_lon, e_lat = func(np.array([]), np.array([]))
        assert e_lon.shape == (0,) and e_lat.shape == (0,)


def test_bad_shapes_and_types_rejected():
    with pytest.raises(ValueError, match="broadcast"):
        wgs84_to_gcj02(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="numbers"):
        wgs84_to_gcj02("east", 29.5)


# --- to_wgs84 / from_wgs84 ----------------------------------------------------------------


def test_every_input_crs_is_supported():
    for crs in INPUT_CRS:
        assert to_wgs84(*from_wgs84(106.5, 29.5, crs), crs) == pytest.approx((106.5, 29.5), abs=1e-9)


def test_dispatch_matches_named_functions():
    lon, lat = np.array([106.55, 107.4]), np.array([29.56, 30.8])
    pairs = {
        "wgs84": ((lon, lat), (lon, lat)),
        "gcj02": (gcj02_to_wgs84(lon, lat), wgs84_to_gcj02(lon, lat)),
        "bd09": (bd09_to_wgs84(lon, lat), wgs84_to_bd09(lon, lat)),
    }
    for crs, (expected_to, expected_from) in pairs.items():
        got_to, got_from = to_wgs84(lon, lat, crs), from_wgs84(lon, lat, crs)
        for got, want in zip((*got_to, *got_from), (*expected_to, *expected_from), strict=True):
            assert np.array_equal(got, want)


def test_wgs84_passthrough_returns_copies_and_floats():
    lon = np.array([106.5])
    out_lon, _ = to_wgs84(lon, np.array([29.5]), "wgs84")
    out_lon[0] = 0.0
    assert lon[0] == 106.5
    assert to_wgs84(106, 29, "wgs84") == (106.0, 29.0)
    assert type(to_wgs84(106, 29, "wgs84")[0]) is float


@pytest.mark.parametrize("crs", ["WGS84", "gcj-02", "baidu", "", None, "epsg:4326"])
def test_unknown_crs_rejected_with_allowed_codes(crs):
    for func in (to_wgs84, from_wgs84):
        with pytest.raises(ValueError, match="unknown coordinate system") as info:
            func(106.5, 29.5, crs)
        for code in INPUT_CRS:
            assert repr(code) in str(info.value)


def test_constants_are_the_published_ones():
    assert coords.KRASOVSKY_A == 6378245.0
    assert coords.KRASOVSKY_EE == 0.00669342162296594323
    assert coords.CHINA_BBOX == (72.004, 0.8293, 137.8347, 55.8271)
    assert coords.BD_X_PI == pytest.approx(52.35987755982988)
