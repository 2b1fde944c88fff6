"""A per-station memo carried across writes gives what encoding the current version afresh gives."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from geo.registry.snapshot import Snapshot, StationMemo
from tests.edits import edited
from tests.geo.queries.test_nearest_carried import registry


def encode(feature: dict) -> str:
    return json.dumps([feature["properties"]["name"], feature["properties"]["status"], feature["geometry"]["coordinates"]],
                      ensure_ascii=False)


steps = st.lists(st.tuples(st.sampled_from(["rename", "move", "retire", "add", "read"]), st.integers(0, 10_000)),
                 min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(batches=st.lists(steps, min_size=1, max_size=5), seed=st.integers(0, 100), limit=st.sampled_from([3, 20_000]))
def test_memo_carried_across_versions_matches_a_fresh_encoding(batches, seed, limit):
    StationMemo.LIMIT, saved = limit, StationMemo.LIMIT
    try:
        snap = Snapshot(1, registry(40, seed), None)
        next_id = 41
        for batch in batches:
            changed = {}
            for action, pick in batch:
                if action == "read":  # some versions use the memo, some do not
                    i = pick % len(snap)
                    assert snap.memo("t", encode).get(i) == encode(snap.features[i])
                    continue
                f, next_id = edited(snap, action, pick, next_id)
                changed[f["properties"]["id"]] = f
            if changed:
                snap = snap.with_changes(snap.version + 1, list(changed.values()))
        memo = snap.memo("t", encode)
        for i in range(len(snap)):
            assert memo.get(i) == encode(snap.features[i]), i
        assert len(memo._values) <= limit
    finally:
        StationMemo.LIMIT = saved


def test_a_memo_encodes_only_what_is_asked_for():
    snap = Snapshot(1, registry(30, 1), None)
    seen = []
    memo = snap.memo("t", lambda f: seen.append(f["properties"]["id"]) or len(seen))
    assert memo.get(4) == 1 and memo.get(4) == 1 and memo.get(7) == 2
    assert seen == [snap.features[4]["properties"]["id"], snap.features[7]["properties"]["id"]]
    later = snap.with_changes(2, [snap.features[4]])
    assert later.memo("t", None).get(7) == 2  # carried, not encoded again
    assert later.memo("t", None).get(4) == 3 and len(seen) == 3  # written: encoded again


def test_the_version_left_behind_still_answers_with_its_own_stations():
    snap = Snapshot(1, registry(10, 2), None)
    old = snap.memo("t", encode)
    before = old.get(3)
    moved = snap.features[3]
    moved["properties"]["name"] = "新名字"
    later = snap.with_changes(2, [moved])
    assert "新名字" in later.memo("t", encode).get(3)
    assert old.get(3) == before and "新名字" not in before  # an in-flight request on version 1
