"""Coverage, district and gap reports as response bodies: JSON rows, GeoJSON outlines and gaps, and a CSV that Excel opens safely.

The figures come from ``Snapshot.coverage(radius_m)`` (``geo.queries.coverage``); this module only
shapes them: numbers rounded to what they can claim, non-finite values sent as ``null``,
polygons rounded to 1e-5° (about 1 m) and wound as RFC 7946 asks (exterior counter-clockwise).
"""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import shapely

from geo import schema
from geo.messages import translate
from geo.queries.coverage import snapshot_coverage
from webmap.core.responses import CSV, GEOJSON, Body, dumps, json_body

# Decimal places kept per figure: areas to 1,000 m², rates to 4 places, shares to 0.001 %.
ROUNDING = {"area_km2": 3, "covered_km2": 3, "per_10k_residents": 4, "per_100km2": 4, "covered_share": 5}
POLYGON_DECIMALS = 5
# Leading characters that make Excel, LibreOffice or Sheets evaluate a cell as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def plain_row(row: dict) -> dict:
    """numpy scalars → Python numbers, figures rounded, NaN/inf → ``None``."""
    out = {}
    for key, value in row.items():
        if hasattr(value, "item"):
            value = value.item()
        if isinstance(value, float):
            value = round(value, ROUNDING.get(key, 6)) if math.isfinite(value) else None
        out[key] = value
    return out


def radius_value(radius_m: float) -> float | int:
    """1000.0 → 1000, so JSON shows the radius as the user typed it."""
    return int(radius_m) if float(radius_m).is_integer() else radius_m


def geometry_json(geometry) -> str:
    """A polygon as GeoJSON text: coordinates rounded, exterior rings counter-clockwise."""
    rounded = shapely.transform(geometry, lambda xy: np.round(xy, POLYGON_DECIMALS))
    return shapely.to_geojson(shapely.orient_polygons(rounded))


def coverage_body(snapshot, radius_m: float) -> Body:
    result = snapshot_coverage(snapshot, radius_m)
    return json_body({
        "radius_m": radius_value(radius_m),
        "registry_version": snapshot.version,
        "districts": [plain_row(row) for row in result.records()],
        "totals": plain_row(result.totals),
    })


def district_rows(snapshot, radius_m: float) -> list[dict]:
    """One row per district: names, type, seat, population, area, station counts and coverage."""
    frame = snapshot.districts.frame
    info = {
        adcode: (kind, [float(lon), float(lat)])
        for adcode, kind, lon, lat in frame[["adcode", "kind", "seat_lon", "seat_lat"]].itertuples(index=False)
    }
    rows = []
    for record in snapshot_coverage(snapshot, radius_m).records():
        record = plain_row(record)
        kind, seat = info[record["adcode"]]
        rows.append({"adcode": record.pop("adcode"), "name_zh": record.pop("district"),
                     "name_en": record.pop("district_en"), "type": kind, "seat": seat, **record})
    return rows


def districts_body(snapshot, radius_m: float, with_geometry: bool) -> Body:
    rows = district_rows(snapshot, radius_m)
    if not with_geometry:
        return json_body({"radius_m": radius_value(radius_m), "registry_version": snapshot.version,
                          "count": len(rows), "districts": rows})
    frame = snapshot.districts.frame
    outlines = dict(zip(frame["adcode"], frame.geometry, strict=True))
    features = [
        f'{{"type":"Feature","geometry":{geometry_json(outlines[row["adcode"]])},"properties":{dumps(row)}}}'
        for row in rows
    ]
    return _collection(features, radius_m, snapshot.version)


def gaps_body(snapshot, radius_m: float, adcode: str | None = None, run=None) -> Body:
    """``run(fn, *args)``: where a grid coverage's gaps are drawn (the planning pool, so that no worker loads GDAL)."""
    gaps = snapshot_coverage(snapshot, radius_m).gap_polygons(run)
    if adcode is not None:
        gaps = gaps[gaps["adcode"] == adcode]
    features = [
        f'{{"type":"Feature","geometry":{geometry_json(geometry)},'
        f'"properties":{dumps({"adcode": code, "district": name, "area_km2": round(float(area), 4)})}}}'
        for code, name, area, geometry in gaps[["adcode", "district", "area_km2", "geometry"]].itertuples(index=False)
    ]
    total = round(float(gaps["area_km2"].sum()), 3)
    return _collection(features, radius_m, snapshot.version, total_area_km2=total)


def _collection(features: list[str], radius_m: float, version: int, **extra) -> Body:
    head = {"type": "FeatureCollection", "radius_m": radius_value(radius_m), "registry_version": version,
            "count": len(features), **extra}
    text = dumps(head)[:-1] + ',"features":[' + ",".join(features) + "]}"
    return Body(text.encode("utf-8"), GEOJSON)


def csv_headers(radius_m: float, lang: str) -> dict[str, str]:
    """Column → header in ``lang`` (zh or en), in ``geo.queries.coverage.TABLE_COLUMNS`` order."""
    r = f"{radius_m:g}"
    lang = "en" if lang == "en" else "zh"
    headers = {column: translate(f"csv.{column}", lang) for column in ("adcode", "district", "district_en", "population", "area_km2")}
    headers.update({kind: schema.kind_label(kind, lang) for kind in schema.KINDS})
    headers.update({column: translate(f"csv.{column}", lang) for column in ("stations", "per_10k_residents", "per_100km2")})
    headers.update({column: translate(f"csv.{column}", lang, r=r) for column in ("covered_km2", "covered_share")})
    return headers


def spreadsheet_safe(value):
    """Text that a spreadsheet would run as a formula gets a leading apostrophe; numbers pass."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def coverage_csv_body(snapshot, radius_m: float, lang: str) -> Body:
    """The coverage table plus a municipality total row, UTF-8 with a BOM and CRLF line ends (Excel)."""
    result = snapshot_coverage(snapshot, radius_m)
    headers = csv_headers(radius_m, lang)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers.values())
    for row in [*result.records(), result.totals]:
        row = plain_row(row)
        if row.get("covered_share") is not None:
            row["covered_share"] = round(row["covered_share"] * 100, 3)
        writer.writerow(spreadsheet_safe(row.get(column, "")) for column in headers)
    return Body(out.getvalue().encode("utf-8"), CSV)
