"""HTML pages: the station map (/), the nearest-station finder (/nearest), one station (/stations/<id>)
and the planners' coverage page (/coverage), with a Content-Security-Policy that allows no inline
event handlers and no outside scripts.

Pages are thin: the folium base maps come from ``webmap.core.mapbuild`` (cached per language and tile
provider), station data reaches the browser only through the JSON API, and every string a user
or a district typed is rendered by Jinja's autoescape or by our scripts with ``textContent``.
"""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, render_template, request, url_for

from geo import schema
from geo.errors import ValidationError
from geo.hours import chongqing_now, describe_hours, hours_status
from geo.messages import Text
from geo.queries.coverage import check_radius
from geo.queries.distance import NOTE_MESSAGES
from geo.queries.finder import find_for_rider, with_live_fields
from geo.queries.search import search_places
from geo.reports.freshness import freshness
from webmap.core import mapbuild
from webmap.core.i18n import get_lang, translate
from webmap.core.page import cached_map, page_config, provider_settings
from webmap.core.reports_state import get_reports, max_age_days
from webmap.core.state import get_snapshot, get_store

bp = Blueprint("pages", __name__)

FINDER_K_CHOICES = (5, 10, 20)
FINDER_CRS = ("wgs84", "gcj02")
RADIUS_CHOICES = (500, 1000, 3000)
DEFAULT_RADIUS_M = 1000


# -- helpers ---------------------------------------------------------------------------


def navigation_links(lon: float, lat: float, name: str, origin: tuple[float, float] | None = None) -> dict[str, str]:
    """Routes to a WGS-84 point in the map apps: Amap walking and riding (``coordinate=wgs84``), Baidu walking
    (``coord_type=wgs84``), the ``geo:`` URI any phone map opens, and OpenStreetMap. ``origin`` (WGS-84) is the
    rider's point when known; without it the apps start from the phone's own location.
    """
    to = f"{lon:.6f},{lat:.6f},{name}"

    def amap(mode: str) -> str:
        params = {"to": to, "mode": mode, "policy": "1", "coordinate": "wgs84", "callnative": "1", "src": "stationmap"}
        if origin is not None:
            params = {"from": f"{origin[0]:.6f},{origin[1]:.6f}", **params}
        return "https://uri.amap.com/navigation?" + urlencode(params, safe=",")

    baidu = {"destination": f"latlng:{lat:.6f},{lon:.6f}|name:{name}", "mode": "walking", "region": "重庆",
             "coord_type": "wgs84", "output": "html", "src": "stationmap"}
    if origin is not None:
        baidu = {"origin": f"latlng:{origin[1]:.6f},{origin[0]:.6f}", **baidu}
    return {
        "amap": amap("walk"),
        "amap_ride": amap("ride"),
        "baidu": "https://api.map.baidu.com/direction?" + urlencode(baidu, safe=",:|"),
        "geo": f"geo:{lat:.6f},{lon:.6f}?q={lat:.6f},{lon:.6f}",
        "osm": f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=17/{lat:.6f}/{lon:.6f}",
    }


def tel_href(phone: str | None) -> str | None:
    digits = "".join(ch for ch in phone or "" if ch.isdigit() or ch == "+")
    return f"tel:{digits}" if digits else None


def format_change(iso: str | None, lang: str) -> str:
    """``2024-05-01T18:00+08:00`` as ``18:00`` today or ``05-01 18:00`` another day."""
    if not iso:
        return ""
    date, _, rest = iso.partition("T")
    time = rest[:5]
    return time if date == chongqing_now().date().isoformat() else f"{date[5:]} {time}"


