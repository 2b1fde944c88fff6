"""A nearest index carried across writes answers exactly like one built afresh for the new version."""

from __future__ import annotations

from datetime import datetime

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.queries.nearest import CarriedIndex, NearestIndex, active_arrays, index_for, warm
from geo.registry.snapshot import Snapshot
from tests.conftest import make_station

KINDS = {"OS": "outdoor_station", "BS": "bookshelf", "CC": "childcare"}
HOURS = ("24/7", "Mo-Fr 08:00-18:00", "Mo-Su 07:00-22:00")
AMENITIES = (("rest", "toilet"), ("rest", "drinking_water", "phone_charging"), ("reading", "wifi"))


def station(i: int, lon: float, lat: float, code: str = "OS", variant: int = 0, status: str = "active") -> dict:
    return make_station(f"500103-{code}-{i:04d}", lon, lat, kind=KINDS[code], hours=HOURS[variant % 3],
                        amenities=AMENITIES[variant % 3], status=status)


def registry(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    lon, lat = rng.uniform(106.3, 106.8, n), rng.uniform(29.4, 29.8, n)
    return [station(i + 1, float(lon[i]), float(lat[i]), ("OS", "OS", "BS", "CC")[i % 4], i) for i in range(n)]


def answers(index, lon, lat, **filters) -> list[tuple[str, float]]:
    return [(h.id, round(h.distance_m, 6)) for h in index.nearest(lon, lat, **filters)]


edits = st.lists(st.tuples(st.sampled_from(["move", "retire", "restore", "add"]), st.integers(0, 10_000),
                           st.floats(106.3, 106.8), st.floats(29.4, 29.8)), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None)
@given(batches=st.lists(edits, min_size=1, max_size=3), seed=st.integers(0, 1000),
       point=st.tuples(st.floats(106.2, 106.9), st.floats(29.3, 29.9)))
def test_carried_index_matches_a_fresh_one(batches, seed, point):
    features = registry(120, seed)
    snap = Snapshot(1, features, None)
    index_for(snap)
    next_id = len(features) + 1
    for batch in batches:
        changed = {}
        for action, pick, lon, lat in batch:
            if action == "add":
                f = station(next_id, lon, lat, ("OS", "BS", "CC")[pick % 3], pick)
                next_id += 1
            else:
                f = snap.features[pick % len(snap)]
                if action == "move":
                    f["geometry"]["coordinates"] = [lon, lat]
                else:
                    f["properties"]["status"] = "retired" if action == "retire" else "active"
            changed[f["properties"]["id"]] = f
        snap = snap.with_changes(snap.version + 1, list(changed.values()))
        warm(snap)
        snap.previous_derived = None
    carried = index_for(snap)
    assert isinstance(carried, CarriedIndex)
    fresh = NearestIndex(active_arrays(snap))
    assert carried.size == fresh.size
    lon, lat = point
    night = datetime(2026, 12, 6, 23, 30)
    for filters in ({"k": 5}, {"k": 3, "kind": "bookshelf"}, {"k": 4, "amenities": ("toilet",)},
                    {"k": 5, "open_at": night}):
        got, want = answers(carried, lon, lat, **filters), answers(fresh, lon, lat, **filters)
        assert [d for _, d in got] == [d for _, d in want]
        assert {i for i, _ in got} <= {f["properties"]["id"] for f in snap.features
                                        if f["properties"]["status"] == "active"}
        # Each hit says where its station is in the registry (what the finder reads instead of looking the id up).
        assert all(h.row == snap.by_id[h.id] for h in carried.nearest(lon, lat, **filters))
    # far away, where the ball trees answer
    assert [d for _, d in answers(carried, -0.13, 51.5, k=3)] == [d for _, d in answers(fresh, -0.13, 51.5, k=3)]


def test_a_retired_station_is_never_offered_by_a_carried_index():
    features = registry(50, 1)
    snap = Snapshot(1, features, None)
    nearest = index_for(snap).nearest(106.5, 29.6, k=1)[0]
    gone = snap.get(nearest.id)
    gone["properties"]["status"] = "retired"
    snap2 = snap.with_changes(2, [gone])
    warm(snap2)
    assert isinstance(index_for(snap2), CarriedIndex)
    assert nearest.id not in [h.id for h in index_for(snap2).nearest(106.5, 29.6, k=10)]


def test_many_written_stations_get_a_full_index(monkeypatch):
    import geo.queries.nearest as nearest

    monkeypatch.setattr(nearest, "REBUILD_AFTER_WRITTEN", 3)
    snap = Snapshot(1, registry(20, 2), None)
    index_for(snap)
    moved = []
    for f in snap.features[:5]:
        f["geometry"]["coordinates"] = [106.6, 29.6]
        moved.append(f)
    snap2 = snap.with_changes(2, moved)
    warm(snap2)
    assert isinstance(index_for(snap2), NearestIndex)


def test_a_version_left_behind_is_freed_while_its_rebuild_timer_waits():
    """Each carried version starts a thread that waits a few quiet seconds before rebuilding; the
    wait must not keep the version alive (at a write a second that held five 37 MB versions)."""
    import gc
    import weakref

    snap = Snapshot(1, registry(200, 3), None)
    index_for(snap)
    left = []
    for version in (2, 3, 4):
        f = snap.features[version]
        f["geometry"]["coordinates"] = [106.5, 29.5 + version / 1000]
        snap = snap.with_changes(version, [f])
        warm(snap)
        assert isinstance(index_for(snap), CarriedIndex)
        snap.previous_derived = None  # what the store does once the version is warmed
        left.append(weakref.ref(snap))
    gc.collect()
    assert [ref() is None for ref in left] == [True, True, False]  # only the current version is held
