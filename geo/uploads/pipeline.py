"""A district's upload, end to end: parse the file, check every rule against the registry, commit all or nothing.

The district portal's flow is ``parse_upload`` → ``check_upload`` (an ``UploadReport``
listing every problem by the row number the user sees, e.g. "row 12, column 经度") →
the user fixes the file, or confirms the warned rows → ``commit_upload``. Any blocking
problem means nothing is written. Reading the formats is ``geo.uploads.formats``'s job,
the rules are ``geo.uploads.rules``', the report types ``geo.uploads.report``'s.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import numpy as np

from geo import schema
from geo.access.permissions import Actor, require_write
from geo.coords import to_wgs84
from geo.districts import Districts
from geo.errors import PermissionDeniedError, Problem, ValidationError
from geo.hours import normalise_opening_hours
from geo.messages import Join, Label, Place, Text, crs_choice, message_of, place
from geo.registry import StationStore
from geo.uploads.formats import (
    AMENITY_LOOKUP,
    HONOUR_LOOKUP,
    MAX_UPLOAD_BYTES,
    MAX_UPLOAD_ROWS,
    ParsedUpload,
    RawRow,
    detect_format,
    file_error,
    normalise_codes,
    normalise_kind,
    parse_degrees,
    read_csv,
    read_geojson,
    read_xlsx,
)
from geo.uploads.matching import as_update
from geo.uploads.report import ConfirmationRequiredError, UploadIssue, UploadRejectedError, UploadReport, UploadRow
from geo.uploads.rules import UploadChecker, fill_district

__all__ = [
    "MAX_UPLOAD_BYTES", "MAX_UPLOAD_ROWS", "ConfirmationRequiredError", "ParsedUpload", "UploadCommit", "UploadIssue",
    "UploadRejectedError", "UploadReport", "UploadRow", "check_upload", "commit_upload", "parse_upload",
    "read_upload", "review_upload",
]

COORD_DECIMALS = 7  # about 1 cm


def parse_features(features: list[dict], crs: str = "wgs84", **kwargs) -> ParsedUpload:
    """Treat a list of Features (e.g. from the JSON API) exactly like an uploaded GeoJSON file."""
    try:
        raw = json.dumps({"type": "FeatureCollection", "features": list(features)}, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise ValidationError(Problem("features", Text("geo.not_geojson", detail=str(exc)))) from exc
    return parse_upload("features.geojson", raw, crs, **kwargs)


# -- parsing ---------------------------------------------------------------------------


def parse_upload(filename: str, raw: bytes, crs: str, *, district_adcode: str | None = None,
                 districts: Districts | None = None, max_bytes: int = MAX_UPLOAD_BYTES,
                 max_rows: int = MAX_UPLOAD_ROWS) -> ParsedUpload:
    """Read an uploaded CSV, XLSX or GeoJSON file into station Features in WGS-84.

    Parameters
    ----------
    filename : str
        As uploaded; its extension (.csv, .xlsx, .geojson/.json) picks the reader.
    raw : bytes
        The file's content. CSV may be UTF-8 (with or without BOM), UTF-16 with BOM or GBK/GB18030.
    crs : str
        The system the coordinates are in: ``wgs84``, ``gcj02`` (Amap, Tencent, WeChat) or
        ``bd09`` (Baidu). They are converted to WGS-84 (rounded to 1e-7°, about 1 cm).
    district_adcode : str, optional
        The uploader's district: fills rows that name no district. Without it, and with
        ``districts``, a row's district comes from where its point lies.
    districts : Districts, optional
        Fills the district name from the code (and the code from the name or location).
    max_bytes, max_rows : int
        Upload limits (10 MB and 5,000 stations by default).

    Returns
    -------
    ParsedUpload
        A list of Features with properties per the schema minus the server-set ones (id,
        status, created_at, updated_at, source). Rows that could not be read fully are
        still there; their problems travel with the result and ``check_upload`` reports them.

    Raises
    ------
    ValidationError
        For problems with the file as a whole: empty, too big, too many rows, not a file
        type we read, binary junk, undecodable text, no header, missing columns, bad JSON.
    """
    if crs not in schema.INPUT_CRS:
        choices = tuple(Label(zh=c, en=f"{c} ({t.zh})") for c, t in schema.INPUT_CRS.items())
        raise ValidationError(Problem("crs", Text("file.crs_unknown", crs=crs), Text("hint.one_of", choices=Join(choices))))
    if not raw or not raw.strip(b" \t\r\n\x00\xef\xbb\xbf"):
        raise file_error(Text("json.empty"), Text("file.empty_hint"))
    if len(raw) > max_bytes:
        raise file_error(Text("file.too_large", size=len(raw), limit=max_bytes, mb=max_bytes / 2**20), Text("file.split"))
    fmt = detect_format(filename, raw)
    reader = {"csv": read_csv, "xlsx": read_xlsx, "geojson": read_geojson}[fmt]
    upload = reader(raw, max_rows)
    if upload.crs_hint and upload.crs_hint != crs:
        raise ValidationError(Problem(
            "crs", Text("file.crs_declared", said=schema.INPUT_CRS[upload.crs_hint], chosen=schema.INPUT_CRS[crs]),
            Text("file.crs_declared_hint", choice=crs_choice(upload.crs_hint, f"{upload.crs_hint} ({schema.INPUT_CRS[upload.crs_hint].zh})"))))
    notes = list(upload.notes)
    _read_coordinates(upload.rows, upload.columns)
    features = [_feature(row, crs) for row in upload.rows]
    notes += _hours_notes(upload.rows, features, upload.columns)
    if district_adcode or districts is not None:
        for feature in features:
            fill_district(feature, district_adcode, districts)
    return ParsedUpload(features, filename=filename, format=fmt, crs=crs, rows=upload.rows,
                        columns=upload.columns, notes=notes, encoding=upload.encoding)


def _read_coordinates(rows: list[RawRow], columns: dict[str, str]) -> None:
    for row in rows:
        if "lon" not in row.values and "lat" not in row.values:
            continue
        pair = []
        for axis in ("lon", "lat"):
            try:
                pair.append(parse_degrees(row.values.pop(axis, None)))
            except ValueError as exc:
                row.problems.append((axis, message_of(exc), Text("value.degrees_hint")))
        row.lonlat = tuple(pair) if len(pair) == 2 else None


def _text(value):
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and np.isfinite(value):
        return f"{value:g}" if value.is_integer() else str(value)
    return value


def _feature(row: RawRow, crs: str) -> dict:
    props = {}
    for key, value in row.values.items():
        if key.startswith("?"):
            props[key[1:]] = value  # not a schema property: check_properties names it
            continue
        if key == "kind":
            value = normalise_kind(_text(value))
        elif key == "amenities":
            value = normalise_codes(_text(value), AMENITY_LOOKUP)
        elif key == "honours":
            value = normalise_codes(_text(value), HONOUR_LOOKUP)
        elif key == "opening_hours":
            value = normalise_opening_hours(_text(value))
        elif key == "verified_at" and hasattr(value, "isoformat"):  # a date cell in a spreadsheet
            value = value.isoformat()
        else:
            value = _text(value)
        if value is None or value == "":
            continue
        props[key] = value
    geometry = None
    if row.lonlat is not None:
        lon, lat = to_wgs84(row.lonlat[0], row.lonlat[1], crs)
        geometry = {"type": "Point", "coordinates": [round(lon, COORD_DECIMALS), round(lat, COORD_DECIMALS)]}
    return {"type": "Feature", "geometry": geometry, "properties": props}


def _hours_notes(rows, features, columns) -> list[Text]:
    changed = [(r, r.values.get("opening_hours"), f["properties"].get("opening_hours")) for r, f in zip(rows, features, strict=True)
               if isinstance(r.values.get("opening_hours"), str) and r.values["opening_hours"].strip() != f["properties"].get("opening_hours")]
    if not changed:
        return []
    row, before, after = changed[0]
    column = columns.get("opening_hours", "opening_hours")
    return [Text("note.hours", column=column, rows=len(changed), label=place(row.label), before=before.strip(), after=after)]


# -- checking and committing ---------------------------------------------------------------


def check_upload(features: list[dict], snapshot, actor: Actor, districts: Districts) -> UploadReport:
    """Check uploaded stations against every rule; nothing is written.

    Parameters
    ----------
    features : ParsedUpload or list of dict
        From ``parse_upload``; a plain list of Features (WGS-84) is read as a GeoJSON upload.
    snapshot : geo.registry.Snapshot or None
        The registry version to check against (duplicates, ids).
    actor : Actor
        A district account may add stations in its own district only; an admin anywhere
        in Chongqing; a planner nothing (``PermissionDeniedError``).
    districts : Districts

    Returns
    -------
    UploadReport
        Blocking problems (schema, coordinates outside Chongqing or the uploader's district,
        swapped longitude/latitude, rows repeated exactly) and warnings needing confirmation
        (a station of the same kind within 30 m, the same name in the district — in the
        registry or earlier in the file — and coordinates that look like the wrong CRS).
    """
    require_write(actor, actor.district_adcode)  # planners may not upload at all
    parsed = features if isinstance(features, ParsedUpload) else parse_features(features)
    checker = UploadChecker(parsed, snapshot, actor, districts)
    return checker.run()


def read_upload(filename: str, raw: bytes, crs: str, **limits) -> ParsedUpload:
    """``parse_upload`` without the districts: the part of reading a file that depends on the
    file alone (and so can run in a separate process; ``review_upload(parsed=…)`` completes it)."""
    return parse_upload(filename, raw, crs, **limits)


def review_upload(filename: str, raw: bytes, crs: str, snapshot, actor: Actor, districts: Districts,
                  parsed: ParsedUpload | ValidationError | None = None, **limits) -> UploadReport:
    """``parse_upload`` + ``check_upload`` in one call that never raises for a bad file:
    file-level problems (empty, wrong encoding, missing columns …) come back in the report.

    ``parsed``: what ``read_upload`` made of the file (or the ``ValidationError`` it raised),
    when it was read elsewhere; its rows' districts are filled here."""
    require_write(actor, actor.district_adcode)
    try:
        if isinstance(parsed, ValidationError):
            raise parsed
        if parsed is None:
            parsed = parse_upload(filename, raw, crs, district_adcode=actor.district_adcode, districts=districts, **limits)
        else:
            for feature in parsed:
                fill_district(feature, actor.district_adcode, districts)
    except ValidationError as exc:
        issues = [UploadIssue(_row_of(p.where), p.where, None, None, p.message_text, p.hint_text, "file")
                  for p in exc.problems]
        return UploadReport(filename=filename, format="", crs=crs, actor=actor,
                            snapshot_version=getattr(snapshot, "version", None), rows=[], file_problems=issues)
    return check_upload(parsed, snapshot, actor, districts)


