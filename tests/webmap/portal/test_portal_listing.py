"""The portal's 上图 pages, history and sheet (issue 13): status per platform set by the district and audited,
the list filtered by it, platform exports in the platforms' datums, and the planner's count per district."""

from __future__ import annotations

import csv
import io
import json

from geo.coords import gcj02_to_wgs84
from geo.projection import geodesic_distance_m
from tests.portal_helpers import csrf_token, registry_state

pytest_plugins = ("tests.portal_fixtures",)

OWN = "500103-OS-0002"


def test_district_sets_listing_status_and_planners_see_the_count(signed_in, registry_path):
    client = signed_in("yuzhong")
    page = client.get(f"/portal/stations/{OWN}/listing")
    assert page.status_code == 200 and "高德地图" in page.get_data(as_text=True)
    token = csrf_token(client, f"/portal/stations/{OWN}/listing")
    before = registry_state(registry_path)
    bad = client.post(f"/portal/stations/{OWN}/listing", data={
        "csrf_token": token, "status-amap": "rejected", "note-amap": "", "status-baidu": "not_submitted",
        "status-tencent": "not_submitted"})
    assert bad.status_code == 400 and "被驳回时请填写驳回原因" in bad.get_data(as_text=True)
    assert registry_state(registry_path) == before
    done = client.post(f"/portal/stations/{OWN}/listing", data={
        "csrf_token": token, "status-amap": "live", "note-amap": "POI B0FFH1", "status-baidu": "rejected",
        "note-baidu": "地址需精确到门牌", "status-tencent": "not_submitted"})
    assert done.status_code == 302
    audit = [json.loads(line) for line in registry_path.with_name("stations.audit.jsonl").read_text().splitlines()]
    assert audit[-1]["actor"] == "yuzhong" and audit[-1]["ids"] == [OWN]
    listed = client.get("/portal/stations?platform=amap&listing=live").get_data(as_text=True)
    assert f'data-id="{OWN}"' in listed and listed.count('<tr data-id="') == 1
    history = client.get(f"/portal/stations/{OWN}/history").get_data(as_text=True)
    assert "<strong>上图</strong>" in history and "百度地图：被驳回（地址需精确到门牌）" in history
    planner = signed_in("planner").get("/planner").get_data(as_text=True)
    row = planner[planner.index('<tr data-adcode="500103">'):]
    assert 'data-platform="amap" data-live="1"' in row[: row.index("</tr>")]
    assert 'data-platform="baidu" data-live="0" data-submitted="0" data-rejected="1"' in row[: row.index("</tr>")]
    other = signed_in("jiangbei")
    assert other.get(f"/portal/stations/{OWN}/listing").status_code == 403
    assert other.get(f"/portal/stations/{OWN}/history").status_code == 403


def test_platform_export_for_the_district(signed_in, registry_path):
    client = signed_in("yuzhong")
    response = client.get("/portal/listing/amap.csv?district=500105")   # a clerk gets their own district whatever they ask
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert rows and {r["区县"] for r in rows} == {"渝中区"}
    data = json.loads(registry_path.read_bytes())
    where = {f["properties"]["id"]: f["geometry"]["coordinates"] for f in data["features"]}
    for r in rows:
        lon, lat = gcj02_to_wgs84(float(r["经度(GCJ-02)"]), float(r["纬度(GCJ-02)"]))
        assert geodesic_distance_m(lon, lat, *where[r["站点编号"]][:2]) < 1.0
    assert signed_in("planner").get("/portal/listing/amap.csv").status_code == 403
    sheet = client.get("/portal/sheet.csv").get_data().decode("utf-8-sig")
    assert sheet.splitlines()[0].startswith("编号,名称,类型") and "500105-" not in sheet


def test_clerk_audit_is_their_own_district(signed_in, tokens, anon):
    from tests.portal_helpers import bearer

    anon.patch("/api/stations/500105-OS-0001", json={"phone": "023-11112222"}, headers=bearer(tokens["jiangbei"]))
    anon.patch(f"/api/stations/{OWN}", json={"phone": "023-33334444"}, headers=bearer(tokens["yuzhong"]))
    page = signed_in("yuzhong").get("/portal/audit?district=500105").get_data(as_text=True)
    assert "500103-OS-0002" in page and "500105-OS-0001" not in page and "023-33334444" in page
    assert "联系电话" in page
    export = signed_in("yuzhong").get("/portal/audit/export?format=csv").get_data().decode("utf-8-sig")
    assert "500103-OS-0002" in export and "500105-OS-0001" not in export
