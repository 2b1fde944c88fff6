"""Uploads that update: a row carrying an existing station's id (编号 / id) changes that station instead of adding one.

A district keeps one master spreadsheet and uploads it again and again. Each row with an id
is compared field by field with the registry: only the fields the file carries count, lists
of codes (amenities, honours) compare as sets (reordering is not a change), text compares
trimmed, and a point counts as moved only beyond ``MOVE_TOLERANCE_M`` (an export read back in
GCJ-02 or with fewer decimals must not "move" every station). Rows without an id are new.
"""

from __future__ import annotations

from geo.projection import geodesic_distance_m

# Coordinates re-read from an export (rounded, or converted to GCJ-02 and back) move a few cm.
MOVE_TOLERANCE_M = 0.5
SET_FIELDS = ("amenities", "honours")


def upload_id(feature: dict) -> str | None:
    """The station id a parsed row carries (编号 / id column, or a GeoJSON property), or None."""
    props = feature.get("properties") if isinstance(feature, dict) else None
    value = props.get("id") if isinstance(props, dict) else None
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _same(field: str, old, new) -> bool:
    if field in SET_FIELDS:
        return set(old or ()) == set(new or ())
    if isinstance(old, str) and isinstance(new, str):
        return old.strip() == new.strip()
    return old == new


def station_changes(existing: dict, uploaded: dict) -> list[dict]:
    """Field-by-field differences ``[{"field", "old", "new"}]`` from a registry Feature to an uploaded one.

    ``field`` is a schema property name or ``"coordinates"`` ([lon, lat], WGS-84).
    """
    before, after = existing["properties"], uploaded["properties"]
    changes = []
    for field, new in after.items():
        old = before.get(field)
        if _same(field, old, new):
            continue
        if field in SET_FIELDS and old:   # keep the registry's order for what stays, new codes after
            new = [c for c in old if c in new] + [c for c in new if c not in old]
        changes.append({"field": field, "old": old, "new": new})
    geometry = uploaded.get("geometry")
    if geometry and geometry.get("coordinates"):
        old_xy, new_xy = existing["geometry"]["coordinates"][:2], geometry["coordinates"][:2]
        moved = float(geodesic_distance_m(old_xy[0], old_xy[1], new_xy[0], new_xy[1]))
        if moved > MOVE_TOLERANCE_M:
            changes.append({"field": "coordinates", "old": list(old_xy), "new": list(new_xy), "moved_m": round(moved, 1)})
    return changes


def as_update(changes: list[dict]) -> tuple[dict, list | None]:
    """(changed properties, new [lon, lat] or None) for ``StationStore.update`` / ``apply_upload``."""
    props = {c["field"]: c["new"] for c in changes if c["field"] != "coordinates"}
    coords = next((c["new"] for c in changes if c["field"] == "coordinates"), None)
    return props, coords
