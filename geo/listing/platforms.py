"""Stations in the bulk-import formats of the map platforms: Amap and Tencent (GCJ-02), Baidu (BD-09); CSV and XLSX.

Provincial unions push their stations into the map apps so that a search for "工会驿站" finds
them. Each platform takes coordinates in its own datum: the registry's WGS-84 points are
converted with ``geo.coords`` (GCJ-02 for Amap and Tencent, BD-09 for Baidu) and written with
6 decimals (about 0.1 m). Converting them back gives the registry's positions within 1 m
(tests/geo/listing). Opening hours are written in Chinese ("周一至周日 06:30-21:30"), the
description names the station type and its amenities.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from geo import schema
from geo.coords import wgs84_to_bd09, wgs84_to_gcj02
from geo.messages import translate

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
COORD_DECIMALS = 6


@dataclass(frozen=True)
class Platform:
    code: str
    datum: str                   # "gcj02" or "bd09"
    columns: tuple[tuple[str, str], ...]   # (field, header as the platform's template names it)
    category: str


# The platforms' bulk-upload templates, as each platform specifies them: their column names, category paths and the
# Chinese they expect in cells are the platforms' data (always Chinese, whatever the clerk's language), not our texts.
_COMMON = (("name", "名称"), ("address", "地址"), ("lon", "经度"), ("lat", "纬度"), ("phone", "电话"), ("category", "分类"),
           ("hours", "营业时间"), ("description", "简介"))
PLATFORMS = {
    "amap": Platform("amap", "gcj02", (*_COMMON[:2], ("lon", "经度(GCJ-02)"), ("lat", "纬度(GCJ-02)"), *_COMMON[4:]),
                     "生活服务;公共服务;工会驿站"),
    "tencent": Platform("tencent", "gcj02", (*_COMMON[:2], ("lon", "经度(GCJ-02)"), ("lat", "纬度(GCJ-02)"), ("phone", "电话"),
                                             ("category", "类别"), ("hours", "营业时间"), ("description", "描述")),
                        "生活服务:公共服务"),
    "baidu": Platform("baidu", "bd09", (*_COMMON[:2], ("lon", "经度(BD-09)"), ("lat", "纬度(BD-09)"), ("phone", "电话"),
                                         ("category", "类别"), ("hours", "营业时间"), ("description", "描述")),
                      "生活服务;公共服务"),
}
EXTRA_COLUMNS = (("id", "站点编号"), ("district", "区县"))

_DAYS = {"Mo": "周一", "Tu": "周二", "We": "周三", "Th": "周四", "Fr": "周五", "Sa": "周六", "Su": "周日", "PH": "法定节假日"}


def hours_zh(text: str) -> str:
    """OpenStreetMap opening_hours in the Chinese a map app shows: ``Mo-Fr 08:00-18:00`` → ``周一至周五 08:00-18:00``."""
    if not isinstance(text, str) or not text.strip():
        return ""
    if text.strip() == "24/7":
        return "24小时营业"
    out = re.sub(r"\b(Mo|Tu|We|Th|Fr|Sa|Su|PH)-(Mo|Tu|We|Th|Fr|Sa|Su)\b", lambda m: f"{_DAYS[m[1]]}至{_DAYS[m[2]]}", text)
    out = re.sub(r"\b(Mo|Tu|We|Th|Fr|Sa|Su|PH)\b", lambda m: _DAYS[m[1]], out)
    return out.replace(";", "；").replace(",", "、").replace(" off", " 休息").replace("00:00-24:00", "全天")


def description(props: dict) -> str:
    kind = schema.KINDS.get(props.get("kind"))
    amenities = "、".join(schema.AMENITIES[a].zh if a in schema.AMENITIES else a for a in props.get("amenities") or ())
    head = f"工会驿站·{kind.zh}" if kind else "工会驿站"
    parts = [head, f"提供：{amenities}" if amenities else "", f"主办：{props['operator']}" if props.get("operator") else ""]
    return "。".join(p for p in parts if p) + "。"


def listing_rows(snapshot, platform: str, adcode: str | None = None) -> list[dict]:
    """Active stations (of district ``adcode``, or all) as dicts of the platform's fields, coordinates in its datum."""
    spec = PLATFORMS[platform]
    chosen = snapshot.where(district=adcode, status="active")
    if not chosen:
        return []
    lon = [f["geometry"]["coordinates"][0] for f in chosen]
    lat = [f["geometry"]["coordinates"][1] for f in chosen]
    px, py = (wgs84_to_gcj02 if spec.datum == "gcj02" else wgs84_to_bd09)(lon, lat)
    rows = []
    for f, x, y in zip(chosen, px, py, strict=True):
        p = f["properties"]
        rows.append({"id": p["id"], "district": p["district"], "name": p["name"], "address": p["address"],
                     "lon": round(float(x), COORD_DECIMALS), "lat": round(float(y), COORD_DECIMALS), "phone": p.get("phone", ""),
                     "category": spec.category, "hours": hours_zh(p.get("opening_hours", "")), "description": description(p)})
    return rows


def _headers(platform: str) -> list[tuple[str, str]]:
    return list(PLATFORMS[platform].columns) + list(EXTRA_COLUMNS)


def _safe(value):
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def listing_csv(snapshot, platform: str, adcode: str | None = None) -> bytes:
    """The platform's template as CSV, UTF-8 with BOM; station id and district last (for the union's records)."""
    columns = _headers(platform)
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([h for _, h in columns])
    for row in listing_rows(snapshot, platform, adcode):
        writer.writerow([_safe(row[f]) if f not in ("lon", "lat") else f"{row[f]:.{COORD_DECIMALS}f}" for f, _ in columns])
    return out.getvalue().encode("utf-8-sig")


def listing_xlsx(snapshot, platform: str, adcode: str | None = None) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    columns = _headers(platform)
    book = Workbook()
    sheet = book.active
    sheet.title = translate("listing.sheet", "zh", platform=schema.LISTING_PLATFORMS[platform].zh)[:31]  # for a Chinese platform
    sheet.append([h for _, h in columns])
    for row in listing_rows(snapshot, platform, adcode):
        sheet.append([_safe(row[f]) for f, _ in columns])
    widths = {"name": 36, "address": 40, "lon": 14, "lat": 14, "phone": 16, "category": 22, "hours": 24, "description": 60,
              "id": 16, "district": 10}
    for j, (field, _) in enumerate(columns, start=1):
        letter = sheet.cell(1, j).column_letter
        sheet.column_dimensions[letter].width = widths.get(field, 14)
        sheet.cell(1, j).font = Font(bold=True)
        if field in ("lon", "lat"):
            for (cell,) in sheet.iter_rows(min_row=2, min_col=j, max_col=j):
                cell.number_format = "0.000000"
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
