"""The write API (mounted at /api): district uploads, station edits, retire/restore and the audit log.

Callers authenticate with ``Authorization: Bearer <token>`` (programs) or the portal's
session cookie plus the ``X-CSRFToken`` header (pages). Bodies are parsed strictly
(``geo.registry.validate.parse_json_strict``: no NaN/Infinity, duplicate keys, deep nesting or
lone surrogates; here also no number that overflows to infinity). Rights are checked
here for a clear message and again by the store, which is the real line of defence.
Every answer is JSON; errors use the envelope ``{"ok": false, "errors": [...], "status": N}``.
Messages (errors, the upload report) are English for programs; ``?lang=zh`` or an
``Accept-Language`` that prefers Chinese gets them in Chinese (answers say ``Vary: Accept-Language``).
"""

from __future__ import annotations

import math
from functools import wraps

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from geo import schema
from geo.access.permissions import require_write
from geo.errors import Problem, ValidationError
from geo.messages import LANGS, Text
from geo.registry.validate import one_of, parse_json_strict
from geo.uploads.pipeline import (
    ConfirmationRequiredError,
    UploadRejectedError,
    commit_upload,
    read_upload,
    review_upload,
)
from webmap.core.errors import error_response, http_error
from webmap.core.gates import gate
from webmap.core.i18n import message_lang
from webmap.core.openapi import describe, json_content, register_schema
from webmap.core.params import Choice
from webmap.core.state import get_snapshot, get_store
from webmap.portal import ops as portal_ops
from webmap.portal.idempotency import idempotent
from webmap.signin.auth import current_actor, current_user, forbidden, protect_session_write, unauthenticated

bp = Blueprint("api_write", __name__)

AUDIT_PAGE_MAX = 10_000
LANG_PARAM = Choice("lang", "Language of messages (errors, upload report): `en` (the default) or `zh`. Without it an "
                            "`Accept-Language` that prefers Chinese (e.g. `zh-CN`) answers in Chinese; answers carry "
                            "`Vary: Accept-Language`.", LANGS)

register_schema("StationPatch", {
    "type": "object", "minProperties": 1, "additionalProperties": False,
    "properties": {
        **{name: {"type": "string"} for name in portal_ops.TEXT_FIELDS},
        "amenities": {"type": "array", "items": {"type": "string", "enum": list(schema.AMENITIES)}},
        "honours": {"type": "array", "items": {"type": "string", "enum": list(schema.HONOURS)},
                    "description": "administrators only"},
        "lon": {"type": "number", "description": "degrees in `crs`; with lat moves the station"},
        "lat": {"type": "number", "description": "degrees in `crs`"},
        "crs": {"type": "string", "enum": list(schema.INPUT_CRS), "default": "wgs84"},
    },
})
register_schema("StationResult", {"type": "object", "properties": {
    "ok": {"const": True}, "station": {"$ref": "#/components/schemas/StationFeature"},
    "registry_version": {"type": "integer"}}})
register_schema("UploadForm", {"type": "object", "required": ["file", "crs"], "properties": {
    "file": {"type": "string", "format": "binary", "description": ".csv, .xlsx or .geojson, at most 10 MB"},
    "crs": {"type": "string", "enum": list(schema.INPUT_CRS),
            "description": "the coordinates' system: wgs84 (GPS, Tianditu), gcj02 (Amap, Tencent, WeChat), bd09 (Baidu)"},
    "dry_run": {"type": "string", "enum": ["1", "0"], "default": "1", "description": "1: check only; 0: check and commit"},
    "confirm_duplicates": {"type": "string", "description": "`1` keeps every warned row, or comma-separated row numbers to keep"},
    "drop": {"type": "string", "description": "comma-separated row numbers to leave out"}}})
register_schema("UploadResult", {"type": "object", "properties": {
    "ok": {"const": True}, "dry_run": {"type": "boolean"},
    "valid": {"type": "boolean", "description": "no blocking problem"},
    "ids": {"type": "array", "items": {"type": "string"}, "description": "new station ids (commit only)"},
    "registry_version": {"type": "integer"},
    "report": {"type": "object", "description": "rows, problems (row, field, column, message, suggestion), "
                                                 "warnings needing confirmation, preview FeatureCollection"}}})
