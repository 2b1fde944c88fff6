"""The portal shows upload reports and form errors in the page's language; the write API answers in English unless asked for Chinese."""

from __future__ import annotations

import io
import re

from tests.portal_helpers import (
    JIANGBEI_ROW,
    YUZHONG_ROW,
    YUZHONG_ROW_NEAR,
    YUZHONG_ROW_SWAPPED,
    bearer,
    csrf_token,
    csv_bytes,
    registry_state,
)
from tests.webmap.portal.test_portal import OWN, OWN_RETIRED, station_form_defaults

pytest_plugins = ("tests.portal_fixtures",)

SWAPPED_ZH = "经度填的是 29.55，纬度填的是 106.56，经纬度似乎填反了；互换后该点位于渝中区"
SWAPPED_EN = "经度 is 29.55 and 纬度 is 106.56: longitude and latitude look swapped; swapped, the point lies in 渝中区"


def check(client, raw: bytes, query: str = "", filename: str = "台账.csv", crs: str = "wgs84"):
    token = csrf_token(client, "/upload")
    return client.post(f"/upload{query}", data={"csrf_token": token, "crs": crs, "file": (io.BytesIO(raw), filename)},
                       content_type="multipart/form-data")


def cells(html: str, table: str) -> list[list[str]]:
    body = re.search(rf'<table class="data-table report-table" id="{table}">(.*?)</table>', html, re.S).group(1)
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
            for tr in re.findall(r"<tr data-row[^>]*>(.*?)</tr>", body, re.S)]


def test_upload_report_in_chinese_then_english(signed_in, registry_path):
    client = signed_in("yuzhong")
    before = registry_state(registry_path)
    zh = check(client, csv_bytes(YUZHONG_ROW, YUZHONG_ROW_SWAPPED, JIANGBEI_ROW))
    assert zh.status_code == 200
    rows = cells(zh.get_data(as_text=True), "report-problems")
    assert rows[0] == ["第 3 行", "经度/纬度", SWAPPED_ZH, "请互换经度和纬度两列的值（重庆的经度约为 105–110，纬度约为 28–32）"]
    assert rows[1][0] == "第 4 行" and rows[1][2] == "该点位于江北区（500105），不在本区县渝中区（500103）范围内"
    assert "look swapped" not in zh.get_data(as_text=True)

    en = check(client, csv_bytes(YUZHONG_ROW, YUZHONG_ROW_SWAPPED, JIANGBEI_ROW), "?lang=en")
    rows = cells(en.get_data(as_text=True), "report-problems")
    assert rows[0][:3] == ["row 3", "经度/纬度", SWAPPED_EN]
    assert rows[1][2] == "the point lies in 江北区 (500105), outside your district 渝中区 (500103)"
    assert "经纬度似乎填反了" not in en.get_data(as_text=True)
    assert registry_state(registry_path) == before


def test_warnings_notes_and_preview_in_chinese(signed_in):
    client = signed_in("yuzhong")
    raw = ("名称,类型,地址,主办单位,联系电话,开放时间,服务设施,经度,纬度,备注\n"
           + YUZHONG_ROW_NEAR + ",无\n").encode()
    html = check(client, raw, "?lang=zh").get_data(as_text=True)
    warning = cells(html, "report-warnings")[0]
    assert warning[0] == "第 2 行"
    assert re.fullmatch(r"与已有的同类站点测试驿站0001（500103-OS-0001）相距 \d+ 米（如果是同一个站点.*）", warning[2])
    assert "以下列不属于站点字段，已忽略：备注" in html
    preview = re.search(r'<script type="application/json" id="sm-upload-preview">(.*?)</script>', html, re.S).group(1)
    assert '"label": "\\u7b2c 2 \\u884c"' in preview  # 第 2 行


def test_file_problems_in_the_page_language(signed_in):
    client = signed_in("yuzhong")
    zh = check(client, b"", "?lang=zh").get_data(as_text=True)
    assert "文件是空的" in zh and "请上传站点清单，每个站点一行" in zh
    assert "the file is empty" in check(client, b"", "?lang=en").get_data(as_text=True)
    latin = check(client, "Name,Café\nx,é\n".encode("latin-1"), "?lang=zh").get_data(as_text=True)
    assert "文件既不是 UTF-8 也不是 GBK/GB18030 编码" in latin
    missing_crs = check(client, csv_bytes(YUZHONG_ROW), "?lang=zh", crs="")
    assert missing_crs.status_code == 400
    assert "请说明文件使用的坐标系" in missing_crs.get_data(as_text=True)


def test_user_values_in_messages_stay_escaped(signed_in):
    client = signed_in("yuzhong")
    row = YUZHONG_ROW.replace("朝天门驿站", "=<img src=x onerror=alert(1)>")
    html = check(client, csv_bytes(row), "?lang=zh").get_data(as_text=True)
    assert "<img src=x" not in html
    assert "“=&lt;img src=x onerror=alert(1)&gt;”像是电子表格公式" in html


def test_edit_form_errors_in_the_page_language(signed_in, registry_path):
    client = signed_in("yuzhong")
    form = station_form_defaults(client, OWN)
    token = csrf_token(client, "/portal/stations")
    before = registry_state(registry_path)
    bad = {**form, "csrf_token": token, "phone": "call me", "opening_hours": "sometimes"}
    zh = client.post(f"/portal/stations/{OWN}/edit?lang=zh", data=bad).get_data(as_text=True)
    assert "<strong>联系电话</strong>：“call me”不是电话号码" in zh
    assert "<strong>开放时间</strong>：开放时间格式无法识别（第 1 个字符处有误）" in zh
    en = client.post(f"/portal/stations/{OWN}/edit?lang=en", data=bad).get_data(as_text=True)
    assert "<strong>phone</strong>: &#39;call me&#39; is not a phone number" in en
    moved = client.post(f"/portal/stations/{OWN}/edit?lang=zh", data={**form, "csrf_token": token,
                                                                      "lon": "106.5740", "lat": "29.5870"})
    assert "新位置 [106.574, 29.587]（WGS-84）位于江北区（500105），不在渝中区（500103）范围内" in moved.get_data(as_text=True)
    assert registry_state(registry_path) == before


