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
from geo.listing.status import filter_by_listing, listing_status, set_listing_status
from geo.messages import localise, message_of, place
from geo.uploads.pipeline import ConfirmationRequiredError, UploadRejectedError, commit_upload
from webmap.core.i18n import get_lang, t
from webmap.core.state import get_snapshot, get_store
from webmap.portal import idempotency
from webmap.portal import ops as portal_ops
from webmap.portal.api import check_crs_field, review_file, upload_limits, uploaded_file
from webmap.portal.idempotency import idempotent
from webmap.portal.stash import UploadStash, report_fingerprint
from webmap.signin.auth import current_actor, current_user, role_required

bp = Blueprint("portal", __name__)

WRITERS = ("district", "admin")
EVERYONE = ("district", "planner", "admin")
PAGE_SIZE = 50
AUDIT_PAGE_SIZE = 100
MAX_REASON_CHARS = 200


def init_app(app) -> None:
    from webmap.core.state import get_app_state
    from webmap.portal.stash import default_directory

    idempotency.init_app(app)
    directory = app.config.get("UPLOAD_STASH_DIR") or default_directory()
    app.extensions["stationmap_upload_stash"] = UploadStash(directory, int(app.config["UPLOAD_STASH_TTL_S"]),
                                                            drafts=get_app_state(app).drafts(directory))


def _stash() -> UploadStash:
    return current_app.extensions["stationmap_upload_stash"]


def _limits() -> dict:
    return upload_limits()


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
    report = review_file(filename, raw, crs, actor)
    token = _stash().save(actor, filename, crs, raw, report_fingerprint(report)) if report.ok else None
    return _upload_page(report, token)


@bp.post("/upload/commit")
@role_required(*WRITERS)
@idempotent
def upload_commit():
    """Re-check the stashed file against the registry as it is now; commit only if nothing changed and every warning is answered."""
    actor = current_actor()
    claimed = _stash().claim(request.form.get("token", ""), actor)
    if claimed is None:
        return _upload_page(status=410, errors=[{"message": t("portal.upload_expired")}])
    meta, raw = claimed
    store = get_store()
    report = review_file(meta["filename"], raw, meta["crs"], actor)
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
        result = commit_upload(store, report, actor, confirm_duplicates=keep, drop=drop)
    except (UploadRejectedError, ConfirmationRequiredError):
        return again(409, t("portal.commit_changed"))
    except ValidationError:
        return again(400, errors=[{"message": t("portal.nothing_to_commit")}])
    if result.nothing_changed:
        flash(t("portal.commit_nothing"), "info")
        return redirect(url_for("portal.stations"))
    if result.updated or result.unchanged:
        flash(t("portal.commit_summary", added=len(result.added), updated=len(result.updated), unchanged=result.unchanged), "success")
    else:
        flash(t("portal.commit_done", n=len(result.added), ids=", ".join(result.added)), "success")
    return redirect(url_for("portal.stations", new=",".join((result.added + result.updated)[:50])))


@bp.route("/portal/sheet.<any(csv, xlsx):fmt>")
@role_required(*WRITERS)
def district_sheet(fmt: str):
    """The account's district's stations in the upload template, with 编号: edit and upload again to update."""
    from geo.uploads.sheet import sheet_csv, sheet_xlsx

    district, snapshot = _export_scope(), get_snapshot()
    data = sheet_csv(snapshot, district) if fmt == "csv" else sheet_xlsx(snapshot, district)
    return _attachment(data, fmt, f"stations-{district or 'all'}-v{snapshot.version}.{fmt}")


def _export_scope() -> str | None:
    """The district an export covers: a clerk's own, whatever is asked; an administrator's choice (None: the city)."""
    user = current_user()
    district = user.district_adcode if user.role == "district" else (request.args.get("district") or None)
    return district if district in get_store().districts.by_adcode else None


