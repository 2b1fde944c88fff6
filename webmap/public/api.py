"""The read-only JSON API (mounted at /api): stations, nearest finder, districts, coverage, gaps, vocabulary and its OpenAPI document.

Thin by design: each view parses its parameters (``webmap.core.params``), asks the registry
snapshot and the ``geo`` functions, and sends the answer (``webmap.core.responses``).
Geometry is GeoJSON (RFC 7946, WGS-84 lon/lat). Errors become the envelope
``{"ok": false, "errors": [...], "status": N}`` in ``webmap.core.errors``.
"""

from __future__ import annotations

import functools
import hashlib
from json.encoder import encode_basestring

import numpy as np
from flask import Blueprint, current_app, request

from geo import schema
from geo.errors import Problem, ValidationError
from geo.hours import describe_hours, hours_status, to_local_naive
from geo.messages import Text
from geo.queries.distance import NOTE_MESSAGES
from geo.queries.finder import (
    crs_hint,
    hit_row,
    local_minute,
    opening_state,
    query_point_wgs84,
    rider_hits,
    with_live_fields,
)
from geo.queries.grouping import cell_size_deg, group_points, zoom_for_bbox
from geo.queries.selection import KIND_CODES, StationColumns
from geo.registry.snapshot import cached_on
from geo.reports.freshness import freshness, is_stale, last_verified
from webmap.core import params as p
from webmap.core.gates import gate
from webmap.core.openapi import GEOJSON, describe, json_content, openapi_document
from webmap.core.reports_state import get_reports, max_age_days
from webmap.core.responses import Body, cached, dumps, json_body, query_etag, send, send_json, snapshot_fingerprint
from webmap.core.state import get_snapshot, get_store
from webmap.public import reports

bp = Blueprint("api", __name__)

LIST_CACHE = "public, max-age=60"
REPORT_CACHE = "public, max-age=300"
LIVE_CACHE = "public, max-age=30"
# Map coordinates in fields=min are rounded to 1e-5 degrees (about 1 m): enough for a marker.
MIN_DECIMALS = 5


def _districts():
    return get_store().districts.by_adcode


def answer_lang(args, config=None) -> str:
    """The language of an API answer: ``lang`` if given, else the app's default (never the cookie: answers are cached publicly)."""
    return args.get("lang") or (config or current_app.config).get("DEFAULT_LANG", "zh")


STATION_PARAMS = (
    p.KINDS, p.district(_districts, "Only stations in this district (6-digit adcode, e.g. 500103)."),
    p.AMENITIES, p.BBOX,
    p.FreeText("q", "Only stations whose name, address, operator or id contains this text "
                "(ignores case and full-width forms).", max_length=100),
    p.STATUS,
    p.Choice("group", "auto: when more stations match than the server's MAX_POINTS_PER_VIEW, send grid cells "
                      "(Point features with cluster, count, kinds) instead; none: always send stations.",
             ("none", "auto"), default="none"),
    p.Number("zoom", "Web-Mercator zoom of the map view, 0–22; sets the grid cell size when grouping "
                     "(default: derived from bbox).", 0, 22),
    p.Choice("fields", "full: every property plus kind_label; min: id, kind, name, plus honours when any and "
                       "status when not active; coordinates rounded to 1e-5°.", ("full", "min"), default="full"),
    p.LANG,
)
STATION_DETAIL_PARAMS = (p.AT, p.LANG)
SHOW_REPORTED = p.Flag("show_reported", "Include stations that riders reported closed (an open report); hidden by default.")
TYPED = p.Flag("typed", "The point was typed by a person: check whether it reads better as GCJ-02 or BD-09 "
                        "(then `crs_hint` names that system).")
NEAREST_PARAMS = (p.LON, p.LAT, p.K, p.KIND, p.AMENITIES, p.OPEN_NOW, p.AT, p.CRS, SHOW_REPORTED, TYPED, p.LANG)
DISTRICT_PARAMS = (p.RADIUS, p.Flag("geometry", "Send a GeoJSON FeatureCollection with each district's outline."))
COVERAGE_PARAMS = (p.RADIUS,)
COVERAGE_CSV_PARAMS = (p.RADIUS, p.LANG)
GAP_PARAMS = (p.RADIUS, p.district(_districts, "Only gaps in this district (adcode)."), p.DOWNLOAD)
VOCABULARY_PARAMS = (p.LANG,)


@bp.get("/stations")
@describe("List stations, filtered; grouped into grid cells when a view is too dense",
          params=STATION_PARAMS,
          responses={200: ("Stations (or cells) as GeoJSON", json_content("StationCollection", GEOJSON))})
