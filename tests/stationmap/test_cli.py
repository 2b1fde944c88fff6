"""The command line: tables, JSON, coordinate systems, help texts and one-line errors."""

from __future__ import annotations

import csv
import io
import json

import click
import pytest
from click.testing import CliRunner

from geo.coords import from_wgs84
from stationmap.cli import main


@pytest.fixture
def run(registry_path):
    def invoke(*args):
        return CliRunner().invoke(main, [*args, "--registry", str(registry_path)] if args[0] in ("nearest", "coverage", "history") else list(args))

    return invoke


def test_nearest_table_lists_nearest_first(run):
    result = run("nearest", "--lon", "106.5700", "--lat", "29.5560", "-k", "3")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "500103-OS-0002" in lines[2]  # at the query point
    assert len(lines) == 5


def test_nearest_json_is_geojson_with_distances(run):
    result = run("nearest", "--lon", "106.5516", "--lat", "29.5630", "-k", "4", "--json")
    data = json.loads(result.output)
    assert data["type"] == "FeatureCollection" and len(data["features"]) == 4
    distances = [f["properties"]["distance_m"] for f in data["features"]]
    assert distances == sorted(distances) and distances[0] < 1


def test_nearest_gcj02_input_is_converted(run):
    lon, lat = from_wgs84(106.5516, 29.5630, "gcj02")
    wgs = json.loads(run("nearest", "--lon", str(lon), "--lat", str(lat), "-k", "1", "--json").output)
    gcj = json.loads(run("nearest", "--lon", str(lon), "--lat", str(lat), "-k", "1", "--json", "--crs", "gcj02").output)
    assert gcj["features"][0]["properties"]["distance_m"] < 1
    assert wgs["features"][0]["properties"]["distance_m"] > 300  # the uncorrected point is ~500 m off


def test_nearest_filters(run):
    result = run("nearest", "--lon", "106.57", "--lat", "29.56", "--kind", "childcare", "--json")
    kinds = {f["properties"]["kind"] for f in json.loads(result.output)["features"]}
    assert kinds == {"childcare"}
    result = run("nearest", "--lon", "106.57", "--lat", "29.56", "-k", "20", "--at", "2026-11-26 23:00", "--json")
    ids = {f["properties"]["id"] for f in json.loads(result.output)["features"]}
    assert "500103-OS-0002" not in ids and "500103-OS-0001" in ids


@pytest.mark.parametrize("args,message", [
    (("--lon", "999", "--lat", "29.5"), "lon: 999.0 is outside [-180, 180]"),
    (("--lon", "nan", "--lat", "29.5"), "lon: nan is not a finite number"),
    (("--lon", "106.5", "--lat", "29.5", "-k", "0"), "Invalid value for '-k'"),
    (("--lon", "106.5", "--lat", "29.5", "--kind", "cafe"), "Invalid value for '--kind'"),
    (("--lon", "abc", "--lat", "29.5"), "Invalid value for '--lon'"),
])
def test_nearest_bad_input_is_one_line_and_nonzero(run, args, message, monkeypatch):
    monkeypatch.setenv("LANG", "en_US.UTF-8")  # the English wording; Chinese below
    result = run("nearest", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_coverage_table_csv_and_gaps(run, tmp_path):
    table = run("coverage", "--radius", "1500")
    assert table.exit_code == 0 and "渝中区" in table.output and "全市合计" in table.output
    rows = list(csv.DictReader(io.StringIO(run("coverage", "--csv").output)))
    assert len(rows) == 38 and {"adcode", "covered_share", "per_10k_residents"} <= set(rows[0])
    gaps = tmp_path / "gaps.geojson"
    result = run("coverage", "--geojson", str(gaps))
    assert result.exit_code == 0
    data = json.loads(gaps.read_text())
    assert data["features"] and data["features"][0]["geometry"]["type"] == "Polygon"


def test_coverage_bad_radius(run):
    result = run("coverage", "--radius", "-3")
    assert result.exit_code == 1 and "半径" in result.output  # the field named in the reader's language


def test_missing_registry_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    result = CliRunner().invoke(main, ["nearest", "--lon", "106.5", "--lat", "29.5", "--registry", str(tmp_path / "none.geojson")])
    assert result.exit_code == 1 and "registry file not found" in result.output


def all_commands(group, prefix=()):
    for name, command in group.commands.items():
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))


@pytest.mark.parametrize("path", [p for p, _ in all_commands(main)], ids=lambda p: " ".join(p))
def test_every_command_has_help_with_an_example(path):
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0
    command = dict(all_commands(main))[path]
    assert command.help and len(command.help) > 20
    if not isinstance(command, click.Group):
        assert "stationmap" in result.output  # an example to paste


def test_the_language_follows_the_locale_unless_lang_is_given(run, monkeypatch):
    args = ("nearest", "--lon", "106.5700", "--lat", "29.5560", "-k", "1")
    assert "直线(m)" in run(*args).output  # tests run under LANG=zh_CN.UTF-8 (tests/stationmap/conftest.py)
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    english = run(*args).output
    assert "straight m" in english and "直线" not in english
    assert "直线(m)" in run(*args, "--lang", "zh").output


def test_errors_follow_the_locale_and_lang(run, monkeypatch):
    """A Chinese locale gets the error, its place and its fix in Chinese; --lang overrides the locale."""
    zh = run("nearest", "--lon", "29.55", "--lat", "106.5")
    assert zh.exit_code == 1 and zh.output.startswith("错误：纬度") and "经纬度似乎填反了" in zh.output
    assert "outside" not in zh.output and "Error" not in zh.output
    assert "纬度：纬度" not in zh.output and "纬度：106.5 不在 −90～90 之间" in zh.output  # the field named once
    en = run("nearest", "--lon", "29.55", "--lat", "106.5", "--lang", "en")
    assert en.exit_code == 1 and en.output.startswith("Error: lat: 106.5 is outside [-90, 90]")
    monkeypatch.setenv("LANG", "en_GB.UTF-8")
    assert run("history", "NOPE").output.startswith("Error: ")