def _attachment(data: bytes, fmt: str, name: str):
    mimetype = "text/csv" if fmt == "csv" else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return current_app.response_class(data, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})


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
    platform = args.get("platform") if args.get("platform") in schema.LISTING_PLATFORMS else ""
    listing = args.get("listing") if args.get("listing") in schema.LISTING_STATUSES else ""
    rows = [f for f in snapshot.where(district=district or None, status=status or None)
            if not folded or folded in f["properties"]["name"].casefold() or folded in f["properties"]["id"].casefold()]
    rows = filter_by_listing(rows, platform or None, listing or None)
    rows.sort(key=lambda f: f["properties"]["id"])
    page, pages = _page(len(rows), PAGE_SIZE)
    new_ids = set((args.get("new") or "").split(","))
    return render_template(
        "portal/stations.html", rows=rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE], total=len(rows), page=page,
        pages=pages, district=district, status=status, query=query, districts=_district_choices(),
        kinds={c: t.label(get_lang()) for c, t in schema.KINDS.items()},
        statuses={c: t.label(get_lang()) for c, t in schema.STATUSES.items()}, new_ids=new_ids, actor=current_actor(),
        platform=platform, listing=listing, listing_platforms={c: t.label(get_lang()) for c, t in schema.LISTING_PLATFORMS.items()},
        listing_statuses={c: t.label(get_lang()) for c, t in schema.LISTING_STATUSES.items()},
    )


# -- 上图 ---------------------------------------------------------------------------------


@bp.route("/portal/stations/<station_id>/listing", methods=["GET", "POST"])
@role_required(*WRITERS)
def station_listing(station_id: str):
    """The station's 上图 status on each map platform (未提交/已提交/已上线/被驳回 + note), set by its district, audited."""
    feature = get_snapshot().get(station_id)
    actor = current_actor()
    require_write(actor, feature["properties"]["district_adcode"])
    lang = get_lang()
    errors = []
    if request.method == "POST":
        store = get_store()
        for platform in schema.LISTING_PLATFORMS:
            status = request.form.get(f"status-{platform}", "")
            note = request.form.get(f"note-{platform}", "")
            try:
                set_listing_status(store, station_id, platform, status, note, actor)
            except ValidationError as exc:
                errors += [{**p.as_dict(lang), "where": schema.LISTING_PLATFORMS[platform].label(lang)} for p in exc.problems]
        if not errors:
            flash(t("portal.listing_saved", id=station_id), "success")
            return redirect(url_for("portal.stations", **_list_args()))
        feature = get_snapshot().get(station_id)
    current = {p: listing_status(feature["properties"], p) for p in schema.LISTING_PLATFORMS}
    return render_template(
        "portal/listing.html", s=feature, current=current, errors=errors,
        platforms={c: t.label(lang) for c, t in schema.LISTING_PLATFORMS.items()},
        statuses={c: t.label(lang) for c, t in schema.LISTING_STATUSES.items()},
    ), 400 if errors else 200


@bp.route("/portal/listing/<platform>.<any(csv, xlsx):fmt>")
@role_required(*WRITERS)
def listing_export(platform: str, fmt: str):
    """A district's (or, for administrators, any district's or the whole city's) stations in a platform's bulk format."""
    from geo.listing.platforms import listing_csv, listing_xlsx

    if platform not in schema.LISTING_PLATFORMS:
        raise ValidationError(Problem("platform", t("portal.listing_unknown_platform")))
    district, snapshot = _export_scope(), get_snapshot()
    data = listing_csv(snapshot, platform, district) if fmt == "csv" else listing_xlsx(snapshot, platform, district)
    return _attachment(data, fmt, f"shangtu-{platform}-{district or '500000'}.{fmt}")


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
@idempotent
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
        store.update(station_id, changes, actor, coordinates=coordinates, base=feature)
        flash(t("portal.saved", id=station_id), "success")
    return redirect(url_for("portal.stations", **_list_args()))


def _list_args() -> dict:
    return {k: v for k, v in request.args.items() if k in ("district", "status", "q", "page") and v}


