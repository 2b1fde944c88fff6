"""The registry's column store (geo.registry.snapshot.StationTable): what it gives back is what it was
given, a write makes a new table and leaves the old one as it was, and the coded columns of shared
properties read the same through every accessor."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.paths import DATA_DIR
from geo.registry.snapshot import MISSING, SHARED, AsciiColumn, StationIds, StationTable, TextColumn
from geo.schema import PROPERTY_NAMES


@pytest.fixture(scope="module")
def sample() -> list[dict]:
    return json.loads((DATA_DIR / "stations.geojson").read_text(encoding="utf-8"))["features"][:300]


def features_of(table: StationTable) -> list[dict]:
    return [table.feature(i) for i in range(len(table))]


def in_schema_order(features: list[dict]) -> list[dict]:
    """The Features with their properties in the schema's order (the order a table gives them back)."""
    return [{**f, "properties": {k: f["properties"][k] for k in PROPERTY_NAMES if k in f["properties"]}} for f in features]


def test_features_come_back_as_given_and_equal_values_share_one_code(sample):
    features = copy.deepcopy(sample)
    features[0]["geometry"]["coordinates"].append(312.5)  # an altitude
    features[1]["properties"]["operator"] = None  # an explicit null, not an absent property
    del features[2]["properties"]["phone"]
    table = StationTable.from_features(features)
    assert features_of(table) == features
    assert "phone" not in table.feature(2)["properties"] and table.value("phone", 2) is MISSING
    assert table.feature(1)["properties"]["operator"] is None
    codes, values = table.coded("amenities")
    assert len(values) == len({json.dumps(v) for v in values}) < len(table)  # each distinct list once
    # The same stations read from object columns (what the PostGIS store hands over) are the same table.
    again = StationTable(table.lon, table.lat, table.columns, table.tails)
    assert features_of(again) == features


def test_every_accessor_reads_the_same_values(sample):
    table = StationTable.from_features(sample)
    rows = np.array([5, 0, 17, 5, 299])
    for name in table.names:
        full = table.column(name)
        assert len(full) == len(table)
        assert table.take(name, rows).tolist() == full[rows].tolist()
        assert [table.value(name, i) for i in rows.tolist()] == full[rows].tolist()
        for probe in {*(v for v in full[:40].tolist() if isinstance(v, str)), "no such value"}:
            expected = np.array([isinstance(v, str) and v == probe for v in full.tolist()])
            assert np.array_equal(table.equals(name, probe), expected), (name, probe)
            assert np.array_equal(table.equals(name, probe, rows), expected[rows])
    assert set(table.codes) == set(SHARED) and not set(table.own) & set(SHARED)


VALUES = st.one_of(st.none(), st.sampled_from(["active", "retired", "渝中区", "Mo-Su 00:00-24:00", ""]),
                   st.lists(st.sampled_from(["rest", "toilet", "drinking_water", "wifi"]), max_size=3),
                   st.lists(st.sampled_from([1, True, 0, False, "1", None]), max_size=2),
                   st.dictionaries(st.sampled_from(["meituan", "amap"]), st.sampled_from(["listed", "absent"]), max_size=2),
                   st.integers(-3, 3), st.booleans(), st.floats(-1, 1), st.just(MISSING))


