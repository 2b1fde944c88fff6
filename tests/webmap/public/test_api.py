"""Tests of webmap.public.api: every endpoint, every error path, filters, grouping, caching, and a fuzz that nothing answers 500."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import datetime
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod

from geo import schema
from geo.coords import to_wgs84
from geo.hours import is_open
from geo.paths import DATA_DIR
from geo.queries import distance
from geo.queries.grouping import BUBBLE_PX, CELL_PX, cell_size_deg
from geo.registry import dump_feature_collection
from tests.conftest import DISTRICTS_PATH, SMALL_REGISTRY, make_test_app

ACTIVE = [f for f in SMALL_REGISTRY if f["properties"]["status"] == "active"]
GEOD = Geod(ellps="WGS84")


make_app = make_test_app


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    """A client of one app for the many parametrized cases that only ask (nothing writes its registry)."""
    tmp = tmp_path_factory.mktemp("reader")
    registry_path = tmp / "stations.geojson"
    registry_path.write_bytes(dump_feature_collection(SMALL_REGISTRY))
    return make_app(registry_path, tmp).test_client(use_cookies=False)  # no request sees what an earlier one set


def strict_json(response):
    """The body parsed as JSON, failing on NaN/Infinity (which JSON does not have)."""
    def refuse(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    return json.loads(response.get_data(as_text=True), parse_constant=refuse)


def ids(collection) -> list[str]:
    return [f["properties"]["id"] for f in collection["features"]]


def expected_ids(predicate, features=ACTIVE) -> list[str]:
    return [f["properties"]["id"] for f in features if predicate(f)]


# -- /api/stations --------------------------------------------------------------------

def test_stations_default_lists_active_stations_as_geojson(client):
    response = client.get("/api/stations")
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    body = strict_json(response)
    assert body["type"] == "FeatureCollection"
    assert body["count"] == len(ACTIVE) == len(body["features"])
    assert body["grouped"] is False
    assert isinstance(body["registry_version"], int)
    assert "500103-OS-0004" not in ids(body)  # retired
    first = body["features"][0]
    assert first["type"] == "Feature" and first["geometry"]["type"] == "Point"
    assert first["geometry"]["coordinates"] == SMALL_REGISTRY[0]["geometry"]["coordinates"]
    assert first["properties"]["kind_label"] == "户外劳动者服务站"
    assert set(schema.PROPERTY_NAMES) - {"listing", "verified_at"} <= set(first["properties"])  # set by districts later


@pytest.mark.parametrize("query, predicate", [
    ("status=all", None),
    ("status=retired", lambda f: f["properties"]["status"] == "retired"),
    ("kind=bookshelf", lambda f: f["properties"]["kind"] == "bookshelf"),
    ("kind=bookshelf,childcare", lambda f: f["properties"]["kind"] in ("bookshelf", "childcare")),
    ("kind=bookshelf&kind=childcare", lambda f: f["properties"]["kind"] in ("bookshelf", "childcare")),
    ("district=500105", lambda f: f["properties"]["district_adcode"] == "500105"),
    ("amenity=toilet", lambda f: "toilet" in f["properties"]["amenities"]),
    ("amenity=rest&amenity=wifi", lambda f: {"rest", "wifi"} <= set(f["properties"]["amenities"])),
    ("amenity=rest,wifi", lambda f: {"rest", "wifi"} <= set(f["properties"]["amenities"])),
    ("bbox=106.55,29.55,106.58,29.57",
     lambda f: 106.55 <= f["geometry"]["coordinates"][0] <= 106.58 and 29.55 <= f["geometry"]["coordinates"][1] <= 29.57),
    ("bbox=106.5516,29.563,106.5516,29.563", lambda f: f["properties"]["id"] == "500103-OS-0003"),  # edges included
    ("q=沙坪坝", lambda f: f["properties"]["district"] == "沙坪坝区"),
    ("q=500103-os-000", lambda f: f["properties"]["id"].startswith("500103-OS-000")),  # case-insensitive
    ("q=" + quote("５００１１２"), lambda f: f["properties"]["id"].startswith("500112")),  # full-width digits
    ("q=测试驿站0002", lambda f: f["properties"]["name"] == "测试驿站0002"),
    ("q=nothing-like-this", lambda f: False),
    ("kind=outdoor_station&district=500103&amenity=toilet", lambda f: f["properties"]["id"] in ("500103-OS-0002", "500103-OS-0003")),
])
def test_stations_filters(reader, query, predicate):
    body = strict_json(reader.get("/api/stations?" + query))
    if predicate is None:
        expected = [f["properties"]["id"] for f in SMALL_REGISTRY]
    else:
        pool = SMALL_REGISTRY if "status=retired" in query else ACTIVE
        expected = expected_ids(predicate, pool)
    assert ids(body) == expected
    assert body["count"] == len(expected)


def test_stations_min_fields_are_short(client):
    body = strict_json(client.get("/api/stations?fields=min&status=all"))
    by_id = {f["properties"]["id"]: f for f in body["features"]}
    honoured = by_id["500103-OS-0001"]["properties"]
    assert honoured == {"id": "500103-OS-0001", "kind": "outdoor_station", "name": "测试驿站0001",
                        "honours": ["national_most_beautiful"]}
    assert by_id["500103-OS-0002"]["properties"] == {"id": "500103-OS-0002", "kind": "outdoor_station", "name": "测试驿站0002"}
    assert by_id["500103-OS-0004"]["properties"]["status"] == "retired"
    for feature in body["features"]:
        for value in feature["geometry"]["coordinates"]:
            assert round(value, 5) == value


def test_stations_lang_en_labels(client):
    body = strict_json(client.get("/api/stations?kind=childcare&lang=en"))
    assert body["features"][0]["properties"]["kind_label"] == "Childcare class"


@pytest.fixture
def dense_app(registry_path, tmp_path):
    return make_app(registry_path, tmp_path, MAX_POINTS_PER_VIEW=3)


def test_an_ungrouped_list_over_the_cap_is_refused_with_how_to_narrow_it(registry_path, tmp_path):
    """No answer lists the whole of a national registry at once: past MAX_STATIONS_PER_LIST the client
    is told (in its language) how many matched and how to narrow; narrowed or grouped, it answers."""
    client = make_app(registry_path, tmp_path, MAX_STATIONS_PER_LIST=2, MAX_POINTS_PER_VIEW=2).test_client()
    refused = client.get("/api/stations?lang=en")
    assert refused.status_code == 400
    problem = strict_json(refused)["errors"][0]
    assert problem["where"] == "bbox"
    assert f"{len(ACTIVE)} stations match" in problem["message"] and "group=auto" in problem["message"]
    assert "缩小范围" in strict_json(client.get("/api/stations?lang=zh"))["errors"][0]["message"]
    bookshelves = expected_ids(lambda f: f["properties"]["kind"] == "bookshelf")
    assert 0 < len(bookshelves) <= 2
    assert ids(strict_json(client.get("/api/stations?kind=bookshelf"))) == bookshelves
    assert strict_json(client.get("/api/stations?group=auto"))["count"] == len(ACTIVE)


@pytest.mark.parametrize("query", ["group=auto", "group=auto&zoom=9", "group=auto&zoom=0", "group=auto&zoom=22",
                                   "group=auto&bbox=106,29,107,30", "group=auto&fields=min&status=all"])
def test_grouping_kicks_in_above_the_limit_and_counts_add_up(dense_app, query):
    response = dense_app.test_client().get("/api/stations?" + query)
    body = strict_json(response)
    assert body["grouped"] is True
    assert len(body["features"]) <= 3
    assert body["zoom"] == (int(query.split("zoom=")[1]) if "zoom=" in query else body["zoom"]) and body["zoom"] >= 0
    total = 0
    for feature in body["features"]:
        props = feature["properties"]
        assert feature["geometry"]["type"] == "Point"
        if props.get("cluster"):
            assert props["count"] >= 2 and sum(props["kinds"].values()) == props["count"]
            assert set(props["kinds"]) <= set(schema.KINDS)
            minlon, minlat, maxlon, maxlat = feature["bbox"]
            lon, lat = feature["geometry"]["coordinates"]
            if "zoom=22" in query:  # drawn by its members: at most half a bubble (~2 cm at zoom 22) from their mean
                pad = cell_size_deg(22) * BUBBLE_PX / 2 / CELL_PX
                assert minlon - pad <= lon <= maxlon + pad and minlat - pad <= lat <= maxlat + pad
            total += props["count"]
        else:
            assert "id" in props  # a one-station cell is sent as the station itself
            total += 1
    expected = len(SMALL_REGISTRY if "status=all" in query else ACTIVE) - ("bbox" in query)  # 城口 lies outside
    assert total == body["count"] == expected


def test_grouping_not_used_below_the_limit_or_when_not_asked(dense_app, client):
    assert strict_json(dense_app.test_client().get("/api/stations?group=none"))["grouped"] is False
    assert strict_json(dense_app.test_client().get("/api/stations?group=auto&kind=bookshelf"))["grouped"] is False
    assert strict_json(client.get("/api/stations?group=auto"))["grouped"] is False


def test_stations_etag_and_not_modified(client):
    first = client.get("/api/stations?kind=bookshelf")
    etag = first.headers["ETag"]
    assert etag.startswith('W/"') and "max-age" in first.headers["Cache-Control"]
    again = client.get("/api/stations?kind=bookshelf", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    other = client.get("/api/stations?kind=childcare", headers={"If-None-Match": etag})
    assert other.status_code == 200 and other.headers["ETag"] != etag


def test_etag_changes_when_the_registry_changes(app, client, store):
    from geo.access.permissions import Actor

    etag = client.get("/api/stations").headers["ETag"]
    store.retire("500103-OS-0002", Actor("admin", "admin"))
    response = client.get("/api/stations", headers={"If-None-Match": etag})
    assert response.status_code == 200 and response.headers["ETag"] != etag
    assert "500103-OS-0002" not in ids(strict_json(response))


def test_gzip_when_accepted(client):
    plain = client.get("/api/stations")
    packed = client.get("/api/stations", headers={"Accept-Encoding": "gzip, deflate"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert gzip.decompress(packed.data) == plain.data
    assert "Content-Encoding" not in plain.headers


SAMPLE_REGISTRY = DATA_DIR / "stations.geojson"


@pytest.mark.slow
@pytest.mark.skipif(not SAMPLE_REGISTRY.exists(), reason="no sample registry")
def test_map_data_for_the_sample_registry_is_light(tmp_path):
    """The map page's request (fields=min, group=auto) for the ~2,460-station sample."""
    copy = tmp_path / "stations.geojson"
    shutil.copy(SAMPLE_REGISTRY, copy)
    client = make_app(copy, tmp_path).test_client()
    plain = client.get("/api/stations?fields=min&group=auto")
    packed = client.get("/api/stations?fields=min&group=auto", headers={"Accept-Encoding": "gzip"})
    count = strict_json(plain)["count"]
    assert count > 2000
    assert len(plain.data) / count < 220  # bytes per station, uncompressed
    assert len(packed.data) < 80_000  # what a browser downloads


