"""geo.queries.search finds exactly what the simple implementation it replaced found (kept here as
``ReferenceGazetteer``): on the sample registry, on generated stations, and after writes carried
from version to version."""

from __future__ import annotations

import copy
import functools
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypinyin import lazy_pinyin

from geo.districts import Districts
from geo.paths import DATA_DIR
from geo.queries import search
from geo.queries.search import (
    LANDMARKS,
    MAX_QUERY_CHARS,
    MAX_RESULTS,
    Place,
    address_parts,
    build_gazetteer,
    fold,
    gazetteer_for,
)
from geo.queries.texts import Texts, fold_all, text_of
from geo.registry import GeoJSONFileStore
from geo.registry.snapshot import MISSING, Snapshot, TextColumn

_KIND_ORDER = {"landmark": 0, "district": 1, "subdistrict": 2, "street": 3, "station": 4}


@functools.cache  # the same landmark, district and station names come back in every reference built
def reference_initials(text: str) -> tuple[str, str]:
    syllables = lazy_pinyin(text, errors="ignore")
    return "".join(s[0] for s in syllables if s), "".join(syllables)


class ReferenceGazetteer:
    """The gazetteer as it was: a Place per station and a Python loop over all of them per query."""

    def __init__(self, places: list[Place]):
        self.places = places
        self.names = [fold(p.name) for p in places]
        self.details = [fold(p.detail) for p in places]
        pinyin = [reference_initials(p.name) for p in places]
        self.initials = [i for i, _ in pinyin]
        self.pinyin = [f for _, f in pinyin]
        self.rank = np.array([_KIND_ORDER[p.kind] for p in places])
        self._ranked: dict[str, list[Place]] = {}

    def search(self, query: str, limit: int = MAX_RESULTS) -> list[Place]:
        if query not in self._ranked:  # the same query is asked at several limits
            self._ranked[query] = self.ranked(query)
        return self._ranked[query][:limit]

    def ranked(self, query: str) -> list[Place]:
        q = fold(query)[:MAX_QUERY_CHARS]
        if not q:
            return []
        latin = q.isascii() and q.isalpha()
        scored = []
        for i, name in enumerate(self.names):
            if name == q:
                score = 0
            elif name.startswith(q):
                score = 1
            elif q in name:
                score = 2
            elif latin and (self.initials[i].startswith(q) or (len(q) >= 3 and self.pinyin[i].startswith(q))):
                score = 1 if self.initials[i] == q or self.pinyin[i] == q else 2
            elif not latin and q in self.details[i]:
                score = 3
            else:
                continue
            scored.append((score, int(self.rank[i]), len(name), i))
        scored.sort()
        return [self.places[i] for *_, i in scored]


def reference_gazetteer(snapshot) -> ReferenceGazetteer:
    districts = snapshot.districts
    places = [Place(name, "landmark", lon, lat, districts.name(code) if code in districts.by_adcode else "")
              for name, code, lon, lat in LANDMARKS]
    frame = districts.frame
    for name, lon, lat in frame[["name_zh", "seat_lon", "seat_lat"]].itertuples(index=False):
        places.append(Place(name, "district", float(lon), float(lat), name))
        short = re.sub(r"(区|县|自治县)$", "", name)
        if short != name and len(short) >= 2:
            places.append(Place(short, "district", float(lon), float(lat), name))
    groups: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    column = snapshot.column
    active = np.flatnonzero(column("status") == "active")
    texts = [[v if isinstance(v, str) else "" for v in column(name)[active].tolist()] for name in ("name", "district", "id", "address")]
    lons, lats = snapshot.table.lon[active].tolist(), snapshot.table.lat[active].tolist()
    for name, district, station_id, address, lon, lat in zip(*texts, lons, lats, strict=True):
        places.append(Place(name, "station", lon, lat, district, station_id, address))
        for kind, part in address_parts(address, district):
            groups.setdefault((kind, district, part), []).append((lon, lat))
    for (kind, district, name), points in groups.items():
        lon, lat = np.mean(np.array(points), axis=0)
        places.append(Place(name, kind, float(lon), float(lat), district))
    return ReferenceGazetteer(places)


