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
    for field, value in (("updated_at", "2030-01-01T00:00:00+08:00"), ("status", "retired"), ("id", "500103-OS-9999")):
        altered = copy.deepcopy(features)
        altered[5]["properties"][field] = value
        assert snapshot_fingerprint(Snapshot(1, altered, DISTRICTS)) != before, field
    moved = copy.deepcopy(features)
    moved[5]["geometry"]["coordinates"][0] += 1e-9
    assert snapshot_fingerprint(Snapshot(1, moved, DISTRICTS)) != before
    assert snapshot_fingerprint(Snapshot(1, copy.deepcopy(features), DISTRICTS)) == before
