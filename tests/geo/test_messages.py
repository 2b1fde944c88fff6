"""Messages in Chinese and English: the catalogue is complete, every bad upload reads in Chinese, and the Chinese reads right."""

from __future__ import annotations

import re
import string

import pytest

from geo.coords import from_wgs84
from geo.errors import Problem, ValidationError
from geo.messages import Label, Place, Text, place
from geo.uploads.formats import COLUMN_LABELS
from geo.uploads.pipeline import parse_upload, review_upload
from tests.geo.uploads.test_uploads import (
    BAD_UPLOADS,
    HEADER,
    IN_JIANGBEI,
    YUZHONG,
    A,
    csv_bytes,
    feature,
    geojson_bytes,
    row,
)

CJK = re.compile(r"[\u3400-\u9fff]")
# Chinese text or its full-width punctuation (a few templates are only "{where}：{message}").
CHINESE = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
PLACEHOLDER = re.compile(r"\{[A-Za-z_]\w*(?:[!:][^{}]*)?\}")


def fields_of(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def test_a_text_is_english_by_default_and_unknown_keys_fail_early():
    text = Text("prop.too_long", n=120, max=100)
    assert str(text) == "is 120 characters long; at most 100 allowed"
    assert text.render("zh") == "有 120 个字符，最多 100 个"
    with pytest.raises(KeyError):
        Text("no.such.key")


@pytest.mark.parametrize(("where", "zh"), [
    (Place(row=3), "第 3 行"),
    (Place(row=3, column="经度"), "第 3 行，经度列"),
    (Place(row=3, field="name"), "第 3 行，名称"),
    (Place(column="经度"), "经度列"),
    (Place(feature=3), "第 4 个要素"),
    (Place(feature=0, id="500103-OS-0001").at("geometry.type"), "第 1 个要素（500103-OS-0001），几何类型"),
    (Place(feature=3).at("properties.opening_hours"), "第 4 个要素，开放时间"),
    (Place(feature=3).at("geometry"), "第 4 个要素，几何图形"),
    ("lon, lat", "经度、纬度"),
    ("file", "文件"),
    ("500103-OS-0001", "500103-OS-0001"),
])
def test_places_read_as_a_chinese_form_would_say_them(where, zh):
    label = place(where)
    assert (label.label("zh") if isinstance(label, (Label, Place)) else label) == zh
    assert (label.label("en") if isinstance(label, (Label, Place)) else label) == where


def test_places_keep_the_english_the_code_always_showed():
    assert Place(row=3, column="经度") == "row 3, column 经度"
    assert Place(feature=0, id="500103-OS-0001").at("geometry.type") == "features[0] (500103-OS-0001).geometry.type"


def test_problem_keeps_its_english_and_renders_chinese():
    problem = Problem(Place(feature=3).at("properties.phone"), Text("prop.phone", value="call me"), Text("prop.phone_hint"))
    assert problem.message == "'call me' is not a phone number"
    assert str(problem) == "features[3].properties.phone: 'call me' is not a phone number (digits, spaces, + - ( ) only, e.g. 023-63891234)"
    assert problem.as_dict() == {"where": "features[3].properties.phone", "message": "'call me' is not a phone number",
                                 "hint": "digits, spaces, + - ( ) only, e.g. 023-63891234"}
    assert problem.as_dict("zh") == {"where": "第 4 个要素，联系电话", "message": "“call me”不是电话号码",
                                     "hint": "只能填数字、空格和 + - ( )，例如 023-63891234"}
    assert problem.text("zh") == "第 4 个要素，联系电话：“call me”不是电话号码（只能填数字、空格和 + - ( )，例如 023-63891234）"
    assert problem == Problem("features[3].properties.phone", "'call me' is not a phone number",
                              "digits, spaces, + - ( ) only, e.g. 023-63891234")
    assert str(ValidationError(Text("json.empty"), source="a.geojson")) == "a.geojson: a.geojson: the file is empty"


def test_column_labels_come_from_the_catalogue():
    assert COLUMN_LABELS["lon"] == "经度 (lon)" and COLUMN_LABELS["phone"] == "联系电话 (phone)"


# -- every bad upload, in Chinese ----------------------------------------------------------------


def assert_chinese(text: str, english: str, what: str):
    assert CJK.search(text), f"{what}: no Chinese in {text!r}"
    assert not PLACEHOLDER.search(text), f"{what}: a placeholder is left in {text!r}"
    if re.search(r"[A-Za-z]{3}", english):
        assert english not in text, f"{what}: the English {english!r} leaked into {text!r}"


@pytest.mark.parametrize(("filename", "raw", "crs", "actor"), [c[1:5] for c in BAD_UPLOADS], ids=[c[0] for c in BAD_UPLOADS])
def test_every_bad_upload_reads_in_chinese(store, districts, filename, raw, crs, actor):
    report = review_upload(filename, raw, crs, store.snapshot(), actor, districts)
    issues = report.problems + report.warnings
    assert issues
    for issue in issues:
        zh = issue.as_dict("zh")
        assert_chinese(zh["message"], issue.message, f"{issue.code} message")
        if issue.suggestion:
            assert_chinese(zh["suggestion"], issue.suggestion, f"{issue.code} suggestion")
        assert_chinese(zh["where"], "", f"{issue.code} where")
        assert_chinese(issue.label_in("zh"), "", f"{issue.code} label")
        assert_chinese(issue.text("zh"), "", f"{issue.code} line")
        assert issue.as_dict("en")["message"] == issue.message  # English unchanged
    for note in report.notes_in("zh"):
        assert_chinese(note, "", "note")


def zh_issue(store, districts, raw, code, filename="a.csv", crs="wgs84"):
    report = review_upload(filename, raw, crs, store.snapshot(), YUZHONG, districts)
    found = [i for i in report.problems + report.warnings if i.code == code]
    assert found, [str(i) for i in report.problems + report.warnings]
    return found[0]


def test_swapped_coordinates_in_chinese(store, districts):
    issue = zh_issue(store, districts, csv_bytes(row(at=(A[1], A[0]))), "swapped_coordinates")
    assert issue.label_in("zh") == "第 2 行" and issue.field_in("zh") == "经度/纬度"
    assert issue.message_in("zh") == "经度填的是 29.56，纬度填的是 106.579，经纬度似乎填反了；互换后该点位于渝中区"
    assert issue.suggestion_in("zh") == "请互换经度和纬度两列的值（重庆的经度约为 105–110，纬度约为 28–32）"
    geojson = zh_issue(store, districts, geojson_bytes(feature(at=(A[1], A[0]))), "swapped_coordinates", "a.geojson")
    assert geojson.label_in("zh") == "第 1 个要素" and geojson.field_in("zh") == "坐标"
    assert geojson.message_in("zh") == "坐标 [29.56, 106.579] 的经纬度似乎填反了；互换后该点位于渝中区"


def test_out_of_district_in_chinese(store, districts):
    point = zh_issue(store, districts, csv_bytes(row(at=IN_JIANGBEI)), "out_of_district")
    assert point.message_in("zh") == "该点位于江北区（500105），不在本区县渝中区（500103）范围内"
    assert point.suggestion_in("zh") == "请核对坐标和坐标系"
    code = zh_issue(store, districts, csv_bytes([*row(at=IN_JIANGBEI), "500105"], header=[*HEADER, "区县代码"]),
                    "out_of_district")
    assert code.message_in("zh") == "该站点属于江北区（500105），本账号只能添加渝中区（500103）的站点"
    assert code.text("zh") == ("第 2 行，区县代码列：该站点属于江北区（500105），本账号只能添加渝中区（500103）的站点"
                               "（请删除这一行，或请该区县工会上传）")


def test_near_duplicate_in_chinese_states_the_distance(store, districts):
    issue = zh_issue(store, districts, csv_bytes(row(name="新名字", at=(106.5771, 29.5591))), "near_duplicate")
    metres = re.match(r"(\d+) m from", issue.message)[1]
    assert issue.message_in("zh") == f"与已有的同类站点测试驿站0001（500103-OS-0001）相距 {metres} 米"
    assert issue.suggestion_in("zh").startswith("如果是同一个站点，请跳过这一行")
    in_file = zh_issue(store, districts, csv_bytes(row(), row(name="另一个驿站", at=(A[0] + 0.0001, A[1]))), "near_duplicate")
    assert in_file.message_in("zh") == "与本文件第 2 行的同类站点相距 10 米"


def test_wrong_crs_and_formula_in_chinese(store, districts):
    raw = csv_bytes(row(name="测试驿站0002", at=from_wgs84(106.5700, 29.5560, "gcj02")))
    issue = zh_issue(store, districts, raw, "crs_mismatch")
    shift = re.search(r"as uploaded it is (\d+) m away", issue.message)[1]
    assert issue.message_in("zh") == (f"如果按 GCJ-02 而不是 WGS-84 读取，该点距测试驿站0002（500103-OS-0002）只有 0 米；"
                                      f"按上传时的坐标系则相距 {shift} 米")
    assert issue.suggestion_in("zh") == ("如果坐标取自高德、腾讯或微信，请重新上传并选择“GCJ-02（高德、腾讯、微信）”；"
                                         "如果这一行就是该站点，请跳过")
    formula = zh_issue(store, districts, csv_bytes(row(name="=1+1")), "formula")
    assert formula.message_in("zh") == "“=1+1”像是电子表格公式：入库后只会保存这段文字，不会计算"


@pytest.mark.parametrize(("raw", "filename", "zh"), [
    (b"", "a.csv", "文件：文件是空的（请上传站点清单，每个站点一行）"),
    (b"{", "a.geojson", "文件：不是有效的 JSON：第 1 行第 2 列属性名须用双引号括起"),
    (b"a" * 2048, "a.csv", "文件：文件有 2,048 字节，每次最多上传 1,024 字节（0.000976562 MB）（请拆分成几个较小的文件）"),
    ("名称,地址\n驿站,路\n".encode("utf-16-le"), "a.csv", "文件：这像是没有字节顺序标记（BOM）的 UTF-16 文本"),
])
def test_file_problems_in_chinese(store, districts, raw, filename, zh):
    report = review_upload(filename, raw, "wgs84", store.snapshot(), YUZHONG, districts, max_bytes=1024)
    assert report.file_problems[0].text("zh").startswith(zh)


def test_too_many_rows_in_chinese(store, districts):
    report = review_upload("a.csv", csv_bytes(row(), row(name="乙", at=(A[0] + 0.001, A[1]))), "wgs84", store.snapshot(),
                           YUZHONG, districts, max_rows=1)
    assert report.file_problems[0].as_dict("zh")["message"] == "行数过多：一次最多上传 1 个站点"


def test_notes_in_both_languages(store, districts):
    parsed = parse_upload("a.csv", csv_bytes([*row(), "x"], header=[*HEADER, "备注"]), "wgs84")
    report = review_upload("a.csv", csv_bytes([*row(), "x"], header=[*HEADER, "备注"]), "wgs84", store.snapshot(),
                           YUZHONG, districts)
    assert report.notes == [str(n) for n in parsed.notes] == ["columns ignored (not part of the station schema): 备注"]
    assert report.notes_in("zh") == ["以下列不属于站点字段，已忽略：备注"]
