"""The planners' workbench in headless Chromium: pick a district, run a plan, see the proposals on the map and
in the list, download the CSV; uploaded candidate names stay text; 360 px works; the report prints on A4.
"""

from __future__ import annotations

import csv
import io
import json
import re
from urllib.request import urlopen

import pytest

from tests.browser.conftest import ARTIFACTS, XSS_NAME, PageRecorder, attach, open_context

pytestmark = pytest.mark.browser

YUBEI, YUZHONG = "500112", "500103"
PLAN_TIMEOUT = 120_000   # the machine is shared; a greedy district plan normally takes seconds


def wait_for_coverage(page):
    page.wait_for_function("() => document.documentElement.dataset.coverage === 'ready'", timeout=PLAN_TIMEOUT)


def run_plan(page, district: str, n: int):
    page.select_option("#district-select", district)
    wait_for_coverage(page)
    page.fill("#new-input", str(n))
    page.click("#run-plan")
    page.wait_for_function("() => document.documentElement.dataset.plan === 'ready' || document.documentElement.dataset.plan === 'failed'",
                           timeout=PLAN_TIMEOUT)
    assert page.evaluate("document.documentElement.dataset.plan") == "ready", page.locator("#planner-status").inner_text()


def test_plan_a_district_and_download_the_csv(page, live_server):
    page.goto("/planner")
    wait_for_coverage(page)
    assert page.locator("h1").inner_text() == "规划工作台"
    assert page.locator("#planner-table tbody tr").count() == 38
    run_plan(page, YUBEI, 5)

    proposals = page.locator("#proposal-list li")
    assert proposals.count() == 5
    assert page.locator("#proposal-list .proposal-rank").all_inner_texts() == ["1", "2", "3", "4", "5"]
    markers = page.locator(".leaflet-marker-pane .pl-site")
    assert markers.count() == 5
    assert sorted(markers.all_inner_texts()) == ["1", "2", "3", "4", "5"]
    page.wait_for_function("() => document.documentElement.dataset.outlines === 'drawn'")
    assert page.locator(".leaflet-overlay-pane svg path").count() > 38   # outlines, gap cells, circles
    assert page.locator("#planner-table tbody tr.is-selected th").inner_text() == "渝北区"
    assert "规划后覆盖率" in page.locator("#planner-table thead").inner_text()
    page.wait_for_function("() => document.getElementById('chart-plan').complete && document.getElementById('chart-plan').naturalWidth > 0",
                           timeout=PLAN_TIMEOUT)

    # The list agrees with the API's plan for the same parameters.
    with urlopen(f"{live_server.url}/api/plan?new=5&district={YUBEI}") as response:  # noqa: S310 - our own server
        plan = json.load(response)
    added = [f"新增覆盖 {round(s['residents_added']):,} 人" for s in plan["sites"]]
    assert page.locator("#proposal-list .proposal-added strong").all_inner_texts() == added

    with page.expect_download() as download_info:
        page.click("#download-csv")
    download = download_info.value
    assert download.suggested_filename == f"stationmap-plan-{YUBEI}-5-1200m.csv"
    data = open(download.path(), "rb").read()
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert "# 服务半径: 1200 米" in text        # where the numbers come from, before the table
    rows = list(csv.reader(io.StringIO("\n".join(line for line in text.splitlines() if not line.startswith("#")))))
    assert len(rows) == 1 + 5 and rows[0][:4] == ["序号", "名称", "区县", "附近街道/镇"]
    assert [row[0] for row in rows[1:]] == ["1", "2", "3", "4", "5"]
    assert [row[1] for row in rows[1:]] == [s["name"] for s in plan["sites"]]


def sign_in_as_planner(page, live_server) -> None:
    """Exact solves are for signed-in planners (an exact plan already solved is open to all)."""
    accounts = live_server.server.app.extensions["stationmap_accounts"]
    if "browser-planner" not in {u.name for u in accounts.list()}:  # the server lives for the session
        accounts.add("browser-planner", "planner")
        accounts.set_password("browser-planner", "browser planner password")
    page.goto("/login")
    page.fill("#username", "browser-planner")
    page.fill("#password", "browser planner password")
    page.click("button[type=submit]")
    page.wait_for_load_state()


def test_reload_and_shared_link_reproduce_the_plan(page, live_server, browser):
    """Issue 13: the URL holds the settings; reloading it, or opening it in a new tab, shows the same plan."""
    sign_in_as_planner(page, live_server)
    page.goto("/planner")
    wait_for_coverage(page)
    page.check('input[name="method"][value="exact"]')
    page.fill("#time-limit-input", "30")
    run_plan(page, YUZHONG, 3)
    url = page.url
    assert "plan=1" in url and f"district={YUZHONG}" in url and "new=3" in url and "method=exact" in url
    names = page.locator("#proposal-list .proposal-name").all_inner_texts()
    added = page.locator("#proposal-list .proposal-added strong").all_inner_texts()
    assert names and all("渝中区" in n for n in names)

    page.reload()
    page.wait_for_function("() => document.documentElement.dataset.plan === 'ready'", timeout=PLAN_TIMEOUT)
    assert page.url == url
    assert page.locator("#proposal-list .proposal-name").all_inner_texts() == names
    assert page.locator("#proposal-list .proposal-added strong").all_inner_texts() == added
    assert page.locator("#district-select").input_value() == YUZHONG
    assert page.locator('input[name="method"][value="exact"]').is_checked()

    shared = open_context(browser, live_server).new_page()
    shared.goto(url)
    shared.wait_for_function("() => document.documentElement.dataset.plan === 'ready'", timeout=PLAN_TIMEOUT)
    assert shared.locator("#proposal-list .proposal-name").all_inner_texts() == names
    shared.context.close()

    # Changing a plan setting updates the URL and drops plan=1 until the new plan is run.
    page.fill("#new-input", "2")
    page.dispatch_event("#new-input", "change")
    page.wait_for_function("() => location.search.indexOf('new=2') >= 0")
    assert "plan=1" not in page.url