# -- /api/stations/<id> ---------------------------------------------------------------

def test_station_detail_has_live_fields(client):
    response = client.get("/api/stations/500103-OS-0002?at=2025-07-05T10:00")  # a Saturday
    assert response.status_code == 200
    feature = strict_json(response)
    props = feature["properties"]
    assert feature["type"] == "Feature" and props["id"] == "500103-OS-0002"
    assert props["open_now"] is False
    assert props["next_change"] == "2025-07-07T08:00"
    assert strict_json(client.get("/api/stations/500103-OS-0002?at=2025-07-07T10:00"))["properties"]["open_now"] is True


def test_retired_station_detail_is_still_served(client):
    assert strict_json(client.get("/api/stations/500103-OS-0004"))["properties"]["status"] == "retired"


# -- /api/nearest ---------------------------------------------------------------------

def brute_force(lon, lat, features=ACTIVE):
    rows = []
    for f in features:
        flon, flat = f["geometry"]["coordinates"]
        rows.append((GEOD.inv(lon, lat, flon, flat)[2], f["properties"]["id"]))
    return sorted(rows)


@pytest.mark.parametrize("lon, lat", [(106.55, 29.56), (106.6, 29.7), (108.6, 31.9), (106.577, 29.559), (106.58, 29.53)])
def test_nearest_matches_brute_force(reader, lon, lat):
    """Every active station, each at its exact geodesic distance, ranked with river crossings counted as detours."""
    response = reader.get(f"/api/nearest?lon={lon}&lat={lat}&k=100")
    assert response.status_code == 200
    body = strict_json(response)
    expected = dict((i, d) for d, i in brute_force(lon, lat))
    assert sorted(ids(body)) == sorted(expected)
    for feature in body["features"]:
        props = feature["properties"]
        assert props["distance_m"] == pytest.approx(expected[props["id"]], abs=0.06)
        assert props["distance_kind"] == "straight_line" and props["estimate"] == "estimate"
        assert props["walk_minutes"] == distance.minutes(props["distance_m"], distance.WALK_M_PER_MIN)
        assert props["ride_minutes"] == distance.minutes(props["distance_m"], distance.RIDE_M_PER_MIN)
        assert isinstance(props["open_now"], bool) and "next_change" in props and "kind_label" in props
    ranks = [f["properties"]["distance_m"] * (distance.CROSSING_RANK_FACTOR if f["properties"]["crosses_river"] else 1)
             for f in body["features"]]
    assert ranks == sorted(ranks)
    assert body["query"]["lon"] == lon and body["query"]["lat"] == lat and body["query"]["crs"] == "wgs84"
    assert body["count"] == len(ACTIVE)


