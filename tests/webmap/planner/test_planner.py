"""Tests of the planners' workbench: every planning endpoint and its error paths, numbers equal to the domain's,
downloads (CSV with BOM, formula-safe; GeoJSON; XLSX), charts, candidate uploads, the busy solver, the page and the report.

One app per module (its registry is only read), so the population grid and plans are built once.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from datetime import datetime

import pytest
from openpyxl import load_workbook

from geo.hours import chongqing_now, open_mask
from geo.planning import charts
from geo.planning import export as planexport
from geo.planning.plans import snapshot_plan, snapshot_population_coverage
from geo.registry import dump_feature_collection
from tests.conftest import SMALL_REGISTRY, make_test_app

YUBEI, YUZHONG = "500112", "500103"
ACTIVE = [f for f in SMALL_REGISTRY if f["properties"]["status"] == "active"]
BOM = b"\xef\xbb\xbf"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("planner")
    registry = tmp / "stations.geojson"
    registry.write_bytes(dump_feature_collection(SMALL_REGISTRY))
    return make_test_app(registry, tmp, PLAN_CANDIDATES_DIR=str(tmp / "candidates"))


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def planner_auth(app) -> dict:
    """Bearer headers of a planner account: exact solves are for signed-in planners."""
    accounts = app.extensions["stationmap_accounts"]
    accounts.add("plan-office", "planner")
    return {"Authorization": "Bearer " + accounts.issue_token("plan-office")}


@pytest.fixture(scope="module")
def snapshot(app):
    from webmap.core.state import get_snapshot

    with app.app_context():
        return get_snapshot()


def strict_json(response):
    def refuse(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    return json.loads(response.get_data(as_text=True), parse_constant=refuse)


def plain(value):
    """What ``value`` looks like after a trip through JSON."""
    return json.loads(json.dumps(planexport.json_safe(value), allow_nan=False))


def assert_envelope(response, status: int, where: str | None = None):
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    body = strict_json(response)
    assert body["ok"] is False and body["status"] == status and body["errors"]
    if where is not None:
        assert where in [e.get("where") for e in body["errors"]], body["errors"]
    return body


# -- /api/population-coverage -----------------------------------------------------------------


def test_population_coverage_equals_the_domain(client, snapshot):
    response = client.get("/api/population-coverage")
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = strict_json(response)
    cov = snapshot_population_coverage(snapshot, 1200.0, None, cell_m=500.0)
    expected = plain(planexport.coverage_json(cov, gaps=20))
    assert {k: v for k, v in body.items() if k not in ("registry_version", "provenance")} == expected
    assert body["provenance"]["registry_version"] == snapshot.version and body["provenance"]["cell_m"] == 500
    assert body["registry_version"] == snapshot.version
    assert len(body["districts"]) == 38 and body["totals"]["adcode"] == "500000"
    # Population share sits next to area share, per district; residents per station is census / stations.
    for row in body["districts"]:
        assert 0 <= row["population_share"] <= 1 and 0 <= row["area_share"] <= 1
        if row["stations"]:
            assert row["residents_per_station"] == pytest.approx(row["population"] / row["stations"])
        else:
            assert row["residents_per_station"] is None
    yuzhong = next(r for r in body["districts"] if r["adcode"] == YUZHONG)
    assert yuzhong["stations"] == 4 and yuzhong["population_share"] > yuzhong["area_share"] > 0
    # The ranking: lowest population share first.
    shares = {r["adcode"]: r["population_share"] for r in body["districts"]}
    ranked = [shares[code] for code in body["worst_served"]]
    assert ranked == sorted(ranked) and sorted(body["worst_served"]) == sorted(shares)


def test_an_hour_counts_only_stations_open_then(client, snapshot):
    body = strict_json(client.get("/api/population-coverage?at=03:00&radius_m=4000&grid_m=2000&gaps=0"))
    today = chongqing_now().date()
    when = datetime(today.year, today.month, today.day, 3, 0)
    open_then = int(open_mask([f["properties"]["opening_hours"] for f in ACTIVE], when).sum())
    assert body["totals"]["stations"] == open_then < len(ACTIVE)
    assert body["at"] == when.isoformat(timespec="minutes") and body["cell_m"] == 2000 and body["gap_cells"] == []
    cov = snapshot_population_coverage(snapshot, 4000.0, "03:00", cell_m=2000.0)
    assert body["totals"] == plain(cov.totals_record())
    all_day = strict_json(client.get("/api/population-coverage?radius_m=4000&grid_m=2000&gaps=0"))
    assert all_day["totals"]["residents_covered"] >= body["totals"]["residents_covered"]
    iso = strict_json(client.get(f"/api/population-coverage?at={today.isoformat()}T03:00&radius_m=4000&grid_m=2000&gaps=0"))
    assert iso["totals"] == body["totals"]


def test_kinds_and_etag(client):
    body = strict_json(client.get("/api/population-coverage?kind=bookshelf&gaps=0"))
    assert body["totals"]["stations"] == sum(f["properties"]["kind"] == "bookshelf" for f in ACTIVE)
    first = client.get("/api/population-coverage?radius_m=1500")
    assert first.headers["ETag"] and "max-age" in first.headers["Cache-Control"]
    again = client.get("/api/population-coverage?radius_m=1500", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


# -- /api/gap-cells ----------------------------------------------------------------------------


def test_gap_cells_are_ranked_by_residents(client, snapshot):
    response = client.get("/api/gap-cells?limit=25")
    assert response.status_code == 200 and response.mimetype == "application/geo+json"
    body = strict_json(response)
    cov = snapshot_population_coverage(snapshot, 1200.0, None, cell_m=500.0)
    expected = plain(planexport.gap_cells_geojson(cov, n=25))["features"]
    assert [f["geometry"] for f in body["features"]] == [f["geometry"] for f in expected]
    assert [{k: v for k, v in f["properties"].items() if k != "rank"} for f in body["features"]] == [f["properties"] for f in expected]
    assert [f["properties"]["rank"] for f in body["features"]] == list(range(1, 26))
    residents = [f["properties"]["residents"] for f in body["features"]]
    assert residents == sorted(residents, reverse=True) and body["count"] == 25
    assert body["uncovered_cells"] == int(((~cov.covered) & (cov.grid.residents > 0)).sum())


def test_gap_cells_of_one_district(client, snapshot):
    body = strict_json(client.get(f"/api/gap-cells?limit=40&district={YUBEI}&grid_m=500"))
    cov = snapshot_population_coverage(snapshot, 1200.0, None, cell_m=500.0)
    expected = cov.gap_cells(40, YUBEI)
    assert {f["properties"]["adcode"] for f in body["features"]} == {YUBEI}
    assert [f["properties"]["residents"] for f in body["features"]] == [round(float(r), 1) for r in expected["residents"]]
    assert body["uncovered_cells"] == int(((~cov.covered) & (cov.grid.residents > 0) & cov.grid.mask(YUBEI)).sum())
    download = client.get(f"/api/gap-cells?limit=5&district={YUBEI}&download=1")
    assert download.headers["Content-Disposition"].startswith("attachment;")


# -- /api/plan -----------------------------------------------------------------------------------


def test_greedy_plan_equals_the_domain(client, snapshot):
    response = client.get(f"/api/plan?new=4&district={YUBEI}")
    assert response.status_code == 200
    body = strict_json(response)
    plan = snapshot_plan(snapshot, 4, 1200.0, YUBEI)
    expected = plain(planexport.plan_json(plan))
    for key in ("sites", "districts", "method", "status", "objective", "covered_before", "covered_after", "share_before",
                "share_after", "comparison"):
        assert body[key] == expected[key], key
    assert body["cell_m"] == 500 and body["candidates"] is None and len(body["sites"]) == 4
    assert [s["rank"] for s in body["sites"]] == [1, 2, 3, 4] and {s["adcode"] for s in body["sites"]} == {YUBEI}
    added = [s["residents_added"] for s in body["sites"]]
    assert added == sorted(added, reverse=True) and body["sites"][-1]["cumulative_added"] == pytest.approx(sum(added))
    (row,) = body["districts"]
    assert row["adcode"] == YUBEI and row["share_after"] > row["share_before"] and row["new_sites"] == 4
    links = body["links"]
    assert set(links) == {"csv", "geojson", "xlsx", "chart", "report"}
    for url in links.values():
        assert client.get(url).status_code == 200, url


def test_both_methods_report_both_objectives(client, snapshot, planner_auth):
    body = strict_json(client.get(f"/api/plan?new=2&district={YUZHONG}&method=both&time_limit_s=20", headers=planner_auth))
    assert body["method"] == "exact" and body["alternative"]["method"] == "greedy"
    comparison = body["comparison"]
    assert set(comparison) >= {"exact", "greedy"}
    assert comparison["exact"] >= comparison["greedy"] - 1e-6
    assert comparison["greedy"] == pytest.approx(body["alternative"]["objective"])
    greedy = snapshot_plan(snapshot, 2, 1200.0, YUZHONG)
    assert body["alternative"]["sites"] == plain(planexport.plan_json(greedy))["sites"]
    if body["status"] == "optimal":
        assert body["best_bound"] == pytest.approx(body["objective"])


@pytest.mark.slow
def test_plan_for_the_whole_city(client, snapshot):
    body = strict_json(client.get("/api/plan?new=3&radius_m=4000"))
    plan = snapshot_plan(snapshot, 3, 4000.0, None)
    assert body["sites"] == plain(planexport.plan_json(plan))["sites"] and body["cell_m"] == 1000
    assert len(body["districts"]) == 38 and body["district"] is None


BAD = [
    ("/api/population-coverage?radius_m=abc", "radius_m"),
    ("/api/population-coverage?radius_m=0", "radius_m"),
    ("/api/population-coverage?radius_m=nan", "radius_m"),
    ("/api/population-coverage?at=25:00", "at"),
    ("/api/population-coverage?at=noon", "at"),
    ("/api/population-coverage?grid_m=300", "grid_m"),
    ("/api/population-coverage?gaps=-1", "gaps"),
    ("/api/population-coverage?kind=kiosk", "kind"),
    ("/api/population-coverage?radius=1200", "radius"),
    ("/api/population-coverage?radius_m=1200&radius_m=4000", "radius_m"),
    ("/api/gap-cells?limit=0", "limit"),
    ("/api/gap-cells?limit=5001", "limit"),
    ("/api/gap-cells?district=999999", "district"),
    ("/api/plan?new=0", "new"),
    ("/api/plan?new=201", "new"),
    ("/api/plan?new=2.5", "new"),
    ("/api/plan?time_limit_s=121&method=exact", "time_limit_s"),
    ("/api/plan?time_limit_s=0", "time_limit_s"),
    ("/api/plan?method=fast", "method"),
    ("/api/plan?district=123", "district"),
    ("/api/plan?grid_m=500", "grid_m"),
    ("/api/plan?candidates=xyz", "candidates"),
    ("/api/plan.csv?lang=fr", "lang"),
    ("/api/plan.xlsx?new=1000", "new"),
    ("/api/charts/coverage.svg?sort=name", "sort"),
    ("/api/charts/distance-cdf.svg?district=" + ",".join(["500101", "500102", "500103", "500104", "500105", "500106", "500107"]),
     "district"),
    ("/api/charts/distance-cdf.png?max_km=0", "max_km"),
    ("/api/charts/plan.svg?top=0", "top"),
]


@pytest.mark.parametrize("url, where", BAD)
def test_bad_parameters_get_the_envelope_naming_them(client, url, where):
    assert_envelope(client.get(url), 400, where)


def test_several_problems_are_reported_together(client):
    body = assert_envelope(client.get("/api/plan?new=0&radius_m=-5&method=fast"), 400)
    assert {e["where"] for e in body["errors"]} == {"new", "radius_m", "method"}


def test_unknown_paths_and_formats(client):
    assert_envelope(client.get("/api/charts/coverage.gif"), 404)
    assert_envelope(client.get("/api/plan.pdf"), 404)
    assert_envelope(client.delete("/api/plan"), 405)
    assert_envelope(client.get("/api/plan?candidates=" + "0" * 64), 404)


# -- downloads --------------------------------------------------------------------------------------


def test_plan_csv_has_a_bom_and_one_row_per_site(client, snapshot):
    response = client.get(f"/api/plan.csv?new=4&district={YUBEI}")
    assert response.status_code == 200 and response.content_type == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == f'attachment; filename="stationmap-plan-{YUBEI}-4-1200m.csv"'
    data = response.get_data()
    assert data.startswith(BOM)
    lines = [line for line in data.decode("utf-8-sig").splitlines() if not line.startswith("#")]
    plan = snapshot_plan(snapshot, 4, 1200.0, YUBEI)
    assert len(lines) == 1 + len(plan.sites)
    assert lines[0].split(",")[:2] == ["序号", "名称"]
    assert lines[1].split(",")[1] == plan.sites["name"].iloc[0] == "渝北区 新址 (1)"
    preamble = "\n".join(line for line in data.decode("utf-8-sig").splitlines() if line.startswith("#"))
    assert f"# 站点库版本: {snapshot.version}" in preamble and "# 服务半径: 1200 米" in preamble and "# 网格大小: 500 米" in preamble
    english = client.get(f"/api/plan.csv?new=4&district={YUBEI}&lang=en").get_data().decode("utf-8-sig")
    assert [line for line in english.splitlines() if not line.startswith("#")][0].startswith("rank,name,district,nearest street/town,residents added (people)")


def test_plan_geojson_and_xlsx(client, snapshot):
    geo = strict_json(client.get(f"/api/plan.geojson?new=4&district={YUBEI}"))
    plan = snapshot_plan(snapshot, 4, 1200.0, YUBEI)
    assert geo == plain(planexport.sites_geojson(plan))
    assert [f["geometry"]["type"] for f in geo["features"]] == ["Point"] * 4 and "crs" not in geo
    response = client.get(f"/api/plan.xlsx?new=4&district={YUBEI}")
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = load_workbook(io.BytesIO(response.get_data()))
    assert book.sheetnames == ["新增站点(贪心)", "各区县(贪心)", "汇总", "说明"]
    assert book["新增站点(贪心)"].max_row == 5


def test_population_coverage_table_downloads(client, snapshot):
    response = client.get("/api/population-coverage.csv?radius_m=1200&at=2026-12-07T22:00")
    assert response.status_code == 200 and response.content_type == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data().decode("utf-8-sig")
    assert "2026-12-07（周一）22:00" in text
    rows = [line for line in text.splitlines() if not line.startswith("#")]
    assert rows[0].split(",")[:3] == ["序号", "区县", "2020年常住人口(人)"] and len(rows) == 1 + 38 + 1
    book = load_workbook(io.BytesIO(client.get("/api/population-coverage.xlsx?lang=en").get_data()))
    assert book.sheetnames[0] == "Coverage by district" and book.sheetnames[-1] == "About these figures"
    assert book.active.freeze_panes == "A2"


# -- candidate uploads --------------------------------------------------------------------------------

CANDIDATES_CSV = (
    "名称,经度,纬度\n"
    "=HYPERLINK(\"http://evil\"),106.6300,29.7180\n"
    "<img src=x onerror=alert(1)>,106.6050,29.7200\n"
    "加油站,106.6500,29.6800\n"
    "解放碑,106.5770,29.5590\n"
)


def upload(client, text: str, query: str = f"new=2&district={YUBEI}", **extra):
    data = {"candidates": (io.BytesIO(text.encode("utf-8")), "hosts.csv"), **extra}
    return client.post(f"/api/plan?{query}", data=data, content_type="multipart/form-data")


def test_candidates_upload_plan_and_reuse_by_digest(app, client):
    response = upload(client, CANDIDATES_CSV)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    body = strict_json(response)
    assert body["candidates"] == hashlib.sha256(CANDIDATES_CSV.encode()).hexdigest()
    names = {s["name"] for s in body["sites"]}
    assert names <= {"=HYPERLINK(\"http://evil\")", "<img src=x onerror=alert(1)>", "加油站"}  # 解放碑 is in 渝中
    assert any("outside district" in note for note in body["notes"])
    again = strict_json(client.get(f"/api/plan?new=2&district={YUBEI}&candidates={body['candidates']}"))
    assert again["sites"] == body["sites"]
    csv_text = client.get(body["links"]["csv"]).get_data().decode("utf-8-sig")
    assert "=HYPERLINK" not in csv_text.replace("'=HYPERLINK", "")
    # The report shows the uploaded names as text.
    html = client.get(body["links"]["report"]).get_data(as_text=True)
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert (app.config["PLAN_CANDIDATES_DIR"] and
            (app.extensions["stationmap.planner"].candidates.directory / f"{body['candidates']}.csv").exists())


def test_candidates_upload_needs_no_csrf_token_but_a_file(client):
    assert_envelope(client.post(f"/api/plan?new=2&district={YUBEI}", data={}, content_type="multipart/form-data"),
                    400, "candidates")
    assert_envelope(upload(client, CANDIDATES_CSV, query=f"new=2&district={YUBEI}&candidates={'a' * 64}"), 400, "candidates")
    # Form fields work like query parameters, and are checked the same way.
    ok = upload(client, CANDIDATES_CSV, query="", new="2", district=YUBEI)
    assert ok.status_code == 200 and len(strict_json(ok)["sites"]) == 2
    assert_envelope(upload(client, CANDIDATES_CSV, query="", new="0"), 400, "new")


def test_bad_candidates_file_is_refused_with_every_problem_and_not_kept(app, client):
    bad = "name,lon,lat\nA,106.60,29.70\nB,29.70,106.60\nC,abc,29.7\n"
    before = set(app.extensions["stationmap.planner"].candidates.directory.glob("*.csv"))
    body = assert_envelope(upload(client, bad), 400)
    wheres = [e["where"] for e in body["errors"]]
    assert "row 3, columns lon/lat" in wheres and "row 4, column lon" in wheres
    assert any("swapped" in e["hint"] for e in body["errors"])
    assert set(app.extensions["stationmap.planner"].candidates.directory.glob("*.csv")) == before


def test_exact_solves_are_for_signed_in_planners(client, planner_auth):
    url = f"/api/plan?new=2&district={YUZHONG}&method=exact&time_limit_s=9"
    body = assert_envelope(client.get(url), 403)
    assert "method=greedy" in body["errors"][0]["message"]
    assert client.get(url, headers=planner_auth).status_code == 200
    assert client.get(url).status_code == 200  # solved once, anyone may read it


def test_busy_exact_solver_answers_503_and_greedy_still_works(app, client, planner_auth):
    plans = app.extensions["stationmap.planner"].plans
    wait = plans.slot_wait_s
    plans.slot_wait_s = 0.01
    assert plans.slots.acquire(timeout=5)
    try:
        response = client.get(f"/api/plan?new=3&district={YUZHONG}&method=exact&time_limit_s=7", headers=planner_auth)
        body = assert_envelope(response, 503, "method")
        assert response.headers["Retry-After"] == "30" and "greedy" in body["errors"][0]["hint"]
        assert client.get(f"/api/plan?new=3&district={YUZHONG}").status_code == 200
    finally:
        plans.slots.release()
        plans.slot_wait_s = wait


# -- charts ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_charts(client, snapshot):
    svg = client.get("/api/charts/coverage.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert svg.get_data().lstrip().startswith(b"<?xml") and b"<script" not in svg.get_data()
    assert "default-src 'none'" in svg.headers["Content-Security-Policy"]
    png = client.get("/api/charts/coverage.png?radius_m=4000&lang=en")
    assert png.mimetype == "image/png" and png.get_data().startswith(b"\x89PNG\r\n\x1a\n")
    cov = snapshot_population_coverage(snapshot, 4000.0, None, cell_m=500.0)
    assert png.get_data() == charts.coverage_by_district_chart(cov, lang="en", fmt="png")
    cdf = client.get(f"/api/charts/distance-cdf.svg?district={YUBEI}&district={YUZHONG}&max_km=20")
    assert cdf.status_code == 200 and cdf.mimetype == "image/svg+xml"
    plan = client.get(f"/api/charts/plan.png?new=4&district={YUBEI}")
    assert plan.status_code == 200 and plan.get_data().startswith(b"\x89PNG")


# -- documentation -------------------------------------------------------------------------------------


def test_openapi_documents_the_planning_api(client):
    doc = strict_json(client.get("/api/openapi.json"))
    paths = doc["paths"]
    for path in ("/api/population-coverage", "/api/gap-cells", "/api/plan", "/api/plan.{fmt}", "/api/charts/coverage.{fmt}",
                 "/api/charts/distance-cdf.{fmt}", "/api/charts/plan.{fmt}"):
        assert path in paths, path
    assert set(paths["/api/plan"]) == {"get", "post"}
    assert "multipart/form-data" in paths["/api/plan"]["post"]["requestBody"]["content"]
    params = {p["name"]: p for p in paths["/api/plan"]["get"]["parameters"]}
    assert params["new"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 200, "default": 10}
    assert params["time_limit_s"]["schema"]["maximum"] == 120
    assert params["method"]["schema"]["enum"] == ["greedy", "exact", "both"]
    assert "503" in paths["/api/plan"]["get"]["responses"]
    fmt = next(p for p in paths["/api/plan.{fmt}"]["get"]["parameters"] if p["name"] == "fmt")
    assert fmt["in"] == "path" and fmt["schema"]["enum"] == ["csv", "geojson", "xlsx"]
    cov_params = {p["name"]: p for p in paths["/api/population-coverage"]["get"]["parameters"]}
    assert cov_params["radius_m"]["schema"]["default"] == 1200 and cov_params["grid_m"]["schema"]["enum"] == [250, 500, 1000, 2000]


# -- pages -------------------------------------------------------------------------------------------


def page_config(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="sm-config">(.*?)</script>', html, re.S)
    return json.loads(found.group(1))


def test_planner_page(app):
    client = app.test_client()  # no language cookie from earlier tests
    response = client.get("/planner")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "script-src 'self' 'nonce-" in response.headers["Content-Security-Policy"]
    html = response.get_data(as_text=True)
    assert "<h1>规划工作台</h1>" in html and "步行15分钟" in html and "电动车15分钟" in html
    for element in ("plan-form", "radius-input", "at-input", "district-select", "new-input", "time-limit-input",
                    "candidates-input", "run-plan", "proposal-list", "download-csv", "chart-coverage", "planner-table"):
        assert f'id="{element}"' in html, element
    assert html.count("<option value=\"50") == 38
    assert "/static/planner/planner.js" in html and "/static/vendor/leaflet/leaflet.js" in html
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    assert "cdn" not in html.replace(nonce, "").lower()  # the nonce is random text: it may spell "cdn"
    config = page_config(html)
    assert config["presets"] == {"walk15": 1200, "ebike15": 4000} and config["limits"]["maxNew"] == 200
    assert config["strings"]["planner.plan_ready"] == "已给出 {n} 个建议新站点。"
    assert len(config["districts"]) == 38


def test_planner_page_in_english_with_values_from_the_url(client):
    html = client.get(f"/planner?lang=en&district={YUBEI}&radius_m=4000&new=7&method=both&at=22:30").get_data(as_text=True)
    assert "<h1>Planners&#39; workbench</h1>" in html and "15 min on foot" in html
    assert f'<option value="{YUBEI}" selected>Yubei' in html
    assert re.search(r'value="ebike15" checked', html) and 'value="7"' in html and 'value="22:30"' in html
    assert re.search(r'value="both" checked', html)
    assert page_config(html)["initial"]["district"] == YUBEI
    # Nonsense in the URL falls back to defaults instead of failing.
    messy = client.get("/planner?radius_m=abc&new=-3&method=<x>&district=1")
    assert messy.status_code == 200 and re.search(r'value="walk15" checked', messy.get_data(as_text=True))


def test_district_report(app, snapshot):
    client = app.test_client()
    response = client.get(f"/planner/report/{YUBEI}?new=3")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<h1>渝北区驿站服务覆盖报告</h1>" in html
    cov = snapshot_population_coverage(snapshot, 1200.0, None, cell_m=500.0)
    row = next(r for r in cov.records() if r["adcode"] == YUBEI)
    assert f'id="figure-population-share">{row["population_share"] * 100:.1f}%<' in html
    assert f'id="figure-area-share">{row["area_share"] * 100:.1f}%<' in html
    plan = snapshot_plan(snapshot, 3, 1200.0, YUBEI)
    sites = re.search(r'<table class="data-table" id="report-sites">(.*?)</table>', html, re.S).group(1)
    assert sites.count("<tr>") == 1 + 3
    for residents in plan.sites["residents_added"]:
        assert f"{residents:,.0f}" in sites
    numbered = re.search(r'<g class="rm-sites">(.*?)</g>', html, re.S).group(1)
    assert numbered.count("<text") == 3   # the sites, numbered on the map
    assert "@media print" not in html    # print rules live in the stylesheet
    for src in re.findall(r'<img src="([^"]+)"', html):
        image = client.get(src.replace("&amp;", "&"))
        assert image.status_code == 200 and image.mimetype == "image/svg+xml", src


def test_city_report_and_errors(client):
    html = client.get("/planner/report/500000?new=2&lang=en").get_data(as_text=True)
    assert "Station coverage report: Chongqing" in html
    table = re.search(r'<table class="data-table" id="report-districts">(.*?)</table>', html, re.S).group(1)
    assert table.count("<tr>") == 1 + 38
    assert client.get("/planner/report/999999").status_code == 404
    bad = client.get(f"/planner/report/{YUBEI}?new=abc")
    assert bad.status_code == 400 and "new" in bad.get_data(as_text=True)


def test_exact_report_streams_progress_then_the_report(app, planner_auth):
    """An exact plan not yet solved: the progress line comes first, the report after it, with provenance.
    A visitor who is not signed in is refused before anything is streamed (exact solves are for planners)."""
    client = app.test_client()
    url = f"/planner/report/{YUZHONG}?new=40&method=exact&time_limit_s=30&grid_m=1000"
    refused = client.get(url)
    assert refused.status_code == 403 and 'id="report-progress"' not in refused.get_data(as_text=True)
    response = client.get(url, headers=planner_auth, buffered=False)
    assert response.status_code == 200
    chunks = list(response.response)
    first = chunks[0].decode() if isinstance(chunks[0], bytes) else chunks[0]
    assert 'id="report-progress"' in first and "report-sites" not in first
    html = "".join(c.decode() if isinstance(c, bytes) else c for c in chunks)
    assert html.index('id="report-progress"') < html.index('id="report-sites"')
    assert 'id="report-shortfall"' in html and "可增加覆盖人口的新址少于要求" in html
    provenance = re.search(r'id="report-provenance">(.*?)</table>', html, re.S).group(1)
    assert "1000 米" in provenance and "精确 MCLP" in provenance
    # Solved now: the next request renders at once, not streamed.
    again = client.get(f"/planner/report/{YUZHONG}?new=40&method=exact&time_limit_s=30&grid_m=1000").get_data(as_text=True)
    assert 'id="report-progress"' not in again and 'id="report-shortfall"' in again


def test_report_pins_do_not_overlap():
    import numpy as np

    from webmap.planner.report_map import PIN_RADIUS, place_pins

    points = np.array([[100.0, 100.0]] * 6 + [[104.0, 98.0], [300.0, 50.0]])
    pins = place_pins(points, PIN_RADIUS, 760, 500)
    d = np.hypot(*(pins[:, None, :] - pins[None, :, :]).transpose(2, 0, 1))
    assert (d[~np.eye(len(pins), dtype=bool)] >= 2 * PIN_RADIUS).all()
    assert (pins[0] == points[0]).all() and (pins[-1] == points[-1]).all()   # a free pin stays on its site
