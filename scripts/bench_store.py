"""Benchmark the two registry stores side by side: the GeoJSON file store and the PostGIS store.

For the sample registry and a generated 200,000-station one, both stores measured in the same
run on this machine (nothing compared with stored numbers):

- ready from cold: a new process opens the store, loads the snapshot and builds the nearest
  index (what `stationmap serve` does before it answers), and its resident memory then and
  once the ball trees for far queries are built (in the background, after it answers);
- one-station edit acknowledged (median of 30); a 1,000-row upload committed;
- a write visible to a second store handle that follows the first (``keep_current``: the file
  watcher or LISTEN/NOTIFY), median of 5;
- the first map request (``/api/stations`` for the whole city) and coverage of 38 districts at
  1 km after a write.

PostgreSQL: ``--pg postgresql://…`` (a superuser URL; a database is created per run), or a
throwaway cluster started like the tests' (Debian's postgresql-15 + postgis).

Example:
    python scripts/bench_store.py                  # sample + 200,000 stations
    python scripts/bench_store.py --large 0        # sample only
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_web import large_registry  # noqa: E402 - one generator of big registries, cached

from geo.access.permissions import CLI_ACTOR  # noqa: E402
from geo.districts import Districts  # noqa: E402
from geo.paths import default_districts_path  # noqa: E402
from geo.queries.coverage import snapshot_coverage  # noqa: E402
from geo.queries.nearest import index_for, warm  # noqa: E402
from geo.registry import open_store  # noqa: E402
from geo.registry.postgis import import_registry  # noqa: E402
from geo.registry.postgis_schema import upgrade  # noqa: E402
from geo.registry.validate import parse_json_strict  # noqa: E402

COLD = """
import json, sys, time
t = time.perf_counter()
from geo.registry import open_store
from geo.queries.nearest import index_for
store = open_store(sys.argv[1])
index = index_for(store.snapshot())
ready = time.perf_counter() - t
def rss():
    return next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmRSS:')) / 1024
