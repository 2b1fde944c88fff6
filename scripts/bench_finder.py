"""Time what the finder adds to a nearest query: whereabouts (in Chongqing?), trips (minutes, river crossings)
and the re-ranking of crossing stations, against the bare index query measured in the same run.

2,000 random points in central Chongqing (where rivers matter), k=5, best of three passes.

examples:
  python scripts/bench_finder.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geo.districts import Districts  # noqa: E402
from geo.paths import DATA_DIR  # noqa: E402
from geo.queries.finder import rider_hits  # noqa: E402
from geo.queries.nearest import index_for  # noqa: E402
from geo.registry import GeoJSONFileStore  # noqa: E402


def per_query_us(fn, points) -> float:
    fn(*points[0])
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for lon, lat in points:
            fn(lon, lat)
        best = min(best, (time.perf_counter() - start) / len(points) * 1e6)
    return best


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(DATA_DIR / "stations.geojson", tmp)
        snapshot = GeoJSONFileStore(Path(tmp) / "stations.geojson", Districts.load()).snapshot()
        index = index_for(snapshot)
        rng = np.random.default_rng(1)
        points = [(float(x), float(y)) for x, y in zip(rng.uniform(106.3, 106.8, 2000), rng.uniform(29.4, 29.8, 2000),
                                                         strict=True)]
        crossing = sum(any(t.crosses_river for _, t in rider_hits(snapshot, x, y, k=5)[0]) for x, y in points)
        base = per_query_us(lambda x, y: index.nearest(x, y, k=5), points)
        finder = per_query_us(lambda x, y: rider_hits(snapshot, x, y, k=5), points)
    print(f"{'query (k=5)':<44} {'us/query':>9} {'x base':>7}")
    print(f"{'index.nearest (baseline)':<44} {base:>9.1f} {1:>7.2f}")
    print(f"{'rider_hits (whereabouts, trips, re-rank)':<44} {finder:>9.1f} {finder / base:>7.2f}")
    print(f"{crossing} of {len(points)} points have a river crossing among their first 5 stations")


if __name__ == "__main__":
    main()
