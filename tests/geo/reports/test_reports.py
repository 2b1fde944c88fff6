"""geo.reports: what riders may send, the SQLite store (merging duplicates), the abuse limits, the clerk's decisions, freshness."""

from __future__ import annotations

from datetime import datetime

import pytest

from geo.access.permissions import Actor
from geo.errors import NotFoundError, PermissionDeniedError, ValidationError
from geo.hours import CHONGQING_TZ
from geo.reports import SQLiteReportStore, check_submission
from geo.reports.freshness import freshness, is_stale, stale_ids
from geo.reports.limits import ReportLimits, ReportRefusedError
from geo.reports.model import MAX_NOTE_CHARS, clean_note, normal_code
from geo.reports.resolve import confirm, dismiss, verify

YUZHONG = Actor("yuzhong", "district", "500103")
JIANGBEI = Actor("jiangbei", "district", "500105")


@pytest.fixture
def reports(tmp_path):
    return SQLiteReportStore(tmp_path / "reports.sqlite")


def station(store, sid="500103-OS-0002"):
    return store.get(sid)


def test_html_in_a_note_is_kept_as_plain_text():
    assert clean_note('<img src=x onerror="alert(1)">门锁了<script>x</script>') == "门锁了 x"
    assert clean_note("a < b and c > d") == "a < b and c > d"  # not markup: kept
    assert clean_note("line\x00one\u202eend") == "lineoneend"


def test_submission_checks_report_every_problem_in_both_languages(store):
    with pytest.raises(ValidationError) as caught:
        check_submission(station(store), {"category": "facility_broken", "note": "x" * (MAX_NOTE_CHARS + 1)})
    where = [p.where for p in caught.value.problems]
    assert where == ["facility", "note"]
    assert "请选择坏了的设施" in caught.value.problems[0].as_dict("zh")["message"]
    with pytest.raises(ValidationError):
        check_submission(station(store), {"category": "burnt"})
    with pytest.raises(ValidationError) as caught:
        check_submission(station(store), {"category": "not_here", "lon": 106.9, "lat": 29.9})
    assert "图钉离站点" in caught.value.problems[0].as_dict("zh")["message"]
    with pytest.raises(ValidationError):
        check_submission(store.get("500103-OS-0004"), {"category": "closed"})  # retired
    ok = check_submission(station(store), {"category": "not_here", "lon": "106.5705", "lat": "29.5562", "note": " <b>在隔壁</b> "})
    assert ok.location == (106.5705, 29.5562) and ok.note == "在隔壁"


def test_duplicates_merge_while_open_and_codes_are_readable(store, reports):
    first, merged = reports.submit(check_submission(station(store), {"category": "closed", "note": "关门了"}))
    assert not merged and normal_code(first.code.lower()) == first.code
    again, merged = reports.submit(check_submission(station(store), {"category": "closed", "note": "确实关了"}))
    assert merged and again.code == first.code and again.count == 2 and again.notes == ["关门了", "确实关了"]
    other, merged = reports.submit(check_submission(station(store), {"category": "hours_wrong"}))
    assert not merged and other.code != first.code
    assert reports.open_counts() == {"500103": 2}
    assert reports.reported_closed() == {"500103-OS-0002"}
    with pytest.raises(NotFoundError):
        reports.get("ZZZZZZZZ")


def test_sixth_report_from_one_address_in_a_minute_is_refused():
    limits = ReportLimits()
    for i in range(5):
        limits.hit("203.0.113.9", f"500103-OS-000{i}")
    with pytest.raises(ReportRefusedError) as caught:
        limits.hit("203.0.113.9", "500103-OS-0009")
    assert "每分钟最多 5 条" in caught.value.message.render("zh")
    assert 1 <= caught.value.retry_after_s <= 61
    limits.hit("198.51.100.7", "500103-OS-0009")  # another address is not affected


