"""The district portal: upload and check a station list, commit it, edit or retire stations, and (admins) read the audit log.

Pages: ``/upload`` (dry run → report and preview map → confirm warned rows → commit),
``/portal/stations`` (a district sees its own stations, planners and admins all),
``/portal/stations/<id>/edit``, ``…/retire``, ``…/restore`` (admin) and ``/portal/audit``
with CSV/JSON export (admin). Planners see the same pages read-only. Every form carries
the CSRF token; every write goes through the store, which checks rights again.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from geo import schema
from geo.access.permissions import require_write
from geo.coords import from_wgs84
from geo.errors import PermissionDeniedError, Problem, ValidationError
from geo.messages import localise, message_of, place
from geo.uploads.pipeline import ConfirmationRequiredError, UploadRejectedError, commit_upload, review_upload
from webmap.core.i18n import get_lang, t
from webmap.core.state import get_snapshot, get_store
from webmap.portal import ops as portal_ops
from webmap.portal.api import check_crs_field, uploaded_file
from webmap.portal.stash import UploadStash, report_fingerprint
from webmap.signin.auth import current_actor, current_user, role_required

bp = Blueprint("portal", __name__)

WRITERS = ("district", "admin")
EVERYONE = ("district", "planner", "admin")
PAGE_SIZE = 50
AUDIT_PAGE_SIZE = 100


def init_app(app) -> None:
    app.extensions["stationmap_upload_stash"] = UploadStash(app.config.get("UPLOAD_STASH_DIR"),
                                                            int(app.config["UPLOAD_STASH_TTL_S"]))


def _stash() -> UploadStash:
    return current_app.extensions["stationmap_upload_stash"]


def _limits() -> dict:
    return {"max_bytes": int(current_app.config.get("MAX_CONTENT_LENGTH") or 10 * 1024 * 1024),
            "max_rows": int(current_app.config["MAX_UPLOAD_ROWS"])}


def _district_choices() -> list[tuple[str, str]]:
    districts = get_store().districts
    return [(code, districts.name(code)) for code in sorted(districts.by_adcode)]


@bp.app_context_processor
def _portal_helpers():
    return {"role_label": lambda role: t(f"portal.role_{role}"), "district_name": _district_name}


def _district_name(adcode: str | None) -> str:
    districts = get_store().districts
    return districts.name(adcode) if adcode in districts.by_adcode else (adcode or "")


# -- upload -----------------------------------------------------------------------------


def _upload_page(report=None, token=None, status=200, errors=(), notice=None, choices=None):
    user = current_user()
    crs_choices = {code: term.label("en" if get_lang() == "en" else "zh") for code, term in schema.INPUT_CRS.items()}
    preview = _preview(report) if report is not None and report.rows else None
    parts = _preview_map() if preview else None
    return render_template(
        "portal/upload.html", report=report, token=token, errors=list(errors), notice=notice,
        crs_choices=crs_choices, chosen_crs=request.form.get("crs", ""), preview=preview, map=parts,
        can_write=user.role in WRITERS, choices=choices or {}, limits=_limits(),
        limit_mb=f"{_limits()['max_bytes'] / 1024 / 1024:g}",
    ), status


def _preview_map():
    """The finder's base map (tiles, outlines, our Leaflet) from the pages blueprint, if it can be built."""
    try:
        from webmap.core import mapbuild
        from webmap.core.page import cached_map
    except ImportError:
        return None
    store = get_store()
    static = Path(current_app.static_folder or "") / "vendor" / "leaflet" / "leaflet.js"
    if not static.exists():
        return None
    return cached_map("finder", lambda **kw: mapbuild.finder_map(store.districts, **kw))


def _preview(report) -> dict:
    """The report's preview features reduced to what the map script shows, with coordinates in the map's CRS."""
    try:
        from webmap.core.mapbuild import display_crs, resolve_provider

        crs = display_crs(resolve_provider(current_app.config))
    except ImportError:
        crs = "wgs84"
    lang = get_lang()
    points = []
    for feature in report.preview(lang)["features"]:
        lon, lat = feature["geometry"]["coordinates"][:2]
        if crs != "wgs84":
            lon, lat = from_wgs84(lon, lat, crs)
        upload = feature["upload"]
        points.append({"lonlat": [lon, lat], "state": upload["state"], "label": localise(place(upload["label"]), lang),
                       "name": feature["properties"].get("name") or "", "id": feature["properties"].get("id") or "",
                       "messages": upload["messages"][:5]})
    return {"points": points, "states": {"ok": t("portal.report_ok"), "warning": t("portal.warnings_title"), "problem": t("portal.col_problem")}}


