"""No English on a Chinese page: every page, every API error of the hostile-parameter and hostile-body
batteries, the exports and the chart words, rendered in Chinese, show no untranslated English.

What may stay Latin: proper nouns and codes (WGS-84, GCJ-02, OSM, CSV, GeoJSON …), parameter names and
vocabulary codes (they are what a program sends), the user's own input quoted back, ids, URLs, numbers
and units."""

from __future__ import annotations

import io
import json
import re
from html.parser import HTMLParser

import pytest

from geo import schema
from geo.messages import LANGS
from geo.reports.model import CODE_ALPHABET, CODE_LENGTH
from tests.portal_helpers import ACCOUNTS, bearer
from tests.webmap.planner.test_planner import BAD as PLANNER_BAD
from tests.webmap.portal.test_portal import OWN, PATCH_CASES
from tests.webmap.public.test_api import ERRORS as API_ERRORS

pytest_plugins = ("tests.portal_fixtures",)

PROPER = {
    "WGS-84", "GCJ-02", "BD-09", "OSM", "OpenStreetMap", "CSV", "XLSX", "GeoJSON", "GeoTIFF", "JSON", "API", "SVG", "PNG",
    "UTF-8", "UTF-16", "GB18030", "BOM", "ISO", "HTTP", "URL", "Leaflet", "CBC", "MCLP", "PuLP", "NaN", "Infinity", "HH:MM",
    "X-CSRFToken", "Bearer", "Authorization", "Content-Type", "application/json", "multipart", "FeatureCollection", "Feature",
    "Point", "SHA-256", "POST", "GET", "Excel", "xlsx", "xls", "csv", "geojson", "json", "RFC", "CSRF", "km", "wgs84",
    "gcj02", "bd09", "Mo-Fr", "Sa", "Su", "StationMap", "Tianditu", "Amap", "OS", "English", "JavaScript", "GPS", "PDF",
    "exp", "true", "false", "null", "DELETE", "PATCH", "PUT",
}
CODES = set().union(schema.KINDS, schema.AMENITIES, schema.HONOURS, schema.STATUSES, schema.INPUT_CRS, LANGS)
WORD = re.compile(r"[A-Za-z][A-Za-z_\-]{2,}")
QUOTED = re.compile(r"'[^']*'|“[^”]*”|\"[^\"]*\"|`[^`]*`|<[^>]*>")
URLISH = re.compile(r"(?:https?://|/)[\w./?=&%:{}<>-]*")
STATION_ID = re.compile(r"\d{6}-[A-Z]{2}-\d{4}")
# a report's receipt code: eight of its alphabet, digits or not (UCRBMBYQ is a code, not a word)
REPORT_CODE = re.compile(rf"(?<![A-Za-z0-9])[{CODE_ALPHABET}]{{{CODE_LENGTH}}}(?![A-Za-z0-9])")
# Lists of codes a program may send: "可选：full, min", "可用参数：bbox, kind", "可用字段：name, address".
CODE_LIST = re.compile(r"(?:可选|可用参数|可用字段|可用的列名)：[\w ,、./-]*")


def english_in(text: str, allowed=()) -> list[str]:
    """Latin words that are neither a proper noun, a code, nor the user's own (quoted) input."""
    text = CODE_LIST.sub(" ", URLISH.sub(" ", STATION_ID.sub(" ", REPORT_CODE.sub(" ", QUOTED.sub(" ", text)))))
    for term in sorted(PROPER | set(allowed), key=len, reverse=True):
        text = re.sub(rf"(?<![A-Za-z]){re.escape(term)}(?![A-Za-z])", " ", text)
    return [w for w in WORD.findall(text) if w not in CODES and "_" not in w]


class VisibleText(HTMLParser):
    """Text a person reads: element text outside scripts and styles, and the labels in attributes."""

    def __init__(self):
        super().__init__()
        self.parts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in ("title", "aria-label", "placeholder", "alt") and value:
                self.parts.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.parts.append(data.strip())


