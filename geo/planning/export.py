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

from geo.messages import Text, has_message, template
from geo.planning.popcoverage import PopulationCoverage
from geo.planning.siting import SitingPlan
from geo.projection import metric_to_lonlat

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

def column_label(code: str, lang: str = "en") -> str:
    """A column (or summary item) code as a header in ``lang``: the catalogue's ``column.<code>``, else the code.

    The English catalogue keeps the codes themselves, which programs reading the files rely on."""
    return template(f"column.{code}", lang) if has_message(f"column.{code}") else code


def sheet_label(name: str, lang: str = "en") -> str:
    """A workbook sheet's name in ``lang``: ``sites_greedy`` → 新增站点（贪心）; English keeps the code."""
    base, _, method = name.partition("_")
    if method and has_message(f"sheet.{base}") and has_message(f"method.{method}"):
        return Text(f"sheet.{base}", method=Text(f"method.{method}")).render(lang)
    return template(f"sheet.{name}", lang) if has_message(f"sheet.{name}") else name


def labelled(frame: pd.DataFrame, lang: str = "en") -> pd.DataFrame:
    """Column codes → headers in ``lang`` (Chinese headers for ``zh``); a summary's ``item`` codes likewise."""
    out = frame.rename(columns={c: column_label(c, lang) for c in frame.columns if isinstance(c, str)})
    if "item" in frame.columns:
        out[column_label("item", lang)] = [column_label(v, lang) if isinstance(v, str) else v for v in frame["item"]]
    return out


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
            spreadsheet_safe(labelled(frame, lang)).to_excel(writer, sheet_name=sheet_label(str(name), lang)[:31], index=False)
    return buffer.getvalue()


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
    return json_safe({"radius_m": cov.radius_m, "at": cov.at.isoformat(timespec="minutes") if cov.at else None,
                      "area_method": cov.area_method, "population_source": cov.grid.source, "cell_m": cov.grid.cell_m,
                      "totals": cov.totals}, lang)


def coverage_json(cov: PopulationCoverage, gaps: int = 50, lang: str = "en") -> dict:
    """Summary, district table, worst-served order, top gap cells and the distance CDF (messages in ``lang``)."""
    return {**coverage_summary(cov, lang), "districts": frame_records(cov.table),
            "worst_served": cov.worst_served(None)["adcode"].tolist(),
            "gap_cells": frame_records(cov.gap_cells(gaps)), "distance_cdf": frame_records(cov.distance_cdf())}


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


def plan_json(plan: SitingPlan, lang: str = "en") -> dict:
    out = {**json_safe(plan.summary(), lang), "sites": frame_records(plan.sites.drop(columns=["x", "y"])),
           "districts": frame_records(plan.districts)}
    if plan.alternative is not None:
        out["alternative"] = plan_json(plan.alternative, lang)
    return out


def plan_sheets(plan: SitingPlan, lang: str = "en") -> dict[str, pd.DataFrame]:
    summary = pd.DataFrame([{"item": k, "value": json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v}
                            for k, v in json_safe(plan.summary(), lang).items()])
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