@bp.route("/upload", methods=["GET", "POST"])
@role_required(*EVERYONE)
def upload():
    """GET: the form (planners: read-only notice). POST: the dry run: report, preview and, if clean, a commit token."""
    if request.method == "GET":
        return _upload_page()
    actor = current_actor()
    require_write(actor, actor.district_adcode)
    try:
        crs = check_crs_field(request.form.get("crs"))
        filename, raw = uploaded_file()
    except ValidationError as exc:
        return _upload_page(status=400, errors=[p.as_dict(get_lang()) for p in exc.problems])
    store = get_store()
    report = review_upload(filename, raw, crs, store.snapshot(), actor, store.districts, **_limits())
    token = _stash().save(actor, filename, crs, raw, report_fingerprint(report)) if report.ok else None
    return _upload_page(report, token)


@bp.post("/upload/commit")
@role_required(*WRITERS)
def upload_commit():
    """Re-check the stashed file against the registry as it is now; commit only if nothing changed and every warning is answered."""
    actor = current_actor()
    claimed = _stash().claim(request.form.get("token", ""), actor)
    if claimed is None:
        return _upload_page(status=410, errors=[{"message": t("portal.upload_expired")}])
    meta, raw = claimed
    store = get_store()
    report = review_upload(meta["filename"], raw, meta["crs"], store.snapshot(), actor, store.districts, **_limits())
    choices = {r: request.form.get(f"choice-{r}") for r in report.needs_confirmation}

    def again(status, message=None, errors=()):
        token = _stash().save(actor, meta["filename"], meta["crs"], raw, report_fingerprint(report)) if report.ok else None
        return _upload_page(report, token, status=status, notice=message, errors=errors, choices=choices)

    if not report.ok or report_fingerprint(report) != meta["fingerprint"]:
        return again(409, t("portal.commit_changed"))
    if any(choice not in ("keep", "drop") for choice in choices.values()):
        return again(400, errors=[{"message": t("portal.unconfirmed")}])
    keep = {r for r, c in choices.items() if c == "keep"}
    drop = {r for r, c in choices.items() if c == "drop"}
    try:
        ids = commit_upload(store, report, actor, confirm_duplicates=keep, drop=drop)
    except (UploadRejectedError, ConfirmationRequiredError):
        return again(409, t("portal.commit_changed"))
    except ValidationError:
        return again(400, errors=[{"message": t("portal.nothing_to_commit")}])
    flash(t("portal.commit_done", n=len(ids), ids=", ".join(ids)), "success")
    return redirect(url_for("portal.stations", new=",".join(ids[:50])))


# -- stations -------------------------------------------------------------------------


@bp.route("/portal")
@role_required(*EVERYONE)
def home():
    return redirect(url_for("portal.stations"))


@bp.route("/portal/stations")
@role_required(*EVERYONE)
def stations():
    """A district's own stations (planners and admins: any district), filtered and paged."""
    user = current_user()
    args = request.args
    district = user.district_adcode if user.role == "district" else (args.get("district") or "")
    if district and district not in get_store().districts.by_adcode:
        district = ""
    status = args.get("status") if args.get("status") in schema.STATUSES else ""
    query = (args.get("q") or "").strip()[:100]
    folded = query.casefold()
    snapshot = get_snapshot()
    rows = [f for f in snapshot.features
            if (not district or f["properties"]["district_adcode"] == district)
            and (not status or f["properties"]["status"] == status)
            and (not folded or folded in f["properties"]["name"].casefold() or folded in f["properties"]["id"].casefold())]
    rows.sort(key=lambda f: f["properties"]["id"])
    page, pages = _page(len(rows), PAGE_SIZE)
    new_ids = set((args.get("new") or "").split(","))
    return render_template(
        "portal/stations.html", rows=rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE], total=len(rows), page=page,
        pages=pages, district=district, status=status, query=query, districts=_district_choices(),
        kinds={c: t.label(get_lang()) for c, t in schema.KINDS.items()},
        statuses={c: t.label(get_lang()) for c, t in schema.STATUSES.items()}, new_ids=new_ids, actor=current_actor(),
    )


