"""The store contract: what the CLI and the web app talk to, and the rules of writing, once for every backend.

``StationStore`` reads snapshots and writes through a ``geo.registry.backend.Backend`` that
only stores and fetches. Everything that decides whether and how a station changes is here:
the actor's rights (``geo.access.permissions``), protected fields, honours, server-assigned
ids and timestamps, validation against the districts, the audit entry and the version.

Snapshots are immutable. A write builds the next snapshot from the previous one plus the
change (a delta, not a reload) and swaps it in; with ``keep_current()`` another process's
writes are picked up by a background thread (the backend's watcher), so a reader never waits
for a reload: it keeps the previous version until the next one is built and warmed.
"""

from __future__ import annotations

import copy
import os
import threading
from datetime import datetime

from geo import schema
from geo.access.permissions import Actor, require_honours_unchanged, require_write
from geo.districts import Districts
from geo.errors import ConflictError, NotFoundError, Problem, ValidationError
from geo.hours import CHONGQING_TZ
from geo.messages import Label, Text
from geo.registry.audit import make_entry
from geo.registry.backend import Backend, WriteTransaction, native_thread
from geo.registry.snapshot import Snapshot, release_freed_memory
from geo.registry.state import AppState
from geo.registry.state_file import FileState
from geo.registry.validate import check_locations, check_point, check_properties, formula_problems

#: what only the server sets; an edit naming one of them is refused
PROTECTED_FIELDS = frozenset({"id", "created_at", "updated_at", "source", "status"})


def now_iso() -> str:
    """Now in Chongqing, ISO 8601 with offset, to the second."""
    return datetime.now(CHONGQING_TZ).replace(microsecond=0).isoformat()


