"""Plans never propose a useless site; sites have usable names and GCJ-02; exports fit for a meeting and say where they come from."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from scipy import sparse

from geo.coords import gcj02_to_wgs84
from geo.planning import export as planexport
from geo.planning.popcoverage import parse_at, population_coverage
from geo.planning.population import UNIFORM_MODEL, modelled_population, population_from_points_csv
from geo.planning.provenance import Provenance, format_moment
from geo.planning.sitenames import site_names, street_of
from geo.planning.siting import MIN_USEFUL_RESIDENTS, greedy_cover, plan_sites
from geo.projection import metric_to_lonlat
from geo.registry import stations_frame
from tests.conftest import make_station
from tests.planning_fixtures import one_square, stations_at


def _snapshot():
    """A registry snapshot (version 7) whose latest edit is 2026-12-01 10:00."""
    from geo.registry.snapshot import Snapshot
    from tests.conftest import make_station

    a, b = make_station("500103-OS-0001", 106.57, 29.56), make_station("500103-OS-0002", 106.58, 29.56)
    a["properties"]["updated_at"], b["properties"]["updated_at"] = "2026-12-01T10:00:00+08:00", "2026-11-01T10:00:00+08:00"
    return Snapshot(7, [a, b], None)


@pytest.fixture(scope="module")
def towns():
    """Two towns in one square district; the rest of it empty (nobody lives there)."""
    d = one_square(100_000)
    grid = modelled_population(d, 500.0, UNIFORM_MODEL)
    residents = np.zeros_like(grid.residents)
    for tx in (-4000.0, 4000.0):
        residents[np.hypot(grid.x - tx, grid.y) < 800] = 1000.0 / 3  # thirds: sums leave floating-point dust
    grid.residents = residents
    return d, grid


# -- no site that adds no one ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["greedy", "exact", "both"])
def test_plans_never_propose_a_site_that_adds_no_one(towns, method):
    d, grid = towns
    plan = plan_sites(grid, stations_at([]), 1000, 6, method=method, districts=d, time_limit_s=30)
    for p in (plan, plan.alternative):
        if p is None:
            continue
        assert 1 <= len(p.sites) < 6 and (p.sites["residents_added"] >= MIN_USEFUL_RESIDENTS).all()
        assert p.fewer_sites and p.summary()["fewer_sites"] and p.summary()["sites_chosen"] == len(p.sites)
        assert "fewer useful sites than asked" in p.summary()["shortfall"]["en"]
        assert "少于要求" in p.summary()["shortfall"]["zh"]
        assert p.totals["share_after"] == pytest.approx(1.0)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 8))
def test_greedy_gains_are_at_least_one_resident(seed, n):
    rng = np.random.default_rng(seed)
    matrix = sparse.csr_matrix((rng.random((12, 30)) < 0.2).astype(float))
    weights = rng.choice([0.0, 0.3, 1.0 / 3, 5.0, 100.0], size=30)
    chosen, added, bound = greedy_cover(matrix, weights, n)
    assert len(chosen) <= n and all(a >= MIN_USEFUL_RESIDENTS for a in added)
    covered = np.zeros(30, bool)
    for row, gain in zip(chosen, added, strict=True):
        cols = matrix.indices[matrix.indptr[row]:matrix.indptr[row + 1]]
        assert weights[cols][~covered[cols]].sum() == pytest.approx(gain)
        covered[cols] = True
    assert bound >= sum(added) - 1e-9


# -- names and coordinates -----------------------------------------------------------------------


@pytest.mark.parametrize(("address", "street"), [
    ("重庆市万州区双河口街道体育二路12号", "双河口街道"), ("重庆市万州区瀼渡镇文化街15号", "瀼渡镇"),
    ("重庆市石柱土家族自治县黄水镇", "黄水镇"), ("重庆市城口县高燕乡", "高燕乡"), ("体育二路12号", None), (None, None),
])
def test_street_is_parsed_from_the_address(address, street):
    assert street_of(address) == street


def test_sites_are_named_by_district_and_nearest_street():
    a = make_station("500112-OS-0001", 106.60, 29.70)
    a["properties"]["address"] = "重庆市渝北区龙溪街道松石北路1号"
    b = make_station("500112-OS-0002", 106.70, 29.80)
    b["properties"]["address"] = "重庆市渝北区两路街道双龙大道2号"
    c = make_station("500103-OS-0001", 106.601, 29.701)   # nearer, but another district
    c["properties"]["address"] = "重庆市渝中区解放碑街道民族路3号"
    zh, en, streets = site_names([106.602, 106.603, 106.69, 106.60], [29.702, 29.70, 29.79, 29.70],
                                 ["500112", "500112", "500112", "500101"], {"500112": "渝北区", "500101": "万州区"},
                                 {"500112": "Yubei", "500101": "Wanzhou"}, stations_frame([a, b, c]))
    assert zh == ["渝北区 龙溪街道附近 (1)", "渝北区 龙溪街道附近 (2)", "渝北区 两路街道附近 (1)", "万州区 新址 (1)"]
    assert en[0] == "Yubei, near 龙溪街道 (1)" and streets == ["龙溪街道", "龙溪街道", "两路街道", None]


def test_plan_sites_carry_names_and_gcj02(towns):
    d, grid = towns
    lon, lat = metric_to_lonlat(-9000.0, 9000.0)
    station = make_station("500103-OS-0001", float(lon), float(lat))
    station["properties"]["address"] = "重庆市渝中区解放碑街道民族路3号"
    plan = plan_sites(grid, stations_frame([station]), 1000, 2, districts=d)
    assert plan.sites["name"].tolist() == ["测试03区 解放碑街道附近 (1)", "测试03区 解放碑街道附近 (2)"]
    back_lon, back_lat = gcj02_to_wgs84(plan.sites["lon_gcj02"].to_numpy(), plan.sites["lat_gcj02"].to_numpy())
    assert np.allclose(back_lon, plan.sites["lon"], atol=1e-6) and np.allclose(back_lat, plan.sites["lat"], atol=1e-6)
    assert (plan.sites["lon_gcj02"] - plan.sites["lon"]).abs().min() > 1e-3   # really shifted


# -- the hour -------------------------------------------------------------------------------------


def test_at_takes_a_weekday_or_a_date():
    monday = parse_at("Mo 22:00")
    assert monday.weekday() == 0 and (monday.hour, monday.minute) == (22, 0)
    assert 0 <= (monday.date() - datetime.now().date()).days <= 7
    assert parse_at("周六 08:30").weekday() == 5
    assert parse_at("2026-12-07T22:00") == datetime(2026, 12, 7, 22, 0)
    assert format_moment(parse_at("2026-12-07T22:00"), "zh") == "2026-12-07（周一）22:00"
    assert format_moment(parse_at("2026-12-07T22:00"), "en") == "Mon 2026-12-07 22:00"
    with pytest.raises(ValueError):
        parse_at("Xx 22:00")


# -- exports ----------------------------------------------------------------------------------------


def _plan_with_provenance(towns):
    d, grid = towns
    plan = plan_sites(grid, stations_at([]), 1000, 8, districts=d, method="both", time_limit_s=30)
    plan.at = datetime(2026, 12, 7, 22, 0)
    return plan, Provenance.of(_snapshot(), grid, 1000, plan.at, plan)


def test_plan_csv_is_for_excel_with_units_provenance_and_whole_people(towns):
    plan, prov = _plan_with_provenance(towns)
    data = planexport.plan_csv(plan, "zh", prov)
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data.decode("utf-8-sig").splitlines()
    preamble = [line for line in lines if line.startswith("#")]
    text = "\n".join(preamble)
    for needle in ("少于要求", "人口数据", "500 米", "1000 米", "2026-12-07（周一）22:00", "站点库版本: 7", "2026-12-01T10:00",
                   "精确 MCLP", "已证明最优"):
        assert needle in text, needle
    rows = list(csv.DictReader([line for line in lines if not line.startswith("#")]))
    assert len(rows) == len(plan.sites)
    assert {"名称", "新增覆盖人口(人)", "经度(WGS-84)", "纬度(GCJ-02 高德/腾讯)"} <= set(rows[0])
    for row in rows:
        assert row["新增覆盖人口(人)"].isdigit() and int(row["新增覆盖人口(人)"]) >= 1
        assert not row["名称"].startswith("cell")
    en = planexport.plan_csv(plan, "en", prov).decode("utf-8-sig")
    assert "fewer useful sites than asked" in en and "residents added (people)" in en


def test_plan_workbook_is_fit_for_a_meeting(towns):
    plan, prov = _plan_with_provenance(towns)
    book = load_workbook(io.BytesIO(planexport.plan_xlsx(plan, "zh", prov)))
    assert book.sheetnames == ["新增站点(精确)", "各区县(精确)", "新增站点(贪心)", "各区县(贪心)", "汇总", "说明"]
    sites = book["新增站点(精确)"]
    head = [c.value for c in sites[1]]
    assert head[:3] == ["序号", "名称", "区县"] and sites.freeze_panes == "A2"
    added = head.index("新增覆盖人口(人)") + 1
    for row in range(2, sites.max_row + 1):
        cell = sites.cell(row, added)
        assert isinstance(cell.value, int) and cell.value >= 1 and cell.number_format == "#,##0"
    longest = max(planexport._display_width(str(sites.cell(r, 2).value)) for r in range(2, sites.max_row + 1))
    assert sites.column_dimensions["B"].width >= longest     # the names fit (CJK characters are two wide)
    districts = book["各区县(精确)"]
    share = [c.value for c in districts[1]].index("规划后覆盖率(%)") + 1
    assert districts.cell(2, share).number_format == "0.0%" and 0 <= districts.cell(2, share).value <= 1
    for sheet in book.worksheets:
        for row in sheet.iter_rows(values_only=True):
            for value in row:
                assert not (isinstance(value, str) and value.lstrip().startswith(("{", "["))), value
    about = {r[0]: r[1] for r in book["说明"].iter_rows(min_row=2, values_only=True)}
    assert about["服务半径"] == "1000 米" and about["网格大小"] == "500 米" and about["站点库版本"] == "7"
    assert "2026-12-07（周一）22:00" in about["计入的站点"] and about["求解状态"] == "已证明最优"
    summary = {r[0]: r[1] for r in book["汇总"].iter_rows(min_row=2, values_only=True)}
    assert summary["要求新增站点"] == 8 and summary["有效新增站点"] == len(plan.sites) and "少于要求" in summary["说明"]


def test_coverage_table_exports_have_the_page_columns(towns):
    d, grid = towns
    cov = population_coverage(stations_at([(-4000.0, 0.0)]), grid, d, 1000, at=datetime(2026, 12, 7, 22, 0))
    prov = Provenance.of(_snapshot(), grid, 1000, cov.at)
    lines = planexport.coverage_csv(cov, "zh", prov).decode("utf-8-sig").splitlines()
    rows = list(csv.DictReader([line for line in lines if not line.startswith("#")]))
    assert list(rows[0]) == [planexport.header(c, "zh") for c in planexport.COVERAGE_TABLE_COLUMNS]
    assert rows[-1]["区县"] == "全市合计" and rows[0]["未覆盖人口(人)"].isdigit() and rows[0]["序号"] == "1" and rows[-1]["序号"] == ""
    assert float(rows[0]["人口覆盖率(%)"]) == pytest.approx(50.0, abs=0.1)
    assert any("2026-12-07（周一）22:00" in line for line in lines if line.startswith("#"))
    book = load_workbook(io.BytesIO(planexport.coverage_xlsx(cov, "zh", prov)))
    assert book.sheetnames[0] == "各区县人口覆盖" and book.sheetnames[-1] == "说明"
    sheet = book["各区县人口覆盖"]
    assert [c.value for c in sheet[1]] == list(rows[0]) and sheet.freeze_panes == "A2"
    assert sheet["F2"].number_format == "0.0%" and isinstance(sheet["I2"].value, int) and sheet["A2"].value == 1


def test_uploaded_population_is_named_in_the_provenance():
    d = one_square(1000)
    lon, lat = metric_to_lonlat(0.0, 0.0)
    grid = population_from_points_csv(f"lon,lat,weight\n{lon},{lat},10\n".encode(), d, 1000)
    grid.source = "points 街道人口.csv; 1000 m cells"
    prov = Provenance.of(_snapshot(), grid, 1200, None)
    assert prov.population_kind == "uploaded" and prov.population_file == "街道人口.csv"
    assert dict(prov.rows("zh"))["人口数据"] == "上传文件 街道人口.csv"
    assert dict(prov.rows("en"))["Stations counted"].startswith("all day")


def test_population_source_note_is_in_the_readers_language():
    """The grid's source stays a coded Text in the provenance: the 说明 sheet says it in Chinese, the JSON in English."""
    prov = Provenance.of(_snapshot(), modelled_population(one_square(1000), 1000.0), 1000, None)
    zh, en = dict(prov.rows("zh")), dict(prov.rows("en"))
    assert "census" not in zh["人口数据详情"] and "cells" not in zh["人口数据详情"] and "2020" in zh["人口数据详情"]
    assert "census" in en["Population detail"]
    assert "census" in prov.as_dict()["population_detail"]
    lon, lat = metric_to_lonlat(0.0, 0.0)
    points = population_from_points_csv(f"lon,lat,weight\n{lon},{lat},10\n".encode(), one_square(1000), 1000, name="街道.csv")
    uploaded = Provenance.of(_snapshot(), points, 1000, None)
    assert uploaded.population_kind == "uploaded" and uploaded.population_file == "街道.csv"