def test_uploaded_candidate_names_are_text(page, tmp_path):
    hosts = tmp_path / "hosts.csv"
    # Two places in 渝中 that existing stations do not reach, so both are chosen.
    hosts.write_text(f"name,lon,lat\n\"{XSS_NAME}\",106.5350,29.5520\n`${{alert(2)}}`,106.5200,29.5420\n", encoding="utf-8")
    page.goto("/planner")
    wait_for_coverage(page)
    page.set_input_files("#candidates-input", str(hosts))
    assert page.locator("#candidates-input-chosen").inner_text() == hosts.name  # the name, not the browser's text
    run_plan(page, YUZHONG, 2)
    names = page.locator("#proposal-list .proposal-name").all_inner_texts()
    assert names == [XSS_NAME, "`${alert(2)}`"]
    assert page.locator('img[src="x"]').count() == 0
    page.locator(".leaflet-marker-pane .pl-site").first.hover()
    page.wait_for_timeout(300)  # any injected handler would fire now (the fixture fails on dialogs)


def test_exact_method_compares_with_greedy(page, live_server):
    sign_in_as_planner(page, live_server)
    page.goto("/planner")
    wait_for_coverage(page)
    page.check('input[name="method"][value="both"]', force=True)
    page.fill("#time-limit-input", "20")
    run_plan(page, YUZHONG, 2)
    compare = page.locator(".pl-compare").inner_text()
    assert "贪心" in compare and "精确 MCLP" in compare


def test_english_and_the_hour_filter(page):
    page.goto("/planner?lang=en")
    wait_for_coverage(page)
    assert page.locator("h1").inner_text() == "Planners' workbench"
    all_day = page.locator(".pl-figure-stations dd").inner_text()
    page.check('input[name="hours"][value="at"]', force=True)
    page.fill("#at-input", "03:00")
    page.locator("#at-input").dispatch_event("change")
    page.wait_for_function("() => location.search.includes('at=03%3A00') || location.search.includes('at=03:00')")
    page.wait_for_function("() => (document.querySelector('.pl-at-note') || {}).textContent")
    wait_for_coverage(page)
    # The figure states the day it was computed for, not only the hour.
    assert re.search(r"Stations open at (Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{4}-\d{2}-\d{2} 03:00 only",
                     page.locator("#summary").inner_text())
    assert int(page.locator(".pl-figure-stations dd").inner_text()) < int(all_day)


def test_360px_after_a_plan(browser, live_server):
    recorder = PageRecorder()
    context = open_context(browser, live_server, viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        attach(page, recorder)
        page.goto("/planner")
        wait_for_coverage(page)
        run_plan(page, YUZHONG, 3)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{overflow}px wider than the screen"
        small = page.evaluate("""() => [...document.querySelectorAll('#plan-form .chip span, #run-plan, .proposal-rank')]
            .filter(e => e.getBoundingClientRect().height < 40).map(e => e.textContent)""")
        assert small == [], f"touch targets under 40px: {small}"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "planner-360.png"), full_page=True)
        assert recorder.errors == [] and recorder.dialogs == [] and recorder.outside_requests() == []
    finally:
        context.close()


def test_desktop_screenshot(page):
    page.goto(f"/planner?district={YUBEI}")
    wait_for_coverage(page)
    run_plan(page, YUBEI, 8)
    page.wait_for_function("() => [...document.querySelectorAll('.pl-charts img:not([hidden])')].every(i => i.complete && i.naturalWidth > 0)",
                           timeout=PLAN_TIMEOUT)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "planner-desktop.png"), full_page=True)


def test_report_prints_on_a4(page):
    page.goto(f"/planner/report/{YUBEI}?new=4")
    assert page.locator("h1").inner_text() == "渝北区驿站服务覆盖报告"
    page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)", timeout=PLAN_TIMEOUT)
    assert page.locator(".rm-sites text").count() == 4
    page.emulate_media(media="print")
    assert not page.locator(".site-header").is_visible() and not page.locator("#print-report").is_visible()
    pdf = page.pdf(format="A4", print_background=True)
    assert pdf.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert 1 <= pages <= 4, f"{pages} A4 pages"
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "planner-report.pdf").write_bytes(pdf)
    page.emulate_media(media="screen")
    page.screenshot(path=str(ARTIFACTS / "planner-report.png"), full_page=True)


def test_exact_solve_shows_elapsed_time_and_can_be_cancelled(page):
    """The plan request is held (as a long CBC solve would be): the status counts seconds; 取消求解 stops waiting."""
    held = []
    page.route(re.compile(r".*/api/plan\?.*"), lambda route: held.append(route))
    page.goto("/planner")
    wait_for_coverage(page)
    page.select_option("#district-select", YUZHONG)
    wait_for_coverage(page)
    page.check('input[name="method"][value="exact"]')
    page.fill("#time-limit-input", "60")
    page.click("#run-plan")
    page.wait_for_function("() => document.getElementById('planner-status').textContent.indexOf('已用 1 秒') >= 0", timeout=10_000)
    assert page.locator("#cancel-plan").is_visible() and held
    page.click("#cancel-plan")
    page.wait_for_function("() => document.documentElement.dataset.plan === 'cancelled'")
    assert page.locator("#planner-status").inner_text() == "已取消求解。"
    assert page.locator("#cancel-plan").is_hidden() and page.locator("#run-plan").is_enabled()
    page.unroute(re.compile(r".*/api/plan\?.*"))