def accessors_agree(table: StationTable) -> None:
    rows = np.array([0, len(table) - 1, len(table) // 2, len(table) - 1])
    for name in table.names:
        full = table.column(name)
        one_by_one = [table.value(name, i) for i in range(len(table))]
        assert json.dumps(full.tolist(), default=repr) == json.dumps(one_by_one, default=repr), name
        assert json.dumps(table.take(name, rows).tolist(), default=repr) == json.dumps(full[rows].tolist(), default=repr), name
        assert np.array_equal(table.equals(name, "active"), np.array([isinstance(v, str) and v == "active" for v in one_by_one]))


@settings(max_examples=80, deadline=None)
@given(writes=st.lists(st.lists(st.tuples(st.integers(0, 400), st.sampled_from(sorted(SHARED | {"name", "phone"})), VALUES),
                                min_size=1, max_size=6), min_size=1, max_size=5),
       merge_after=st.sampled_from([StationTable.MERGE_AFTER, 4, 0]))
def test_writes_make_new_tables_equal_to_one_made_afresh_and_leave_the_old_ones_alone(sample, writes, merge_after):
    kept, StationTable.MERGE_AFTER = StationTable.MERGE_AFTER, merge_after  # rows kept beside, or merged at once
    try:
        check_writes(sample, writes)
    finally:
        StationTable.MERGE_AFTER = kept


def check_writes(sample, writes):
    features = copy.deepcopy(sample[:40])
    table = StationTable.from_features(features)
    history = [(table, copy.deepcopy(features))]
    next_id = 0
    for batch in writes:
        rows, appended = {}, []
        for pick, name, value in batch:
            if pick >= 300:  # a new station, a copy of one with this value
                f = copy.deepcopy(features[pick % len(features)])
                f["properties"]["id"] = f"new-{next_id}"
                next_id += 1
            else:
                i = pick % len(features)
                f = copy.deepcopy(rows.get(i) or features[i])
            if value is MISSING:
                f["properties"].pop(name, None)
            else:
                f["properties"][name] = copy.deepcopy(value)
            if pick >= 300:
                appended.append(f)
            else:
                rows[pick % len(features)] = f
        table = table.with_rows(rows, appended)
        for i, f in rows.items():
            features[i] = f
        features += appended
        history.append((table, copy.deepcopy(features)))
    for version, expected in history:  # every version still reads as it did when it was made
        expected = in_schema_order(expected)
        assert json.dumps(features_of(version)) == json.dumps(expected)  # JSON: true is not 1, and key order counts
        assert json.dumps(features_of(StationTable.from_features(expected))) == json.dumps(expected)
        accessors_agree(version)


def test_values_equal_in_python_but_not_in_json_keep_their_own_codes(sample):
    features = copy.deepcopy(sample[:8])
    for f, value in zip(features, [[1], [True], [1.0], {"amap": 1}, {"amap": True}, ["1"], {"amap": 1, "baidu": 2},
                                   {"baidu": 2, "amap": 1}], strict=True):
        f["properties"]["amenities"] = value
    table = StationTable.from_features(features)
    written = table.with_rows({0: features[1], 1: features[0]}, [features[3], features[4]])
    assert json.dumps(features_of(table)) == json.dumps(features)
    assert json.dumps(features_of(written)) == json.dumps([features[1], features[0], *features[2:], features[3], features[4]])


# A value of an own column: mostly text, sometimes absent, and now and then a JSON null or a number.
OWN_VALUE = st.one_of(st.text(max_size=12), st.just(MISSING), st.none(), st.integers(-5, 5),
                      st.sampled_from(["站", "", "x" * 40, "y" * 41, "2026-12-06T13:51:25+08:00", "a\x00", "é"]))


@pytest.mark.parametrize("kind", [TextColumn, AsciiColumn])
@settings(max_examples=60, deadline=None)
@given(values=st.lists(OWN_VALUE, max_size=30), data=st.data())
def test_a_text_column_gives_back_every_value_as_it_was_given(kind, values, data):
    column = kind.of(values)
    assert column.texts.dtype == TextColumn.DTYPE  # no str object per station
    assert [column.texts[i] if column.texts[i] is not MISSING else MISSING for i in range(len(values))] == \
        [v if type(v) is str and (kind is TextColumn or (v.isascii() and len(v) <= 40 and "\x00" not in v)) else MISSING for v in values]
    same = lambda got, want: len(got) == len(want) and all(type(a) is type(b) and a == b for a, b in zip(got, want, strict=True))  # noqa: E731
    assert same(column.objects().tolist(), values)
    assert same([column[i] for i in range(len(values))], values)
    if values:
        rows = data.draw(st.lists(st.integers(0, len(values) - 1), max_size=10))
        assert same(column.take(np.array(rows, dtype=np.int64)).tolist(), [values[i] for i in rows])
        mask = np.array(data.draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values))))
        assert same(column.take(mask).tolist(), [v for v, m in zip(values, mask, strict=True) if m])
    # Rows written (and some added past the end) make a new column and leave this one as it was.
    n = len(values) + data.draw(st.integers(0, 3))
    written = data.draw(st.dictionaries(st.integers(0, n - 1), OWN_VALUE, max_size=6)) if n else {}
    written.update({i: data.draw(OWN_VALUE) for i in range(len(values), n)})
    grown = column.with_rows(n, written)
    assert same(grown.objects().tolist(), [written.get(i, values[i] if i < len(values) else MISSING) for i in range(n)])
    assert same(column.objects().tolist(), values)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=st.lists(st.text(alphabet="0123456789-OSBKC站", max_size=8), max_size=40),
       added=st.lists(st.text(alphabet="0123456789-X", min_size=1, max_size=6), max_size=12, unique=True),
       probes=st.lists(st.text(max_size=6), max_size=10))
def test_the_id_map_answers_as_a_dict_of_the_same_ids_would(ids, added, probes, monkeypatch):
    import pickle

    monkeypatch.setattr(StationIds, "MERGE_AFTER", 5)  # merged into a new index after a few additions
    expected = {fid: i for i, fid in enumerate(ids)}  # the last of equal ids wins
    index, n = StationIds(TextColumn.of(ids)), len(ids)
    for fid in added:  # new stations are appended, one position each
        if fid not in expected:
            expected[fid] = n
            index = index.with_added({fid: n})
            n += 1
    assert len(index) == n
    for probe in [*ids, *added, *probes, 12, None, MISSING, ["unhashable"]]:
        assert index.get(probe) == expected.get(probe) if not isinstance(probe, list) else index.get(probe) is None
    assert set(index) == set(expected)
    again = pickle.loads(pickle.dumps(index))  # noqa: S301 - our own bytes
    assert all(again.get(fid) == i for fid, i in expected.items())
