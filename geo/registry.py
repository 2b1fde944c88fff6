"""The station registry: an immutable snapshot per version, behind a small store interface.

``StationStore`` is what the CLI and the web app talk to: read a snapshot, get a station,
add / update / retire / restore with an audit entry. ``GeoJSONFileStore`` implements it
over ``data/stations.geojson``; a PostGIS store can implement the same five methods.
Nothing outside a store opens the registry file.
"""

from __future__ import annotations

import copy
import gc
import hashlib
import json
import os
from abc import ABC, abstractmethod
from collections import OrderedDict
from contextlib import contextmanager
from datetime import datetime
from functools import cached_property
from pathlib import Path
from threading import Lock

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo import schema
from geo.audit import AuditLog
from geo.districts import Districts
from geo.errors import NotFoundError, Problem, RegistryUnavailableError, ValidationError
from geo.fileio import ProcessFileLock, atomic_write_bytes, remove_orphan_temp_files
from geo.hours import CHONGQING_TZ
from geo.messages import Label, Text
from geo.permissions import Actor, require_honours_unchanged, require_write
from geo.validate import check_locations, check_point, check_properties, parse_json_strict, validate_feature_collection

VERSION_MEMBER = "registry_version"


class Snapshot:
    """One version of the registry, read-only, with indexes built lazily once.

    Attributes
    ----------
    version : int
    features : list of dict
        GeoJSON Features in registry order (all statuses).
    frame : GeoDataFrame
        Same rows, EPSG:4326, one column per schema property.
    active : GeoDataFrame
        Rows with ``status == "active"``: what maps, nearest and coverage use.
    """

    def __init__(self, version: int, features: list[dict], districts: Districts):
        self.version = version
        self.features = features
        self.districts = districts
        self.by_id = {f["properties"]["id"]: i for i, f in enumerate(features)}
        self._coverage_cache: OrderedDict = OrderedDict()
        self._cache_lock = Lock()

    @cached_property
    def frame(self) -> gpd.GeoDataFrame:
        return stations_frame(self.features)

    @cached_property
    def active(self) -> gpd.GeoDataFrame:
        frame = self.frame
        return frame[frame["status"] == "active"].reset_index(drop=True)

    @cached_property
    def nearest_index(self):
        from geo.nearest import NearestIndex

        return NearestIndex(self.active)

    def __len__(self) -> int:
        return len(self.features)

    def get(self, station_id: str) -> dict:
        """The GeoJSON Feature with this id (any status); ``NotFoundError`` if none."""
        try:
            return self.features[self.by_id[station_id]]
        except KeyError:
            raise NotFoundError(Text("registry.not_found", id=station_id)) from None

    def coverage(self, radius_m: float = 1000.0):
        """District coverage at ``radius_m`` (cached: a handful of radii per version)."""
        from geo.coverage import district_coverage

        key = round(float(radius_m), 3)
        with self._cache_lock:
            if key in self._coverage_cache:
                self._coverage_cache.move_to_end(key)
                return self._coverage_cache[key]
        result = district_coverage(self.active, self.districts, radius_m=key)
        with self._cache_lock:
            self._coverage_cache[key] = result
            while len(self._coverage_cache) > 8:
                self._coverage_cache.popitem(last=False)
        return result


def stations_frame(features: list[dict]) -> gpd.GeoDataFrame:
    """GeoDataFrame (EPSG:4326) from station Features, built column-wise (fast at 200k rows)."""
    records = [f["properties"] for f in features]
    props = pd.DataFrame.from_records(records, columns=list(schema.PROPERTY_NAMES)) if records else pd.DataFrame(columns=list(schema.PROPERTY_NAMES))
    coords = np.array([f["geometry"]["coordinates"][:2] for f in features], dtype=float).reshape(-1, 2)
    for column in ("amenities", "honours"):
        props[column] = [v if isinstance(v, list) else [] for v in props[column]]
    return gpd.GeoDataFrame(props, geometry=shapely.points(coords), crs="EPSG:4326")


def now_iso() -> str:
    """Now in Chongqing, ISO 8601 with offset, to the second."""
    return datetime.now(CHONGQING_TZ).replace(microsecond=0).isoformat()


