"""What should the database answer itself? Each app server holds the stations in memory; PostGIS
could answer the queries that need no nearest index: a bounding-box listing (the map's view) and
coverage (the union of station circles per district). Measured side by side in one run, on a
PostGIS registry (e.g. the 200,000 stations ``bench_store.py`` imports):

- bbox listing: ``ST_Intersects(geom, ST_MakeEnvelope(…))`` with the GiST index (``&&`` alone is
  approximate: the index holds float4 boxes) vs ``StationColumns.select``
  on the server's columns (the same stations, checked), for a street, a district and the city;
- coverage of one district at 1 km: ``ST_Union(ST_Buffer(…))`` in the equal-area projection,
  intersected with the district, vs this program's coverage of all 38 districts (its method at
  this size: exact union of circles up to 20,000 active stations, 250 m cells above).

Example:
    python scripts/bench_sql.py postgresql:///stations
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geo.districts import Districts  # noqa: E402
from geo.paths import default_districts_path  # noqa: E402
from geo.projection import CHONGQING_EQUAL_AREA  # noqa: E402
from geo.queries.coverage import AREA_EQUALISING_FACTOR, coverage_points, district_coverage  # noqa: E402
from geo.queries.selection import StationColumns  # noqa: E402
from geo.registry import open_store  # noqa: E402
from geo.registry.postgis import connect  # noqa: E402

VIEWS = {
    "a street (0.01° square, 解放碑)": (106.572, 29.552, 106.582, 29.562),
    "a district (渝中区)": (106.49, 29.52, 106.60, 29.58),
    "the whole city": (105.2, 28.1, 110.2, 32.3),
}
COVERAGE_SQL = """
SELECT ST_Area(ST_Intersection(ST_Union(ST_Buffer(ST_Transform(geom, %(proj)s), %(reach)s, 8)),
                               ST_GeomFromWKB(%(district)s)))
FROM stations WHERE status = 'active' AND ST_Intersects(geom, ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 4326))
"""
#: stations this far (degrees) outside a district can still cover part of it at 1 km
MARGIN_DEG = 0.02


def timed(fn, repeat: int) -> tuple[float, object]:
    runs, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs), result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="postgresql://… of a registry (stationmap db import)")
    parser.add_argument("--district", default="500103", help="adcode of the district whose coverage SQL computes")
    args = parser.parse_args(argv)

    districts = Districts.load(default_districts_path())
    snapshot = open_store(args.url, districts).snapshot()
    columns = StationColumns.of_snapshot(snapshot)
    ids = snapshot.column("id")
    rows = []
    with connect(args.url) as conn:
        for label, (x0, y0, x1, y1) in VIEWS.items():
            def sql(x0=x0, y0=y0, x1=x1, y1=y1):
                return conn.execute("SELECT id FROM stations WHERE ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326)) "
                                    "AND status = 'active'", (x0, y0, x1, y1)).fetchall()

            db_s, found = timed(sql, 5)
            memory_s, positions = timed(lambda b=(x0, y0, x1, y1): columns.select(bbox=b), 5)
            a, b = {r[0] for r in found}, set(ids[positions].tolist())
            assert a == b, (label, len(a), len(b), list(a - b)[:3], list(b - a)[:3])
            rows.append((f"bbox listing, {label}: {len(positions):,} stations", db_s, memory_s))

        metric = districts.metric_frame
        d = int(np.flatnonzero(metric["adcode"].to_numpy() == args.district)[0])
        x0, y0, x1, y1 = districts.frame.geometry.iat[d].bounds
        params = {"proj": CHONGQING_EQUAL_AREA.to_proj4(), "reach": 1000.0 * AREA_EQUALISING_FACTOR,
                  "district": shapely.to_wkb(metric.geometry.iat[d]),
                  "x0": x0 - MARGIN_DEG, "y0": y0 - MARGIN_DEG, "x1": x1 + MARGIN_DEG, "y1": y1 + MARGIN_DEG}
        db_s, area = timed(lambda: conn.execute(COVERAGE_SQL, params).fetchone()[0], 1)
        points = coverage_points(snapshot)
        memory_s, result = timed(lambda: district_coverage(points, districts, 1000.0), 1)
        name = metric["name_zh"].iat[d]
        rows.append((f"coverage at 1 km: SQL for {name} alone vs all 38 districts in memory ({result.method})", db_s, memory_s))
        share_db = (area or 0.0) / metric.geometry.iat[d].area
        share_memory = float(result.table["covered_share"].iat[d])
    print(f"\n{len(snapshot):,} stations in {args.url.split('@')[-1]}\n")
    print(f"| {'query':<86} | {'PostGIS':>10} | {'in memory':>10} |")
    print(f"| {'-' * 86} | {'-' * 10}:| {'-' * 10}:|")
    for label, db_s, memory_s in rows:
        print(f"| {label:<86} | {db_s * 1e3:8.1f} ms | {memory_s * 1e3:8.1f} ms |")
    print(f"\n{name} covered share: PostGIS union {share_db:.4f}, in memory {share_memory:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
