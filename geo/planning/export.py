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

from geo.messages import Text
from geo.planning.popcoverage import PopulationCoverage
from geo.planning.siting import SitingPlan
from geo.projection import metric_to_lonlat

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# code -> (Chinese header with unit, English header with unit, format kind)
# kinds: people (whole people), share (0–1, shown as %), coord (6 decimals), metres, km2, count, text
COLUMNS: dict[str, tuple[str, str, str]] = {
    "adcode": ("区划代码", "adcode", "text"), "district": ("区县", "district", "text"),
    "district_en": ("区县(英文)", "district (English)", "text"), "population": ("2020年常住人口(人)", "population 2020 (people)", "people"),
    "residents": ("模型人口(人)", "residents (people)", "people"), "stations": ("站点数(个)", "stations", "count"),
    "residents_per_station": ("每站服务人口(人)", "residents per station (people)", "people"),
    "residents_covered": ("覆盖人口(人)", "residents covered (people)", "people"),
    "residents_uncovered": ("未覆盖人口(人)", "residents not covered (people)", "people"),
    "population_share": ("人口覆盖率(%)", "population covered (%)", "share"), "area_km2": ("面积(km²)", "area (km²)", "km2"),
    "covered_km2": ("覆盖面积(km²)", "area covered (km²)", "km2"), "area_share": ("面积覆盖率(%)", "area covered (%)", "share"),
    "median_distance_m": ("到最近站点距离中位数(米)", "median distance to nearest station (m)", "metres"),
    "rank": ("序号", "rank", "count"), "name": ("名称", "name", "text"), "name_en": ("名称(英文)", "name (English)", "text"),
    "street": ("附近街道/镇", "nearest street/town", "text"),
    "lon": ("经度(WGS-84)", "longitude (WGS-84)", "coord"), "lat": ("纬度(WGS-84)", "latitude (WGS-84)", "coord"),
    "lon_gcj02": ("经度(GCJ-02 高德/腾讯)", "longitude (GCJ-02 Amap/Tencent)", "coord"),
    "lat_gcj02": ("纬度(GCJ-02 高德/腾讯)", "latitude (GCJ-02 Amap/Tencent)", "coord"),
    "residents_added": ("新增覆盖人口(人)", "residents added (people)", "people"),
    "cumulative_added": ("累计新增覆盖人口(人)", "cumulative residents added (people)", "people"),
    "x": ("x(米)", "x (m)", "metres"), "y": ("y(米)", "y (m)", "metres"),
    "covered_before": ("现状覆盖人口(人)", "covered now (people)", "people"),
    "covered_after": ("规划后覆盖人口(人)", "covered with new sites (people)", "people"),
    "added": ("新增覆盖人口(人)", "residents added (people)", "people"),
    "share_before": ("现状覆盖率(%)", "covered now (%)", "share"), "share_after": ("规划后覆盖率(%)", "covered with new sites (%)", "share"),
    "new_sites": ("新增站点(个)", "new sites", "count"), "nearest_m": ("到最近站点(米)", "distance to nearest station (m)", "metres"),
    "distance_m": ("距离(米)", "distance (m)", "metres"), "share": ("占比(%)", "share (%)", "share"),
    "item": ("项目", "item", "text"), "value": ("值", "value", "text"),
}
LABELS_ZH = {code: spec[0] for code, spec in COLUMNS.items()}
SHEETS = {  # sheet code -> (Chinese name, English name); Excel allows 31 characters
    "sites": ("新增站点", "New sites"), "sites_greedy": ("新增站点(贪心)", "New sites (greedy)"),
    "sites_exact": ("新增站点(精确)", "New sites (exact)"), "districts": ("各区县", "Districts"),
    "districts_greedy": ("各区县(贪心)", "Districts (greedy)"), "districts_exact": ("各区县(精确)", "Districts (exact)"),
    "coverage": ("各区县人口覆盖", "Coverage by district"), "gap_cells": ("未覆盖网格", "Gap cells"),
    "distance_cdf": ("距离分布", "Distance distribution"), "summary": ("汇总", "Summary"), "provenance": ("说明", "About these figures"),
}
PEOPLE_FORMAT, SHARE_FORMAT, COORD_FORMAT = "#,##0", "0.0%", "0.000000"


def header(code: str, lang: str) -> str:
    spec = COLUMNS.get(code)
    return code if spec is None else spec[0 if lang == "zh" else 1]


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
        kind = COLUMNS.get(column, ("", "", "text"))[2]
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
        title = SHEETS.get(code, (code, code))[0 if lang == "zh" else 1][:31]
        sheet = book.create_sheet(title)
        columns = list(frame.columns)
        sheet.append([header(c, lang) for c in columns])
        safe = spreadsheet_safe(frame)
        for row in safe.itertuples(index=False):
            sheet.append([_cell(v) for v in row])
        for j, column in enumerate(columns, start=1):
            kind = COLUMNS.get(column, ("", "", "text"))[2]
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


# The per-district table as on the planner page (and in ``stationmap coverage --population``).
COVERAGE_TABLE_COLUMNS = ("district", "adcode", "population", "stations", "residents_per_station", "residents_covered",
                          "population_share", "area_share", "median_distance_m")


def coverage_table(cov: PopulationCoverage, lang: str = "zh") -> pd.DataFrame:
    """The page's district table, best covered first, with the city total as the last row."""
    name = "district" if lang == "zh" else "district_en"
    table = cov.table.sort_values("population_share", ascending=False)
    total = {**cov.totals, "adcode": "500000", "district": "全市合计", "district_en": "Chongqing (total)"}
    frame = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    frame["district"] = frame[name]
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
    """Plain (item, value) rows: no JSON in cells."""
    zh = lang == "zh"
    t = plan.totals
    rows = [
        ("要求新增站点" if zh else "Sites asked for", plan.n_new),
        ("有效新增站点" if zh else "Useful sites found", len(plan.sites)),
    ]
    if plan.fewer_sites:
        rows.append(("说明" if zh else "Note", plan.shortfall().render(lang)))
    rows += [
        ("范围内人口(人)" if zh else "Residents in scope (people)", int(round(t["residents"]))),
        ("现状覆盖人口(人)" if zh else "Covered now (people)", int(round(t["covered_before"]))),
        ("规划后覆盖人口(人)" if zh else "Covered with new sites (people)", int(round(t["covered_after"]))),
        ("新增覆盖人口(人)" if zh else "Residents added (people)", int(round(t["added"]))),
        ("现状覆盖率" if zh else "Share covered now", f"{t['share_before']:.1%}"),
        ("规划后覆盖率" if zh else "Share covered with new sites", f"{t['share_after']:.1%}"),
    ]
    if plan.best_bound is not None:
        rows.append(("目标值上界(人)" if zh else "Upper bound on residents covered", int(round(plan.best_bound))))
        if plan.gap is not None:
            rows.append(("与最优的差距上限" if zh else "Gap from optimal, at most", f"{plan.gap:.2%}"))
    if plan.alternative is not None:
        rows.append(("贪心算法覆盖人口(人)" if zh else "Greedy plan covers (people)", int(round(plan.alternative.objective))))
    rows.append(("计算用时(秒)" if zh else "Runtime (s)", round(plan.runtime_s, 1)))
    return pd.DataFrame(rows, columns=["item", "value"])


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
        extra = [("说明" if lang == "zh" else "Note", plan.shortfall().render(lang))]
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