def stations():
    """Stations matching every filter, as a GeoJSON FeatureCollection.

    `count` is the number of stations matched. With `group=auto` and more matches than the
    server allows per view, `grouped` is true and features are grid cells (near the mean
    position of their members, kept far enough inside the cell that neighbouring cells'
    bubbles never overlap; `bbox` is the members'); a cell holding one station is sent as
    that station.
    """
    args = p.parse_args(request.args, STATION_PARAMS)
    snapshot = get_snapshot()
    max_points = int(current_app.config["MAX_POINTS_PER_VIEW"])
    max_listed = int(current_app.config["MAX_STATIONS_PER_LIST"])
    etag = query_etag(snapshot_fingerprint(snapshot), max_points, max_listed, answer_lang(args))
    return cached(etag, LIST_CACHE, lambda: _station_list(snapshot, args, max_points, max_listed))


def _station_list(snapshot, args, max_points: int, max_listed: int) -> Body:
    columns = cached_on(snapshot, "columns", lambda: StationColumns.of_snapshot(snapshot))
    positions = columns.select(
        kinds=args["kind"] or (), statuses=() if args["status"] == "all" else (args["status"],),
        district=args["district"], amenities=args["amenity"] or (), bbox=args["bbox"], text=args["q"],
    )
    grouped = args["group"] == "auto" and len(positions) > max_points
    fields, lang = args["fields"], answer_lang(args)
    if grouped:
        lon, lat = columns.lon[positions], columns.lat[positions]
        zoom = args["zoom"]
        if zoom is None:
            zoom = zoom_for_bbox(args["bbox"] or (lon.min(), lat.min(), lon.max(), lat.max()))
        cells = group_points(lon, lat, columns.kind[positions], len(KIND_CODES), cell_size_deg(zoom), max_cells=max_points)
        single = [i for i in range(len(cells)) if cells.count[i] == 1]
        strings = dict(zip(single, _feature_strings_at(snapshot, fields, lang, positions[cells.first[single]]), strict=True))
        features = [strings[i] if i in strings else _cluster_json(cells, i) for i in range(len(cells))]
    elif len(positions) > max_listed:
        raise ValidationError(Problem("bbox", Text("q.too_many_stations", count=len(positions), max=max_listed)))
    else:
        features = _feature_strings_at(snapshot, fields, lang, positions)
    head = (f'{{"type":"FeatureCollection","count":{len(positions)},"registry_version":{int(snapshot.version)},'
            f'"grouped":{"true" if grouped else "false"},' + (f'"zoom":{int(zoom)},' if grouped else "") + '"features":[')
    return Body((head + ",".join(features) + "]}").encode("utf-8"), GEOJSON)


def _feature_strings_at(snapshot, fields: str, lang: str, positions) -> list[str]:
    """The JSON text of the stations at ``positions``: each made the first time it is listed and kept
    for the next lists (``Snapshot.memo``, bounded, handed to the next version minus the stations written)."""
    if fields == "min":
        memo = snapshot.memo("features:min", _min_json)
    else:
        memo = snapshot.memo(f"features:full:{lang}", functools.partial(_full_json, lang=lang))
    get = memo.get
    return [get(i) for i in np.asarray(positions).tolist()]


def _full_json(feature: dict, lang: str) -> str:
    return dumps(_labelled(feature, lang))


def _min_json(feature: dict) -> str:
    props = feature["properties"]
    lon, lat = feature["geometry"]["coordinates"][:2]
    short = {"id": props["id"], "kind": props["kind"], "name": props["name"]}
    if props.get("honours"):
        short["honours"] = props["honours"]
    if props.get("status") != "active":
        short["status"] = props["status"]
    geometry = {"type": "Point", "coordinates": [round(lon, MIN_DECIMALS), round(lat, MIN_DECIMALS)]}
    return dumps({"type": "Feature", "geometry": geometry, "properties": short})


def _cluster_json(cells, i: int) -> str:
    kinds = {KIND_CODES[j]: int(n) for j, n in enumerate(cells.kind_counts[i]) if n}
    return dumps({
        "type": "Feature",
        "bbox": [round(float(v), MIN_DECIMALS) for v in cells.bounds[i]],
        "geometry": {"type": "Point", "coordinates": [round(float(cells.anchor_lon[i]), MIN_DECIMALS),
                                                      round(float(cells.anchor_lat[i]), MIN_DECIMALS)]},
        "properties": {"cluster": True, "count": int(cells.count[i]), "kinds": kinds},
    })


def _labelled(feature: dict, lang: str) -> dict:
    """The Feature with ``kind_label`` added; ``properties`` last, so its JSON ends in ``}}``."""
    props = dict(feature["properties"])
    props["kind_label"] = schema.kind_label(props["kind"], lang)
    props["hours_text"] = describe_hours(props["opening_hours"], lang)
    return {**{k: v for k, v in feature.items() if k != "properties"}, "properties": props}