@pytest.fixture(scope="module")
def districts_map():
    return Districts.load(DATA_DIR / "districts.geojson")


@pytest.fixture(scope="module")
def sample(districts_map, tmp_path_factory):
    path = tmp_path_factory.mktemp("sample") / "stations.geojson"
    path.write_bytes((DATA_DIR / "stations.geojson").read_bytes())
    snapshot = GeoJSONFileStore(path, districts_map).snapshot()
    return snapshot, reference_gazetteer(snapshot)


def _same(snapshot, reference: ReferenceGazetteer, queries, limits=(1, 3, 10, 20)) -> None:
    gazetteer = gazetteer_for(snapshot)
    assert len(gazetteer) == len(reference.places)
    for q in queries:
        for limit in limits:
            assert gazetteer.search(q, limit) == reference.search(q, limit), (q, limit)


def _queries_from(reference: ReferenceGazetteer, draw_index, picks: int) -> list[str]:
    """Pieces of names, addresses and pinyin: whole, prefixes, middles, upper-cased, spaced."""
    out = []
    for _ in range(picks):
        i = draw_index(len(reference.places))
        for text in (reference.places[i].name, reference.places[i].detail, reference.initials[i], reference.pinyin[i]):
            if text:
                a = draw_index(len(text))
                b = a + 1 + draw_index(len(text) - a)
                out += [text, text[:b], text[a:b], text[a:b].upper(), " ".join(text[a:b])]
    return out


SAMPLE_QUERIES = ("jfb", "解放碑", "观音桥街道", "体育二路", "渝北", "石桥铺", "jiefangbei", "快递小哥之家", "无此地名xyz",
                  "站", "a", "z", "路", "街道", "镇", "重庆", "cq", "驿站", "zhan", "yz", "1", "0", "号", "（", "(", "Ｊ", "ß",
                  "qqqqzz", "   ", "x" * 50, "长", "chang", "zhong", "zq", "渝中区", "渝中")


def test_sample_registry_fixed_queries(sample):
    snapshot, reference = sample
    _same(snapshot, reference, SAMPLE_QUERIES)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_sample_registry_random_queries(sample, data):
    snapshot, reference = sample
    picks = _queries_from(reference, lambda n: data.draw(st.integers(0, max(n - 1, 0))), 3)
    picks.append(data.draw(st.text(alphabet="abcdefghijklmnopqrstuvwxyz站路街道镇重庆渝中北区1 ", max_size=5)))
    _same(snapshot, reference, picks, limits=(data.draw(st.integers(1, 20)),))


# Characters for generated stations: place-name hanzi (some with several readings), the suffixes the
# address patterns look for, letters, digits, full-width forms, spaces, and characters whose fold
# depends on what follows (a combining accent, Hangul jamo) or makes several (ß, ﬁ).
HANZI = "解放碑朝天门观音桥重庆渝中北区江沙坪坝长寿行乐还都银爱心驿站环卫工人体育二双河口石桥铺快递小哥之家街道镇乡路大道巷号"
CHARS = HANZI + "abcjfzAZ0123456789ＡＪ１（）  \u3000\t\n·-ßﬁ\u0301ᄀ\u1161ㄱㅏé"
DISTRICT_NAMES = ("渝中区", "江北区", "沙坪坝区", "渝北区", "城口县", "", "长寿区")


