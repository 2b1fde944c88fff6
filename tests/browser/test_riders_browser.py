"""A rider on a 360-px phone in headless Chromium: far from Chongqing, across the river, hours in Chinese,
finding a place without GPS, 定位 and a map whose tiles fail, reporting a closed station and reading
the district's answer on the receipt page, and stale stations marked. No English on these Chinese pages.

Uses its own server (own registry, reports and accounts): the reports filed here must not change
what the other browser tests see.
"""

from __future__ import annotations

import re

import pytest

from geo.registry import dump_feature_collection
from tests.browser.conftest import LiveServer, PageRecorder, attach, browser_registry, open_context, wait_for_stations
from tests.conftest import DISTRICTS_PATH, ONE_ADDRESS_FOR_EVERYONE
from tests.portal_helpers import CHEAP_HASHER, PASSWORD

pytestmark = pytest.mark.browser
PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}
# Names that stay as they are on a Chinese page: coordinate systems, the map data's name, Leaflet's credit.
ALLOWED = {"WGS", "GCJ", "GPS", "OpenStreetMap", "Leaflet"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from geo.access.accounts import AccountStore
    from geo.districts import Districts
    from webmap import create_app

    tmp = tmp_path_factory.mktemp("riders-browser")
    registry = tmp / "stations.geojson"
    registry.write_bytes(dump_feature_collection(browser_registry()))
    accounts = AccountStore(tmp / "accounts.json", Districts.load(DISTRICTS_PATH), hasher=CHEAP_HASHER)
    accounts.add("yuzhong", "district", "500103")
    accounts.set_password("yuzhong", PASSWORD)
    app = create_app({
        "REGISTRY_PATH": str(registry), "DISTRICTS_PATH": str(DISTRICTS_PATH), "SECRET_KEY": "riders-browser-test",
        "TILE_PROVIDER": "osm", "ACCOUNTS": accounts, "ACCOUNTS_PATH": str(tmp / "accounts.json"),
        "SECRET_KEY_FILE": str(tmp / "secret"), **ONE_ADDRESS_FOR_EVERYONE,
    })
    with LiveServer(app) as live:
        yield live


@pytest.fixture
def phone(browser, server):
    recorder = PageRecorder()
    context = open_context(browser, server, **PHONE, permissions=["geolocation"],
                           geolocation={"latitude": 29.5590, "longitude": 106.5770})
    page = context.new_page()
    attach(page, recorder)
    yield page
    assert recorder.errors == [] and recorder.dialogs == [] and recorder.outside_requests() == []
    assert page.evaluate("window.__cspViolations || []") == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, "the page is wider than the phone"
    context.close()


def english_words(page) -> set[str]:
    """English words in the visible main content: the interface, not what districts typed (station names and
    addresses, one of them hostile markup shown as text), receipt codes, ids or the allowed names."""
    text = page.evaluate("""() => {
      const main = document.querySelector('main').cloneNode(true);
      main.querySelectorAll('.leaflet-control-attribution, code, [hidden], script, style, noscript, .result-title h3, '
                            + '.result-address, #station-name, .station-name-line, #portal-user').forEach(n => n.remove());
      return main.innerText.replace(/\\b[A-Z0-9]{8}\\b/g, '');
    }""")
    return {w for w in re.findall(r"[A-Za-z]{3,}", text) if w not in ALLOWED}


def type_coordinates(page, lon, lat):
    page.goto("/nearest")
    page.click("#coords-panel summary")
    page.fill("#lon", str(lon))
    page.fill("#lat", str(lat))
    page.click("#coords-panel button[type=submit]")


def test_far_away_rider_is_told_and_offered_the_city_map(phone):
    type_coordinates(phone, 116.40, 39.90)
    notice = phone.locator("#far-notice")
    notice.wait_for(state="visible")
    assert "你不在重庆市范围内" in notice.inner_text()
    assert notice.locator("a").get_attribute("href") == "/"
    assert phone.locator("#results li").count() == 0
    assert "分钟" not in phone.locator("#results").inner_text()
    assert english_words(phone) == set()


def test_swapped_coordinates_get_the_fix(phone):
    type_coordinates(phone, 29.5590, 106.5770)
    status = phone.locator("#status")
    assert "经纬度似乎填反了" in status.inner_text()


def test_result_across_the_river_is_marked(phone):
    type_coordinates(phone, 106.5800, 29.5300)  # 南岸
    phone.wait_for_function("() => document.documentElement.dataset.results > 0")
    first = phone.locator("#results .result").first
    assert "需过江" in first.inner_text() and "直线" in first.inner_text()
    amap = first.locator("a.nav-amap").get_attribute("href")
    assert amap.startswith("https://uri.amap.com/navigation?from=106.580000,29.530000&to=") and "mode=walk" in amap
    assert "coordinate=wgs84" in amap
    assert first.locator("a.nav-baidu").get_attribute("href").startswith("https://api.map.baidu.com/direction?origin=")
    assert english_words(phone) == set()


def test_hours_in_chinese_on_the_station_page_and_popup(phone):
    phone.goto("/stations/500103-OS-0002")
    assert phone.locator("#hours-text").inner_text().startswith("周一至周五 08:00–18:00")
    assert "Mo-Fr" not in phone.locator("main").inner_text()
    assert english_words(phone) == set()


def test_search_without_gps_finds_a_station_by_street_name(phone):
    phone.goto("/nearest")
    phone.fill("#place-q", "测试路")
    option = phone.locator("#place-results .place-option").first
    option.wait_for(state="visible")
    assert "测试路" in option.inner_text() and "街路" in option.inner_text()
    option.click()
    phone.wait_for_function("() => document.documentElement.dataset.results > 0")
    assert phone.locator("#results .result").first.get_attribute("data-id").startswith("500103-")
    assert "以“测试路”为起点" in phone.locator("#status").inner_text()
    assert english_words(phone) == set()


def test_home_map_locates_and_says_when_tiles_fail(phone):
    phone.goto("/")
    wait_for_stations(phone)
    failed = phone.locator("#tiles-failed")
    failed.wait_for(state="visible")  # the tile server is unreachable here
    assert "底图加载失败" in failed.inner_text()
    phone.wait_for_function("() => document.documentElement.dataset.outlines === 'drawn'")
    assert phone.locator(".leaflet-overlay-pane path").count() > 10  # districts still drawn
    phone.click("#locate-map")
    phone.locator(".sm-you").wait_for(state="visible")
    assert english_words(phone) == set()


def test_stale_station_is_marked_on_the_map_and_the_finder(phone):
    phone.goto("/#17/29.55900/106.57700")
    wait_for_stations(phone)
    phone.wait_for_function("() => document.documentElement.dataset.freshness === 'drawn'")
    marker = phone.locator('.leaflet-marker-icon[data-id="500103-OS-0001"]')
    marker.wait_for(state="visible")
    assert "sm-stale" in marker.get_attribute("class")
    marker.click()  # the popup: hours for people, freshness, and the way to report a problem
    popup = phone.locator(".leaflet-popup-content .sm-card")
    popup.wait_for(state="visible")
    assert "24 小时营业" in popup.inner_text() and "上次核实：2024-01-01" in popup.inner_text()
    assert popup.locator("a.btn-report").get_attribute("href") == "/stations/500103-OS-0001/report"
    assert english_words(phone) == set()
    phone.goto("/nearest?lon=106.5770&lat=29.5590&k=3")
    phone.wait_for_function("() => document.documentElement.dataset.results > 0")  # the script's own list
    assert "上次核实：2024-01-01 · 较久未核实" in phone.locator("#results .result").first.inner_text()


def test_report_filed_seen_and_resolved_with_the_receipt_showing_the_outcome(browser, server, phone):
    phone.goto("/stations/500103-OS-0003")
    phone.click("#report-link")
    phone.check("input[name=category][value=closed]")
    phone.fill("#note", "<b>卷帘门</b>拉下来了")
    assert english_words(phone) == set()
    phone.click("#report-form button[type=submit]")
    phone.wait_for_url(re.compile(r"/reports/[A-Z0-9]{8}\?new=1$"))
    code = phone.locator("#receipt-code").inner_text()
    assert "待处理" in phone.locator("#receipt-status").inner_text()
    assert english_words(phone) == set()

    clerk_context = open_context(browser, server, **PHONE)
    try:
        clerk = clerk_context.new_page()
        clerk.goto("/login")
        clerk.fill("input[name=username]", "yuzhong")
        clerk.fill("input[name=password]", PASSWORD)
        clerk.click("form button[type=submit]")
        clerk.goto("/portal/reports")
        assert clerk.locator("#report-count").inner_text() == "1"
        row = clerk.locator(f'#report-table tr[data-code="{code}"]')
        assert "已关闭" in row.inner_text()
        row.locator("a").click()
        assert "卷帘门 拉下来了" in clerk.locator("#report-notes").inner_text()
        clerk.check("#confirm-form input[name=outcome][value=fixed]")
        clerk.fill("#confirm-reason", "已联系站点，恢复开放")
        clerk.click("#confirm-form button[type=submit]")
        clerk.wait_for_url(re.compile(r"/portal/reports$"))
        assert clerk.locator("#no-reports").is_visible()
        assert english_words(clerk) == set()
    finally:
        clerk_context.close()

    phone.goto(f"/reports/{code}")
    assert "已确认并处理" in phone.locator("#receipt-status").inner_text()
    assert "问题已在现场解决" in phone.locator("#receipt-outcome").inner_text()
    assert "已联系站点，恢复开放" in phone.locator("#receipt-reason").inner_text()
    phone.goto("/stations/500103-OS-0003")
    assert re.search(r"上次核实：20\d\d-\d\d-\d\d", phone.locator("#verified").inner_text())
    assert "较久未核实" not in phone.locator("#verified").inner_text()
