"""The store contract, the same tests over every backend: the GeoJSON file and PostGIS (a real PostgreSQL).

Each test gets a registry of the dozen stations in ``tests.conftest.SMALL_REGISTRY`` at
version 0, in a file in tmp_path or in a fresh database. ``other`` opens the same registry
again, as a second process (another gunicorn worker, another app server) would.
"""

from __future__ import annotations

import threading
import time

import pytest

from geo.access.permissions import CLI_ACTOR, Actor
from geo.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from geo.registry import GeoJSONFileStore, StationStore, dump_feature_collection, open_store
from tests.conftest import SMALL_REGISTRY, make_station

YUZHONG = Actor("渝中区总工会", "district", "500103")
JIANGBEI = Actor("江北区总工会", "district", "500105")
PLANNER = Actor("规划", "planner")
BACKENDS = ["file", "postgis"]


def new_station(lon=106.5800, lat=29.5600, adcode="500103", **kw):
    station_id = f"{adcode}-OS-9999"
    feature = make_station(station_id, lon, lat, **kw)
    for key in ("id", "status", "created_at", "updated_at", "source"):
        feature["properties"].pop(key)
    return feature


@pytest.fixture(params=BACKENDS)
def opener(request, tmp_path, districts):
    """A function that opens (another handle on) this test's registry."""
    if request.param == "file":
        path = tmp_path / "stations.geojson"
        path.write_bytes(dump_feature_collection(SMALL_REGISTRY))
        opened = []

        def open_file():
            opened.append(GeoJSONFileStore(path, districts))
            return opened[-1]

        yield open_file
        return
    from geo.registry.postgis import import_registry

    url = request.getfixturevalue("pg_url")
    import_registry(url, SMALL_REGISTRY, 0, [])
    opened = []

    def open_db():
        opened.append(open_store(url, districts))
        return opened[-1]

    yield open_db
    for store in opened:
        store.close()


@pytest.fixture
def store(opener) -> StationStore:
    return opener()


def stored(store: StationStore):
    """Everything the backend holds, read afresh: (version, features, audit entries)."""
    version, features = store.backend.load()
    return version, features, store.audit.entries()


def test_snapshot_reads_all_in_order_and_filters_active(store):
    snap = store.snapshot()
    assert len(snap) == 12 and len(snap.active) == 11 and snap.version == 0
    assert snap.features == SMALL_REGISTRY  # same stations, same properties, same order
    assert snap.frame.crs.to_epsg() == 4326
    with pytest.raises(NotFoundError):
        snap.get("500103-OS-7777")


def test_snapshot_is_reused_until_a_write(store):
    first = store.snapshot()
    assert store.snapshot() is first
    store.add([new_station()], YUZHONG)
    second = store.snapshot()
    assert second is not first and second.version == first.version + 1


def test_add_assigns_next_id_timestamps_source_and_audits(store, opener):
    ids = store.add([new_station(), new_station(lon=106.5820)], YUZHONG)
    assert ids == ["500103-OS-0005", "500103-OS-0006"]  # after 0001-0004, retired 0004 included
    added = store.get("500103-OS-0005")["properties"]
    assert added["status"] == "active" and added["source"] == "district_upload"
    assert added["created_at"] == added["updated_at"] and added["created_at"].endswith("+08:00")
    (entry,) = store.history("500103-OS-0005")
    assert entry["actor"] == "渝中区总工会" and entry["district"] == "500103" and entry["actions"] == ["add"]
    assert entry["version"] == store.snapshot().version == 1 and entry["changes"][0]["before"] is None
    # Another process sees the same registry.
    other = opener()
    assert other.snapshot().version == 1 and other.get("500103-OS-0006") == store.get("500103-OS-0006")


def test_update_retire_restore_history(store):
    store.update("500103-OS-0001", {"name": "解放碑驿站"}, YUZHONG, coordinates=[106.5772, 29.5575])
    after = store.get("500103-OS-0001")
    assert after["properties"]["name"] == "解放碑驿站" and after["geometry"]["coordinates"] == [106.5772, 29.5575]
    store.retire("500103-OS-0001", YUZHONG)
    assert store.get("500103-OS-0001")["properties"]["status"] == "retired"
    assert "500103-OS-0001" not in set(store.snapshot().active["id"])
    store.restore("500103-OS-0001", CLI_ACTOR)
    history = store.history("500103-OS-0001")
    assert [e["actions"] for e in history] == [["update"], ["retire"], ["restore"]]
    assert [e["version"] for e in history] == [1, 2, 3]
    update = history[0]["changes"][0]
    assert update["before"]["properties"]["name"] != update["after"]["properties"]["name"]


def test_retired_ids_are_never_reused(store):
    [new_id] = store.add([new_station()], YUZHONG)
    store.retire(new_id, YUZHONG)
    assert store.add([new_station()], YUZHONG) == ["500103-OS-0006"]


