"""Riders' side of problem reports and freshness, and the place search: pages and public API.

Pages: ``/stations/<id>/report`` (a form that works without JavaScript; the pin for "not here"
is dragged on a small map by static/js/report.js) and ``/reports/<code>`` (the receipt: what
the district did). API: ``POST /api/reports`` (no account; limited per address and per station),
``GET /api/reports/<code>``, ``GET /api/reports`` (signed-in district staff), ``GET /api/freshness``
and ``GET /api/search``. Notes are kept as plain text and shown escaped.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, url_for

from geo import schema
from geo.errors import NotFoundError, Problem, ValidationError
from geo.hours import describe_hours
from geo.messages import Text
from geo.queries.search import MAX_QUERY_CHARS, search_places
from geo.registry.validate import parse_json_strict
from geo.reports.freshness import stale_ids
from geo.reports.limits import ReportLimits, ReportRefusedError
from geo.reports.model import CATEGORIES, MAX_NOTE_CHARS, OUTCOMES, REPORT_STATUSES, check_submission
from webmap.core import mapbuild
from webmap.core import params as p
from webmap.core.errors import error_response
from webmap.core.i18n import get_lang, message_lang
from webmap.core.openapi import describe, json_content, register_schema
from webmap.core.page import page_config, provider_settings
from webmap.core.reports_state import get_reports, max_age_days
from webmap.core.responses import cached, json_body, query_etag
from webmap.core.state import get_snapshot, get_store
from webmap.signin.auth import current_user, unauthenticated

bp = Blueprint("problems", __name__)
LIMITS = "stationmap.report_limits"
# A report is a few hundred bytes; anything much bigger is refused before it is read.
MAX_REPORT_BYTES = 16 * 1024

register_schema("ReportInput", {"type": "object", "required": ["station_id", "category"], "properties": {
    "station_id": {"type": "string", "example": "500103-OS-0001"},
    "category": {"type": "string", "enum": list(CATEGORIES)},
    "facility": {"type": "string", "enum": list(schema.AMENITIES), "description": "which one is broken (facility_broken)"},
    "lon": {"type": "number", "description": "WGS-84: where the station really is (not_here)"},
    "lat": {"type": "number", "description": "WGS-84: where the station really is (not_here)"},
    "note": {"type": "string", "maxLength": MAX_NOTE_CHARS, "description": "plain text; markup is removed"}}})
register_schema("Report", {"type": "object", "properties": {
    "code": {"type": "string", "description": "receipt code: /reports/<code> shows the outcome"},
    "station_id": {"type": "string"}, "station_name": {"type": "string"},
    "category": {"type": "string", "enum": list(CATEGORIES)}, "facility": {"type": "string"},
    "status": {"type": "string", "enum": list(REPORT_STATUSES)},
    "outcome": {"type": "string", "enum": ["", *OUTCOMES]}, "reason": {"type": "string"},
    "reports": {"type": "integer", "description": "how many riders sent this (duplicates are merged)"},
    "created_at": {"type": "string"}, "updated_at": {"type": "string"}}})
register_schema("Freshness", {"type": "object", "properties": {
    "max_age_days": {"type": "integer"}, "stale": {"type": "array", "items": {"type": "string"},
                                                   "description": "active stations not verified for max_age_days"},
    "reported_closed": {"type": "array", "items": {"type": "string"}, "description": "stations with an open 'closed' report"},
    "open_reports": {"type": "object", "additionalProperties": {"type": "integer"}}}})
register_schema("PlaceList", {"type": "object", "properties": {
    "query": {"type": "string"}, "count": {"type": "integer"},
    "results": {"type": "array", "items": {"type": "object"}}}})


def init_app(app) -> None:
    """Report limits (counters shared by every server process in SQLite) and the API's CSRF exemption."""
    from webmap.signin import attempts  # noqa: F401 - registers the sqlite:// limits storage

    if not app.config.get("REPORT_LIMITS_STORAGE_URI"):  # the store's counters (SQLite beside the reports, or the database)
        from webmap.core.state import get_app_state

        default = Path(app.config["REPORTS_PATH"]).with_name(".report_limits.sqlite")
        app.config["REPORT_LIMITS_STORAGE_URI"] = get_app_state(app).counters_uri(default)
    app.extensions[LIMITS] = ReportLimits(app.config["REPORT_LIMITS_STORAGE_URI"])
    # Hours for people in every template (portal pages included): hours_text("Mo-Fr 08:00-18:00").
    app.jinja_env.globals["hours_text"] = lambda text: describe_hours(text or "", get_lang())
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt("webmap.public.problems.submit_api")


