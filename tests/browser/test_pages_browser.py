"""The pages in headless Chromium: markers and outlines draw, popups show station text as text,
the finder sorts by distance from a faked position, the language switch works, the coverage page
reacts to the radius, nothing loads from outside but tiles, and nothing overflows 360 px.
"""

from __future__ import annotations

import re
import time

import pytest

from geo.coords import from_wgs84, gcj02_to_wgs84
from tests.browser.conftest import (
    ARTIFACTS,
    XSS_ADDRESS,
    XSS_ID,
    XSS_LONLAT,
    XSS_NAME,
    browser_registry,
    checked_page,
    wait_for_stations,
)

pytestmark = pytest.mark.browser


def test_map_draws_stations_and_district_outlines(page):
    started = time.perf_counter()
    page.goto("/")
    wait_for_stations(page)
    elapsed = time.perf_counter() - started
    markers = page.locator(".leaflet-marker-pane .sm-pin, .leaflet-marker-pane .sm-cluster")
    assert markers.count() > 0
    page.wait_for_function("() => document.documentElement.dataset.outlines === 'drawn'")
    outlines = page.locator(".leaflet-overlay-pane svg path")
    assert outlines.count() >= 38
    assert elapsed < 5, f"stations took {elapsed:.2f} s"
    # The legend and the layer control list the three kinds.
    legend = page.locator(".sm-legend").inner_text()
    assert "户外劳动者服务站" in legend and "职工书屋" in legend and "爱心托管班" in legend
    control = page.locator(".leaflet-control-layers").inner_text()
    assert "区县边界" in control and "爱心托管班" in control
    # The honoured station has its own look.
    page.goto("/#16/29.55900/106.57700")
    wait_for_stations(page)
    assert page.locator(".sm-pin.sm-honoured").count() >= 1


def test_clicking_a_marker_opens_a_popup_with_the_station(page):
    page.goto("/#16/29.55900/106.57700")
    wait_for_stations(page)
    page.locator('.leaflet-marker-pane [data-id="500103-OS-0001"]').click()
    popup = page.locator(".leaflet-popup-content")
    popup.locator(".sm-card").wait_for()
    text = popup.inner_text()
    assert "测试驿站0001" in text and "重庆市渝中区测试路01号" in text and "营业中" in text
    assert "饮水" in text  # amenity labels from /api/vocabulary
    amap = popup.locator("a", has_text="高德步行导航").get_attribute("href")
    assert amap.startswith("https://uri.amap.com/navigation?to=106.577000,29.559000,%E6%B5%8B")
    assert "mode=walk" in amap and "coordinate=wgs84" in amap and "callnative=1" in amap
    ride = popup.locator("a", has_text="高德骑行导航").get_attribute("href")
    assert "mode=ride" in ride and "coordinate=wgs84" in ride
    baidu = popup.locator("a", has_text="百度地图步行").get_attribute("href")
    assert baidu.startswith("https://api.map.baidu.com/direction?destination=latlng:29.559000,106.577000|name:")
    assert "mode=walking" in baidu and "coord_type=wgs84" in baidu
    assert popup.locator('a[href="geo:29.559000,106.577000?q=29.559000,106.577000"]').count() == 1
    assert popup.locator('a[href^="tel:"]').get_attribute("href") == "tel:02363000000"
    assert popup.locator('a[href="/stations/500103-OS-0001"]').count() == 1


def test_hostile_station_name_is_shown_as_text_everywhere(page):
    lon, lat = XSS_LONLAT
    page.goto(f"/#17/{lat:.5f}/{lon:.5f}")
    wait_for_stations(page)
    marker = page.locator(f'.leaflet-marker-pane [data-id="{XSS_ID}"]')
    assert marker.get_attribute("title") == XSS_NAME  # a DOM property: text, not markup
    page.get_by_title(XSS_NAME, exact=True).click()
    card = page.locator(".leaflet-popup-content .sm-card")
    card.wait_for()
    assert card.locator("h3").inner_text() == XSS_NAME
    assert XSS_ADDRESS.split("</script>")[0] in card.inner_text()
    assert page.locator('img[src="x"]').count() == 0

    page.goto(f"/stations/{XSS_ID}")
    assert page.locator("h1").inner_text() == XSS_NAME
    assert page.locator('img[src="x"]').count() == 0

    page.goto(f"/nearest?lon={lon}&lat={lat}")
    page.wait_for_function("() => document.documentElement.dataset.results !== undefined")
    assert page.locator("#results .result h3").first.inner_text() == XSS_NAME
    assert page.locator('img[src="x"]').count() == 0
    page.wait_for_timeout(300)  # give any injected handler a chance to fire (the fixture checks dialogs)


