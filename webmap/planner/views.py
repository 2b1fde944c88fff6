"""The planners' workbench pages: /planner (controls, map, tables and charts, driven by static/planner/planner.js)
and the printable report /planner/report/<adcode> (server-rendered, no script needed, A4 print CSS).

The page holds no figures of its own: its script asks the planning API (``webmap.planner.api``).
The report computes the same figures through the same functions (``api_planning.coverage_for``
and ``api_planning.compute_plan``), so a report and the page agree to the last resident.
"""

from __future__ import annotations

import math
import re
from datetime import datetime

from flask import Blueprint, Response, render_template, request, stream_with_context, url_for

from geo import schema
from geo.errors import NotFoundError
from geo.hours import chongqing_now
from geo.listing.status import listing_counts
from geo.messages import Text, clipped
from geo.planning.plans import COVERAGE_CELL_M, DISTRICT_CELL_M, snapshot_stations
from geo.planning.popcoverage import EBIKE_15_MIN_M, WALK_15_MIN_M, counted_stations, station_xy
from geo.planning.population import DEFAULT_CELL_M
from geo.planning.provenance import format_moment
from webmap.core import mapbuild
from webmap.core import params as p
from webmap.core.i18n import PLANNER_JS_KEYS, get_lang, js_strings, t, translate
from webmap.core.page import cached_map, page_config
from webmap.core.state import get_snapshot, get_store
from webmap.planner import api as api_planning
from webmap.planner import params as pp
from webmap.planner.report_map import report_map

bp = Blueprint("planner", __name__)
# The page script's strings beyond webmap.core.i18n.PLANNER_JS_KEYS: the exact solver's clock and its cancel button.
EXTRA_JS_KEYS = ("planner.plan_elapsed", "planner.cancel_plan", "planner.plan_cancelled")

CITY = "500000"
PRESETS = {"walk15": WALK_15_MIN_M, "ebike15": EBIKE_15_MIN_M}
REPORT_PARAMS = (pp.NEW, pp.RADIUS, pp.AT, pp.METHOD, pp.TIME_LIMIT, pp.PLAN_GRID, pp.KINDS, pp.CANDIDATES, p.LANG)
REPORT_GAP_CELLS = 300      # drawn on the report's map
REPORT_GAP_ROWS = 10        # listed in its table
_CELL_NAME = re.compile(r"cell -?\d+,-?\d+")
FORM_FIELDS = (pp.RADIUS, pp.AT, pp.DISTRICT, pp.NEW, pp.METHOD, pp.TIME_LIMIT)


@bp.record_once
def _template_helpers(state):
    state.app.jinja_env.globals.update(pl_share=format_share, pl_int=format_int, pl_distance=format_distance,
                                       pl_site_name=site_label)


# -- formatting (shared with the report template) -------------------------------------------------


def format_share(share) -> str:
    return "–" if share is None or not math.isfinite(share) else f"{share * 100:.1f}%"


def format_int(value) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:,.0f}"


def site_label(name: str) -> str:
    """Grid-cell candidates are named ``cell <col>,<row>`` by ``geo.planning.siting``; say so in the page language."""
    return t("planner.grid_cell", id=name[5:]) if _CELL_NAME.fullmatch(str(name)) else str(name)


def format_distance(metres, lang: str | None = None) -> str:
    if metres is None or not math.isfinite(metres):
        return "–"
    if metres < 1000:
        return translate("metres", lang, n=int(round(metres)))
    return translate("kilometres", lang, n=f"{metres / 1000:.1f}".removesuffix(".0"))


# -- the page -------------------------------------------------------------------------------------


def planner_map(districts, provider: str, lang: str, static_prefix: str = "/static/", tianditu_key: str = ""):
    """Tiles and an empty district-outline layer (planner.js fills it from ``pages.district_outlines`` and adds the rest)."""
    crs = mapbuild.display_crs(provider)
    m = mapbuild.base_map(provider, lang, static_prefix, tianditu_key, zoom=8)
    outlines = mapbuild.add_district_outlines(m, lang)
    return mapbuild.finish(m, provider, outlines=outlines, fit=mapbuild.district_bounds(districts, crs))


