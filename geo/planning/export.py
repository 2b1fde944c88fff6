"""Planning results as files: CSV (UTF-8 with BOM, for Excel), XLSX fit for a meeting, GeoJSON and JSON-safe dicts.

Text cells that a spreadsheet would run as a formula (starting with ``= + - @`` or a tab /
carriage return — candidate names come from uploads) are prefixed with an apostrophe.
GeoJSON is RFC 7946: WGS-84 lon/lat, no ``crs`` member.
"""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pandas as pd

from geo.messages import Text, has_message, template
from geo.planning.popcoverage import PopulationCoverage
from geo.planning.siting import SitingPlan
from geo.projection import metric_to_lonlat

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# Column code -> how its values are formatted; the headers (with units) are the catalogue's
# ``export.col.<code>``, the sheet names ``export.sheet.<code>``.
# kinds: people (whole people), share (0–1, shown as %), coord (6 decimals), metres, km2, count, text
COLUMN_KINDS: dict[str, str] = {
    "adcode": "text", "district": "text", "district_en": "text", "population": "people", "residents": "people",
    "stations": "count", "residents_per_station": "people", "residents_covered": "people", "residents_uncovered": "people",
    "population_share": "share", "area_km2": "km2", "covered_km2": "km2", "area_share": "share", "median_distance_m": "metres",
    "rank": "count", "name": "text", "name_en": "text", "street": "text", "lon": "coord", "lat": "coord", "lon_gcj02": "coord",
    "lat_gcj02": "coord", "residents_added": "people", "cumulative_added": "people", "x": "metres", "y": "metres",
    "covered_before": "people", "covered_after": "people", "added": "people", "share_before": "share", "share_after": "share",
    "new_sites": "count", "nearest_m": "metres", "distance_m": "metres", "share": "share", "item": "text", "value": "text",
}
PEOPLE_FORMAT, SHARE_FORMAT, COORD_FORMAT = "#,##0", "0.0%", "0.000000"


def header(code: str, lang: str) -> str:
    """A column's header with its unit in ``lang`` (the catalogue's ``export.col.<code>``), else the code."""
    key = f"export.col.{code}"
    return template(key, lang) if has_message(key) else code


def sheet_name(code: str, lang: str) -> str:
    key = f"export.sheet.{code}"
    return (template(key, lang) if has_message(key) else code)[:31]   # Excel allows 31 characters


def labelled(frame: pd.DataFrame, lang: str = "en") -> pd.DataFrame:
    """Column codes → headers with units in the reader's language."""
    return frame.rename(columns={c: header(c, lang) for c in frame.columns})


def _defuse(value):
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells cannot be taken for formulas."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(_defuse)
    return out


def _for_csv(frame: pd.DataFrame) -> pd.DataFrame:
    """Whole people, percentages with one decimal, coordinates to 6 decimals, metres whole."""
    out = frame.copy()
    for column in out.columns:
        kind = COLUMN_KINDS.get(column, "text")
        values = pd.to_numeric(out[column], errors="coerce") if kind != "text" else None
        if kind in ("people", "metres"):
            out[column] = values.round(0).astype("Int64")
        elif kind == "share":
            out[column] = (values * 100).round(1)
        elif kind == "coord":
            out[column] = values.round(6)
        elif kind == "km2":
            out[column] = values.round(2)
    return out


def csv_bytes(frame: pd.DataFrame, lang: str = "en", provenance=None) -> bytes:
    """CSV encoded UTF-8 with BOM (Excel opens Chinese text correctly), headers with units.

    With ``provenance`` (``geo.planning.provenance.Provenance``), the file opens with its lines,
    each starting with ``#`` (``pandas.read_csv(..., comment="#")`` skips them).
    """
    lines = []
    if provenance is not None:
        lines = [f"# {label}: {value}".replace("\r", " ").replace("\n", " ") for label, value in provenance.rows(lang)]
    body = spreadsheet_safe(labelled(_for_csv(frame), lang)).to_csv(index=False, lineterminator="\r\n")
    text = "".join(line + "\r\n" for line in lines) + body
    return text.encode("utf-8-sig")


