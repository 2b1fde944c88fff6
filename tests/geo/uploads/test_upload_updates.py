"""Uploads that update (issue 13): the district's master sheet re-uploaded; rows with 编号 update, without add; nothing else moves."""

from __future__ import annotations

import csv
import io

import pytest

from geo.access.permissions import Actor
from geo.uploads.matching import station_changes
from geo.uploads.pipeline import commit_upload, review_upload
from geo.uploads.sheet import sheet_csv, sheet_xlsx

YUZHONG = Actor("yuzhong", "district", "500103")
JIANGBEI = Actor("jiangbei", "district", "500105")


def sheet(store, adcode="500103") -> list[list[str]]:
    return list(csv.reader(io.StringIO(sheet_csv(store.snapshot(), adcode).decode("utf-8-sig"))))


def to_csv(rows) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def test_unchanged_sheet_changes_nothing_and_says_so(store, districts, registry_path):
    before = registry_path.read_bytes()
    for name, data in (("渝中.csv", sheet_csv(store.snapshot(), "500103")), ("渝中.xlsx", sheet_xlsx(store.snapshot(), "500103"))):
        report = review_upload(name, data, "wgs84", store.snapshot(), YUZHONG, districts)
        assert report.ok and report.warnings == [], [str(i) for i in report.problems + report.warnings]
        counts = report.to_dict("zh")["counts"]
        assert counts["unchanged"] == len(report.rows) > 0 and counts["added"] == counts["changed"] == 0
        result = commit_upload(store, report, YUZHONG)
        assert result.nothing_changed and result.unchanged == len(report.rows)
    assert registry_path.read_bytes() == before and store.history() == []


def test_two_changed_rows_are_two_updates_field_by_field(store, districts):
    rows = sheet(store)
    header = rows[0]
    phone, amenities, lon = header.index("联系电话"), header.index("服务设施"), header.index("经度")
    rows[1][phone] = "023-61234567"
    rows[2][lon] = f"{float(rows[2][lon]) + 0.001:.7f}"                          # about 100 m east
    rows[3][amenities] = "、".join(reversed(rows[3][amenities].split("、")))       # reordering is not a change
    new_row = ["", "七星岗新驿站", "户外劳动者服务站", "重庆市渝中区七星岗街道中山一路1号", "渝中区总工会", "023-63000009", "24/7",
               "休息、饮水", "106.5480", "29.5560"]
    report = review_upload("渝中.csv", to_csv([*rows, new_row]), "wgs84", store.snapshot(), YUZHONG, districts)
    assert report.ok, [str(p) for p in report.problems]
    assert [r.action for r in report.rows].count("update") == 2
    assert [r.action for r in report.rows].count("add") == 1
    changed = {r.station_id: r.changes_in("zh") for r in report.by_action("update")}
    first, second = rows[1][0], rows[2][0]
    assert changed[first] == [{"field": "phone", "label": "联系电话", "old": "023-63000000", "new": "023-61234567"}]
    assert [c["field"] for c in changed[second]] == ["coordinates"]
    assert all(r.warnings == [] for r in report.rows if r.station_id)        # no near-duplicate prompt where the id matches
    result = commit_upload(store, report, YUZHONG)
    assert sorted(result.updated) == sorted([first, second]) and len(result.added) == 1
    entry = store.history()[-1]
    assert sorted(entry["actions"]) == ["add", "update"]
    assert store.get(first)["properties"]["phone"] == "023-61234567"
    history = store.history(first)
    change = next(c for c in history[-1]["changes"] if c["id"] == first)
    assert change["before"]["properties"]["phone"] == "023-63000000" and change["after"]["properties"]["phone"] == "023-61234567"


def test_ids_must_name_the_districts_own_stations(store, districts):
    rows = sheet(store)
    rows[1][0] = "500103-OS-9998"
    other = sheet(store, "500105")[1]
    report = review_upload("渝中.csv", to_csv([*rows, other]), "wgs84", store.snapshot(), YUZHONG, districts)
    codes = {p.code for p in report.problems}
    assert "unknown_id" in codes and "out_of_district" in codes and not report.ok
    dup = sheet(store)
    report = review_upload("渝中.csv", to_csv([*dup, dup[1]]), "wgs84", store.snapshot(), YUZHONG, districts)
    assert "repeated_id" in {p.code for p in report.problems}


def test_stations_missing_from_the_file_are_listed(store, districts):
    rows = sheet(store)
    dropped = rows.pop(1)
    report = review_upload("渝中.csv", to_csv(rows), "wgs84", store.snapshot(), YUZHONG, districts)
    assert report.ok and [m["id"] for m in report.missing] == [dropped[0]]
    assert report.to_dict()["counts"]["missing"] == 1


def test_near_duplicates_are_still_prompted_for_new_rows(store, districts):
    rows = sheet(store)
    copy = ["", *rows[1][1:]]                 # the same station again, without its id
    copy[1] += "（新）"
    report = review_upload("渝中.csv", to_csv([rows[0], copy]), "wgs84", store.snapshot(), YUZHONG, districts)
    assert report.rows[0].action == "add" and report.rows[0].warnings


@pytest.mark.parametrize(("field", "old", "new", "changed"), [
    ("amenities", ["rest", "toilet"], ["toilet", "rest"], False), ("amenities", ["rest"], ["rest", "toilet"], True),
    ("name", "甲", " 甲 ", False), ("phone", "1", "2", True),
])
def test_station_changes(field, old, new, changed):
    existing = {"geometry": {"coordinates": [106.5, 29.5]}, "properties": {field: old}}
    uploaded = {"geometry": {"coordinates": [106.5000001, 29.5]}, "properties": {field: new}}
    assert bool(station_changes(existing, uploaded)) is changed