def district_choices(districts, lang: str) -> list[dict]:
    frame = districts.frame.sort_values("adcode")
    names = frame["name_en" if lang == "en" else "name_zh"]
    return [{"adcode": code, "name": name} for code, name in zip(frame["adcode"], names, strict=True)]


def initial_form(args) -> dict:
    """The controls' starting values from the query string; anything unusable keeps its default."""
    form = {"radius_m": WALK_15_MIN_M, "at": "", "district": "", "new": pp.NEW.default, "method": pp.METHOD.default,
            "time_limit_s": pp.DEFAULT_TIME_LIMIT_S}
    for spec in FORM_FIELDS:
        raw = args.get(spec.name, "")
        if raw.strip():
            try:
                form[spec.name] = spec.parse(raw)
            except p.ParamError:
                continue
    if isinstance(form["at"], datetime):
        form["at"] = form["at"].strftime("%H:%M")
    elif isinstance(form["at"], str) and " " in form["at"]:   # "Mo 22:00": the time input holds the clock time
        form["at"] = form["at"].split()[-1]
    form["plan"] = args.get("plan", "") == "1"
    preset = next((name for name, metres in PRESETS.items() if metres == form["radius_m"]), "custom")
    form.update(preset=preset, radius_m=int(form["radius_m"]) if float(form["radius_m"]).is_integer() else form["radius_m"],
                time_limit_s=int(form["time_limit_s"]) if float(form["time_limit_s"]).is_integer() else form["time_limit_s"])
    return form


@bp.route("/planner")
def index():
    """Population-weighted coverage, gaps and new-site plans for planners."""
    lang = get_lang()
    store = get_store()
    form = initial_form(request.args)
    parts = cached_map("planner", lambda **kw: planner_map(store.districts, **kw))
    districts = district_choices(store.districts, lang)
    limits = {"maxNew": pp.MAX_NEW, "maxTimeLimit": pp.MAX_TIME_LIMIT_S, "maxRadius": pp.RADIUS.high,
              "gapCells": 300, "cityCell": COVERAGE_CELL_M, "districtCell": DISTRICT_CELL_M}
    config = page_config("planner", presets=PRESETS, limits=limits, initial=form, districts=districts,
                         reportBase=url_for("planner.report", code=CITY)[: -len(CITY)], city=CITY)
    config["strings"].update(js_strings(keys=PLANNER_JS_KEYS + EXTRA_JS_KEYS))
    return render_template("planner/planner.html", map=parts, form=form, districts=districts, presets=PRESETS,
                           limits=limits, config=config, listing=listing_table(get_snapshot(), lang))


def listing_table(snapshot, lang: str) -> dict:
    """上图 progress per district for planners: per platform, stations live / submitted / rejected of all active."""
    counts = snapshot.cached("listing_counts", lambda: listing_counts(snapshot))   # once per registry version
    platforms = {c: t.label(lang) for c, t in schema.LISTING_PLATFORMS.items()}
    rows = []
    for code in [*sorted(c for c in counts if c != CITY), CITY]:
        name = snapshot.districts.name(code, lang) if code != CITY else t("planner.district_all")
        cells = {p: {**counts[code][p], "total": sum(counts[code][p].values())} for p in platforms}
        rows.append({"adcode": code, "name": name, "cells": cells})
    return {"platforms": platforms, "rows": rows}


# -- the report -----------------------------------------------------------------------------------


