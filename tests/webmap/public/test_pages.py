"""HTML pages (webmap.public.pages), languages (webmap.core.i18n), base maps (webmap.core.mapbuild) and asset vendoring.

Flask test client only; the real-browser checks are in tests/browser/.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import folium
import pytest

from geo.coords import from_wgs84
from geo.registry import dump_feature_collection
from tests.conftest import DISTRICTS_PATH, SMALL_REGISTRY, make_station

ROOT = Path(__file__).resolve().parents[3]
PAGES = ("/", "/nearest", "/coverage", "/stations/500103-OS-0001")
XSS_NAME = "<img src=x onerror=alert(1)>"
XSS_ADDRESS = "${alert(1)}`+alert(2)+`</script><script>alert(3)</script>"


def make_app(tmp_path, features=SMALL_REGISTRY, **config):
    from webmap import create_app

    path = tmp_path / "stations.geojson"
    path.write_bytes(dump_feature_collection(features))
    settings = {
        "TESTING": True, "REGISTRY_PATH": str(path), "DISTRICTS_PATH": str(DISTRICTS_PATH), "SECRET_KEY": "test",
        "TILE_PROVIDER": "none", "ACCOUNTS_PATH": str(tmp_path / "accounts.json"),
        "SECRET_KEY_FILE": str(tmp_path / "secret_key"),
    }
    settings.update(config)
    return create_app(settings)


@pytest.fixture
def xss_client(tmp_path):
    evil = make_station("500103-OS-0009", 106.5752, 29.5581, name=XSS_NAME)
    evil["properties"]["address"] = XSS_ADDRESS
    evil["properties"]["operator"] = "<b>operator</b>"
    return make_app(tmp_path, SMALL_REGISTRY + [evil]).test_client()


class ScriptCollector(HTMLParser):
    """Collects <script> elements (attrs + body) and every attribute name, to check what the page would run."""

    def __init__(self):
        super().__init__()
        self.scripts: list[tuple[dict, str]] = []
        self.attribute_names: set[str] = set()
        self._current = None

    def handle_starttag(self, tag, attrs):
        self.attribute_names.update(name for name, _ in attrs)
        if tag == "script":
            self._current = (dict(attrs), [])

    def handle_data(self, data):
        if self._current is not None:
            self._current[1].append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._current is not None:
            self.scripts.append((self._current[0], "".join(self._current[1])))
            self._current = None


def parse(html: str) -> ScriptCollector:
    collector = ScriptCollector()
    collector.feed(html)
    return collector


# -- every page -------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_page_renders_in_chinese_by_default(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert "驿站图" in html and "中文" in html and "English" in html  # the language switch
    assert "示意样例数据" in html  # footer: sample data
    assert re.search(r"<title>[^<]+ · 驿站图</title>", html)


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_nothing_from_outside_and_runs_only_nonced_scripts(client, path):
    response = client.get(path)
    html = response.get_data(as_text=True)
    csp = response.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert "script-src 'self' 'nonce-" in csp and "unsafe-inline" not in csp.split("style-src")[0]
    page = parse(html)
    for attrs, body in page.scripts:
        if "src" in attrs:
            assert attrs["src"].startswith("/static/"), attrs["src"]
        elif attrs.get("type") == "application/json":
            json.loads(body)  # inert data
        else:
            assert attrs.get("nonce") == nonce
    assert not any(name.startswith("on") for name in page.attribute_names), "inline event handler"
    for link in re.findall(r'<link[^>]+href="([^"]+)"', html):
        assert link.startswith("/static/"), link
    # (the nonce is random text: it may spell "cdn", so it is taken out first)
    assert not re.search(r"cdn|unpkg|jsdelivr|bootstrapcdn|googleapis|cloudflare", html.replace(nonce, ""), re.I)


def test_pages_are_compressed_when_the_browser_accepts_gzip(client):
    plain = client.get("/")
    packed = client.get("/", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert len(packed.data) < len(plain.data) / 2
    leaflet = client.get("/static/vendor/leaflet/leaflet.js", headers={"Accept-Encoding": "gzip"})
    assert leaflet.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(leaflet.data).startswith(b"/*")
    again = client.get("/static/vendor/leaflet/leaflet.js",
                       headers={"Accept-Encoding": "gzip", "If-None-Match": leaflet.headers["ETag"]})
    assert again.status_code == 304


# -- languages --------------------------------------------------------------------------


def test_language_switch_sets_cookie_and_sticks(client):
    english = client.get("/nearest?lang=en")
    html = english.get_data(as_text=True)
    assert '<html lang="en">' in html and "Use my location" in html and "Nearby stations" in html
    assert "lang=en" in english.headers["Set-Cookie"]
    # The choice is remembered without the parameter...
    later = client.get("/coverage").get_data(as_text=True)
    assert '<html lang="en">' in later and "Share within R" in later
    # ...and can be switched back.
    assert "使用我的位置" in client.get("/nearest?lang=zh").get_data(as_text=True)
    assert "使用我的位置" in client.get("/nearest").get_data(as_text=True)


def test_unknown_language_falls_back_to_chinese(client):
    html = client.get("/?lang=fr").get_data(as_text=True)
    assert '<html lang="zh-CN">' in html


def test_language_links_keep_query_arguments(client):
    html = client.get("/coverage?radius_m=3000").get_data(as_text=True)
    links = re.findall(r'<a href="([^"]+)" lang="en"', html)
    assert links and "radius_m=3000" in links[0] and "lang=en" in links[0]


def test_every_script_string_exists_in_the_catalogue():
    from geo.messages import has_message
    from webmap.core.i18n import JS_KEYS, PLANNER_JS_KEYS

    missing = [key for key in (*JS_KEYS, *PLANNER_JS_KEYS) if not has_message(key)]
    assert not missing


# -- station page -----------------------------------------------------------------------


def test_station_page_shows_the_station_and_navigation_links(client):
    html = client.get("/stations/500103-OS-0001").get_data(as_text=True)
    assert "测试驿站0001" in html
    assert "重庆市渝中区测试路01号" in html
    assert "https://uri.amap.com/navigation?to=106.577000,29.559000,%E6%B5%8B%E8%AF%95" in html
    assert "mode=walk&amp;policy=1&amp;coordinate=wgs84&amp;callnative=1" in html
    assert "mode=ride&amp;" in html
    assert "https://api.map.baidu.com/direction?destination=latlng:29.559000,106.577000|name:%E6%B5%8B" in html
    assert 'href="geo:29.559000,106.577000?q=29.559000,106.577000"' in html
    assert 'href="tel:02363000000"' in html
    assert "openstreetmap.org/?mlat=29.559000&amp;mlon=106.577000" in html
    assert "全国最美工会户外劳动者服务站" in html  # honour label
    assert "营业中" in html  # 24/7
    hours = html[html.index('id="hours-text"'):]
    assert hours[:hours.index("</dd>")].count("24 小时营业") == 1  # the hours, not again as their status


def test_station_page_in_english(client):
    html = client.get("/stations/500103-OS-0001?lang=en").get_data(as_text=True)
    assert "Walk there (Amap)" in html and "Opening hours" in html and "Yuzhong" in html
    assert "Open 24 hours" in html and "Last verified: 2024-01-01" in html


def test_retired_station_page_says_so(client):
    html = client.get("/stations/500103-OS-0004").get_data(as_text=True)
    assert "该站点已撤销" in html


def test_unknown_station_is_a_404_page(client):
    response = client.get("/stations/500103-OS-9999")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "找不到这个页面或站点" in html and "返回首页地图" in html
    assert "Content-Security-Policy" in response.headers
    english = client.get("/stations/nope?lang=en")
    assert english.status_code == 404 and "This page or station does not exist." in english.get_data(as_text=True)


def test_station_page_escapes_html_and_template_literals(xss_client):
    response = xss_client.get("/stations/500103-OS-0009")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert XSS_NAME not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script>alert(3)</script>" not in html
    assert "&lt;b&gt;operator&lt;/b&gt;" in html
    # Station text never reaches a script: not folium's, not the config.
    for attrs, body in parse(html).scripts:
        assert "alert(" not in body, attrs
    # The Amap link carries the name URL-encoded.
    assert "to=106.5" in html and "%3Cimg+src%3Dx+onerror%3Dalert%281%29%3E" in html


def test_nearest_list_escapes_names(xss_client):
    html = xss_client.get("/nearest?lon=106.5752&lat=29.5581").get_data(as_text=True)
    assert XSS_NAME not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    for _, body in parse(html).scripts:
        assert "alert(" not in body


def test_map_page_contains_no_station_text(xss_client):
    html = xss_client.get("/").get_data(as_text=True)
    assert "alert(" not in html and "测试驿站" not in html


# -- nearest page -----------------------------------------------------------------------


def test_nearest_without_a_point_asks_for_one(client):
    html = client.get("/nearest").get_data(as_text=True)
    assert "使用我的位置" in html and "请先定位" in html
    assert 'id="results"' in html


def test_nearest_renders_results_sorted_by_distance_without_javascript(client):
    html = client.get("/nearest?lon=106.5770&lat=29.5590&k=5").get_data(as_text=True)
    ids = re.findall(r'<li class="result" data-id="([^"]+)"', html)
    assert ids[0] == "500103-OS-0001" and len(ids) == 5
    assert "500103-OS-0004" not in ids  # retired
    distances = [float(d) * (1000 if unit == "公里" else 1)
                 for d, unit in re.findall(r"<strong>直线 ([\d.]+) (米|公里)</strong>", html)]
    assert len(distances) == 5 and distances == sorted(distances)


def test_nearest_filters_and_gcj02_input(client):
    html = client.get("/nearest?lon=106.5770&lat=29.5590&kind=bookshelf").get_data(as_text=True)
    assert re.findall(r'data-id="([^"]+)"', html)[:2] == ["500103-BS-0001", "500112-BS-0001"]
    lon, lat = from_wgs84(106.5770, 29.5590, "gcj02")
    html = client.get(f"/nearest?lon={lon}&lat={lat}&crs=gcj02&k=1").get_data(as_text=True)
    assert re.findall(r'data-id="([^"]+)"', html) == ["500103-OS-0001"]
    assert ">直线 0 米<" in html or ">直线 1 米<" in html
    assert "步行约 1 分钟" in html  # never 0 minutes


def test_nearest_reports_bad_coordinates(client):
    response = client.get("/nearest?lon=abc&lat=29.5")
    assert response.status_code == 200
    assert "“abc”不是数字" in response.get_data(as_text=True)


# -- coverage page ----------------------------------------------------------------------


def test_coverage_page_has_radius_choices_table_and_downloads(client):
    html = client.get("/coverage?radius_m=3000").get_data(as_text=True)
    assert 'value="3000" checked' in html
    assert "/api/coverage.csv?radius_m=3000&amp;lang=zh" in html
    assert "/api/gaps?radius_m=3000" in html
    assert 'id="coverage-table"' in html and "每万人站点数" in html


def test_coverage_page_ignores_a_bad_radius(client):
    html = client.get("/coverage?radius_m=-5").get_data(as_text=True)
    assert 'value="1000" checked' in html


# -- tiles and coordinate systems -----------------------------------------------------------


def test_osm_tiles_and_csp_allow_the_tile_host(tmp_path):
    response = make_app(tmp_path, TILE_PROVIDER="osm").test_client().get("/")
    assert "https://tile.openstreetmap.org/{z}/{x}/{y}.png" in response.get_data(as_text=True)
    assert "img-src 'self' data: https://tile.openstreetmap.org" in response.headers["Content-Security-Policy"]


def test_tianditu_needs_a_key(tmp_path):
    without = make_app(tmp_path, TILE_PROVIDER="tianditu", TIANDITU_KEY="").test_client().get("/")
    assert "tianditu.gov.cn" not in without.get_data(as_text=True)
    with_key = make_app(tmp_path, TILE_PROVIDER="tianditu", TIANDITU_KEY="k&y").test_client().get("/?lang=en")
    html = with_key.get_data(as_text=True)
    assert "vec_w/wmts" in html and "eva_w/wmts" in html and "tk=k%26y" in html
    assert "https://*.tianditu.gov.cn" in with_key.headers["Content-Security-Policy"]


def test_amap_shifts_outlines_and_markers_to_gcj02(tmp_path, districts):
    from webmap.core import mapbuild

    plain = mapbuild.outline_collection(districts, crs="wgs84")
    shifted = mapbuild.outline_collection(districts, crs="gcj02")

    def first_point(fc):
        coords = fc["features"][0]["geometry"]["coordinates"]
        while isinstance(coords[0], list):
            coords = coords[0]
        return coords

    (x0, y0), (x1, y1) = first_point(plain), first_point(shifted)
    gx, gy = from_wgs84(x0, y0, "gcj02")
    assert abs(x1 - gx) < 2e-4 and abs(y1 - gy) < 2e-4 and abs(x1 - x0) > 1e-3

    app = make_app(tmp_path, TILE_PROVIDER="amap")
    client = app.test_client()
    html = client.get("/stations/500103-OS-0001").get_data(as_text=True)
    glon, glat = from_wgs84(106.5770, 29.5590, "gcj02")
    assert f"[{glat}, {glon}]" in html  # the marker is drawn in GCJ-02
    assert "autonavi.com" in html
    config = json.loads(re.search(r'<script type="application/json" id="sm-config">(.*?)</script>', html).group(1))
    assert config["displayCrs"] == "gcj02"
    # ...but the navigation links stay WGS-84, as coordinate=wgs84 says.
    assert "to=106.577000,29.559000" in html


def test_folium_defaults_are_not_changed_for_other_maps(tmp_path):
    before_js, before_css = list(folium.Map.default_js), list(folium.Map.default_css)
    make_app(tmp_path, TILE_PROVIDER="osm").test_client().get("/")
    assert folium.Map.default_js == before_js and folium.Map.default_css == before_css


def test_district_outlines_are_served_cacheable_and_in_the_map_crs(tmp_path):
    client = make_app(tmp_path, TILE_PROVIDER="osm").test_client()
    response = client.get("/map/districts.geojson")
    assert response.status_code == 200 and response.mimetype == "application/geo+json"
    data = response.get_json()
    assert len(data["features"]) == 38 and data["features"][0]["properties"]["name"].endswith(("区", "县"))
    assert "max-age" in response.headers["Cache-Control"]
    again = client.get("/map/districts.geojson", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    english = client.get("/map/districts.geojson?lang=en").get_json()
    assert english["features"][0]["properties"]["name"].isascii()
    amap = make_app(tmp_path, TILE_PROVIDER="amap").test_client().get("/map/districts.geojson").get_json()
    first = data["features"][0]["geometry"]["coordinates"][0][0]
    shifted = amap["features"][0]["geometry"]["coordinates"][0][0]
    while isinstance(first[0], list):
        first, shifted = first[0], shifted[0]
    gx, gy = from_wgs84(first[0], first[1], "gcj02")
    assert abs(shifted[0] - gx) < 2e-4 and abs(shifted[1] - gy) < 2e-4


def test_map_pages_stay_small(client):
    for path in ("/", "/nearest"):
        assert len(client.get(path).data) < 40_000, path


def test_overview_outlines_are_small(client, districts):
    from webmap.core import mapbuild

    outlines = json.dumps(mapbuild.outline_collection(districts), separators=(",", ":"))
    assert len(outlines) < 300_000
    assert len(mapbuild.outline_collection(districts)["features"]) == len(districts)


# -- vendored assets ----------------------------------------------------------------------


def test_vendor_assets_fails_loudly_when_a_file_is_missing(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import vendor_assets
    finally:
        sys.path.pop(0)
    modules = tmp_path / "node_modules"
    for package, files in vendor_assets.FILES.items():
        (modules / package).mkdir(parents=True)
        (modules / package / "package.json").write_text(json.dumps({"version": "1.9.4"}))
        for src, _ in files[:1]:
            (modules / package / src).parent.mkdir(parents=True, exist_ok=True)
            (modules / package / src).write_text("x")
    pins = tmp_path / "package.json"
    pins.write_text(json.dumps({"dependencies": {"leaflet": "1.9.4"}}))
    dest = tmp_path / "vendor"
    status = vendor_assets.main(["--node-modules", str(modules), "--dest", str(dest), "--package-json", str(pins)])
    assert status == 1
    err = capsys.readouterr().err
    assert "leaflet.css: missing" in err and not dest.exists()


def test_vendored_files_are_present():
    vendor = ROOT / "webmap" / "static" / "vendor"
    for rel in ("leaflet/leaflet.js", "leaflet/leaflet.css", "leaflet/images/layers.png",
                "leaflet.markercluster/leaflet.markercluster.js", "leaflet.markercluster/MarkerCluster.css"):
        assert (vendor / rel).is_file(), f"{rel} missing: run `npm ci && python scripts/vendor_assets.py`"


def test_api_answers_set_no_language_cookie(client):
    assert "Set-Cookie" not in client.get("/api/vocabulary?lang=en").headers
    assert "lang" in client.get("/nearest?lang=en").headers.get("Set-Cookie", "")