@pytest.mark.parametrize("lon, lat", [(105.3, 28.2), (116.4, 39.9)])
def test_nearest_outside_chongqing_says_so_instead_of_minutes(reader, lon, lat):
    body = strict_json(reader.get(f"/api/nearest?lon={lon}&lat={lat}&lang=zh"))
    assert body["count"] == 0 and body["features"] == []
    assert body["note"] == "outside_chongqing"
    assert "你不在重庆市范围内" in body["message"]
    english = strict_json(reader.get(f"/api/nearest?lon={lon}&lat={lat}&lang=en"))
    assert "not in Chongqing" in english["message"]


def test_nearest_beyond_50_km_says_so(client):
    body = strict_json(client.get("/api/nearest?lon=108.4&lat=30.8"))  # 万州: no station within 50 km in this registry
    assert body["note"] == "too_far" and body["features"] == [] and "50 公里" in body["message"]


def test_nearest_default_k_and_filters(client):
    body = strict_json(client.get("/api/nearest?lon=106.55&lat=29.56"))
    assert len(body["features"]) == 5
    body = strict_json(client.get("/api/nearest?lon=106.55&lat=29.56&kind=bookshelf&k=10"))
    assert ids(body) == [i for _, i in brute_force(106.55, 29.56) if "-BS-" in i]
    body = strict_json(client.get("/api/nearest?lon=106.55&lat=29.56&amenity=toilet&k=10"))
    assert sorted(ids(body)) == ["500103-OS-0002", "500103-OS-0003"]


