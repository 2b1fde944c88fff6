"""The district's report queue and freshness work: ``/portal/reports`` (open reports per district),
``/portal/reports/<code>`` (confirm with an outcome, or dismiss with a reason), ``/portal/verify``
(stations due for verification) and ``POST /portal/stations/<id>/verify`` ("仍在运营").

Every change to a station goes through ``geo.reports.resolve`` and so through the registry's
audited writes; the store checks the account's rights again.
"""

from __future__ import annotations

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for

from geo import schema
from geo.access.permissions import require_write
from geo.errors import Problem, ValidationError
from geo.messages import Text
from geo.reports import resolve
from geo.reports.freshness import is_stale, last_verified, stale_ids
from geo.reports.model import CATEGORIES, OUTCOMES, REPORT_STATUSES
from webmap.core.i18n import get_lang, t
from webmap.core.openapi import describe, json_content, register_schema
from webmap.core.reports_state import get_reports, max_age_days
from webmap.core.state import get_snapshot, get_store
from webmap.portal.api import write_access
from webmap.signin.auth import current_actor, current_user, role_required

bp = Blueprint("portal_reports", __name__)

register_schema("ReportDecision", {"type": "object", "required": ["action"], "properties": {
    "action": {"type": "string", "enum": ["confirm", "dismiss"]},
    "outcome": {"type": "string", "enum": ["fixed", "retired", "moved", "hours_fixed", "facility_removed"],
                "description": "confirm: what was done (moved uses the rider's pin)"},
    "opening_hours": {"type": "string", "description": "hours_fixed: OSM syntax or common Chinese forms"},
    "reason": {"type": "string", "maxLength": 500, "description": "dismiss: required; shown on the receipt page"}}})


def init_app(app) -> None:
    """The two write endpoints check CSRF themselves for cookie sessions (``write_access``), as the write API does."""
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt("webmap.portal.reports.decide_api")
        csrf.exempt("webmap.portal.reports.verify_api")

WRITERS = ("district", "admin")
EVERYONE = ("district", "planner", "admin")
CONFIRM_OUTCOMES = ("fixed", "retired", "moved", "hours_fixed", "facility_removed")
VERIFY_PAGE = 100


@bp.app_context_processor
def _report_helpers():
    return {"open_report_count": _open_count, "station_flags": _station_flags}


def _open_count() -> int:
    """Open reports the signed-in account is responsible for (all districts for planners and admins)."""
    user = current_user()
    if user is None:
        return 0
    counts = get_reports().open_counts()
    return counts.get(user.district_adcode, 0) if user.role == "district" else sum(counts.values())


def _station_flags(props: dict) -> list[tuple[str, str]]:
    """(css code, label) marks for a station row: reported closed, due for verification."""
    flags = []
    if props.get("status") == "active" and props.get("id") in get_reports().reported_closed():
        flags.append(("reported-closed", t("portal.flag_reported_closed")))
    if props.get("status") == "active" and is_stale(props, max_age_days=max_age_days()):
        flags.append(("stale", t("portal.flag_stale", date=last_verified(props)[:10])))
    return flags


def _district_scope() -> str | None:
    user = current_user()
    if user.role == "district":
        return user.district_adcode
    asked = request.args.get("district") or ""
    return asked if asked in get_store().districts.by_adcode else None


def _labels(lang: str) -> dict:
    return {"categories": {c: t.label(lang) for c, t in CATEGORIES.items()},
            "statuses": {c: t.label(lang) for c, t in REPORT_STATUSES.items()},
            "outcomes": {c: t.label(lang) for c, t in OUTCOMES.items()},
            "amenities": {c: t.label(lang) for c, t in schema.AMENITIES.items()}}


@bp.route("/portal/reports")
@role_required(*EVERYONE)
def queue():
    """Open reports of the district (planners and admins: any district, or all), newest first."""
    district = _district_scope()
    status = request.args.get("status") if request.args.get("status") in REPORT_STATUSES else "open"
    reports = get_reports().list(district=district, status=status, limit=500)
    districts = get_store().districts
    return render_template("portal/reports.html", reports=reports, status=status, district=district or "",
                           districts=[(c, districts.name(c)) for c in sorted(districts.by_adcode)],
                           **_labels(get_lang()))


