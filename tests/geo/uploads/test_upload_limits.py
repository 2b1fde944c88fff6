"""Upload parsing is bounded: XLSX by its expanded parts, shared strings and rows, CSV by lines, GeoJSON by features — before parsing."""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile

import pytest

from geo.errors import ValidationError
from geo.uploads import formats
from geo.uploads.formats import read_csv, read_geojson, read_xlsx
from tests.geo.uploads.test_uploads import A, feature, xlsx_bytes

ROW = ("解放碑新驿站", "outdoor_station", "重庆市渝中区民族路1号", "渝中区总工会", "24/7", "休息、饮水", *A)


def with_part(xlsx: bytes, name: str, body: bytes) -> bytes:
    """The workbook with one zip member replaced (or added), compressed as Excel does."""
    source = zipfile.ZipFile(io.BytesIO(xlsx))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename != name:
                target.writestr(info.filename, source.read(info.filename))
        target.writestr(name, body)
    return out.getvalue()


def shared_strings(n: int, declared: int | None = None) -> bytes:
    declared = n if declared is None else declared
    head = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="http://schemas.openxmlformats.org/'
            f'spreadsheetml/2006/main" count="{declared}" uniqueCount="{declared}">').encode()
    return head + b"<si><t>a</t></si>" * n + b"</sst>"


def refused(call) -> str:
    with pytest.raises(ValidationError) as caught:
        call()
    problem = caught.value.problems[0]
    return f"{problem.message_text.render('en')} | {problem.message_text.render('zh')}"


def test_shared_string_bomb_is_refused_by_its_expanded_size_with_bounded_memory():
    bomb = with_part(xlsx_bytes(ROW), "xl/sharedStrings.xml", shared_strings(3_000_000))
    assert len(bomb) < 400_000  # a few hundred kilobytes on the wire, 51 MB of XML inside
    tracemalloc.start()
    try:
        message = refused(lambda: read_xlsx(bomb, 5000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "sharedStrings.xml" in message and "32 MB" in message
    assert peak < 100 * 1024 * 1024


def test_millions_of_tiny_shared_strings_are_refused_by_count_with_bounded_memory():
    bomb = with_part(xlsx_bytes(ROW), "xl/sharedStrings.xml", shared_strings(1_000_000))
    tracemalloc.start()
    try:
        message = refused(lambda: read_xlsx(bomb, 5000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert f"{formats.MAX_XLSX_SHARED_STRINGS:,}" in message and "distinct text cells" in message
    assert peak < 100 * 1024 * 1024


def test_a_lying_declared_count_is_enough_to_refuse():
    bomb = with_part(xlsx_bytes(ROW), "xl/sharedStrings.xml", shared_strings(5, declared=9_000_000))
    assert "9,000,000" in refused(lambda: read_xlsx(bomb, 5000))


def test_a_sheet_of_a_million_empty_rows_without_a_dimension_is_refused():
    rows = b"".join(b'<row r="%d"/>' % i for i in range(1, 200_001))
    sheet = (b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
             b'2006/main"><sheetData>' + rows + b"</sheetData></worksheet>")
    bomb = with_part(xlsx_bytes(ROW), "xl/worksheets/sheet1.xml", sheet)
    limit = 5000 + formats.ROW_ALLOWANCE
    message = refused(lambda: read_xlsx(bomb, 5000))
    assert f"{limit:,}" in message and "行" in message


def test_an_ordinary_workbook_still_parses():
    upload = read_xlsx(xlsx_bytes(*[ROW] * 50), 5000)
    assert len(upload.rows) == 50


def test_csv_of_millions_of_lines_is_refused_before_parsing():
    raw = "名称,经度,纬度\n".encode() + b"\n" * 200_000
    message = refused(lambda: read_csv(raw, 5000))
    assert f"{2 * 5000 + formats.ROW_ALLOWANCE:,}" in message


def test_geojson_with_too_many_features_is_refused_before_parsing():
    raw = json.dumps({"type": "FeatureCollection", "features": [feature()] * 60}).encode()
    message = refused(lambda: read_geojson(raw, 50))
    assert "60" in message and "50" in message