def page_words(html: str) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    config = re.search(r'<script id="sm-config" type="application/json"[^>]*>(.*?)</script>', html, re.S)
    strings = list(json.loads(config[1]).get("strings", {}).values()) if config else []
    return english_in("\n".join(parser.parts + strings), ACCOUNTS)


PUBLIC_PAGES = ["/", "/nearest", "/nearest?lon=106.55&lat=29.56", "/coverage", "/stations/500103-OS-0001", "/planner",
                "/planner/report/500103", "/login", "/no-such-page"]
PORTAL_PAGES = [("yuzhong", "/portal/stations"), ("yuzhong", "/upload"), ("yuzhong", f"/portal/stations/{OWN}/edit"),
                ("yuzhong", f"/portal/stations/{OWN}/retire"), ("admin", "/portal/audit"), ("yuzhong", "/logout")]


def test_every_page_in_chinese(anon, signed_in):
    leaks = {}
    for url in PUBLIC_PAGES:
        response = anon.get(url + ("&" if "?" in url else "?") + "lang=zh")
        assert response.status_code in (200, 404), url
        leaks[url] = page_words(response.get_data(as_text=True))
    clients = {}
    for who, url in PORTAL_PAGES:
        client = clients.setdefault(who, signed_in(who))
        response = client.get(url + "?lang=zh")
        assert response.status_code == 200, url
        leaks[url] = page_words(response.get_data(as_text=True))
    assert {url: words for url, words in leaks.items() if words} == {}


def error_words(body: dict, url: str) -> list[str]:
    names = set(re.findall(r"[?&]([a-z_]+)=", url)) | {"lon", "lat", "minlon", "minlat", "maxlon", "maxlat", "k", "method"}
    found = []
    for error in body["errors"]:
        for key in ("where", "message", "hint"):
            found += english_in(str(error.get(key) or ""), names)
    return found


def test_every_hostile_parameter_error_in_chinese(anon):
    leaks = {}
    for url in [e[0] for e in API_ERRORS] + [b[0] for b in PLANNER_BAD]:
        response = anon.get(url, headers={"Accept-Language": "zh-CN"})
        assert response.status_code >= 400, url
        leaks[url] = error_words(response.get_json(), url)
    assert {url: words for url, words in leaks.items() if words} == {}


def test_every_hostile_body_error_in_chinese(anon, tokens):
    leaks = {}
    for case, raw, content_type, *_ in PATCH_CASES:
        response = anon.patch(f"/api/stations/{OWN}?lang=zh", data=raw, content_type=content_type,
                              headers=bearer(tokens["yuzhong"]))
        assert response.status_code >= 400, case
        leaks[case] = error_words(response.get_json(), "?lang=zh")
    assert {case: words for case, words in leaks.items() if words} == {}


def test_finder_and_planner_errors_in_chinese(anon):
    """The two leaks users met: the finder's ``lat must be between -90 and 90`` and the planner's CSV row errors."""
    finder = anon.get("/api/nearest?lon=106.5&lat=-91", headers={"Accept-Language": "zh"}).get_json()
    assert finder["errors"][0]["message"] == "lat 必须在 -90 到 90 之间，而不是 '-91'"
    planner = anon.post("/api/plan", data={"candidates": (io.BytesIO(b"name,lon,lat\nA,abc,29.5\n"), "c.csv")},
                        headers={"Accept-Language": "zh"}).get_json()
    assert [e["where"] for e in planner["errors"]][0] == "第 2 行，lon列"
    assert error_words(planner, "") == []


