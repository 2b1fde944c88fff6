"""geo.queries.search: the offline gazetteer (landmarks, districts, 街道/镇 and streets from addresses, stations)."""

from __future__ import annotations

import pytest

from geo.queries.search import LANDMARKS, address_parts, build_gazetteer, fold, search_places


@pytest.fixture
def snapshot(store):
    return store.snapshot()


def test_address_parts():
    assert address_parts("重庆市万州区双河口街道体育二路12号", "万州区") == [("subdistrict", "双河口街道"), ("street", "体育二路")]
    assert address_parts("重庆市巴南区双河口镇滨河路3号", "巴南区") == [("subdistrict", "双河口镇"), ("street", "滨河路")]
    assert address_parts("重庆市渝中区解放碑步行街", "渝中区") == [("street", "解放碑步行街")]


def test_street_from_an_address_finds_a_place_near_its_stations(snapshot):
    places = search_places(snapshot, "测试路")  # every fixture station is on a 测试路
    assert places and places[0].kind == "street" and places[0].name == "测试路"


def test_pinyin_initials_and_full_pinyin(snapshot):
    assert search_places(snapshot, "jfb")[0].name == "解放碑"
    assert search_places(snapshot, "JiefangBei")[0].name == "解放碑"
    assert search_places(snapshot, "ＪＦＢ")[0].name == "解放碑"  # full-width letters


def test_district_names_and_short_forms(snapshot):
    assert search_places(snapshot, "渝北区")[0].kind == "district"
    top = search_places(snapshot, "渝北")[0]
    assert top.kind == "district" and top.district == "渝北区"


def test_station_names_and_ids(snapshot):
    found = search_places(snapshot, "测试驿站0003")
    assert found[0].station_id == "500103-OS-0003"
    assert all(p.station_id != "500103-OS-0004" for p in search_places(snapshot, "测试驿站"))  # retired


def test_nothing_for_nonsense_and_empty(snapshot):
    assert search_places(snapshot, "qqqqzz") == []
    assert search_places(snapshot, "   ") == []


def test_every_landmark_lies_in_its_district(districts):
    lons = [lon for _, _, lon, _ in LANDMARKS]
    lats = [lat for _, _, _, lat in LANDMARKS]
    found = districts.locate(lons, lats)
    assert list(found) == [code for _, code, _, _ in LANDMARKS]


def test_gazetteer_is_built_once_per_version(snapshot):
    from geo.queries.search import gazetteer_for

    assert gazetteer_for(snapshot) is gazetteer_for(snapshot)
    assert len(build_gazetteer(snapshot)) == len(gazetteer_for(snapshot))


def test_fold():
    assert fold(" 解放 碑 ") == "解放碑" and fold("ＡＢ") == "ab"
