"""Query parameters and OpenAPI schemas of the planners' API (``webmap.planner.api``) and report page.

Each ``webmap.core.params`` spec both parses a request and documents itself in /api/openapi.json,
so the page, the report and the API accept exactly the same values.
"""

from __future__ import annotations

import re

from geo import schema
from geo.messages import Text
from geo.planning.popcoverage import EBIKE_15_MIN_M, WALK_15_MIN_M
from geo.planning.population import CELL_SIZES_M
from geo.queries.coverage import MAX_RADIUS_M
from webmap.core import params as p
from webmap.core.openapi import json_content, register_schema
from webmap.core.state import get_store
from webmap.planner.state import DIGEST_PATTERN

MAX_NEW = 200
MAX_TIME_LIMIT_S = 120.0
DEFAULT_TIME_LIMIT_S = 60.0
MAX_GAP_CELLS = 5000
MAX_CDF_DISTRICTS = 6
# A plan for the whole municipality on cells finer than this has over a million candidates.
CITY_PLAN_MIN_CELL_M = 1000.0
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")


_WEEKDAY_CLOCK = re.compile(r"([A-Za-z]{2})\s+(\d{1,2}):(\d{2})")
_WEEKDAYS = ("mo", "tu", "we", "th", "fr", "sa", "su")


class ClockTime(p.LocalDateTime):
    """``HH:MM`` (today, Chongqing time) or an ISO date and time; returned as given for ``geo.planning.popcoverage.parse_at``."""

    def parse(self, raw):
        text = raw.strip()
        clock = _CLOCK.fullmatch(text)
        if clock:
            if int(clock[1]) > 23 or int(clock[2]) > 59:
                raise p.ParamError(Text("param.time_of_day", value=p.shown(raw)))
            return f"{int(clock[1]):02d}:{clock[2]}"
        weekday = _WEEKDAY_CLOCK.fullmatch(text)
        if weekday and weekday[1].lower() in _WEEKDAYS:
            if int(weekday[2]) > 23 or int(weekday[3]) > 59:
                raise p.ParamError(f"must be a time of day from 00:00 to 23:59, not {p.shown(raw)}")
            return f"{weekday[1][:1].upper()}{weekday[1][1:].lower()} {int(weekday[2]):02d}:{weekday[3]}"
        try:
            return super().parse(raw)
        except p.ParamError:
            raise p.ParamError(Text("param.clock_or_iso", value=p.shown(raw))) from None

    def schema(self):
        return {"type": "string",
                "pattern": r"^(\d{1,2}:\d{2}|(Mo|Tu|We|Th|Fr|Sa|Su) \d{1,2}:\d{2}|\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}.*)$"}


class CellSize(p.Choice):
    """A population grid cell size in metres, one of ``geo.planning.population.CELL_SIZES_M``."""

    def __init__(self, name, description, **kw):
        super().__init__(name, description, tuple(f"{c:g}" for c in CELL_SIZES_M), **kw)

    def parse(self, raw):
        return float(super().parse(raw))

    def schema(self):
        return {"type": "integer", "enum": [int(c) for c in CELL_SIZES_M]}


class Digest(p.Param):
    def parse(self, raw):
        value = raw.strip().lower()
        if not DIGEST_PATTERN.fullmatch(value):
            raise p.ParamError(Text("param.digest"))
        return value

    def schema(self):
        return {"type": "string", "pattern": DIGEST_PATTERN.pattern}


class PathFormat(p.Choice):
    """The file type in the path (documentation only: the URL rule itself checks it)."""

    def openapi(self):
        return {"name": self.name, "in": "path", "required": True, "description": self.description,
                "schema": {"type": "string", "enum": list(self.choices)}}


def _districts():
    return get_store().districts.by_adcode


RADIUS = p.Number("radius_m", f"Reach of a station in metres, 1–{MAX_RADIUS_M:g}: {WALK_15_MIN_M:g} is 15 minutes on foot, "
                              f"{EBIKE_15_MIN_M:g} 15 minutes by e-bike.", 1, MAX_RADIUS_M, default=WALK_15_MIN_M)
AT = ClockTime("at", "Only stations open at this moment count: HH:MM (today, Chongqing time), a weekday and time "
                     "(Mo 22:00: the next Monday) or an ISO date and time (2026-12-07T22:00). "
                     "Default: every active station.", example="22:30")