@bp.get("/stations/<station_id>")
@describe("One station, with whether it is open now and when that changes", params=STATION_DETAIL_PARAMS,
          responses={200: ("The station", json_content("StationFeature", GEOJSON))}, errors=(400, 404))
def station(station_id: str):
    """Any status; `open_now` and `next_change` are evaluated at `at` (default now, Chongqing time)."""
    args = p.parse_args(request.args, STATION_DETAIL_PARAMS)
    lang = answer_lang(args)
    feature = _labelled(with_live_fields(get_snapshot().get(station_id), args["at"]), lang)
    props = feature["properties"]
    props["hours_status"] = hours_status(props["opening_hours"], args["at"], lang)
    props.update({k: v for k, v in freshness(props, get_reports().reported_closed(), max_age_days=max_age_days()).items()
                  if k != "verified_at"})
    return send_json(feature, LIVE_CACHE, GEOJSON)


@bp.get("/nearest")
@describe("The k nearest active stations to a point, nearest first", params=NEAREST_PARAMS,
          responses={200: ("Stations with distance_m and walk_minutes", json_content("NearestCollection", GEOJSON))},
          tags=("finder",))
def nearest():
    """Exact geodesic distances on WGS-84. The point may be given in GCJ-02 or BD-09 (`crs`);
    `query` echoes it converted to WGS-84. With `open_now=1` only stations open at `at`
    (default now) are considered.
    """
    args = p.parse_args(request.args, NEAREST_PARAMS)
    return send(*nearest_answer(get_snapshot(), args, answer_lang(args), get_reports().reported_closed(),
                                max_age_days()))


def nearest_answer(snapshot, args: dict, lang: str, reported_closed: frozenset = frozenset(),
                   max_age: int = 180) -> tuple[Body, str]:
    """The body and Cache-Control of a ``/nearest`` answer to parsed ``args``.

    Shared by the view and ``webmap.public.fastpath``, which answers well-formed queries without
    Flask's request machinery; both must send the same bytes. This is the API's hottest
    path, so the body is assembled from bytes made once (each station's Feature per
    snapshot, its opening state per minute) and only the trip fields are formatted per request.
    Distances are straight lines (``distance_kind``); minutes are estimates (``estimate``).
    """
    lon, lat = args["lon"], args["lat"]
    if args["crs"] != "wgs84":  # WGS-84 input needs no conversion; the index validates it
        lon, lat = query_point_wgs84(lon, lat, args["crs"])
    when = to_local_naive(args["at"])
    exclude = frozenset() if args["show_reported"] else reported_closed
    pairs, note = rider_hits(snapshot, lon, lat, k=args["k"], kind=args["kind"], amenities=args["amenity"] or (),
                             open_at=when if args["open_now"] else False, exclude=exclude)
    heads = _feature_heads(snapshot, lang)
    minute = local_minute(when)
    parts = []
    for hit, trip in pairs:
        row = hit_row(snapshot, hit)
        props = snapshot.table.some(row, _LIVE_PROPERTIES)  # not the whole Feature: this is per hit, per request
        live = {**trip.as_dict(), "stale": is_stale(props, max_age_days=max_age), "last_verified": last_verified(props)[:10]}
        parts.append(heads.get(row) + _opening_json(props["opening_hours"], minute) + b"," + dumps(live)[1:].encode() + b"}")
    query = (f'{{"lon":{float(round(lon, 7))!r},"lat":{float(round(lat, 7))!r},"crs":{encode_basestring(args["crs"])},'
             f'"at":"{when.isoformat(timespec="minutes")}"}}')
    hint = crs_hint(snapshot, args["lon"], args["lat"], args["crs"]) if args["typed"] and note is None else None
    extra = ""
    if note:
        extra += f'"note":{encode_basestring(note)},"message":{encode_basestring(Text(NOTE_MESSAGES[note]).render(lang))},'
    if hint:
        extra += f'"crs_hint":{encode_basestring(hint)},'
    head = (f'{{"type":"FeatureCollection","count":{len(parts)},"registry_version":{int(snapshot.version)},'
            f'"query":{query},{extra}"features":[')
    cache_control = "no-store" if args["open_now"] or args["at"] else LIVE_CACHE
    return Body(b"".join((head.encode(), b",".join(parts), b"]}")), GEOJSON), cache_control


#: what a /nearest answer works out per request from a station (its opening state and freshness)
_LIVE_PROPERTIES = ("opening_hours", "verified_at", "updated_at", "created_at")


def _feature_heads(snapshot, lang: str):
    """Each station's full Feature as UTF-8 JSON without its closing ``}}``, ready for live fields:
    made the first time a station is in an answer, kept for the next ones (``Snapshot.memo``)."""
    return snapshot.memo(f"features:heads:{lang}", functools.partial(_feature_head, lang=lang))


