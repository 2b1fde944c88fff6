"""Real-browser fixtures: the app on a real HTTP server (127.0.0.1, free port, a thread) with the
small fixture registry plus one hostile station name, and Debian's Chromium driven by Playwright.

Chromium missing is a failure, not a skip: these tests are how we know the pages work. Every
request a page makes is recorded; tile requests (the only outside ones allowed) are aborted
so the tests are fast and behave as offline, and anything else outside 127.0.0.1 fails the test.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from geo.registry import dump_feature_collection
from tests.conftest import DISTRICTS_PATH, ONE_ADDRESS_FOR_EVERYONE, SMALL_REGISTRY, make_station

CHROMIUM_CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
TILE_HOSTS = {"tile.openstreetmap.org"}
TILE_HOST_SUFFIXES = (".is.autonavi.com", ".tianditu.gov.cn")  # Amap and Tianditu tiles (when configured)
XSS_NAME = "<img src=x onerror=alert(1)>"
XSS_ADDRESS = "${alert(1)}`+alert(2)+`</script><script>alert(3)</script>"
XSS_ID = "500103-OS-0009"
XSS_LONLAT = (106.5752, 29.5581)

# Every page gets this before its own scripts: CSP violations and any alert() are recorded.
INIT_SCRIPT = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


def chromium_executable() -> str:
    for path in CHROMIUM_CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    pytest.fail("Debian's chromium is not installed (apt-get install chromium fonts-noto-cjk); "
                f"looked for {', '.join(CHROMIUM_CANDIDATES)}", pytrace=False)


def browser_registry() -> list[dict]:
    evil = make_station(XSS_ID, *XSS_LONLAT, name=XSS_NAME)
    evil["properties"]["address"] = XSS_ADDRESS
    return SMALL_REGISTRY + [evil]


class LiveServer:
    """The app under werkzeug's threaded server in a background thread."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="live-server", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(timeout=5)


def browser_app(tmp: Path, tiles: str = "osm", **config):
    from webmap import create_app

    registry = tmp / "stations.geojson"
    registry.write_bytes(dump_feature_collection(browser_registry()))
    return create_app({
        "REGISTRY_PATH": str(registry), "DISTRICTS_PATH": str(DISTRICTS_PATH), "SECRET_KEY": "browser-test",
        "TILE_PROVIDER": tiles, "ACCOUNTS_PATH": str(tmp / "accounts.json"), "SECRET_KEY_FILE": str(tmp / "secret"),
        **ONE_ADDRESS_FOR_EVERYONE, **config,
    })


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    with LiveServer(browser_app(tmp_path_factory.mktemp("browser"))) as server:
        yield server


@pytest.fixture(scope="session")
def amap_server(tmp_path_factory):
    """The same app drawing on Amap tiles (GCJ-02): everything WGS-84 must be shifted to match."""
    with LiveServer(browser_app(tmp_path_factory.mktemp("browser-amap"), tiles="amap")) as server:
        yield server


@pytest.fixture(scope="session")
def grouping_server(tmp_path_factory):
    """The same app grouping any view of more than 4 stations into grid cells (as a 200k registry does)."""
    with LiveServer(browser_app(tmp_path_factory.mktemp("browser-grouped"), tiles="none", MAX_POINTS_PER_VIEW=4)) as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    executable = chromium_executable()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


class PageRecorder:
    """What happened on a page: requests, dialogs, uncaught errors."""

    def __init__(self):
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []

    def outside_requests(self) -> list[str]:
        bad = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob", "about"):
                continue
            host = parts.hostname or ""
            if host == "127.0.0.1" or host in TILE_HOSTS or host.endswith(TILE_HOST_SUFFIXES):
                continue
            bad.append(url)
        return bad


def open_context(browser, live_server, **options):
    defaults = {"viewport": {"width": 1280, "height": 900}, "locale": "zh-CN", "timezone_id": "Asia/Shanghai",
                "base_url": live_server.url}
    defaults.update(options)
    context = browser.new_context(**defaults)
    context.set_default_timeout(15_000)
    context.add_init_script(INIT_SCRIPT)
    # Tiles would fail offline anyway; failing them at once keeps the tests fast and deterministic.
    for pattern in [f"https://{host}/**" for host in TILE_HOSTS] + [f"https://*{suffix}/**" for suffix in TILE_HOST_SUFFIXES]:
        context.route(pattern, lambda route: route.abort())
    return context


def attach(page, recorder: PageRecorder):
    page.on("request", lambda request: recorder.requests.append(request.url))

    def on_dialog(dialog):
        recorder.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: recorder.errors.append(str(error)))


@contextmanager
def checked_page(browser, server, **options):
    """A page on another server than ``live_server``, checked like the ``page`` fixture's when the block ends."""
    recorder = PageRecorder()
    context = open_context(browser, server, **options)
    try:
        page = context.new_page()
        attach(page, recorder)
        yield page, recorder
        assert recorder.errors == [] and recorder.dialogs == [] and recorder.outside_requests() == []
    finally:
        context.close()


@pytest.fixture
def recorder():
    return PageRecorder()


@pytest.fixture
def context(browser, live_server):
    context = open_context(browser, live_server)
    yield context
    context.close()


@pytest.fixture
def page(context, recorder):
    """A desktop page whose requests, dialogs and errors are checked after the test."""
    page = context.new_page()
    attach(page, recorder)
    yield page
    violations = page.evaluate("window.__cspViolations || []") if not page.is_closed() else []
    assert recorder.dialogs == [], f"a dialog opened: {recorder.dialogs}"
    assert recorder.errors == [], f"uncaught errors: {recorder.errors}"
    assert recorder.outside_requests() == [], "requests left 127.0.0.1 for non-tile hosts"
    assert violations == [], f"CSP violations: {violations}"


def wait_for_stations(page, timeout=10_000):
    page.wait_for_function("() => document.documentElement.dataset.stations === 'drawn'", timeout=timeout)