def _page(total: int, size: int) -> tuple[int, int]:
    pages = max(1, -(-total // size))
    raw = request.args.get("page", "1")
    page = int(raw) if raw.isdigit() and len(raw) < 7 else 1
    return min(max(page, 1), pages), pages


def _edit_page(feature, values=None, errors=(), status=200, notice=None):
    props = feature["properties"]
    lon, lat = feature["geometry"]["coordinates"][:2]
    lang = get_lang()
    values = values or {**{k: props.get(k) or "" for k in portal_ops.TEXT_FIELDS}, "amenities": props.get("amenities", []),
                        "honours": props.get("honours", []), "lon": repr(lon), "lat": repr(lat), "crs": "wgs84"}
    return render_template(
        "portal/edit.html", s=feature, values=values, errors=list(errors), notice=notice,
        amenities={c: t.label(lang) for c, t in schema.AMENITIES.items()},
        honours={c: t.label(lang) for c, t in schema.HONOURS.items()},
        crs_choices={c: t.label(lang) for c, t in schema.INPUT_CRS.items()}, is_admin=current_user().role == "admin",
    ), status


@bp.route("/portal/stations/<station_id>/edit", methods=["GET", "POST"])
@role_required(*WRITERS)
def edit_station(station_id: str):
    """Edit details and location. A form older than the station's last change is refused (409), not applied over it."""
    feature = get_snapshot().get(station_id)
    actor = current_actor()
    require_write(actor, feature["properties"]["district_adcode"])
    if request.method == "GET":
        return _edit_page(feature)
    form = request.form
    submitted = {**{k: form.get(k, "") for k in portal_ops.TEXT_FIELDS}, "amenities": form.getlist("amenities"),
                 "honours": form.getlist("honours") if actor.role == "admin" else feature["properties"].get("honours", []),
                 "lon": form.get("lon", ""), "lat": form.get("lat", ""), "crs": form.get("crs", "wgs84")}
    if form.get("updated_at") != feature["properties"]["updated_at"]:
        return _edit_page(feature, notice=t("portal.stale_edit"), status=409)
    store = get_store()
    try:
        body = portal_ops.form_to_edit(form, feature, actor)
        changes, coordinates = portal_ops.station_changes(body, feature, actor, store.districts)
    except ValidationError as exc:
        return _edit_page(feature, submitted, [p.as_dict(get_lang()) for p in exc.problems], status=400)
    except PermissionDeniedError as exc:
        return _edit_page(feature, submitted, [Problem("honours", message_of(exc)).as_dict(get_lang())], status=403)
    if not changes and coordinates is None:
        flash(t("portal.no_change"), "info")
    else:
        store.update(station_id, changes, actor, coordinates=coordinates)
        flash(t("portal.saved", id=station_id), "success")
    return redirect(url_for("portal.stations", **_list_args()))


def _list_args() -> dict:
    return {k: v for k, v in request.args.items() if k in ("district", "status", "q", "page") and v}


@bp.route("/portal/stations/<station_id>/retire", methods=["GET", "POST"])
@role_required(*WRITERS)
def retire_station(station_id: str):
    """GET asks for confirmation; POST retires (only an admin can undo it)."""
    feature = get_snapshot().get(station_id)
    actor = current_actor()
    require_write(actor, feature["properties"]["district_adcode"])
    if request.method == "GET":
        return render_template("portal/retire.html", s=feature)
    get_store().retire(station_id, actor)
    flash(t("portal.retired", id=station_id), "success")
    return redirect(url_for("portal.stations", **_list_args()))


@bp.post("/portal/stations/<station_id>/restore")
@role_required("admin")
def restore_station(station_id: str):
    get_store().restore(station_id, current_actor())
    flash(t("portal.restored", id=station_id), "success")
    return redirect(url_for("portal.stations", **_list_args()))


# -- audit -------------------------------------------------------------------------------


@bp.route("/portal/audit")
@role_required("admin")
def audit():
    """Every write, newest first, filtered by district, account, action and dates."""
    try:
        filters = portal_ops.audit_filters(request.args)
        errors = []
    except ValidationError as exc:
        filters, errors = {}, [p.as_dict(get_lang()) for p in exc.problems]
    rows = portal_ops.audit_rows(portal_ops.query_audit(get_store(), filters)) if not errors else []
    page, pages = _page(len(rows), AUDIT_PAGE_SIZE)
    export_args = {k: v for k, v in request.args.items() if k in ("district", "actor", "action", "station_id", "since", "until") and v}
    return render_template(
        "portal/audit.html", rows=rows[(page - 1) * AUDIT_PAGE_SIZE: page * AUDIT_PAGE_SIZE], total=len(rows),
        page=page, pages=pages, errors=errors, args=request.args, districts=_district_choices(),
        actions=portal_ops.AUDIT_ACTIONS, export_args=export_args, status=400 if errors else 200,
    ), 400 if errors else 200


@bp.route("/portal/audit/export")
@role_required("admin")
def audit_export():
    """The filtered log as CSV (UTF-8 with BOM for Excel, formulas neutralised) or JSON, as a download."""
    filters = portal_ops.audit_filters(request.args)
    entries = portal_ops.query_audit(get_store(), filters)
    if request.args.get("format") == "json":
        return current_app.response_class(
            portal_ops.audit_json(entries, filters), mimetype="application/json",
            headers={"Content-Disposition": 'attachment; filename="stationmap-audit.json"'})
    return current_app.response_class(
        portal_ops.audit_csv(entries), mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="stationmap-audit.csv"'})

