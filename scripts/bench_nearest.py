"""Benchmark nearest-station queries: our index against geopandas.sjoin_nearest and brute force.

Prints one table per registry (the sample, and a generated national-scale one) with load
time, index build time, and microseconds per query for a single query and in batch.
All figures come from this run on this machine; nothing is compared to stored numbers.

Each table ends with the 20 far-away query points (London, Sydney, the antipode, both
poles, the date line ...), one row each, next to a city query: a nearest query costs about
the same from anywhere on Earth.

Example:
    python scripts/bench_nearest.py                 # sample + 50,000 + 200,000 stations
    python scripts/bench_nearest.py --big 0         # sample only
    python scripts/bench_nearest.py --far-only      # only the far-away table
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


# Far from Chongqing: other continents, the antipode of the city (and points around it), both
# poles, the date line on both sides, the equator.
FAR_AWAY = [
    ("London", -0.13, 51.51), ("Sydney", 151.21, -33.87), ("New York", -74.0, 40.71),
    ("São Paulo", -46.63, -23.55), ("Cape Town", 18.42, -33.92), ("Moscow", 37.62, 55.76),
    ("Reykjavík", -21.94, 64.15), ("Honolulu", -157.86, 21.31), ("Santiago", -70.67, -33.45),
    ("antipode of Yuzhong", -73.43, -29.56), ("antipode of Wanzhou", -71.6, -30.8),
    ("antipode of the sample's centre", -72.3, -30.1), ("North Pole", 0.0, 90.0),
    ("South Pole", 0.0, -90.0), ("date line, equator", 180.0, 0.0), ("date line, 45°S", -180.0, -45.0),
    ("date line, 60°N", 179.999, 60.0), ("equator, 0°", 0.0, 0.0), ("Beijing", 116.39, 39.9),
    ("Lhasa", 91.11, 29.65),
]
CITY = ("city: Jiefangbei, Yuzhong", 106.577, 29.557)


def far_table(label, index, repeat=200):
    """Microseconds per query (k=1 and k=5, best of 3 passes) for each far point, and a city query."""
    print(f"\n## {label}: far-away queries against a city query, µs per query\n")
    print(f"| {'query point':<34} | {'k=1 µs':>8} | {'k=5 µs':>8} | {'geodesics':>9} |")
    print(f"|{'-' * 36}|{'-' * 10}|{'-' * 10}|{'-' * 11}|")
    worst = 0.0
    tree = index.ball_tree(None)
    for name, lon, lat in [CITY, *FAR_AWAY]:
        index.nearest(lon, lat, k=5)
        one = per_query(lambda _i, lon=lon, lat=lat: index.nearest(lon, lat, k=1), repeat)
        before = tree.geodesics
        five = per_query(lambda _i, lon=lon, lat=lat: index.nearest(lon, lat, k=5), repeat)
        geodesics = (tree.geodesics - before) / (3 * repeat)
        worst = max(worst, one, five) if name != CITY[0] else worst
        print(f"| {name:<34} | {one * 1e6:>8,.0f} | {five * 1e6:>8,.0f} | {geodesics:>9,.0f} |")
    print(f"\nslowest far-away query: {worst * 1e3:.3f} ms (target ≤ 1 ms); "
          "'geodesics' counts the ball tree's work per k=5 query (0 for the city: the KD-tree answers)")


def bench(label, path, districts, n_single, n_batch, n_slow, far_only=False):
    rows = []
    load_s, store = timed(lambda: GeoJSONFileStore(path, districts).snapshot())
    frame = store.active
    rows.append(("load + validate registry (GeoJSONFileStore)", load_s * 1e3, "ms"))
    pyogrio_s, _ = timed(lambda: gpd.read_file(path, engine="pyogrio"))
    rows.append(("  for comparison: gpd.read_file (pyogrio), no validation", pyogrio_s * 1e3, "ms"))
    build_s, index = timed(lambda: NearestIndex(frame))
    rows.append(("build index (KD-trees + geodesic ball trees, per kind)", build_s * 1e3, "ms"))
    if far_only:
        far_table(f"{label}: {len(frame):,} active stations", index)
        return

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
    far_table(f"{label}: {len(frame):,} active stations", index)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--big", type=int, nargs="*", default=[50_000, 200_000],
                        help="stations in each generated large registry (0 to skip)")
    parser.add_argument("--far-only", action="store_true", help="only the far-away table for each registry")
    parser.add_argument("--single", type=int, default=20_000, help="single queries to time")
    parser.add_argument("--batch", type=int, default=100_000, help="queries in the batch")
    parser.add_argument("--slow", type=int, default=100, help="queries for the slow baselines")
    args = parser.parse_args()
    districts = Districts.load(ROOT / "data" / "districts.geojson")
    bench("sample registry", ROOT / "data" / "stations.geojson", districts, args.single, args.batch, args.slow,
          args.far_only)
    for size in [n for n in args.big if n]:
        with tempfile.TemporaryDirectory() as tmp:
            big = Path(tmp) / "big.geojson"
            t0 = time.perf_counter()
            subprocess.run([sys.executable, str(ROOT / "scripts" / "make_sample_registry.py"), "--outdoor", str(size),
                            "--out", str(big)], check=True, stdout=subprocess.DEVNULL)
            print(f"\n(generated {size:,}-station registry in {time.perf_counter() - t0:.1f} s)")
            bench(f"generated registry ({size:,} outdoor stations)", big, districts, args.single, args.batch, args.slow,
                  args.far_only)

if __name__ == "__main__":
    main()