def test_nearest_open_now_at_a_moment(client):
    at = "2025-07-05T19:30"  # Saturday evening
    response = client.get(f"/api/nearest?lon=106.55&lat=29.56&k=100&open_now=1&at={at}")
    assert response.headers["Cache-Control"] == "no-store"
    body = strict_json(response)
    when = datetime.fromisoformat(at)
    expected = [i for _, i in brute_force(106.55, 29.56)
                if is_open(next(f for f in ACTIVE if f["properties"]["id"] == i)["properties"]["opening_hours"], when)]
    assert ids(body) == expected and "500103-OS-0002" not in expected
    assert all(f["properties"]["open_now"] for f in body["features"])
    assert body["query"]["at"] == at


def test_nearest_accepts_an_offset_in_at(client):
    local = strict_json(client.get("/api/nearest?lon=106.55&lat=29.56&at=2025-07-05T19:30"))
    utc = strict_json(client.get("/api/nearest?lon=106.55&lat=29.56&at=" + quote("2025-07-05T11:30+00:00")))
    assert local["query"]["at"] == utc["query"]["at"] == "2025-07-05T19:30"


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_nearest_converts_from_chinese_coordinate_systems(reader, crs):
    lon, lat = 106.5562, 29.5600
    body = strict_json(reader.get(f"/api/nearest?lon={lon}&lat={lat}&crs={crs}&k=3"))
    wlon, wlat = to_wgs84(lon, lat, crs)
    assert body["query"]["crs"] == crs
    assert body["query"]["lon"] == pytest.approx(wlon, abs=1e-7) and body["query"]["lat"] == pytest.approx(wlat, abs=1e-7)
    assert ids(body) == [i for _, i in brute_force(wlon, wlat)[:3]]


