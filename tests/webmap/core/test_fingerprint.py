"""The registry fingerprint behind every ETag: the same for the same stations however a version was
reached, and different when anything an answer shows about a station changes."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from geo.districts import Districts
from geo.registry.snapshot import Snapshot
from tests.conftest import DISTRICTS_PATH
from tests.edits import written
from tests.geo.queries.test_nearest_carried import registry
from webmap.core.responses import snapshot_fingerprint

DISTRICTS = Districts.load(DISTRICTS_PATH)
edits = st.lists(st.tuples(st.sampled_from(["move", "retire", "touch", "add"]), st.integers(0, 10_000)), min_size=1, max_size=8)


def fresh(snapshot) -> Snapshot:
    return Snapshot(snapshot.version, [copy.deepcopy(f) for f in snapshot.features], DISTRICTS)


@settings(max_examples=40, deadline=None)
@given(batches=st.lists(edits, min_size=1, max_size=4), seed=st.integers(0, 50))
def test_a_carried_fingerprint_equals_a_fresh_one_and_every_write_changes_it(batches, seed):
    snap = Snapshot(1, registry(30, seed), DISTRICTS)
    seen = {snapshot_fingerprint(snap)}
    next_id = 31
    for batch in batches:
        snap, next_id = written(snap, batch, next_id)
        carried = snapshot_fingerprint(snap)
        assert carried == snapshot_fingerprint(fresh(snap))
        assert carried not in seen
        seen.add(carried)


def test_the_same_version_with_a_station_changed_has_another_fingerprint():
    """The version alone is not trusted (a re-imported database starts again at 1)."""
    features = registry(20, 3)
    before = snapshot_fingerprint(Snapshot(1, features, DISTRICTS))
    for field, value in (("updated_at", "2030-01-01T00:00:00+08:00"), ("status", "retired"), ("id", "500103-OS-9999"),
                         ("updated_at", "二〇三〇年一月一日"), ("updated_at", None), ("updated_at", "2030-01-01T00:00:00+08:00" * 2)):
        altered = copy.deepcopy(features)
        altered[5]["properties"][field] = value
        assert snapshot_fingerprint(Snapshot(1, altered, DISTRICTS)) != before, field
    moved = copy.deepcopy(features)
    moved[5]["geometry"]["coordinates"][0] += 1e-9
    assert snapshot_fingerprint(Snapshot(1, moved, DISTRICTS)) != before
    assert snapshot_fingerprint(Snapshot(1, copy.deepcopy(features), DISTRICTS)) == before


def test_timestamps_held_beside_the_bytes_fingerprint_alike_carried_or_fresh():
    """Timestamps are hashed from their bytes; one that is not short ASCII text is hashed from its text,
    the same whether the version was reached by writes or loaded afresh."""
    features = registry(20, 4)
    features[3]["properties"]["updated_at"] = "二〇三〇年一月一日"
    features[4]["properties"]["updated_at"] = None
    snap = Snapshot(1, features, DISTRICTS)
    snapshot_fingerprint(snap)
    changed = copy.deepcopy(features[5])
    changed["properties"]["updated_at"] = "x" * 60  # wider than any held as bytes
    later = snap.with_changes(2, [changed])
    assert snapshot_fingerprint(later) == snapshot_fingerprint(fresh(later)) != snapshot_fingerprint(snap)
