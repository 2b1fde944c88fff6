"""The file store: reads, versioned snapshots, audited writes that are all-or-nothing."""

from __future__ import annotations

import json

import pytest

from geo.access.permissions import Actor
from geo.errors import NotFoundError, PermissionDeniedError, RegistryUnavailableError, ValidationError
from geo.registry import GeoJSONFileStore
from geo.registry.audit import make_entry
from tests.conftest import make_station

YUZHONG = Actor("渝中区总工会", "district", "500103")
JIANGBEI = Actor("江北区总工会", "district", "500105")
PLANNER = Actor("规划", "planner")


def new_station(lon=106.5800, lat=29.5600, **kw):
    feature = make_station("500103-OS-9999", lon, lat, **kw)
    for key in ("id", "status", "created_at", "updated_at", "source"):
        feature["properties"].pop(key)
    return feature


def test_a_refused_write_leaves_the_file_byte_identical(store, registry_path):
    """The contract suite compares what the backend holds; here the bytes themselves."""
    before = registry_path.read_bytes()
    with pytest.raises(PermissionDeniedError):
        store.update("500103-OS-0001", {"name": "x"}, JIANGBEI)
    with pytest.raises(ValidationError):
        store.add([new_station(), new_station(kind="cafe")], YUZHONG)
    assert registry_path.read_bytes() == before and store.history() == []


def test_no_temp_files_left_and_file_stays_valid_geojson(store, registry_path):
    store.add([new_station()], YUZHONG)
    assert [p.name for p in registry_path.parent.iterdir() if "tmp" in p.name] == []
    data = json.loads(registry_path.read_text())
    assert data["type"] == "FeatureCollection" and data["registry_version"] == 1


def test_corrupt_registry_refuses_to_start_and_is_not_overwritten(tmp_path, districts):
    path = tmp_path / "stations.geojson"
    path.write_text('{"type": "FeatureCollection", "features": [')
    with pytest.raises(RegistryUnavailableError, match=str(path)):
        GeoJSONFileStore(path, districts)
    assert path.read_text() == '{"type": "FeatureCollection", "features": ['


def test_audit_log_ahead_of_the_file_is_kept_and_reported(store, registry_path):
    """Issue 13: opening an older registry file never truncates the log; the mismatch is reported and recorded."""
    store.add([new_station()], YUZHONG)
    # A crash after the audit append but before the file replace (or a restored older file) …
    store.audit.append(make_entry(99, YUZHONG, [("add", None, make_station("500103-OS-0050", 106.58, 29.56))]))
    with open(store.audit.path, "ab") as handle:
        handle.write(b'{"version": 100, "torn')   # … and a line torn by the crash
    reopened = GeoJSONFileStore(registry_path, store.districts)
    assert [e["version"] for e in reopened.history()] == [1, 99]     # only the torn line went
    assert reopened.audit_status() == {"file_version": 1, "log_version": 99, "consistent": False}
    reopened.add([new_station(106.5600, 29.5550, name="下一个")], YUZHONG)
    history = reopened.history()
    assert [e["version"] for e in history] == [1, 99, 100, 101]
    assert history[2]["actions"] == ["registry_mismatch"] and history[2]["file_version"] == 1
    assert reopened.snapshot().version == 101 and reopened.audit_status()["consistent"]


def test_restoring_an_older_registry_file_keeps_the_whole_log(store, registry_path):
    backup = registry_path.read_bytes()
    store.add([new_station()], YUZHONG)
    store.add([new_station(106.5600, 29.5550, name="二号")], YUZHONG)
    registry_path.write_bytes(backup)                      # restore the backup: version 0
    reopened = GeoJSONFileStore(registry_path, store.districts)
    assert [e["version"] for e in reopened.history()] == [1, 2]
    assert not reopened.audit_status()["consistent"]


def test_second_open_trusts_the_validation_receipt(registry_path, districts, monkeypatch):
    GeoJSONFileStore(registry_path, districts)  # validates and leaves a receipt
    import geo.registry.filestore

    def must_not_run(*args, **kwargs):
        raise AssertionError("validated again although the bytes are unchanged")

    monkeypatch.setattr(geo.registry.filestore, "validate_feature_collection", must_not_run)
    assert len(GeoJSONFileStore(registry_path, districts).snapshot()) == 12


def test_hand_edited_file_is_validated_despite_an_old_receipt(registry_path, districts):
    GeoJSONFileStore(registry_path, districts)
    text = registry_path.read_text().replace('"kind":"bookshelf"', '"kind":"cafe"', 1)
    registry_path.write_text(text)
    with pytest.raises(RegistryUnavailableError, match="unknown kind 'cafe'"):
        GeoJSONFileStore(registry_path, districts)


def test_writes_keep_the_registry_files_permissions(store, registry_path):
    """Issue 13: the first write used to turn 0644 into 0600 (mkstemp's mode)."""
    import os
    import stat

    os.chmod(registry_path, 0o644)
    store.add([new_station()], YUZHONG)
    assert stat.S_IMODE(os.stat(registry_path).st_mode) == 0o644
    os.chmod(registry_path, 0o664)
    store.add([new_station(106.5600, 29.5550, name="二号")], YUZHONG)
    st = os.stat(registry_path)
    assert stat.S_IMODE(st.st_mode) == 0o664 and st.st_uid == os.getuid()


def test_retiring_keeps_the_reason_in_the_audit(store):
    (sid,) = store.add([new_station()], YUZHONG)
    store.retire(sid, YUZHONG, reason="场地拆迁")
    entry = store.history(sid)[-1]
    assert entry["actions"] == ["retire"] and entry["reason"] == "场地拆迁"


def test_apply_upload_is_one_audited_write(store):
    (sid,) = store.add([new_station()], YUZHONG)
    version = store.snapshot().version
    result = store.apply_upload([new_station(106.5600, 29.5550, name="新站")], [(sid, {"phone": "023-11111111"}, None)], YUZHONG)
    assert result["updated"] == [sid] and len(result["added"]) == 1
    assert store.snapshot().version == version + 1
    entry = store.history()[-1]
    assert sorted(entry["actions"]) == ["add", "update"] and set(entry["ids"]) == {sid, *result["added"]}
    with pytest.raises(NotFoundError):
        store.apply_upload([new_station(106.5700, 29.5650, name="又一个")], [("500103-OS-7777", {"phone": "1"}, None)], YUZHONG)
    assert store.snapshot().version == version + 1            # all or nothing
