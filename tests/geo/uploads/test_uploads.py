"""District uploads: a table of bad files each refused with its own message (registry untouched), good files in every format."""

from __future__ import annotations

import io
import json
import zipfile

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.access.permissions import Actor
from geo.coords import from_wgs84, to_wgs84
from geo.errors import PermissionDeniedError, ValidationError
from geo.uploads.pipeline import (
    ConfirmationRequiredError,
    UploadRejectedError,
    check_upload,
    commit_upload,
    parse_upload,
    review_upload,
)

YUZHONG = Actor("yuzhong", "district", "500103")
JIANGBEI = Actor("jiangbei", "district", "500105")
PLANNER = Actor("planner", "planner")
ADMIN = Actor("city", "admin")

# Points in 渝中区 at least 200 m from every station of the small registry, and one in 江北区.
A, B, C, D, E = (106.5790, 29.5600), (106.5600, 29.5550), (106.5480, 29.5560), (106.5400, 29.5500), (106.5200, 29.5480)
IN_JIANGBEI = (106.5740, 29.5870)
HEADER = ["名称", "类型", "地址", "主办单位", "联系电话", "开放时间", "服务设施", "经度", "纬度"]


def row(name="解放碑新驿站", kind="户外劳动者服务站", address="重庆市渝中区民族路1号", operator="渝中区总工会",
        phone="023-63000001", hours="24/7", amenities="休息、饮水；充电", at=A) -> list:
    return [name, kind, address, operator, phone, hours, amenities, str(at[0]), str(at[1])]


def csv_bytes(*rows, header=HEADER, encoding="utf-8", delimiter=",") -> bytes:
    import csv

    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(*rows, header=HEADER, title=None) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    if title:
        sheet.append([title])
    sheet.append(header)
    for r in rows:
        sheet.append([float(c) if i >= len(r) - 2 else c for i, c in enumerate(r)])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def feature(at=A, **props):
    base = {"name": "解放碑新驿站", "kind": "outdoor_station", "address": "重庆市渝中区民族路1号", "operator": "渝中区总工会",
            "opening_hours": "24/7", "amenities": ["rest", "drinking_water"]}
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(at)}, "properties": {**base, **props}}


def geojson_bytes(*features, **extra) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features), **extra}, ensure_ascii=False).encode()


def zip_bytes(name: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, content)
    return buffer.getvalue()