class StationStore(ABC):
    """What every registry backend provides. Writes check the actor's rights and are audited."""

    districts: Districts

    @abstractmethod
    def snapshot(self) -> Snapshot:
        """The current version; cheap when nothing changed."""

    @abstractmethod
    def add(self, features: list[dict], actor: Actor) -> list[str]:
        """Add new stations (ids assigned here); returns their ids. All or nothing."""

    @abstractmethod
    def update(self, station_id: str, changes: dict, actor: Actor, coordinates=None) -> dict:
        """Change properties (and optionally [lon, lat]); returns the new Feature."""

    @abstractmethod
    def set_status(self, station_id: str, status: str, actor: Actor) -> dict:
        """Retire (soft-delete) or restore a station; returns the new Feature."""

    @abstractmethod
    def history(self, station_id: str | None = None) -> list[dict]:
        """Audit entries, oldest first; only those touching ``station_id`` if given."""

    def get(self, station_id: str) -> dict:
        return self.snapshot().get(station_id)

    def retire(self, station_id: str, actor: Actor) -> dict:
        return self.set_status(station_id, "retired", actor)

    def restore(self, station_id: str, actor: Actor) -> dict:
        return self.set_status(station_id, "active", actor)


class GeoJSONFileStore(StationStore):
    """The registry as one RFC 7946 file, written atomically under an inter-process lock.

    Every write: take the lock, re-read the file, apply the change, validate it, append the
    audit entry (tagged with the new version), then atomically replace the file. An audit
    entry whose version never reached the file (a crash in between) is dropped the next
    time the lock is taken, so the log never records a write that did not happen.

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
            raise RegistryUnavailableError(f"{self.path}: registry file not found")
        with self.lock:
            remove_orphan_temp_files(self.path)
            remove_orphan_temp_files(self._receipt_path)
            self.audit.drop_entries_after(self._read_file()[0])

    # -- reading ----------------------------------------------------------------

    def _file_stamp(self):
        st = os.stat(self.path)
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _read_file(self) -> tuple[int, list[dict]]:
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise RegistryUnavailableError(f"{self.path}: cannot read the registry ({exc.strerror})") from exc
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
            raise RegistryUnavailableError(f"registry is corrupt and will not be overwritten: {exc}") from exc
        version = data.get(VERSION_MEMBER, 0)
        version = version if isinstance(version, int) else 0
        self._validated = (digest, version, data["features"], None)
        if not trusted:
            self._write_receipt(receipt)
        return version, data["features"]

    @cached_property
    def _fingerprint(self) -> str:
        """Digest of what validation depends on: the schema and validator code, the district map."""
        from geo import validate as validate_module

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
        protected = {"id", "created_at", "updated_at", "source", "status"} & set(changes)
        if protected:
            raise ValidationError(Problem(", ".join(sorted(protected)), Text("edit.fixed")))

        def change(current: list[dict]):
            i, before = _find(current, station_id)
            require_write(actor, before["properties"]["district_adcode"])
            after = copy.deepcopy(before)
            after["properties"].update(changes)
            require_honours_unchanged(actor, before["properties"].get("honours"), after["properties"].get("honours"))
            if "district_adcode" in changes:
                require_write(actor, changes["district_adcode"])
            if coordinates is not None:
                after["geometry"] = {"type": "Point", "coordinates": list(coordinates)}
            after["properties"]["updated_at"] = now_iso()
            _check_features([after], f"station {station_id}", self.districts)
            return current[:i] + [after] + current[i + 1 :], [("update", before, after)]

        return self._write(change, actor)[0][2]

    def set_status(self, station_id: str, status: str, actor: Actor) -> dict:
        if status not in schema.STATUSES:
            raise ValidationError(Problem("status", f"unknown status {status!r}"))

        def change(current: list[dict]):
            i, before = _find(current, station_id)
            require_write(actor, before["properties"]["district_adcode"], restore=status == "active")
            if before["properties"]["status"] == status:
                shown = Label(zh=schema.STATUSES[status].zh, en=status)
                raise ValidationError(Problem(station_id, Text("registry.already", status=shown)))
            after = copy.deepcopy(before)
            after["properties"]["status"] = status
            after["properties"]["updated_at"] = now_iso()
            action = "retire" if status == "retired" else "restore"
            return current[:i] + [after] + current[i + 1 :], [(action, before, after)]

        return self._write(change, actor)[0][2]

    def _write(self, change, actor: Actor):
        with self.lock:
            version, current = self._read_file()
            self.audit.drop_entries_after(version)
            validated = self._validated
            # Serialised lines of the features in `current` (alive, so their id()s are unique).
            memo = (validated[3] if validated is not None and validated[2] is current else None) or {}
            new_features, changes = change(current)
            new_version = version + 1
            self.audit.append(new_version, actor, changes)
            lines = [memo.get(id(f)) or _encode_feature(f) for f in new_features]
            data = _assemble_collection(lines, new_version)
            atomic_write_bytes(self.path, data)
            digest = hashlib.blake2b(data, digest_size=32).digest()
            self._validated = (digest, new_version, new_features,
                               {id(f): line for f, line in zip(new_features, lines, strict=True)})
            self._write_receipt(f"{digest.hex()} {self._fingerprint}")
        return changes


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


def _find(features: list[dict], station_id: str) -> tuple[int, dict]:
    for i, f in enumerate(features):
        if f["properties"]["id"] == station_id:
            return i, f
    raise NotFoundError(Text("registry.not_found", id=station_id))


def _check_features(features: list[dict], label: str, districts: Districts) -> None:
    problems, points = [], []
    for i, f in enumerate(features):
        where = f"{label}[{i}]" if len(features) > 1 else label
        geometry_problems, lonlat = check_point(f.get("geometry"), where)
        problems += geometry_problems
        problems += check_properties(f.get("properties"), where, districts)
        if lonlat is not None:
            points.append((where, *lonlat, f["properties"].get("district_adcode")))
    problems += check_locations(points, districts)
    # A new station whose kind or district is wrong gets no id; report the cause only.
    problems = [p for p in problems if not (p.where.endswith(".properties.id") and p.message == "is required")]
    if problems:
        raise ValidationError(problems)


def prepare_new_features(features: list[dict], current: list[dict], actor: Actor, districts: Districts) -> list[dict]:
    """Give new stations server-side ids, timestamps, status and source, then validate them.

    Ids continue each district/kind's highest serial, counting retired stations, so an id
    is never reused.
    """
    # Only the district/kind pairs being added matter; a prefix test skips the regex for the
    # other stations (200k of them in a big registry, under the write lock).
    prefixes = {
        f"{p.get('district_adcode')}-{schema.KIND_ID_CODES[p.get('kind')]}-"
        for f in features if isinstance(f, dict) and isinstance(p := f.get("properties"), dict)
        and p.get("kind") in schema.KIND_ID_CODES
    }
    highest: dict[tuple[str, str], int] = {}
    for f in current:
        fid = f["properties"]["id"]
        if fid[: fid.rfind("-") + 1] not in prefixes:
            continue
        m = schema.ID_PATTERN.match(fid)
        key = (m["adcode"], m["kind"])
        highest[key] = max(highest.get(key, 0), int(m["serial"]))
    stamp = now_iso()
    prepared = []
    for f in features:
        f = copy.deepcopy(f) if isinstance(f, dict) else {}
        props = f.get("properties") if isinstance(f.get("properties"), dict) else {}
        props.pop("id", None)
        props.setdefault("honours", [])
        require_honours_unchanged(actor, [], props["honours"])
        props.setdefault("phone", "")
        props.update(status="active", created_at=stamp, updated_at=stamp)
        if actor.role == "admin":
            props.setdefault("source", "admin")
        else:  # a district cannot label its stations as sample data or an administrator's
            props["source"] = "district_upload"
        adcode, kind = props.get("district_adcode"), props.get("kind")
        if isinstance(adcode, str) and kind in schema.KIND_ID_CODES:
            key = (adcode, schema.KIND_ID_CODES[kind])
            highest[key] = highest.get(key, 0) + 1
            props["id"] = schema.station_id(adcode, kind, highest[key])
        # Only these three members: anything else a client sent would be stored and served verbatim.
        prepared.append({"type": "Feature", "geometry": f.get("geometry"), "properties": props})
    _check_features(prepared, "features", districts)
    return prepared


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


def open_store(registry_path: str | Path | None = None, districts_path: str | Path | None = None) -> GeoJSONFileStore:
    """The file store for ``registry_path`` (default ``data/stations.geojson``)."""
    from geo.paths import default_districts_path, default_registry_path

    return GeoJSONFileStore(registry_path or default_registry_path(), Districts.load(districts_path or default_districts_path()))