GRID = CellSize("grid_m", "Side of the population grid cells in metres (2020 census spread by a density model). "
                          "Default 500: against 250 m cells, 1,000 m cells move a district's share by up to 2.7 "
                          "percentage points, 500 m cells by up to 1.3 (scripts/bench_discretisation.py).",
                default=500)
KINDS = p.MultiChoice("kind", "Only existing stations of these kinds count (repeat or comma-separate). Default: all.",
                      schema.KINDS)
GAPS = p.Integer("gaps", "How many of the most populated uncovered cells to include, 0–1000.", 0, 1000, default=20)
LIMIT = p.Integer("limit", f"How many gap cells, most residents first, 1–{MAX_GAP_CELLS}.", 1, MAX_GAP_CELLS, default=500)
DISTRICT = p.district(_districts, "One district (6-digit adcode, e.g. 500112); default the whole municipality.")
NEW = p.Integer("new", f"How many new stations to site, 1–{MAX_NEW}.", 1, MAX_NEW, default=10)
METHOD = p.Choice("method", "greedy (seconds; within 63 % of optimal, usually within 1 %), exact (maximal covering "
                            "location by spopt + CBC, stopped after time_limit_s with the best plan and a proven bound) "
                            "or both (exact, with the greedy plan as `alternative`).", ("greedy", "exact", "both"),
                  default="greedy")
TIME_LIMIT = p.Number("time_limit_s", f"Seconds CBC may search, 1–{MAX_TIME_LIMIT_S:g} (the model build comes on top).",
                      1, MAX_TIME_LIMIT_S, default=DEFAULT_TIME_LIMIT_S)
PLAN_GRID = CellSize("grid_m", "Population grid cell in metres; default 500 for a district, 1000 for the whole city "
                               f"(which needs {CITY_PLAN_MIN_CELL_M:g} or more).")
CANDIDATES = Digest("candidates", "Candidate sites: the digest of a CSV uploaded earlier with POST /api/plan. "
                                  "Default: every grid cell centre in scope.")
FORMAT_CHART = PathFormat("fmt", "svg or png.", ("svg", "png"))
FORMAT_TABLE = PathFormat("fmt", "csv (UTF-8 with BOM, for Excel) or xlsx.", ("csv", "xlsx"))
FORMAT_FILE = PathFormat("fmt", "csv (UTF-8 with BOM, for Excel), geojson (RFC 7946) or xlsx.", ("csv", "geojson", "xlsx"))

COVERAGE_PARAMS = (RADIUS, AT, GRID, KINDS, GAPS)
COVERAGE_FILE_PARAMS = (RADIUS, AT, GRID, KINDS, p.LANG)
GAP_PARAMS = (RADIUS, AT, GRID, KINDS, LIMIT, DISTRICT, p.DOWNLOAD)
PLAN_PARAMS = (NEW, RADIUS, DISTRICT, METHOD, TIME_LIMIT, PLAN_GRID, KINDS, CANDIDATES, AT)
PLAN_FILE_PARAMS = (*PLAN_PARAMS, p.LANG)
COVERAGE_CHART_PARAMS = (RADIUS, AT, GRID, KINDS, p.LANG,
                         p.Choice("sort", "Order bars by population share or area share.", ("population", "area"),
                                  default="population"))
CDF_CHART_PARAMS = (RADIUS, AT, GRID, KINDS, p.LANG,
                    p.MultiChoice("district", f"Add a curve for each of these districts (up to {MAX_CDF_DISTRICTS}).",
                                  _districts, pattern=r"^50\d{4}$"),
                    p.Number("max_km", "Right end of the distance axis in km, 1–100.", 1, 100, default=10.0))
PLAN_CHART_PARAMS = (*PLAN_PARAMS, p.LANG,
                     p.Integer("top", "Show the districts that gain most, 1–40.", 1, 40, default=15))


# -- response schemas (OpenAPI components) ---------------------------------------------------------

_NUM, _NULLNUM, _STR = {"type": "number"}, {"type": ["number", "null"]}, {"type": "string"}
register_schema("PopulationCoverageRow", {"type": "object", "properties": {
    "adcode": _STR, "district": _STR, "district_en": _STR, "population": {"type": "integer"}, "residents": _NUM,
    "stations": {"type": "integer"}, "residents_per_station": _NULLNUM, "residents_covered": _NUM,
    "residents_uncovered": _NUM, "population_share": {"type": "number", "minimum": 0, "maximum": 1}, "area_km2": _NUM,
    "covered_km2": _NUM, "area_share": {"type": "number", "minimum": 0, "maximum": 1}, "median_distance_m": _NULLNUM}})