def test_nearest_uses_the_browser_position_and_sorts_by_distance(browser, live_server):
    with checked_page(browser, live_server, geolocation={"latitude": 29.5590, "longitude": 106.5770},
                      permissions=["geolocation"], viewport={"width": 390, "height": 844}, is_mobile=True,
                      has_touch=True) as (page, _):
        page.goto("/nearest")
        page.get_by_role("button", name="使用我的位置").click()
        page.wait_for_function("() => document.documentElement.dataset.results === '5'")
        ids = page.locator("#results .result").evaluate_all("items => items.map(li => li.dataset.id)")
        assert ids[0] == "500103-OS-0001"
        distances = [parse_metres(text) for text in page.locator("#results .result-distance strong").all_inner_texts()]
        assert distances == sorted(distances) and distances[0] < 5
        assert page.locator("#results .badge").first.inner_text() in ("营业中", "已打烊")
        assert page.locator(".leaflet-marker-pane .sm-pin-numbered").count() == 5
        assert page.locator(".leaflet-marker-pane .sm-you").count() == 1
        # A filter re-runs the query at once.
        page.locator("#filters-panel summary").click()
        page.locator("#kind-chips label", has_text="职工书屋").click()
        page.wait_for_function("() => document.querySelector('#results .result h3') && "
                               "[...document.querySelectorAll('#results .result-kind')].every(p => p.textContent.includes('职工书屋'))")
        assert "kind=bookshelf" in page.url and "lon=106.577" in page.url


def test_nearest_accepts_typed_gcj02_coordinates(page):
    lon, lat = from_wgs84(106.5770, 29.5590, "gcj02")
    page.goto("/nearest")
    page.locator("#coords-panel summary").click()
    page.fill("#lon", f"{lon:.6f}")
    page.fill("#lat", f"{lat:.6f}")
    page.select_option("#crs", "gcj02")
    page.get_by_role("button", name="查找").click()
    page.wait_for_function("() => document.documentElement.dataset.results === '5'")
    assert page.locator("#results .result").first.get_attribute("data-id") == "500103-OS-0001"
    assert parse_metres(page.locator("#results .result-distance strong").first.inner_text()) < 5


def test_the_map_script_shifts_like_the_server(page):
    page.goto("/nearest")
    points = [(106.5770, 29.5590), (108.6650, 31.9470), (105.29, 28.16), (110.19, 31.40)]
    for lon, lat in points:
        js = page.evaluate(f"SM.wgs84ToGcj02({lon}, {lat})")
        py = from_wgs84(lon, lat, "gcj02")
        assert abs(js[0] - py[0]) < 1e-9 and abs(js[1] - py[1]) < 1e-9
        back = page.evaluate(f"SM.gcj02ToWgs84({py[0]}, {py[1]})")
        exact = gcj02_to_wgs84(*py)
        assert abs(back[0] - exact[0]) < 1e-8 and abs(back[1] - exact[1]) < 1e-8


def test_on_amap_tiles_markers_and_taps_are_in_gcj02(browser, amap_server):
    with checked_page(browser, amap_server) as (page, recorder):
        page.goto("/#16/29.55900/106.57700")
        wait_for_stations(page)
        shown = page.evaluate("""() => { let found = null;
            stationmapMap.map.eachLayer(l => { if (l.stationId === '500103-OS-0001') found = l.getLatLng(); });
            if (!found) { for (const g of Object.values(stationmapMap.map._layers)) {
                if (g.getLayers) g.getLayers().forEach(l => { if (l.stationId === '500103-OS-0001') found = l.getLatLng(); }); } }
            return found && [found.lng, found.lat]; }""")
        glon, glat = from_wgs84(106.5770, 29.5590, "gcj02")
        assert shown is not None and abs(shown[0] - glon) < 1e-6 and abs(shown[1] - glat) < 1e-6
        assert any("is.autonavi.com" in url for url in recorder.requests)  # Amap tiles were asked for
        # A tap on the station's drawn position is a GCJ-02 query that finds it a few metres away.
        page.goto("/nearest")
        with page.expect_response(re.compile(r"/api/nearest\?.*crs=gcj02")):
            page.evaluate(f"stationmapMap.map.fire('click', {{latlng: L.latLng({glat}, {glon})}})")
        page.wait_for_function("() => document.documentElement.dataset.results === '5'")
        assert page.locator("#results .result").first.get_attribute("data-id") == "500103-OS-0001"
        assert parse_metres(page.locator("#results .result-distance strong").first.inner_text()) < 5
        assert page.locator("#crs").input_value() == "gcj02"