at_ready = rss()
index.build_ball_trees()  # what `stationmap serve` builds in the background once it answers
print(json.dumps({"ready_s": ready, "rss_mb": at_ready, "rss_steady_mb": rss()}))
"""


#: what the map page asks for at the whole-city view (webmap/static/js/map.js)
MAP_REQUEST = "/api/stations?bbox=105.2,28.1,110.2,32.3&zoom=8&group=auto&fields=min"


def log(message: str) -> None:
    print(f"-- {message}", file=sys.stderr, flush=True)


def new_stations(districts: Districts, n: int, seed: int) -> list[dict]:
    """``n`` valid new stations inside 渝北区 (500112), WGS-84."""
    rng = np.random.default_rng(seed)
    points = []
    while len(points) < n:
        lon, lat = rng.uniform(106.45, 106.95, 4 * n), rng.uniform(29.55, 30.05, 4 * n)
        inside = districts.locate(lon, lat) == "500112"
        points += list(zip(lon[inside].round(6).tolist(), lat[inside].round(6).tolist(), strict=True))
    return [{"type": "Feature", "geometry": {"type": "Point", "coordinates": list(p)},
             "properties": {"kind": "outdoor_station", "name": f"基准驿站{seed}-{i}", "address": "重庆市渝北区基准路1号",
                            "district_adcode": "500112", "district": "渝北区", "operator": "渝北区总工会",
                            "opening_hours": "24/7", "amenities": ["rest"]}} for i, p in enumerate(points[:n])]


def cold_start(url: str) -> dict:
    out = subprocess.run([sys.executable, "-c", COLD, url], cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"cold start failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(url: str, districts: Districts, tmp: Path) -> dict:
    from webmap import create_app

    figures = cold_start(cold_start(url) and url)  # the second start: as a restarting server (file receipt kept)
    # As `stationmap serve` runs it: writes acknowledged at commit, next version built in the background.
    store = open_store(url, districts)
    store.warm_with(warm)
    store.keep_current()
    snap = store.snapshot()
    index_for(snap)
    station = next(f for f in snap.features if f["properties"]["status"] == "active")["properties"]["id"]

    acks, swaps = [], []
    edits = 30 if len(snap) < 50_000 else 5  # at 200k the file store rewrites 40 MB per edit
    for i in range(edits):
        start = time.perf_counter()
        store.update(station, {"name": f"基准编辑{i}"}, CLI_ACTOR)
        acks.append(time.perf_counter() - start)
        version = snap.version + i + 1
        while store.snapshot().version < version:
            time.sleep(0.001)
        swaps.append(time.perf_counter() - start)
    figures["edit_ms"] = statistics.median(acks) * 1e3
    figures["swap_ms"] = statistics.median(swaps) * 1e3

    batch = new_stations(districts, 1000, seed=len(snap))
    start = time.perf_counter()
    store.add(batch, CLI_ACTOR)
    figures["upload_1000_s"] = time.perf_counter() - start

    follower = open_store(url, districts)
    follower.warm_with(warm)
    follower.keep_current()
    seen = []
    for i in range(5):
        store.update(station, {"name": f"基准可见{i}"}, CLI_ACTOR)
        written, version = time.perf_counter(), snap.version + edits + 2 + i  # the edits and the upload came before
        while follower.snapshot().version < version:
            time.sleep(0.002)
        seen.append(time.perf_counter() - written)
    figures["visible_ms"] = statistics.median(seen) * 1e3
    follower.close()

    app = create_app({"TESTING": True, "STORE": store, "DISTRICTS_PATH": str(default_districts_path()),
                      "SECRET_KEY": "bench", "TILE_PROVIDER": "none", "ACCOUNTS_PATH": str(tmp / "accounts.json")})
    client = app.test_client()
    start = time.perf_counter()
    client.get(MAP_REQUEST)
    figures["map_first_s"] = time.perf_counter() - start
    start = time.perf_counter()
    snapshot_coverage(store.snapshot(), 1000.0)
    figures["coverage_first_s"] = time.perf_counter() - start
    store.update(station, {"name": "基准地图"}, CLI_ACTOR)
    while store.snapshot().version < snap.version + edits + 7:  # served once swapped in; the map's own work starts then
        time.sleep(0.001)
    start = time.perf_counter()
    status = client.get(MAP_REQUEST).status_code
    figures["map_after_write_s"] = time.perf_counter() - start
    assert status == 200, status
    start = time.perf_counter()
    snapshot_coverage(store.snapshot(), 1000.0)
    figures["coverage_after_write_s"] = time.perf_counter() - start
    store.close()
    return figures


def pg_server(url: str | None):
    if url:
        return None, url
    from tests.pg import start_cluster

    return start_cluster()


def database(server_url: str, name: str) -> str:
    import psycopg

    from tests.pg import database_url

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = database_url(server_url, name)
    with psycopg.connect(url) as conn:
        upgrade(conn, log=lambda _line: None)
    return url


ROWS = [
    ("ready from cold (load + index)", "ready_s", "s", "≤ 5 s (PostGIS)"),
    ("resident memory, one process, when ready", "rss_mb", "MB", "≤ 400 MB"),
    ("  … with the far-query ball trees built (background)", "rss_steady_mb", "MB", "≤ 400 MB"),
    ("one-station edit acknowledged (median of 30; 5 at 200k)", "edit_ms", "ms", "≤ 20 ms"),
    ("  next version built + indexed + swapped in (background)", "swap_ms", "ms", ""),
    ("1,000-row upload committed", "upload_1000_s", "s", "≤ 1 s"),
    ("write visible to a following handle (median)", "visible_ms", "ms", "≤ 1,000 ms"),
    ("first map request of a version built from scratch", "map_first_s", "s", "≤ 0.5 s"),
    ("first map request after a write", "map_after_write_s", "s", "≤ 0.5 s"),
    ("coverage, 38 districts at 1 km, from scratch", "coverage_first_s", "s", "≤ 3 s"),
    ("coverage, 38 districts at 1 km, after a write", "coverage_after_write_s", "s", "≤ 3 s"),
    ("`stationmap serve` answering from cold (registry + nearest index)", "serve_ready_s", "s", "≤ 5 s"),
    ("serve worker, warmed (coverage, search, map and its text filter): resident", "worker_rss_mb", "MB", "≤ 400 MB"),
    ("  … proportional (pages shared with the other processes split)", "worker_pss_mb", "MB", ""),
    ("  … resident after the riders-while-writing run", "worker_rss_after_writes_mb", "MB", ""),
    ("riders /api/nearest p99, quiet (2 workers, 16 connections)", "riders_quiet_p99_ms", "ms", ""),
    ("riders /api/nearest p99, an upload a second", "riders_writing_p99_ms", "ms", "≤ 100 ms"),
    ("riders req/s, quiet", "riders_quiet_rps", "", ""),
    ("riders req/s, an upload a second", "riders_writing_rps", "", "unchanged"),
    ("PostGIS import (binary COPY)", "import_s", "s", ""),
]


def worker_memory(arbiter_pid: int) -> dict:
    """The largest resident and proportional (shared pages split between the processes) set of the
    server's workers, from /proc (Linux)."""
    try:
        children = [int(pid) for task in Path(f"/proc/{arbiter_pid}/task").iterdir()
                    for pid in (task / "children").read_text().split()]
        sizes = []
        for pid in children:
            fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:])
            sizes.append((int(fields["Rss"].split()[0]) / 1024, int(fields["Pss"].split()[0]) / 1024))
    except (OSError, ValueError, KeyError):
        return {}
    return {"worker_rss_mb": max(r for r, _ in sizes), "worker_pss_mb": max(p for _, p in sizes)} if sizes else {}