@bp.route("/portal/reports/<code>", methods=["GET", "POST"])
@role_required(*EVERYONE)
def detail(code: str):
    """One report: the station, what riders said, the pin; a clerk confirms with an outcome or dismisses it."""
    reports = get_reports()
    report = reports.get(code[:32])
    user = current_user()
    if user.role == "district":
        require_write(current_actor(), report.district_adcode)
    errors = []
    if request.method == "POST":
        actor = current_actor()
        action = request.form.get("action")
        try:
            if action == "dismiss":
                resolve.dismiss(reports, report.code, actor, request.form.get("reason", ""))
                flash(t("portal.report_dismissed", code=report.code), "success")
            else:
                outcome = request.form.get("outcome", "")
                resolve.confirm(get_store(), reports, report.code, actor,
                                outcome if outcome in CONFIRM_OUTCOMES else "?",
                                hours=request.form.get("opening_hours"), reason=request.form.get("reason", ""))
                flash(t("portal.report_confirmed", code=report.code), "success")
            return redirect(url_for("portal_reports.queue"))
        except ValidationError as exc:
            errors = [p.as_dict(get_lang()) for p in exc.problems]
    station = get_snapshot().get(report.station_id)
    can_write = current_actor().can_write(report.district_adcode)
    return render_template("portal/report.html", r=report, station=station, errors=errors, can_write=can_write,
                           confirm_outcomes=CONFIRM_OUTCOMES, **_labels(get_lang())), (400 if errors else 200)


@bp.route("/portal/verify")
@role_required(*EVERYONE)
def due():
    """Stations not verified for ``FRESHNESS_MAX_AGE_DAYS``, longest first: what to go and check."""
    district = _district_scope()
    snapshot = get_snapshot()
    ids = stale_ids(snapshot.features, max_age_days=max_age_days(), district=district)
    rows = [snapshot.get(i)["properties"] for i in ids[:VERIFY_PAGE]]
    return render_template("portal/verify.html", rows=rows, total=len(ids), days=max_age_days(),
                           district=district or "", last_verified=last_verified, actor=current_actor())


@bp.post("/portal/stations/<station_id>/verify")
@role_required(*WRITERS)
def verify(station_id: str):
    """仍在运营: record that the station exists and works today (an audited write of ``verified_at``)."""
    resolve.verify(get_store(), station_id, current_actor())
    flash(t("portal.verified_done", id=station_id), "success")
    target = request.form.get("next", "")
    return redirect(target if target.startswith("/portal/") and "//" not in target else url_for("portal_reports.due"))


@bp.post("/api/reports/<code>/decision")
@describe("Confirm (with an outcome) or dismiss (with a reason) a report about your district's station",
          request_body=json_content("ReportDecision"), responses={200: ("The report, closed", json_content("Report"))},
          errors=(400, 401, 403, 404), tags=("reports",))
@write_access
def decide_api(code: str):
    """The same decision as the portal's report page, through the registry's audited writes."""
    g.message_lang = request.args.get("lang") if request.args.get("lang") in ("zh", "en") else "en"
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or body.get("action") not in ("confirm", "dismiss"):
        raise ValidationError(Problem("action", Text("report.outcome")))
    reports, actor = get_reports(), current_actor()
    if body["action"] == "dismiss":
        report = resolve.dismiss(reports, code[:32], actor, str(body.get("reason") or ""))
    else:
        outcome = body.get("outcome") if body.get("outcome") in CONFIRM_OUTCOMES else "?"
        report = resolve.confirm(get_store(), reports, code[:32], actor, outcome, hours=body.get("opening_hours"),
                                 reason=str(body.get("reason") or ""))
    return jsonify({"ok": True, **report.as_dict()})


@bp.post("/api/stations/<station_id>/verify")
@describe("Record that a station still operates today (sets verified_at; audited)",
          responses={200: ("The station", json_content("StationResult"))}, errors=(400, 401, 403, 404))
@write_access
def verify_api(station_id: str):
    """A district's "仍在运营" for one of its stations."""
    feature = resolve.verify(get_store(), station_id, current_actor())
    return jsonify({"ok": True, "station": feature, "registry_version": get_snapshot().version})