def test_language_switch_changes_the_visible_text(page):
    page.goto("/")
    wait_for_stations(page)
    assert page.locator("nav.site-nav").inner_text().split() == ["地图", "附近驿站", "覆盖分析", "规划工作台"]
    page.locator(".lang-switch a", has_text="English").click()
    page.wait_for_load_state()
    wait_for_stations(page)
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("nav.site-nav").inner_text().split() == ["Map", "Nearby", "Coverage", "Planner"]
    assert "Outdoor-worker station" in page.locator(".sm-legend").inner_text()
    assert "stations in view" in page.locator(".sm-status").inner_text()
    assert "illustrative sample data" in page.locator("footer").inner_text()
    # The map position survives the switch (it lives in the URL hash).
    page.goto("/#15/29.55900/106.57700")
    wait_for_stations(page)
    page.wait_for_function("() => document.querySelector('.lang-switch a[data-lang=zh]').href.includes('#15/')")
    page.locator(".lang-switch a", has_text="中文").click()
    page.wait_for_load_state()
    wait_for_stations(page)
    assert page.evaluate("stationmapMap.map.getZoom()") == 15
    assert page.locator("nav.site-nav").inner_text().split()[0] == "地图"


def test_coverage_radius_changes_the_table(page):
    page.goto("/coverage")
    page.wait_for_function("() => document.documentElement.dataset.coverage === '1000'", timeout=30_000)
    before = share_of(page, "500103")
    assert page.locator("#coverage-table tbody tr").count() == 38
    assert page.locator("#chart svg rect.bar").count() == 38
    assert page.locator(".leaflet-overlay-pane svg path").count() >= 38  # the choropleth
    page.locator(".radius-form label", has_text="3 公里").click()
    page.wait_for_function("() => document.documentElement.dataset.coverage === '3000'", timeout=30_000)
    after = share_of(page, "500103")
    assert after > before
    # Residents within R sit next to area within R; people cluster, so their share is higher.
    assert share_of(page, "500112", "population_share") > share_of(page, "500112") > 0
    assert "radius_m=3000" in page.locator("#download-csv").get_attribute("href")
    assert "radius_m=3000" in page.locator("#download-gaps").get_attribute("href")
    # Custom radius.
    page.fill("#radius-input", "250")
    page.get_by_role("button", name="应用").click()
    page.wait_for_function("() => document.documentElement.dataset.coverage === '250'", timeout=30_000)
    assert share_of(page, "500103") < before
    # Sorting: click "per 10k residents" twice -> descending then ascending.
    header = page.locator('#coverage-table th[data-key="per_10k_residents"]')
    header.locator("button").click()
    assert header.get_attribute("aria-sort") == "descending"
    values = column_values(page, "per_10k_residents")
    assert values == sorted(values, reverse=True)
    header.locator("button").click()
    assert header.get_attribute("aria-sort") == "ascending"
    values = column_values(page, "per_10k_residents")
    assert values == sorted(values)
    # The gap layer loads when switched on.
    page.locator(".leaflet-control-layers").hover()
    with page.expect_response(re.compile(r"/api/gaps\?radius_m=250")):
        page.locator(".leaflet-control-layers label", has_text="服务空白区").click()


@pytest.mark.parametrize("path,name", [
    ("/", "map"), ("/nearest?lon=106.5770&lat=29.5590", "nearest"), ("/coverage", "coverage"),
    ("/stations/500103-OS-0001", "station"), ("/stations/none", "404"), ("/nearest?lang=en", "nearest-en"),
    ("/coverage?lang=en", "coverage-en"),
])
def test_no_horizontal_overflow_at_360px(browser, live_server, path, name):
    ARTIFACTS.mkdir(exist_ok=True)
    with checked_page(browser, live_server, viewport={"width": 360, "height": 740}, is_mobile=True,
                      has_touch=True, device_scale_factor=2) as (page, _):
        page.goto(path)
        if name == "map":
            wait_for_stations(page)
            page.wait_for_function("() => document.documentElement.dataset.outlines === 'drawn'")
        elif name.startswith("coverage"):
            page.wait_for_function("() => document.documentElement.dataset.coverage === '1000'", timeout=30_000)
        elif name.startswith("nearest") and "lon=" in path:
            page.wait_for_function("() => document.documentElement.dataset.results !== undefined")
        page.wait_for_timeout(300)
        page.screenshot(path=str(ARTIFACTS / f"{name}-360.png"), full_page=name != "map")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{path} is {width}px wide at a 360px viewport"
        # Touch targets: buttons and links in the main content are at least 44 px tall.
        small = page.evaluate("""() => [...document.querySelectorAll('main .btn, .site-nav a, .lang-switch a, .chip span')]
            .filter(el => el.offsetParent !== null)
            .map(el => [el.textContent.trim(), el.getBoundingClientRect().height])
            .filter(([, h]) => h < 38)""")
        assert small == [], f"small touch targets on {path}: {small}"
        # Each menu entry reads on one line ("Coverage" once broke into "Coverag/e").
        wrapped = page.evaluate("""() => [...document.querySelectorAll('.site-nav a')].filter(a => {
            const range = document.createRange(); range.selectNodeContents(a);
            return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size > 1;
        }).map(a => a.textContent.trim())""")
        assert wrapped == [], f"menu entries broken over lines on {path}: {wrapped}"


