"""One random edit of a snapshot's station, for the property tests of what is carried across writes."""

from __future__ import annotations

from tests.geo.queries.test_nearest_carried import station


def edited(snap, action: str, pick: int, next_id: int) -> tuple[dict, int]:
    """(the Feature as written, the next free station number): ``add`` a new station, or ``move``,
    ``retire`` (or restore), ``rename`` or ``touch`` (a new edit time) station ``pick`` (modulo)."""
    if action == "add":
        return station(next_id, 106.5, 29.5), next_id + 1
    f = snap.features[pick % len(snap)]
    props = f["properties"]
    if action == "move":
        f["geometry"]["coordinates"] = [106.3 + pick / 1e6, 29.4]
    elif action == "retire":
        props["status"] = "retired" if props["status"] == "active" else "active"
    elif action == "rename":
        props["name"] = f"改名{pick}"
    else:
        props["updated_at"] = f"2026-01-01T00:00:{pick % 60:02d}+08:00"
    return f, next_id


def written(snap, batch, next_id: int):
    """(the next version with every ``(action, pick)`` of ``batch`` applied as one write, the next free number)."""
    changed = {}
    for action, pick in batch:
        f, next_id = edited(snap, action, pick, next_id)
        changed[f["properties"]["id"]] = f
    return snap.with_changes(snap.version + 1, list(changed.values())), next_id
