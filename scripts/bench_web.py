"""Benchmark the web pages and the nearest API the way users meet them: in headless Chromium and
under concurrent load through the production server (gunicorn, 2 workers).

For each registry (the sample one and a generated large one) it measures, on a cold browser cache:
time until stations are drawn, bytes transferred (and decoded), and the JS heap, for ``/``,
``/nearest?lon=&lat=`` and folium's own FastMarkerCluster page built on the same stations (served
locally, gzipped too, with a custom callback and our vendored Leaflet); then requests/s and
p50/p99 latency of ``/api/nearest`` with wrk (or a threaded Python client when wrk is missing).
It prints one table per section. Example::

    python scripts/bench_web.py                         # sample + 200,000 outdoor stations
    python scripts/bench_web.py --large 0 --runs 1      # sample registry only, quick

The large registry is generated once with scripts/make_sample_registry.py and kept in --cache-dir.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if os.access(p, os.X_OK)), None)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]
VIEWPORT = {"width": 1280, "height": 900}
# The rider's query point: 较场口, in the dense urban core.
FINDER_POINT = (106.5716, 29.5538)
URBAN_BBOX = (106.35, 29.40, 106.75, 29.75)  # where the load test's query points fall

# Predicates return performance.now() once the page has drawn its stations (function form: the
# pages' CSP forbids eval, which Playwright would need for a string expression).
DRAWN = {
    "map": "() => document.documentElement.dataset.stations === 'drawn' && "
           "document.querySelector('.leaflet-marker-pane .leaflet-marker-icon') ? performance.now() : false",
    "nearest": "() => document.querySelector('.leaflet-marker-pane .sm-pin-numbered') ? performance.now() : false",
    "fast": "() => document.querySelector('.leaflet-marker-pane .leaflet-marker-icon') ? performance.now() : false",
}
BYTES = """() => {
  const entries = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')];
  return {transfer: entries.reduce((s, e) => s + (e.transferSize || 0), 0),
          decoded: entries.reduce((s, e) => s + (e.decodedBodySize || 0), 0),
          requests: entries.length};
}"""


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- registries ---------------------------------------------------------------------------


def large_registry(outdoor: int, cache_dir: Path) -> Path:
    path = cache_dir / f"stationmap-bench-{outdoor}.geojson"
    if not path.exists():
        log(f"generating {outdoor:,} outdoor stations -> {path}")
        tmp = path.with_suffix(".tmp")
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_sample_registry.py"), "--outdoor", str(outdoor),
                        "--out", str(tmp), "-q"], check=True)
        tmp.replace(path)
    return path


def active_points(registry: Path) -> list[tuple[float, float]]:
    """(lat, lon) of active stations, as folium wants them."""
    data = json.loads(registry.read_bytes())
    return [(f["geometry"]["coordinates"][1], f["geometry"]["coordinates"][0]) for f in data["features"]
            if f["properties"].get("status") == "active"]


# -- the app under gunicorn ------------------------------------------------------------------


HELLO_BODY = b'{"type":"FeatureCollection","features":[]}'.ljust(3500)


def hello_app(environ, start_response):
    """The least a WSGI app can do for a nearest-sized answer (the load test's baseline)."""
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(HELLO_BODY)))])
    return [HELLO_BODY]


