"""The sample registry: the generator is reproducible, and the committed data/stations.geojson is sound.

data/stations.geojson is generated (scripts/make_sample_registry.py, seed 2024); these tests
pin the counts from the union's five-year review and the properties the map relies on.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import numpy as np
import pyproj
import pytest
import shapely

from geo import schema
from geo.hours import opening_hours_problem
from geo.paths import DATA_DIR, REPO_ROOT
from geo.registry.validate import validate_file_bytes

SCRIPT = REPO_ROOT / "scripts" / "make_sample_registry.py"
STATIONS = DATA_DIR / "stations.geojson"
DISTRICTS = DATA_DIR / "districts.geojson"
EXPECTED = {"outdoor_station": 2340, "bookshelf": 103, "childcare": 15}
ALBERS_CQ = "+proj=aea +lat_1=28 +lat_2=32 +lat_0=30 +lon_0=107.5 +ellps=WGS84 +units=m +no_defs"


def generate(out, *args: str) -> bytes:
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), "--quiet", *args], check=True, timeout=120)
    return out.read_bytes()


@pytest.fixture(scope="module")
def raw() -> bytes:
    return STATIONS.read_bytes()


@pytest.fixture(scope="module")
def features(raw) -> list[dict]:
    return json.loads(raw)["features"]


@pytest.fixture(scope="module")
def props(features) -> list[dict]:
    return [f["properties"] for f in features]


@pytest.fixture(scope="module")
def district_info() -> dict[str, dict]:
    data = json.loads(DISTRICTS.read_text(encoding="utf-8"))
    return {
        f["properties"]["adcode"]: {**f["properties"], "geometry": shapely.geometry.shape(f["geometry"])}
        for f in data["features"]
    }


# --- the generator ----------------------------------------------------------------------


@pytest.mark.slow
def test_same_seed_gives_identical_bytes(tmp_path):
    args = ("--seed", "7", "--outdoor", "150", "--bookshelves", "12", "--childcare", "4")
    first = generate(tmp_path / "a.geojson", *args)
    second = generate(tmp_path / "b.geojson", *args)
    assert first == second
    data = json.loads(first)
    assert Counter(f["properties"]["kind"] for f in data["features"]) == {
        "outdoor_station": 150, "bookshelf": 12, "childcare": 4}
    assert sum("national_most_beautiful" in f["properties"]["honours"] for f in data["features"]) == 60
    # Every district gets an outdoor station even at small counts.
    assert len({f["properties"]["district_adcode"] for f in data["features"]
                if f["properties"]["kind"] == "outdoor_station"}) == 38


@pytest.mark.slow
def test_other_seed_gives_other_stations(tmp_path):
    args = ("--outdoor", "60", "--bookshelves", "0", "--childcare", "0")
    assert generate(tmp_path / "a.geojson", "--seed", "1", *args) != generate(tmp_path / "b.geojson", "--seed", "2", *args)


def test_committed_registry_is_what_the_generator_makes(tmp_path, raw):
    """data/stations.geojson is in sync with the script (regenerate it after changing the script)."""
    assert generate(tmp_path / "stations.geojson") == raw


def test_help_has_a_runnable_example():
    result = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, check=True)
    assert "python scripts/make_sample_registry.py" in result.stdout
    assert "--outdoor 200000" in result.stdout and "--seed" in result.stdout


def test_negative_count_is_a_usage_error(tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT), "--outdoor", "-1", "--out", str(tmp_path / "x.geojson")],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "--outdoor must be >= 0" in result.stderr
    assert not (tmp_path / "x.geojson").exists()


# --- the committed sample registry ------------------------------------------------------


def test_file_layout(raw):
    text = raw.decode("utf-8")
    lines = text.split("\n")
    assert lines[0] == '{"type":"FeatureCollection","features":['
    assert lines[-2:] == ["]}", ""]  # trailing newline
    assert len(lines) == 2458 + 3  # one feature per line
    assert "\\u" not in text  # Chinese written as UTF-8, not escaped


def test_counts_per_kind(props):
    assert Counter(p["kind"] for p in props) == EXPECTED


def test_honours(props):
    beautiful = [p for p in props if "national_most_beautiful" in p["honours"]]
    assert len(beautiful) == 60
    assert {p["kind"] for p in beautiful} == {"outdoor_station"}
    assert len({p["district_adcode"] for p in beautiful}) >= 30  # spread over the municipality
    for p in props:
        if p["kind"] == "outdoor_station":
            assert p["honours"] in ([], ["national_most_beautiful"])
        else:
            assert p["honours"] == ["national_demonstration"]


def test_properties_follow_the_schema(props):
    for p in props:
        assert tuple(p) == tuple(k for k in schema.PROPERTY_NAMES if k not in ("listing", "verified_at"))  # set by districts later
        for name, (_required, types, max_len) in schema.PROPERTIES.items():
            if name in ("listing", "verified_at"):
                continue
            assert isinstance(p[name], types), (p["id"], name)
            if max_len is not None:
                assert len(p[name]) <= max_len, (p["id"], name)
        assert p["status"] == "active"
        assert p["source"] == "sample"
        assert schema.PHONE_PATTERN.match(p["phone"]) and p["phone"].startswith("023-")
        assert p["address"].startswith(f"重庆市{p['district']}")
        assert "2021-01-01" <= p["created_at"] <= p["updated_at"] <= "2025-12-31T23:59:59+08:00"
        assert p["created_at"].endswith("+08:00") and p["updated_at"].endswith("+08:00")


def test_ids_unique_and_well_formed(props):
    ids = [p["id"] for p in props]
    assert len(set(ids)) == len(ids)
    for p in props:
        match = schema.ID_PATTERN.match(p["id"])
        assert match, p["id"]
        assert match["adcode"] == p["district_adcode"]
        assert match["kind"] == schema.KIND_ID_CODES[p["kind"]]
    # Serials run 1..n within each district and kind.
    serials: dict[tuple[str, str], list[int]] = {}
    for p in props:
        serials.setdefault((p["district_adcode"], p["kind"]), []).append(int(p["id"].rsplit("-", 1)[1]))
    for key, numbers in serials.items():
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), key


def test_names_unique(props):
    names = [p["name"] for p in props]
    assert len(set(names)) == len(names)


def test_district_names_match_adcodes(props, district_info):
    for p in props:
        assert p["district"] == district_info[p["district_adcode"]]["name_zh"]


def test_every_point_inside_its_district(features, district_info):
    by_district: dict[str, list[list[float]]] = {}
    for f in features:
        assert f["geometry"]["type"] == "Point"
        lon, lat = f["geometry"]["coordinates"]
        assert round(lon, 6) == lon and round(lat, 6) == lat
        by_district.setdefault(f["properties"]["district_adcode"], []).append([lon, lat])
    assert set(by_district) == set(district_info)  # every district has stations
    for adcode, points in by_district.items():
        xy = np.array(points)
        inside = shapely.contains_xy(district_info[adcode]["geometry"], xy[:, 0], xy[:, 1])
        assert inside.all(), f"{adcode}: {xy[~inside].tolist()[:3]}"


def test_no_near_duplicates_of_the_same_kind(features):
    to_m = pyproj.Transformer.from_crs("EPSG:4326", ALBERS_CQ, always_xy=True)
    for kind in EXPECTED:
        xy = np.array([f["geometry"]["coordinates"] for f in features if f["properties"]["kind"] == kind])
        x, y = to_m.transform(xy[:, 0], xy[:, 1])
        points = shapely.points(x, y)
        left, right = shapely.STRtree(points).query(points, predicate="dwithin", distance=30.0)
        assert (left == right).all(), f"{kind}: {int((left != right).sum()) // 2} pairs closer than 30 m"


def test_opening_hours_parse(props):
    for text in sorted({p["opening_hours"] for p in props}):
        assert opening_hours_problem(text) is None, text
    outdoor = [p["opening_hours"] for p in props if p["kind"] == "outdoor_station"]
    assert 0.35 < outdoor.count("24/7") / len(outdoor) < 0.55


def test_amenities_in_vocabulary_and_schema_order(props):
    order = {code: i for i, code in enumerate(schema.AMENITIES)}
    for p in props:
        assert set(p["amenities"]) <= set(schema.AMENITIES), p["id"]
        assert [order[a] for a in p["amenities"]] == sorted(order[a] for a in p["amenities"]), p["id"]
        assert len(set(p["amenities"])) == len(p["amenities"])
    core = {"rest", "drinking_water", "phone_charging", "food_heating"}
    outdoor = [p for p in props if p["kind"] == "outdoor_station"]
    assert sum(core <= set(p["amenities"]) for p in outdoor) / len(outdoor) > 0.9
    assert all("reading" in p["amenities"] for p in props if p["kind"] == "bookshelf")
    assert all("childcare" in p["amenities"] for p in props if p["kind"] == "childcare")


def test_childcare_in_the_most_populous_districts(props, district_info):
    ranked = sorted(district_info, key=lambda a: -district_info[a]["population_2020"])
    assert {p["district_adcode"] for p in props if p["kind"] == "childcare"} <= set(ranked[:10])


def test_outdoor_stations_follow_population(props, district_info):
    counts = Counter(p["district_adcode"] for p in props if p["kind"] == "outdoor_station")
    total_pop = sum(d["population_2020"] for d in district_info.values())
    for adcode, d in district_info.items():
        quota = EXPECTED["outdoor_station"] * d["population_2020"] / total_pop
        assert abs(counts[adcode] - quota) < 1, adcode  # largest-remainder rounding


def test_urban_core_is_denser_than_the_mountains(props, district_info):
    counts = Counter(p["district_adcode"] for p in props)

    def density(adcode: str) -> float:
        return counts[adcode] / district_info[adcode]["area_km2"]

    assert density("500103") > 10 * density("500229")  # 渝中区 vs 城口县


def test_points_cluster_around_the_seat(features, district_info):
    """Not uniform: in the large districts (>1,000 km²) most stations are within 10 km of the seat,
    where a uniform spread would put about a seventh of them."""
    to_m = pyproj.Transformer.from_crs("EPSG:4326", ALBERS_CQ, always_xy=True)
    large = [f for f in features if district_info[f["properties"]["district_adcode"]]["area_km2"] > 1000]
    seats = np.array([[district_info[f["properties"]["district_adcode"]][k] for k in ("seat_lon", "seat_lat")]
                      for f in large])
    points = np.array([f["geometry"]["coordinates"] for f in large])
    sx, sy = to_m.transform(seats[:, 0], seats[:, 1])
    x, y = to_m.transform(points[:, 0], points[:, 1])
    assert np.mean(np.hypot(x - sx, y - sy) < 10_000) > 0.45
    assert len({tuple(c) for c in points.tolist()}) == len(points)  # not all at one point


def test_the_validator_accepts_it(raw, districts):
    data = validate_file_bytes(raw, districts, source="data/stations.geojson")
    assert len(data["features"]) == sum(EXPECTED.values())
