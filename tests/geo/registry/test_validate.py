"""The `stationmap validate` battery: every kind of bad file gets a specific, located message."""

from __future__ import annotations

import copy
import json

import pytest
from click.testing import CliRunner

from geo.registry import dump_feature_collection
from stationmap.cli import main
from tests.conftest import SMALL_REGISTRY


def collection(features):
    return {"type": "FeatureCollection", "features": features}


def with_change(index, change):
    """SMALL_REGISTRY with ``change(feature)`` applied to feature ``index``."""
    features = copy.deepcopy(SMALL_REGISTRY)
    change(features[index])
    return json.dumps(collection(features), ensure_ascii=False).encode()


def set_prop(name, value):
    return lambda f: f["properties"].__setitem__(name, value)


def set_geometry(geometry):
    return lambda f: f.__setitem__("geometry", geometry)


def drop_prop(name):
    return lambda f: f["properties"].pop(name)


BAD_FILES = [
    ("wrong geometry type", with_change(0, set_geometry({"type": "LineString", "coordinates": [[106.5, 29.5], [106.6, 29.6]]})),
     "features[0] (500103-OS-0001).geometry.type: is 'LineString', expected 'Point'"),
    ("swapped lon/lat", with_change(0, set_geometry({"type": "Point", "coordinates": [29.559, 106.577]})),
     "longitude comes first"),
    ("swapped lon/lat inside range", with_change(5, set_geometry({"type": "Point", "coordinates": [29.586, 86.574]})),
     "outside Chongqing"),
    ("out of range", with_change(0, set_geometry({"type": "Point", "coordinates": [999, 999]})), "out of range"),
    ("NaN coordinate", with_change(0, set_geometry({"type": "Point", "coordinates": [float("nan"), 29.5]})).replace(b"NaN", b"NaN"),
     "NaN is not allowed"),
    ("Infinity", b'{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[Infinity,29.5]},"properties":{}}]}',
     "Infinity is not allowed"),
    ("missing field", with_change(0, drop_prop("opening_hours")), "properties.opening_hours: is required"),
    ("missing geometry", with_change(0, set_geometry(None)), "geometry: missing"),
    ("unknown kind", with_change(0, set_prop("kind", "cafe")), "unknown kind 'cafe'"),
    ("unknown amenity", with_change(0, set_prop("amenities", ["rest", "sauna"])), "unknown amenity 'sauna'"),
    ("unknown honour", with_change(0, set_prop("honours", ["best"])), "unknown honour 'best'"),
    ("unknown status", with_change(0, set_prop("status", "deleted")), "unknown status"),
    ("bad opening hours", with_change(0, set_prop("opening_hours", "Mo-Fx 8-18")), "not valid opening_hours syntax"),
    ("bad timestamp", with_change(0, set_prop("created_at", "yesterday")), "not an ISO 8601"),
    ("amenities not a list", with_change(0, set_prop("amenities", "rest")), "must be a list"),
    ("name too long", with_change(0, set_prop("name", "站" * 101)), "at most 100"),
    ("typo in property", with_change(0, lambda f: f["properties"].__setitem__("amenties", [])), "did you mean 'amenities'"),
    ("duplicate ids", with_change(1, set_prop("id", "500103-OS-0001")), "duplicate id (also features[0])"),
    ("id of another district", with_change(0, set_prop("id", "500105-OS-0099")), "starts with 500105"),
    ("point outside its district", with_change(0, set_geometry({"type": "Point", "coordinates": [106.4560, 29.5410]})),
     "lies in 沙坪坝区 (500106), not in 渝中区 (500103)"),
    ("point outside Chongqing", with_change(0, set_geometry({"type": "Point", "coordinates": [116.39, 39.9]})), "outside Chongqing"),
    ("district name mismatch", with_change(0, set_prop("district", "江北区")), "does not match code 500103"),
    ("not JSON at all", b"\x89PNG\r\n\x1a\n\x00\x00binary", "not UTF-8 text"),
    ("not JSON text", b"name,lon,lat\n\xe9\xa9\xbf\xe7\xab\x99,106.5,29.5\n", "not valid JSON"),
    ("empty file", b"", "the file is empty"),
    ("whitespace only", b"  \n ", "the file is empty"),
    ("a bare Feature", json.dumps(SMALL_REGISTRY[0]).encode(), "expected a GeoJSON FeatureCollection, got 'Feature'"),
    ("legacy crs member", json.dumps(collection(SMALL_REGISTRY) | {"crs": {"type": "name", "properties": {"name": "EPSG:3857"}}}).encode(),
     "RFC 7946 GeoJSON has no 'crs' member"),
    ("duplicate keys", b'{"type":"FeatureCollection","type":"FeatureCollection","features":[]}', "duplicate key 'type'"),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ("nested collection", json.dumps(collection([collection(SMALL_REGISTRY[:1])])).encode(), "features[0]: is not a GeoJSON Feature"),
]