@bp.route("/portal/stations/<station_id>/retire", methods=["GET", "POST"])
@role_required(*WRITERS)
@idempotent
def retire_station(station_id: str):
    """GET asks for confirmation; POST retires (only an admin can undo it)."""
    feature = get_snapshot().get(station_id)
    actor = current_actor()
    require_write(actor, feature["properties"]["district_adcode"])
    if request.method == "GET":
        return render_template("portal/retire.html", s=feature, reason="", error=None)
    reason = " ".join((request.form.get("reason") or "").split())[:MAX_REASON_CHARS]
    if not reason:
        return render_template("portal/retire.html", s=feature, reason="", error=t("portal.retire_reason_missing")), 400
    get_store().retire(station_id, actor, reason=reason)
    flash(t("portal.retired", id=station_id), "success")
    return redirect(url_for("portal.stations", **_list_args()))


@bp.post("/portal/stations/<station_id>/restore")
@role_required("admin")
@idempotent
def restore_station(station_id: str):
    get_store().restore(station_id, current_actor())
    flash(t("portal.restored", id=station_id), "success")
    return redirect(url_for("portal.stations", **_list_args()))


# -- audit -------------------------------------------------------------------------------


def _audit_scope(filters: dict) -> str | None:
    """A district clerk sees their own district's entries only, whatever the query asks; administrators all."""
    user = current_user()
    if user.role == "district":
        filters["district"] = user.district_adcode
        return user.district_adcode
    return None


@bp.route("/portal/audit")
@role_required("admin", "district")
def audit():
    """Every write, newest first, filtered by district, account, action and dates (a district: its own)."""
    try:
        filters = portal_ops.audit_filters(request.args)
        errors = []
    except ValidationError as exc:
        filters, errors = {}, [p.as_dict(get_lang()) for p in exc.problems]
    own = _audit_scope(filters)
    rows = portal_ops.audit_rows(portal_ops.query_audit(get_store(), filters), get_lang(), own) if not errors else []
    page, pages = _page(len(rows), AUDIT_PAGE_SIZE)
    export_args = {k: v for k, v in request.args.items() if k in ("district", "actor", "action", "station_id", "since", "until") and v}
    return render_template(
        "portal/audit.html", rows=rows[(page - 1) * AUDIT_PAGE_SIZE: page * AUDIT_PAGE_SIZE], total=len(rows),
        page=page, pages=pages, errors=errors, args=request.args, districts=_district_choices(),
        actions=portal_ops.AUDIT_ACTIONS, export_args=export_args, status=400 if errors else 200, own=own,
        mismatch=_audit_mismatch(),
    ), 400 if errors else 200


def _audit_mismatch() -> dict | None:
    status = getattr(get_store(), "audit_status", None)
    if status is None:
        return None
    state = status()
    return None if state["consistent"] else state


@bp.route("/portal/stations/<station_id>/history")
@role_required("admin", "district")
def station_history(station_id: str):
    """One station's changes, oldest first, field by field in Chinese (old → new); a clerk: own district only."""
    feature = get_snapshot().get(station_id)
    user = current_user()
    if user.role == "district" and feature["properties"]["district_adcode"] != user.district_adcode:
        raise PermissionDeniedError(t("portal.forbidden"))
    lang = get_lang()
    entries = portal_ops.audit_rows(get_store().history(station_id), lang)
    entries = [e for e in entries if e["station_id"] == station_id]
    return render_template("portal/history.html", s=feature, entries=entries)


@bp.route("/portal/audit/export")
@role_required("admin", "district")
def audit_export():
    """The filtered log as CSV (UTF-8 with BOM for Excel, formulas neutralised) or JSON, as a download."""
    filters = portal_ops.audit_filters(request.args)
    own = _audit_scope(filters)
    entries = portal_ops.query_audit(get_store(), filters)
    if own:   # an administrator's write can touch several districts: keep only this one's changes
        entries = [{**e, "changes": [c for c in e.get("changes", [])
                                     if ((c.get("after") or {}).get("properties") or {}).get("district_adcode") == own]}
                   for e in entries]
        entries = [e for e in entries if e["changes"]]
    if request.args.get("format") == "json":
        return current_app.response_class(
            portal_ops.audit_json(entries, filters), mimetype="application/json",
            headers={"Content-Disposition": 'attachment; filename="stationmap-audit.json"'})
    return current_app.response_class(
        portal_ops.audit_csv(entries, own), mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="stationmap-audit.csv"'})

