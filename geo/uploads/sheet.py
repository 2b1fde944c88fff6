"""A district's master spreadsheet: its stations in the upload template's columns, with 编号, ready to edit and upload again.

Uploading the sheet back changes nothing; changing a row and uploading updates that
station (``geo.uploads.matching``); a row with an empty 编号 adds a station. Coordinates
are WGS-84 with 7 decimals (about 1 cm), as the registry keeps them.
"""

from __future__ import annotations

import csv
import io

from geo import schema

SHEET_COLUMNS = (
    ("id", "编号"), ("name", "名称"), ("kind", "类型"), ("address", "地址"), ("operator", "主办单位"), ("phone", "联系电话"),
    ("opening_hours", "开放时间"), ("amenities", "服务设施"), ("lon", "经度"), ("lat", "纬度"),
)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def sheet_rows(snapshot, adcode: str | None, *, include_retired: bool = False) -> list[list]:
    """The stations of district ``adcode`` (all districts if None) as rows under ``SHEET_COLUMNS``' headers."""
    rows = []
    for feature in snapshot.where(district=adcode, status=None if include_retired else "active"):
        props = feature["properties"]
        lon, lat = feature["geometry"]["coordinates"][:2]
        kind = schema.KINDS.get(props["kind"])
        amenities = "、".join(schema.AMENITIES[a].zh if a in schema.AMENITIES else a for a in props.get("amenities") or ())
        rows.append([props["id"], props["name"], kind.zh if kind else props["kind"], props.get("address", ""),
                     props.get("operator", ""), props.get("phone", ""), props.get("opening_hours", ""), amenities,
                     round(float(lon), 7), round(float(lat), 7)])
    return rows


def _safe(value):
    """A phone number such as "+86 …" or a name starting with "=" must not run as a formula."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) and not value.startswith("+86") else value


def sheet_csv(snapshot, adcode: str | None) -> bytes:
    """UTF-8 with BOM (Excel opens it with the Chinese intact)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([h for _, h in SHEET_COLUMNS])
    writer.writerows([[_safe(v) for v in r] for r in sheet_rows(snapshot, adcode)])
    return out.getvalue().encode("utf-8-sig")


def sheet_xlsx(snapshot, adcode: str | None) -> bytes:
    """One sheet 站点, frozen header, text columns wide enough to read."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "站点"
    sheet.append([h for _, h in SHEET_COLUMNS])
    for r in sheet_rows(snapshot, adcode):
        sheet.append([_safe(v) for v in r])
    widths = {"A": 16, "B": 36, "C": 18, "D": 40, "E": 30, "F": 16, "G": 22, "H": 40, "I": 13, "J": 13}
    for letter, width in widths.items():
        sheet.column_dimensions[letter].width = width
        sheet[f"{letter}1"].font = Font(bold=True)
    for cell in sheet["I"][1:] + sheet["J"][1:]:
        cell.number_format = "0.0000000"
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
