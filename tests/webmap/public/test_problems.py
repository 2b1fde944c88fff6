"""Riders' reports, receipts, place search and freshness through the web app (Flask test client)."""

from __future__ import annotations

import re

import pytest

from tests.portal_helpers import CSRF_INPUT, registry_state

XSS = '<img src=x onerror="alert(1)">门锁了'


def post_report(client, **body):
    """As the rider's phone sends it (Chinese)."""
    return client.post("/api/reports?lang=zh", json={"station_id": "500103-OS-0002", "category": "closed", **body})


@pytest.mark.parametrize("body, status, where", [
    ({"category": "burnt"}, 400, "category"),
    ({"category": "facility_broken"}, 400, "facility"),
    ({"category": "facility_broken", "facility": "jacuzzi"}, 400, "facility"),
    ({"category": "not_here"}, 400, "lon, lat"),
    ({"category": "other"}, 400, "note"),
    ({"note": "长" * 501}, 400, "note"),
    ({"note": 7}, 400, "note"),
    ({"station_id": "500103-OS-0004"}, 400, "station_id"),  # retired
    ({"station_id": "500103-OS-9999"}, 404, None),
    ({"station_id": ""}, 400, "station_id"),
])
def test_bad_reports_are_refused_clearly_and_store_nothing(client, app, body, status, where):
    response = post_report(client, **body)
    assert response.status_code == status
    errors = response.get_json()["errors"]
    assert errors and all(e["message"] for e in errors)
    if where:
        assert errors[0]["where"] in (where, "经度、纬度", "站点编号", "问题类型", "设施", "补充说明")
    from webmap.core.reports_state import get_reports

    assert get_reports(app).list(status="all") == []