def _row_of(where) -> int | None:
    return where.row if isinstance(where, Place) else None


class UploadCommit(list):
    """The new station ids (a list, as before uploads could update), with ``updated`` ids and the ``unchanged`` count."""

    def __init__(self, added, updated=(), unchanged: int = 0):
        super().__init__(added)
        self.added, self.updated, self.unchanged = list(added), list(updated), unchanged

    @property
    def nothing_changed(self) -> bool:
        return not self.added and not self.updated


def commit_upload(store: StationStore, report: UploadReport, actor: Actor,
                  confirm_duplicates: bool | Iterable[int] = False, *, drop: Iterable[int] = ()) -> UploadCommit:
    """Add the new rows and update the rows naming existing stations, in one audited write.

    Returns an ``UploadCommit``: the new ids, the updated ids and how many rows matched the
    registry unchanged. A file that matches the registry entirely writes nothing
    (``nothing_changed``) — re-uploading an unchanged sheet is not an edit.

    Parameters
    ----------
    store : StationStore
    report : UploadReport
        From ``check_upload`` for the same ``actor``. If the registry changed since, the
        upload is checked again against the current version first.
    actor : Actor
    confirm_duplicates : bool or set of int
        ``True`` keeps every warned row; a set keeps those rows (numbers as in the report).
    drop : set of int
        Rows to leave out. Every warned row must be kept or dropped.

    Raises
    ------
    UploadRejectedError
        The upload has blocking problems; nothing was written.
    ConfirmationRequiredError
        Some warned rows were neither confirmed nor dropped; nothing was written.
    PermissionDeniedError
        ``actor`` is not the account the upload was checked for, or may not write there.
    """
    if actor != report.actor:
        raise PermissionDeniedError(Text("perm.other_actor", actor=actor.name, checked=report.actor.name))
    if not report.ok:
        raise UploadRejectedError(report.problems, source=report.filename)
    current = store.snapshot()
    if report.parsed is not None and current.version != report.snapshot_version:
        report = check_upload(report.parsed, current, actor, store.districts)
        if not report.ok:
            raise UploadRejectedError(report.problems, source=f"{report.filename} (the registry changed meanwhile)")
    numbers = {r.row for r in report.rows}
    drop = set(drop)
    confirmed = numbers if confirm_duplicates is True else set(confirm_duplicates or ())
    unknown = sorted((drop | confirmed) - numbers)
    if unknown:
        raise ValidationError(Problem("rows", Text("commit.no_such_rows", rows=Join(tuple(map(str, unknown))))))
    pending = [n for n in report.needs_confirmation if n not in confirmed and n not in drop]
    if pending:
        issues = [w for r in report.rows if r.row in pending for w in r.warnings]
        raise ConfirmationRequiredError(issues, pending)
    kept = [r for r in report.rows if r.row not in drop]
    if not kept:
        raise ValidationError(Problem("rows", Text("commit.all_dropped")))
    features = [r.feature for r in kept if r.action == "add"]
    updates = [(r.station_id, *as_update(r.changes)) for r in kept if r.action == "update"]
    unchanged = sum(r.action == "unchanged" for r in kept)
    if not features and not updates:
        return UploadCommit([], [], unchanged)
    if not updates:
        return UploadCommit(store.add(features, actor), [], unchanged)
    result = store.apply_upload(features, updates, actor)
    return UploadCommit(result["added"], result["updated"], unchanged)