class StationStore:
    """The registry: snapshots to read, audited writes that check the actor's rights.

    Parameters
    ----------
    backend : Backend
        Where stations, the audit log and the version are kept.
    districts : Districts
        The district map every station is validated against.
    state : AppState, optional
        Where the app's other state lives (accounts, counters, drafts…; ``geo.registry.state``):
        the store's database for PostGIS, local files by default.
    """

    def __init__(self, backend: Backend, districts: Districts, state: AppState | None = None):
        self.backend = backend
        self.districts = districts
        self.state: AppState = state or FileState()
        self._snapshot: Snapshot | None = None
        self._stamp = None
        self._refresh_lock = threading.Lock()
        self._warmers: list = []
        self._keep_current = False
        self._watching_pid: int | None = None

    @property
    def audit(self):
        """The audit log: ``entries(station_id=, actor=, district=, action=, since=, until=)``."""
        return self.backend.audit

    # -- reading ----------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The current version. Cheap when nothing changed (one ``stamp()``); with ``keep_current()``
        no I/O at all: the background watcher swaps new versions in."""
        snap = self._snapshot
        if self._keep_current and snap is not None:
            if self._watching_pid != os.getpid():  # a forked worker: its parent's threads did not come along
                self._start_watching()
            return snap
        stamp = self.backend.stamp()
        if snap is not None and stamp == self._stamp:
            return snap
        with self._refresh_lock:
            if self._snapshot is None or self.backend.stamp() != self._stamp:
                self._refresh_locked()
        return self._snapshot

    def get(self, station_id: str) -> dict:
        return self.snapshot().get(station_id)

    def history(self, station_id: str | None = None) -> list[dict]:
        """Audit entries, oldest first; only those touching ``station_id`` if given."""
        return self.audit.entries(station_id=station_id)

    def audit_entries(self, station_id: str | None = None, actor: str | None = None, district: str | None = None,
                      action: str | None = None) -> list[dict]:
        """Audit entries, oldest first, filtered by station, account, district adcode and action
        (``add``/``update``/``retire``/``restore``); the audit page and its exports read these."""
        return self.audit.entries(station_id=station_id, actor=actor, district=district, action=action)

    def audit_status(self) -> dict:
        """``{"file_version", "log_version", "consistent"}``: the log is ahead of the registry after a restore
        from an older backup or a crash between the audit append and the registry write."""
        file_version, log_version = self.snapshot().version, self.audit.last_version()
        return {"file_version": file_version, "log_version": log_version, "consistent": log_version <= file_version}

    def warm_with(self, warm) -> None:
        """Run ``warm(snapshot)`` on each new version before it is served (build indexes off the request path)."""
        self._warmers.append(warm)

    def keep_current(self, here: bool = True) -> None:
        """Follow other processes' writes in a background thread instead of checking on each read.

        ``here=False``: only in processes forked from this one (a server's parent, which only
        supervises its workers: each worker starts its own watcher, which first catches up)."""
        self.snapshot()  # before following: with it, a snapshot taken where no watcher runs would start one
        self._keep_current = True
        if here:
            self._start_watching()
        else:
            self._watching_pid = os.getpid()

    def stop_watching(self) -> None:
        """Stop following in this process (a server's parent before it forks: each worker starts its own)."""
        self.backend.stop_watching()

    def _start_watching(self) -> None:
        self._watching_pid = os.getpid()
        self.backend.watch(self.refresh)

    def refresh(self) -> Snapshot:
        """Bring the snapshot up to date now (a delta when the backend can give one)."""
        with self._refresh_lock:
            self._refresh_locked()
        return self._snapshot

    def _refresh_locked(self) -> None:
        stamp = self.backend.stamp()
        snap = self._snapshot
        delta = self.backend.changes_since(snap.version) if snap is not None else None
        if delta is not None:
            version, changed = delta
            new = snap if version == snap.version else snap.with_changes(version, changed)
        elif (loaded := self.backend.load_table()) is not None:
            version, table = loaded
            new = Snapshot(version, None, self.districts, table=table)
            release_freed_memory()  # what the load read and dropped, back to the system
        else:
            version, features = self.backend.load()
            new = snap if snap is not None and snap.version == version and snap.source is features else \
                Snapshot(version, features, self.districts)
        self._swap(new, stamp)

    def _swap(self, new: Snapshot, stamp) -> None:
        if new is not self._snapshot:
            for warm in self._warmers:
                warm(new)
            new.previous_derived = None  # what could be carried forward was; let the old version go
        self._snapshot = new
        self._stamp = stamp

    # -- writing ----------------------------------------------------------------

    def add(self, features: list[dict], actor: Actor) -> list[str]:
        """Add new stations (ids assigned here); returns their ids. All or nothing."""
        if not features:
            raise ValidationError(Problem("features", Text("registry.nothing_to_add")))
        for f in features:
            adcode = (f.get("properties") or {}).get("district_adcode") if isinstance(f, dict) else None
            require_write(actor, adcode)

        def plan(tx: WriteTransaction):
            new = prepare_new_features(features, tx.highest_serials, actor, self.districts)
            return [("add", None, f) for f in new]

        return [after["properties"]["id"] for _, _, after in self._write(plan, actor)]

    def update(self, station_id: str, changes: dict, actor: Actor, coordinates=None, base: dict | None = None) -> dict:
        """Change properties (and optionally [lon, lat]); returns the new Feature.

        ``base`` is the Feature the caller's edit was made on: if the station changed since,
        the edit is refused with ``ConflictError`` (HTTP 409) instead of overwriting the other change.
        """
        protected = PROTECTED_FIELDS & set(changes)
        if protected:
            raise ValidationError(Problem(", ".join(sorted(protected)), Text("edit.fixed")))

        def plan(tx: WriteTransaction):
            return [self._updated(_stored(tx, station_id, base), changes, actor, coordinates)]

        return self._write(plan, actor)[0][2]

    def _updated(self, before: dict, changes: dict, actor: Actor, coordinates) -> tuple[str, dict, dict]:
        """The rules of one edit: ("update", before, after)."""
        station_id = before["properties"]["id"]
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
        return ("update", before, after)

    def apply_upload(self, new_features: list[dict], updates: list[tuple[str, dict, list | None]], actor: Actor) -> dict:
        """Add ``new_features`` and apply ``updates`` ((id, changed properties, [lon, lat] or None)) in one
        audited write, all or nothing. Returns ``{"added": [ids], "updated": [ids]}``."""
        for _, changes, _ in updates:
            protected = PROTECTED_FIELDS & set(changes)
            if protected:
                raise ValidationError(Problem(", ".join(sorted(protected)), Text("edit.fixed")))
        for f in new_features:
            require_write(actor, (f.get("properties") or {}).get("district_adcode") if isinstance(f, dict) else None)
        if not new_features and not updates:
            raise ValidationError(Problem("features", Text("registry.nothing_to_add")))

        def plan(tx: WriteTransaction):
            log = [self._updated(_stored(tx, station_id, None), changes, actor, coordinates)
                   for station_id, changes, coordinates in updates]
            new = prepare_new_features(new_features, tx.highest_serials, actor, self.districts) if new_features else []
            return log + [("add", None, f) for f in new]

        log = self._write(plan, actor)
        return {"added": [a["properties"]["id"] for action, _, a in log if action == "add"],
                "updated": [a["properties"]["id"] for action, _, a in log if action == "update"]}

    def set_status(self, station_id: str, status: str, actor: Actor, base: dict | None = None,
                   reason: str | None = None) -> dict:
        """Retire (soft-delete) or restore a station; returns the new Feature. ``reason`` is kept in the audit."""
        if status not in schema.STATUSES:
            raise ValidationError(Problem("status", f"unknown status {status!r}"))

        def plan(tx: WriteTransaction):
            before = _stored(tx, station_id, base)
            require_write(actor, before["properties"]["district_adcode"], restore=status == "active")
            if before["properties"]["status"] == status:
                shown = Label(zh=schema.STATUSES[status].zh, en=status)
                raise ValidationError(Problem(station_id, Text("registry.already", status=shown)))
            after = copy.deepcopy(before)
            after["properties"]["status"] = status
            after["properties"]["updated_at"] = now_iso()
            return [("retire" if status == "retired" else "restore", before, after)]

        return self._write(plan, actor, reason=reason)[0][2]

    def retire(self, station_id: str, actor: Actor, base: dict | None = None, reason: str | None = None) -> dict:
        return self.set_status(station_id, "retired", actor, base, reason=reason)

    def restore(self, station_id: str, actor: Actor, base: dict | None = None) -> dict:
        return self.set_status(station_id, "active", actor, base)

    def _write(self, plan, actor: Actor, reason: str | None = None) -> list[tuple[str, dict | None, dict]]:
        """One transaction: the rules read what they need under the backend's lock, then the change,
        its audit entry and the version bump commit together; the snapshot follows as a delta."""
        with self.backend.writing() as tx:
            changes = plan(tx)
            version = tx.version + 1
            # A backend that rebuilt the whole list anyway (the file) returns it; else the delta is applied here.
            features_after = tx.commit(changes, make_entry(version, actor, changes, reason=reason))
            stamp_after = tx.stamp_after
        if self._keep_current:
            # Acknowledge now; the next version (and its indexes) is built off the request path and
            # swapped in, readers meanwhile keep the previous one. The watcher would notice anyway.
            native_thread(self.refresh, "stationmap-refresh").start()
            return changes
        with self._refresh_lock:
            snap = self._snapshot
            if snap is not None and snap.version == version - 1:
                new = snap.with_changes(version, [after for _, _, after in changes], features_after)
                self._swap(new, stamp_after)
            elif snap is not None:
                self._refresh_locked()
        return changes

    def close(self) -> None:
        self.backend.close()
        self.state.close()


def _stored(tx: WriteTransaction, station_id: str, base: dict | None) -> dict:
    before = tx.get([station_id]).get(station_id)
    if before is None:
        raise NotFoundError(Text("registry.not_found", id=station_id))
    if base is not None and base != before:
        raise ConflictError(Text("registry.conflict", id=station_id))
    return before


def check_features(features: list[dict], label: str, districts: Districts) -> None:
    problems, points = [], []
    for i, f in enumerate(features):
        where = f"{label}[{i}]" if len(features) > 1 else label
        geometry_problems, lonlat = check_point(f.get("geometry"), where)
        problems += geometry_problems
        problems += check_properties(f.get("properties"), where, districts)
        problems += formula_problems(f.get("properties"), where)
        if lonlat is not None:
            points.append((where, *lonlat, f["properties"].get("district_adcode")))
    problems += check_locations(points, districts)
    # A new station whose kind or district is wrong gets no id; report the cause only.
    problems = [p for p in problems if not (p.where.endswith(".properties.id") and p.message == "is required")]
    if problems:
        raise ValidationError(problems)


def highest_serials_in(features: list[dict], prefixes: set[str]) -> dict[str, int]:
    """Highest serial per id prefix (``"500103-OS-"``) among ``features``."""
    highest: dict[str, int] = {}
    for f in features:
        fid = f["properties"]["id"]
        prefix = fid[: fid.rfind("-") + 1]
        if prefix not in prefixes:
            continue
        m = schema.ID_PATTERN.match(fid)
        highest[prefix] = max(highest.get(prefix, 0), int(m["serial"]))
    return highest


def prepare_new_features(features: list[dict], current, actor: Actor, districts: Districts) -> list[dict]:
    """Give new stations server-side ids, timestamps, status and source, then validate them.

    ``current`` is the stored registry: a list of Features, or a function from a set of id
    prefixes to their highest serials (a backend's ``highest_serials``). Ids continue each
    district/kind's highest serial, counting retired stations, so an id is never reused.
    """
    # Only the district/kind pairs being added matter (not the other 200k stations of a big registry).
    prefixes = {
        f"{p.get('district_adcode')}-{schema.KIND_ID_CODES[p.get('kind')]}-"
        for f in features if isinstance(f, dict) and isinstance(p := f.get("properties"), dict)
        and p.get("kind") in schema.KIND_ID_CODES
    }
    highest = current(prefixes) if callable(current) else highest_serials_in(current, prefixes)
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
            prefix = f"{adcode}-{schema.KIND_ID_CODES[kind]}-"
            highest[prefix] = highest.get(prefix, 0) + 1
            props["id"] = schema.station_id(adcode, kind, highest[prefix])
        # Only these three members: anything else a client sent would be stored and served verbatim.
        prepared.append({"type": "Feature", "geometry": f.get("geometry"), "properties": props})
    check_features(prepared, "features", districts)
    return prepared
