"""The district portal and the write API: who may do what (the access-control matrix), hostile inputs,
the upload → report → fix → commit flow, edits, retire/restore, the audit log and its exports, and XSS.

Every denied or rejected request must leave the registry file and its audit log byte-identical.
"""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from tests.portal_helpers import (
    CSV_HEADER,
    JIANGBEI_ROW,
    YUZHONG_ROW,
    YUZHONG_ROW_FIXED,
    YUZHONG_ROW_NEAR,
    YUZHONG_ROW_SWAPPED,
    bearer,
    csrf_token,
    csv_bytes,
    registry_state,
)

# The fixtures accounts, tokens, portal_app, anon and signed_in.
pytest_plugins = ("tests.portal_fixtures",)

OWN = "500103-OS-0002"  # an active station of 渝中区 (yuzhong's district)
OWN_RETIRED = "500103-OS-0004"  # a retired station of 渝中区
XSS = "<img src=x onerror=alert(1)>"


def audit_lines(registry_path) -> list[dict]:
    path = registry_path.with_name(registry_path.stem + ".audit.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def station(registry_path, station_id) -> dict:
    data = json.loads(registry_path.read_bytes())
    return next(f for f in data["features"] if f["properties"]["id"] == station_id)


# -- the access-control matrix ---------------------------------------------------------------------

# Who is asking: anonymous, an account by token, a revoked token, a disabled account's token.
CALLERS = ("anonymous", "yuzhong", "jiangbei", "planner", "admin", "disabled", "revoked")


def _headers(tokens, caller) -> dict:
    if caller == "anonymous":
        return {}
    if caller == "revoked":
        return bearer(tokens.revoked)
    if caller == "disabled":
        return bearer(tokens["shapingba"])
    return bearer(tokens[caller])


def _upload(client, headers, rows, dry_run):
    data = {"file": (io.BytesIO(csv_bytes(*rows)), "stations.csv"), "crs": "wgs84", "dry_run": "1" if dry_run else "0"}
    return client.post("/api/uploads", data=data, headers=headers, content_type="multipart/form-data")


# action -> callable(client, headers) returning a response. "own" is 渝中区's data throughout:
# for yuzhong it is its own district, for jiangbei another district's.
API_ACTIONS = {
    "upload_dry_run": lambda c, h: _upload(c, h, [YUZHONG_ROW], dry_run=True),
    "upload_commit": lambda c, h: _upload(c, h, [YUZHONG_ROW], dry_run=False),
    "patch": lambda c, h: c.patch(f"/api/stations/{OWN}", json={"name": "新名字驿站"}, headers=h),
    "retire": lambda c, h: c.delete(f"/api/stations/{OWN}", headers=h),
    "restore": lambda c, h: c.post(f"/api/stations/{OWN_RETIRED}/restore", headers=h),
    "audit_json": lambda c, h: c.get("/api/audit", headers=h),
    "audit_csv": lambda c, h: c.get("/api/audit?format=csv", headers=h),
}

# (caller, action) -> expected status. jiangbei uploading 渝中区's station gets a report saying so
# (dry run: 200 with valid=false) and a 400 on commit.
EXPECTED = {
    "anonymous": dict.fromkeys(API_ACTIONS, 401),
    "revoked": dict.fromkeys(API_ACTIONS, 401),
    "disabled": dict.fromkeys(API_ACTIONS, 401),
    "planner": dict.fromkeys(API_ACTIONS, 403),
    "yuzhong": {"upload_dry_run": 200, "upload_commit": 201, "patch": 200, "retire": 200, "restore": 403,
                "audit_json": 403, "audit_csv": 403},
    "jiangbei": {"upload_dry_run": 200, "upload_commit": 400, "patch": 403, "retire": 403, "restore": 403,
                 "audit_json": 403, "audit_csv": 403},
    "admin": {"upload_dry_run": 200, "upload_commit": 201, "patch": 200, "retire": 200, "restore": 200,
              "audit_json": 200, "audit_csv": 200},
}
WRITES = {"upload_commit", "patch", "retire", "restore"}


@pytest.mark.parametrize("action", list(API_ACTIONS))
@pytest.mark.parametrize("caller", CALLERS)
def test_api_access_matrix(anon, tokens, registry_path, caller, action):
    before = registry_state(registry_path)
    response = API_ACTIONS[action](anon, _headers(tokens, caller))
    expected = EXPECTED[caller][action]
    assert response.status_code == expected, response.get_data(as_text=True)[:800]
    if expected >= 400 or action not in WRITES:
        assert registry_state(registry_path) == before  # nothing written, nothing audited
    else:
        after_registry, after_audit = registry_state(registry_path)
        assert after_registry != before[0]
        assert len(after_audit.splitlines()) == len(before[1].splitlines()) + 1
        assert audit_lines(registry_path)[-1]["actor"] == caller
    if expected >= 400:
        body = response.get_json()
        assert body["ok"] is False and body["status"] == expected and body["errors"][0]["message"]
    if caller == "jiangbei" and action == "upload_dry_run":
        assert response.get_json()["valid"] is False
        assert "out_of_district" in {p["code"] for p in response.get_json()["report"]["problems"]}


def test_district_cannot_upload_into_another_district_even_when_the_row_says_so(anon, tokens, registry_path):
    before = registry_state(registry_path)
    response = _upload(anon, bearer(tokens["yuzhong"]), [YUZHONG_ROW, JIANGBEI_ROW], dry_run=False)
    assert response.status_code == 400
    assert any("outside your district" in e["message"] or "your account" in e["message"]
               for e in response.get_json()["errors"])
    assert registry_state(registry_path) == before  # all or nothing: the good row is not added either


def test_honours_in_an_upload_are_for_admins_to_record(anon, tokens, registry_path):
    csv_text = CSV_HEADER.rstrip("\n") + ",荣誉\n" + YUZHONG_ROW + ",全国最美工会户外劳动者服务站\n"

    def data():
        return {"file": (io.BytesIO(csv_text.encode()), "stations.csv"), "crs": "wgs84", "dry_run": "0"}

    before = registry_state(registry_path)
    refused = anon.post("/api/uploads?lang=zh", data=data(), headers=bearer(tokens["yuzhong"]),
                        content_type="multipart/form-data")
    assert refused.status_code == 400 and registry_state(registry_path) == before
    issues = [i for row in refused.get_json()["report"]["rows"] for i in row["problems"]]
    assert [i["code"] for i in issues] == ["honours"] and "市总工会管理员" in issues[0]["message"]
    accepted = anon.post("/api/uploads", data=data(), headers=bearer(tokens["admin"]), content_type="multipart/form-data")
    assert accepted.status_code == 201, accepted.get_json()
    new_id, = accepted.get_json()["ids"]
    stored = json.loads(registry_path.read_text(encoding="utf-8"))["features"]
    assert next(f for f in stored if f["properties"]["id"] == new_id)["properties"]["honours"] == ["national_most_beautiful"]


# Portal forms, by session: (method, path, form data builder) per action.
def _portal_actions(stash_token=""):
    return {
        "edit": ("post", f"/portal/stations/{OWN}/edit", {"name": "改名驿站"}),
        "retire": ("post", f"/portal/stations/{OWN}/retire", {"reason": "场地拆迁"}),
        "restore": ("post", f"/portal/stations/{OWN_RETIRED}/restore", {}),
        "upload_dry_run": ("post", "/upload", None),
        "upload_commit": ("post", "/upload/commit", {"token": stash_token or "x" * 32}),
        "audit_page": ("get", "/portal/audit", None),
        "audit_export": ("get", "/portal/audit/export?format=csv", None),
    }


PORTAL_EXPECTED = {
    # Clerks read their own district's audit log (issue 13); planners none of it.
    "yuzhong": {"edit": 302, "retire": 302, "restore": 403, "upload_dry_run": 200, "upload_commit": 410,
                "audit_page": 200, "audit_export": 200},
    "jiangbei": {"edit": 403, "retire": 403, "restore": 403, "upload_dry_run": 200, "upload_commit": 410,
                 "audit_page": 200, "audit_export": 200},
    "planner": {"edit": 403, "retire": 403, "restore": 403, "upload_dry_run": 403, "upload_commit": 403,
                "audit_page": 403, "audit_export": 403},
    "admin": {"edit": 302, "retire": 302, "restore": 302, "upload_dry_run": 200, "upload_commit": 410,
              "audit_page": 200, "audit_export": 200},
}
PORTAL_WRITES = {"edit", "retire", "restore"}


def _portal_request(client, action, token):
    method, path, data = _portal_actions()[action]
    if method == "get":
        return client.get(path)
    if action == "upload_dry_run":
        data = {"file": (io.BytesIO(csv_bytes(YUZHONG_ROW)), "s.csv"), "crs": "wgs84"}
    elif action == "edit":
        page_data = station_form_defaults(client, OWN)
        data = {**page_data, **data} if page_data else dict(data)
    return client.post(path, data={**data, "csrf_token": token}, content_type="multipart/form-data")


def station_form_defaults(client, station_id):
    """The edit form's current values, as the browser would send them back (None if the page is refused)."""
    page = client.get(f"/portal/stations/{station_id}/edit")
    if page.status_code != 200:
        return None
    html = page.get_data(as_text=True)
    values = dict(re.findall(r'<input id="(\w+)" name="\w+" value="([^"]*)"', html))
    values["updated_at"] = re.search(r'name="updated_at" value="([^"]+)"', html).group(1)
    values["crs"] = "wgs84"
    values["amenities"] = re.findall(r'name="amenities" value="(\w+)" checked', html)
    import html as html_lib

    return {k: html_lib.unescape(v) if isinstance(v, str) else v for k, v in values.items()}


@pytest.mark.parametrize("action", list(_portal_actions()))
@pytest.mark.parametrize("caller", list(PORTAL_EXPECTED))
def test_portal_access_matrix(signed_in, registry_path, caller, action):
    client = signed_in(caller)
    token = csrf_token(client, "/portal/stations")
    before = registry_state(registry_path)
    response = _portal_request(client, action, token)
    expected = PORTAL_EXPECTED[caller][action]
    assert response.status_code == expected, response.get_data(as_text=True)[:800]
    if expected >= 400 or action not in PORTAL_WRITES:
        assert registry_state(registry_path) == before
    else:
        assert registry_state(registry_path) != before
        assert audit_lines(registry_path)[-1]["actor"] == caller


@pytest.mark.parametrize("action", list(_portal_actions()))
def test_portal_anonymous_is_sent_to_login_and_nothing_changes(anon, registry_path, action):
    token = csrf_token(anon, "/login")
    before = registry_state(registry_path)
    response = _portal_request(anon, action, token)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert registry_state(registry_path) == before


@pytest.mark.parametrize("action", ["edit", "retire", "restore", "upload_dry_run", "upload_commit"])
def test_portal_forms_without_csrf_token_are_refused(signed_in, registry_path, action):
    client = signed_in("admin")
    before = registry_state(registry_path)
    response = _portal_request(client, action, token="")
    assert response.status_code == 400
    assert "页面已过期" in response.get_data(as_text=True)
    assert registry_state(registry_path) == before


def test_disabled_account_session_can_no_longer_write(signed_in, accounts, registry_path):
    client = signed_in("yuzhong")
    token = csrf_token(client, "/portal/stations")
    accounts.disable("yuzhong")
    before = registry_state(registry_path)
    response = client.post(f"/portal/stations/{OWN}/retire", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    response = client.delete(f"/api/stations/{OWN}", headers={"X-CSRFToken": token})
    assert response.status_code == 401
    assert registry_state(registry_path) == before


def test_planner_sees_read_only_pages(signed_in):
    client = signed_in("planner")
    page = client.get("/portal/stations")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "规划人员账号只能查看" in html
    assert "/edit" not in html and "/retire" not in html
    assert "500105-OS-0001" in html  # planners see every district
    upload = client.get("/upload").get_data(as_text=True)
    assert 'id="upload-form"' not in upload


def test_district_list_shows_only_its_own_stations(signed_in):
    html = signed_in("yuzhong").get("/portal/stations?district=500105").get_data(as_text=True)
    assert "500103-OS-0001" in html
    assert "500105-OS-0001" not in html


def test_unknown_station_is_404(signed_in, anon, tokens):
    assert anon.patch("/api/stations/500103-OS-9999", json={"name": "x"}, headers=bearer(tokens["admin"])).status_code == 404
    assert anon.delete("/api/stations/nonsense", headers=bearer(tokens["admin"])).status_code == 404
    assert signed_in("admin").get("/portal/stations/500103-OS-9999/edit").status_code == 404


def test_restore_is_admin_only_and_works(anon, tokens, registry_path):
    assert anon.post(f"/api/stations/{OWN_RETIRED}/restore", headers=bearer(tokens["yuzhong"])).status_code == 403
    response = anon.post(f"/api/stations/{OWN_RETIRED}/restore", headers=bearer(tokens["admin"]))
    assert response.status_code == 200
    assert station(registry_path, OWN_RETIRED)["properties"]["status"] == "active"
    again = anon.post(f"/api/stations/{OWN_RETIRED}/restore", headers=bearer(tokens["admin"]))
    assert again.status_code == 400 and "already active" in again.get_json()["errors"][0]["message"]


# -- hostile inputs to the write API --------------------------------------------------------------

PATCH_CASES = [
    # (id, raw body, content type, expected status, text expected in an error message)
    ("malformed", b'{"name": ', "application/json", 400, "not valid JSON"),
    ("nan", b'{"lon": NaN, "lat": 29.56}', "application/json", 400, "NaN is not allowed"),
    ("infinity", b'{"lon": Infinity, "lat": 29.56}', "application/json", 400, "Infinity is not allowed"),
    ("minus-infinity", b'{"lon": -Infinity, "lat": 29.56}', "application/json", 400, "Infinity is not allowed"),
    ("1e400", b'{"lon": 1e400, "lat": 29.56}', "application/json", 400, "is too large a number"),
    ("duplicate-keys", b'{"name": "a", "name": "b"}', "application/json", 400, "duplicate key"),
    ("deep-nesting", b"[" * 200_000 + b"]" * 200_000, "application/json", 400, "nested too deeply"),
    ("deep-objects", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "application/json", 400, "nested too deeply"),
    ("lone-surrogate", b'{"name": "\\ud800"}', "application/json", 400, "lone surrogate"),
    ("lone-surrogate-in-list", b'{"amenities": ["rest", "\\udfff"]}', "application/json", 400, "lone surrogate"),
    ("empty", b"", "application/json", 400, "empty"),
    ("whitespace", b"   \n", "application/json", 400, "empty"),
    ("empty-object", b"{}", "application/json", 400, "nothing to change"),
    ("array-body", b'[{"name": "x"}]', "application/json", 400, "must be a JSON object"),
    ("string-body", b'"name"', "application/json", 400, "must be a JSON object"),
    ("null-body", b"null", "application/json", 400, "must be a JSON object"),
    ("binary-junk", b"\xff\xfe\x00\x01\x02garbage\x80", "application/json", 400, "not UTF-8"),
    ("wrong-content-type", b'{"name": "x"}', "text/plain", 415, "Content-Type: application/json"),
    ("form-encoded", b"name=x", "application/x-www-form-urlencoded", 415, "Content-Type"),
    ("geometry-member", b'{"geometry": {"type": "LineString", "coordinates": [[106.5, 29.5], [106.6, 29.6]]}}',
     "application/json", 400, "unknown property"),
    ("nested-collection", b'{"name": {"type": "FeatureCollection", "features": []}}', "application/json", 400, "must be text"),
    ("feature-collection-body", b'{"type": "FeatureCollection", "features": []}', "application/json", 400, "unknown property"),
    ("lon-as-string", b'{"lon": "106.57", "lat": 29.56}', "application/json", 400, "must be a number"),
    ("lon-as-bool", b'{"lon": true, "lat": 29.56}', "application/json", 400, "must be a number"),
    ("lon-as-list", b'{"lon": [106.57], "lat": 29.56}', "application/json", 400, "must be a number"),
    ("lon-without-lat", b'{"lon": 106.57}', "application/json", 400, "lat"),
    ("crs-alone", b'{"crs": "gcj02"}', "application/json", 400, "without lon and lat"),
    ("unknown-crs", b'{"lon": 106.57, "lat": 29.56, "crs": "epsg:3857"}', "application/json", 400, "unknown coordinate system"),
    ("out-of-range", b'{"lon": 999, "lat": 999}', "application/json", 400, "out of range"),
    ("swapped", b'{"lon": 29.56, "lat": 106.57}', "application/json", 400, "out of range"),
    ("other-district", b'{"lon": 106.5330, "lat": 29.5750}', "application/json", 400, "not in"),
    ("outside-chongqing", b'{"lon": 116.39, "lat": 39.91}', "application/json", 400, "outside Chongqing"),
    ("unknown-field", b'{"nmae": "x"}', "application/json", 400, "did you mean 'name'"),
    ("id", b'{"id": "500103-OS-0099"}', "application/json", 400, "cannot be changed"),
    ("status", b'{"status": "retired"}', "application/json", 400, "cannot be changed"),
    ("district", b'{"district_adcode": "500105"}', "application/json", 400, "cannot move to another district"),
    ("kind", b'{"kind": "bookshelf"}', "application/json", 400, "kind is part of the id"),
    ("null-name", b'{"name": null}', "application/json", 400, "cannot be null"),
    ("empty-name", b'{"name": ""}', "application/json", 400, "is empty"),
    ("long-name", json.dumps({"name": "站" * 101}).encode(), "application/json", 400, "at most 100"),
    ("control-chars", b'{"name": "a\\u0000b"}', "application/json", 400, "control characters"),
    ("bad-hours", b'{"opening_hours": "whenever"}', "application/json", 400, "opening_hours"),
    ("bad-amenity", b'{"amenities": ["rest", "sauna"]}', "application/json", 400, "unknown amenity"),
    ("amenities-as-text", b'{"amenities": "rest"}', "application/json", 400, "must be a list"),
    ("number-name", b'{"name": 12}', "application/json", 400, "must be text"),
    ("oversize", b'{"name": "' + b"a" * (1024 * 1024 + 10) + b'"}', "application/json", 413, "at most"),
]


@pytest.mark.parametrize("raw, content_type, status, message", [c[1:] for c in PATCH_CASES],
                         ids=[c[0] for c in PATCH_CASES])
def test_hostile_patch_bodies(anon, tokens, registry_path, raw, content_type, status, message):
    before = registry_state(registry_path)
    response = anon.patch(f"/api/stations/{OWN}", data=raw, content_type=content_type, headers=bearer(tokens["yuzhong"]))
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    body = response.get_json()
    assert body["ok"] is False and body["status"] == status
    assert any(message in (e.get("message", "") + " " + e.get("hint", "") + " " + e.get("where", ""))
               for e in body["errors"]), body
    assert registry_state(registry_path) == before


def test_district_may_not_award_honours(anon, tokens, registry_path):
    before = registry_state(registry_path)
    response = anon.patch(f"/api/stations/{OWN}", json={"honours": ["national_most_beautiful"]}, headers=bearer(tokens["yuzhong"]))
    assert response.status_code == 403
    assert registry_state(registry_path) == before
    ok = anon.patch(f"/api/stations/{OWN}", json={"honours": ["municipal_model"]}, headers=bearer(tokens["admin"]))
    assert ok.status_code == 200


def _geojson_upload(features) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


_GOOD_PROPS = {"name": "新驿站", "kind": "outdoor_station", "address": "重庆市渝中区新路1号", "operator": "渝中区总工会",
               "opening_hours": "24/7", "amenities": ["rest"]}

UPLOAD_CASES = [
    # (id, filename, raw bytes, form overrides, expected status, text in an error)
    ("empty-file", "s.csv", b"", {}, 400, "empty"),
    ("binary-junk", "s.csv", bytes(range(256)) * 20, {}, 400, ""),
    ("xls", "s.xls", b"\xd0\xcf\x11\xe0" + b"\x00" * 100, {}, 400, ".xls"),
    ("fake-xlsx", "s.xlsx", b"name,lon\n", {}, 400, "xlsx"),
    ("exe", "s.exe", b"MZ\x90\x00", {}, 400, "unsupported file type"),
    ("no-file", None, b"", {}, 400, "no file uploaded"),
    ("no-crs", "s.csv", csv_bytes(YUZHONG_ROW), {"crs": ""}, 400, "coordinate system"),
    ("bad-crs", "s.csv", csv_bytes(YUZHONG_ROW), {"crs": "epsg:3857"}, 400, "unknown coordinate system"),
    ("bad-dry-run", "s.csv", csv_bytes(YUZHONG_ROW), {"dry_run": "maybe"}, 400, "not 1 or 0"),
    ("bad-confirm", "s.csv", csv_bytes(YUZHONG_ROW), {"confirm_duplicates": "two"}, 400, "not a row number"),
    ("swapped-row", "s.csv", csv_bytes(YUZHONG_ROW, YUZHONG_ROW_SWAPPED), {}, 400, "look swapped"),
    ("geojson-nan", "s.geojson", b'{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": '
     b'{"type": "Point", "coordinates": [NaN, 29.5]}, "properties": {}}]}', {}, 400, "NaN"),
    ("geojson-duplicate-keys", "s.geojson", b'{"type": "FeatureCollection", "type": "x", "features": []}', {}, 400, "duplicate key"),
    ("geojson-deep", "s.geojson", b"[" * 200_000 + b"]" * 200_000, {}, 400, "nested too deeply"),
    ("geojson-line", "s.geojson", _geojson_upload([{"type": "Feature", "properties": _GOOD_PROPS, "geometry": {
        "type": "LineString", "coordinates": [[106.58, 29.56], [106.59, 29.57]]}}]), {}, 400, "Point"),
    ("geojson-nested-collection", "s.geojson", _geojson_upload([{"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": _GOOD_PROPS, "geometry": {"type": "Point", "coordinates": [106.585, 29.564]}}]}]),
     {}, 400, "Feature"),
    ("geojson-legacy-crs", "s.geojson", json.dumps({"type": "FeatureCollection", "crs": {"type": "name", "properties": {
        "name": "EPSG:3857"}}, "features": []}).encode(), {}, 400, ""),
    ("oversize", "s.csv", b"a" * (10 * 1024 * 1024 + 1), {}, 413, "10 MB"),
]