# The parts of a generated station, made once (a strategy built afresh is validated afresh on each draw).
STREET = st.text(alphabet=HANZI + "0123456789", min_size=0, max_size=6)
STREET_SUFFIX = st.sampled_from(["路", "大道", "街", "巷", ""])
SUBDISTRICT = st.text(alphabet=HANZI, max_size=4)
SUBDISTRICT_SUFFIX = st.sampled_from(["街道", "镇", "乡", ""])
CITY = st.sampled_from(["重庆市", "重庆", " 重庆市", ""])
HOUSE_NUMBER = st.text(alphabet="0123456789", max_size=4)
HOUSE_SUFFIX = st.sampled_from(["号", ""])
ANY_TEXT = st.text(alphabet=CHARS, max_size=14)
NAME = st.one_of(ANY_TEXT, st.sampled_from(["站", "重庆", "解放碑", "jfb", "长寿路站"]))
LON, LAT = st.floats(105.0, 110.0), st.floats(28.0, 32.0)
STATUS = st.sampled_from(["active", "active", "active", "closed"])


@st.composite
def stations(draw, ids=None):
    n = draw(st.integers(0, 25))
    features = []
    for k in range(n):
        district = draw(st.sampled_from(DISTRICT_NAMES))
        street = draw(STREET) + draw(STREET_SUFFIX)
        sub = draw(SUBDISTRICT) + draw(SUBDISTRICT_SUFFIX)
        address = draw(st.one_of(
            st.builds(lambda *p: "".join(p), CITY, st.just(district), st.just(sub), st.just(street), HOUSE_NUMBER, HOUSE_SUFFIX),
            ANY_TEXT))
        name = draw(NAME)
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [draw(LON), draw(LAT)]},
            "properties": {"id": f"500103-OS-{k:04d}" if ids is None else ids[k % len(ids)], "name": name, "address": address,
                           "district": district,
                           "status": draw(STATUS)}})
    return features


def _random_queries(data, reference: ReferenceGazetteer) -> list[str]:
    queries = [data.draw(st.text(alphabet=CHARS, min_size=1, max_size=4)) for _ in range(3)]
    if reference.places:
        queries += _queries_from(reference, lambda n: data.draw(st.integers(0, max(n - 1, 0))), 2)
    return queries


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(features=stations(), data=st.data())
def test_generated_stations(districts_map, features, data):
    snapshot = Snapshot(1, features, districts_map)
    reference = reference_gazetteer(snapshot)
    _same(snapshot, reference, _random_queries(data, reference), limits=(1, data.draw(st.integers(1, 20))))


def _segment_state(segment) -> tuple:
    return tuple((rows.text, rows.starts.tolist()) for rows in (segment.names, segment.details, segment.initials, segment.pinyin)) \
        + (segment.ids.tolist(), [order.tolist() for order in segment.by_text])


@pytest.mark.slow  # 10-15 s: sixty registries, each written three times and searched afresh and carried
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(features=stations(), data=st.data())
def test_writes_carried_across_versions(districts_map, features, data):
    """Each version made by ``with_changes`` searches like one built afresh (and holds the same rows),
    whether or not the versions between were searched."""
    snapshot = Snapshot(1, features, districts_map)
    gazetteer_for(snapshot)
    ids = [f["properties"]["id"] for f in features] + [f"500105-OS-{k:04d}" for k in range(5)]
    for version in range(2, 5):
        changed = data.draw(stations(ids=ids))[: data.draw(st.integers(0, 4))]
        snapshot = snapshot.with_changes(version, changed)
        if data.draw(st.booleans()):
            continue  # not searched: the next version carries from the last one worked out
        carried, fresh = gazetteer_for(snapshot), build_gazetteer(snapshot)
        assert [carried.head_place(i) for i in range(len(carried.head))] == [fresh.head_place(i) for i in range(len(fresh.head))]
        assert _segment_state(carried.station_rows()) == _segment_state(fresh.station_rows())
        assert _segment_state(carried.head) == _segment_state(fresh.head)
        reference = reference_gazetteer(snapshot)
        _same(snapshot, reference, _random_queries(data, reference), limits=(data.draw(st.integers(1, 20)),))


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(st.text(max_size=12), max_size=12))
def test_fold_all_is_fold_of_each(texts):
    got = fold_all(Texts.of(texts), fold)
    folded = [fold(t) for t in texts]
    assert got.lengths.tolist() == [len(t) for t in folded]
    assert text_of(got.codes) == "".join(t + "\x00" for t in folded)
    assert got.strs() == folded


