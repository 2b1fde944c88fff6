"""How much the demand grid's cell size moves population coverage, and what finer cells cost.

Prints, for each cell size, the time to build the grid and compute coverage (first run,
then cached-grid run), the city share, and the largest per-district difference against
the finest grid (250 m, the baseline measured in the same run). The note in
The catalogue message ``prov.discretisation_note`` (and planner.discretisation_note) quotes these figures.

    python scripts/bench_discretisation.py [--radius 1200]
"""

from __future__ import annotations

import argparse
import time

from geo.planning.popcoverage import population_coverage
from geo.planning.population import modelled_population
from geo.registry import open_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--radius", type=float, default=1200.0)
    args = parser.parse_args()
    store = open_store(None, None)
    snap = store.snapshot()
    results = {}
    for cell in (250.0, 500.0, 1000.0):
        t0 = time.perf_counter()
        grid = modelled_population(snap.districts, cell)
        t1 = time.perf_counter()
        cov = population_coverage(snap.active, grid, snap.districts, args.radius)
        t2 = time.perf_counter()
        results[cell] = (t1 - t0, t2 - t1, cov, len(grid.residents))
    base = results[250.0][2].table.set_index("adcode")["population_share"]
    print(f"radius {args.radius:g} m, {len(snap.active):,} active stations; baseline 250 m cells")
    print(f"{'cell m':>7} {'records':>9} {'grid s':>7} {'cover s':>8} {'city %':>7} {'max |Δ| pp':>11} {'mean |Δ| pp':>12} worst")
    for cell, (tg, tc, cov, n) in results.items():
        share = cov.table.set_index("adcode")["population_share"]
        diff = (share - base).abs() * 100
        worst = diff.idxmax()
        print(f"{cell:>7g} {n:>9,} {tg:>7.2f} {tc:>8.2f} {cov.totals['population_share'] * 100:>7.2f} {diff.max():>11.2f} "
              f"{diff.mean():>12.2f} {cov.table.set_index('adcode').loc[worst, 'district']}")


if __name__ == "__main__":
    main()