def xlsx_bytes(sheets: dict[str, pd.DataFrame], lang: str = "en", provenance=None) -> bytes:
    """A workbook fit for a meeting: a sheet per frame with names and headers in ``lang``, % and whole-people
    number formats, column widths, frozen header row, and a 说明 (provenance) sheet."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.active)
    bold = Font(bold=True)
    items = list(sheets.items())
    if provenance is not None:
        items.append(("provenance", pd.DataFrame(provenance.rows(lang), columns=["item", "value"])))
    for code, frame in items:
        title = sheet_name(code, lang)
        sheet = book.create_sheet(title)
        columns = list(frame.columns)
        sheet.append([header(c, lang) for c in columns])
        safe = spreadsheet_safe(frame)
        for row in safe.itertuples(index=False):
            sheet.append([_cell(v) for v in row])
        for j, column in enumerate(columns, start=1):
            kind = COLUMN_KINDS.get(column, "text")
            fmt = {"people": PEOPLE_FORMAT, "metres": PEOPLE_FORMAT, "count": "0", "share": SHARE_FORMAT,
                   "coord": COORD_FORMAT, "km2": "#,##0.00"}.get(kind)
            letter = get_column_letter(j)
            if fmt:
                for (cell,) in sheet.iter_rows(min_row=2, min_col=j, max_col=j):
                    if kind == "people" and isinstance(cell.value, float):
                        cell.value = int(round(cell.value))
                    cell.number_format = fmt
            texts = [str(sheet.cell(1, j).value)] + [str(safe[column].iloc[i]) for i in range(min(len(safe), 200))]
            width = max(_display_width(t) for t in texts) if kind in ("text",) else _display_width(texts[0])
            sheet.column_dimensions[letter].width = min(60, max(10, width + 2))
            sheet.cell(1, j).font = bold
            sheet.cell(1, j).alignment = Alignment(wrap_text=False)
        sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _cell(value):
    """A worksheet value: numbers and text only (no JSON in cells)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, int | float | str):
        return value
    if isinstance(value, dict | list | tuple):
        return "; ".join(f"{k}: {v}" for k, v in value.items()) if isinstance(value, dict) else ", ".join(map(str, value))
    return str(value)


def _display_width(text: str) -> int:
    """Characters as Excel columns: CJK characters take two."""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def json_safe(value, lang: str = "en"):
    """numpy scalars/arrays → Python; NaN/inf → None (``json.dumps(..., allow_nan=False)`` then succeeds);
    messages (``geo.messages.Text``) → text in ``lang``."""
    if isinstance(value, dict):
        return {str(k): json_safe(v, lang) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, lang) for v in value]
    if isinstance(value, Text):
        return value.render(lang)
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def frame_records(frame: pd.DataFrame) -> list[dict]:
    return [json_safe(r) for r in frame.to_dict(orient="records")]


def dumps(value, compact: bool = False) -> str:
    """JSON text (UTF-8, no NaN). ``compact`` skips indentation and the deep clean-up: for large, already-plain data."""
    if compact:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return json.dumps(json_safe(value), ensure_ascii=False, allow_nan=False, indent=1)


# -- population coverage --------------------------------------------------------------------


def coverage_summary(cov: PopulationCoverage, lang: str = "en") -> dict:
    from geo.planning.provenance import format_moment

    return json_safe({"radius_m": cov.radius_m, "at": cov.at.isoformat(timespec="minutes") if cov.at else None,
                      "at_label": {"zh": format_moment(cov.at, "zh"), "en": format_moment(cov.at, "en")},
                      "area_method": cov.area_method, "population_source": cov.grid.source, "cell_m": cov.grid.cell_m,
                      "totals": cov.totals}, lang)


