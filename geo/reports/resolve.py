"""A clerk's decision on a report, carried out through the registry's normal audited writes.

Confirming a report fixes the registry the way its outcome says (retire, move to the rider's
pin, correct the hours, take a broken facility off the list, or only record that it was fixed
on site) and records the station as verified now; dismissing needs a reason. The registry is
written first, so a refused write leaves the report open.
"""

from __future__ import annotations

from geo.access.permissions import Actor, require_write
from geo.errors import Problem, ValidationError
from geo.hours import parse_hours_input
from geo.messages import Text
from geo.registry.store import StationStore, now_iso
from geo.reports.model import MAX_NOTE_CHARS, Report, clean_note
from geo.reports.store import ReportStore


def _open_report(reports: ReportStore, code: str, actor: Actor) -> Report:
    report = reports.get(code)
    require_write(actor, report.district_adcode)
    if report.status != "open":
        raise ValidationError(Problem(report.code, Text("report.already_closed")))
    return report


def confirm(store: StationStore, reports: ReportStore, code: str, actor: Actor, outcome: str,
            hours: str | None = None, reason: str = "") -> Report:
    """Confirm report ``code`` with ``outcome`` (retired, moved, hours_fixed, facility_removed, fixed)."""
    report = _open_report(reports, code, actor)
    sid = report.station_id
    stamp = {"verified_at": now_iso()}
    if outcome == "retired":
        store.retire(sid, actor)
    elif outcome == "moved":
        if report.location is None:
            raise ValidationError(Problem("outcome", Text("report.no_pin")))
        store.update(sid, stamp, actor, coordinates=list(report.location))
    elif outcome == "hours_fixed":
        store.update(sid, {**stamp, "opening_hours": parse_hours_input(hours)}, actor)
    elif outcome == "facility_removed":
        amenities = [a for a in store.get(sid)["properties"].get("amenities", []) if a != report.facility]
        store.update(sid, {**stamp, "amenities": amenities}, actor)
    elif outcome == "fixed":
        store.update(sid, stamp, actor)
    else:
        raise ValidationError(Problem("outcome", Text("report.outcome")))
    return reports.close(report.code, "confirmed", outcome, clean_note(reason)[:MAX_NOTE_CHARS], actor.name)


def dismiss(reports: ReportStore, code: str, actor: Actor, reason: str) -> Report:
    """Dismiss report ``code``; the reason (required) is shown on the rider's receipt page."""
    report = _open_report(reports, code, actor)
    reason = clean_note(reason)
    if not reason:
        raise ValidationError(Problem("reason", Text("report.reason_needed")))
    if len(reason) > MAX_NOTE_CHARS:
        raise ValidationError(Problem("reason", Text("report.note_long", n=len(reason), max=MAX_NOTE_CHARS)))
    return reports.close(report.code, "dismissed", "dismissed", reason, actor.name)


def verify(store: StationStore, station_id: str, actor: Actor) -> dict:
    """A clerk's "仍在运营": the station exists and works today. An audited update of ``verified_at``."""
    return store.update(station_id, {"verified_at": now_iso()}, actor)
