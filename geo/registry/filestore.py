"""The registry as one RFC 7946 GeoJSON file (the embedded default), and its serialisation."""

from __future__ import annotations

import copy
import gc
import hashlib
import json
import os
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from threading import Lock

import shapely

from geo import schema
from geo.access.permissions import Actor, require_honours_unchanged, require_write
from geo.districts import Districts
from geo.errors import Problem, RegistryUnavailableError, ValidationError
from geo.fileio import ProcessFileLock, atomic_write_bytes, remove_orphan_temp_files
from geo.messages import Label, Text
from geo.registry import validate as validate_module
from geo.registry.audit import AuditLog
from geo.registry.snapshot import Snapshot
from geo.registry.store import StationStore, check_features, find_feature, now_iso, prepare_new_features
from geo.registry.validate import parse_json_strict, validate_feature_collection

VERSION_MEMBER = "registry_version"


class GeoJSONFileStore(StationStore):
    """The registry as one RFC 7946 file, written atomically under an inter-process lock.

    Every write: take the lock, re-read the file, apply the change, validate it, append the
    audit entry (tagged with the new version), then atomically replace the file.

    The audit log is append-only (issue 13): opening an older registry file, as after
    restoring a backup, never truncates it. ``audit_status()`` reports a log that is ahead
    of the file; the next write records the mismatch in the log and numbers itself after
    the log's last version, so versions in the log only ever increase.

    Parameters
    ----------
    path : path of ``stations.geojson``
    districts : Districts
    audit_path : JSON-lines audit log; default ``<path stem>.audit.jsonl`` beside it.
    """

    def __init__(self, path: str | Path, districts: Districts, audit_path: str | Path | None = None):
        self.path = Path(path)
        self.districts = districts
        self.audit = AuditLog(audit_path or self.path.with_name(self.path.stem + ".audit.jsonl"))
        self.lock = ProcessFileLock(str(self.path) + ".lock", timeout=60)
        self._snapshot: Snapshot | None = None
        self._stamp = None
        self._read_lock = Lock()
        # (blake2b of the file, its version, its features, {id(feature): its line} if we wrote it)
        self._validated: tuple[bytes, int, list[dict], dict | None] | None = None
        if not self.path.exists():
            raise RegistryUnavailableError(Text("registry.not_found_file", path=str(self.path)))
        with self.lock:
            remove_orphan_temp_files(self.path)
            remove_orphan_temp_files(self._receipt_path)
            self._read_file()             # refuse a corrupt registry at start-up
            self.audit.drop_torn_tail()   # only a line cut short by a crash; whole entries stay

    # -- reading ----------------------------------------------------------------

    def _file_stamp(self):
        st = os.stat(self.path)
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _read_file(self) -> tuple[int, list[dict]]:
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise RegistryUnavailableError(Text("registry.unreadable", path=str(self.path), detail=exc.strerror)) from exc
        # Parsing and validating 200k stations takes tens of seconds; bytes this process
        # already validated (or wrote itself) are trusted again by their digest, not by stat().
        digest = hashlib.blake2b(raw, digest_size=32).digest()
        validated = self._validated
        if validated is not None and validated[0] == digest:
            return validated[1], validated[2]
        # Across processes (each gunicorn worker, each CLI run) a receipt beside the file
        # records the digest of the bytes last validated by this code and district map.
        receipt = f"{digest.hex()} {self._fingerprint}"
        trusted = self._read_receipt() == receipt
        try:
            with _gc_paused():
                data = parse_json_strict(raw, str(self.path))
                problems = [] if trusted else validate_feature_collection(data, self.districts)
            if problems:
                raise ValidationError(problems, source=str(self.path))
        except ValidationError as exc:
            raise RegistryUnavailableError(Text("registry.corrupt", detail=str(exc))) from exc
        version = data.get(VERSION_MEMBER, 0)
        version = version if isinstance(version, int) else 0
        self._validated = (digest, version, data["features"], None)
        if not trusted:
            self._write_receipt(receipt)
        return version, data["features"]

    @cached_property
    def _fingerprint(self) -> str:
        """Digest of what validation depends on: the schema and validator code, the district map."""
        h = hashlib.blake2b(digest_size=16)
        for module in (schema, validate_module):
            h.update(Path(module.__file__).read_bytes())
        frame = self.districts.frame
        h.update("|".join(frame["adcode"]).encode())
        h.update(b"".join(shapely.to_wkb(frame.geometry.to_numpy())))
        return h.hexdigest()

    @property
    def _receipt_path(self) -> Path:
        return self.path.with_name(f".{self.path.name}.validated")

    def _read_receipt(self) -> str | None:
        try:
            return self._receipt_path.read_text().strip()
        except OSError:
            return None

    def _write_receipt(self, receipt: str) -> None:
        try:
            atomic_write_bytes(self._receipt_path, receipt.encode())
        except OSError:
            pass  # a read-only data directory only costs re-validation next time

    def snapshot(self) -> Snapshot:
        """Current snapshot; re-reads only when the file's inode/mtime/size changed (one stat)."""
        stamp = self._file_stamp()
        if self._snapshot is not None and stamp == self._stamp:
            return self._snapshot
        with self._read_lock:
            stamp = self._file_stamp()
            if self._snapshot is None or stamp != self._stamp:
                version, features = self._read_file()
                self._snapshot = Snapshot(version, features, self.districts)
                self._stamp = stamp
        return self._snapshot

    def history(self, station_id: str | None = None) -> list[dict]:
        return self.audit.entries(station_id=station_id)

    def audit_entries(self, station_id: str | None = None, actor: str | None = None, district: str | None = None,
                      action: str | None = None) -> list[dict]:
        return self.audit.entries(station_id=station_id, actor=actor, district=district, action=action)

    def audit_status(self) -> dict:
        """``{"file_version", "log_version", "consistent"}``: the log is ahead of the file after a restore or a crash."""
        file_version, log_version = self.snapshot().version, self.audit.last_version()
        return {"file_version": file_version, "log_version": log_version, "consistent": log_version <= file_version}

    # -- writing ----------------------------------------------------------------

    def add(self, features: list[dict], actor: Actor) -> list[str]:
        if not features:
            raise ValidationError(Problem("features", Text("registry.nothing_to_add")))
        for f in features:
            adcode = (f.get("properties") or {}).get("district_adcode") if isinstance(f, dict) else None
            require_write(actor, adcode)

        def change(current: list[dict]):
            new = prepare_new_features(features, current, actor, self.districts)
            return current + new, [("add", None, f) for f in new]

        return [after["properties"]["id"] for _, _, after in self._write(change, actor)]

    def update(self, station_id: str, changes: dict, actor: Actor, coordinates=None) -> dict:
        _check_protected(changes)

        def change(current: list[dict]):
            i, before, after = self._updated(current, station_id, changes, actor, coordinates)
            return current[:i] + [after] + current[i + 1 :], [("update", before, after)]

        return self._write(change, actor)[0][2]

    def _updated(self, current, station_id, changes, actor, coordinates):
        i, before = find_feature(current, station_id)
        require_write(actor, before["properties"]["district_adcode"])
        after = copy.deepcopy(before)
        after["properties"].update(changes)
        require_honours_unchanged(actor, before["properties"].get("honours"), after["properties"].get("honours"))
        if "district_adcode" in changes:
            require_write(actor, changes["district_adcode"])
        if coordinates is not None:
            after["geometry"] = {"type": "Point", "coordinates": list(coordinates)}
        after["properties"]["updated_at"] = now_iso()
        check_features([after], f"station {station_id}", self.districts)
        return i, before, after

    def apply_upload(self, new_features: list[dict], updates: list[tuple[str, dict, list | None]], actor: Actor) -> dict:
        """New stations and updates from one upload in a single audited write: all or nothing."""
        for _, changes, _ in updates:
            _check_protected(changes)
        for f in new_features:
            require_write(actor, (f.get("properties") or {}).get("district_adcode") if isinstance(f, dict) else None)
        if not new_features and not updates:
            raise ValidationError(Problem("features", Text("registry.nothing_to_add")))

        def change(current: list[dict]):
            current = list(current)
            log = []
            for station_id, changes, coordinates in updates:
                i, before, after = self._updated(current, station_id, changes, actor, coordinates)
                current[i] = after
                log.append(("update", before, after))
            new = prepare_new_features(new_features, current, actor, self.districts) if new_features else []
            return current + new, log + [("add", None, f) for f in new]

        log = self._write(change, actor)
        return {"added": [a["properties"]["id"] for action, _, a in log if action == "add"],
                "updated": [a["properties"]["id"] for action, _, a in log if action == "update"]}

    def set_status(self, station_id: str, status: str, actor: Actor, reason: str | None = None) -> dict:
        if status not in schema.STATUSES:
            raise ValidationError(Problem("status", f"unknown status {status!r}"))

        def change(current: list[dict]):
            i, before = find_feature(current, station_id)
            require_write(actor, before["properties"]["district_adcode"], restore=status == "active")
            if before["properties"]["status"] == status:
                shown = Label(zh=schema.STATUSES[status].zh, en=status)
                raise ValidationError(Problem(station_id, Text("registry.already", status=shown)))
            after = copy.deepcopy(before)
            after["properties"]["status"] = status
            after["properties"]["updated_at"] = now_iso()
            action = "retire" if status == "retired" else "restore"
            return current[:i] + [after] + current[i + 1 :], [(action, before, after)]

        return self._write(change, actor, reason=reason)[0][2]

    def _write(self, change, actor: Actor, reason: str | None = None):
        with self.lock:
            version, current = self._read_file()
            self.audit.drop_torn_tail()
            logged = self.audit.last_version()
            validated = self._validated
            # Serialised lines of the features in `current` (alive, so their id()s are unique).
            memo = (validated[3] if validated is not None and validated[2] is current else None) or {}
            new_features, changes = change(current)
            if logged > version:   # restored older file, or a crash after the append: say so, keep everything
                logged += 1
                self.audit.append_note(logged, "registry_mismatch", file_version=version, log_version=logged - 1)
            new_version = max(version, logged) + 1
            self.audit.append(new_version, actor, changes, reason=reason)
            lines = [memo.get(id(f)) or _encode_feature(f) for f in new_features]
            data = _assemble_collection(lines, new_version)
            atomic_write_bytes(self.path, data)
            digest = hashlib.blake2b(data, digest_size=32).digest()
            self._validated = (digest, new_version, new_features,
                               {id(f): line for f, line in zip(new_features, lines, strict=True)})
            self._write_receipt(f"{digest.hex()} {self._fingerprint}")
        return changes


def _check_protected(changes: dict) -> None:
    protected = {"id", "created_at", "updated_at", "source", "status"} & set(changes)
    if protected:
        raise ValidationError(Problem(", ".join(sorted(protected)), Text("edit.fixed")))


@contextmanager
def _gc_paused():
    """Parsing a big registry allocates millions of containers, and the cyclic garbage collector
    would rescan them over and over (a third of the parse time at 200k stations); reference
    counting still frees everything meanwhile."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_FEATURE_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _encode_feature(feature: dict) -> bytes:
    return _FEATURE_ENCODER.encode(feature).encode("utf-8")


def _assemble_collection(lines: list[bytes], version: int | None) -> bytes:
    head = {"type": "FeatureCollection"}
    if version is not None:
        head[VERSION_MEMBER] = version
    opening = json.dumps(head, ensure_ascii=False)[:-1] + ', "features": [\n'
    return opening.encode("utf-8") + b",\n".join(lines) + b"\n]}\n"


def dump_feature_collection(features: list[dict], version: int | None = None) -> bytes:
    """Serialise stations as RFC 7946 GeoJSON, one feature per line (small diffs, fast)."""
    return _assemble_collection([_encode_feature(f) for f in features], version)