register_schema("AuditPage", {"type": "object", "properties": {
    "ok": {"const": True}, "total": {"type": "integer"}, "count": {"type": "integer"},
    "entries": {"type": "array", "items": {"type": "object"}}}})


@bp.after_request
def _vary_on_language(response: Response) -> Response:
    response.vary.add("Accept-Language")
    return response


def envelope(status: int, errors: list, **extra) -> Response:
    """The error envelope with extra members (e.g. the upload report that explains the errors)."""
    response = error_response(status, errors)
    if extra:
        body = response.get_json()
        body.update(extra)
        response = jsonify(body)
        response.status_code = status
    return response


def write_access(view):
    """Signed in by token or session; a session must also send the CSRF token on writes."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if current_user() is None:
            return unauthenticated()
        protect_session_write()
        return view(*args, **kwargs)

    return wrapped


# -- JSON bodies -----------------------------------------------------------------------


def read_json_body():
    """The request's JSON, parsed strictly; 415 for another media type, 413 above the body limit."""
    if request.mimetype != "application/json":
        raise http_error(UnsupportedMediaType, Text("api.json_only"))
    limit = int(current_app.config["API_JSON_BODY_LIMIT"])
    if request.content_length is not None and request.content_length > limit:
        raise http_error(RequestEntityTooLarge, Text("api.json_too_large", size=request.content_length, limit=limit))
    # Cached, so the idempotency fingerprint and this parse read the body once between them;
    # Werkzeug stops at MAX_CONTENT_LENGTH even without a Content-Length.
    raw = request.get_data(cache=True)
    if len(raw) > limit:
        raise http_error(RequestEntityTooLarge, Text("api.json_larger_than", limit=limit))
    data = parse_json_strict(raw, "body")
    reject_non_finite(data)
    return data


def reject_non_finite(data) -> None:
    """Refuse numbers that overflowed to ±inf (``1e400``) and lone surrogates inside lists,
    which ``parse_json_strict`` lets through."""
    stack = [(data, "body")]
    while stack:
        value, where = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            raise ValidationError(Problem(where, Text("api.number_overflow"), Text("api.finite_hint")))
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValidationError(Problem(where, Text("text.lone_surrogate"))) from None
        elif isinstance(value, dict):
            stack.extend((v, f"{k}" if where == "body" else f"{where}.{k}") for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(value))


# -- stations ------------------------------------------------------------------------------


def _station_for_write(station_id: str, restore: bool = False) -> dict:
    """The station (404 if unknown) after a friendly rights check (403); the store checks again."""
    feature = get_snapshot().get(station_id)
    require_write(current_actor(), feature["properties"]["district_adcode"], restore=restore)
    return feature


def _station_result(feature: dict) -> Response:
    return jsonify({"ok": True, "station": feature, "registry_version": get_snapshot().version})


@bp.patch("/stations/<station_id>")
@describe("Edit a station (district: its own; admin: any)", tags=["portal"], method="PATCH", params=(LANG_PARAM,),
          request_body=json_content("StationPatch"),
          responses={200: ("The edited station", json_content("StationResult"))},
          errors=(400, 401, 403, 404, 413, 415))
@write_access
@idempotent
def update_station(station_id: str):
    """Change properties, and with `lon`, `lat` (and `crs`) the location.

    Only the properties sent change; values equal to the stored ones are ignored. The id,
    kind, district, status and timestamps cannot be edited. Coordinates in `crs` are
    converted to WGS-84 and must stay inside the station's district. Error messages are
    English; `?lang=zh` (or `Accept-Language: zh-CN`) answers in Chinese.
    """
    feature = _station_for_write(station_id)
    body = read_json_body()
    store = get_store()
    changes, coordinates = portal_ops.station_changes(body, feature, current_actor(), store.districts)
    if not changes and coordinates is None:
        return _station_result(feature)
    # base: the version this edit was made on; if another server changed it meanwhile → 409, not overwritten.
    return _station_result(store.update(station_id, changes, current_actor(), coordinates=coordinates, base=feature))


