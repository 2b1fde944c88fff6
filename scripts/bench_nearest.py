"""Benchmark nearest-station queries: our index against geopandas.sjoin_nearest and brute force.

Prints one table per registry (the sample, and a generated national-scale one) with load
time, index build time, and microseconds per query for a single query and in batch.
All figures come from this run on this machine; nothing is compared to stored numbers.

Example:
    python scripts/bench_nearest.py                 # sample + 200,000 stations
    python scripts/bench_nearest.py --big 0         # sample only
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo.districts import Districts  # noqa: E402
from geo.projection import GEOD  # noqa: E402
from geo.queries.nearest import NearestIndex  # noqa: E402
from geo.registry import GeoJSONFileStore  # noqa: E402


def timed(fn, repeat=1):
    start = time.perf_counter()
    for _ in range(repeat):
        result = fn()
    return (time.perf_counter() - start) / repeat, result


def per_query(query, n, repeat=3) -> float:
    """Seconds per call of ``query(i)`` for i in range(n): the best of ``repeat`` passes."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for i in range(n):
            query(i)
        best = min(best, (time.perf_counter() - start) / n)
    return best


def query_points(n, seed=1):
    rng = np.random.default_rng(seed)
    return rng.uniform(105.3, 110.2, n), rng.uniform(28.2, 32.2, n)


def bench(label, path, districts, n_single, n_batch, n_slow):
    rows = []
    load_s, store = timed(lambda: GeoJSONFileStore(path, districts).snapshot())
    frame = store.active
    rows.append(("load + validate registry (GeoJSONFileStore)", load_s * 1e3, "ms"))
    pyogrio_s, _ = timed(lambda: gpd.read_file(path, engine="pyogrio"))
    rows.append(("  for comparison: gpd.read_file (pyogrio), no validation", pyogrio_s * 1e3, "ms"))
    build_s, index = timed(lambda: NearestIndex(frame))
    rows.append(("build index (KD-tree on ECEF coordinates, per kind)", build_s * 1e3, "ms"))

    qlon, qlat = query_points(max(n_single, n_batch))
    index.nearest(qlon[0], qlat[0], k=1)  # warm caches (pyproj, first-call costs)
    # Python floats, as the web API passes them; the best of three passes (the least disturbed).
    plon, plat = qlon[:n_single].tolist(), qlat[:n_single].tolist()
    single = per_query(lambda i: index.nearest(plon[i], plat[i], k=1), n_single)
    rows.append(("ours: single query, k=1 (exact geodesic)", single * 1e6, "µs"))
    rows.append(("ours: single query, k=5", per_query(lambda i: index.nearest(plon[i], plat[i], k=5), n_single) * 1e6, "µs"))
    filtered = per_query(lambda i: index.nearest(plon[i], plat[i], k=5, amenities=("toilet",), open_at=None), n_single // 4)
    rows.append(("ours: single query, k=5, amenity + open-now filters", filtered * 1e6, "µs"))
    batch_s, (dist, pos) = timed(lambda: index.nearest_many(qlon[:n_batch], qlat[:n_batch], k=1))
    batch = batch_s / n_batch
    rows.append((f"ours: batch of {n_batch:,}, k=1, per query", batch * 1e6, "µs"))
    batch5_s, _ = timed(lambda: index.nearest_many(qlon[:n_batch], qlat[:n_batch], k=5))
    rows.append((f"ours: batch of {n_batch:,}, k=5, per query", batch5_s / n_batch * 1e6, "µs"))

    # Baseline 1: geopandas.sjoin_nearest for one query point (projected, as its docs advise).
    metric = frame.to_crs(3857)[["id", "geometry"]]
    one = gpd.GeoDataFrame(geometry=shapely.points(qlon[:1], qlat[:1]), crs=4326).to_crs(3857)
    gpd.sjoin_nearest(one, metric)
    t0 = time.perf_counter()
    for i in range(n_slow):
        point = gpd.GeoDataFrame(geometry=shapely.points(qlon[i:i + 1], qlat[i:i + 1]), crs=4326).to_crs(3857)
        gpd.sjoin_nearest(point, metric)
    sjoin = (time.perf_counter() - t0) / n_slow
    rows.append(("baseline: geopandas.sjoin_nearest, one query", sjoin * 1e6, "µs"))

    # Baseline 2: brute-force geodesic distance to every station.
    lon, lat = frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy()
    t0 = time.perf_counter()
    mismatches = 0
    for i in range(n_slow):
        _, _, d = GEOD.inv(np.full(len(lon), qlon[i]), np.full(len(lon), qlat[i]), lon, lat)
        best = int(np.argmin(d))
        if abs(d[best] - dist[i, 0]) > 1e-6:
            mismatches += 1
    brute = (time.perf_counter() - t0) / n_slow
    rows.append(("baseline: brute-force pyproj.Geod over all stations", brute * 1e6, "µs"))
    rows.append((f"answers differing from brute force (of {n_slow})", mismatches, ""))
    rows.append(("speed-up of single query over sjoin_nearest", sjoin / single, "×"))
    print(f"\n## {label}: {len(frame):,} active stations\n")
    print(f"| {'measure':<58} | {'value':>12} | unit |")
    print(f"|{'-' * 60}|{'-' * 14}|------|")
    for name, value, unit in rows:
        print(f"| {name:<58} | {value:>12,.1f} | {unit:<4} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--big", type=int, default=200_000, help="stations in the generated large registry (0 to skip)")
    parser.add_argument("--single", type=int, default=20_000, help="single queries to time")
    parser.add_argument("--batch", type=int, default=100_000, help="queries in the batch")
    parser.add_argument("--slow", type=int, default=100, help="queries for the slow baselines")
    args = parser.parse_args()
    districts = Districts.load(ROOT / "data" / "districts.geojson")
    bench("sample registry", ROOT / "data" / "stations.geojson", districts, args.single, args.batch, args.slow)
    if args.big:
        with tempfile.TemporaryDirectory() as tmp:
            big = Path(tmp) / "big.geojson"
            t0 = time.perf_counter()
            subprocess.run([sys.executable, str(ROOT / "scripts" / "make_sample_registry.py"), "--outdoor", str(args.big),
                            "--out", str(big)], check=True, stdout=subprocess.DEVNULL)
            print(f"\n(generated {args.big:,}-station registry in {time.perf_counter() - t0:.1f} s)")
            bench(f"generated registry ({args.big:,} outdoor stations)", big, districts, args.single, args.batch, args.slow)


if __name__ == "__main__":
    main()
