"""Command-line interface: thin click commands over the ``geo`` domain functions.

Every command's docstring is its ``--help`` text, with an example you can paste.
Errors reach the user as one line and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from geo import schema
from geo.errors import StationMapError, ValidationError
from geo.messages import locale_lang, localise, message_of, translate
from stationmap.options import CommandError, districts_option, domain_errors, registry_option
from stationmap.table import format_table

KIND_CHOICE = click.Choice(list(schema.KINDS))
AMENITY_CHOICE = click.Choice(list(schema.AMENITIES))
CRS_CHOICE = click.Choice(list(schema.INPUT_CRS))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="stationmap")
def main():
    """驿站图 — Chongqing's trade-union outdoor-worker stations: find, measure, serve.

    \b
    Examples:
      stationmap nearest --lon 106.5516 --lat 29.5630 -k 3 --open-now
      stationmap coverage --radius 1000
      stationmap validate data/stations.geojson
      stationmap serve --port 8000
    """


def open_store(registry, districts):
    from geo.registry import open_store as _open_store

    return _open_store(registry, districts)


@main.command()
@click.option("--lon", type=float, required=True, help="Longitude in degrees (east), e.g. 106.5516.")
@click.option("--lat", type=float, required=True, help="Latitude in degrees (north), e.g. 29.5630.")
@click.option("-k", "k", type=click.IntRange(1, 100), default=5, show_default=True, help="How many stations.")
@click.option("--kind", type=KIND_CHOICE, default=None, help="Only stations of this kind.")
@click.option("--amenity", "amenities", type=AMENITY_CHOICE, multiple=True, help="Required amenity (repeatable).")
@click.option("--open-now", is_flag=True, help="Only stations open now (Chongqing time).")
@click.option("--at", "at", type=click.DateTime(["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]), default=None,
              help="Only stations open at this local time, e.g. '2026-12-01 22:30'.")
@click.option("--crs", type=CRS_CHOICE, default="wgs84", show_default=True,
              help="System of --lon/--lat: wgs84 (GPS), gcj02 (Amap/Tencent/WeChat), bd09 (Baidu).")
@click.option("--json", "as_json", is_flag=True, help="Print GeoJSON (a FeatureCollection) instead of a table.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default=locale_lang, show_default="the locale's (LANG), else zh",
              help="Label language.")
@registry_option
@districts_option
@domain_errors
def nearest(lon, lat, k, kind, amenities, open_now, at, crs, as_json, lang, registry, districts):
    """The k nearest active stations to a point: straight-line (geodesic) metres and estimated walking minutes
    (straight line × detour 1.4); a station across the Yangtze or Jialing is marked and ranked as a detour.

    \b
    Example (解放碑, from a phone's Amap coordinates):
      stationmap nearest --lon 106.5772 --lat 29.5573 --crs gcj02 -k 3 --amenity toilet --open-now
    """
    from geo.hours import describe_hours
    from geo.messages import Text
    from geo.queries.distance import NOTE_MESSAGES
    from geo.queries.finder import find_for_rider

    snap = open_store(registry, districts).snapshot()
    open_at = at if at is not None else (None if open_now else False)
    answer = find_for_rider(snap, lon, lat, k=k, kind=kind, amenities=amenities, open_at=open_at, crs=crs)
    features = answer.features
    if as_json:
        click.echo(json.dumps({"type": "FeatureCollection", "note": answer.note, "crs_hint": answer.crs_hint,
                               "features": features}, ensure_ascii=False, indent=1))
        return
    if answer.note:  # outside Chongqing, or nothing within 50 km: no list of absurd minutes
        click.echo(Text(NOTE_MESSAGES[answer.note]).render(lang))
        return
    if not features:
        click.echo(translate("cli.no_match", lang))
        return
    headers = ["#", *(translate(f"cli.col.{c}", lang) for c in ("metres", "walk", "name", "kind", "hours", "id"))]
    crossing = translate("cli.across_river", lang)
    rows = [
        [i + 1, f"{f['properties']['distance_m']:,.0f}", f"{f['properties']['walk_minutes']}",
         f["properties"]["name"] + (crossing if f["properties"]["crosses_river"] else ""),
         schema.kind_label(f["properties"]["kind"], lang), describe_hours(f["properties"]["opening_hours"], lang),
         f["properties"]["id"]]
        for i, f in enumerate(features)
    ]
    click.echo(format_table(headers, rows, right_align={0, 1, 2}))


@main.command()
@click.option("--radius", "radius_m", type=float, default=1000.0, show_default=True,
              help="Reach of a station in metres (1000 ≈ a 12–15-minute walk).")
@click.option("--csv", "as_csv", is_flag=True, help="Print the table as CSV (UTF-8) instead.")
@click.option("--json", "as_json", is_flag=True, help="Print the table and totals as JSON.")
@click.option("--geojson", "gaps_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the uncovered area (gap layer) to this GeoJSON file.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default=locale_lang, show_default="the locale's (LANG), else zh",
              help="Label language.")
@click.option("--population", is_flag=True, help="Residents within the radius (2020 census, 1 km grid) next to area share.")
@click.option("--at", "at", default=None,
              help="With --population: only stations open then: 'HH:MM' (today), 'Mo 22:00' (next Monday) or '2026-12-07T22:00'.")
@click.option("--cell", "cell_m", type=click.Choice(["250", "500", "1000", "2000"]), default=None,
              help="With --population: demand grid cell in metres [default: 500].")
@click.option("--xlsx", "xlsx_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --population: also write the table as an Excel workbook.")
@registry_option
@districts_option
@domain_errors
def coverage(radius_m, as_csv, as_json, gaps_file, lang, population, at, cell_m, xlsx_file, registry, districts):
    """Per-district coverage: stations per 10k residents, per 100 km², share of area within the radius.

    \b
    Examples:
      stationmap coverage --radius 1000 --geojson gaps.geojson
      stationmap coverage --population --radius 1200 --at "Mo 22:00" --cell 500 --xlsx coverage.xlsx
    """
    from geo.queries.coverage import check_radius

    radius_m = check_radius(radius_m)
    if population or at is not None or cell_m or xlsx_file:
        from stationmap.plan_cli import population_coverage_output

        if not population:
            raise click.UsageError("--at, --cell and --xlsx need --population")
        return population_coverage_output(radius_m, at, as_csv=as_csv, as_json=as_json, gaps_file=gaps_file, lang=lang,
                                          registry=registry, districts=districts, cell_m=float(cell_m or 500),
                                          xlsx_file=xlsx_file)
    from geo.queries.coverage import snapshot_coverage  # geopandas: imported by the commands that need it

    result = snapshot_coverage(open_store(registry, districts).snapshot(), radius_m)
    if gaps_file is not None:
        result.gaps.to_file(gaps_file, driver="GeoJSON", engine="pyogrio")
        click.echo(f"gap layer: {len(result.gaps)} polygons → {gaps_file}", err=True)
    if as_csv:
        sys.stdout.write(result.table.to_csv(index=False, float_format="%.4f"))
        return
    if as_json:
        click.echo(json.dumps({"radius_m": radius_m, "districts": result.records(), "totals": result.totals},
                              ensure_ascii=False, indent=1))
        return
    name_col = "district_en" if lang == "en" else "district"
    headers = [*(translate(f"cli.col.{c}", lang) for c in ("district", "residents", "stations", "bookshelf", "childcare",
                                                            "per_10k", "per_100km2")),
               translate("cli.col.area_within", lang, r=f"{radius_m:g}")]
    table = result.table.sort_values("covered_share", ascending=False)
    rows = [
        [r[name_col], f"{r['population']:,}", r["outdoor_station"], r["bookshelf"], r["childcare"],
         f"{r['per_10k_residents']:.2f}", f"{r['per_100km2']:.1f}", f"{r['covered_share']:.1%}"]
        for r in [*table.to_dict("records"), result.totals | {name_col: translate("cli.total", lang)}]
    ]
    click.echo(format_table(headers, rows, right_align={1, 2, 3, 4, 5, 6, 7}))


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@districts_option
@click.option("--json", "as_json", is_flag=True, help="Print problems as JSON (in English, for programs).")
@click.option("--lang", type=click.Choice(["zh", "en"]), default=locale_lang, show_default="the locale's (LANG), else zh",
              help="Language of the problems and the summary.")
def validate(file, districts, as_json, lang):
    """Check a station GeoJSON file against the schema and the district map.

    Reports every problem (feature, field, reason); exit status 1 if there is any.

    \b
    Example:
      stationmap validate data/stations.geojson
    """
    from geo.districts import Districts
    from geo.registry.validate import validate_file_bytes

    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise CommandError(translate("cli.cannot_read", lang, file=str(file), detail=exc.strerror), lang) from None
    try:
        data = validate_file_bytes(raw, Districts.load(districts), source=str(file))
    except ValidationError as exc:
        if as_json:
            click.echo(json.dumps({"ok": False, "errors": [p.as_dict() for p in exc.problems]}, ensure_ascii=False, indent=1))
        else:
            for problem in exc.problems:
                # Whole-file problems already name the file as their place.
                text = problem.text(lang)
                click.echo(text if text.startswith(str(file)) else translate("cli.in_file", lang, file=str(file), text=text),
                           err=True)
        raise CommandError(translate("cli.validate_failed", lang, file=str(file), n=len(exc.problems)), lang) from None
    except StationMapError as exc:
        raise CommandError(localise(message_of(exc), lang), lang) from None
    n = len(data["features"])
    click.echo(json.dumps({"ok": True, "features": n}) if as_json else translate("cli.validate_ok", lang, file=str(file), n=n))


@main.command()
@click.argument("station_id")
@registry_option
@districts_option
@click.option("--json", "as_json", is_flag=True, help="Print the audit entries as JSON.")
@domain_errors
def history(station_id, registry, districts, as_json):
    """One station's story: every audited change, oldest first.

    \b
    Example:
      stationmap history 500103-OS-0001
    """
    store = open_store(registry, districts)
    store.get(station_id)  # NotFoundError for unknown ids
    entries = store.history(station_id)
    if as_json:
        click.echo(json.dumps(entries, ensure_ascii=False, indent=1))
        return
    if not entries:
        click.echo(f"{station_id}: no recorded changes since the registry was created")
        return
    for entry in entries:
        for change in entry["changes"]:
            if change["id"] != station_id:
                continue
            fields = _changed_fields(change["before"], change["after"])
            click.echo(f"{entry['at']}  v{entry['version']}  {change['action']:<8} {entry['actor']} ({entry['role']}"
                       f"{', ' + entry['district'] if entry.get('district') else ''})  {fields}")


def _changed_fields(before, after) -> str:
    if before is None:
        return "created"
    changed = [k for k in after["properties"] if before["properties"].get(k) != after["properties"].get(k) and k != "updated_at"]
    if before.get("geometry") != after.get("geometry"):
        changed.append("location")
    return "changed: " + ", ".join(changed) if changed else ""



from stationmap.serve import serve  # noqa: E402

main.add_command(serve)

from stationmap.users_cli import users  # noqa: E402

main.add_command(users)
main.add_command(users, "accounts")  # the same commands under the name

from stationmap.plan_cli import plan  # noqa: E402

main.add_command(plan)

from stationmap.db_cli import db  # noqa: E402

main.add_command(db)