# Text as stations have it (validation refuses control characters and lone surrogates), short and long.
_STATION_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=300)


@settings(max_examples=150, deadline=None)
@given(texts=st.lists(st.one_of(_STATION_TEXT, st.none()), max_size=20), data=st.data())
def test_texts_read_from_a_column_are_those_texts(texts, data):
    column = np.array([MISSING if t is None else t for t in texts], dtype=TextColumn.DTYPE)
    got = Texts.of_column(column)
    plain = ["" if t is None else t for t in texts]
    expected = Texts.of(plain)
    assert got.lengths.tolist() == expected.lengths.tolist()
    np.testing.assert_array_equal(got.codes, expected.codes)
    if plain:
        order = np.array(data.draw(st.permutations(range(len(plain)))), dtype=np.int64)
        assert got.taken(order).strs() == [plain[i] for i in order]
        assert got.joined(order, "\n") == "\n".join(plain[i] for i in order)
        i = data.draw(st.integers(0, len(plain) - 1))
        assert got[i] == plain[i]


def test_a_column_text_holding_a_0_is_read_whole():
    # Validation refuses control characters and PostgreSQL cannot store a 0; a hand-edited file can.
    # A 0 inside a text has the column read text by text, exactly; numpy's string length stops before
    # trailing 0s, so a column with only those reads them as absent.
    column = np.array(["解放碑", "a\x00b", "长" * 300 + "\x00c", "站\x00"], dtype=TextColumn.DTYPE)
    assert Texts.of_column(column).strs() == ["解放碑", "a\x00b", "长" * 300 + "\x00c", "站\x00"]
    column = np.array(["解放碑", "站\x00"], dtype=TextColumn.DTYPE)
    assert Texts.of_column(column).strs() == ["解放碑", "站"]


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(st.text(alphabet=st.one_of(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
                                                   st.sampled_from(CHARS)), max_size=12), max_size=12))
def test_pinyin_rows_are_lazy_pinyin_of_each(texts):
    initials, pinyin = search._pinyin_rows(Texts.of(texts))
    expected = [reference_initials(t) for t in texts]
    assert [initials[k] for k in range(len(texts))] == [i for i, _ in expected]
    assert [pinyin[k] for k in range(len(texts))] == [f for _, f in expected]


def test_text_with_a_lone_surrogate_or_nul_folds_alone():
    texts = ["解放\ud800碑", "a\x00b", "ＡＢ"]
    lengths = fold_all(Texts.of(texts), fold).lengths
    assert lengths.tolist() == [len(fold(t)) for t in texts]


def test_a_carried_gazetteer_does_not_hold_the_version_it_came_from(districts_map, sample):
    """Versions not yet searched carry the last gazetteer worked out, but not that version's table
    (its coordinates and codes): a stream of writes would otherwise keep an old version alive."""
    features = copy.deepcopy(list(sample[0].features[:60]))
    snapshot = Snapshot(1, features, districts_map)
    searched = gazetteer_for(snapshot)
    assert searched.table is snapshot.table
    moved = {**features[0], "properties": {**features[0]["properties"], "name": "新名字驿站"}}
    later = snapshot.with_changes(2, [moved]).with_changes(3, [])
    carried = later.derived["gazetteer"]
    assert isinstance(carried, search._Carried) and carried.base.table is None
    assert searched.table is snapshot.table  # the version it came from still searches with its own
    resolved = gazetteer_for(later)
    assert resolved.table is later.table and [p.name for p in resolved.search("新名字")] == ["新名字驿站"]