@pytest.mark.parametrize("filename, raw, overrides, status, message", [c[1:] for c in UPLOAD_CASES],
                         ids=[c[0] for c in UPLOAD_CASES])
def test_hostile_uploads(anon, tokens, registry_path, filename, raw, overrides, status, message):
    before = registry_state(registry_path)
    data = {"crs": "wgs84", "dry_run": "0", **overrides}
    if filename is not None:
        data["file"] = (io.BytesIO(raw), filename)
    response = anon.post("/api/uploads", data=data, headers=bearer(tokens["yuzhong"]), content_type="multipart/form-data")
    assert response.status_code == status, response.get_data(as_text=True)[:800]
    body = response.get_json()
    assert body["ok"] is False and body["errors"]
    text = " ".join(e.get("message", "") + " " + e.get("hint", "") for e in body["errors"])
    assert message in text, text
    assert registry_state(registry_path) == before


def test_oversize_upload_page_says_so(signed_in, registry_path):
    client = signed_in("yuzhong")
    token = csrf_token(client, "/upload")
    before = registry_state(registry_path)
    response = client.post("/upload", data={"csrf_token": token, "crs": "wgs84",
                                            "file": (io.BytesIO(b"a" * (10 * 1024 * 1024 + 1)), "big.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 413
    assert "10 MB" in response.get_data(as_text=True)
    assert registry_state(registry_path) == before


# -- upload flow -----------------------------------------------------------------------------------


def _dry_run(client, rows, crs="wgs84"):
    token = csrf_token(client, "/upload")
    return client.post("/upload", data={"csrf_token": token, "crs": crs, "file": (io.BytesIO(csv_bytes(*rows)), "台账.csv")},
                       content_type="multipart/form-data")


def _commit_token(html: str) -> str | None:
    match = re.search(r'name="token" value="([^"]+)"', html)
    return match.group(1) if match else None


def test_upload_report_fix_commit(signed_in, registry_path, portal_app):
    client = signed_in("yuzhong")
    before = registry_state(registry_path)
    report = _dry_run(client, [YUZHONG_ROW, YUZHONG_ROW_SWAPPED])
    html = report.get_data(as_text=True)
    assert report.status_code == 200
    assert 'id="report-problems"' in html and "第 3 行" in html and "经纬度似乎填反了" in html  # the page's language
    assert _commit_token(html) is None  # nothing to commit while a problem remains
    assert registry_state(registry_path) == before

    fixed = _dry_run(client, [YUZHONG_ROW, YUZHONG_ROW_FIXED])
    html = fixed.get_data(as_text=True)
    assert 'id="report-ok"' in html and "sm-upload-preview" in html
    token = _commit_token(html)
    assert token
    assert registry_state(registry_path) == before  # a dry run writes nothing

    done = client.post("/upload/commit", data={"csrf_token": csrf_token(client, "/upload"), "token": token})
    assert done.status_code == 302
    listing = client.get(done.headers["Location"]).get_data(as_text=True)
    new_ids = re.findall(r'<tr data-id="(500103-OS-\d+)" class="new-row', listing)
    assert len(new_ids) == 2
    assert "已入库 2 个站点" in listing
    # Every map and API answer shows them at once.
    api = portal_app.test_client().get(f"/api/stations/{new_ids[0]}")
    assert api.status_code == 200
    listed = portal_app.test_client().get("/api/stations?district=500103").get_json()
    assert set(new_ids) <= {f["properties"]["id"] for f in listed["features"]}
    page = portal_app.test_client().get(f"/stations/{new_ids[1]}")
    assert page.status_code == 200 and "较场口驿站" in page.get_data(as_text=True)
    entry = audit_lines(registry_path)[-1]
    assert entry["actor"] == "yuzhong" and entry["actions"] == ["add"] and sorted(entry["ids"]) == sorted(new_ids)

    # The token is single-use: a double click cannot add the stations twice.
    again = client.post("/upload/commit", data={"csrf_token": csrf_token(client, "/upload"), "token": token})
    assert again.status_code == 410


def test_commit_token_of_another_account_is_useless(signed_in, registry_path):
    yuzhong, admin = signed_in("yuzhong"), signed_in("admin")
    token = _commit_token(_dry_run(yuzhong, [YUZHONG_ROW]).get_data(as_text=True))
    before = registry_state(registry_path)
    response = admin.post("/upload/commit", data={"csrf_token": csrf_token(admin, "/upload"), "token": token})
    assert response.status_code == 410
    assert registry_state(registry_path) == before
    # ... and it still works for its owner.
    assert yuzhong.post("/upload/commit", data={"csrf_token": csrf_token(yuzhong, "/upload"), "token": token}).status_code == 302


def test_commit_rechecks_against_the_current_registry(signed_in, anon, tokens, registry_path):
    client = signed_in("yuzhong")
    token = _commit_token(_dry_run(client, [YUZHONG_ROW]).get_data(as_text=True))
    # Meanwhile the admin adds a station a few metres away.
    near = "管理员驿站,驿站,重庆市渝中区朝天门1号,渝中区总工会,,24/7,休息,106.58505,29.56402"
    assert _upload(anon, bearer(tokens["admin"]), [near], dry_run=False).status_code == 201
    before = registry_state(registry_path)
    response = client.post("/upload/commit", data={"csrf_token": csrf_token(client, "/upload"), "token": token})
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "数据在检查之后有变化" in html and 'id="report-warnings"' in html
    assert registry_state(registry_path) == before
    # The re-shown report carries a fresh token; confirming the new warning commits.
    fresh = _commit_token(html)
    row = re.search(r'name="choice-(\d+)"', html).group(1)
    done = client.post("/upload/commit", data={"csrf_token": csrf_token(client, "/upload"), "token": fresh, f"choice-{row}": "keep"})
    assert done.status_code == 302


def test_warned_rows_must_be_kept_or_dropped(signed_in, registry_path):
    client = signed_in("yuzhong")
    html = _dry_run(client, [YUZHONG_ROW, YUZHONG_ROW_NEAR]).get_data(as_text=True)
    assert 'id="report-warnings"' in html and "500103-OS-0001" in html
    token = _commit_token(html)
    before = registry_state(registry_path)
    unanswered = client.post("/upload/commit", data={"csrf_token": csrf_token(client, "/upload"), "token": token})
    assert unanswered.status_code == 400
    assert "还有提醒没有选择" in unanswered.get_data(as_text=True)
    assert registry_state(registry_path) == before
    token = _commit_token(unanswered.get_data(as_text=True))
    dropped = client.post("/upload/commit", data={"csrf_token": csrf_token(client, "/upload"), "token": token, "choice-3": "drop"})
    assert dropped.status_code == 302
    assert audit_lines(registry_path)[-1]["ids"] and len(audit_lines(registry_path)[-1]["ids"]) == 1


def test_api_upload_dry_run_then_commit_with_confirmation(anon, tokens, registry_path):
    headers = bearer(tokens["yuzhong"])
    dry = _upload(anon, headers, [YUZHONG_ROW, YUZHONG_ROW_NEAR], dry_run=True)
    body = dry.get_json()
    assert dry.status_code == 200 and body["valid"] is True and body["report"]["needs_confirmation"] == [3]
    before = registry_state(registry_path)
    unconfirmed = _upload(anon, headers, [YUZHONG_ROW, YUZHONG_ROW_NEAR], dry_run=False)
    assert unconfirmed.status_code == 409 and unconfirmed.get_json()["needs_confirmation"] == [3]
    assert registry_state(registry_path) == before
    data = {"file": (io.BytesIO(csv_bytes(YUZHONG_ROW, YUZHONG_ROW_NEAR)), "s.csv"), "crs": "wgs84", "dry_run": "0",
            "confirm_duplicates": "3"}
    done = anon.post("/api/uploads", data=data, headers=headers, content_type="multipart/form-data")
    assert done.status_code == 201 and len(done.get_json()["ids"]) == 2


def test_upload_in_gcj02_is_stored_in_wgs84(anon, tokens, registry_path):
    from geo.coords import wgs84_to_gcj02

    lon, lat = wgs84_to_gcj02(106.5850, 29.5640)
    row = f"朝天门驿站,驿站,重庆市渝中区朝天门1号,渝中区总工会,,24/7,休息,{lon:.7f},{lat:.7f}"
    data = {"file": (io.BytesIO(csv_bytes(row)), "s.csv"), "crs": "gcj02", "dry_run": "0"}
    done = anon.post("/api/uploads", data=data, headers=bearer(tokens["yuzhong"]), content_type="multipart/form-data")
    assert done.status_code == 201, done.get_json()
    stored = station(registry_path, done.get_json()["ids"][0])["geometry"]["coordinates"]
    assert stored == pytest.approx([106.5850, 29.5640], abs=1e-6)


# -- edits ----------------------------------------------------------------------------------------


def test_patch_moves_a_station_given_in_gcj02(anon, tokens, registry_path):
    from geo.coords import wgs84_to_gcj02

    lon, lat = wgs84_to_gcj02(106.5705, 29.5565)
    response = anon.patch(f"/api/stations/{OWN}", json={"lon": lon, "lat": lat, "crs": "gcj02", "phone": "023-12345678"},
                          headers=bearer(tokens["yuzhong"]))
    assert response.status_code == 200, response.get_json()
    stored = station(registry_path, OWN)
    assert stored["geometry"]["coordinates"] == pytest.approx([106.5705, 29.5565], abs=1e-6)
    assert stored["properties"]["phone"] == "023-12345678"
    entry = audit_lines(registry_path)[-1]
    assert entry["actions"] == ["update"] and entry["ids"] == [OWN]


def test_patch_with_the_same_values_writes_nothing(anon, tokens, registry_path):
    current = station(registry_path, OWN)["properties"]
    before = registry_state(registry_path)
    response = anon.patch(f"/api/stations/{OWN}", json={"name": current["name"]}, headers=bearer(tokens["yuzhong"]))
    assert response.status_code == 200
    assert registry_state(registry_path) == before


def test_edit_form_round_trip_and_validation(signed_in, registry_path):
    client = signed_in("yuzhong")
    form = station_form_defaults(client, OWN)
    token = csrf_token(client, "/portal/stations")
    before = registry_state(registry_path)
    # Sending the form back unchanged writes nothing (no float drift in the coordinates).
    unchanged = client.post(f"/portal/stations/{OWN}/edit", data={**form, "csrf_token": token})
    assert unchanged.status_code == 302
    assert registry_state(registry_path) == before
    bad = client.post(f"/portal/stations/{OWN}/edit", data={**form, "csrf_token": token, "lon": "nan", "opening_hours": "sometimes"})
    assert bad.status_code == 400
    html = bad.get_data(as_text=True)
    assert "“nan”不是有效的度数" in html  # in the page's language
    assert "sometimes" in html  # the user's input is kept
    assert registry_state(registry_path) == before
    good = client.post(f"/portal/stations/{OWN}/edit", data={**form, "csrf_token": token, "name": "渝中区新名字驿站"})
    assert good.status_code == 302
    assert station(registry_path, OWN)["properties"]["name"] == "渝中区新名字驿站"
    # A form opened before that change is stale now.
    stale = client.post(f"/portal/stations/{OWN}/edit", data={**form, "csrf_token": token, "name": "又一个名字"})
    assert stale.status_code == 409
    assert station(registry_path, OWN)["properties"]["name"] == "渝中区新名字驿站"


def test_retire_needs_confirmation_page_then_post(signed_in, registry_path):
    client = signed_in("yuzhong")
    page = client.get(f"/portal/stations/{OWN}/retire")
    assert page.status_code == 200 and "只有管理员可以恢复" in page.get_data(as_text=True)
    assert station(registry_path, OWN)["properties"]["status"] == "active"
    token = csrf_token(client, "/portal/stations")
    before = registry_state(registry_path)
    refused = client.post(f"/portal/stations/{OWN}/retire", data={"csrf_token": token, "reason": "  "})
    assert refused.status_code == 400 and "请填写撤销原因" in refused.get_data(as_text=True)
    assert registry_state(registry_path) == before
    client.post(f"/portal/stations/{OWN}/retire", data={"csrf_token": token, "reason": "场地拆迁，驿站关闭"})
    assert station(registry_path, OWN)["properties"]["status"] == "retired"
    assert audit_lines(registry_path)[-1]["reason"] == "场地拆迁，驿站关闭"
    history = client.get(f"/portal/stations/{OWN}/history").get_data(as_text=True)
    assert "场地拆迁，驿站关闭" in history and "撤销" in history


# -- audit ----------------------------------------------------------------------------------------


def test_audit_filters_and_exports(anon, tokens, signed_in, registry_path):
    # "=" is refused by every write (test_formula_rule); "@" and "+" are legal text that the export must still neutralise.
    anon.patch(f"/api/stations/{OWN}", json={"name": "@HYPERLINK(\"http://evil\",\"x\")"}, headers=bearer(tokens["yuzhong"]))
    anon.patch("/api/stations/500105-OS-0001", json={"phone": "-023-1234"}, headers=bearer(tokens["jiangbei"]))
    anon.delete("/api/stations/500105-OS-0001", headers=bearer(tokens["admin"]))
    api = anon.get("/api/audit?district=500105", headers=bearer(tokens["admin"])).get_json()
    assert api["total"] == 2 and [e["actions"] for e in api["entries"]] == [["retire"], ["update"]]  # newest first
    only_yuzhong = anon.get("/api/audit?actor=yuzhong&action=update", headers=bearer(tokens["admin"])).get_json()
    assert only_yuzhong["total"] == 1
    none = anon.get("/api/audit?until=2000-01-01", headers=bearer(tokens["admin"])).get_json()
    assert none["total"] == 0
    today = anon.get("/api/audit?since=2000-01-01&until=2999-12-31", headers=bearer(tokens["admin"])).get_json()
    assert today["total"] == 3
    bad = anon.get("/api/audit?action=drop&since=yesterday&limit=0", headers=bearer(tokens["admin"]))
    assert bad.status_code == 400 and {e["where"] for e in bad.get_json()["errors"]} >= {"action", "since"}

    client = signed_in("admin")
    page = client.get("/portal/audit?district=500105").get_data(as_text=True)
    assert "500105-OS-0001" in page and "500103-OS-0002" not in page
    exported = client.get("/portal/audit/export?format=csv")
    raw = exported.data
    assert exported.mimetype == "text/csv" and "attachment" in exported.headers["Content-Disposition"]
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    names = {r["station_id"]: r["station_name"] for r in rows}
    assert names[OWN].startswith("'@HYPERLINK")
    assert all(not r["changes"].startswith(("=", "+", "-", "@")) for r in rows)
    assert any("-023-1234" in r["changes"] for r in rows)
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r"))
    exported_json = client.get("/portal/audit/export?format=json&district=500103")
    assert exported_json.mimetype == "application/json"
    assert [e["ids"] for e in exported_json.get_json()["entries"]] == [[OWN]]
    api_csv = anon.get("/api/audit?format=csv", headers=bearer(tokens["admin"]))
    assert api_csv.data.startswith(b"\xef\xbb\xbf")


# -- XSS ------------------------------------------------------------------------------------------


def test_xss_name_is_stored_as_text_and_escaped_everywhere(anon, tokens, signed_in, registry_path):
    response = anon.patch(f"/api/stations/{OWN}", json={"name": XSS}, headers=bearer(tokens["yuzhong"]))
    assert response.status_code == 200
    assert station(registry_path, OWN)["properties"]["name"] == XSS  # stored verbatim, as text
    escaped = "&lt;img src=x onerror=alert(1)&gt;"
    yuzhong, admin = signed_in("yuzhong"), signed_in("admin")
    for client, path in [(yuzhong, "/portal/stations"), (yuzhong, f"/portal/stations/{OWN}/edit"),
                         (yuzhong, f"/portal/stations/{OWN}/retire"), (admin, "/portal/audit"),
                         (anon, f"/stations/{OWN}")]:
        html = client.get(path).get_data(as_text=True)
        assert "<img src=x" not in html, path
        assert escaped in html or "&lt;img src=x onerror=alert(1)&gt;" in html.replace("&#34;", '"'), path


def test_xss_in_an_upload_report_is_escaped(signed_in):
    client = signed_in("yuzhong")
    row = f"{XSS},驿站,重庆市渝中区朝天门1号,渝中区总工会,,24/7,休息,106.5850,29.5640"
    swapped = "<script>alert(2)</script>,驿站,重庆市渝中区2号,渝中区总工会,,24/7,休息,29.55,106.56"
    html = _dry_run(client, [row, swapped]).get_data(as_text=True)
    assert "<img src=x" not in html and "<script>alert(2)" not in html
    # In the preview data the name sits inside a JSON script block, with < escaped.
    preview = re.search(r'<script type="application/json" id="sm-upload-preview">(.*?)</script>', html, re.S).group(1)
    assert "\\u003cimg src=x onerror=alert(1)\\u003e" in preview


def test_openapi_documents_the_write_endpoints(anon):
    doc = anon.get("/api/openapi.json").get_json()
    assert "patch" in doc["paths"]["/api/stations/{station_id}"]
    assert "delete" in doc["paths"]["/api/stations/{station_id}"]
    assert "post" in doc["paths"]["/api/uploads"]
    assert "post" in doc["paths"]["/api/stations/{station_id}/restore"]
    assert "get" in doc["paths"]["/api/audit"]
    assert "StationPatch" in doc["components"]["schemas"]
