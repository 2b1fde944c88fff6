"""The district's report queue, decisions and verification in the portal, and the staff side of the reports API."""

from __future__ import annotations

import re

import pytest

from tests.portal_helpers import CSRF_INPUT, bearer, registry_state

pytest_plugins = ("tests.portal_fixtures",)


@pytest.fixture
def reported(anon):
    """A "closed" report (with markup in its note) and an "hours wrong" one about a 渝中 station."""
    closed = anon.post("/api/reports", json={"station_id": "500103-OS-0002", "category": "closed",
                                             "note": "<script>alert(1)</script>铁门锁着"}).get_json()["code"]
    hours = anon.post("/api/reports", json={"station_id": "500103-OS-0003", "category": "hours_wrong"}).get_json()["code"]
    return closed, hours


def token_of(client, path):
    return CSRF_INPUT.search(client.get(path).get_data(as_text=True)).group(1)


def test_queue_count_on_every_portal_page_and_per_district(signed_in, reported):
    yuzhong = signed_in("yuzhong")
    home = yuzhong.get("/portal", follow_redirects=True).get_data(as_text=True)
    assert 'id="report-count">2<' in home
    queue = yuzhong.get("/portal/reports").get_data(as_text=True)
    assert all(code in queue for code in reported)
    jiangbei = signed_in("jiangbei").get("/portal/reports").get_data(as_text=True)
    assert reported[0] not in jiangbei and 'id="report-count"' not in jiangbei
    assert signed_in("jiangbei").get(f"/portal/reports/{reported[0]}").status_code == 403


def test_notes_are_shown_as_inert_text(signed_in, reported):
    html = signed_in("yuzhong").get(f"/portal/reports/{reported[0]}").get_data(as_text=True)
    assert "<script>alert(1)" not in html and "&lt;script&gt;" not in html  # the markup was never kept
    assert "<li>alert(1) 铁门锁着</li>" in html  # what remains is text


def test_clerk_confirms_and_the_reporter_sees_the_outcome(signed_in, anon, reported, portal_app):
    yuzhong = signed_in("yuzhong")
    path = f"/portal/reports/{reported[1]}"
    sent = yuzhong.post(path, data={"csrf_token": token_of(yuzhong, path), "action": "confirm", "outcome": "hours_fixed",
                                    "opening_hours": "每天 7:00-22:00", "reason": "已更正"})
    assert sent.status_code == 302
    station = anon.get("/api/stations/500103-OS-0003").get_json()["properties"]
    assert station["opening_hours"] == "Mo-Su 07:00-22:00" and station["last_verified"] >= "2026"
    receipt = anon.get(f"/reports/{reported[1]}").get_data(as_text=True)
    assert "已确认并处理" in receipt and "开放时间已更正" in receipt and "已更正" in receipt


def test_dismiss_needs_a_reason(signed_in, anon, reported, registry_path):
    yuzhong = signed_in("yuzhong")
    path = f"/portal/reports/{reported[0]}"
    before = registry_state(registry_path)
    refused = yuzhong.post(path, data={"csrf_token": token_of(yuzhong, path), "action": "dismiss", "reason": ""})
    assert refused.status_code == 400 and "请写明不采纳的理由" in refused.get_data(as_text=True)
    ok = yuzhong.post(path, data={"csrf_token": token_of(yuzhong, path), "action": "dismiss", "reason": "电话核实正常开放"})
    assert ok.status_code == 302 and registry_state(registry_path) == before
    receipt = anon.get(f"/reports/{reported[0]}").get_data(as_text=True)
    assert "未采纳" in receipt and "电话核实正常开放" in receipt


def test_planner_reads_but_cannot_decide(signed_in, reported):
    planner = signed_in("planner")
    html = planner.get(f"/portal/reports/{reported[0]}").get_data(as_text=True)
    assert 'id="confirm-form"' not in html
    assert planner.get("/portal/reports?district=500103").status_code == 200


