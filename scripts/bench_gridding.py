"""Chongqing's districts on Albers grids: geo.gridding (numpy scanlines) against rasterio's rasterize.

Prints, per cell size, the time of each (best of 5, same run) and whether they give the same
cells; then the resident memory each adds to a fresh process that already holds numpy, shapely
and pandas (what a server worker holds) to put the districts on the 250 m coverage grid. That
memory is why gridding is written out here: a worker keeps what it loads for as long as it runs.

examples:
  python scripts/bench_gridding.py
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from geo.districts import Districts  # noqa: E402
from geo.gridding import district_grid  # noqa: E402
from geo.paths import default_districts_path  # noqa: E402

CELLS_M = (250.0, 500.0, 1000.0, 2000.0)

MEMORY = """
import sys
sys.path.insert(0, {root!r})
import numpy, pandas, shapely, geopandas, pyproj
from geo.districts import Districts
from geo.paths import default_districts_path
polygons = Districts.load(default_districts_path()).metric_frame.geometry.to_numpy()
def rss():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS:")) / 1024
before = rss()
if {way!r} == "rasterio":
    from rasterio import features
    from geo.gridding import district_grid
    shape = district_grid(polygons, 250.0).labels.shape  # the same grid, for the same extent
    labels = features.rasterize(((g, i + 1) for i, g in enumerate(polygons)), out_shape=shape,
                                transform=district_grid(polygons, 250.0).transform(), dtype="uint8")
else:
    from geo.gridding import district_grid
    labels = district_grid(polygons, 250.0).labels
print(round(rss() - before, 1))
"""


def best_of(fn, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    from rasterio import features

    polygons = Districts.load(default_districts_path()).metric_frame.geometry.to_numpy()
    print("| cell | cells | geo.gridding | rasterio | same cells |")
    print("|---:|---:|---:|---:|---|")
    for cell_m in CELLS_M:
        grid = district_grid(polygons, cell_m)

        def by_rasterio(grid=grid):
            return features.rasterize(((g, i + 1) for i, g in enumerate(polygons)), out_shape=grid.labels.shape,
                                      transform=grid.transform(), fill=0, dtype="uint8")

        ours, theirs = best_of(lambda cell_m=cell_m: district_grid(polygons, cell_m)), best_of(by_rasterio)
        same = np.array_equal(grid.labels, by_rasterio())
        print(f"| {cell_m:g} m | {grid.labels.size:,} | {ours * 1000:.1f} ms | {theirs * 1000:.1f} ms | {'yes' if same else 'NO'} |")
    print()
    print("| 250 m grid in a fresh process | resident memory added |")
    print("|---|---:|")
    for way in ("geo.gridding", "rasterio"):
        out = subprocess.run([sys.executable, "-c", MEMORY.format(root=str(ROOT), way=way)], capture_output=True, text=True, check=True)
        print(f"| {way} | {float(out.stdout.strip()):.1f} MB |")


if __name__ == "__main__":
    main()