def test_audit_filters(store):
    store.add([new_station()], YUZHONG)
    store.add([new_station(lon=106.5740, lat=29.5860, adcode="500105")], JIANGBEI)
    store.retire("500105-OS-0001", CLI_ACTOR)
    audit = store.audit
    assert [e["version"] for e in audit.entries(actor=JIANGBEI.name)] == [2]
    assert [e["version"] for e in audit.entries(district="500105")] == [2, 3]  # the admin's retire touched 500105
    assert [e["version"] for e in audit.entries(action="retire")] == [3]
    assert [e["version"] for e in audit.entries(station_id="500103-OS-0005")] == [1]


@pytest.mark.parametrize("actor,call", [
    (JIANGBEI, lambda s, a: s.update("500103-OS-0001", {"name": "x"}, a)),
    (JIANGBEI, lambda s, a: s.retire("500103-OS-0001", a)),
    (JIANGBEI, lambda s, a: s.add([new_station()], a)),
    (YUZHONG, lambda s, a: s.update("500103-OS-0002", {"district_adcode": "500105"}, a)),
    (YUZHONG, lambda s, a: s.restore("500103-OS-0004", a)),
    (YUZHONG, lambda s, a: s.update("500103-OS-0001", {"honours": []}, a)),
    (YUZHONG, lambda s, a: s.add([new_station(honours=("national_most_beautiful",))], a)),
    (PLANNER, lambda s, a: s.add([new_station()], a)),
    (PLANNER, lambda s, a: s.retire("500103-OS-0001", a)),
], ids=["other-district-edit", "other-district-retire", "other-district-add", "move-to-other-district",
        "district-restores", "district-drops-honour", "district-claims-honour", "planner-adds", "planner-retires"])
def test_writes_outside_ones_rights_change_nothing(store, actor, call):
    before = stored(store)
    with pytest.raises(PermissionDeniedError):
        call(store, actor)
    assert stored(store) == before and before[2] == []


@pytest.mark.parametrize("call,error,message", [
    (lambda s: s.add([new_station(), new_station(lon=106.4560, lat=29.5410)], YUZHONG), ValidationError, "lies in 沙坪坝区"),
    (lambda s: s.add([new_station(), new_station(kind="cafe")], YUZHONG), ValidationError, "unknown kind"),
    (lambda s: s.add([new_station(), new_station(hours="whenever")], YUZHONG), ValidationError, "opening_hours"),
    (lambda s: s.add([new_station(), new_station(lon=float("nan"))], YUZHONG), ValidationError, "finite"),
    (lambda s: s.add([], YUZHONG), ValidationError, "nothing to add"),
    (lambda s: s.update("500103-OS-0001", {"id": "500103-OS-0100"}, YUZHONG), ValidationError, "cannot be changed"),
    (lambda s: s.update("500103-OS-0001", {"status": "retired"}, YUZHONG), ValidationError, "cannot be changed"),
    (lambda s: s.update("500103-OS-0001", {}, YUZHONG, coordinates=[106.4560, 29.5410]), ValidationError, "沙坪坝区"),
    (lambda s: s.update("500103-OS-0001", {"kind": "cafe"}, YUZHONG), ValidationError, "unknown kind"),
    (lambda s: s.retire("500103-OS-0004", YUZHONG), ValidationError, "already"),
    (lambda s: s.update("500103-OS-7777", {"name": "x"}, YUZHONG), NotFoundError, "7777"),
])
def test_bad_input_changes_nothing(store, call, error, message):
    before = stored(store)
    with pytest.raises(error, match=message):
        call(store)
    assert stored(store) == before
    assert store.snapshot().version == 0


def test_only_an_admin_records_honours(store):
    before = stored(store)
    with pytest.raises(PermissionDeniedError, match="honours"):
        store.add([new_station(honours=("national_most_beautiful",))], YUZHONG)
    own = "500103-OS-0002"
    with pytest.raises(PermissionDeniedError, match="honours"):
        store.update(own, {"honours": ["national_most_beautiful"]}, YUZHONG)
    assert stored(store) == before
    # Other edits keep the honours as they are; an admin may set and clear them.
    store.update("500103-OS-0001", {"name": "解放碑驿站"}, YUZHONG)
    assert store.get("500103-OS-0001")["properties"]["honours"] == ["national_most_beautiful"]
    new_id, = store.add([new_station(honours=("national_most_beautiful",))], CLI_ACTOR)
    assert store.get(new_id)["properties"]["honours"] == ["national_most_beautiful"]
    store.update(new_id, {"honours": []}, CLI_ACTOR)
    assert store.get(new_id)["properties"]["honours"] == []


def test_store_keeps_only_what_a_station_may_carry(store):
    feature = new_station()
    feature["extra"] = "<script>"
    [new_id] = store.add([feature], YUZHONG)
    assert set(store.get(new_id)) == {"type", "geometry", "properties"}