def station_view(feature: dict, lang: str, origin: tuple[float, float] | None = None) -> dict:
    """Labels and links for rendering one station (a Feature with live fields) in a template."""
    props = feature["properties"]
    lon, lat = feature["geometry"]["coordinates"][:2]
    fresh = freshness(props, get_reports().reported_closed(), max_age_days=max_age_days())
    change = format_change(props.get("next_change"), lang)
    if change:
        change = translate("closes_at", lang, time=change) if props.get("open_now") else translate("opens_at", lang, time=change)
    return {
        "props": props,
        "lon": lon,
        "lat": lat,
        "kind_label": schema.kind_label(props["kind"], lang),
        "district_label": _district_label(props, lang),
        "amenity_labels": [schema.amenity_label(a, lang) for a in props.get("amenities") or []],
        "honour_labels": [schema.HONOURS[h].label(lang) if h in schema.HONOURS else h for h in props.get("honours") or []],
        "status_label": schema.STATUSES[props["status"]].label(lang) if props.get("status") in schema.STATUSES else props.get("status"),
        "links": navigation_links(lon, lat, props["name"], origin),
        "tel": tel_href(props.get("phone")),
        "change": change,
        "hours_text": describe_hours(props["opening_hours"], lang),
        "hours_status": hours_status(props["opening_hours"], None, lang),
        "distance_m": props.get("distance_m"),
        "walk_minutes": props.get("walk_minutes"),
        "ride_minutes": props.get("ride_minutes"),
        "crosses_river": props.get("crosses_river", False),
        "fresh": fresh,
    }


def _district_label(props: dict, lang: str) -> str:
    if lang == "en":
        try:
            return get_store().districts.name(props["district_adcode"], "en")
        except (KeyError, IndexError):
            pass
    return props.get("district", "")


def format_distance(metres: float | None, lang: str) -> str:
    if metres is None:
        return ""
    if metres < 1000:
        return translate("metres", lang, n=int(round(metres)))
    return translate("kilometres", lang, n=f"{metres / 1000:.1f}")


# -- pages ----------------------------------------------------------------------------


@bp.route("/map/districts.geojson")
def district_outlines():
    """The simplified district outlines the map pages draw, in the map's CRS (GCJ-02 on Amap tiles).

    Static for the life of the process, so built once per (crs, language) and cached by browsers.
    """
    crs = mapbuild.display_crs(mapbuild.resolve_provider(current_app.config))
    lang = get_lang()
    cache = current_app.extensions.setdefault("stationmap.outlines", {})
    body = cache.get((crs, lang))
    if body is None:
        data = mapbuild.outline_collection(get_store().districts, lang, crs)
        body = cache[(crs, lang)] = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    response = current_app.response_class(body, mimetype="application/geo+json")
    response.set_etag(hashlib.blake2b(body, digest_size=12).hexdigest())
    response.headers["Cache-Control"] = "public, max-age=86400"
    response.vary.add("Cookie")  # the language may come from the cookie
    return response.make_conditional(request)



@bp.route("/")
def index():
    """The station map: outlines and legend from folium, stations loaded per view by static/js/map.js."""
    store = get_store()
    parts = cached_map("overview", lambda **kw: mapbuild.overview_map(store.districts, **kw))
    # The first view is the whole municipality: its stations are requested from <head>, in parallel
    # with Leaflet's download, instead of after every script has run (map.js picks the answer up).
    minx, miny, maxx, maxy = (float(v) for v in store.districts.frame.total_bounds)
    bbox = [round(minx - 0.05, 5), round(miny - 0.05, 5), round(maxx + 0.05, 5), round(maxy + 0.05, 5)]
    early = {"bbox": bbox, "url": f"{request.script_root}/api/stations?" + urlencode(
        {"bbox": ",".join(f"{v:.5f}" for v in bbox), "group": "auto", "fields": "min"})}
    return render_template("map.html", map=parts, config=page_config("map", early=early), early=early)