register_schema("PopulationCoverage", {"type": "object", "required": ["radius_m", "districts", "totals"], "properties": {
    "radius_m": _NUM, "at": {"type": ["string", "null"], "description": "Chongqing local time stations were filtered by"},
    "area_method": {"enum": ["exact", "grid"]}, "population_source": _STR, "cell_m": _NUM,
    "registry_version": {"type": "integer"},
    "totals": {"$ref": "#/components/schemas/PopulationCoverageRow"},
    "districts": {"type": "array", "items": {"$ref": "#/components/schemas/PopulationCoverageRow"}},
    "worst_served": {"type": "array", "items": _STR, "description": "adcodes, lowest population share first"},
    "gap_cells": {"type": "array", "items": {"type": "object"}},
    "distance_cdf": {"type": "array", "items": {"type": "object", "properties": {
        "distance_m": _NUM, "residents": _NUM, "share": _NUM}}}}})
register_schema("GapCellCollection", {"type": "object", "required": ["type", "features"], "properties": {
    "type": {"const": "FeatureCollection"}, "radius_m": _NUM, "cell_m": _NUM, "count": {"type": "integer"},
    "uncovered_cells": {"type": "integer"}, "registry_version": {"type": "integer"},
    "features": {"type": "array", "items": {"type": "object", "properties": {
        "type": {"const": "Feature"}, "geometry": {"type": "object", "description": "the cell, a Polygon in WGS-84"},
        "properties": {"type": "object", "properties": {
            "rank": {"type": "integer"}, "adcode": _STR, "district": _STR, "residents": _NUM,
            "nearest_m": _NULLNUM}}}}}}})
_SITE = {"type": "object", "properties": {"rank": {"type": "integer"}, "name": _STR, "lon": _NUM, "lat": _NUM, "adcode": _STR,
                                          "district": _STR, "residents_added": _NUM, "cumulative_added": _NUM}}
_PLAN_DISTRICT = {"type": "object", "properties": {
    "adcode": _STR, "district": _STR, "district_en": _STR, "residents": _NUM, "covered_before": _NUM, "covered_after": _NUM,
    "added": _NUM, "share_before": _NUM, "share_after": _NUM, "new_sites": {"type": "integer"}}}
register_schema("SitingPlan", {"type": "object", "required": ["method", "status", "sites", "districts"], "properties": {
    "method": {"enum": ["greedy", "exact"]}, "status": {"type": "string", "description": "greedy; for exact plans optimal, time_limit (best found when the limit hit), "
                                                 "stopped (no solution in time: the greedy sites) or not_solved"},
    "radius_m": _NUM, "n_new": {"type": "integer"}, "sites_chosen": {"type": "integer"}, "district": {"type": ["string", "null"]},
    "objective": _NUM, "best_bound": _NULLNUM, "gap": _NULLNUM, "runtime_s": _NUM,
    "residents": _NUM, "covered_before": _NUM, "covered_after": _NUM, "added": _NUM, "share_before": _NUM, "share_after": _NUM,
    "comparison": {"type": "object", "additionalProperties": _NUM}, "notes": {"type": "array", "items": _STR},
    "sites": {"type": "array", "items": _SITE}, "districts": {"type": "array", "items": _PLAN_DISTRICT},
    "alternative": {"$ref": "#/components/schemas/SitingPlan"},
    "cell_m": _NUM, "candidates": {"type": ["string", "null"]}, "registry_version": {"type": "integer"},
    "links": {"type": "object", "additionalProperties": _STR}}})
MULTIPART = {"multipart/form-data": {"schema": {"type": "object", "required": ["candidates"], "properties": {
    "candidates": {"type": "string", "format": "binary",
                   "description": "CSV of candidate hosts: name, lon, lat (WGS-84; 经度/纬度 headers work), UTF-8 or GB18030"},
    **{spec.name: spec.schema() for spec in PLAN_PARAMS if spec.name != "candidates"}}}}}
BUSY = ("Every exact-solver slot is busy; retry after Retry-After seconds or use method=greedy",
         json_content("ErrorEnvelope"))