@bp.route("/planner/report/<code>")
def report(code: str):
    """One district's (or, for 500000, the city's) coverage and plan on a page that prints on A4.

    A plan that is not solved yet (an exact solve can take minutes) is streamed: a progress line
    arrives first, so the new tab is never blank, and the report follows it when the solve is done
    (planner.css hides the progress line once anything comes after it).
    """
    store = get_store()
    if code != CITY and code not in store.districts.by_adcode:
        raise NotFoundError(Text("plan.no_district", code=clipped(code)))
    args = p.parse_args(request.args, REPORT_PARAMS)
    district = None if code == CITY else code
    plan_args = {**args, "district": district}
    if args["method"] == "greedy" or api_planning.plan_is_ready(get_snapshot(), plan_args):
        return render_template("planner/report.html", **_report_context(store, code, args))
    api_planning.require_planner_for_exact()  # before the stream starts: a clear 403, not a failed page

    def stream():
        yield render_template("planner/report_progress.html")
        try:
            context = _report_context(store, code, args)
        except Exception as exc:   # the status line is sent already: say what failed in the page
            yield render_template("planner/report_failed.html", message=str(exc))
            return
        yield render_template("planner/report.html", **context)

    return Response(stream_with_context(stream()), mimetype="text/html")


def _report_context(store, code: str, args: dict) -> dict:
    lang = get_lang()
    snapshot = get_snapshot()
    district = None if code == CITY else code
    cell_m = args["grid_m"] or (DISTRICT_CELL_M if district else DEFAULT_CELL_M)
    cov = api_planning.coverage_for(snapshot, args["radius_m"], args["at"], cell_m, args["kind"] or ())
    plan_args = {**args, "district": district}
    plan = api_planning.compute_plan(snapshot, plan_args)

    worst = cov.worst_served(None)
    row = cov.totals_record() if district is None else next(r for r in cov.records() if r["adcode"] == district)
    rank = None if district is None else int(worst.index[worst["adcode"] == district][0]) + 1
    gaps = cov.gap_cells(REPORT_GAP_CELLS, district)
    stations, _ = counted_stations(snapshot_stations(snapshot, args["kind"] or None), args["at"])
    drawing = report_map(store.districts, district, stations_xy=station_xy(stations), gaps=gaps, sites=plan.sites,
                         radius_m=cov.radius_m, cell_m=cov.grid.cell_m)

    name = store.districts.name(district, lang) if district else ("Chongqing" if lang == "en" else "重庆市")
    common = {"radius_m": f"{cov.radius_m:g}", "grid_m": f"{cell_m:g}", "lang": lang}
    if args["at"] is not None:
        common["at"] = request.args["at"]
    if args["kind"]:
        common["kind"] = ",".join(args["kind"])
    plan_query = {**api_planning.plan_query(plan_args), "lang": lang}
    chart_urls = {"cdf": url_for("api_planning.distance_cdf_chart", fmt="svg", **common, **({"district": code} if district else {})),
                  "plan": url_for("api_planning.plan_chart", fmt="svg", **plan_query)}
    if district is None:
        chart_urls["coverage"] = url_for("api_planning.coverage_chart", fmt="svg", **common)
    before_after = {r["adcode"]: r for r in plan.districts.to_dict("records")}
    table = [{**r, **{f"plan_{k}": v for k, v in before_after.get(r["adcode"], {}).items()}}
             for r in worst.to_dict("records")] if district is None else []
    settings = t("planner.report_settings", r=format_distance(cov.radius_m, lang),
                   hours=t("planner.at_note_report", t=format_moment(cov.at, lang)) if cov.at else t("planner.report_all_day"),
                   n=plan.n_new, method=t(f"planner.method_label_{plan.method}"))
    provenance = api_planning.plan_provenance(snapshot, plan_args, plan)
    sites = plan.sites.to_dict("records")
    if lang == "en":
        for site in sites:
            site["name"] = site["name_en"]
    return dict(
        code=code, name=name, cov=cov, row=row, rank=rank, n_districts=len(worst), plan=plan,
        sites=sites, gaps=gaps.head(REPORT_GAP_ROWS).to_dict("records"), table=table,
        drawing=drawing, charts=chart_urls, settings=settings, generated=chongqing_now().strftime("%Y-%m-%d %H:%M"),
        version=snapshot.version, planner_url=url_for("planner.index", radius_m=common["radius_m"], district=district or "",
                                                      new=plan.n_new, method=args["method"], lang=lang, plan=1),
        download_csv=url_for("api_planning.plan_file", fmt="csv", **plan_query),
        shortfall=plan.shortfall().render(lang) if plan.fewer_sites else None, provenance=provenance.rows(lang),
    )