def test_report_messages_follow_lang_or_accept_language(client):
    chinese = client.post("/api/reports?lang=zh", json={"station_id": "500103-OS-0002", "category": "x"})
    assert "请选择问题类型" in chinese.get_json()["errors"][0]["message"]
    phone = client.post("/api/reports", json={"station_id": "500103-OS-0002", "category": "x"},
                        headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "请选择问题类型" in phone.get_json()["errors"][0]["message"]
    english = client.post("/api/reports?lang=en", json={"station_id": "500103-OS-0002", "category": "x"})
    assert "choose what is wrong" in english.get_json()["errors"][0]["message"]


def test_a_report_gets_a_receipt_and_duplicates_merge(client):
    first = post_report(client, note=XSS)
    assert first.status_code == 201
    body = first.get_json()
    assert body["status"] == "open" and body["reports"] == 1 and body["receipt_url"] == f"/reports/{body['code']}"
    second = post_report(client, note="真的关了")
    assert second.status_code == 200 and second.get_json()["merged"] and second.get_json()["code"] == body["code"]
    public = client.get(f"/api/reports/{body['code'].lower()}").get_json()
    assert public["reports"] == 2 and "notes" not in public  # notes are for the district
    page = client.get(body["receipt_url"]).get_data(as_text=True)
    assert body["code"] in page and "待处理" in page and "已关闭" in page


def test_sixth_report_from_one_address_in_a_minute_gets_429_with_retry_after(client):
    for category in ("closed", "hours_wrong", "other", "facility_broken", "not_here"):
        extra = {"note": "x", "facility": "toilet", "lon": 106.5701, "lat": 29.5561}
        assert post_report(client, category=category, **extra).status_code in (200, 201)
    refused = post_report(client, category="closed")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "提交太频繁了" in refused.get_json()["errors"][0]["message"]


def test_report_form_works_without_javascript_and_keeps_no_html(client, app):
    form = client.get("/stations/500103-OS-0002/report")
    html = form.get_data(as_text=True)
    assert form.status_code == 200 and "报告问题" in html and "不在这个位置" in html
    token = CSRF_INPUT.search(html).group(1)
    sent = client.post("/stations/500103-OS-0002/report", data={"csrf_token": token, "category": "other", "note": XSS})
    assert sent.status_code == 302
    receipt = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "谢谢！报告已送到所在区县工会" in receipt
    from webmap.core.reports_state import get_reports

    stored = get_reports(app).list(status="all")[0]
    assert stored.notes == ["门锁了"]  # the markup is gone; what is left is text
    bad = client.post("/stations/500103-OS-0002/report", data={"csrf_token": token, "category": "other", "note": ""})
    assert bad.status_code == 400 and "请写明是什么问题" in bad.get_data(as_text=True)


def test_station_page_offers_the_report_and_shows_freshness(client):
    html = client.get("/stations/500103-OS-0002").get_data(as_text=True)
    assert 'href="/stations/500103-OS-0002/report"' in html
    assert "上次核实：2024-01-01" in html and "较久未核实" in html
    assert "周一至周五 08:00–18:00" in html and "Mo-Fr" not in html
    post_report(client)
    html = client.get("/stations/500103-OS-0002").get_data(as_text=True)
    assert "有骑手报告这个站点已关闭" in html


def test_finder_hides_stations_reported_closed_unless_asked(client):
    def listed(url):
        return re.findall(r'<li class="result" data-id="([^"]+)"', client.get(url).get_data(as_text=True))

    url = "/nearest?lon=106.5700&lat=29.5560&k=3"
    assert listed(url)[0] == "500103-OS-0002"
    post_report(client)
    assert "500103-OS-0002" not in listed(url)
    assert listed(url + "&show_reported=1")[0] == "500103-OS-0002"
    api = client.get("/api/nearest?lon=106.5700&lat=29.5560&k=3").get_json()
    assert "500103-OS-0002" not in [f["properties"]["id"] for f in api["features"]]
    freshness = client.get("/api/freshness").get_json()
    assert freshness["reported_closed"] == ["500103-OS-0002"] and freshness["open_reports"] == {"500103": 1}
    assert "500103-OS-0002" in freshness["stale"] and freshness["max_age_days"] == 180


def test_finder_page_far_away_swapped_and_place_search(client):
    far = client.get("/nearest?lon=116.40&lat=39.90").get_data(as_text=True)
    assert "你不在重庆市范围内" in far and 'href="/"' in far and "分钟" not in re.sub(r"<script.*?</script>", "", far, flags=re.S).split("results-note")[1].split("</ol>")[0]
    swapped = client.get("/nearest?lon=29.5590&lat=106.5770").get_data(as_text=True)
    assert "经纬度似乎填反了" in swapped and "must be between" not in swapped
    found = client.get("/nearest?q=测试路").get_data(as_text=True)
    assert "以“测试路”为起点" in found and 'data-id="500103-' in found
    missing = client.get("/nearest?q=火星基地").get_data(as_text=True)
    assert "没有找到“火星基地”" in missing


def test_search_api(client):
    body = client.get("/api/search?q=jfb").get_json()
    assert body["results"][0]["name"] == "解放碑" and body["results"][0]["kind"] == "landmark"
    assert client.get("/api/search").status_code == 400
    assert client.get("/api/search?q=" + "长" * 41).status_code == 400


def test_nearest_api_labels_distances_and_routes_from_the_rider(client):
    feature = client.get("/api/nearest?lon=106.5800&lat=29.5300&k=1").get_json()["features"][0]["properties"]
    assert feature["distance_kind"] == "straight_line" and feature["walk_minutes"] >= 1
    assert feature["crosses_river"] is True  # 南岸 → 渝中
    assert feature["hours_text"] and not re.search(r"Mo|Su|24/7", feature["hours_text"])
    page = client.get("/nearest?lon=106.5800&lat=29.5300&k=1").get_data(as_text=True)
    assert "需过江" in page
    assert "https://uri.amap.com/navigation?from=106.580000,29.530000&amp;to=" in page
    assert "origin=latlng:29.530000,106.580000" in page


def test_reports_api_is_for_signed_in_staff(client):
    assert client.get("/api/reports").status_code == 401


def test_rejected_report_leaves_the_registry_alone(client, registry_path):
    before = registry_state(registry_path)
    post_report(client, category="x")
    post_report(client)
    assert registry_state(registry_path) == before


def test_oversized_and_lenient_json_is_refused(client, app):
    big = client.post("/api/reports?lang=zh", data=b"{" + b" " * 20_000 + b"}", content_type="application/json")
    assert big.status_code == 413 and "报告太大了" in big.get_json()["errors"][0]["message"]
    nan = client.post("/api/reports", data=b'{"station_id": "500103-OS-0002", "category": "not_here", "lon": NaN, "lat": 29.5}',
                      content_type="application/json")
    assert nan.status_code == 400
    dup = client.post("/api/reports", data=b'{"station_id": "500103-OS-0002", "category": "x", "category": "closed"}',
                      content_type="application/json")
    assert dup.status_code == 400
    from webmap.core.reports_state import get_reports

    assert get_reports(app).list(status="all") == []