@pytest.mark.parametrize("label,raw,message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_validate_rejects_bad_file(tmp_path, label, raw, message):
    path = tmp_path / "bad.geojson"
    path.write_bytes(raw)
    result = CliRunner().invoke(main, ["validate", "--lang", "en", str(path)])
    assert result.exit_code == 1
    assert message in result.output, result.output
    assert "Traceback" not in result.output


def test_validate_accepts_good_file_and_reports_count(tmp_path):
    path = tmp_path / "good.geojson"
    path.write_bytes(dump_feature_collection(SMALL_REGISTRY))
    result = CliRunner().invoke(main, ["validate", "--lang", "en", str(path)])
    assert result.exit_code == 0, result.output
    assert "OK, 12 stations" in result.output


def test_validate_reports_every_problem_at_once(tmp_path):
    features = copy.deepcopy(SMALL_REGISTRY)
    features[0]["properties"]["kind"] = "cafe"
    features[3]["properties"]["amenities"] = ["sauna"]
    features[7]["geometry"]["coordinates"] = [29.54, 106.45]
    path = tmp_path / "many.geojson"
    path.write_text(json.dumps(collection(features), ensure_ascii=False))
    result = CliRunner().invoke(main, ["validate", "--json", str(path)])
    assert result.exit_code == 1
    report = json.loads(result.output[: result.output.rindex("}") + 1])
    wheres = [e["where"] for e in report["errors"]]
    assert any(w.startswith("features[0]") for w in wheres)
    assert any(w.startswith("features[3]") for w in wheres)
    assert any(w.startswith("features[7]") for w in wheres)


def test_validate_missing_file_is_one_line(tmp_path):
    result = CliRunner().invoke(main, ["validate", "--lang", "en", str(tmp_path / "nope.geojson")])
    assert result.exit_code == 1
    assert "cannot read" in result.output


def test_validate_speaks_chinese_where_asked(tmp_path):
    """Every line a person reads: each problem (which feature, which field, why), the count and the verdict."""
    features = copy.deepcopy(SMALL_REGISTRY)
    features[0]["properties"]["kind"] = "cafe"
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps(collection(features), ensure_ascii=False))
    result = CliRunner().invoke(main, ["validate", "--lang", "zh", str(path)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[-1] == f"错误：{path}：发现 1 个问题", result.output
    assert lines[0].startswith(f"{path}：") and "cafe" in lines[0] and "Error" not in result.output, result.output
    path.write_bytes(dump_feature_collection(SMALL_REGISTRY))
    good = CliRunner().invoke(main, ["validate", "--lang", "zh", str(path)])
    assert good.exit_code == 0 and good.output.strip() == f"{path}：通过，共 12 个站点"
    missing = CliRunner().invoke(main, ["validate", "--lang", "zh", str(tmp_path / "nope.geojson")])
    assert missing.exit_code == 1 and missing.output.startswith("错误：") and "无法读取" in missing.output