def _limits() -> ReportLimits:
    return current_app.extensions[LIMITS]


def _message_lang() -> str:
    """The API's rule for error messages (``?lang=``, else ``Accept-Language``, else English)."""
    return message_lang()


def file_report(station_id: str, body) -> tuple[object, bool]:
    """Check, count against the limits and store one report; raises ValidationError / ReportRefusedError."""
    station = get_snapshot().get(station_id)
    submission = check_submission(station, body)
    _limits().hit(request.remote_addr or "unknown", station_id)
    return get_reports().submit(submission)


# -- pages ----------------------------------------------------------------------------------


@bp.route("/stations/<station_id>/report", methods=["GET", "POST"])
def report_form(station_id: str):
    """报告问题: what is wrong, which facility, where it really is (drag the pin), a note. No account."""
    if len(station_id) > 64:
        raise NotFoundError(Text("registry.not_found", id=station_id[:64]))
    lang = get_lang()
    feature = get_snapshot().get(station_id)
    errors, status, values = [], 200, {}
    if request.method == "POST" and (request.content_length or 0) > MAX_REPORT_BYTES:
        errors, status = [Problem("body", Text("report.too_big", max=MAX_REPORT_BYTES // 1024)).as_dict(lang)], 413
    elif request.method == "POST":
        values = {k: request.form.get(k, "") for k in ("category", "facility", "lon", "lat", "note")}
        try:
            report, _ = file_report(station_id, values)
            return redirect(url_for("problems.receipt", code=report.code, new=1))
        except ValidationError as exc:
            errors, status = [pr.as_dict(lang) for pr in exc.problems], 400
        except ReportRefusedError as exc:
            errors, status = [{"where": "", "message": exc.message.render(lang), "hint": ""}], 429
    props = feature["properties"]
    lon, lat = feature["geometry"]["coordinates"][:2]
    provider, key = provider_settings()
    parts = mapbuild.station_map(feature, provider, lang, url_for("static", filename=""), key)
    return render_template(
        "report.html", station=props, lon=lon, lat=lat, errors=errors, values=values, map=parts,
        categories={c: t.label(lang) for c, t in CATEGORIES.items()},
        facilities={a: schema.amenity_label(a, lang) for a in (props.get("amenities") or schema.AMENITIES)},
        max_note=MAX_NOTE_CHARS, config=page_config("report", station=[lon, lat]),
    ), status


@bp.route("/reports/<code>")
def receipt(code: str):
    """The reporter's receipt: the station, what was reported, and what the district did about it."""
    lang = get_lang()
    report = get_reports().get(code[:32])
    return render_template(
        "receipt.html", r=report, new=request.args.get("new") == "1",
        category=CATEGORIES[report.category].label(lang),
        facility=schema.amenity_label(report.facility, lang) if report.facility else "",
        status_label=REPORT_STATUSES[report.status].label(lang),
        outcome=OUTCOMES[report.outcome].label(lang) if report.outcome in OUTCOMES else "",
    )


# -- API ---------------------------------------------------------------------------------------


@bp.post("/api/reports")
@describe("Report a problem with a station (no account)", request_body=json_content("ReportInput"),
          responses={201: ("A new report", json_content("Report")),
                     200: ("Merged into the open report with the same station, category and facility", json_content("Report"))},
          errors=(400, 404, 413, 429), tags=("reports",))
def submit_api():
    """Anyone may report; at most 5 reports a minute (30 a day) from one address and 20 an hour about
    one station, refused with 429 and `Retry-After`. An open report with the same station, category
    and facility absorbs the new one (`merged`: true). Messages in `lang` (default Chinese)."""
    lang = g.message_lang = _message_lang()
    if (request.content_length or 0) > MAX_REPORT_BYTES:
        return error_response(413, [Problem("body", Text("report.too_big", max=MAX_REPORT_BYTES // 1024)).as_dict(lang)])
    body = parse_json_strict(request.get_data(), "body") if request.is_json else request.form.to_dict()
    if not isinstance(body, dict):
        return error_response(400, [Problem("body", Text("report.body")).as_dict(lang)])
    station_id = body.get("station_id")
    if not isinstance(station_id, str) or not station_id or len(station_id) > 64:
        return error_response(400, [Problem("station_id", Text("prop.required")).as_dict(lang)])
    try:
        report, merged = file_report(station_id, {k: v for k, v in body.items() if k != "station_id"})
    except ReportRefusedError as exc:
        response = error_response(429, [{"where": "", "message": exc.message.render(lang), "hint": ""}])
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    response = jsonify({"ok": True, "merged": merged, "receipt_url": url_for("problems.receipt", code=report.code),
                        **report.public_dict()})
    response.status_code = 200 if merged else 201
    return response


@bp.get("/api/reports/<code>")
@describe("A report's outcome, by its receipt code", responses={200: ("The report", json_content("Report"))},
          errors=(400, 404), tags=("reports",))
def report_api(code: str):
    """What anyone holding the receipt code may see; the notes and the reporter's pin are for the district."""
    g.message_lang = _message_lang()
    return jsonify(get_reports().get(code[:32]).public_dict())


REPORT_LIST_PARAMS = (
    p.FreeText("district", "District adcode (district accounts: always their own).", max_length=6),
    p.Choice("status", "Which reports.", ("open", "confirmed", "dismissed", "all"), default="open"),
)


@bp.get("/api/reports")
@describe("Reports about a district's stations (signed-in district, planner or admin accounts)",
          params=REPORT_LIST_PARAMS, responses={200: ("Reports, newest first", json_content())},
          errors=(400, 401, 403), tags=("reports",))
def reports_api():
    """Full reports, with notes and pins. District accounts see their own district only."""
    g.message_lang = _message_lang()
    user = current_user()
    if user is None:
        return unauthenticated()
    args = p.parse_args(request.args, REPORT_LIST_PARAMS)
    district = user.district_adcode if user.role == "district" else (args["district"] or None)
    status = None if args["status"] == "all" else args["status"]
    reports = get_reports().list(district=district, status=status)
    return jsonify({"ok": True, "count": len(reports), "reports": [r.as_dict() for r in reports]})


FRESHNESS_PARAMS = (p.FreeText("district", "Only this district (adcode).", max_length=6),)


@bp.get("/api/freshness")
@describe("Which stations are due for verification, and which riders report closed", params=FRESHNESS_PARAMS,
          responses={200: ("Station ids", json_content("Freshness"))}, tags=("reports",))
def freshness_api():
    """`stale`: active stations whose `verified_at` (else `updated_at`) is older than `max_age_days`;
    `reported_closed`: stations with an open "closed" report; `open_reports`: count per district."""
    args = p.parse_args(request.args, FRESHNESS_PARAMS)
    snapshot, reports = get_snapshot(), get_reports()
    closed = reports.reported_closed()
    if args["district"]:
        closed = frozenset(s for s in closed if s in snapshot.by_id
                           and snapshot.get(s)["properties"]["district_adcode"] == args["district"])
    body = {"max_age_days": max_age_days(), "registry_version": snapshot.version,
            "stale": stale_ids(snapshot.features, max_age_days=max_age_days(), district=args["district"] or None),
            "reported_closed": sorted(closed), "open_reports": reports.open_counts()}
    response = jsonify(body)
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


SEARCH_PARAMS = (
    p.FreeText("q", "Place, street, 街道/镇, district, station name or address, or pinyin initials (jfb).",
           max_length=MAX_QUERY_CHARS, required=True),
    p.Integer("limit", "At most this many results, 1–20.", 1, 20, default=10),
)


@bp.get("/api/search")
@describe("Find a place without GPS", params=SEARCH_PARAMS,
          responses={200: ("Matching places, best first, WGS-84", json_content("PlaceList"))},
          errors=(400,), tags=("finder",))
def search_api():
    """Landmarks and districts first, then 街道/镇 and streets from the registry's addresses, then stations."""
    args = p.parse_args(request.args, SEARCH_PARAMS)
    snapshot = get_snapshot()
    places = search_places(snapshot, args["q"], args["limit"])
    etag = query_etag(snapshot.version)
    return cached(etag, "public, max-age=300",
                  lambda: json_body({"query": args["q"], "count": len(places), "results": [pl.as_dict() for pl in places]}))


def district_of(station_id: str) -> str | None:
    try:
        return get_store().get(station_id)["properties"]["district_adcode"]
    except NotFoundError:
        return None