def test_plan_exports_and_notes_in_chinese(anon):
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(anon.get("/api/plan.xlsx?new=2&district=500103&lang=zh").get_data()))
    words = list(book.sheetnames)
    for sheet in book.worksheets:
        words += [str(c.value) for c in next(sheet.iter_rows(max_row=1))]
    summary = book.worksheets[-1]
    words += [str(row[0].value) for row in summary.iter_rows(min_row=2)]
    assert english_in("\n".join(words)) == []
    csv_text = anon.get("/api/plan.csv?new=2&district=500103&lang=zh").get_data().decode("utf-8-sig")
    assert english_in(csv_text.splitlines()[0]) == []
    coverage_csv = anon.get("/api/coverage.csv?lang=zh").get_data().decode("utf-8-sig")
    assert english_in(coverage_csv.splitlines()[0]) == []
    body = anon.get("/api/population-coverage?radius_m=1000", headers={"Accept-Language": "zh"}).get_json()
    assert english_in(body["population_source"]) == []  # the planner's population note


@pytest.mark.slow
def test_chart_words_in_chinese():
    from geo.messages import catalogue
    from geo.planning.charts import ChartWords

    keys = [k.removeprefix("chart.") for k in catalogue("zh")._catalog if isinstance(k, str) and k.startswith("chart.")]
    assert keys and english_in("\n".join(ChartWords("zh")[k] for k in keys)) == []


def test_a_missing_registry_says_so_in_chinese(tmp_path, districts):
    from geo.errors import RegistryUnavailableError
    from geo.messages import localise, message_of
    from geo.registry.filestore import GeoJSONFileStore

    with pytest.raises(RegistryUnavailableError) as caught:
        GeoJSONFileStore(tmp_path / "missing.geojson", districts)
    assert "registry file not found" in str(caught.value)
    assert english_in(localise(message_of(caught.value), "zh"), [str(tmp_path)]) == []


def test_report_pages_queue_and_listing_in_chinese(anon, signed_in):
    """Issue 12/13 surfaces: the rider's report form and receipt, the clerk's queue, a report, the verify list and 上图."""
    code = anon.post("/api/reports", json={"station_id": OWN, "category": "closed", "note": "下午没人"}).get_json()["code"]
    leaks = {}
    for url in (f"/stations/{OWN}/report", f"/reports/{code}"):
        response = anon.get(url + "?lang=zh")
        assert response.status_code == 200, url
        leaks[url] = page_words(response.get_data(as_text=True))
    clerk = signed_in("yuzhong")
    for url in ("/portal/reports", f"/portal/reports/{code}", "/portal/verify", f"/portal/stations/{OWN}/listing"):
        response = clerk.get(url + "?lang=zh")
        assert response.status_code == 200, url
        leaks[url] = page_words(response.get_data(as_text=True))
    assert {url: words for url, words in leaks.items() if words} == {}


@pytest.mark.slow
def test_coverage_and_listing_exports_in_chinese(anon, signed_in):
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(anon.get("/api/population-coverage.xlsx?radius_m=1000&lang=zh").get_data()))
    words = list(book.sheetnames)
    for sheet in book.worksheets:
        words += [str(c.value) for c in next(sheet.iter_rows(max_row=1))]
    words += [str(row[0].value) for row in book.worksheets[-1].iter_rows(min_row=2)]  # the 说明 sheet's labels
    coverage_csv = anon.get("/api/population-coverage.csv?radius_m=1000&lang=zh").get_data().decode("utf-8-sig")
    words += [line for line in coverage_csv.splitlines() if line.startswith("#")] + coverage_csv.splitlines()[:1]
    clerk = signed_in("yuzhong")
    for platform in ("amap", "baidu"):
        listing = load_workbook(io.BytesIO(clerk.get(f"/portal/listing/{platform}.xlsx").get_data()))
        words += list(listing.sheetnames) + [str(c.value) for c in next(listing.active.iter_rows(max_row=1))]
    assert english_in("\n".join(words)) == []


def test_a_receipt_code_of_letters_only_is_not_english():
    """A code drawn without a digit (it happens one time in ~20) is still a code; a word is still a word."""
    assert english_in("回执码UCRBMBYQ，请保存") == []
    assert english_in("回执码 UCRBMBYQ Report") == ["Report"]