class Gunicorn:
    """The production server, ``stationmap serve --workers 2``, with the registry given by environment.

    Two baselines run beside it, in the same run: ``setup="hello"`` serves a hello-world WSGI
    app of the same response size under the same gunicorn and worker class (the server's
    own ceiling on this machine); ``setup="sync"`` serves our app under gunicorn's default
    sync worker, what ``stationmap serve`` ran before it moved to gevent.
    """

    def __init__(self, registry: Path, workers: int = 2, setup: str = "serve", store: str | None = None,
                 budget: str | None = ""):
        from stationmap.serve import WORKER_CLASS

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, STATIONMAP_REGISTRY=str(registry), STATIONMAP_TILES="none",
                   STATIONMAP_SECRET_KEY="bench-only")  # noqa: S106 - a throwaway server
        if store is not None:  # e.g. postgresql://…; the registry path is then unused
            env["STATIONMAP_STORE"] = store
        if budget is not None:
            # wrk sends every rider's request from one address: a throughput benchmark switches the
            # per-address budget off (""); the abuse load test keeps the production one (None).
            env["STATIONMAP_REQUEST_BUDGET"] = budget
        gunicorn = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{self.port}",
                    "--log-level", "warning"]
        if setup == "hello":
            cmd = [*gunicorn, "-k", WORKER_CLASS, "--chdir", str(ROOT / "scripts"), "bench_web:hello_app"]
        elif setup == "sync":
            cmd = [*gunicorn, "-k", "sync", "--preload", "webmap:create_app()"]
        else:
            cmd = [sys.executable, "-c", "from stationmap.cli import main; main()", "serve", "--port", str(self.port),
                   "--workers", str(workers)]
        self.process = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)

    def wait_ready(self, timeout: float = 900) -> float:
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=5) as response:  # noqa: S310 - our http URL
                    if response.status == 200:
                        return time.perf_counter() - started
            except OSError:
                time.sleep(0.1)  # the figure is "answering from cold": a coarser poll adds up to its interval to it
        raise TimeoutError("gunicorn did not answer")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def get(url: str, gzip_ok: bool = True) -> tuple[int, float]:
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if gzip_ok else {})  # noqa: S310
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=900) as response:  # noqa: S310 - our http URL
        response.read()
        return response.status, time.perf_counter() - started


def warm_up(base: str, workers: int = 2) -> float:
    """Hit every cached path on every worker (first requests build indexes and per-snapshot JSON)."""
    lon, lat = FINDER_POINT
    paths = ["/", f"/nearest?lon={lon}&lat={lat}", "/api/vocabulary?lang=zh",
             f"/api/nearest?lon={lon}&lat={lat}&k=5", "/api/stations/500103-OS-0001?lang=zh"]
    # The views the browser will ask for; the map page computes its bbox, so warm the wide ones by zoom.
    paths += [f"/api/stations?bbox=96.49292,23.94361,118.99292,36.31828&zoom={z}&group=auto&fields=min" for z in (6, 7)]
    started = time.perf_counter()
    for _ in range(6):
        threads, slowest = [], [0.0]

        def hit(path, slowest=slowest):
            slowest[0] = max(slowest[0], get(base + path)[1])

        for path in paths:
            for _ in range(workers * 2):
                thread = threading.Thread(target=hit, args=(path,))
                thread.start()
                threads.append(thread)
        for thread in threads:
            thread.join()
        if slowest[0] < 1.0:
            break
    return time.perf_counter() - started


# -- folium's FastMarkerCluster page, served locally -------------------------------------------


FAST_CALLBACK = """
function (row) {
    var icon = L.divIcon({className: 'sm-pin sm-kind-outdoor_station', iconSize: [28, 28], iconAnchor: [14, 14], html: ''});
    return L.marker(new L.LatLng(row[0], row[1]), {icon: icon});
}
"""


def build_fast_page(points, out_dir: Path, districts_bounds) -> tuple[Path, float]:
    import folium
    from folium.plugins import FastMarkerCluster

    started = time.perf_counter()
    m = folium.Map(location=[29.56, 106.55], zoom_start=8, tiles=None, maxZoom=18)
    m.default_js = [("leaflet", "/static/vendor/leaflet/leaflet.js")]
    m.default_css = [("leaflet_css", "/static/vendor/leaflet/leaflet.css"), ("app", "/static/css/app.css")]
    cluster = FastMarkerCluster(points, callback=FAST_CALLBACK)
    cluster.default_js = [("markerclusterjs", "/static/vendor/leaflet.markercluster/leaflet.markercluster.js")]
    cluster.default_css = [("markerclustercss", "/static/vendor/leaflet.markercluster/MarkerCluster.css"),
                           ("markerclusterdefaultcss", "/static/vendor/leaflet.markercluster/MarkerCluster.Default.css")]
    cluster.add_to(m)
    m.fit_bounds(districts_bounds)
    path = out_dir / "fast.html"
    m.save(str(path))
    return path, time.perf_counter() - started


