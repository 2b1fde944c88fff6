"""The store contract: what every registry backend provides, and the rules of writing they share.

``StationStore`` is what the CLI and the web app talk to: read a snapshot, get a station,
add / update / retire / restore with an audit entry, read the history. The rules that do not
depend on where stations are kept (server-assigned ids and timestamps, validation against the
districts, honours) are here, once.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from datetime import datetime

from geo import schema
from geo.access.permissions import Actor, require_honours_unchanged
from geo.districts import Districts
from geo.errors import NotFoundError, ValidationError
from geo.hours import CHONGQING_TZ
from geo.messages import Text
from geo.registry.snapshot import Snapshot
from geo.registry.validate import check_locations, check_point, check_properties, formula_problems


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
    def set_status(self, station_id: str, status: str, actor: Actor, reason: str | None = None) -> dict:
        """Retire (soft-delete) or restore a station; returns the new Feature. ``reason`` is kept in the audit."""

    def apply_upload(self, new_features: list[dict], updates: list[tuple[str, dict, list | None]], actor: Actor) -> dict:
        """Add ``new_features`` and apply ``updates`` ((id, changed properties, [lon, lat] or None)).

        Returns ``{"added": [ids], "updated": [ids]}``. This default writes one change at a
        time; a backend that can (the GeoJSON file store) does it all or nothing, in one
        audited write.
        """
        updated = [self.update(sid, changes, actor, coordinates=coords)["properties"]["id"] for sid, changes, coords in updates]
        return {"added": self.add(new_features, actor) if new_features else [], "updated": updated}

    @abstractmethod
    def history(self, station_id: str | None = None) -> list[dict]:
        """Audit entries, oldest first; only those touching ``station_id`` if given."""

    @abstractmethod
    def audit_entries(self, station_id: str | None = None, actor: str | None = None, district: str | None = None,
                      action: str | None = None) -> list[dict]:
        """Audit entries, oldest first, filtered by station, account, district adcode and action
        (``add``/``update``/``retire``/``restore``); the audit page and its exports read these."""

    def get(self, station_id: str) -> dict:
        return self.snapshot().get(station_id)

    def retire(self, station_id: str, actor: Actor, reason: str | None = None) -> dict:
        return self.set_status(station_id, "retired", actor, reason=reason)

    def restore(self, station_id: str, actor: Actor) -> dict:
        return self.set_status(station_id, "active", actor)


def find_feature(features: list[dict], station_id: str) -> tuple[int, dict]:
    for i, f in enumerate(features):
        if f["properties"]["id"] == station_id:
            return i, f
    raise NotFoundError(Text("registry.not_found", id=station_id))


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
    check_features(prepared, "features", districts)
    return prepared
