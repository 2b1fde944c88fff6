"""The planners' JSON API (mounted at /api): population-weighted coverage, gap cells, new-site plans, their downloads and charts.

Thin like ``webmap.public.api``: each view parses its parameters (``webmap.core.params``), asks
``geo.planning.plans`` for the figures (which caches them per registry snapshot) and shapes them
with ``geo.planning.export`` / ``geo.planning.charts``. Finished plans are kept per app by
``webmap.planner.state`` so the page's downloads and chart reuse the solve it just ran.
Errors are the usual envelope; a busy exact solver answers 503 with ``Retry-After``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from flask import Blueprint, current_app, request, url_for
from werkzeug.datastructures import CombinedMultiDict

from geo.errors import PermissionDeniedError, Problem, ValidationError
from geo.messages import Text, localise, message_of
from geo.planning import charts
from geo.planning import export as planexport
from geo.planning.plans import DISTRICT_CELL_M, snapshot_plan, snapshot_population_coverage
from geo.planning.popcoverage import parse_at
from geo.planning.population import DEFAULT_CELL_M, modelled_grid
from geo.planning.provenance import Provenance
from webmap.core import params as p
from webmap.core.errors import error_response
from webmap.core.gates import ThrottledError, gate
from webmap.core.i18n import message_lang
from webmap.core.openapi import GEOJSON, describe, json_content
from webmap.core.responses import CSV, Body, cached, json_body, query_etag, send, snapshot_fingerprint
from webmap.core.state import get_snapshot
from webmap.planner import params as pp
from webmap.planner.state import SolverBusyError, planner_state

bp = Blueprint("api_planning", __name__)

MAX_CANDIDATE_ROWS = 50_000
# Planning radii are rounded to this step, so requests that differ by a few metres (an
# attacker's way round the cache) share one computation.
RADIUS_STEP_M = 50.0
RETRY_AFTER_S = 30
CACHE = "public, max-age=300"
CACHE_AT = "public, max-age=60"      # "HH:MM" means today: the answer changes at midnight
PLAN_CACHE = "private, max-age=300"
SVG, PNG = "image/svg+xml", "image/png"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_STR = {"type": "string"}


# -- views -----------------------------------------------------------------------------------------


@bp.get("/population-coverage")
@describe("Residents within reach of a station, per district and for the city, with the worst-served districts",
          params=pp.COVERAGE_PARAMS, responses={200: ("Population share next to area share", json_content("PopulationCoverage"))},
          tags=("planning",))
def population_coverage():
    """A grid record counts as covered when its cell centre lies within `radius_m` of a counted station
    (Chongqing Albers metres). `residents_per_station` is census population over stations in the
    district; `worst_served` lists adcodes by population share, lowest first.
    """
    args = p.parse_args(request.args, pp.COVERAGE_PARAMS)
    snapshot = get_snapshot()

    def build():
        cov = _coverage(snapshot, args)
        provenance = Provenance.of(snapshot, cov.grid, cov.radius_m, cov.at)
        return json_body({**planexport.coverage_json(cov, gaps=args["gaps"], lang=lang, provenance=provenance),
                          "registry_version": snapshot.version})

    lang = message_lang()  # the population note is a message: ?lang=, else Accept-Language (the page sends its own)
    return _vary(_cached(snapshot, args, build, extra=(lang,)))


@bp.get("/gap-cells")
@describe("Uncovered grid cells, most residents first, as GeoJSON polygons", params=pp.GAP_PARAMS,
          responses={200: ("Gap cells with residents and distance to the nearest station",
                           json_content("GapCellCollection", GEOJSON))}, tags=("planning",))
def gap_cells():
    """Cells whose centre is farther than `radius_m` from every counted station, ranked by residents.
    `uncovered_cells` counts all of them in scope; `count` how many are sent.
    """
    args = p.parse_args(request.args, pp.GAP_PARAMS)
    snapshot = get_snapshot()

    def build():
        cov = _coverage(snapshot, args)
        if args["district"]:
            # Cells outside the district count as covered here, so the domain ranks only the district's.
            cov = replace(cov, covered=cov.covered | ~cov.grid.mask(args["district"]))
        collection = planexport.gap_cells_geojson(cov, n=args["limit"])
        for rank, feature in enumerate(collection["features"], start=1):
            feature["properties"] = {"rank": rank, **feature["properties"]}
        uncovered = int(((~cov.covered) & (cov.grid.residents > 0)).sum())
        return json_body({"type": "FeatureCollection", "radius_m": cov.radius_m, "cell_m": cov.grid.cell_m,
                          "at": _iso(cov.at), "count": len(collection["features"]), "uncovered_cells": uncovered,
                          "registry_version": snapshot.version, "features": collection["features"]}, GEOJSON)

    download = f"stationmap-gap-cells-{args['radius_m']:g}m.geojson" if args["download"] else None
    return _cached(snapshot, args, build, download=download)


@bp.route("/plan", methods=["GET", "POST"])
@describe("Where to build next: new sites that bring the most residents within reach", method="GET",
          params=pp.PLAN_PARAMS, responses={200: ("The plan: ranked sites, before/after per district", json_content("SitingPlan")),
                                         503: pp.BUSY}, errors=(400, 404), tags=("planning",))
@describe("Plan with your own candidate sites (multipart upload of a CSV)", method="POST", params=pp.PLAN_PARAMS,
          request_body=pp.MULTIPART, responses={200: ("The plan; `candidates` is the digest to use in later GETs",
                                                    json_content("SitingPlan")), 503: pp.BUSY},
          errors=(400, 413), tags=("planning",))
def plan():
    """Existing active stations stay; each site is ranked by the residents it adds given those
    ranked before it. Parameters may also be sent as form fields with POST.
    """
    if request.method == "POST":
        args = p.parse_args(CombinedMultiDict([request.args, request.form]), pp.PLAN_PARAMS)
        upload = request.files.get("candidates")
        if args["candidates"] or upload is None:
            raise ValidationError(Problem("candidates", Text("plan.post_needs_file"), Text("plan.post_hint")))
        data = upload.read()
        if data.count(b"\n") > MAX_CANDIDATE_ROWS:
            raise ValidationError(Problem("candidates", Text("plan.too_many_rows", max=MAX_CANDIDATE_ROWS)))
        snapshot = get_snapshot()
        args["candidates"] = hashlib.sha256(data).hexdigest()
        result = compute_plan(snapshot, args, data)
        planner_state().candidates.put(data)
        return send(json_body(_plan_body(snapshot, args, result)), "no-store")
    args = p.parse_args(request.args, pp.PLAN_PARAMS)
    snapshot = get_snapshot()
    return _vary(_cached(snapshot, args, lambda: json_body(_plan_body(snapshot, args, compute_plan(snapshot, args))),
                         cache_control=PLAN_CACHE, extra=(message_lang(),)))


@bp.get("/plan.<any(csv, geojson, xlsx):fmt>")
@describe("A plan as a file: CSV (UTF-8 with BOM), GeoJSON points or an Excel workbook", params=(pp.FORMAT_FILE, *pp.PLAN_FILE_PARAMS),
          responses={200: ("The file, as an attachment", {"text/csv": {"schema": _STR}, GEOJSON: {"schema": {"type": "object"}},
                                                             XLSX: {"schema": {"type": "string", "format": "binary"}}}),
                     503: pp.BUSY}, errors=(400, 404), tags=("planning",))
def plan_file(fmt: str):
    """The same parameters as /api/plan. Text cells that a spreadsheet would run as a formula
    (= + - @, tab, CR: candidate names come from uploads) are prefixed with an apostrophe.
    Headers are Chinese unless lang=en. The workbook holds sites, before/after and a summary.
    """
    args = p.parse_args(request.args, pp.PLAN_FILE_PARAMS)
    snapshot = get_snapshot()
    lang = args["lang"] or current_app.config.get("DEFAULT_LANG", "zh")

    def build():
        result = compute_plan(snapshot, args)
        provenance = plan_provenance(snapshot, args, result)
        if fmt == "csv":
            return Body(planexport.plan_csv(result, lang, provenance), CSV)
        if fmt == "geojson":
            return json_body(planexport.sites_geojson(result), GEOJSON)
        return Body(planexport.plan_xlsx(result, lang, provenance), XLSX)

    scope = args["district"] or "500000"
    name = f"stationmap-plan-{scope}-{args['new']}-{args['radius_m']:g}m.{fmt}"
    return _cached(snapshot, args, build, download=name, cache_control=PLAN_CACHE, extra=(lang,))


@bp.get("/population-coverage.<any(csv, xlsx):fmt>")
@describe("The per-district population-coverage table as a file, with the planner page's columns",
          params=(pp.FORMAT_TABLE, *pp.COVERAGE_FILE_PARAMS),
          responses={200: ("The file, as an attachment", {"text/csv": {"schema": _STR},
                                                             XLSX: {"schema": {"type": "string", "format": "binary"}}})},
          errors=(400,), tags=("planning",))
def population_coverage_file(fmt: str):
    """CSV (UTF-8 with BOM; opening lines starting with # say where the numbers come from) or a
    workbook (table, gap cells, distance distribution and a 说明 sheet). Chinese unless lang=en.
    """
    args = p.parse_args(request.args, pp.COVERAGE_FILE_PARAMS)
    snapshot = get_snapshot()
    lang = args["lang"] or current_app.config.get("DEFAULT_LANG", "zh")

    def build():
        cov = _coverage(snapshot, args)
        provenance = Provenance.of(snapshot, cov.grid, cov.radius_m, cov.at)
        if fmt == "csv":
            return Body(planexport.coverage_csv(cov, lang, provenance), CSV)
        return Body(planexport.coverage_xlsx(cov, lang, provenance), XLSX)

    name = f"stationmap-population-coverage-{args['radius_m']:g}m.{fmt}"
    return _cached(snapshot, args, build, download=name, extra=(lang,))


@bp.get("/charts/coverage.<any(svg, png):fmt>")
@describe("Chart: population share and area share within the radius, per district", params=(pp.FORMAT_CHART, *pp.COVERAGE_CHART_PARAMS),
          responses={200: ("The chart", {SVG: {"schema": _STR}, PNG: {"schema": {"type": "string", "format": "binary"}}})},
          errors=(400,), tags=("planning",))
def coverage_chart(fmt: str):
    """Worst-served districts at the bottom. Labels in Chinese unless lang=en (English if no CJK font is installed)."""
    args = p.parse_args(request.args, pp.COVERAGE_CHART_PARAMS)
    snapshot = get_snapshot()
    return _chart(snapshot, args, fmt, lambda lang: charts.coverage_by_district_chart(
        _coverage(snapshot, args), lang=lang, fmt=fmt, sort=args["sort"]))


@bp.get("/charts/distance-cdf.<any(svg, png):fmt>")
@describe("Chart: share of residents by distance to the nearest station", params=(pp.FORMAT_CHART, *pp.CDF_CHART_PARAMS),
          responses={200: ("The chart", {SVG: {"schema": _STR}, PNG: {"schema": {"type": "string", "format": "binary"}}})},
          errors=(400,), tags=("planning",))
def distance_cdf_chart(fmt: str):
    """One curve for the city and one per `district`; a dashed line marks `radius_m`."""
    args = p.parse_args(request.args, pp.CDF_CHART_PARAMS)
    chosen = tuple(args["district"] or ())
    if len(chosen) > pp.MAX_CDF_DISTRICTS:
        raise ValidationError(Problem("district", Text("plan.too_many_districts", max=pp.MAX_CDF_DISTRICTS, n=len(chosen))))
    snapshot = get_snapshot()
    return _chart(snapshot, args, fmt, lambda lang: charts.distance_cdf_chart(
        _coverage(snapshot, args), lang=lang, fmt=fmt, adcodes=chosen, max_km=args["max_km"]))


@bp.get("/charts/plan.<any(svg, png):fmt>")
@describe("Chart: share of residents covered before and after a plan, for the districts that gain most",
          params=(pp.FORMAT_CHART, *pp.PLAN_CHART_PARAMS),
          responses={200: ("The chart", {SVG: {"schema": _STR}, PNG: {"schema": {"type": "string", "format": "binary"}}}),
                     503: pp.BUSY}, errors=(400, 404), tags=("planning",))
def plan_chart(fmt: str):
    """The same plan parameters as /api/plan (the plan is computed once and reused)."""
    args = p.parse_args(request.args, pp.PLAN_CHART_PARAMS)
    snapshot = get_snapshot()
    return _chart(snapshot, args, fmt, lambda lang: charts.plan_before_after_chart(
        compute_plan(snapshot, args), lang=lang, fmt=fmt, top=args["top"]), cache_control=PLAN_CACHE)


# -- shared by the views and the report page ------------------------------------------------------


@dataclass(frozen=True)
class PlanKey:
    """What makes two plans the same, besides the registry snapshot."""

    n_new: int
    radius_m: float
    district: str | None
    method: str
    time_limit_s: float
    cell_m: float | None
    kinds: tuple
    candidates: str | None
    at: str | None = None   # the resolved moment (ISO): "Mo 22:00" means a different day next week


def quantised_radius(radius_m: float) -> float:
    """``radius_m`` rounded to ``RADIUS_STEP_M`` (at least one step): what planning computes with."""
    return max(RADIUS_STEP_M, round(float(radius_m) / RADIUS_STEP_M) * RADIUS_STEP_M)


def expensive(fn, snapshot, *args, **kwargs):
    """Run a planning computation ``fn(snapshot, *args, **kwargs)``: visitors who are not signed in
    are rate-limited per address (``PLAN_LIMIT_ANON``), and every computation passes the ``plan``
    gate (bounded concurrency, in a separate niced process bounded in memory and time, which
    keeps its own copy of the registry; 503 when full)."""
    from webmap.signin.auth import charge_address, current_user

    if current_user() is None:
        wait = charge_address("plan-anonymous", current_app.config["PLAN_LIMIT_ANON"])
        if wait:
            raise ThrottledError(wait, Text("busy.plan_limit"))
    return gate("plan").run_on_registry(fn, snapshot, *args, **kwargs)


def plan_key(args: dict) -> PlanKey:
    # The time limit only matters to the exact solver: greedy plans with any limit are the same plan.
    limit = float(args["time_limit_s"]) if args["method"] != "greedy" else pp.DEFAULT_TIME_LIMIT_S
    return PlanKey(int(args["new"]), quantised_radius(args["radius_m"]), args["district"], args["method"], limit,
                   None if args["grid_m"] is None else float(args["grid_m"]), tuple(sorted(args["kind"] or ())),
                   args["candidates"], _iso(parse_at(args.get("at"))))


def compute_plan(snapshot, args: dict, candidate_bytes: bytes | None = None):
    """The ``geo.planning.siting.SitingPlan`` for parsed plan parameters, solved once per snapshot and key."""
    key = plan_key(args)
    if key.district is None and key.cell_m is not None and key.cell_m < pp.CITY_PLAN_MIN_CELL_M:
        raise ValidationError(Problem("grid_m", Text("plan.city_cells", min=f"{pp.CITY_PLAN_MIN_CELL_M:g}"), Text("plan.city_cells_hint")))
    state = planner_state()

    def solve():
        data = candidate_bytes
        if key.candidates is not None and data is None:
            data = state.candidates.get(key.candidates)
        return expensive(snapshot_plan, snapshot, key.n_new, key.radius_m, key.district, candidates=data,
                         method=key.method, time_limit_s=key.time_limit_s, cell_m=key.cell_m, kinds=key.kinds or None,
                         at=key.at)

    cache_key = (snapshot_fingerprint(snapshot), key)
    if key.method != "greedy" and state.plans.get(cache_key) is None:
        require_planner_for_exact()
    return state.plans.get_or_compute(cache_key, solve, exact=key.method != "greedy")


def require_planner_for_exact() -> None:
    """Exact (CBC) solves take seconds to minutes of a core: signed-in planners and administrators
    only. Anyone may read an exact plan already solved, and greedy plans stay open to all."""
    from webmap.signin.auth import current_user

    user = current_user()
    if user is None or user.role not in ("planner", "admin"):
        raise PermissionDeniedError(Text("plan.exact_signed_in"))


def plan_is_ready(snapshot, args: dict) -> bool:
    """Whether ``compute_plan`` would answer at once (the plan is solved and kept)."""
    return planner_state().plans.get((snapshot_fingerprint(snapshot), plan_key(args))) is not None


def coverage_for(snapshot, radius_m: float, at=None, grid_m: float = 500.0, kinds=()):
    """``geo.planning.plans.snapshot_population_coverage`` (cached on the snapshot)."""
    return expensive(snapshot_population_coverage, snapshot, quantised_radius(radius_m), at, cell_m=float(grid_m),
                     kinds=tuple(kinds) or None)


def plan_query(args: dict) -> dict:
    """The plan parameters that differ from their defaults, for links to the downloads and charts."""
    query = {}
    for spec in pp.PLAN_PARAMS:
        value = args.get(spec.name)
        if value is None or value == () or value == spec.default_value():
            continue
        query[spec.name] = ",".join(value) if isinstance(value, tuple) else f"{value:g}" if isinstance(value, float) else value
    query.setdefault("new", args["new"])
    return query


def _coverage(snapshot, args):
    return coverage_for(snapshot, args["radius_m"], args["at"], args["grid_m"], args["kind"] or ())


def _plan_body(snapshot, args: dict, result) -> dict:
    query = plan_query(args)
    links = {fmt: url_for("api_planning.plan_file", fmt=fmt, **query) for fmt in ("csv", "geojson", "xlsx")}
    links["chart"] = url_for("api_planning.plan_chart", fmt="svg", **query)
    report_query = {k: v for k, v in query.items() if k != "district"}   # the report takes the district in its path
    links["report"] = url_for("planner.report", code=args["district"] or "500000", **report_query)
    key = plan_key(args)
    cell_m = key.cell_m or (DISTRICT_CELL_M if key.district else DEFAULT_CELL_M)  # geo.planning.plans.snapshot_plan's default
    return {**planexport.plan_json(result, message_lang(), plan_provenance(snapshot, args, result)), "cell_m": cell_m,
            "candidates": args["candidates"], "registry_version": snapshot.version, "links": links}


def plan_provenance(snapshot, args: dict, result) -> Provenance:
    """Where a plan's numbers come from (the grid it was solved on, the moment, the solver's status)."""
    key = plan_key(args)
    cell_m = key.cell_m or (DISTRICT_CELL_M if key.district else DEFAULT_CELL_M)
    return Provenance.of(snapshot, modelled_grid(cell_m), result.radius_m, result.at, result)  # the grid snapshot_plan solves on


def _iso(when) -> str | None:
    return when.isoformat(timespec="minutes") if when is not None else None


def _vary(response):
    response.vary.add("Accept-Language")
    return response


def _cached(snapshot, args, build, *, download=None, cache_control=None, extra=()):
    """``responses.cached`` keyed on the snapshot, the query and the resolved moment (``at=HH:MM`` is today)."""
    when = parse_at(args.get("at")) if args.get("at") is not None else None
    control = cache_control or (CACHE_AT if when is not None else CACHE)
    return cached(query_etag(snapshot_fingerprint(snapshot), _iso(when), *extra), control, build, download=download)


def _chart(snapshot, args, fmt: str, draw, cache_control=None):
    lang = args["lang"] or current_app.config.get("DEFAULT_LANG", "zh")
    response = _cached(snapshot, args, lambda: Body(draw(lang), SVG if fmt == "svg" else PNG), cache_control=cache_control,
                       extra=(lang,))
    if fmt == "svg":
        response.headers["Content-Security-Policy"] = SVG_CSP
    return response


@bp.errorhandler(SolverBusyError)
def _busy(exc):
    lang = message_lang()
    response = error_response(503, [{"where": "method", "message": localise(message_of(exc), lang),
                                     "hint": Text("plan.greedy_hint").render(lang)}])
    response.vary.add("Accept-Language")
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def init_app(app) -> None:
    """Per-app planner state, and no CSRF token for POST /api/plan: it changes nothing (an upload is only read)."""
    from webmap.planner import state as state_module

    state_module.init_app(app)
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)
