"""Benchmark the planners' workbench: population coverage for the sample and a 200,000-station registry, and siting N = 20.

Prints one table of population-weighted coverage (R = 1 km) for the 38 districts under both
registries, then timings against the goals: coverage < 2 s (sample) and < 10 s (200k);
greedy siting < 5 s; exact MCLP < 120 s or stopped at the time limit with its bound.

examples:
  python scripts/bench_planning.py
  python scripts/bench_planning.py --big /tmp/big.geojson --time-limit 60
  python scripts/bench_planning.py --skip-exact --skip-big
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from geo.planning.popcoverage import population_coverage  # noqa: E402
from geo.planning.population import default_population_grid  # noqa: E402
from geo.planning.siting import plan_sites  # noqa: E402
from geo.registry import open_store  # noqa: E402
from stationmap.table import format_table  # noqa: E402


def timed(fn, *args, **kwargs):
    started = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - started


def load_big(path: Path, districts):
    """The big registry's active stations, read with pyogrio (the store's full validation of 200k rows takes a minute)."""
    import geopandas as gpd

    if not path.exists():
        print(f"generating {path} (200,000 outdoor stations) …", file=sys.stderr)
        subprocess.run([sys.executable, str(REPO / "scripts" / "make_sample_registry.py"), "--outdoor", "200000", "--out", str(path), "-q"],
                       check=True)
    frame = gpd.read_file(path, engine="pyogrio", columns=["kind", "district_adcode", "opening_hours", "status"])
    return frame[frame["status"] == "active"].reset_index(drop=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="\n".join(__doc__.splitlines()[6:]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registry", type=Path, default=None, help="sample registry [default: data/stations.geojson]")
    parser.add_argument("--big", type=Path, default=Path(tempfile.gettempdir()) / "big.geojson",
                        help="200k registry (generated if missing) [default: $TMPDIR/big.geojson]")
    parser.add_argument("--radius", type=float, default=1000.0, help="coverage radius in metres (default 1000)")
    parser.add_argument("--plan-radius", type=float, default=1200.0, help="siting radius in metres (default 1200)")
    parser.add_argument("--new", type=int, default=20, help="sites to add (default 20)")
    parser.add_argument("--district", default="500101", help="district for the 500 m siting run (default 500101 万州)")
    parser.add_argument("--time-limit", type=float, default=120.0, help="CBC time limit in seconds (default 120)")
    parser.add_argument("--skip-big", action="store_true", help="skip the 200k registry")
    parser.add_argument("--skip-exact", action="store_true", help="greedy only")
    args = parser.parse_args(argv)

    timings = []
    store, t_open = timed(open_store, args.registry)
    snap = store.snapshot()
    districts = snap.districts
    stations = snap.active
    grid, t_grid = timed(default_population_grid, districts, 1000.0)
    timings.append(("registry open + validate (sample)", f"{len(stations):,} stations", t_open, None))
    timings.append(("population grid 1 km (census model)", f"{len(grid):,} cells", t_grid, None))
    cov, t_cov = timed(population_coverage, stations, grid, districts, args.radius)
    timings.append((f"population coverage R={args.radius:g} m, sample", f"area: {cov.area_method}", t_cov, 2.0))

    big_cov = None
    if not args.skip_big:
        big, t_load = timed(load_big, args.big, districts)
        timings.append(("read 200k registry (pyogrio, no validation)", f"{len(big):,} stations", t_load, None))
        big_cov, t_big = timed(population_coverage, big, grid, districts, args.radius)
        timings.append((f"population coverage R={args.radius:g} m, 200k", f"area: {big_cov.area_method}", t_big, 10.0))

    headers = ["区县", "常住人口", "站点", "人口覆盖率", "面积覆盖率"] + (["站点(200k)", "人口覆盖率(200k)", "面积覆盖率(200k)"] if big_cov else [])
    rows = []
    big_table = big_cov.table.set_index("adcode") if big_cov else None
    for r in [*cov.table.to_dict("records"), cov.totals | {"district": "全市合计"}]:
        row = [r["district"], f"{r['population']:,}", r["stations"], f"{r['population_share']:.1%}", f"{r['area_share']:.1%}"]
        if big_cov:
            b = big_table.loc[r["adcode"]] if r["adcode"] in big_table.index else big_cov.totals
            row += [b["stations"], f"{b['population_share']:.1%}", f"{b['area_share']:.1%}"]
        rows.append(row)
    print(f"Population-weighted coverage within {args.radius:g} m (2020 census, modelled on 1 km cells)\n")
    print(format_table(headers, rows, right_align=set(range(1, len(headers)))))

    grid500 = default_population_grid(districts, 500.0)
    runs = [(f"district {args.district}, 500 m cells", grid500, args.district), ("whole city, 1 km cells", grid, None)]
    plans = []
    for label, g, district in runs:
        methods = ["greedy"] if args.skip_exact else ["both"]
        for method in methods:
            plan, elapsed = timed(plan_sites, g, stations, args.plan_radius, args.new, district=district, method=method,
                                  time_limit_s=args.time_limit, districts=districts)
            greedy = plan.alternative or plan
            cand = greedy.model_size.get("candidates")
            timings.append((f"greedy N={args.new}, {label}", f"{cand:,} candidates", greedy.runtime_s, 5.0))
            if plan.method == "exact":
                gap = f", gap {plan.gap:.3%}" if plan.gap is not None else ""
                size = plan.model_size
                what = (f"{plan.status}{gap}; model {size.get('facilities_reduced', 0):,}×{size.get('demand_reduced', 0):,}, "
                        f"build {size.get('build_s', 0):.1f} s")
                # Goal: done within the limit, or stopped at it with a bound reported.
                stopped_with_bound = plan.status in ("time_limit", "stopped") and plan.best_bound is not None
                timings.append((f"exact MCLP N={args.new}, {label}", what + (" (bound reported)" if stopped_with_bound else ""),
                                plan.runtime_s, None if stopped_with_bound else args.time_limit))
            plans.append((label, plan))

    print("\nTimings\n")
    print(format_table(["step", "size / notes", "seconds", "goal"],
                       [[s, n, f"{t:.2f}", "" if g is None else (f"< {g:g} ✓" if t < g else f"< {g:g} ✗")] for s, n, t, g in timings],
                       right_align={2}))
    print(f"\nSiting N={args.new} at R={args.plan_radius:g} m (existing stations fixed)\n")
    rows = []
    for label, plan in plans:
        for p in (plan.alternative, plan) if plan.alternative else (plan,):
            rows.append([label, p.method, p.status, f"{p.totals['covered_before']:,.0f}", f"{p.objective:,.0f}",
                         f"{p.totals['added']:,.0f}", "" if p.best_bound is None else f"{p.best_bound:,.0f}"])
        if plan.alternative:
            rows.append([label, "greedy/exact", "", "", f"{plan.comparison()['greedy_over_exact']:.4%}", "", ""])
    print(format_table(["scope", "method", "status", "covered before", "covered after", "added", "bound"], rows,
                       right_align={3, 4, 5, 6}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