def test_desktop_screenshots(page):
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto("/")
    wait_for_stations(page)
    page.screenshot(path=str(ARTIFACTS / "map-1280.png"))
    page.goto("/#16/29.55900/106.57700")
    wait_for_stations(page)
    page.locator('.leaflet-marker-pane [data-id="500103-OS-0001"]').click()
    page.locator(".leaflet-popup-content .sm-card").wait_for()
    page.wait_for_timeout(500)  # the map pans to fit the popup
    page.screenshot(path=str(ARTIFACTS / "popup-1280.png"))
    page.goto("/coverage")
    page.wait_for_function("() => document.documentElement.dataset.coverage === '1000'", timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "coverage-1280.png"), full_page=True)


def parse_metres(text: str) -> float:
    number = float(re.search(r"[\d.]+", text.replace(",", "")).group())
    return number * 1000 if ("公里" in text or "km" in text) else number


def share_of(page, adcode: str, key: str = "covered_share") -> float:
    keys = page.locator("#coverage-table thead th").evaluate_all("ths => ths.map(th => th.dataset.key)")
    text = page.locator(f'#coverage-table tbody tr[data-adcode="{adcode}"] > :nth-child({keys.index(key) + 1})').inner_text()
    return float(text.rstrip("%"))


def column_values(page, key: str) -> list[float]:
    keys = page.locator("#coverage-table thead th").evaluate_all("ths => ths.map(th => th.dataset.key)")
    texts = page.locator(f"#coverage-table tbody tr > :nth-child({keys.index(key) + 1})").all_inner_texts()
    return [float(t.replace(",", "")) for t in texts]


def test_a_dense_view_arrives_as_grid_cells_and_a_tap_zooms_in_to_the_stations(browser, grouping_server):
    with checked_page(browser, grouping_server) as (page, recorder):
        page.goto("/")
        wait_for_stations(page)
        # One request, from <head>, with the zoom the map then fitted the municipality at.
        asked = [url for url in recorder.requests if "/api/stations?" in url]
        assert len(asked) == 1 and f"zoom={page.evaluate('stationmapMap.map.getZoom()')}" in asked[0]
        cells = page.locator(".leaflet-marker-pane .sm-cell")
        assert cells.count() >= 1
        assert "已汇总" in page.locator(".sm-status").inner_text()
        # Every active station is counted once: in a cell, or as itself when alone in its cell.
        counts = [int(text.replace(",", "")) for text in cells.all_inner_texts()]
        alone = page.locator(".leaflet-marker-pane .sm-pin").count()
        assert sum(counts) + alone == len([f for f in browser_registry() if f["properties"]["status"] == "active"])
        zoom = page.evaluate("stationmapMap.map.getZoom()")
        # Tapping the biggest cell zooms in on it; close enough, its stations arrive as points.
        biggest = counts.index(max(counts))
        with page.expect_response(re.compile(r"/api/stations\?")):
            cells.nth(biggest).click()
        wait_for_stations(page)
        assert page.evaluate("stationmapMap.map.getZoom()") == zoom + 2
        page.goto("/#16/29.55900/106.57700")
        wait_for_stations(page)
        assert page.locator('.leaflet-marker-pane [data-id="500103-OS-0001"]').count() == 1


@pytest.mark.parametrize("viewport", [{"width": 360, "height": 740}, {"width": 768, "height": 1024},
                                      {"width": 1920, "height": 1080}])
def test_the_first_view_asks_once_for_cells_sized_to_its_zoom(browser, grouping_server, viewport):
    with checked_page(browser, grouping_server, viewport=viewport) as (page, recorder):
        page.goto("/")
        wait_for_stations(page)
        asked = [url for url in recorder.requests if "/api/stations?" in url]
        zoom = page.evaluate("stationmapMap.map.getZoom()")
        # At most one level coarser than the map (the estimate errs that way), never finer.
        assert len(asked) == 1, asked
        assert int(asked[0].split("zoom=")[1].split("&")[0]) in (zoom, zoom - 1)