def coverage_json(cov: PopulationCoverage, gaps: int = 50, lang: str = "en", provenance=None) -> dict:
    """Summary, district table, worst-served order, top gap cells and the distance CDF (messages in ``lang``)."""
    out = {**coverage_summary(cov, lang), "districts": frame_records(cov.table),
           "worst_served": cov.worst_served(None)["adcode"].tolist(),
           "gap_cells": frame_records(cov.gap_cells(gaps)), "distance_cdf": frame_records(cov.distance_cdf())}
    if provenance is not None:
        out["provenance"] = json_safe(provenance.as_dict())
    return out


# The per-district table with the planner page's columns, in its order (worst served first, ranked),
# then the district code for joining with other tables.
COVERAGE_TABLE_COLUMNS = ("rank", "district", "population", "stations", "residents_per_station", "population_share",
                          "area_share", "median_distance_m", "residents_uncovered", "adcode")


def coverage_table(cov: PopulationCoverage, lang: str = "zh") -> pd.DataFrame:
    """The page's district table: lowest population share first, ranked, the city total as the last (unranked) row."""
    name = "district" if lang == "zh" else "district_en"
    table = cov.worst_served(None).copy()
    table["rank"] = np.arange(1, len(table) + 1)
    total = {**cov.totals, "adcode": "500000", name: template("export.city_total", lang), "rank": None}
    frame = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    frame["district"] = frame[name]
    frame["rank"] = frame["rank"].astype("Int64")
    return frame[list(COVERAGE_TABLE_COLUMNS)].reset_index(drop=True)


def coverage_sheets(cov: PopulationCoverage, gaps: int = 1000, lang: str = "zh") -> dict[str, pd.DataFrame]:
    gap = cov.gap_cells(gaps)
    gap = gap[[c for c in ("adcode", "district", "residents", "nearest_m", "lon", "lat") if c in gap.columns]]
    return {"coverage": coverage_table(cov, lang), "gap_cells": gap, "distance_cdf": cov.distance_cdf()}


def gap_cells_geojson(cov: PopulationCoverage, n: int | None = 500) -> dict:
    """The ``n`` most-populated uncovered cells (all if ``None``) as square polygons with residents and distance."""
    gaps = cov.gap_cells(n)
    h = cov.grid.cell_m / 2
    corners_x = gaps["x"].to_numpy()[:, None] + np.array([-h, h, h, -h, -h])
    corners_y = gaps["y"].to_numpy()[:, None] + np.array([-h, -h, h, h, -h])
    lon, lat = metric_to_lonlat(corners_x, corners_y)
    rings = np.round(np.stack([lon, lat], axis=-1), 6).tolist()  # (cells, 5 corners, lon/lat)
    features = []
    for ring, row in zip(rings, gaps.itertuples(index=False), strict=True):
        props = {"adcode": row.adcode, "district": row.district, "residents": round(float(row.residents), 1),
                 "nearest_m": round(float(row.nearest_m), 1) if math.isfinite(row.nearest_m) else None}
        features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}, "properties": props})
    return {"type": "FeatureCollection", "features": features}


# -- siting plans ---------------------------------------------------------------------------

SITE_COLUMNS = ("rank", "name", "district", "street", "residents_added", "cumulative_added", "lon", "lat", "lon_gcj02", "lat_gcj02")


def plan_json(plan: SitingPlan, lang: str = "en", provenance=None) -> dict:
    out = {**json_safe(plan.summary(), lang), "sites": frame_records(plan.sites.drop(columns=["x", "y"])),
           "districts": frame_records(plan.districts)}
    if plan.alternative is not None:
        out["alternative"] = plan_json(plan.alternative, lang)
    if provenance is not None:
        out["provenance"] = json_safe(provenance.as_dict())
    return out


def site_table(plan: SitingPlan, lang: str = "zh") -> pd.DataFrame:
    """The sites as handed on: rank, name (in ``lang``), district, street, residents added, WGS-84 and GCJ-02."""
    frame = plan.sites.copy()
    if lang != "zh":
        frame["name"] = frame["name_en"]
    return frame[list(SITE_COLUMNS)].reset_index(drop=True)


