"""Planning results as files: CSV (UTF-8 with BOM, for Excel), XLSX, GeoJSON and JSON-safe dicts.

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

from geo.planning.popcoverage import PopulationCoverage
from geo.planning.siting import SitingPlan
from geo.projection import metric_to_lonlat

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

LABELS_ZH = {
    "adcode": "区划代码", "district": "区县", "district_en": "区县(英文)", "population": "常住人口(2020)",
    "residents": "模型人口", "stations": "站点数", "residents_per_station": "每站服务人口",
    "residents_covered": "覆盖人口", "residents_uncovered": "未覆盖人口", "population_share": "人口覆盖率",
    "area_km2": "面积(km²)", "covered_km2": "覆盖面积(km²)", "area_share": "面积覆盖率",
    "median_distance_m": "到最近站点距离中位数(m)", "rank": "序号", "name": "名称", "lon": "经度(WGS-84)",
    "lat": "纬度(WGS-84)", "residents_added": "新增覆盖人口", "cumulative_added": "累计新增", "x": "x(m)", "y": "y(m)",
    "covered_before": "现状覆盖人口", "covered_after": "规划后覆盖人口", "added": "新增覆盖人口",
    "share_before": "现状覆盖率", "share_after": "规划后覆盖率", "new_sites": "新增站点", "nearest_m": "到最近站点(m)",
    "distance_m": "距离(m)", "share": "占比", "item": "项目", "value": "值",
}


def labelled(frame: pd.DataFrame, lang: str = "en") -> pd.DataFrame:
    """Column codes → Chinese headers when ``lang == "zh"``."""
    return frame.rename(columns=LABELS_ZH) if lang == "zh" else frame


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


def csv_bytes(frame: pd.DataFrame, lang: str = "en") -> bytes:
    """CSV encoded UTF-8 with BOM (Excel opens Chinese text correctly)."""
    text = spreadsheet_safe(labelled(frame, lang)).to_csv(index=False, float_format="%.10g", lineterminator="\r\n")
    return text.encode("utf-8-sig")


def xlsx_bytes(sheets: dict[str, pd.DataFrame], lang: str = "en") -> bytes:
    """One workbook, a sheet per frame (sheet names cut to Excel's 31 characters)."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            spreadsheet_safe(labelled(frame, lang)).to_excel(writer, sheet_name=str(name)[:31], index=False)
    return buffer.getvalue()


def json_safe(value):
    """numpy scalars/arrays → Python; NaN/inf → None (``json.dumps(..., allow_nan=False)`` then succeeds)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
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


def coverage_summary(cov: PopulationCoverage) -> dict:
    return json_safe({"radius_m": cov.radius_m, "at": cov.at.isoformat(timespec="minutes") if cov.at else None,
                      "area_method": cov.area_method, "population_source": cov.grid.source, "cell_m": cov.grid.cell_m,
                      "totals": cov.totals})


def coverage_json(cov: PopulationCoverage, gaps: int = 50) -> dict:
    """Summary, district table, worst-served order, top gap cells and the distance CDF."""
    return {**coverage_summary(cov), "districts": frame_records(cov.table),
            "worst_served": cov.worst_served(None)["adcode"].tolist(),
            "gap_cells": frame_records(cov.gap_cells(gaps)), "distance_cdf": frame_records(cov.distance_cdf())}


def coverage_sheets(cov: PopulationCoverage, gaps: int = 1000) -> dict[str, pd.DataFrame]:
    summary = pd.DataFrame([{"item": k, "value": v} for k, v in coverage_summary(cov).items() if k != "totals"]
                           + [{"item": k, "value": v} for k, v in json_safe(cov.totals).items()])
    return {"districts": cov.table, "gap_cells": cov.gap_cells(gaps), "distance_cdf": cov.distance_cdf(), "summary": summary}


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


def plan_json(plan: SitingPlan) -> dict:
    out = {**json_safe(plan.summary()), "sites": frame_records(plan.sites.drop(columns=["x", "y"])),
           "districts": frame_records(plan.districts)}
    if plan.alternative is not None:
        out["alternative"] = plan_json(plan.alternative)
    return out


def plan_sheets(plan: SitingPlan) -> dict[str, pd.DataFrame]:
    summary = pd.DataFrame([{"item": k, "value": json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v}
                            for k, v in json_safe(plan.summary()).items()])
    sheets = {f"sites_{plan.method}": plan.sites.drop(columns=["x", "y"]), f"districts_{plan.method}": plan.districts}
    if plan.alternative is not None:
        alt = plan.alternative
        sheets[f"sites_{alt.method}"] = alt.sites.drop(columns=["x", "y"])
        sheets[f"districts_{alt.method}"] = alt.districts
    sheets["summary"] = summary
    return sheets


def sites_geojson(plan: SitingPlan) -> dict:
    """The chosen sites as Points with rank, name, district and residents added."""
    features = []
    for row in plan.sites.itertuples(index=False):
        props = {"rank": row.rank, "name": row.name, "adcode": row.adcode, "district": row.district,
                 "residents_added": round(row.residents_added, 1), "cumulative_added": round(row.cumulative_added, 1),
                 "method": plan.method, "radius_m": plan.radius_m}
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(row.lon, 6), round(row.lat, 6)]},
                         "properties": json_safe(props)})
    return {"type": "FeatureCollection", "features": features}