class GzipStaticHandler(SimpleHTTPRequestHandler):
    """Static files, gzipped like the app does, so byte counts compare fairly."""

    cache: dict[str, bytes] = {}

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = self.translate_path(self.path)
        if "gzip" not in self.headers.get("Accept-Encoding", "") or not os.path.isfile(path) \
                or not path.endswith((".html", ".js", ".css")):
            return super().do_GET()
        body = self.cache.get(path)
        if body is None:
            body = self.cache[path] = gzip.compress(Path(path).read_bytes(), compresslevel=6, mtime=0)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve_dir(directory: Path) -> tuple[ThreadingHTTPServer, str]:
    GzipStaticHandler.cache = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(GzipStaticHandler, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


# -- browser measurements -----------------------------------------------------------------------


def measure_page(browser, url: str, drawn: str, runs: int, timeout_ms: int) -> dict:
    times, result = [], {}
    for _ in range(runs):
        context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable")
        outside = []
        page.on("request", lambda r, outside=outside: outside.append(r.url)
                if not r.url.startswith(("http://127.0.0.1", "data:")) else None)
        try:
            page.goto(url, wait_until="commit", timeout=timeout_ms)
            handle = page.wait_for_function(drawn, polling="raf", timeout=timeout_ms)
            times.append(handle.json_value() / 1000)
            page.wait_for_timeout(300)
            result = page.evaluate(BYTES)
            cdp.send("HeapProfiler.collectGarbage")
            metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            result["heap_mb"] = metrics.get("JSHeapUsedSize", 0) / 1e6
            result["nodes"] = int(metrics.get("Nodes", 0))
            result["outside"] = outside
        except Exception as exc:  # noqa: BLE001 - a page that never draws is a result, not a crash
            result = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:80]}"}
            break
        finally:
            context.close()
    if times:
        result["drawn_s"] = statistics.median(times)
    return result


# -- load test ----------------------------------------------------------------------------------

WARM_LOAD_S = 2
WRK_SCRIPT = """
math.randomseed(%(seed)d)
request = function()
  local lon = %(minlon)f + math.random() * %(dlon)f
  local lat = %(minlat)f + math.random() * %(dlat)f
  return wrk.format("GET", string.format("%(path)s", lon, lat))
end
"""


def load_test(base: str, query: str, duration: int, connections: int) -> dict:
    """Load for ``WARM_LOAD_S`` seconds (unrecorded: connections open, caches fill), then measure."""
    _load(base, query, WARM_LOAD_S, connections)
    return _load(base, query, duration, connections)


def _load(base: str, query: str, duration: int, connections: int) -> dict:
    minlon, minlat, maxlon, maxlat = URBAN_BBOX
    path = "/api/nearest?lon=%.6f&lat=%.6f" + query
    wrk = shutil.which("wrk")
    if wrk:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
            handle.write(WRK_SCRIPT % {"seed": 7, "minlon": minlon, "minlat": minlat, "dlon": maxlon - minlon,
                                       "dlat": maxlat - minlat, "path": path})
        try:
            out = subprocess.run([wrk, "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", handle.name, base],
                                 capture_output=True, text=True, timeout=duration + 60).stdout
        finally:
            os.unlink(handle.name)
        return parse_wrk(out) | {"tool": "wrk"}
    return python_load(base, path, duration, connections) | {"tool": "python"}