@bp.delete("/stations/<station_id>")
@describe("Retire a station (soft delete; district: its own; admin: any)", tags=["portal"], method="DELETE", params=(LANG_PARAM,),
          responses={200: ("The retired station", json_content("StationResult"))}, errors=(400, 401, 403, 404))
@write_access
@idempotent
def retire_station(station_id: str):
    """The station leaves the map and the finder at once; its record and history stay, and an admin can restore it."""
    _station_for_write(station_id)
    return _station_result(get_store().retire(station_id, current_actor()))


@bp.post("/stations/<station_id>/restore")
@describe("Restore a retired station (administrators only)", tags=["portal"], params=(LANG_PARAM,),
          responses={200: ("The restored station", json_content("StationResult"))}, errors=(400, 401, 403, 404))
@write_access
@idempotent
def restore_station(station_id: str):
    """Bring a retired station back onto the map."""
    _station_for_write(station_id, restore=True)
    return _station_result(get_store().restore(station_id, current_actor()))


# -- uploads -------------------------------------------------------------------------------


def _row_numbers(raw: str, name: str) -> set[int]:
    numbers = set()
    for part in raw.replace("，", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or len(part) > 9:
            raise ValidationError(Problem(name, Text("api.not_row_number", value=part[:20]), Text("hint.example", example="3,7,12")))
        numbers.add(int(part))
    return numbers


def _flag(raw: str | None, name: str, default: bool) -> bool:
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValidationError(Problem(name, Text("api.not_flag", value=raw[:20])))


def uploaded_file():
    """``(filename, bytes)`` of the multipart ``file`` field, or ``ValidationError``."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationError(Problem("file", Text("api.no_file"), Text("api.no_file_hint")))
    limit = int(current_app.config.get("MAX_CONTENT_LENGTH") or 10 * 1024 * 1024)
    raw = upload.read(limit + 1)
    if len(raw) > limit:
        raise RequestEntityTooLarge()
    return upload.filename, raw


def upload_limits() -> dict:
    return {"max_bytes": int(current_app.config.get("MAX_CONTENT_LENGTH") or 10 * 1024 * 1024),
            "max_rows": int(current_app.config["MAX_UPLOAD_ROWS"])}


def review_file(filename: str, raw: bytes, crs: str, actor):
    """The dry-run report for an uploaded file. The file is read in the upload gate's separate
    process (niced, bounded in memory and time: a workbook bomb costs the riders nothing and a
    file over a limit is refused naming it), then checked against the registry off the event loop."""
    store = get_store()
    limits = upload_limits()
    try:
        parsed = gate("upload").run_isolated(read_upload, filename, raw, crs, **limits)
    except ValidationError as exc:  # the file as a whole (or the job's limits): reported as such
        parsed = exc
    return gate("upload").run(review_upload, filename, raw, crs, store.snapshot(), actor, store.districts,
                              parsed=parsed, **limits)


def check_crs_field(value: str | None) -> str:
    if not value:
        raise ValidationError(Problem("crs", Text("api.no_crs"), Text("api.crs_choices")))
    if value not in schema.INPUT_CRS:
        raise ValidationError(Problem("crs", Text("file.crs_unknown", crs=value[:20]), one_of(tuple(schema.INPUT_CRS))))
    return value


@bp.post("/uploads")
@describe("Check (dry run) or commit a district's station file", tags=["portal"], params=(LANG_PARAM,),
          request_body={"multipart/form-data": {"schema": {"$ref": "#/components/schemas/UploadForm"}}},
          responses={200: ("Dry run: the report", json_content("UploadResult")),
                     201: ("Committed: the new ids", json_content("UploadResult"))},
          errors=(400, 401, 403, 409, 413))
@write_access
@idempotent
def upload():
    """Upload a CSV, XLSX or GeoJSON file of new stations.

    With `dry_run=1` (the default) nothing is written: the answer is the report, every
    problem by row and column with a suggestion, and warnings (near-duplicates, same
    name, wrong-looking CRS) that a commit must confirm (`confirm_duplicates`) or `drop`.
    With `dry_run=0` the file is checked against the current registry and committed all
    or nothing: 400 with the problems, 409 when warned rows are neither confirmed nor
    dropped, 201 with the new ids.

    Messages are English; `?lang=zh` (or `Accept-Language: zh-CN`) answers in Chinese, as
    the district portal shows them. `code`, `row`, `field` and `column` never change.
    """
    actor = current_actor()
    require_write(actor, actor.district_adcode)  # planners: 403 before reading the file
    dry_run = _flag(request.form.get("dry_run"), "dry_run", True)
    crs = check_crs_field(request.form.get("crs"))
    confirm_raw = request.form.get("confirm_duplicates") or ""
    confirm = True if confirm_raw.strip().lower() in ("1", "true", "yes", "all") else _row_numbers(confirm_raw, "confirm_duplicates")
    drop = _row_numbers(request.form.get("drop") or "", "drop")
    filename, raw = uploaded_file()
    store = get_store()
    report = review_file(filename, raw, crs, actor)
    lang = message_lang()
    if dry_run:
        return jsonify({"ok": True, "dry_run": True, "valid": report.ok, "report": report.to_dict(lang)})
    try:
        ids = commit_upload(store, report, actor, confirm_duplicates=confirm, drop=drop)
    except UploadRejectedError as exc:
        return envelope(400, [p.as_dict(lang) for p in exc.problems], report=report.to_dict(lang))
    except ConfirmationRequiredError as exc:
        return envelope(409, [p.as_dict(lang) for p in exc.problems], needs_confirmation=exc.rows,
                        report=report.to_dict(lang))
    response = jsonify({"ok": True, "dry_run": False, "valid": True, "ids": ids, "registry_version": get_snapshot().version})
    response.status_code = 201
    return response


# -- audit ----------------------------------------------------------------------------------


@bp.get("/audit")
@describe("The audit log (administrators only), newest first", tags=["portal"],
          responses={200: ("Entries", json_content("AuditPage"))}, errors=(400, 401, 403))
@write_access
def audit():
    """Every registry write: who, when, what before and after.

    Filters: `district` (adcode), `actor`, `action` (add, update, retire, restore),
    `station_id`, `since`/`until` (YYYY-MM-DD or ISO 8601; Chongqing time). `format=csv`
    sends one row per change (UTF-8 with BOM, formula cells neutralised). Paging: `offset`,
    `limit` (default 1000, at most 10000).
    """
    if current_user().role != "admin":
        return forbidden(Text("api.audit_admin_only", actor=current_user().name).render(message_lang()))
    filters = portal_ops.audit_filters(request.args)
    offset, limit = _paging(request.args)
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "csv"):
        raise ValidationError(Problem("format", Text("api.not_format", value=fmt[:20])))
    entries = portal_ops.query_audit(get_store(), filters)
    page = entries[offset: offset + limit]
    if fmt == "csv":
        return Response(portal_ops.audit_csv(page), mimetype="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="stationmap-audit.csv"'})
    return jsonify({"ok": True, "total": len(entries), "count": len(page), "offset": offset, "entries": page})


def _paging(args) -> tuple[int, int]:
    problems = []
    values = []
    for name, default, top in (("offset", 0, 10**9), ("limit", 1000, AUDIT_PAGE_MAX)):
        raw = args.get(name, "")
        if raw == "":
            values.append(default)
        elif not raw.isdigit() or len(raw) > 10 or int(raw) > top or (name == "limit" and int(raw) == 0):
            problems.append(Problem(name, Text("api.not_whole_number", value=raw[:20], low=1 if name == "limit" else 0, high=top)))
        else:
            values.append(int(raw))
    if problems:
        raise ValidationError(problems)
    return values[0], values[1]