# -- districts, coverage, gaps, vocabulary ----------------------------------------------

def test_districts(client):
    body = strict_json(client.get("/api/districts"))
    assert body["count"] == len(body["districts"]) == 38 and body["radius_m"] == 1000
    row = next(r for r in body["districts"] if r["adcode"] == "500103")
    assert row["name_zh"] == "渝中区" and row["name_en"].startswith("Yuzhong")
    assert row["population"] > 0 and row["area_km2"] > 0 and row["stations"] == 4
    assert 0 < row["covered_share"] <= 1 and len(row["seat"]) == 2
    assert sum(r["stations"] for r in body["districts"]) == len(ACTIVE)


def test_districts_with_geometry(client):
    body = strict_json(client.get("/api/districts?geometry=1&radius_m=500"))
    assert body["type"] == "FeatureCollection" and len(body["features"]) == 38 and body["radius_m"] == 500
    assert {f["geometry"]["type"] for f in body["features"]} <= {"Polygon", "MultiPolygon"}
    assert {f["properties"]["adcode"] for f in body["features"]} == {r["adcode"] for r in strict_json(client.get("/api/districts"))["districts"]}


def test_coverage_json(client):
    response = client.get("/api/coverage?radius_m=1500")
    body = strict_json(response)
    assert set(body) == {"radius_m", "districts", "totals", "registry_version"}
    assert body["radius_m"] == 1500 and len(body["districts"]) == 38
    assert body["totals"]["stations"] == len(ACTIVE)
    assert all(0 <= r["covered_share"] <= 1 for r in body["districts"])
    wider = strict_json(client.get("/api/coverage?radius_m=3000"))
    assert wider["totals"]["covered_share"] >= body["totals"]["covered_share"]