def test_conflicting_edit_of_the_same_station_is_refused(store, opener):
    """Two clerks open the same station on two servers; the second save must not overwrite the first."""
    other = opener()
    seen_here, seen_there = store.get("500103-OS-0002"), other.get("500103-OS-0002")
    store.update("500103-OS-0002", {"name": "先保存的名字"}, YUZHONG, base=seen_here)
    before = stored(store)
    with pytest.raises(ConflictError, match="500103-OS-0002"):
        other.update("500103-OS-0002", {"phone": "023-11111111"}, YUZHONG, base=seen_there)
    with pytest.raises(ConflictError):
        other.retire("500103-OS-0002", YUZHONG, base=seen_there)
    assert stored(store) == before
    assert other.get("500103-OS-0002")["properties"]["name"] == "先保存的名字"  # the refusal left it current


def test_concurrent_uploads_from_different_districts_all_land(opener):
    """Two handles (two servers), three threads each, adding at once: every station lands, ids unique."""
    stores = [opener(), opener()]
    actors = [YUZHONG, JIANGBEI]
    points = {"500103": (106.5800, 29.5600), "500105": (106.5740, 29.5860)}
    errors, ids = [], []
    start = threading.Barrier(6)

    def upload(store, actor, n):
        start.wait()
        lon, lat = points[actor.district_adcode]
        for i in range(5):
            try:
                ids.extend(store.add([new_station(lon + 0.0001 * i, lat + 0.0001 * n, adcode=actor.district_adcode)], actor))
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

    threads = [threading.Thread(target=upload, args=(stores[n % 2], actors[n // 3], n)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(ids) == len(set(ids)) == 30
    fresh = opener()
    snap = fresh.snapshot()
    assert snap.version == 30 and all(i in snap.by_id for i in ids)
    assert sorted(e["version"] for e in fresh.audit.entries()) == list(range(1, 31))


def test_a_follower_sees_another_handles_write_within_a_second(store, opener):
    """``keep_current``: reads never check storage; the background watcher swaps the new version in."""
    follower = opener()
    warmed = []
    follower.warm_with(lambda snap: warmed.append(snap.version))
    follower.keep_current()
    first = follower.snapshot()
    [new_id] = store.add([new_station()], YUZHONG)
    deadline = time.monotonic() + 5
    while follower.snapshot() is first and time.monotonic() < deadline:
        time.sleep(0.02)
    assert follower.snapshot().version == 1 and new_id in follower.snapshot().by_id
    assert warmed[-1] == 1  # built and warmed before it was served


def test_following_only_in_forked_processes_starts_no_watcher_here(store, opener, monkeypatch):
    """``keep_current(here=False)`` (a server's parent, which only supervises): no watcher runs in this
    process, where it would hold a connection and the interpreter while the workers are forked."""
    follower = opener()
    started = []
    monkeypatch.setattr(follower.backend, "watch", lambda callback: started.append(callback))
    follower.snapshot()  # loaded first, as `stationmap serve` does (with the nearest index) before the app is made
    follower.keep_current(here=False)
    first = follower.snapshot()
    follower.snapshot()
    assert started == [] and first.version == 0
    monkeypatch.setattr("os.getpid", lambda: -1)  # as in a worker forked from it: the worker follows
    follower.snapshot()
    assert len(started) == 1


def test_readers_keep_the_previous_version_while_the_next_is_built(store):
    """A write never stalls readers: while the next version's index is being built, reads get the previous one."""
    building, release = threading.Event(), threading.Event()

    def slow_index(snapshot):
        if snapshot.version > 0:
            building.set()
            release.wait(10)

    store.warm_with(slow_index)
    store.keep_current()
    first = store.snapshot()
    [new_id] = store.add([new_station()], YUZHONG)  # acknowledged at commit, before the index is built
    assert building.wait(10)
    # No wait: the previous version. (The file's watcher may have re-read version 0 as a new object
    # when its catch-up raced the write; what matters is the version and that the new station is not in it.)
    during = store.snapshot()
    assert during.version == first.version == 0 and new_id not in during.by_id
    release.set()
    deadline = time.monotonic() + 10
    while new_id not in store.snapshot().by_id and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.snapshot().version == 1 and new_id in store.snapshot().by_id


def test_the_next_versions_table_is_patched_not_rebuilt_and_equals_a_rebuild(store):
    from geopandas.testing import assert_geodataframe_equal

    from geo.registry import stations_frame

    store.snapshot().frame  # noqa: B018 - built, so the next version patches it
    store.update("500103-OS-0002", {"name": "改名"}, YUZHONG, coordinates=[106.5701, 29.5561])
    store.add([new_station(), new_station(lon=106.5820)], YUZHONG)
    store.retire("500105-OS-0001", CLI_ACTOR)
    snap = store.snapshot()
    assert "frame" not in vars(snap) and snap._frame_base is not None  # patched on first use, from the old one
    import geo.registry.snapshot as snapshot_module

    rebuilt = []
    real = snapshot_module.table_frame
    snapshot_module.table_frame = lambda table: rebuilt.append(len(table)) or real(table)
    try:
        frame = snap.frame
    finally:
        snapshot_module.table_frame = real
    assert rebuilt == [4]  # only the four stations written since were made into rows
    assert_geodataframe_equal(frame, stations_frame(snap.features))
    assert list(snap.active["id"]) == [f["properties"]["id"] for f in snap.features if f["properties"]["status"] == "active"]
