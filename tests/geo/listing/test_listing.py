"""上图 exports round-trip to the registry's WGS-84 within 1 m; statuses per platform are checked, audited and counted."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from geo import schema
from geo.access.permissions import Actor
from geo.coords import bd09_to_wgs84, gcj02_to_wgs84
from geo.errors import PermissionDeniedError, ValidationError
from geo.listing.platforms import PLATFORMS, hours_zh, listing_csv, listing_xlsx
from geo.listing.status import filter_by_listing, listing_counts, listing_status, set_listing_status
from geo.projection import geodesic_distance_m

YUZHONG = Actor("yuzhong", "district", "500103")
JIANGBEI = Actor("jiangbei", "district", "500105")
BACK = {"gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}


def _rows(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


@pytest.mark.parametrize("platform", list(PLATFORMS))
def test_exports_round_trip_within_a_metre(store, platform):
    snap = store.snapshot()
    spec = PLATFORMS[platform]
    data = listing_csv(snap, platform)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = _rows(data)
    active = {f["properties"]["id"]: f for f in snap.features if f["properties"]["status"] == "active"}
    assert {r["站点编号"] for r in rows} == set(active)
    lon_h, lat_h = spec.columns[2][1], spec.columns[3][1]
    lon, lat = BACK[spec.datum]([float(r[lon_h]) for r in rows], [float(r[lat_h]) for r in rows])
    for r, x, y in zip(rows, lon, lat, strict=True):
        want = active[r["站点编号"]]["geometry"]["coordinates"]
        assert geodesic_distance_m(x, y, want[0], want[1]) < 1.0
        shift = geodesic_distance_m(float(r[lon_h]), float(r[lat_h]), want[0], want[1])
        assert shift > 100          # really in the platform's datum, not WGS-84
        assert "工会驿站" in r[spec.columns[-1][1]] and r["名称"] == active[r["站点编号"]]["properties"]["name"]
    book = load_workbook(io.BytesIO(listing_xlsx(snap, platform, "500103")))
    sheet = book.active
    assert sheet.freeze_panes == "A2" and sheet["C1"].value == lon_h
    xlsx_rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(xlsx_rows) == sum(1 for f in active.values() if f["properties"]["district_adcode"] == "500103")
    x, y = BACK[spec.datum]([r[2] for r in xlsx_rows], [r[3] for r in xlsx_rows])
    for r, a, b in zip(xlsx_rows, x, y, strict=True):
        want = active[r[-2]]["geometry"]["coordinates"]
        assert geodesic_distance_m(a, b, want[0], want[1]) < 1.0


def test_hours_in_chinese():
    assert hours_zh("24/7") == "24小时营业"
    assert hours_zh("Mo-Fr 08:00-18:00; Sa,Su 09:00-17:00") == "周一至周五 08:00-18:00； 周六、周日 09:00-17:00"


def test_status_is_set_by_the_district_audited_and_counted(store):
    sid = "500103-OS-0001"
    assert listing_status(store.get(sid)["properties"], "amap")["status"] == "not_submitted"
    set_listing_status(store, sid, "amap", "submitted", "", YUZHONG)
    set_listing_status(store, sid, "baidu", "rejected", "地址不详", YUZHONG)
    props = store.get(sid)["properties"]
    assert listing_status(props, "amap")["status"] == "submitted"
    assert listing_status(props, "baidu") | {"at": None} == {"status": "rejected", "note": "地址不详", "at": None}
    entry = store.history(sid)[-1]
    assert entry["actions"] == ["update"] and entry["changes"][0]["after"]["properties"]["listing"]["baidu"]["note"] == "地址不详"
    counts = listing_counts(store.snapshot())
    assert counts["500103"]["amap"]["submitted"] == 1 and counts["500000"]["baidu"]["rejected"] == 1
    assert counts["500103"]["tencent"]["not_submitted"] == sum(counts["500103"]["tencent"].values())
    chosen = filter_by_listing(store.snapshot().features, "amap", "submitted")
    assert [f["properties"]["id"] for f in chosen] == [sid]
    version = store.snapshot().version
    with pytest.raises(PermissionDeniedError):
        set_listing_status(store, sid, "amap", "live", "", JIANGBEI)
    with pytest.raises(ValidationError) as info:
        set_listing_status(store, sid, "bing", "done", "", YUZHONG)
    assert {p.where for p in info.value.problems} == {"platform", "status"}
    with pytest.raises(ValidationError):
        set_listing_status(store, sid, "amap", "rejected", "", YUZHONG)   # a rejection needs its reason
    assert store.snapshot().version == version


def _counts_feature_by_feature(snapshot) -> dict:
    """The reference: what listing_counts did before it read columns."""
    from collections import Counter, defaultdict

    counts: dict = defaultdict(lambda: {p: Counter() for p in schema.LISTING_PLATFORMS})
    for f in snapshot.features:
        props = f["properties"]
        if props["status"] != "active":
            continue
        for code in (props["district_adcode"], "500000"):
            for platform in schema.LISTING_PLATFORMS:
                counts[code][platform][listing_status(props, platform)["status"]] += 1
    return {code: {p: {s: int(c[s]) for s in schema.LISTING_STATUSES} for p, c in by_platform.items()}
            for code, by_platform in counts.items()}


def test_counts_from_columns_equal_counting_station_by_station(store):
    for i, (sid, platform, status) in enumerate([("500103-OS-0001", "amap", "live"), ("500103-OS-0002", "amap", "submitted"),
                                                 ("500103-OS-0002", "tencent", "rejected"), ("500103-OS-0003", "baidu", "live")]):
        set_listing_status(store, sid, platform, status, f"说明{i}" if status == "rejected" else "", YUZHONG)
    snapshot = store.snapshot()
    assert listing_counts(snapshot) == _counts_feature_by_feature(snapshot)
    assert listing_counts(snapshot)["500103"]["amap"]["live"] >= 1