def plan_summary_table(plan: SitingPlan, lang: str = "zh") -> pd.DataFrame:
    """Plain (item, value) rows: no JSON in cells. Items are the catalogue's ``export.summary.*``."""
    totals = plan.totals
    rows = [("asked", plan.n_new), ("useful", len(plan.sites))]
    if plan.fewer_sites:
        rows.append(("note", plan.shortfall().render(lang)))
    rows += [("residents", int(round(totals["residents"]))), ("covered_before", int(round(totals["covered_before"]))),
             ("covered_after", int(round(totals["covered_after"]))), ("added", int(round(totals["added"]))),
             ("share_before", f"{totals['share_before']:.1%}"), ("share_after", f"{totals['share_after']:.1%}")]
    if plan.best_bound is not None:
        rows.append(("bound", int(round(plan.best_bound))))
        if plan.gap is not None:
            rows.append(("gap", f"{plan.gap:.2%}"))
    if plan.alternative is not None:
        rows.append(("greedy", int(round(plan.alternative.objective))))
    rows.append(("runtime", round(plan.runtime_s, 1)))
    return pd.DataFrame([(template(f"export.summary.{item}", lang), value) for item, value in rows], columns=["item", "value"])


def plan_sheets(plan: SitingPlan, lang: str = "zh") -> dict[str, pd.DataFrame]:
    sheets = {f"sites_{plan.method}": site_table(plan, lang), f"districts_{plan.method}": plan.districts}
    if plan.alternative is not None:
        alt = plan.alternative
        sheets[f"sites_{alt.method}"] = site_table(alt, lang)
        sheets[f"districts_{alt.method}"] = alt.districts
    sheets["summary"] = plan_summary_table(plan, lang)
    return sheets


def plan_csv(plan: SitingPlan, lang: str = "zh", provenance=None) -> bytes:
    """The sites as CSV; when fewer useful sites exist than asked, the preamble says so."""
    extra = []
    if plan.fewer_sites:
        extra = [(template("export.summary.note", lang), plan.shortfall().render(lang))]
    return csv_bytes(site_table(plan, lang), lang, _with_rows(provenance, extra))


def plan_xlsx(plan: SitingPlan, lang: str = "zh", provenance=None) -> bytes:
    return xlsx_bytes(plan_sheets(plan, lang), lang, provenance)


def coverage_csv(cov: PopulationCoverage, lang: str = "zh", provenance=None) -> bytes:
    return csv_bytes(coverage_table(cov, lang), lang, provenance)


def coverage_xlsx(cov: PopulationCoverage, lang: str = "zh", provenance=None) -> bytes:
    return xlsx_bytes(coverage_sheets(cov, lang=lang), lang, provenance)


class _ExtraRows:
    """A provenance with a few more (label, value) rows first."""

    def __init__(self, base, extra):
        self.base, self.extra = base, extra

    def rows(self, lang):
        return list(self.extra) + (self.base.rows(lang) if self.base is not None else [])


def _with_rows(provenance, extra):
    return provenance if not extra else _ExtraRows(provenance, extra)


def sites_geojson(plan: SitingPlan) -> dict:
    """The chosen sites as Points (WGS-84) with rank, names, district, GCJ-02 position and residents added."""
    features = []
    for row in plan.sites.itertuples(index=False):
        props = {"rank": row.rank, "name": row.name, "name_en": row.name_en, "street": row.street, "adcode": row.adcode,
                 "district": row.district, "residents_added": round(row.residents_added, 1),
                 "cumulative_added": round(row.cumulative_added, 1), "lon_gcj02": round(row.lon_gcj02, 6),
                 "lat_gcj02": round(row.lat_gcj02, 6), "method": plan.method, "radius_m": plan.radius_m}
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(row.lon, 6), round(row.lat, 6)]},
                         "properties": json_safe(props)})
    return {"type": "FeatureCollection", "features": features}