def test_verify_list_and_still_operating(signed_in, anon):
    yuzhong = signed_in("yuzhong")
    due = yuzhong.get("/portal/verify").get_data(as_text=True)
    assert 'data-id="500103-OS-0001"' in due and 'data-id="500105-OS-0001"' not in due
    stations = yuzhong.get("/portal/stations").get_data(as_text=True)
    assert "待核实（上次 2024-01-01）" in stations
    sent = yuzhong.post("/portal/stations/500103-OS-0001/verify",
                        data={"csrf_token": token_of(yuzhong, "/portal/verify"), "next": "/portal/verify"})
    assert sent.status_code == 302
    assert 'data-id="500103-OS-0001"' not in yuzhong.get("/portal/verify").get_data(as_text=True)
    assert anon.get("/api/stations/500103-OS-0001").get_json()["properties"]["stale"] is False
    assert "上次核实：20" in anon.get("/stations/500103-OS-0001").get_data(as_text=True)
    refused = yuzhong.post("/portal/stations/500105-OS-0001/verify", data={"csrf_token": token_of(yuzhong, "/portal/verify")})
    assert refused.status_code == 403


def test_staff_api(anon, tokens, reported):
    assert anon.get("/api/reports", headers=bearer(tokens["jiangbei"])).get_json()["count"] == 0
    listed = anon.get("/api/reports", headers=bearer(tokens["yuzhong"])).get_json()
    assert listed["count"] == 2 and any(r["notes"] == ["alert(1) 铁门锁着"] for r in listed["reports"])
    forbidden = anon.post(f"/api/reports/{reported[0]}/decision", json={"action": "confirm", "outcome": "fixed"},
                          headers=bearer(tokens["jiangbei"]))
    assert forbidden.status_code == 403
    done = anon.post(f"/api/reports/{reported[0]}/decision", json={"action": "confirm", "outcome": "retired"},
                     headers=bearer(tokens["yuzhong"]))
    assert done.status_code == 200 and done.get_json()["outcome"] == "retired"
    assert anon.get("/api/stations/500103-OS-0002").get_json()["properties"]["status"] == "retired"
    verified = anon.post("/api/stations/500103-OS-0003/verify", headers=bearer(tokens["yuzhong"]))
    assert verified.status_code == 200 and verified.get_json()["station"]["properties"]["verified_at"]
    assert anon.post("/api/stations/500103-OS-0003/verify").status_code == 401


def test_edit_form_and_api_accept_the_forms_the_upload_accepts(anon, tokens, signed_in, registry_path):
    patched = anon.patch("/api/stations/500103-OS-0001", json={"opening_hours": "周一至周五 8:00-18:00，周六、日 9:00-17:00"},
                         headers=bearer(tokens["yuzhong"]))
    assert patched.status_code == 200, patched.get_json()
    assert patched.get_json()["station"]["properties"]["opening_hours"] == "Mo-Fr 08:00-18:00; Sa,Su 09:00-17:00"
    client = signed_in("yuzhong")
    page = client.get("/portal/stations/500103-OS-0002/edit").get_data(as_text=True)
    assert "周一至周五 08:00–18:00" in page  # the current hours, for people
    form = {name: value for name, value in (
        ("name", "测试驿站0002"), ("address", "重庆市渝中区测试路02号"), ("operator", "重庆市渝中区总工会"),
        ("phone", "023-63000000"), ("opening_hours", "每天 7:00-22:00"))}
    updated_at = re.search(r'name="updated_at" value="([^"]+)"', page).group(1)
    sent = client.post("/portal/stations/500103-OS-0002/edit",
                       data={**form, "amenities": ["rest", "toilet", "drinking_water"], "updated_at": updated_at,
                             "csrf_token": CSRF_INPUT.search(page).group(1)})
    assert sent.status_code == 302, sent.get_data(as_text=True)[:2000]
    assert anon.get("/api/stations/500103-OS-0002").get_json()["properties"]["opening_hours"] == "Mo-Su 07:00-22:00"