def test_coverage_csv_is_excel_friendly(client):
    response = client.get("/api/coverage.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.data.startswith(b"\xef\xbb\xbf")
    assert "attachment" in response.headers["Content-Disposition"]
    lines = response.data.decode("utf-8-sig").split("\r\n")
    assert lines[0].startswith("区县代码,区县,")
    assert len([line for line in lines if line]) == 1 + 38 + 1  # header, districts, total
    english = client.get("/api/coverage.csv?lang=en&radius_m=500").data.decode("utf-8-sig")
    assert english.startswith("Adcode,") and "within 500 m" in english


def test_coverage_csv_neutralises_formulas(registry_path, tmp_path):
    data = json.loads(DISTRICTS_PATH.read_text(encoding="utf-8"))
    for feature in data["features"]:
        if feature["properties"]["adcode"] == "500101":  # no fixture station there
            feature["properties"]["name_zh"] = '=HYPERLINK("http://evil.example","点我")'
            feature["properties"]["name_en"] = "@SUM(1+1)"
    path = tmp_path / "districts.geojson"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    client = make_app(registry_path, tmp_path, DISTRICTS_PATH=str(path)).test_client()
    text = client.get("/api/coverage.csv").data.decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "'@SUM(1+1)" in text
    assert "\n=" not in text and ",=" not in text and ',"=' not in text


def test_gaps(client):
    response = client.get("/api/gaps?radius_m=2000")
    body = strict_json(response)
    assert body["type"] == "FeatureCollection" and body["count"] == len(body["features"]) > 0
    assert "Content-Disposition" not in response.headers
    areas = [f["properties"]["area_km2"] for f in body["features"]]
    assert areas == sorted(areas, reverse=True)
    assert {f["geometry"]["type"] for f in body["features"]} == {"Polygon"}
    assert set(body["features"][0]["properties"]) == {"adcode", "district", "area_km2"}
    one = strict_json(client.get("/api/gaps?radius_m=2000&district=500103"))
    assert {f["properties"]["adcode"] for f in one["features"]} == {"500103"}
    download = client.get("/api/gaps?download=1")
    assert download.headers["Content-Disposition"].startswith("attachment") and ".geojson" in download.headers["Content-Disposition"]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_vocabulary(reader, lang):
    assert strict_json(reader.get(f"/api/vocabulary?lang={lang}")) == schema.vocabulary(lang)


# -- errors ---------------------------------------------------------------------------

NEAR = "/api/nearest?lon=106.55&lat=29.56"
ERRORS = [
    ("/api/nearest?lat=29.5", 400, "lon", "required"),
    ("/api/nearest?lon=106.5", 400, "lat", "required"),
    ("/api/nearest?lon=abc&lat=29.5", 400, "lon", "number"),
    ("/api/nearest?lon=nan&lat=29.5", 400, "lon", "number"),
    ("/api/nearest?lon=NaN&lat=29.5", 400, "lon", "number"),
    ("/api/nearest?lon=inf&lat=29.5", 400, "lon", "number"),
    ("/api/nearest?lon=-Infinity&lat=29.5", 400, "lon", "number"),
    ("/api/nearest?lon=1e400&lat=29.5", 400, "lon", "between"),
    ("/api/nearest?lon=0x10&lat=29.5", 400, "lon", "number"),
    ("/api/nearest?lon=1_06&lat=29.5", 400, "lon", "number"),
    ("/api/nearest?lon=181&lat=29.5", 400, "lon", "between -180 and 180"),
    ("/api/nearest?lon=106.5&lat=-91", 400, "lat", "between -90 and 90"),
    ("/api/nearest?lon=106.5&lat=29.5&lon=107", 400, "lon", "2 times"),
    (NEAR + "&k=0", 400, "k", "from 1 to 100"),
    (NEAR + "&k=-3", 400, "k", "from 1 to 100"),
    (NEAR + "&k=101", 400, "k", "from 1 to 100"),
    (NEAR + "&k=2.5", 400, "k", "whole number"),
    (NEAR + "&k=abc", 400, "k", "whole number"),
    (NEAR + "&kind=toilet", 400, "kind", "not a known kind"),
    (NEAR + "&kind=bookshelf,childcare", 400, "kind", "not a known kind"),
    (NEAR + "&amenity=sauna", 400, "amenity", "not a known amenity"),
    (NEAR + "&amenity=rest,,sauna", 400, "amenity", "sauna"),
    (NEAR + "&crs=epsg3857", 400, "crs", "not a known crs"),
    (NEAR + "&open_now=maybe", 400, "open_now", "1 or 0"),
    (NEAR + "&at=tomorrow", 400, "at", "ISO date"),
    (NEAR + "&at=2025-13-01T10:00", 400, "at", "ISO date"),
    (NEAR + "&at=2025-07-01", 400, "at", "ISO date"),
    (NEAR + "&at=1900-07-01T10:00", 400, "at", "years"),
    (NEAR + "&lang=fr", 400, "lang", "not a known lang"),
    (NEAR + "&limit=5", 400, "limit", "unknown parameter"),
    ("/api/stations?bbox=1,2,3", 400, "bbox", "4 comma-separated"),
    ("/api/stations?bbox=1,2,3,4,5", 400, "bbox", "4 comma-separated"),
    ("/api/stations?bbox=107,29,106,30", 400, "bbox", "minlon is greater than maxlon"),
    ("/api/stations?bbox=106,30,107,29", 400, "bbox", "minlat is greater than maxlat"),
    ("/api/stations?bbox=106,29,200,30", 400, "bbox", "maxlon must be between"),
    ("/api/stations?bbox=106,nan,107,30", 400, "bbox", "minlat must be a number"),
    ("/api/stations?bbox=a,b,c,d", 400, "bbox", "minlon must be a number"),
    ("/api/stations?kind=spa", 400, "kind", "not a known kind"),
    ("/api/stations?status=deleted", 400, "status", "not a known status"),
    ("/api/stations?district=500999", 400, "district", "not a known district"),
    ("/api/stations?district=abc", 400, "district", "not a known district"),
    ("/api/stations?amenity=rest&amenity=spa", 400, "amenity", "spa"),
    ("/api/stations?group=always", 400, "group", "not a known group"),
    ("/api/stations?zoom=23", 400, "zoom", "between 0 and 22"),
    ("/api/stations?zoom=-1", 400, "zoom", "between 0 and 22"),
    ("/api/stations?fields=all", 400, "fields", "not a known fields"),
    ("/api/stations?q=" + "x" * 101, 400, "q", "longer than 100"),
    ("/api/stations?q=a%00b", 400, "q", "control characters"),
    ("/api/stations?callback=x", 400, "callback", "unknown parameter"),
    ("/api/stations/500103-OS-0001?k=3", 400, "k", "unknown parameter"),
    ("/api/stations/500103-OS-0001?at=soon", 400, "at", "ISO date"),
    ("/api/coverage?radius_m=0", 400, "radius_m", "between 1 and 50000"),
    ("/api/coverage?radius_m=50001", 400, "radius_m", "between 1 and 50000"),
    ("/api/coverage?radius_m=abc", 400, "radius_m", "number"),
    ("/api/coverage?radius_m=nan", 400, "radius_m", "number"),
    ("/api/coverage.csv?radius_m=-5", 400, "radius_m", "between"),
    ("/api/coverage.csv?lang=de", 400, "lang", "not a known lang"),
    ("/api/districts?radius_m=1e9", 400, "radius_m", "between"),
    ("/api/districts?geometry=perhaps", 400, "geometry", "1 or 0"),
    ("/api/gaps?radius_m=inf", 400, "radius_m", "number"),
    ("/api/gaps?district=123456", 400, "district", "not a known district"),
    ("/api/vocabulary?lang=xx", 400, "lang", "not a known lang"),
    ("/api/openapi.json?x=1", 400, "x", "unknown parameter"),
    ("/api/stations/500103-OS-9999", 404, None, "no station"),
    ("/api/stations/%3Cscript%3E", 404, None, "no station"),
    ("/api/no-such-thing", 404, None, "not found"),
    ("/api/stations/500103-OS-0001/extra", 404, None, "not found"),
]


@pytest.mark.parametrize("url, status, where, text", ERRORS)
def test_error_envelope(reader, url, status, where, text):
    response = reader.get(url)
    assert response.status_code == status, response.data
    body = strict_json(response)
    assert body["ok"] is False and body["status"] == status and body["errors"]
    if where is not None:
        assert where in [e.get("where") for e in body["errors"]]
    messages = " | ".join(e["message"] for e in body["errors"]).lower()
    assert text.lower() in messages


def test_every_problem_is_reported_at_once(client):
    body = strict_json(client.get("/api/nearest?lon=abc&lat=91&k=0&kind=spa&foo=1"))
    assert {e["where"] for e in body["errors"]} == {"lon", "lat", "k", "kind", "foo"}


@pytest.mark.parametrize("method, url", [("post", "/api/stations"), ("delete", "/api/coverage"), ("put", "/api/nearest"),
                                         ("post", "/api/openapi.json")])
def test_wrong_method_is_405_envelope(reader, method, url):
    response = getattr(reader, method)(url)
    assert response.status_code == 405
    assert strict_json(response)["status"] == 405


def test_empty_values_count_as_not_given(client):
    body = strict_json(client.get("/api/stations?kind=&district=&q=&bbox=&zoom="))
    assert body["count"] == len(ACTIVE)


QUERY_KEYS = st.sampled_from(["lon", "lat", "k", "kind", "amenity", "open_now", "at", "crs", "bbox", "q", "status",
                              "group", "zoom", "fields", "lang", "district", "radius_m", "geometry", "download", "x"])
QUERY_VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["nan", "inf", "-0", "1e308", "1e-400", "106.55", "29.56", "0", "-1", "100", "101", "2025-07-01T10:00",
                     "106,29,107,30", "107,29,106,30", ",,,", "wgs84", "gcj02", "auto", "min", "all", "true", "500103"]),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)
PATHS = ["/api/stations", "/api/nearest", "/api/stations/500103-OS-0001", "/api/districts", "/api/coverage",
         "/api/coverage.csv", "/api/gaps", "/api/vocabulary", "/api/openapi.json"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PATHS), pairs=st.lists(st.tuples(QUERY_KEYS, QUERY_VALUES), max_size=6))
def test_fuzzed_queries_never_500(dense_app, path, pairs):
    client = dense_app.test_client()
    query = "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in pairs)
    response = client.get(f"{path}?{query}")
    assert response.status_code < 500, (path, query, response.data[:300])
    if response.mimetype != "text/csv":
        strict_json(response)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.text(max_size=60))
def test_fuzzed_raw_query_strings_never_500(client, raw):
    response = client.get("/api/stations?" + quote(raw, safe="=&,"))
    assert response.status_code < 500
