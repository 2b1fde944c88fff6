"""Time a district's 1,000-row upload (parse, check, commit) into the sample registry and a 200,000-station one.

Each registry is copied to a temporary directory first; the originals are never written.
The upload is a UTF-8 CSV with Chinese headers, every row inside 渝中区, checked and
committed as the 渝中区 account (duplicate warnings confirmed). A second upload into the
same store shows the steady state of a long-running server.

examples:
  python scripts/bench_upload.py                                   # sample registry only
  python scripts/make_sample_registry.py --outdoor 200000 --out /tmp/big.geojson
  python scripts/bench_upload.py --big /tmp/big.geojson            # both, as a table
  python scripts/bench_upload.py --big /tmp/big.geojson --profile  # where commit time goes
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geo.access.permissions import Actor  # noqa: E402
from geo.districts import Districts  # noqa: E402
from geo.paths import DATA_DIR  # noqa: E402
from geo.registry import GeoJSONFileStore  # noqa: E402
from geo.uploads.pipeline import check_upload, commit_upload, parse_upload  # noqa: E402

ACTOR = Actor("yuzhong", "district", "500103")
HEADER = ["名称", "类型", "地址", "主办单位", "联系电话", "开放时间", "服务设施", "经度", "纬度"]


def make_upload(districts: Districts, rows: int, seed: int) -> bytes:
    """``rows`` stations at random points inside 渝中区, as a UTF-8 CSV with Chinese headers."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = districts.frame.geometry.iloc[districts.by_adcode["500103"]].bounds
    points = []
    while len(points) < rows:
        lon, lat = rng.uniform(minx, maxx, 4 * rows), rng.uniform(miny, maxy, 4 * rows)
        inside = districts.locate(lon, lat) == "500103"
        points += list(zip(lon[inside], lat[inside], strict=True))
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for i, (lon, lat) in enumerate(points[:rows]):
        writer.writerow([f"基准驿站{seed}-{i:04d}", "户外劳动者服务站", f"重庆市渝中区基准路{i}号", "渝中区总工会", "023-63000000",
                         "Mo-Su 08:00-20:00", "休息、饮水、充电", f"{lon:.6f}", f"{lat:.6f}"])
    return out.getvalue().encode("utf-8")


def one_upload(store: GeoJSONFileStore, districts: Districts, raw: bytes, profile: bool) -> dict[str, float]:
    times = {}
    started = time.perf_counter()
    parsed = parse_upload("bench.csv", raw, "wgs84", district_adcode=ACTOR.district_adcode, districts=districts)
    times["parse"] = time.perf_counter() - started
    mark = time.perf_counter()
    report = check_upload(parsed, store.snapshot(), ACTOR, districts)
    times["check"] = time.perf_counter() - mark
    if not report.ok:
        raise SystemExit(f"benchmark upload has problems: {report.problems[:3]}")
    mark = time.perf_counter()
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    ids = commit_upload(store, report, ACTOR, confirm_duplicates=True)
    if profiler:
        profiler.disable()
    times["commit"] = time.perf_counter() - mark
    times["total"] = time.perf_counter() - started
    assert len(ids) == len(parsed)
    if profiler:
        print("\ncommit profile (top 15 by own time):", file=sys.stderr)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(15)
    return times


def bench(label: str, source: Path, districts: Districts, rows: int, profile: bool) -> list[list[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stations.geojson"
        shutil.copyfile(source, path)
        started = time.perf_counter()
        store = GeoJSONFileStore(path, districts)
        size = len(store.snapshot())
        opened = time.perf_counter() - started
        print(f"{label}: {size:,} stations, {path.stat().st_size / 1e6:,.1f} MB, opened and validated in {opened:.2f} s",
              file=sys.stderr)
        result = []
        for attempt, seed in (("first upload", 1), ("second upload", 2)):
            times = one_upload(store, districts, make_upload(districts, rows, seed), profile and attempt == "first upload")
            result.append([f"{label} ({size:,}), {attempt}", *(f"{times[k]:.2f}" for k in ("parse", "check", "commit", "total"))])
        return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=Path, default=DATA_DIR / "stations.geojson", help="the sample registry")
    parser.add_argument("--big", type=Path, default=None, help="a 200,000-station registry (make_sample_registry.py)")
    parser.add_argument("--rows", type=int, default=1_000, help="stations per upload (default: 1000)")
    parser.add_argument("--profile", action="store_true", help="cProfile the first commit into each registry")
    args = parser.parse_args(argv)
    districts = Districts.load()
    table = bench("sample", args.sample, districts, args.rows, args.profile)
    if args.big is not None:
        table += bench("big", args.big, districts, args.rows, args.profile)
    from stationmap.table import format_table

    print(f"\n{args.rows:,}-row upload, seconds")
    print(format_table(["registry", "parse", "check", "commit", "total"], table, right_align={1, 2, 3, 4}))


if __name__ == "__main__":
    main()