@bp.route("/nearest")
def nearest():
    """The rider's finder: list first, big buttons; works from ``?lon=&lat=`` without JavaScript too."""
    lang = get_lang()
    form = _finder_form()
    results, errors, note, hint, place_note = [], [], None, None, ""
    if form["q"] and not (form["lon"] and form["lat"]):
        # Without GPS: the best match of the search box is the starting point.
        places = search_places(get_snapshot(), form["q"], 1)
        if places:
            form.update(lon=f"{places[0].lon:.6f}", lat=f"{places[0].lat:.6f}", crs="wgs84")
            place_note = translate("from_place", lang, name=places[0].name)
        else:
            place_note = translate("place_not_found", lang, q=form["q"])
    if form["lon"] != "" and form["lat"] != "":
        try:
            answer = find_for_rider(
                get_snapshot(), form["lon"], form["lat"], k=form["k"], kind=form["kind"] or None,
                amenities=form["amenities"], open_at=None if form["open_now"] else False, crs=form["crs"],
                exclude=frozenset() if form["show_reported"] else get_reports().reported_closed(),
            )
            origin = (answer.lon, answer.lat)
            results = [station_view(f, lang, origin) for f in answer.features]
            note = Text(NOTE_MESSAGES[answer.note]).render(lang) if answer.note else None
            if answer.crs_hint:
                hint = translate("crs_hint", lang, crs=schema.INPUT_CRS[answer.crs_hint].label(lang))
        except ValidationError as exc:
            errors = [p.as_dict(lang) for p in exc.problems]
    store = get_store()
    parts = cached_map("finder", lambda **kw: mapbuild.finder_map(store.districts, **kw))
    amenities = {code: term.label(lang) for code, term in schema.AMENITIES.items()}
    return render_template(
        "nearest.html", map=parts, form=form, results=results, errors=errors, amenities=amenities, note=note,
        place_note=place_note,
        crs_hint=hint, kinds={code: term.label(lang) for code, term in schema.KINDS.items()}, k_choices=FINDER_K_CHOICES,
        crs_choices={code: schema.INPUT_CRS[code].label(lang) for code in FINDER_CRS},
        format_distance=format_distance, searched=bool(results or errors or note or form["q"] or (form["lon"] and form["lat"])),
        config=page_config("nearest", kChoices=FINDER_K_CHOICES,
                           crsLabels={code: term.label(lang) for code, term in schema.INPUT_CRS.items()}),
    )


def _finder_form() -> dict:
    args = request.args
    try:
        k = int(args.get("k", FINDER_K_CHOICES[0]))
    except ValueError:
        k = FINDER_K_CHOICES[0]
    k = min(max(k, 1), max(FINDER_K_CHOICES))
    kind = args.get("kind", "")
    crs = args.get("crs", "wgs84")
    amenities = [a for a in args.getlist("amenity") if a in schema.AMENITIES]
    return {
        "lon": args.get("lon", "").strip()[:32],
        "lat": args.get("lat", "").strip()[:32],
        "crs": crs if crs in FINDER_CRS else "wgs84",
        "k": k,
        "kind": kind if kind in schema.KINDS else "",
        "amenities": amenities,
        "open_now": args.get("open_now") in ("1", "on", "true"),
        "show_reported": args.get("show_reported") in ("1", "on", "true"),
        "q": args.get("q", "").strip()[:40],
    }


@bp.route("/stations/<station_id>")
def station(station_id: str):
    """One station, server-rendered and shareable; unknown ids raise NotFoundError (the 404 page)."""
    if len(station_id) > 64:
        abort(404)
    lang = get_lang()
    feature = with_live_fields(get_snapshot().get(station_id))
    provider, key = provider_settings()
    parts = mapbuild.station_map(feature, provider, lang, url_for("static", filename=""), key)
    open_reports = get_reports().list(station_id=station_id, status="open", limit=20)
    return render_template("station.html", s=station_view(feature, lang), map=parts, config=page_config("station"),
                           open_reports=open_reports)


@bp.route("/coverage")
def coverage():
    """Planners' page: choropleth, gaps, sortable table, bar chart and downloads; data from the API by coverage.js."""
    try:
        radius = int(check_radius(request.args.get("radius_m", DEFAULT_RADIUS_M)))
    except ValidationError:
        radius = DEFAULT_RADIUS_M
    store = get_store()
    parts = cached_map("coverage", lambda **kw: mapbuild.coverage_map(districts=store.districts, **kw))
    lang = get_lang()
    downloads = {
        "csv": f"{request.script_root}/api/coverage.csv?" + urlencode({"radius_m": radius, "lang": lang}),
        "gaps": f"{request.script_root}/api/gaps?" + urlencode({"radius_m": radius}),
    }
    return render_template(
        "coverage.html", map=parts, radius=radius, radius_choices=RADIUS_CHOICES, downloads=downloads,
        config=page_config("coverage", radius=radius, radiusChoices=RADIUS_CHOICES),
    )

