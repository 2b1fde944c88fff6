"""Time the finder's place search (geo.queries.search) on the sample registry and, optionally, a big one.

Prints, per registry: the one-off gazetteer build (pinyin for every name), and per query the
median and worst time over repeated runs, against a baseline measured in the same run: a plain
``str.find`` over the same folded names (the least any substring search can cost). The
requirement is under 50 ms per query.

examples:
  python scripts/bench_search.py
  python scripts/make_sample_registry.py --outdoor 200000 --out /tmp/big.geojson
  python scripts/bench_search.py --big /tmp/big.geojson
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geo.districts import Districts  # noqa: E402
from geo.paths import DATA_DIR  # noqa: E402
from geo.queries.search import build_gazetteer, fold  # noqa: E402
from geo.registry import GeoJSONFileStore  # noqa: E402

QUERIES = ("jfb", "解放碑", "观音桥街道", "体育二路", "渝北", "石桥铺", "jiefangbei", "快递小哥之家", "无此地名xyz")
REPEAT = 20


def timed(fn, repeat: int = REPEAT) -> tuple[float, float]:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs), max(runs)


def bench(path: Path, districts: Districts) -> list[tuple]:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "stations.geojson"
        shutil.copy(path, copy)
        snapshot = GeoJSONFileStore(copy, districts).snapshot()
        start = time.perf_counter()
        gazetteer = build_gazetteer(snapshot)
        build_ms = (time.perf_counter() - start) * 1000
        rows = [(path.name, "(build)", len(gazetteer.places), build_ms, build_ms, "")]
        for q in QUERIES:
            folded = fold(q)
            base, _ = timed(lambda folded=folded: [n.find(folded) for n in gazetteer.names])
            median, worst = timed(lambda q=q: gazetteer.search(q))
            rows.append((path.name, q, len(gazetteer.search(q)), median, worst, f"{base:.2f}"))
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--big", type=Path, help="a big registry (e.g. 200,000 stations) to time as well")
    args = parser.parse_args()
    districts = Districts.load()
    rows = bench(DATA_DIR / "stations.geojson", districts)
    if args.big:
        rows += bench(args.big, districts)
    print(f"{'registry':<20} {'query':<14} {'hits':>6} {'median ms':>10} {'worst ms':>9} {'str.find ms':>12}")
    for name, q, hits, median, worst, base in rows:
        print(f"{name:<20} {q:<14} {hits:>6} {median:>10.2f} {worst:>9.2f} {base:>12}")
    slow = [r for r in rows if r[1] != "(build)" and r[4] >= 50]
    print("every query under 50 ms" if not slow else f"{len(slow)} queries at or over 50 ms")


if __name__ == "__main__":
    main()