def test_one_station_takes_a_bounded_number_of_reports():
    limits = ReportLimits(per_station=("3/hour",))
    for i in range(3):
        limits.hit(f"10.0.0.{i}", "500103-OS-0001")
    with pytest.raises(ReportRefusedError) as caught:
        limits.hit("10.0.0.99", "500103-OS-0001")
    assert "这个站点最近收到的报告太多" in caught.value.message.render("zh")


def test_confirming_fixes_the_registry_through_audited_writes(store, reports):
    report, _ = reports.submit(check_submission(station(store), {"category": "hours_wrong", "note": "晚上十点关"}))
    with pytest.raises(PermissionDeniedError):
        confirm(store, reports, report.code, JIANGBEI, "hours_fixed", hours="每天 7:00-22:00")
    closed = confirm(store, reports, report.code, YUZHONG, "hours_fixed", hours="每天 7:00-22:00")
    assert closed.status == "confirmed" and closed.outcome == "hours_fixed" and closed.resolved_by == "yuzhong"
    props = store.get("500103-OS-0002")["properties"]
    assert props["opening_hours"] == "Mo-Su 07:00-22:00" and props["verified_at"]
    assert store.history("500103-OS-0002")[-1]["actor"] == "yuzhong"
    with pytest.raises(ValidationError):
        confirm(store, reports, report.code, YUZHONG, "fixed")  # already dealt with


def test_confirm_move_retire_and_facility(store, reports):
    pin = {"category": "not_here", "lon": 106.5705, "lat": 29.5562}
    moved = reports.submit(check_submission(station(store), pin))[0]
    confirm(store, reports, moved.code, YUZHONG, "moved")
    assert store.get("500103-OS-0002")["geometry"]["coordinates"] == [106.5705, 29.5562]
    broken = reports.submit(check_submission(station(store), {"category": "facility_broken", "facility": "toilet"}))[0]
    confirm(store, reports, broken.code, YUZHONG, "facility_removed")
    assert "toilet" not in store.get("500103-OS-0002")["properties"]["amenities"]
    gone = reports.submit(check_submission(station(store), {"category": "closed"}))[0]
    confirm(store, reports, gone.code, YUZHONG, "retired")
    assert store.get("500103-OS-0002")["properties"]["status"] == "retired"
    assert reports.reported_closed() == frozenset()


def test_dismissing_needs_a_reason_and_changes_no_station(store, reports, registry_path):
    report = reports.submit(check_submission(station(store), {"category": "closed"}))[0]
    before = registry_path.read_bytes()
    with pytest.raises(ValidationError) as caught:
        dismiss(reports, report.code, YUZHONG, "  <p></p> ")
    assert "请写明不采纳的理由" in caught.value.problems[0].as_dict("zh")["message"]
    closed = dismiss(reports, report.code, YUZHONG, "已电话核实，正常开放")
    assert closed.status == "dismissed" and closed.reason == "已电话核实，正常开放"
    assert registry_path.read_bytes() == before


def test_verify_and_freshness(store):
    now = datetime(2026, 12, 6, 12, 0, tzinfo=CHONGQING_TZ)
    props = store.get("500103-OS-0001")["properties"]  # updated 2024-01-01, never verified
    assert is_stale(props, now) and not is_stale(props, now, max_age_days=2000)
    assert freshness(props, frozenset({"500103-OS-0001"}), now)["reported_closed"]
    assert "500103-OS-0001" in stale_ids(store.snapshot().features, now, district="500103")
    after = verify(store, "500103-OS-0001", YUZHONG)["properties"]
    assert after["verified_at"] and not is_stale(after)
    assert "500103-OS-0001" not in stale_ids(store.snapshot().features, district="500103")
    assert store.history("500103-OS-0001")[-1]["actions"] == ["update"]
    with pytest.raises(PermissionDeniedError):
        verify(store, "500105-OS-0001", YUZHONG)


def test_verified_at_is_validated(store):
    with pytest.raises(ValidationError):
        store.update("500103-OS-0001", {"verified_at": "last tuesday"}, YUZHONG)
