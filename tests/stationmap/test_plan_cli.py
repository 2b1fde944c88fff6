"""``stationmap plan`` and ``stationmap coverage --population``: output formats, files and one-line errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from stationmap.cli import main


@pytest.fixture
def run(registry_path):
    def invoke(*args):
        return CliRunner().invoke(main, [*args, "--registry", str(registry_path)])

    return invoke


def test_population_coverage_table(run):
    result = run("coverage", "--population", "--radius", "1200")
    assert result.exit_code == 0, result.output
    assert "人口覆盖率" in result.output and "面积覆盖率" in result.output and "全市合计" in result.output
    assert "2020 年人口普查" in result.output and "census" not in result.output


def test_population_coverage_json_at_night(run):
    day = json.loads(run("coverage", "--population", "--radius", "1200", "--json", "--at", "2026-12-02 12:00").output)
    night = json.loads(run("coverage", "--population", "--radius", "1200", "--json", "--at", "2026-12-02 23:30").output)
    assert day["at"] == "2026-12-02T12:00" and night["totals"]["stations"] < day["totals"]["stations"]
    assert night["totals"]["population_share"] <= day["totals"]["population_share"]
    yuzhong = next(d for d in day["districts"] if d["adcode"] == "500103")
    assert 0 < yuzhong["population_share"] <= 1 and yuzhong["residents_per_station"] > 0
    assert day["distance_cdf"][0]["distance_m"] == 250


def test_population_coverage_csv_and_gap_file(run, tmp_path):
    gaps = tmp_path / "gaps.geojson"
    result = run("coverage", "--population", "--csv", "--geojson", str(gaps), "--cell", "2000", "--at", "Mo 22:00", "--lang", "en")
    assert result.exit_code == 0, result.output
    lines = result.stdout.lstrip("\ufeff").splitlines()
    assert any(line.startswith("# Cell size: 2000 m") for line in lines)
    assert any(line.startswith("# Stations counted: open at Mon ") and line.endswith("22:00") for line in lines)
    table = [line for line in lines if not line.startswith("#")]
    assert table[0].startswith("rank,district,population 2020 (people),stations,residents per station (people)")
    assert table[1].startswith("1,") and table[-1].startswith(",Chongqing (total),") and table[-1].endswith(",500000")
    data = json.loads(gaps.read_text(encoding="utf-8"))
    assert data["type"] == "FeatureCollection" and data["features"][0]["geometry"]["type"] == "Polygon"


def test_at_without_population_is_a_usage_error(run):
    result = run("coverage", "--at", "22:00")
    assert result.exit_code == 2 and "--at, --cell and --xlsx need --population" in result.output


def test_bad_time_is_one_line(run, monkeypatch):
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    result = run("coverage", "--population", "--at", "late")
    assert result.exit_code == 1 and "is not a time" in result.output and "Traceback" not in result.output


def test_plan_greedy_table_and_files(run, tmp_path):
    csv_path, geo_path, xlsx_path = tmp_path / "s.csv", tmp_path / "s.geojson", tmp_path / "s.xlsx"
    result = run("plan", "--new", "3", "--radius", "walk15", "--district", "500105", "--csv", str(csv_path),
                 "--geojson", str(geo_path), "--xlsx", str(xlsx_path))
    assert result.exit_code == 0, result.output
    assert "贪心" in result.output and "江北区" in result.output
    assert csv_path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert len(json.loads(geo_path.read_text(encoding="utf-8"))["features"]) == 3
    assert xlsx_path.read_bytes()[:2] == b"PK"


def test_plan_says_when_fewer_sites_are_useful(run, tmp_path):
    """More sites asked than 渝中 has people for (issue 13): fewer come back, each adding someone, and the file says so."""
    csv_path = tmp_path / "s.csv"
    result = run("plan", "--new", "40", "--district", "500103", "--csv", str(csv_path), "--cell", "1000")
    assert result.exit_code == 0, result.output
    assert "可增加覆盖人口的新址少于要求" in result.output
    text = csv_path.read_bytes().decode("utf-8-sig")
    assert "# 说明: 可增加覆盖人口的新址少于要求" in text
    rows = [line.split(",") for line in text.splitlines() if not line.startswith("#")][1:]
    assert 0 < len(rows) < 40 and all(int(r[4]) >= 1 for r in rows)


def test_plan_both_as_json(run):
    result = run("plan", "--new", "2", "--radius", "1200", "--district", "500103", "--method", "both", "--json", "--time-limit", "30")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["method"] == "exact" and data["alternative"]["method"] == "greedy"
    assert data["comparison"]["exact"] >= data["comparison"]["greedy"]
    assert data["status"] in ("optimal", "time_limit") and data["best_bound"] >= data["objective"] - 1e-6


def test_plan_with_candidates_file(run, tmp_path):
    hosts = tmp_path / "hosts.csv"
    hosts.write_text("name,lon,lat\n解放碑加油站,106.5772,29.5573\n朝天门,106.5850,29.5640\n", encoding="utf-8")
    result = run("plan", "--new", "1", "--candidates", str(hosts), "--district", "500103", "--lang", "en")
    assert result.exit_code == 0, result.output
    assert "朝天门" in result.output or "解放碑加油站" in result.output


def test_plan_rejects_bad_candidates_in_one_line(run, tmp_path, monkeypatch):
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    hosts = tmp_path / "hosts.csv"
    hosts.write_text("name,lon,lat\nBeijing,116.4,39.9\n", encoding="utf-8")
    result = run("plan", "--new", "1", "--candidates", str(hosts))
    assert result.exit_code == 1 and "row 2, columns lon/lat" in result.output and "Traceback" not in result.output


def test_plan_unknown_district(run, monkeypatch):
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    result = run("plan", "--new", "1", "--district", "123456")
    assert result.exit_code == 1 and "unknown district" in result.output


def test_plan_help_has_an_example():
    result = CliRunner().invoke(main, ["plan", "--help"])
    assert result.exit_code == 0 and "stationmap plan --new 20 --radius 1200" in result.output
