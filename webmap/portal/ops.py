"""What the portal pages and the write API share: turning an edit request into registry changes, and querying and exporting the audit log.

Both front doors (HTML forms in ``webmap.portal.views``, JSON in ``webmap.portal.api``) go through
these functions, so an edit is checked the same way whichever door it came through; the
store (``geo.registry``) checks rights and the schema once more under its lock.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
import re
from datetime import date, datetime, timedelta

from geo import schema
from geo.access.permissions import Actor, require_honours_unchanged
from geo.coords import to_wgs84
from geo.errors import Problem, ValidationError
from geo.hours import CHONGQING_TZ, normalise_opening_hours
from geo.messages import Join, Text, field_label, localise, message_of, shown, type_label
from geo.registry.validate import check_properties, formula_problems, one_of

# What an edit may change. The id encodes district and kind, so those stay; status has its
# own actions (retire/restore); timestamps and source are the server's.
EDITABLE_FIELDS = ("name", "address", "operator", "phone", "opening_hours", "amenities", "honours")
TEXT_FIELDS = ("name", "address", "operator", "phone", "opening_hours")
FIXED_FIELDS = {
    "id": Text("edit.fixed.id"),
    "kind": Text("edit.fixed.kind"),
    "district_adcode": Text("edit.fixed.district"),
    "district": Text("edit.fixed.district"),
    "status": Text("edit.fixed.status"),
    "created_at": Text("edit.fixed.server"),
    "updated_at": Text("edit.fixed.server"),
    "source": Text("edit.fixed.server"),
}
LOCATION_KEYS = ("lon", "lat", "crs")
# Closer than this (about 1 cm) counts as "not moved": a form that shows and sends back
# the stored coordinates must not rewrite them through a float round trip.
SAME_PLACE_DEG = 1e-7
COORD_DECIMALS = 7
_DECIMAL = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")

AUDIT_ACTIONS = ("add", "update", "retire", "restore")
AUDIT_CSV_COLUMNS = ("version", "at", "actor", "role", "actor_district", "action", "station_id", "station_name",
                     "station_district", "changes", "reason")
MAX_AUDIT_FILTER_CHARS = 64
# A spreadsheet treats a cell starting with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


# -- station edits -------------------------------------------------------------------


def station_changes(body, feature: dict, actor: Actor, districts) -> tuple[dict, list[float] | None]:
    """Check an edit of ``feature`` and return ``(property changes, new [lon, lat] in WGS-84 or None)``.

    ``body`` maps property names to new values, plus optional ``lon``/``lat`` (degrees) and
    ``crs`` (``wgs84`` | ``gcj02`` | ``bd09``, default ``wgs84``) for a move. Values equal to
    the stored ones are dropped. Raises ``ValidationError`` listing every problem, with
    ``where`` the field name; ``PermissionDeniedError`` when a district changes honours.
    """
    if not isinstance(body, dict):
        raise ValidationError(Problem("body", Text("edit.body_object"),
                                      Text("hint.example", example='{"name": "…", "opening_hours": "24/7"}')))
    if not body:
        raise ValidationError(Problem("body", Text("edit.nothing"), Text("edit.send_properties", example='{"name": "…"}')))
    problems: list[Problem] = []
    changes = {}
    for key, value in body.items():
        if key in LOCATION_KEYS:
            continue
        if key in FIXED_FIELDS:
            problems.append(Problem(key, Text("edit.fixed"), FIXED_FIELDS[key]))
        elif key not in EDITABLE_FIELDS:
            close = difflib.get_close_matches(key, EDITABLE_FIELDS + LOCATION_KEYS, n=1)
            hint = (Text("hint.did_you_mean", name=close[0]) if close
                    else Text("hint.allowed", names=Join(EDITABLE_FIELDS + LOCATION_KEYS)))
            problems.append(Problem(_shown(key), Text("prop.unknown"), hint))
        elif value is None:
            problems.append(Problem(key, Text("edit.null"), Text("edit.clear_phone") if key == "phone" else Text("edit.send_value")))
        elif key == "opening_hours":
            changes[key] = normalise_opening_hours(value)  # the same parser as uploads: Chinese forms become OSM
        else:
            changes[key] = value
    for p in check_properties(changes, "", districts, partial=True) + formula_problems(changes, ""):
        problems.append(Problem(p.where.removeprefix(".properties."), p.message_text, p.hint_text))
    coordinates, location_problems = _new_location(body)
    problems += location_problems
    props = feature["properties"]
    if coordinates is not None and not problems:
        old_lon, old_lat = feature["geometry"]["coordinates"][:2]
        if abs(coordinates[0] - old_lon) < SAME_PLACE_DEG and abs(coordinates[1] - old_lat) < SAME_PLACE_DEG:
            coordinates = None
        else:
            found = districts.locate([coordinates[0]], [coordinates[1]])[0]
            if found != props["district_adcode"]:
                lon, lat, adcode = coordinates[0], coordinates[1], props["district_adcode"]
                message = (Text("edit.moved_outside", lon=lon, lat=lat, name=districts.name(adcode), adcode=adcode)
                           if found is None else
                           Text("edit.moved_elsewhere", lon=lon, lat=lat, found_name=districts.name(found), found=found,
                                name=districts.name(adcode), adcode=adcode))
                problems.append(Problem("lon, lat", message, Text("edit.check_crs")))
    if problems:
        raise ValidationError(problems)
    changes = {k: v for k, v in changes.items() if props.get(k) != v and not (k == "phone" and not v and not props.get(k))}
    if "honours" in changes:
        require_honours_unchanged(actor, props.get("honours"), changes["honours"])
    return changes, coordinates


def _new_location(body: dict) -> tuple[list[float] | None, list[Problem]]:
    has_lon, has_lat = "lon" in body, "lat" in body
    if not has_lon and not has_lat:
        if "crs" in body:
            return None, [Problem("crs", Text("edit.crs_alone"), Text("edit.crs_alone_hint"))]
        return None, []
    if has_lon != has_lat:
        return None, [Problem("lat" if has_lon else "lon", Text("edit.required_with", other=field_label("lon" if has_lon else "lat")))]
    problems = []
    values = []
    for key in ("lon", "lat"):
        value = body[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(Problem(key, Text("edit.not_degrees_type", got=type_label(value))))
        elif not math.isfinite(value):
            problems.append(Problem(key, Text("edit.finite")))
        else:
            values.append(float(value))
    crs = body.get("crs", "wgs84")
    if crs not in schema.INPUT_CRS:
        problems.append(Problem("crs", Text("file.crs_unknown", crs=shown(crs)), one_of(tuple(schema.INPUT_CRS))))
    if problems:
        return None, problems
    lon, lat = values
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        hint = Text("geo.lon_first_short") if -180 <= lat <= 180 and -90 <= lon <= 90 else ""
        return None, [Problem("lon, lat", Text("geo.out_of_range", lon=lon, lat=lat), hint)]
    try:
        lon, lat = to_wgs84(lon, lat, crs)
    except ValueError as exc:
        return None, [Problem("lon, lat", message_of(exc))]
    return [round(float(lon), COORD_DECIMALS), round(float(lat), COORD_DECIMALS)], []


def form_to_edit(form, feature: dict, actor: Actor) -> dict:
    """The edit a submitted HTML form asks for, in the shape ``station_changes`` takes.

    Text is stripped; a number that is not plain decimal (``nan``, ``1e400``, ``1_000``) is
    a problem rather than whatever ``float()`` would make of it.
    """
    body: dict = {}
    for name in TEXT_FIELDS:
        if name in form:
            body[name] = (form.get(name) or "").strip()
    body["amenities"] = form.getlist("amenities")
    if actor.role == "admin":
        body["honours"] = form.getlist("honours")
    lon_text, lat_text = (form.get("lon") or "").strip(), (form.get("lat") or "").strip()
    if lon_text or lat_text:
        problems = []
        for key, value in (("lon", lon_text), ("lat", lat_text)):
            if not _DECIMAL.match(value):
                problems.append(Problem(key, Text("edit.not_degrees", value=shown(value)), Text("hint.example", example="106.5770")))
            else:
                body[key] = float(value)
        if problems:
            raise ValidationError(problems)
        body["crs"] = form.get("crs") or "wgs84"
    return body


def _shown(value, limit: int = 40) -> str:
    return repr(shown(value, limit))


# -- audit log -----------------------------------------------------------------------


def audit_filters(args) -> dict:
    """Audit query filters from request args: ``district``, ``actor``, ``action``, ``station_id``,
    ``since``, ``until`` (``YYYY-MM-DD`` or ISO date-time; Chongqing time if no offset;
    a date-only ``until`` includes that whole day). Raises ``ValidationError``."""
    problems = []
    filters: dict = {}
    for key in ("district", "actor", "action", "station_id", "since", "until"):
        value = (args.get(key) or "").strip()
        if not value:
            continue
        if len(value) > MAX_AUDIT_FILTER_CHARS:
            problems.append(Problem(key, Text("audit.too_long", n=MAX_AUDIT_FILTER_CHARS)))
            continue
        if key == "district" and not schema.ADCODE_PATTERN.match(value):
            problems.append(Problem(key, Text("audit.not_adcode", value=shown(value)), Text("hint.example", example="500103")))
        elif key == "action" and value not in AUDIT_ACTIONS:
            problems.append(Problem(key, Text("audit.unknown_action", value=shown(value)), one_of(AUDIT_ACTIONS)))
        elif key in ("since", "until"):
            try:
                filters[key] = _parse_when(value, end_of_day=key == "until")
            except ValueError:
                problems.append(Problem(key, Text("audit.not_date", value=shown(value)), Text("audit.date_hint")))
            continue
        filters[key] = value
    if problems:
        raise ValidationError(problems)
    return filters


def _parse_when(value: str, end_of_day: bool) -> datetime:
    if len(value) == 10:
        day = date.fromisoformat(value)
        moment = datetime(day.year, day.month, day.day, tzinfo=CHONGQING_TZ)
        return moment + timedelta(days=1) - timedelta(microseconds=1) if end_of_day else moment
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=CHONGQING_TZ)


def query_audit(store, filters: dict) -> list[dict]:
    """Matching audit entries, newest first."""
    simple = {k: filters[k] for k in ("station_id", "actor", "district", "action") if k in filters}
    entries = store.audit_entries(**simple)
    since, until = filters.get("since"), filters.get("until")
    if since or until:
        kept = []
        for entry in entries:
            try:
                at = datetime.fromisoformat(entry["at"])
            except (KeyError, ValueError):
                continue
            if (since is None or at >= since) and (until is None or at <= until):
                kept.append(entry)
        entries = kept
    return list(reversed(entries))


def change_summary(change: dict) -> list[tuple[str, object, object]]:
    """``(field, before, after)`` for what one audit change altered (location as ``coordinates``).

    Lists of codes (amenities, honours) compare as sets: reordering them is not a change.
    """
    before, after = change.get("before"), change.get("after") or {}
    if before is None:
        return []
    rows = []
    old_props, new_props = before.get("properties", {}), after.get("properties", {})
    for name in schema.PROPERTY_NAMES:
        old, new = old_props.get(name), new_props.get(name)
        if name in ("amenities", "honours") and set(old or ()) == set(new or ()):
            continue
        if name != "updated_at" and old != new:
            rows.append((name, old, new))
    old_xy = (before.get("geometry") or {}).get("coordinates")
    new_xy = (after.get("geometry") or {}).get("coordinates")
    if old_xy != new_xy:
        rows.append(("coordinates", old_xy, new_xy))
    return rows


def _summary_text(change: dict) -> str:
    return "; ".join(f"{name}: {_plain(old)} → {_plain(new)}" for name, old, new in change_summary(change))


def _plain(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return "" if value is None else str(value)


def change_lines(change: dict, lang: str = "zh") -> list[dict]:
    """What one change altered, for a clerk: the field's Chinese (or English) name and old → new as they read them."""
    from geo.uploads.report import display_value

    return [{"field": name, "label": localise(field_label(name), lang), "old": display_value(old, lang),
             "new": display_value(new, lang)} for name, old, new in change_summary(change)]