def test_retiring_twice_and_other_districts_in_chinese(signed_in):
    client = signed_in("yuzhong")
    token = csrf_token(client, "/portal/stations")
    again = client.post(f"/portal/stations/{OWN_RETIRED}/retire?lang=zh", data={"csrf_token": token, "reason": "重复撤销"})
    assert again.status_code == 400
    assert "500103-OS-0004：该站点已经是“已撤销”状态" in again.get_data(as_text=True)
    other = client.get("/portal/stations/500105-OS-0001/edit?lang=zh")
    assert other.status_code == 403
    assert "yuzhong：500103 区县账号不能修改 500105 区县的站点" in other.get_data(as_text=True)


# -- the write API: English for programs, Chinese on request ---------------------------------------


def api_check(anon, tokens, query: str = "", headers: dict | None = None):
    data = {"crs": "wgs84", "file": (io.BytesIO(csv_bytes(YUZHONG_ROW_SWAPPED)), "a.csv")}
    return anon.post(f"/api/uploads{query}", data=data, content_type="multipart/form-data",
                     headers={**bearer(tokens["yuzhong"]), **(headers or {})})


def test_api_upload_report_is_english_unless_asked(anon, tokens):
    english = api_check(anon, tokens, headers={"Accept-Language": "en-US,en;q=0.9"})
    problem = english.get_json()["report"]["problems"][0]
    assert problem["message"] == SWAPPED_EN and problem["where"] == "row 2, column 经度/纬度"
    assert "Accept-Language" in english.headers["Vary"]
    assert api_check(anon, tokens).get_json()["report"]["problems"][0]["message"] == SWAPPED_EN  # no header: English
    for query, headers in (("?lang=zh", {}), ("", {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})):
        chinese = api_check(anon, tokens, query, headers).get_json()["report"]
        problem = chinese["problems"][0]
        assert problem["message"] == SWAPPED_ZH
        assert problem["where"] == "第 2 行，经度/纬度列" and problem["code"] == "swapped_coordinates"
        assert problem["field"] == "coordinates" and problem["row"] == 2  # the machine-readable parts never change
    assert api_check(anon, tokens, "?lang=en", {"Accept-Language": "zh-CN"}).get_json()["report"]["problems"][0][
        "message"] == SWAPPED_EN  # ?lang wins over the header


def test_api_edit_errors_follow_accept_language(anon, tokens, registry_path):
    before = registry_state(registry_path)
    english = anon.patch(f"/api/stations/{OWN}", json={"phone": "call me"}, headers=bearer(tokens["yuzhong"]))
    assert english.status_code == 400
    assert english.get_json()["errors"][0] == {"where": "phone", "message": "'call me' is not a phone number",
                                               "hint": "digits, spaces, + - ( ) only, e.g. 023-63891234"}
    assert "Accept-Language" in english.headers["Vary"]
    chinese = anon.patch(f"/api/stations/{OWN}", json={"phone": "call me"},
                         headers={**bearer(tokens["yuzhong"]), "Accept-Language": "zh-CN"})
    assert chinese.get_json()["errors"][0] == {"where": "联系电话", "message": "“call me”不是电话号码",
                                               "hint": "只能填数字、空格和 + - ( )，例如 023-63891234"}
    retired = anon.delete(f"/api/stations/{OWN_RETIRED}?lang=zh", headers=bearer(tokens["yuzhong"]))
    assert retired.status_code == 400 and retired.get_json()["errors"][0]["message"] == "该站点已经是“已撤销”状态"
    denied = anon.delete("/api/stations/500105-OS-0001?lang=zh", headers=bearer(tokens["yuzhong"]))
    assert denied.status_code == 403 and "不能修改 500105 区县的站点" in denied.get_json()["errors"][0]["message"]
    assert registry_state(registry_path) == before


def test_read_api_errors_follow_the_same_language_rule_as_the_write_api(anon):
    """One selector: ``?lang=``, else Accept-Language, else English, for every API error."""
    response = anon.get("/api/nearest?lon=abc&lat=29.5", headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 400 and "Accept-Language" in response.headers.get("Vary", "")
    assert response.get_json()["errors"][0]["message"] == "lon 必须是数字，而不是 'abc'"
    english = anon.get("/api/nearest?lon=abc&lat=29.5")
    assert not re.search(r"[\u4e00-\u9fff]", english.get_json()["errors"][0]["message"])
    asked = anon.get("/api/nearest?lon=abc&lat=29.5&lang=zh", headers={"Accept-Language": "en"})
    assert re.search(r"[\u4e00-\u9fff]", asked.get_json()["errors"][0]["message"])


def test_openapi_documents_the_lang_parameter(anon):
    doc = anon.get("/api/openapi.json").get_json()
    patch = doc["paths"]["/api/stations/{station_id}"]["patch"]
    assert any(p["name"] == "lang" and p["schema"]["enum"] == ["zh", "en"] for p in patch["parameters"])
    assert "Accept-Language" in doc["paths"]["/api/uploads"]["post"]["description"]
