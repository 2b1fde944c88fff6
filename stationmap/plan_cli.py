"""``stationmap plan`` (where to build next) and ``stationmap coverage --population`` (residents within reach).

Thin click over ``geo.planning.plans``. Kept out of ``stationmap.cli`` so that module only
registers the command; options and error handling mirror it (this module must not import
``stationmap.cli`` at import time: that module imports this one).
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import click

from geo import schema
from geo.errors import Problem, ValidationError
from geo.messages import Text, locale_lang, translate
from stationmap.options import districts_option, registry_option
from stationmap.options import domain_errors as _domain_errors
from stationmap.table import format_table

# The --geojson gap layer of `coverage --population` keeps the most populated uncovered cells.
GAP_CELLS_MAX = 5000


def _snapshot(registry, districts):
    from geo.registry import open_store

    return open_store(registry, districts).snapshot()


def parse_radius(value) -> float:
    """Metres, or a preset name: walk15 (1,200 m) or ebike15 (4,000 m)."""
    from geo.planning.popcoverage import RADIUS_PRESETS
    from geo.queries.coverage import check_radius

    text = str(value).strip().lower()
    return RADIUS_PRESETS[text] if text in RADIUS_PRESETS else check_radius(text)


def _write(path: Path, data: bytes) -> None:
    from geo.fileio import atomic_write_bytes

    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise click.ClickException(f"{path}: cannot write ({exc.strerror})") from None
    click.echo(f"→ {path}", err=True)


# -- coverage --population ------------------------------------------------------------------


def population_coverage_output(radius_m, at=None, *, as_csv=False, as_json=False, gaps_file=None, lang="zh",
                               registry=None, districts=None, cell_m: float = 500.0, xlsx_file=None) -> None:
    """Print population-weighted coverage (``stationmap coverage --population``): table, CSV or JSON.

    All three carry the planner page's columns (``geo.planning.export.COVERAGE_TABLE_COLUMNS``);
    CSV and XLSX start with where the numbers come from.
    """
    from geo.planning import export as planexport
    from geo.planning.plans import snapshot_population_coverage
    from geo.planning.provenance import Provenance, format_moment

    radius_m = parse_radius(radius_m)
    snap = _snapshot(registry, districts)
    cov = snapshot_population_coverage(snap, radius_m, at, cell_m=cell_m)
    provenance = Provenance.of(snap, cov.grid, radius_m, cov.at)
    if gaps_file is not None:
        data = planexport.gap_cells_geojson(cov, n=GAP_CELLS_MAX)
        _write(Path(gaps_file), planexport.dumps(data, compact=True).encode("utf-8"))
        uncovered = int(((~cov.covered) & (cov.grid.residents > 0)).sum())
        click.echo(f"gap cells: the {len(data['features']):,} most populated of {uncovered:,} uncovered cells", err=True)
    if xlsx_file is not None:
        _write(Path(xlsx_file), planexport.coverage_xlsx(cov, lang, provenance))
    if as_csv:
        sys.stdout.buffer.write(planexport.coverage_csv(cov, lang, provenance))
        sys.stdout.flush()
        return
    if as_json:
        click.echo(planexport.dumps({**planexport.coverage_json(cov, lang=lang, provenance=provenance),
                                     "table": planexport.frame_records(planexport.coverage_table(cov, lang))}))
        return
    table = planexport.coverage_table(cov, lang)
    headers = [planexport.header(c, lang) for c in table.columns]
    rows = [[_cell(column, r[column]) for column in table.columns] for r in table.to_dict("records")]
    numeric = {i for i, c in enumerate(table.columns) if planexport.COLUMN_KINDS.get(c, "text") != "text"}
    click.echo(format_table(headers, rows, right_align=numeric))
    when = translate("cli.open_at", lang, at=format_moment(cov.at, lang)) if cov.at else ""
    click.echo("\n" + translate("cli.population", lang, source=cov.grid.source, when=when), err=True)


def _cell(column: str, value) -> str:
    """A table cell as the page shows it: whole people with separators, shares as %, "—" for none."""
    import pandas as pd

    from geo.planning.export import COLUMN_KINDS

    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return "—"
    kind = COLUMN_KINDS.get(column, "text")
    if kind == "share":
        return f"{value:.1%}"
    if kind in ("people", "metres", "count"):
        return f"{value:,.0f}"
    return str(value)


# -- plan ------------------------------------------------------------------------------------


class _Progress:
    """tqdm bars on stderr (only on a terminal); a ticking bar while CBC runs."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None
        self.stage = None
        self._stop = threading.Event()
        self._ticker = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if stage != self.stage:
            self.close()
            self.stage = stage
            self.bar = tqdm(total=total, desc=stage, file=sys.stderr, leave=False, disable=None)
            if stage.startswith("exact: CBC"):
                self._stop.clear()
                self._ticker = threading.Thread(target=self._tick, daemon=True)
                self._ticker.start()
        if done >= total:
            self.close()
        elif self.bar is not None:
            self.bar.n = done
            self.bar.refresh()

    def _tick(self):
        started = time.monotonic()
        while not self._stop.wait(1.0):
            if self.bar is not None:
                self.bar.set_postfix_str(f"{time.monotonic() - started:.0f} s")

    def close(self):
        self._stop.set()
        if self.bar is not None:
            self.bar.close()
        self.bar, self.stage = None, None


