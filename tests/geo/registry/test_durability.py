"""The file registry survives SIGKILL mid-write, concurrent writers, and refuses to overwrite a corrupt file."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import time

import numpy as np
import pytest

from geo.access.permissions import Actor
from geo.errors import RegistryUnavailableError
from geo.registry import GeoJSONFileStore
from geo.registry.validate import validate_file_bytes
from tests.conftest import SMALL_REGISTRY

ADMIN = Actor("city", "admin")
YUZHONG = Actor("yuzhong", "district", "500103")
FORK = multiprocessing.get_context("fork")  # children inherit the loaded district map: they start in milliseconds


@pytest.fixture(scope="module")
def yuzhong_points(districts):
    """A few thousand distinct points inside 渝中区 (WGS-84)."""
    lon, lat = np.meshgrid(np.linspace(106.50, 106.58, 80), np.linspace(29.540, 29.565, 40))
    lon, lat = lon.ravel(), lat.ravel()
    inside = districts.locate(lon, lat) == "500103"
    return list(zip(lon[inside].round(6).tolist(), lat[inside].round(6).tolist(), strict=True))


def new_station(name: str, lon: float, lat: float) -> dict:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {"kind": "outdoor_station", "name": name, "address": "重庆市渝中区测试路", "district_adcode": "500103",
                           "district": "渝中区", "operator": "渝中区总工会", "opening_hours": "24/7", "amenities": ["rest"]}}


def _keep_committing(path, districts, points, tag):
    store = GeoJSONFileStore(path, districts)
    for i in range(10**6):
        lon, lat = points[i % len(points)]
        store.add([new_station(f"{tag}-{i}", lon, lat)], YUZHONG)


def _add_some(path, districts, points, worker, count, start):
    start.wait()
    store = GeoJSONFileStore(path, districts)
    for i in range(count):
        lon, lat = points[(worker * count + i) % len(points)]
        store.add([new_station(f"worker{worker}-{i}", lon, lat)], YUZHONG)


def check_consistent(path, districts) -> int:
    """Open as a restarting server would; the file, its version and the audit log must agree. Returns the version."""
    store = GeoJSONFileStore(path, districts)  # cleans orphan temp files and a torn audit line; keeps every entry
    snap = store.snapshot()
    validate_file_bytes(path.read_bytes(), districts)
    history = store.history()
    versions = [e["version"] for e in history]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)   # append-only, increasing
    # Every station in the file was logged, at a version the file reached; a kill between the log append and the
    # file replace leaves one entry ahead of the file, recorded as a mismatch by the next write.
    added = [f["properties"]["id"] for f in snap.features[len(SMALL_REGISTRY):]]
    landed = [e for e in history if e["version"] <= snap.version and "add" in e["actions"]]
    assert set(added) <= {i for e in history for i in e["ids"]}
    status = store.audit_status()
    assert status["consistent"] == (versions[-1] <= snap.version if versions else True)
    ahead = [e for e in history if "add" in e["actions"] and e["ids"][0] not in set(added)]
    assert len(ahead) <= len([e for e in history if "registry_mismatch" in e["actions"]]) + (0 if status["consistent"] else 1)
    assert len(landed) >= len(added)
    assert not list(path.parent.glob(".*.tmp-write"))
    return len(added)


@pytest.mark.slow
def test_sigkill_at_random_moments_never_corrupts_the_registry(registry_path, districts, yuzhong_points):
    rng = random.Random(20250601)
    versions = [0]
    orphans_seen = 0
    for kill in range(40):
        child = FORK.Process(target=_keep_committing, args=(registry_path, districts, yuzhong_points, f"k{kill}"))
        child.start()
        time.sleep(rng.uniform(0.02, 0.5))
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        assert child.exitcode == -signal.SIGKILL
        orphans_seen += len(list(registry_path.parent.glob(".*.tmp-write")))
        version = check_consistent(registry_path, districts)
        assert version >= versions[-1]
        versions.append(version)
    assert versions[-1] > 40  # the children did commit in between the kills
    print(f"\n{versions[-1]} commits across 40 kills; {orphans_seen} kills landed mid-write (orphan temp file)")


@pytest.mark.slow
def test_concurrent_writers_lose_nothing(registry_path, districts, yuzhong_points):
    workers, each = 5, 10
    start = FORK.Event()
    children = [FORK.Process(target=_add_some, args=(registry_path, districts, yuzhong_points, w, each, start))
                for w in range(workers)]
    for child in children:
        child.start()
    start.set()
    for child in children:
        child.join(timeout=300)
        assert child.exitcode == 0
    assert check_consistent(registry_path, districts) == workers * each
    snap = GeoJSONFileStore(registry_path, districts).snapshot()
    ids = [f["properties"]["id"] for f in snap.features]
    assert len(set(ids)) == len(ids)
    names = {f["properties"]["name"] for f in snap.features}
    assert {f"worker{w}-{i}" for w in range(workers) for i in range(each)} <= names
    assert sorted(ids[len(SMALL_REGISTRY):]) == [f"500103-OS-{n:04d}" for n in range(5, 5 + workers * each)]


def _add_with_inherited_store(store, points, count):
    for i in range(count):
        lon, lat = points[i]
        store.add([new_station(f"inherited-{os.getpid()}-{i}", lon, lat)], YUZHONG)


def test_a_store_made_before_a_fork_writes_from_every_child(registry_path, districts, yuzhong_points):
    # The web server builds its store, then forks its workers: each must take the lock and write.
    store = GeoJSONFileStore(registry_path, districts)
    store.add([new_station("parent", *yuzhong_points[-1])], YUZHONG)  # the parent has used its lock too
    children = [FORK.Process(target=_add_with_inherited_store, args=(store, yuzhong_points[w * 3:], 3)) for w in range(3)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=120)
        assert child.exitcode == 0
    assert check_consistent(registry_path, districts) == 1 + 3 * 3


CORRUPTIONS = {
    "empty": lambda raw: b"",
    "truncated": lambda raw: raw[: len(raw) // 2],
    "not-json": lambda raw: b"<html>502 Bad Gateway</html>",
    "nan": lambda raw: raw.replace(b"106.577", b"NaN", 1),
    "bad-station": lambda raw: raw.replace(b'"kind":"bookshelf"', b'"kind":"library"', 1),
    "duplicate-id": lambda raw: raw.replace(b"500103-OS-0002", b"500103-OS-0001", 1),
}


@pytest.mark.parametrize("corrupt", list(CORRUPTIONS), ids=list(CORRUPTIONS))
def test_corrupt_registry_at_startup_is_refused_and_kept(registry_path, districts, corrupt):
    bad = CORRUPTIONS[corrupt](registry_path.read_bytes())
    registry_path.write_bytes(bad)
    with pytest.raises(RegistryUnavailableError, match=str(registry_path)):
        GeoJSONFileStore(registry_path, districts)
    assert registry_path.read_bytes() == bad


@pytest.mark.parametrize("corrupt", list(CORRUPTIONS), ids=list(CORRUPTIONS))
def test_write_to_a_registry_corrupted_meanwhile_is_refused(registry_path, districts, corrupt):
    store = GeoJSONFileStore(registry_path, districts)
    store.snapshot()
    bad = CORRUPTIONS[corrupt](registry_path.read_bytes())
    registry_path.write_bytes(bad)
    with pytest.raises(RegistryUnavailableError, match="will not be overwritten|cannot read"):
        store.add([new_station("新驿站", 106.5790, 29.5600)], YUZHONG)
    assert registry_path.read_bytes() == bad
    assert store.history() == []
    assert not list(registry_path.parent.glob(".*.tmp-write"))


def test_same_size_same_mtime_edit_is_still_noticed_by_writers(registry_path, districts):
    """Writers trust bytes they validated by content digest, never by stat(): an in-place edit
    that keeps size and mtime is still read and validated."""
    store = GeoJSONFileStore(registry_path, districts)
    store.add([new_station("新驿站", 106.5790, 29.5600)], YUZHONG)
    st = os.stat(registry_path)
    raw = registry_path.read_bytes()
    bad = raw.replace(b'"kind":"bookshelf"', b'"kind":"bookshelx"', 1)
    assert len(bad) == len(raw) and bad != raw
    with open(registry_path, "r+b") as handle:
        handle.write(bad)
    os.utime(registry_path, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(RegistryUnavailableError, match="unknown kind 'bookshelx'"):
        store.add([new_station("又一个", 106.5600, 29.5550)], YUZHONG)
    assert registry_path.read_bytes() == bad


def test_write_after_write_in_one_process_reuses_validated_content(registry_path, districts, monkeypatch):
    """The second write does not re-validate the whole registry it wrote itself."""
    import geo.registry.filestore as registry

    store = GeoJSONFileStore(registry_path, districts)
    store.add([new_station("一", 106.5790, 29.5600)], YUZHONG)
    calls = []
    real = registry.validate_feature_collection
    monkeypatch.setattr(registry, "validate_feature_collection", lambda *a: calls.append(1) or real(*a))
    store.add([new_station("二", 106.5600, 29.5550)], YUZHONG)
    assert calls == []
    fresh = GeoJSONFileStore(registry_path, districts)  # another process: trusts the writer's receipt
    assert calls == []
    fresh.backend._receipt_path.unlink()
    fresh = GeoJSONFileStore(registry_path, districts)  # no receipt: validates what it reads
    assert calls == [1]
    assert len(fresh.snapshot()) == len(SMALL_REGISTRY) + 2
    assert json.loads(registry_path.read_bytes()) == json.loads(registry.dump_feature_collection(fresh.snapshot().features, 2))


def test_store_keeps_only_what_a_station_may_carry(store):
    """A client's foreign members and a district's claimed ``source`` never reach the registry."""
    feature = new_station("新驿站", 106.5790, 29.5600)
    feature["properties"]["source"] = "sample"
    feature["blob"] = "x" * 10_000
    feature["bbox"] = [0, 0, 1, 1]
    (sid,) = store.add([feature], YUZHONG)
    stored = store.get(sid)
    assert set(stored) == {"type", "geometry", "properties"}
    assert stored["properties"]["source"] == "district_upload"
    (sid,) = store.add([new_station("管理员导入", 106.5600, 29.5550)], ADMIN)
    assert store.get(sid)["properties"]["source"] == "admin"


def test_a_follower_keeps_the_last_good_version_of_a_file_corrupted_meanwhile_and_says_so_once(registry_path, districts,
                                                                                             capfd):
    """A server following the file (``keep_current``) while someone leaves it broken: riders keep the last good
    version, the server's log says why in one line (not one per poll), and a repaired file is followed again."""
    store = GeoJSONFileStore(registry_path, districts)
    store.keep_current()
    good = store.snapshot()
    raw = registry_path.read_bytes()
    broken = registry_path.with_name("broken.tmp")  # replaced at once: a watcher never reads it half-written
    broken.write_bytes(CORRUPTIONS["truncated"](raw))
    os.replace(broken, registry_path)
    said = ""
    deadline = time.monotonic() + 10
    while "still serving the last good version" not in said and time.monotonic() < deadline:
        time.sleep(0.05)
        said += capfd.readouterr().err
    time.sleep(1.0)  # five more polls of the broken file (one every 0.2 s)
    said += capfd.readouterr().err
    assert store.snapshot() is good
    reported = [line for line in said.splitlines() if "still serving the last good version" in line]
    assert len(reported) == 1 and str(registry_path) in reported[0], reported
    repaired = json.loads(raw)
    repaired["features"][0]["properties"]["name"] += "（修复后）"
    broken.write_bytes(json.dumps(repaired, ensure_ascii=False).encode())
    os.replace(broken, registry_path)
    deadline = time.monotonic() + 10
    while store.snapshot() is good and time.monotonic() < deadline:
        time.sleep(0.05)
    first = store.snapshot().features[0]["properties"]["name"]
    assert store.snapshot() is not good and first.endswith("（修复后）")
    store.close()


def test_a_corrupt_registry_is_explained_in_the_readers_language(registry_path, districts):
    """What the server prints at start (``stationmap serve``): the file, the first problem with its feature and
    field, and how many more, in Chinese or English; a whole-file problem names the file once."""
    from geo.messages import localise, message_of

    registry_path.write_bytes(CORRUPTIONS["bad-station"](registry_path.read_bytes()))
    with pytest.raises(RegistryUnavailableError) as caught:
        GeoJSONFileStore(registry_path, districts)
    zh, en = localise(message_of(caught.value), "zh"), localise(message_of(caught.value), "en")
    assert zh.startswith(f"站点登记文件已损坏，不会被覆盖：{registry_path}：第 ") and "library" in zh and "kind" not in zh, zh
    assert en.startswith(f"registry is corrupt and will not be overwritten: {registry_path}: features[") and "library" in en
    registry_path.write_bytes(b"<html>502 Bad Gateway</html>")
    with pytest.raises(RegistryUnavailableError) as caught:
        GeoJSONFileStore(registry_path, districts)
    zh = localise(message_of(caught.value), "zh")
    assert zh.count(str(registry_path)) == 1 and "不是有效的 JSON" in zh, zh