def many_rows(n: int) -> bytes:
    return csv_bytes(*[row(name=f"驿站{i}", at=(A[0] + (i % 50) * 0.0005, A[1] - (i // 50) * 0.0001)) for i in range(n)])


# (id, filename, content, crs, actor, expected message)
BAD_UPLOADS = [
    ("malformed-json", "a.geojson", b'{"type": "FeatureCollection", "features": [', "wgs84", YUZHONG, "not valid JSON"),
    ("nan", "a.geojson", b'{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[NaN,29.5]},"properties":{}}]}',
     "wgs84", YUZHONG, "NaN is not allowed"),
    ("infinity", "a.geojson", b'{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[Infinity,29.5]},"properties":{}}]}',
     "wgs84", YUZHONG, "Infinity is not allowed"),
    ("duplicate-key", "a.geojson", b'{"type":"FeatureCollection","type":"FeatureCollection","features":[]}', "wgs84", YUZHONG,
     "duplicate key 'type'"),
    ("lone-surrogate", "a.geojson", geojson_bytes(feature()).replace("解放碑新驿站".encode(), b"\\ud800"), "wgs84", YUZHONG,
     "lone surrogate"),
    ("deep-nesting", "a.geojson", b"[" * 100_000 + b"]" * 100_000, "wgs84", YUZHONG, "nested too deeply"),
    ("not-a-collection", "a.geojson", b"[1, 2, 3]", "wgs84", YUZHONG, "expected a GeoJSON FeatureCollection, got 'list'"),
    ("polygon", "a.geojson", geojson_bytes({**feature(), "geometry": {"type": "Polygon", "coordinates": [[[106.5, 29.5], [106.6, 29.5], [106.6, 29.6], [106.5, 29.5]]]}}),
     "wgs84", YUZHONG, "geometry is a Polygon; a station is a single Point"),
    ("multipoint", "a.geojson", geojson_bytes({**feature(), "geometry": {"type": "MultiPoint", "coordinates": [list(A)]}}),
     "wgs84", YUZHONG, "geometry is a MultiPoint"),
    ("geometry-collection", "a.geojson", geojson_bytes({**feature(), "geometry": {"type": "GeometryCollection", "geometries": []}}),
     "wgs84", YUZHONG, "GeometryCollection"),
    ("nested-collection", "a.geojson", geojson_bytes(feature(), {"type": "FeatureCollection", "features": [feature(at=B)]}),
     "wgs84", YUZHONG, "features[1]: is a nested FeatureCollection"),
    ("legacy-crs", "a.geojson", geojson_bytes(feature(), crs={"type": "name", "properties": {"name": "EPSG:3857"}}),
     "wgs84", YUZHONG, "declares a coordinate system we do not accept"),
    ("unknown-property", "a.geojson", geojson_bytes(feature(opening_hour="24/7")), "wgs84", YUZHONG,
     "features[0].properties.opening_hour: unknown property (did you mean 'opening_hours'?)"),
    ("too-many-features", "a.geojson", geojson_bytes(*[feature(at=(A[0] + i * 0.001, A[1])) for i in range(5_001)]),
     "wgs84", YUZHONG, "too many features: 5,001; at most 5,000"),
    ("empty", "a.csv", b"", "wgs84", YUZHONG, "the file is empty"),
    ("whitespace-only", "a.csv", b" \r\n\t\n", "wgs84", YUZHONG, "the file is empty"),
    ("bom-only", "a.csv", b"\xef\xbb\xbf", "wgs84", YUZHONG, "the file is empty"),
    ("binary-junk", "a.csv", bytes(range(256)) * 40, "wgs84", YUZHONG, "binary file, not CSV text"),
    ("utf16-without-bom", "a.csv", csv_bytes(row()).decode().encode("utf-16-le"), "wgs84", YUZHONG,
     "UTF-16 text without a byte-order mark"),
    ("latin1", "a.csv", "Name,Café,Straße,Ölberg\nx,é ü,ß ñ,à\n".encode("latin-1"), "wgs84", YUZHONG,
     "neither UTF-8 nor GBK/GB18030"),
    ("oversized", "a.csv", b"a" * (10 * 1024 * 1024 + 1), "wgs84", YUZHONG,
     "the file is 10,485,761 bytes; at most 10,485,760 bytes (10 MB) per upload"),
    ("too-many-rows", "a.csv", many_rows(5_001), "wgs84", YUZHONG, "too many rows: more than 5,000"),
    ("no-header", "a.csv", b"1,2,3\n4,5,6\n", "wgs84", YUZHONG, "no header row found"),
    ("header-only", "a.csv", csv_bytes(), "wgs84", YUZHONG, "a header but no stations"),
    ("missing-columns", "a.csv", csv_bytes(row()[:7], header=HEADER[:7]), "wgs84", YUZHONG,
     "missing column(s): 经度 (lon), 纬度 (lat)"),
    ("misspelt-column", "a.csv", csv_bytes(row(), header=[*HEADER[:5], "开放时刻", *HEADER[6:]]), "wgs84", YUZHONG,
     "missing column(s): 开放时间 (opening_hours)"),
    ("duplicate-column", "a.csv", csv_bytes([*row(), "x"], header=[*HEADER, "站点名称"]), "wgs84", YUZHONG,
     "columns '名称' and '站点名称' both give name"),
    ("header-says-gcj02", "a.csv", csv_bytes(row(), header=[*HEADER[:7], "经度（高德）", "纬度（高德）"]), "wgs84", YUZHONG,
     "the file says its coordinates are GCJ-02"),
    ("unknown-crs", "a.csv", csv_bytes(row()), "epsg3857", YUZHONG, "unknown coordinate system 'epsg3857'"),
    ("unsupported-type", "a.pdf", b"%PDF-1.7 ...", "wgs84", YUZHONG, "unsupported file type '.pdf'"),
    ("old-xls", "a.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "wgs84", YUZHONG, "old Excel 97–2003"),
    ("xlsx-not-zip", "a.xlsx", csv_bytes(row()), "wgs84", YUZHONG, "not a valid .xlsx workbook (an .xlsx file is a zip archive"),
    ("xlsx-zip-not-workbook", "a.xlsx", zip_bytes("hello.txt", b"hello"), "wgs84", YUZHONG, "not a readable .xlsx workbook"),
    ("csv-that-is-a-zip", "a.csv", zip_bytes("hello.txt", b"hello"), "wgs84", YUZHONG, "looks like an Excel workbook"),
    ("name-too-long", "a.csv", csv_bytes(row(name="驿" * 101)), "wgs84", YUZHONG, "row 2, column 名称: is 101 characters long; at most 100 allowed"),
    ("address-too-long", "a.csv", csv_bytes(row(address="路" * 201)), "wgs84", YUZHONG, "at most 200 allowed"),
    ("huge-cell", "a.csv", csv_bytes(row(operator="单" * 6000)), "wgs84", YUZHONG, "column 主办单位: is 6,000 characters long"),
    ("unknown-kind", "a.csv", csv_bytes(row(kind="加油站")), "wgs84", YUZHONG, "column 类型: unknown kind '加油站' (one of 户外劳动者服务站 (outdoor_station)"),
    ("unknown-amenity", "a.csv", csv_bytes(row(amenities="休息、按摩")), "wgs84", YUZHONG, "column 服务设施: unknown amenity '按摩'"),
    ("bad-opening-hours", "a.csv", csv_bytes(row(hours="看心情")), "wgs84", YUZHONG, "column 开放时间: not valid opening_hours syntax"),
    ("bad-phone", "a.csv", csv_bytes(row(phone="call me")), "wgs84", YUZHONG, "'call me' is not a phone number"),
    ("missing-value", "a.csv", csv_bytes(row(operator="")), "wgs84", YUZHONG, "row 2, column 主办单位: is required"),
    ("control-char", "a.csv", csv_bytes(row(name="驿站\x07")), "wgs84", YUZHONG, "contains control characters"),
    ("not-a-number", "a.csv", csv_bytes(row(at=("abc", A[1]))), "wgs84", YUZHONG, "row 2, column 经度: 'abc' is not a number"),
    ("empty-coordinate", "a.csv", csv_bytes(row(at=(A[0], ""))), "wgs84", YUZHONG, "row 2, column 纬度: is empty"),
    ("nan-in-csv", "a.csv", csv_bytes(row(at=("nan", A[1]))), "wgs84", YUZHONG, "'nan' is not a number"),
    ("outside-chongqing", "a.csv", csv_bytes(row(at=(116.397, 39.909))), "wgs84", YUZHONG, "[116.397, 39.909] (wgs84) is outside Chongqing"),
    ("not-lon-lat", "a.csv", csv_bytes(row(at=(500, 29.5))), "wgs84", YUZHONG, "is not a longitude/latitude pair"),
    ("another-district-point", "a.csv", csv_bytes(row(at=IN_JIANGBEI)), "wgs84", YUZHONG,
     "the point lies in 江北区 (500105), outside your district 渝中区 (500103)"),
    ("another-district-code", "a.csv", csv_bytes([*row(at=IN_JIANGBEI), "500105"], header=[*HEADER, "区县代码"]), "wgs84", YUZHONG,
     "this station is for 江北区 (500105); your account adds stations in 渝中区 (500103) only"),
    ("unknown-district-name", "a.csv", csv_bytes([*row(), "火星区"], header=[*HEADER, "区县"]), "wgs84", YUZHONG,
     "'火星区' does not match code 500103"),
    ("swapped-csv", "a.csv", csv_bytes(row(at=(A[1], A[0]))), "wgs84", YUZHONG,
     "经度 is 29.56 and 纬度 is 106.579: longitude and latitude look swapped; swapped, the point lies in 渝中区"),
    ("swapped-geojson", "a.geojson", geojson_bytes(feature(at=(A[1], A[0]))), "wgs84", YUZHONG,
     "features[0].geometry: coordinates [29.56, 106.579]: longitude and latitude look swapped"),
    ("formula-as-text", "a.csv", csv_bytes(row(name='=HYPERLINK("http://evil","点我")')), "wgs84", YUZHONG,
     "looks like a spreadsheet formula; it would be stored as text"),
    ("repeated-row", "a.csv", csv_bytes(row(), row()), "wgs84", YUZHONG, "row 3: repeats row 2 exactly"),
    ("near-duplicate-in-file", "a.csv", csv_bytes(row(), row(name="另一个驿站", at=(A[0] + 0.0001, A[1]))), "wgs84", YUZHONG,
     "row 3, column 经度/纬度: 10 m from row 2 of this file, of the same kind"),
    ("same-name-in-file", "a.csv", csv_bytes(row(), row(at=B)), "wgs84", YUZHONG, "row 3, column 名称: has the same name as row 2"),
    ("near-duplicate-in-registry", "a.csv", csv_bytes(row(name="新名字", at=(106.5771, 29.5591))), "wgs84", YUZHONG,
     "m from 测试驿站0001 (500103-OS-0001), an existing station of the same kind"),
    ("near-retired-station", "a.csv", csv_bytes(row(name="新名字", at=(106.5301, 29.5451))), "wgs84", YUZHONG,
     "a retired station of the same kind"),
    ("same-name-in-registry", "a.csv", csv_bytes(row(name="测试驿站0003")), "wgs84", YUZHONG,
     "测试驿站0003 (500103-OS-0003) in the registry has the same name in the same district"),
    ("gcj02-uploaded-as-wgs84", "a.csv", csv_bytes(row(name="测试驿站0002", at=from_wgs84(106.5700, 29.5560, "gcj02"))), "wgs84", YUZHONG,
     "read as GCJ-02 (Amap, Tencent, WeChat) instead of WGS-84"),
]


def attempt(store, districts, filename, raw, crs, actor, **limits) -> str:
    """Parse, check and commit without confirming anything; return every message of the refusal."""
    before = store.path.read_bytes()
    try:
        parsed = parse_upload(filename, raw, crs, district_adcode=actor.district_adcode, districts=districts, **limits)
        report = check_upload(parsed, store.snapshot(), actor, districts)
        json.dumps(report.to_dict())  # the report of a bad upload is still JSON
        commit_upload(store, report, actor)
    except ValidationError as exc:
        message = "\n".join(str(p) for p in exc.problems)
    except PermissionDeniedError as exc:
        message = str(exc)
    else:
        pytest.fail(f"{filename} was accepted")
    assert store.path.read_bytes() == before
    assert store.history() == []
    return message


@pytest.mark.parametrize(("filename", "raw", "crs", "actor", "expected"), [c[1:] for c in BAD_UPLOADS],
                         ids=[c[0] for c in BAD_UPLOADS])
def test_bad_upload_is_refused_with_its_own_message(store, districts, filename, raw, crs, actor, expected):
    message = attempt(store, districts, filename, raw, crs, actor)
    assert expected in message


def test_the_bad_upload_table_is_long_enough():
    assert len(BAD_UPLOADS) >= 30
    assert len({c[0] for c in BAD_UPLOADS}) == len(BAD_UPLOADS)


def test_limits_are_parameters(store, districts):
    assert "at most 10 bytes" in attempt(store, districts, "a.csv", csv_bytes(row()), "wgs84", YUZHONG, max_bytes=10)
    assert "more than 1 stations" in attempt(store, districts, "a.csv", csv_bytes(row(), row(at=B)), "wgs84", YUZHONG, max_rows=1)


def test_every_problem_is_reported_at_once(store, districts):
    raw = csv_bytes(row(kind="加油站", hours="看心情"), row(name="", at=B), row(at=IN_JIANGBEI, name="江北"))
    report = check_upload(parse_upload("a.csv", raw, "wgs84"), store.snapshot(), YUZHONG, districts)
    where = {(i.row, i.field) for i in report.problems}
    assert {(2, "kind"), (2, "opening_hours"), (3, "name"), (4, "coordinates")} <= where
    assert not report.ok and report.features == []
    out_of_district = [i for i in report.problems if i.code == "out_of_district"]
    assert [i.row for i in out_of_district] == [4]


def test_planner_cannot_even_check(store, districts):
    with pytest.raises(PermissionDeniedError, match="planner accounts can read but not change"):
        check_upload(parse_upload("a.csv", csv_bytes(row()), "wgs84"), store.snapshot(), PLANNER, districts)
    with pytest.raises(PermissionDeniedError):
        review_upload("a.csv", csv_bytes(row()), "wgs84", store.snapshot(), PLANNER, districts)


# -- good uploads --------------------------------------------------------------------------

GOOD_ROWS = [row(), row(name="七星岗职工书屋", kind="职工书屋", amenities="阅读|无线网络", hours="Mo-Fr 09:00-17:00", at=B),
             row(name="大坪托管班", kind="爱心托管班", amenities="托管,休息", phone="", at=C,
                 hours="周一至周五 8:30-17:30")]
EXPECTED = [
    {"name": "解放碑新驿站", "kind": "outdoor_station", "amenities": ["rest", "drinking_water", "phone_charging"], "opening_hours": "24/7"},
    {"name": "七星岗职工书屋", "kind": "bookshelf", "amenities": ["reading", "wifi"], "opening_hours": "Mo-Fr 09:00-17:00"},
    {"name": "大坪托管班", "kind": "childcare", "amenities": ["childcare", "rest"], "opening_hours": "Mo-Fr 08:30-17:30"},
]


def commit_clean(store, districts, filename, raw, crs="wgs84", actor=YUZHONG):
    report = review_upload(filename, raw, crs, store.snapshot(), actor, districts)
    assert report.ok, [str(p) for p in report.problems]
    assert report.warnings == [], [str(w) for w in report.warnings]
    ids = commit_upload(store, report, actor)
    assert ids == [r.provisional_id for r in report.rows]
    return [store.get(i) for i in ids], report


def assert_expected(features):
    assert len(features) == 3
    for got, want in zip(features, EXPECTED, strict=True):
        props = got["properties"]
        assert {k: props[k] for k in want} == want
        assert props["district_adcode"] == "500103" and props["district"] == "渝中区"
        assert props["status"] == "active" and props["source"] == "district_upload"
    assert [f["geometry"]["coordinates"] for f in features] == [list(A), list(B), list(C)]


@pytest.mark.parametrize(("encoding", "delimiter"), [("utf-8", ","), ("utf-8-sig", ","), ("gbk", ","), ("gb18030", ","),
                                                     ("utf-16", "\t")])
def test_csv_in_the_encodings_excel_writes(store, districts, encoding, delimiter):
    features, report = commit_clean(store, districts, "渝中区驿站.csv", csv_bytes(*GOOD_ROWS, encoding=encoding, delimiter=delimiter))
    assert_expected(features)
    assert [f["properties"]["id"] for f in features] == ["500103-OS-0005", "500103-BS-0002", "500103-CC-0001"]
    assert any("translated to OpenStreetMap syntax" in n for n in report.notes)


def test_xlsx_with_title_row_and_extra_columns(store, districts):
    header = ["序号", *HEADER, "备注"]
    rows = [[i + 1, *r, ""] for i, r in enumerate(GOOD_ROWS)]
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["渝中区工会户外劳动者服务站台账（2025年）"])
    sheet.append(header)
    for r in rows:
        sheet.append([*r[:8], float(r[8]), float(r[9]), r[10]])
    book.create_sheet("说明").append(["填表说明"])
    buffer = io.BytesIO()
    book.save(buffer)
    features, report = commit_clean(store, districts, "台账.xlsx", buffer.getvalue())
    assert_expected(features)
    assert [r.row for r in report.rows] == [3, 4, 5]  # the title is row 1, the header row 2
    assert any("序号" in n and "备注" in n for n in report.notes)
    assert any("only the first sheet" in n for n in report.notes)


def test_xlsx_row_numbers_in_problems(store, districts):
    raw = xlsx_bytes(row(), row(kind="加油站", at=B), title="台账")
    report = review_upload("a.xlsx", raw, "wgs84", store.snapshot(), YUZHONG, districts)
    assert [str(p) for p in report.problems] == [
        "row 4, column 类型: unknown kind '加油站' (one of 户外劳动者服务站 (outdoor_station), 职工书屋 (bookshelf), 爱心托管班 (childcare))"]


def test_geojson_with_labels_and_server_fields(store, districts):
    raw = geojson_bytes(
        feature(status="retired", source="sample", kind="户外劳动者服务站", amenities="休息、饮水、充电"),
        feature(at=B, name="七星岗职工书屋", kind="bookshelf", amenities=["阅读", "wifi"], opening_hours="Mo-Fr 09:00-17:00"),
        feature(at=C, name="大坪托管班", kind="Childcare class", amenities=["childcare", "rest"], opening_hours="Mo-Fr 08:30-17:30",
                district_adcode=500103),
    )
    features, report = commit_clean(store, districts, "stations.geojson", raw)
    assert_expected(features)
    assert any("source, status are ignored" in n for n in report.notes)   # an id would update (test_upload_updates)


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_shifted_coordinates_are_converted_to_wgs84(store, districts, crs):
    rows = [r[:7] + [f"{x:.7f}" for x in from_wgs84(float(r[7]), float(r[8]), crs)] for r in GOOD_ROWS]
    features, _ = commit_clean(store, districts, "a.csv", csv_bytes(*rows), crs=crs)
    for got, r in zip(features, rows, strict=True):
        want = to_wgs84(float(r[7]), float(r[8]), crs)
        assert got["geometry"]["coordinates"] == pytest.approx(list(want), abs=1.5e-7)
        assert got["geometry"]["coordinates"] == pytest.approx([float(x) for x in GOOD_ROWS[features.index(got)][7:]], abs=1e-6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lon=st.floats(106.49, 106.58), lat=st.floats(29.540, 29.565), crs=st.sampled_from(["wgs84", "gcj02", "bd09"]))
def test_parse_converts_like_geo_coords(lon, lat, crs):
    parsed = parse_upload("a.csv", csv_bytes(row(at=(repr(lon), repr(lat)))), crs)
    want = to_wgs84(lon, lat, crs)
    assert parsed[0]["geometry"]["coordinates"] == pytest.approx(list(want), abs=6e-8)


def test_degrees_minutes_seconds_and_units(store, districts):
    parsed = parse_upload("a.csv", csv_bytes(row(at=("106°34′44.4″E", "29.56°N"))), "wgs84")
    assert parsed[0]["geometry"]["coordinates"] == pytest.approx([106.579, 29.56])


def test_district_fills_from_location_for_admin(store, districts):
    raw = csv_bytes(row(), row(name="江北驿站", address="重庆市江北区", at=IN_JIANGBEI))
    report = review_upload("a.csv", raw, "wgs84", store.snapshot(), ADMIN, districts)
    assert report.ok and not report.warnings, [str(i) for i in report.problems + report.warnings]
    assert [r.feature["properties"]["district"] for r in report.rows] == ["渝中区", "江北区"]
    ids = commit_upload(store, report, ADMIN)
    assert ids == ["500103-OS-0005", "500105-OS-0002"]
    assert store.get(ids[1])["properties"]["source"] == "admin"


# -- permissions ---------------------------------------------------------------------------

OWN, OTHER = csv_bytes(row()), csv_bytes(row(name="江北驿站", at=IN_JIANGBEI))


@pytest.mark.parametrize(
    ("actor", "raw", "outcome"),
    [(YUZHONG, OWN, "ok"), (YUZHONG, OTHER, "out_of_district"), (JIANGBEI, OWN, "out_of_district"),
     (JIANGBEI, OTHER, "ok"), (ADMIN, OWN, "ok"), (ADMIN, OTHER, "ok"), (PLANNER, OWN, "denied"), (PLANNER, OTHER, "denied")],
    ids=["district-own", "district-other", "other-district-own", "other-district-other", "admin-own", "admin-other",
         "planner-own", "planner-other"],
)
def test_permission_matrix(store, districts, actor, raw, outcome):
    before = store.path.read_bytes()
    if outcome == "denied":
        with pytest.raises(PermissionDeniedError):
            check_upload(parse_upload("a.csv", raw, "wgs84"), store.snapshot(), actor, districts)
        return
    report = check_upload(parse_upload("a.csv", raw, "wgs84"), store.snapshot(), actor, districts)
    if outcome == "ok":
        assert report.ok, [str(p) for p in report.problems]
        assert len(commit_upload(store, report, actor)) == 1
    else:
        assert {p.code for p in report.problems} == {"out_of_district"}
        with pytest.raises(UploadRejectedError):
            commit_upload(store, report, actor)
        assert store.path.read_bytes() == before


def test_commit_needs_the_same_actor(store, districts):
    report = review_upload("a.csv", OWN, "wgs84", store.snapshot(), YUZHONG, districts)
    with pytest.raises(PermissionDeniedError, match="checked for yuzhong"):
        commit_upload(store, report, ADMIN)


# -- confirming warned rows -------------------------------------------------------------------


def warned_report(store, districts):
    raw = csv_bytes(row(), row(name="测试驿站0003", at=B), row(name="新名字", at=(106.5771, 29.5591)), row(name="还一个", at=C))
    report = review_upload("a.csv", raw, "wgs84", store.snapshot(), YUZHONG, districts)
    assert report.ok and report.needs_confirmation == [3, 4]
    return report


def test_warned_rows_must_be_confirmed_or_dropped(store, districts):
    before = store.path.read_bytes()
    report = warned_report(store, districts)
    with pytest.raises(ConfirmationRequiredError) as caught:
        commit_upload(store, report, YUZHONG)
    assert caught.value.rows == [3, 4]
    with pytest.raises(ConfirmationRequiredError) as caught:
        commit_upload(store, report, YUZHONG, confirm_duplicates={3})
    assert caught.value.rows == [4]
    with pytest.raises(ValidationError, match="no such row"):
        commit_upload(store, report, YUZHONG, confirm_duplicates={99})
    assert store.path.read_bytes() == before
    ids = commit_upload(store, report, YUZHONG, confirm_duplicates={3}, drop={4})
    assert [store.get(i)["properties"]["name"] for i in ids] == ["解放碑新驿站", "测试驿站0003", "还一个"]


def test_confirm_all(store, districts):
    assert len(commit_upload(store, warned_report(store, districts), YUZHONG, confirm_duplicates=True)) == 4


def test_dropping_everything_adds_nothing(store, districts):
    report = review_upload("a.csv", csv_bytes(row(name="测试驿站0003")), "wgs84", store.snapshot(), YUZHONG, districts)
    with pytest.raises(ValidationError, match="every row was dropped"):
        commit_upload(store, report, YUZHONG, drop={2})


def test_registry_change_between_check_and_commit_is_rechecked(store, districts):
    report = review_upload("a.csv", OWN, "wgs84", store.snapshot(), YUZHONG, districts)
    assert report.ok and not report.warnings
    # Meanwhile someone adds a station right there.
    commit_upload(store, review_upload("b.csv", csv_bytes(row(name="抢先驿站")), "wgs84", store.snapshot(), ADMIN, districts), ADMIN)
    with pytest.raises(ConfirmationRequiredError, match="抢先驿站"):
        commit_upload(store, report, YUZHONG)
    assert len(commit_upload(store, report, YUZHONG, confirm_duplicates=True)) == 1


def test_crs_mistake_for_several_rows_gets_a_file_level_warning(store, districts):
    rows = [row(name=f"测试驿站000{n}", at=from_wgs84(*at, "gcj02"))
            for n, at in ((1, (106.5770, 29.5590)), (2, (106.5700, 29.5560)), (3, (106.5516, 29.5630)))]
    report = review_upload("a.csv", csv_bytes(*rows), "wgs84", store.snapshot(), YUZHONG, districts)
    assert report.ok
    (summary,) = report.file_warnings
    assert summary.code == "crs_mismatch" and "3 of 3 rows" in summary.message and "gcj02" in summary.suggestion
    # uploaded again as GCJ-02 they are exact duplicates of the stations they are
    again = review_upload("a.csv", csv_bytes(*rows), "gcj02", store.snapshot(), YUZHONG, districts)
    assert {w.code for w in again.warnings} == {"near_duplicate", "same_name"} and not again.file_warnings
    assert all(w.message.startswith("0 m from") for w in again.warnings if w.code == "near_duplicate")


# -- the report ---------------------------------------------------------------------------------


def test_report_to_dict_and_preview(store, districts):
    raw = csv_bytes(row(), row(name="江北", at=IN_JIANGBEI), row(name="新名字", at=(106.5771, 29.5591)))
    report = review_upload("a.csv", raw, "wgs84", store.snapshot(), YUZHONG, districts)
    data = json.loads(json.dumps(report.to_dict(), ensure_ascii=False, allow_nan=False))
    assert data["ok"] is False and data["counts"] == {"rows": 3, "problems": 1, "warnings": 1, "ready": 0, "added": 3, "changed": 0, "unchanged": 0, "missing": 0}
    assert [r["state"] for r in data["rows"]] == ["ok", "problem", "warning"]
    assert data["problems"][0]["where"] == "row 3, column 经度/纬度" and data["problems"][0]["code"] == "out_of_district"
    preview = data["preview"]
    assert preview["type"] == "FeatureCollection" and len(preview["features"]) == 3
    assert preview["features"][1]["upload"] == {"row": 3, "label": "row 3", "state": "problem",
                                                "messages": [str(report.problems[0])]}


def test_review_upload_reports_file_problems_instead_of_raising(store, districts):
    report = review_upload("a.csv", csv_bytes(row()[:7], header=HEADER[:7]), "wgs84", store.snapshot(), YUZHONG, districts)
    assert not report.ok and report.rows == []
    assert report.problems[0].row == 1 and "missing column(s)" in report.problems[0].message
    with pytest.raises(UploadRejectedError):
        commit_upload(store, report, YUZHONG)


def test_plain_feature_list_is_checked_like_a_file(store, districts):
    report = check_upload([feature(), feature(at=IN_JIANGBEI, name="江北")], store.snapshot(), YUZHONG, districts)
    assert [(p.where, p.code) for p in report.problems] == [("features[1].geometry", "out_of_district")]
    report = check_upload([feature()], store.snapshot(), YUZHONG, districts)
    assert report.ok and report.rows[0].feature["properties"]["district"] == "渝中区"


def test_big_upload_checks_in_reasonable_time(store, districts):
    import time

    # a 50 × 40 grid of stations 200 m apart across the central districts
    raw = csv_bytes(*[row(name=f"驿站{i}", address="重庆市某路", at=(106.40 + (i % 50) * 0.002, 29.60 + (i // 50) * 0.002))
                      for i in range(2_000)])
    started = time.perf_counter()
    report = review_upload("a.csv", raw, "wgs84", store.snapshot(), ADMIN, districts)
    elapsed = time.perf_counter() - started
    assert report.ok and not report.warnings and len(report.rows) == 2_000
    assert elapsed < 30, elapsed
