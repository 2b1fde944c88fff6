"""Tests of geo.queries.selection: vectorised filters agree with a plain loop over the Features, and text search finds what people type."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo import schema
from geo.errors import ValidationError
from geo.queries.selection import StationColumns, TextIndex, normalise_text
from geo.registry import stations_frame
from geo.registry.snapshot import Snapshot, cached_on
from tests.conftest import SMALL_REGISTRY, make_station
from tests.edits import written
from tests.geo.queries.test_nearest_carried import registry


@pytest.fixture(scope="module")
def columns():
    return StationColumns(stations_frame(SMALL_REGISTRY))


def loop_select(features, kinds=(), statuses=("active",), district=None, amenities=(), bbox=None, text=None):
    out = []
    for i, f in enumerate(features):
        p = f["properties"]
        lon, lat = f["geometry"]["coordinates"]
        if kinds and p["kind"] not in kinds:
            continue
        if statuses and p["status"] not in statuses:
            continue
        if district and p["district_adcode"] != district:
            continue
        if not set(amenities) <= set(p["amenities"]):
            continue
        if bbox and not (bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]):
            continue
        if text and not any(normalise_text(text) in normalise_text(p[k]) for k in ("name", "address", "operator", "id")):
            continue
        out.append(i)
    return out


@settings(max_examples=200, deadline=None)
@given(
    kinds=st.lists(st.sampled_from(list(schema.KINDS)), max_size=2, unique=True),
    statuses=st.lists(st.sampled_from(list(schema.STATUSES)), max_size=2, unique=True),
    district=st.sampled_from([None, "500103", "500105", "500112"]),
    amenities=st.lists(st.sampled_from(["rest", "toilet", "wifi", "reading", "drinking_water"]), max_size=2, unique=True),
    bbox=st.one_of(st.none(), st.tuples(st.floats(106.4, 106.6), st.floats(29.5, 29.6), st.floats(106.55, 109),
                                        st.floats(29.55, 32))),
    text=st.sampled_from([None, "测试", "0001", "os-0002", "渝中", "总工会", "xyz", "Os"]),
)
def test_select_agrees_with_a_loop(columns, kinds, statuses, district, amenities, bbox, text):
    got = columns.select(kinds=kinds, statuses=statuses, district=district, amenities=amenities, bbox=bbox, text=text)
    assert got.tolist() == loop_select(SMALL_REGISTRY, kinds, statuses, district, amenities, bbox, text)


def test_unknown_amenity_is_a_validation_error(columns):
    with pytest.raises(ValidationError):
        columns.select(amenities=("sauna",))


def test_text_search_dense_and_sparse_paths_agree():
    features = [make_station(f"500103-OS-{i:04d}", 106.55 + i * 1e-4, 29.55, name=("渝中驿站" if i % 3 else "江边站"))
                for i in range(1, 400)]
    columns = StationColumns(stations_frame(features))
    for query in ("渝中", "江边", "驿站", "站", "OS-0399", "nothing"):
        expected = [i for i, f in enumerate(features) if query.casefold() in
                    normalise_text(" ".join(f["properties"][k] for k in ("name", "address", "operator", "id")))]
        assert np.flatnonzero(columns.text_mask(query)).tolist() == expected, query


def test_cached_on_builds_once():
    class Holder:
        pass

    holder, calls = Holder(), []
    for _ in range(3):
        assert cached_on(holder, "x", lambda: calls.append(1) or 42) == 42
    assert calls == [1]


@settings(max_examples=40, deadline=None)
@given(batches=st.lists(st.lists(st.tuples(st.sampled_from(["rename", "add", "move", "touch"]), st.integers(0, 10_000)),
                                 min_size=1, max_size=6), min_size=1, max_size=6),
       seed=st.integers(0, 50), rejoin=st.sampled_from([2, 512]),
       queries=st.lists(st.sampled_from(["改名", "站", "os-00", "测试", "1", "x"]), min_size=1, max_size=3))
def test_a_carried_text_index_finds_what_a_fresh_one_finds(batches, seed, rejoin, queries):
    """The map's text filter after writes (the written rows beside the joined text, joined in after
    REJOIN_AFTER of them) equals one built afresh for the same version."""
    saved, TextIndex.REJOIN_AFTER = TextIndex.REJOIN_AFTER, rejoin
    try:
        snap = Snapshot(1, registry(30, seed), None)
        carried = StationColumns.of_snapshot(snap)
        carried.text_mask("站")  # the index exists, so the next versions carry it
        next_id = 31
        for batch in batches:
            snap, next_id = written(snap, batch, next_id)
            carried = carried.carried_to(snap)
            fresh = StationColumns.of_snapshot(Snapshot(snap.version, list(snap.features), None))
            for query in queries:
                assert carried.text_mask(query).tolist() == fresh.text_mask(query).tolist(), query
    finally:
        TextIndex.REJOIN_AFTER = saved


_FILTER_TEXT = st.text(st.sampled_from(["站", "驿", "路", "a", "B", "0", "-", " ", "Ａ", "ß", "😀", "𠀋", "é"]), max_size=8)


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(_FILTER_TEXT, max_size=12), needle=_FILTER_TEXT)
def test_the_filter_finds_a_query_in_the_rows_that_hold_it(texts, needle):
    """Rows as UTF-16 units (one byte each when all fit; two units for a character past U+FFFF), found by numpy."""
    from geo.queries.selection import _Units
    from geo.queries.texts import Texts, fold_all

    needle = normalise_text(needle)
    if not needle:
        return
    units = _Units.of(fold_all(Texts.of(texts), normalise_text))
    found = units.rows_with(np.frombuffer(needle.encode("utf-16-le"), dtype=np.uint16))
    assert sorted(set(found.tolist())) == [i for i, t in enumerate(texts) if needle in normalise_text(t)]
    assert not texts or units.units.dtype == (np.uint8 if all(ord(c) < 256 for t in texts for c in normalise_text(t)) else np.uint16)