def parse_wrk(text: str) -> dict:
    def to_ms(value: str) -> float:
        for unit, factor in (("us", 1e-3), ("ms", 1.0), ("s", 1000.0)):
            if value.endswith(unit):
                return float(value[: -len(unit)]) * factor
        return float(value)

    result = {"errors": 0}
    for line in text.splitlines():
        parts = line.split()
        if line.strip().startswith("50%"):
            result["p50_ms"] = to_ms(parts[1])
        elif line.strip().startswith("99%"):
            result["p99_ms"] = to_ms(parts[1])
        elif line.startswith("Requests/sec:"):
            result["rps"] = float(parts[1])
        elif "requests in" in line:
            result["requests"] = int(parts[0])
        elif line.strip().startswith("Non-2xx"):
            result["errors"] += int(parts[-1])
        elif line.strip().startswith("Socket errors"):
            result["errors"] += sum(int(x.strip(",")) for x in parts if x.strip(",").isdigit())
    return result


def python_load(base: str, path: str, duration: int, connections: int) -> dict:
    """A bounded threaded client: ``connections`` threads for ``duration`` seconds."""
    minlon, minlat, maxlon, maxlat = URBAN_BBOX
    host, port = base.removeprefix("http://").split(":")
    latencies, errors, lock = [], [0], threading.Lock()
    deadline = time.perf_counter() + duration

    def worker(seed):
        rng = random.Random(seed)
        while time.perf_counter() < deadline:
            url = path % (rng.uniform(minlon, maxlon), rng.uniform(minlat, maxlat))
            started = time.perf_counter()
            try:
                conn = http.client.HTTPConnection(host, int(port), timeout=30)
                conn.request("GET", url)
                ok = conn.getresponse().read() is not None and True
                conn.close()
            except OSError:
                ok = False
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed) if ok else None
                errors[0] += 0 if ok else 1

    wall = run_threads(worker, connections)
    return latency_summary(latencies, wall) | {"errors": errors[0]}