def settled_worker_memory(arbiter_pid: int, quiet_s: float = 5.0, limit_s: float = 120.0) -> dict:
    """``worker_memory`` once it has held still (within 2 MB) for ``quiet_s``: the workers have built
    what they build in the background (``stationmap.serve.warm_rest``), rather than a fixed wait that a
    busy machine can outrun."""
    started = last_change = time.perf_counter()
    memory = worker_memory(arbiter_pid)
    while time.perf_counter() - started < limit_s and time.perf_counter() - last_change < quiet_s:
        time.sleep(0.5)
        now = worker_memory(arbiter_pid)
        if abs(now.get("worker_rss_mb", 0) - memory.get("worker_rss_mb", 0)) > 2:
            last_change = time.perf_counter()
        memory = now
    return memory


def riders_while_writing(url: str, districts: Districts, seconds: int = 8) -> dict:
    """``/api/nearest`` from riders against ``stationmap serve`` (2 workers) on this store: quiet, then while
    a 10-station upload is committed every second through another handle (the servers follow it)."""
    from bench_web import Gunicorn, _load, warm_up

    server = Gunicorn(Path("unused"), workers=2, store=url)
    writer = open_store(url, districts)
    try:
        serving_s = server.wait_ready()
        warm_up(server.url)
        memory = settled_worker_memory(server.process.pid)  # each worker's warm thread finished
        quiet = _load(server.url, "&k=5", seconds, 16)
        stop, written = threading.Event(), [0]

        def upload():
            seed = 10_000
            while not stop.is_set():
                started = time.perf_counter()
                writer.add(new_stations(districts, 10, seed), CLI_ACTOR)
                written[0] += 1
                seed += 1
                stop.wait(max(0.0, 1.0 - (time.perf_counter() - started)))

        thread = threading.Thread(target=upload, daemon=True)
        thread.start()
        busy = _load(server.url, "&k=5", seconds, 16)
        stop.set()
        thread.join()
        after = settled_worker_memory(server.process.pid)  # once the workers have followed the last write
    finally:
        server.stop()
        writer.close()
    return {**memory, "worker_rss_after_writes_mb": after.get("worker_rss_mb"),
            "serve_ready_s": serving_s, "riders_quiet_p99_ms": quiet.get("p99_ms"), "riders_quiet_rps": quiet.get("rps"),
            "riders_writing_p99_ms": busy.get("p99_ms"), "riders_writing_rps": busy.get("rps"), "uploads": written[0]}


def table(label: str, file_figures: dict, pg_figures: dict) -> str:
    lines = [f"\n{label}", "| measure | file store | PostGIS store | target |", "| --- | ---: | ---: | --- |"]
    for name, key, unit, target in ROWS:
        def cell(figures, key=key, unit=unit):
            value = figures.get(key)
            return "—" if value is None else f"{value:,.1f} {unit}" if value >= 10 else f"{value:,.3f} {unit}"
        lines.append(f"| {name} | {cell(file_figures)} | {cell(pg_figures)} | {target} |")
    return "\n".join(lines)


