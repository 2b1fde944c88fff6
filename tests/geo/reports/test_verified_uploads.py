"""``verified_at`` arrives with an upload (and the upload reads hours with the one parser)."""

from __future__ import annotations

from geo.access.permissions import Actor
from geo.uploads.pipeline import commit_upload, review_upload

YUZHONG = Actor("yuzhong", "district", "500103")
HEADER = "名称,类型,地址,主办单位,开放时间,服务设施,经度,纬度,核实日期\n"


def test_an_upload_that_includes_verified_at_keeps_it(store, districts):
    raw = (HEADER + "朝天门新驿站,驿站,重庆市渝中区朝天门1号,渝中区总工会,每天 7:00-22:00,休息,106.5790,29.5600,2026-11-03\n"
           ).encode("utf-8")
    report = review_upload("stations.csv", raw, "wgs84", store.snapshot(), YUZHONG, districts)
    assert report.ok, [str(p) for p in report.problems]
    [new_id] = commit_upload(store, report, YUZHONG, confirm_duplicates=set(report.needs_confirmation))
    props = store.get(new_id)["properties"]
    assert props["verified_at"] == "2026-11-03" and props["opening_hours"] == "Mo-Su 07:00-22:00"


def test_a_bad_verified_at_is_a_problem_with_its_row(store, districts):
    raw = (HEADER + "朝天门新驿站,驿站,重庆市渝中区朝天门1号,渝中区总工会,24/7,休息,106.5790,29.5600,上周二\n").encode("utf-8")
    report = review_upload("stations.csv", raw, "wgs84", store.snapshot(), YUZHONG, districts)
    assert not report.ok and any(p.field == "verified_at" and p.row == 2 for p in report.problems)