def run_threads(target, n: int) -> float:
    """``target(i)`` in ``n`` threads at once; the wall-clock seconds until all are done."""
    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def latency_summary(latencies: list[float], wall: float) -> dict:
    """req/s, p50 and p99 (ms) of answered requests' latencies (seconds) over ``wall`` seconds."""
    latencies = sorted(latencies)

    def pick(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")

    return {"rps": len(latencies) / wall, "p50_ms": pick(0.5), "p99_ms": pick(0.99), "requests": len(latencies)}


# -- report --------------------------------------------------------------------------------------


def table(headers: list[str], rows: list[list]) -> str:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = lambda values: "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(line(r) for r in cells)])


def kb(n) -> str:
    return f"{n / 1024:,.0f} KB" if n < 10 * 1024 * 1024 else f"{n / 1024 / 1024:,.1f} MB"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--large", type=int, default=200_000, help="outdoor stations in the large registry (0: skip)")
    parser.add_argument("--sample", type=Path, default=ROOT / "data" / "stations.geojson")
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--runs", type=int, default=3, help="cold-cache page loads per page (median reported)")
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per load test")
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args(argv)
    if CHROMIUM is None:
        parser.error("Debian's chromium is needed (apt-get install chromium)")

    from playwright.sync_api import sync_playwright

    from geo.districts import Districts
    from webmap.core.mapbuild import district_bounds

    bounds = district_bounds(Districts.load())
    registries = [("sample", args.sample)]
    if args.large:
        registries.append((f"{args.large // 1000}k", large_registry(args.large, args.cache_dir)))

    page_rows, load_rows, setup_rows = [], [], []
    lon, lat = FINDER_POINT
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for label, registry in registries:
            points = active_points(registry)
            log(f"{label}: {len(points):,} active stations; starting stationmap serve --workers 2")
            server = Gunicorn(registry)
            try:
                boot = server.wait_ready()
                warm = warm_up(server.url)
                log(f"{label}: ready in {boot:.1f} s, warmed up in {warm:.1f} s")
                with tempfile.TemporaryDirectory() as tmp:
                    tmp = Path(tmp)
                    (tmp / "static").symlink_to(ROOT / "webmap" / "static")
                    fast_path, fast_build = build_fast_page(points, tmp, bounds)
                    static_server, static_url = serve_dir(tmp)
                    setup_rows.append([label, f"{len(points):,}", f"{boot:.1f} s", f"{warm:.1f} s", f"{fast_build:.1f} s",
                                       kb(fast_path.stat().st_size)])
                    try:
                        pages = [
                            ("/ (ours)", server.url + "/", DRAWN["map"]),
                            ("/nearest (ours)", f"{server.url}/nearest?lon={lon}&lat={lat}", DRAWN["nearest"]),
                            ("folium FastMarkerCluster", static_url + "/fast.html", DRAWN["fast"]),
                        ]
                        for name, url, drawn in pages:
                            log(f"{label}: measuring {name}")
                            r = measure_page(browser, url, drawn, args.runs, timeout_ms=300_000)
                            if "error" in r:
                                page_rows.append([label, name, r["error"], "", "", "", "", ""])
                                continue
                            page_rows.append([label, name, f"{r['drawn_s']:.2f} s", kb(r["transfer"]), kb(r["decoded"]),
                                              r["requests"], f"{r['heap_mb']:.1f} MB", len(r["outside"])])
                    finally:
                        static_server.shutdown()
                for query_label, query in (("k=5", "&k=5"), ("k=5 open_now amenity", "&k=5&open_now=1&amenity=drinking_water")):
                    log(f"{label}: load test /api/nearest {query_label}")
                    r = load_test(server.url, query, args.duration, args.connections)
                    load_rows.append([label, query_label, r["tool"], f"{r.get('rps', 0):,.0f}", f"{r.get('p50_ms', float('nan')):.1f}",
                                      f"{r.get('p99_ms', float('nan')):.1f}", f"{r.get('requests', 0):,}", r.get("errors", 0)])
            finally:
                server.stop()
        browser.close()
    # (setup, registry label, query, row label): the server's ceiling, and our app as it was served before.
    baselines = (("hello", "-", "", "hello-world WSGI app, same server (its ceiling)"),
                 ("sync", "sample", "&k=5", "k=5, gunicorn sync worker (before)"))
    for setup, registry_label, query, label in baselines:
        log(f"baseline: {label}")
        server = Gunicorn(args.sample, setup=setup)
        try:
            server.wait_ready()
            if setup != "hello":
                warm_up(server.url)
            r = load_test(server.url, query, args.duration, args.connections)
            load_rows.append([registry_label, label, r["tool"], f"{r.get('rps', 0):,.0f}",
                              f"{r.get('p50_ms', float('nan')):.1f}", f"{r.get('p99_ms', float('nan')):.1f}",
                              f"{r.get('requests', 0):,}", r.get("errors", 0)])
        finally:
            server.stop()

    print()
    print("Setup (stationmap serve: gunicorn -w 2, gevent; folium FastMarkerCluster page built on the same active stations)")
    print(table(["registry", "active stations", "server ready", "warm-up", "folium build", "folium HTML"], setup_rows))
    print()
    print(f"Pages in headless Chromium {VIEWPORT['width']}x{VIEWPORT['height']}, cold cache, median of {args.runs} "
          "(drawn = performance.now() when the first station marker or cluster is in the DOM)")
    print(table(["registry", "page", "drawn", "transferred", "decoded", "requests", "JS heap", "outside reqs"], page_rows))
    print()
    print(f"/api/nearest under load: {args.connections} connections, {args.duration} s, random points in the urban core, "
          f"gunicorn -w 2 on {os.cpu_count()} CPUs (the load generator shares them), after {WARM_LOAD_S} s of the same load")
    print(table(["registry", "query", "tool", "req/s", "p50 ms", "p99 ms", "requests", "errors"], load_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