def audit_rows(entries: list[dict], lang: str = "zh", district: str | None = None) -> list[dict]:
    """One flat row per station change, for the audit table and the CSV export.

    ``district``: only changes to that district's stations (a clerk's view of a write that
    touched several districts, e.g. an administrator's import).
    """
    rows = []
    for entry in entries:
        if not entry.get("changes") and entry.get("actions"):   # a note about the log itself
            rows.append({"version": entry.get("version"), "at": entry.get("at"), "actor": entry.get("actor"),
                         "role": entry.get("role"), "actor_district": "", "action": entry["actions"][0], "station_id": "",
                         "station_name": "", "station_district": "", "reason": "", "lines": [],
                         "changes": f"file_version={entry.get('file_version')}, log_version={entry.get('log_version')}"})
            continue
        for change in entry.get("changes", []):
            props = (change.get("after") or {}).get("properties", {})
            if district and props.get("district_adcode") != district:
                continue
            rows.append({
                "version": entry.get("version"), "at": entry.get("at"), "actor": entry.get("actor"),
                "role": entry.get("role"), "actor_district": entry.get("district") or "",
                "action": change.get("action"), "station_id": change.get("id"),
                "station_name": props.get("name", ""), "station_district": props.get("district_adcode", ""),
                "changes": _summary_text(change), "lines": change_lines(change, lang), "reason": entry.get("reason") or "",
            })
    return rows


def neutralise_formula(value) -> str:
    """Text safe to open in Excel/WPS: a leading ``= + - @`` or tab/CR gets a ``'`` in front."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def audit_csv(entries: list[dict], district: str | None = None) -> bytes:
    """UTF-8 CSV with a BOM (so Excel in China reads it as UTF-8), one row per change, formulas neutralised."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(AUDIT_CSV_COLUMNS)
    for row in audit_rows(entries, district=district):
        writer.writerow([neutralise_formula(row[c]) for c in AUDIT_CSV_COLUMNS])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def audit_json(entries: list[dict], filters: dict) -> bytes:
    shown_filters = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in filters.items()}
    body = {"ok": True, "filters": shown_filters, "count": len(entries), "entries": entries}
    return json.dumps(body, ensure_ascii=False, allow_nan=False, indent=1).encode("utf-8")