def _load_grid(path: Path | None, snapshot, cell_m):
    if path is None:
        return None
    from geo.planning.population import population_from_points_csv, population_from_raster

    if path.suffix.lower() in (".tif", ".tiff"):
        return population_from_raster(path, snapshot.districts, cell_m)
    if path.suffix.lower() == ".csv":
        return population_from_points_csv(path, snapshot.districts, cell_m)
    raise ValidationError(Problem(str(path), Text("plan.population_format")))


@click.command()
@click.option("--new", "n_new", type=click.IntRange(1, 1000), required=True, help="How many new stations to site.")
@click.option("--radius", default="1200", show_default=True,
              help="Reach in metres, or walk15 (1200: 15 minutes on foot) / ebike15 (4000: 15 minutes by e-bike).")
@click.option("--district", default=None, help="Plan for one district (adcode, e.g. 500112); default the whole city.")
@click.option("--candidates", "candidates_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="CSV of candidate hosts (name, lon, lat; WGS-84). Default: every grid cell in scope.")
@click.option("--method", type=click.Choice(["greedy", "exact", "both"]), default="greedy", show_default=True,
              help="greedy (seconds), exact MCLP via spopt + CBC, or both to compare.")
@click.option("--time-limit", "time_limit", type=click.FloatRange(1, 3600), default=120, show_default=True,
              help="Seconds CBC may run; when hit, the best plan found and its proven bound are reported.")
@click.option("--cell", "cell_m", type=click.Choice(["250", "500", "1000", "2000"]), default=None,
              help="Demand grid cell in metres [default: 500 with --district, else 1000].")
@click.option("--population-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Real population instead of the census model: GeoTIFF (people per pixel) or CSV (lon, lat, weight).")
@click.option("--at", "at", default=None,
              help="Count only stations open then: 'HH:MM' (today), 'Mo 22:00' or '2026-12-07T22:00' [default: all day].")
@click.option("--kind", "kinds", type=click.Choice(list(schema.KINDS)), multiple=True,
              help="Count only these existing kinds (repeatable) [default: all active stations].")
@click.option("--csv", "csv_file", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write the sites as CSV (UTF-8 BOM).")
@click.option("--geojson", "geojson_file", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write the sites as GeoJSON.")
@click.option("--xlsx", "xlsx_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write sites, before/after per district and a summary as an Excel workbook.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default=locale_lang, show_default="the locale's (LANG), else zh",
              help="Label language.")
@registry_option
@districts_option
@_domain_errors
def plan(n_new, radius, district, candidates_file, method, time_limit, cell_m, population_file, at, kinds, csv_file, geojson_file,
         xlsx_file, as_json, lang, registry, districts):
    """Where to build next: sites that bring the most residents within reach, existing stations kept.

    Maximal covering location on a population grid (2020 census, modelled; or --population-file).
    Greedy takes seconds; --method exact solves the MCLP with spopt and CBC (time-limited).

    \b
    Examples:
      stationmap plan --new 20 --radius 1200
      stationmap plan --new 10 --radius walk15 --district 500112 --method both --xlsx yubei.xlsx
      stationmap plan --new 5 --candidates hosts.csv --district 500103 --csv sites.csv
      stationmap plan --new 5 --district 500112 --at "Mo 22:00"
    """
    from geo.planning import export as planexport
    from geo.planning.plans import snapshot_plan, snapshot_population_grid
    from geo.planning.provenance import Provenance

    radius_m = parse_radius(radius)
    snap = _snapshot(registry, districts)
    if district is not None and district not in snap.districts.by_adcode:
        raise ValidationError(Problem("--district", Text("pop.unknown_district", adcode=district), Text("hint.example", example="500112")))
    cell = float(cell_m) if cell_m else (500.0 if district else 1000.0)
    grid = _load_grid(population_file, snap, cell)
    progress = _Progress(enabled=not as_json)
    try:
        result = snapshot_plan(snap, n_new, radius_m, district, candidates=candidates_file, method=method, time_limit_s=time_limit,
                               cell_m=cell, kinds=kinds or None, grid=grid, progress=progress, at=at)
    finally:
        progress.close()
    used_grid = grid if grid is not None else snapshot_population_grid(snap, cell)
    provenance = Provenance.of(snap, used_grid, radius_m, result.at, result)
    if csv_file:
        _write(csv_file, planexport.plan_csv(result, lang, provenance))
    if geojson_file:
        _write(geojson_file, planexport.dumps(planexport.sites_geojson(result)).encode("utf-8"))
    if xlsx_file:
        _write(xlsx_file, planexport.plan_xlsx(result, lang, provenance))
    if as_json:
        click.echo(planexport.dumps(planexport.plan_json(result, lang, provenance)))
        return
    _print_plan(result, lang)


def _print_plan(result, lang: str) -> None:
    zh = lang == "zh"
    headers = ["#", *(translate(f"cli.col.{c}", lang) for c in ("name", "lon", "lat", "district", "added", "cumulative"))]
    rows = [[r["rank"], r["name"] if zh else r["name_en"], f"{r['lon']:.5f}", f"{r['lat']:.5f}", r["district"] if zh else r["adcode"],
             f"{r['residents_added']:,.0f}", f"{r['cumulative_added']:,.0f}"] for r in result.sites.to_dict("records")]
    click.echo(format_table(headers, rows, right_align={0, 2, 3, 5, 6}))
    t = result.totals
    click.echo("")
    for p in (result, result.alternative):
        if p is None:
            continue
        bound = translate("cli.bound", lang, bound=f"{p.best_bound:,.0f}", gap=f"{p.gap:.2%}") if p.best_bound else ""
        click.echo(translate("cli.objective", lang, label=Text(f"cli.method.{p.method}"), objective=f"{p.objective:,.0f}",
                             status=p.status, bound=bound, runtime=f"{p.runtime_s:.1f}"))
    click.echo(translate("cli.covered", lang, before=f"{t['covered_before']:,.0f}", after=f"{t['covered_after']:,.0f}",
                         share_before=f"{t['share_before']:.1%}", share_after=f"{t['share_after']:.1%}", residents=f"{t['residents']:,.0f}"))
    if result.fewer_sites:
        click.echo(result.shortfall().render(lang))
    if result.at is not None:
        from geo.planning.provenance import format_moment

        click.echo(translate("cli.counting_open_at", lang, at=format_moment(result.at, lang)))
    for note in result.notes:
        click.echo(translate("cli.note", lang, note=note), err=True)
