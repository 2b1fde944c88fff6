"""Each station's 上图 status per map platform (未提交 / 已提交 / 已上线 / 被驳回, with a note), set by its district and audited.

Stored in the station's ``listing`` property: ``{"amap": {"status": "live", "note": "…", "at": "…"}, …}``.
A platform absent from it is 未提交. Writes go through ``StationStore.update``, so rights are
checked (a district sets its own stations only) and every change is in the audit log.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from geo import schema
from geo.errors import Problem, ValidationError
from geo.messages import Join, Text
from geo.registry import now_iso

MAX_NOTE_CHARS = 200


def listing_status(props: dict, platform: str) -> dict:
    """``{"status", "note", "at"}`` of one platform for a station's properties (未提交 if never set)."""
    entry = (props.get("listing") or {}).get(platform) or {}
    return {"status": entry.get("status", "not_submitted"), "note": entry.get("note", ""), "at": entry.get("at")}


def check_listing(platform: str, status: str, note: str | None) -> str:
    problems = []
    if platform not in schema.LISTING_PLATFORMS:
        problems.append(Problem("platform", Text("listing.unknown_platform", value=str(platform)[:40]),
                                Text("hint.one_of", choices=Join(tuple(schema.LISTING_PLATFORMS)))))
    if status not in schema.LISTING_STATUSES:
        problems.append(Problem("status", Text("listing.unknown_status", value=str(status)[:40]),
                                Text("hint.one_of", choices=Join(tuple(schema.LISTING_STATUSES)))))
    note = " ".join(str(note or "").split())
    if len(note) > MAX_NOTE_CHARS:
        problems.append(Problem("note", Text("listing.note_too_long", n=MAX_NOTE_CHARS)))
    if status == "rejected" and not note:
        problems.append(Problem("note", Text("listing.rejected_needs_note")))
    if problems:
        raise ValidationError(problems)
    return note


def set_listing_status(store, station_id: str, platform: str, status: str, note: str | None, actor) -> dict:
    """Record a station's 上图 status on one platform; returns the updated Feature (audited as an update)."""
    note = check_listing(platform, status, note)
    props = store.get(station_id)["properties"]
    listing = {k: dict(v) for k, v in (props.get("listing") or {}).items()}
    if listing_status(props, platform)["status"] == status and listing_status(props, platform)["note"] == note:
        return store.get(station_id)
    listing[platform] = {"status": status, "note": note, "at": now_iso()}
    return store.update(station_id, {"listing": listing}, actor)


def listing_counts(snapshot) -> dict:
    """Per district adcode (and ``"500000"`` for the city): per platform, the number of active stations in each status."""
    counts: dict = defaultdict(lambda: {p: Counter() for p in schema.LISTING_PLATFORMS})
    for f in snapshot.features:
        props = f["properties"]
        if props["status"] != "active":
            continue
        for code in (props["district_adcode"], "500000"):
            for platform in schema.LISTING_PLATFORMS:
                counts[code][platform][listing_status(props, platform)["status"]] += 1
    return {code: {p: {s: int(c[s]) for s in schema.LISTING_STATUSES} for p, c in by_platform.items()}
            for code, by_platform in counts.items()}


def filter_by_listing(features, platform: str | None, status: str | None):
    """Stations whose status on ``platform`` is ``status`` (either may be None: no filter)."""
    if not platform or platform not in schema.LISTING_PLATFORMS or not status or status not in schema.LISTING_STATUSES:
        return list(features)
    return [f for f in features if listing_status(f["properties"], platform)["status"] == status]