def _feature_head(feature: dict, lang: str) -> bytes:
    return _full_json(feature, lang)[:-2].encode()


@functools.lru_cache(maxsize=4096)
def _opening_json(opening_hours: str, minute) -> bytes:
    """``,"open_now":…,"next_change":…`` for one hours string at one local minute (few distinct strings)."""
    open_now, change = opening_state(opening_hours, minute)
    return b"," + dumps({"open_now": open_now, "next_change": change})[1:-1].encode()


@bp.get("/districts")
@describe("Chongqing's 38 districts with population, area, station counts and coverage",
          params=DISTRICT_PARAMS,
          responses={200: ("Districts (a FeatureCollection with geometry=1)",
                           {**json_content("DistrictList"), **json_content("DistrictCollection", GEOJSON)})},
          tags=("coverage",))
def districts():
    """Coverage is the share of each district's area within `radius_m` of an active station."""
    args = p.parse_args(request.args, DISTRICT_PARAMS)
    snapshot = get_snapshot()
    etag = query_etag(snapshot_fingerprint(snapshot))
    return cached(etag, REPORT_CACHE, lambda: reports.districts_body(snapshot, args["radius_m"], args["geometry"]))


@bp.get("/coverage")
@describe("Coverage per district and for the whole municipality", params=COVERAGE_PARAMS,
          responses={200: ("Coverage table", json_content("Coverage"))}, tags=("coverage",))
def coverage():
    """Stations per 10,000 residents and per 100 km², and the share of area within `radius_m` metres."""
    args = p.parse_args(request.args, COVERAGE_PARAMS)
    snapshot = get_snapshot()
    return cached(query_etag(snapshot_fingerprint(snapshot)), REPORT_CACHE,
                  lambda: reports.coverage_body(snapshot, args["radius_m"]))


@bp.get("/coverage.csv")
@describe("The coverage table as CSV for Excel (UTF-8 with BOM)", params=COVERAGE_CSV_PARAMS,
          responses={200: ("CSV, Chinese headers unless lang=en",
                           {"text/csv": {"schema": {"type": "string"}}})}, tags=("coverage",))
def coverage_csv():
    """Cells that a spreadsheet would read as a formula (= + - @) are prefixed with '."""
    args = p.parse_args(request.args, COVERAGE_CSV_PARAMS)
    snapshot = get_snapshot()
    lang = answer_lang(args)
    return cached(query_etag(snapshot_fingerprint(snapshot), lang), REPORT_CACHE,
                  lambda: reports.coverage_csv_body(snapshot, args["radius_m"], lang),
                  download=f"stationmap-coverage-{args['radius_m']:g}m.csv")


@bp.get("/gaps")
@describe("Land farther than radius_m from every active station, as polygons",
          params=GAP_PARAMS,
          responses={200: ("Uncovered polygons, largest first", json_content("GapCollection", GEOJSON))},
          tags=("coverage",))
def gaps():
    """Each feature is one uncovered polygon with its district and area in km² (Chongqing equal-area CRS)."""
    args = p.parse_args(request.args, GAP_PARAMS)
    snapshot = get_snapshot()
    download = f"stationmap-gaps-{args['radius_m']:g}m.geojson" if args["download"] else None
    return cached(query_etag(snapshot_fingerprint(snapshot)), REPORT_CACHE,
                  lambda: reports.gaps_body(snapshot, args["radius_m"], args["district"], run=gate("plan").run_isolated),
                  download=download)


@bp.get("/vocabulary")
@describe("Codes and labels of kinds, amenities, honours, statuses and coordinate systems", params=VOCABULARY_PARAMS,
          responses={200: ("Code → label, per list", json_content("Vocabulary"))}, tags=("reference",))
def vocabulary():
    """What forms, filters and the map legend show; codes are what the API takes and returns."""
    args = p.parse_args(request.args, VOCABULARY_PARAMS)
    body, digest = _vocabulary_body(answer_lang(args))
    return cached(query_etag(digest), "public, max-age=3600", lambda: body)


@functools.cache
def _vocabulary_body(lang: str) -> tuple[Body, str]:
    body = json_body(schema.vocabulary(lang))
    return body, _digest(body.data)


@bp.get("/openapi.json")
@describe("This API described in OpenAPI 3.1", responses={200: ("The OpenAPI document", json_content())},
          errors=(400,), tags=("reference",))
def openapi_json():
    """Generated from the routes of every blueprint under /api."""
    p.parse_args(request.args, ())
    body = current_app.extensions.get("stationmap.openapi")
    if body is None:
        body = current_app.extensions.setdefault("stationmap.openapi", json_body(openapi_document(current_app)))
    return cached(query_etag(_digest(body.data)), "public, max-age=300", lambda: body)


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()