def held_columns_table(n: int) -> str:
    """How a server holds its stations' own texts and its id → position map, at ``n`` stations: as
    ``str`` objects in object arrays with a dict (what it did before) and as ``TextColumn`` (numpy
    ``StringDType``) with ``StationIds`` (sorted hashes): memory (tracemalloc, which numpy reports to)
    and the cost of reading one value and of one id lookup. The reason ``StationIds`` is hand-written."""
    import random
    import tracemalloc

    from geo.registry.snapshot import StationIds, TextColumn

    rng = random.Random(7)
    han = [chr(c) for c in range(0x4E00, 0x4E00 + 2000)]
    ids = [f"5001{rng.randrange(1, 60):02d}-OS-{i:06d}" for i in range(n)]
    names = ["".join(rng.choices(han, k=rng.randrange(6, 16))) + "户外劳动者驿站" for _ in range(n)]
    stamps = [f"2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T{rng.randrange(24):02d}:00:00+08:00" for _ in range(n)]
    probes = rng.sample(ids, 2000)

    def held(build):
        tracemalloc.start()
        kept = build()
        size = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        return kept, size / 1e6

    def each_us(fn, items) -> float:
        start = time.perf_counter()
        for item in items:
            fn(item)
        return (time.perf_counter() - start) / len(items) * 1e6

    def as_objects():
        columns = [np.array([v.encode().decode() for v in values], dtype=object) for values in (ids, names, stamps)]
        return columns, {fid: i for i, fid in enumerate(columns[0].tolist())}

    def as_compact():
        columns = [TextColumn.of(values) for values in (ids, names, stamps)]
        return columns, StationIds(columns[0])

    (old_columns, old_map), old_mb = held(as_objects)
    (new_columns, new_map), new_mb = held(as_compact)
    rows = [rng.randrange(n) for _ in range(2000)]
    lines = [f"held texts (id, name, updated_at) and the id map, {n:,} stations",
             "| | str objects + dict | TextColumn + StationIds |", "| --- | ---: | ---: |",
             f"| memory (tracemalloc) | {old_mb:.1f} MB | {new_mb:.1f} MB |",
             f"| id lookup | {each_us(old_map.get, probes):.2f} µs | {each_us(new_map.get, probes):.2f} µs |",
             f"| one name read | {each_us(old_columns[1].__getitem__, rows):.2f} µs | {each_us(new_columns[1].__getitem__, rows):.2f} µs |"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--large", type=int, default=200_000, help="outdoor stations in the large registry (0: skip)")
    parser.add_argument("--sample", type=Path, default=ROOT / "data" / "stations.geojson")
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--file-large", action=argparse.BooleanOptionalAction, default=True,
                        help="also measure the file store at national scale (tens of minutes on 2 busy cores)")
    parser.add_argument("--riders", action=argparse.BooleanOptionalAction, default=True,
                        help="measure riders' /api/nearest on `stationmap serve` while uploads stream in")
    parser.add_argument("--pg", default=None, help="superuser URL of a PostgreSQL server [default: a throwaway cluster]")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the throwaway cluster on kill, too
    districts = Districts.load(default_districts_path())
    print(held_columns_table(args.large or 2_458), flush=True)
    registries = [("sample", args.sample)] + ([(f"{args.large:,} outdoor stations", large_registry(args.large, args.cache_dir))]
                                               if args.large else [])
    directory, server_url = pg_server(args.pg)
    try:
        for n, (label, source) in enumerate(registries):
            with tempfile.TemporaryDirectory(prefix="stationmap-bench-") as tmp_name:
                tmp = Path(tmp_name)
                path = tmp / "stations.geojson"
                shutil.copyfile(source, path)
                skip_file = n > 0 and not args.file_large
                log(f"{label}: file store" + (" skipped (--no-file-large)" if skip_file else ""))
                file_figures = {} if skip_file else measure(str(path), districts, tmp)
                log(f"{label}: PostGIS store")
                url = database(server_url, f"bench_{n}")
                data = parse_json_strict(source.read_bytes(), str(source))
                start = time.perf_counter()
                import_registry(url, data["features"], data.get("registry_version", 0), [])
                pg_figures = {"import_s": time.perf_counter() - start, **measure(url, districts, tmp)}
                if args.riders:
                    log(f"{label}: riders while uploads stream in (PostGIS)")
                    pg_figures.update(riders_while_writing(url, districts))
                print(table(f"{label} ({len(data['features']):,} stations)", file_figures, pg_figures), flush=True)
    finally:
        if directory is not None:
            from tests.pg import stop_cluster

            stop_cluster(directory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
