"""The OpenAPI 3.1 document of the JSON API, built from the app's URL map and what each view declares with ``describe``.

Any blueprint documents its endpoints the same way, so the document can never miss a
route: every rule under ``/api`` appears, described by its ``@describe(...)`` (parameters
come from the same ``webmap.core.params`` specs that parse the request) or, failing that, by
its docstring::

    from webmap.core.openapi import describe, json_content, register_schema, register_security_scheme

    register_schema("StationPatch", {"type": "object", "properties": {...}})
    register_security_scheme("bearer", {"type": "http", "scheme": "bearer"})

    @bp.patch("/stations/<station_id>")
    @describe("Edit a station", tags=["portal"], request_body=json_content("StationPatch"),
              responses={200: ("The edited station", json_content("StationFeature", GEOJSON))},
              errors=(400, 403, 404, 409), method="PATCH", security=[{"bearer": []}])
    def update_station(station_id): ...

A view without ``@describe`` still appears, summarised by its docstring's first line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from flask import Flask

from geo import schema

OPENAPI_VERSION = "3.1.0"
API_PREFIX = "/api"
GEOJSON = "application/geo+json"
JSON = "application/json"
ERROR_TEXT = {400: "Invalid parameters", 401: "Not signed in", 403: "Not allowed", 404: "Not found",
              405: "Method not allowed", 409: "Conflict: the registry changed", 413: "Too large",
              500: "Internal error", 503: "Registry unavailable"}
_PATH_PARAM = re.compile(r"<(?:(?P<converter>[a-zA-Z_]+)(?:\([^)]*\))?:)?(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>")
_CONVERTER_SCHEMA = {"int": {"type": "integer"}, "float": {"type": "number"}}

_NUMBER = {"type": "number"}
_STRING = {"type": "string"}
_POSITION = {"type": "array", "items": _NUMBER, "minItems": 2, "maxItems": 2,
             "description": "[longitude, latitude], WGS-84 degrees"}
_POINT = {"type": "object", "required": ["type", "coordinates"],
          "properties": {"type": {"const": "Point"}, "coordinates": _POSITION}}
_BBOX = {"type": "array", "items": _NUMBER, "minItems": 4, "maxItems": 4,
         "description": "minlon, minlat, maxlon, maxlat, WGS-84 degrees"}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _codes(vocabulary) -> dict:
    return {"type": "string", "enum": list(vocabulary)}


def _feature(properties: dict, geometry: dict | None = None) -> dict:
    return {"type": "object", "required": ["type", "geometry", "properties"],
            "properties": {"type": {"const": "Feature"}, "geometry": geometry or _POINT, "properties": properties,
                           "bbox": _BBOX}}


def _collection(feature: dict, **extra) -> dict:
    return {"type": "object", "required": ["type", "features"],
            "properties": {"type": {"const": "FeatureCollection"}, "features": {"type": "array", "items": feature},
                           **extra}}


_STATION_PROPERTIES = {
    "type": "object", "required": ["id", "kind", "name"],
    "properties": {
        "id": {"type": "string", "pattern": schema.ID_PATTERN.pattern},
        "kind": _codes(schema.KINDS), "kind_label": _STRING, "name": _STRING, "address": _STRING,
        "district_adcode": {"type": "string", "pattern": schema.ADCODE_PATTERN.pattern}, "district": _STRING,
        "operator": _STRING, "phone": _STRING,
        "opening_hours": {"type": "string", "description": "OpenStreetMap opening_hours syntax"},
        "amenities": {"type": "array", "items": _codes(schema.AMENITIES)},
        "honours": {"type": "array", "items": _codes(schema.HONOURS)},
        "status": _codes(schema.STATUSES), "created_at": _STRING, "updated_at": _STRING,
        "source": _codes(schema.SOURCES),
        "listing": {"type": "object", "description": "上图 status per map platform (absent: 未提交 everywhere)",
                    "propertyNames": _codes(schema.LISTING_PLATFORMS),
                    "additionalProperties": {"type": "object", "properties": {
                        "status": _codes(schema.LISTING_STATUSES), "note": _STRING, "at": _STRING}}},
        "open_now": {"type": "boolean"},
        "next_change": {"type": ["string", "null"], "description": "Chongqing local time, ISO 8601"},
        "distance_m": {"type": "number", "description": "geodesic metres on WGS-84"},
        "walk_minutes": {"type": "number", "description": f"at {schema.WALK_M_PER_MIN:g} m per minute"},
    },
}
_CLUSTER_PROPERTIES = {
    "type": "object", "required": ["cluster", "count", "kinds"],
    "properties": {"cluster": {"const": True}, "count": {"type": "integer", "minimum": 2},
                   "kinds": {"type": "object", "additionalProperties": {"type": "integer"},
                             "propertyNames": _codes(schema.KINDS)}},
}
_COVERAGE_ROW = {
    "type": "object",
    "properties": {
        "adcode": _STRING, "district": _STRING, "district_en": _STRING, "name_zh": _STRING, "name_en": _STRING,
        "population": {"type": "integer"}, "area_km2": _NUMBER,
        **{kind: {"type": "integer"} for kind in schema.KINDS}, "stations": {"type": "integer"},
        "per_10k_residents": {"type": ["number", "null"]}, "per_100km2": {"type": ["number", "null"]},
        "covered_km2": _NUMBER, "covered_share": {"type": "number", "minimum": 0, "maximum": 1},
    },
}
_VERSION = {"registry_version": {"type": "integer"}}

SCHEMAS: dict[str, dict] = {
    "Problem": {"type": "object", "required": ["message"],
                "properties": {"where": {"type": "string", "description": "the parameter or field at fault"},
                               "message": _STRING, "hint": _STRING}},
    "ErrorEnvelope": {"type": "object", "required": ["ok", "errors", "status"],
                      "properties": {"ok": {"const": False}, "errors": {"type": "array", "items": _ref("Problem")},
                                     "status": {"type": "integer"}}},
    "StationFeature": _feature(_STATION_PROPERTIES),
    "ClusterFeature": _feature(_CLUSTER_PROPERTIES),
    "StationCollection": _collection(
        {"oneOf": [_ref("StationFeature"), _ref("ClusterFeature")]},
        count={"type": "integer", "description": "stations matched (cells hold several when grouped)"},
        grouped={"type": "boolean"},
        zoom={"type": "integer", "description": "when grouped: the map zoom the cells are sized for (96 px each)"},
        **_VERSION),
    "NearestCollection": _collection(
        _ref("StationFeature"), count={"type": "integer"}, **_VERSION,
        query={"type": "object", "properties": {"lon": _NUMBER, "lat": _NUMBER, "crs": _codes(schema.INPUT_CRS),
                                                "at": {"type": ["string", "null"]}},
               "description": "the query point in WGS-84 after conversion from `crs`"}),
    "CoverageRow": _COVERAGE_ROW,
    "Coverage": {"type": "object", "properties": {"radius_m": _NUMBER, "districts": {"type": "array", "items": _ref("CoverageRow")},
                                                  "totals": _ref("CoverageRow"), **_VERSION}},
    "DistrictList": {"type": "object", "properties": {"radius_m": _NUMBER, "count": {"type": "integer"}, **_VERSION,
                                                      "districts": {"type": "array", "items": _ref("CoverageRow")}}},
    "DistrictCollection": _collection(_feature(_ref("CoverageRow"), {"type": "object"}), radius_m=_NUMBER, **_VERSION),
    "GapCollection": _collection(
        _feature({"type": "object", "properties": {"adcode": _STRING, "district": _STRING, "area_km2": _NUMBER}},
                 {"type": "object", "description": "Polygon, WGS-84"}),
        radius_m=_NUMBER, count={"type": "integer"}, **_VERSION),
    "Vocabulary": {"type": "object",
                   "properties": {name: {"type": "object", "additionalProperties": _STRING}
                                  for name in ("kinds", "amenities", "honours", "statuses", "crs")}},
}


SECURITY_SCHEMES: dict[str, dict] = {}


def register_schema(name: str, definition: dict) -> None:
    """Add a reusable schema (``#/components/schemas/<name>``); other blueprints call this at import."""
    SCHEMAS[name] = definition


def register_security_scheme(name: str, definition: dict) -> None:
    """Add a security scheme (e.g. ``{"type": "http", "scheme": "bearer"}``); operations then pass
    ``security=[{name: []}]`` to ``describe``."""
    SECURITY_SCHEMES[name] = definition


def json_content(schema_name: str | None = None, media_type: str = JSON, definition: dict | None = None) -> dict:
    """An OpenAPI ``content`` member for one media type, by schema name or inline definition."""
    return {media_type: {"schema": definition or (_ref(schema_name) if schema_name else {})}}


def describe(summary: str, *, params: Iterable = (), responses: dict | None = None, errors: Iterable[int] = (400,),
             tags: Iterable[str] = ("stations",), description: str | None = None, request_body: dict | None = None,
             method: str = "*", **extra):
    """Attach an OpenAPI operation to a view (per HTTP ``method``; ``*`` covers all of its methods).

    ``params`` are ``webmap.core.params.Param`` specs; ``responses`` maps status → (description,
    content dict); ``errors`` lists statuses answered with the error envelope.
    """

    def decorate(view):
        operation = {"summary": summary, "tags": list(tags),
                     "parameters": [spec.openapi() for spec in params],
                     "responses": {}}
        doc = description or _docstring_body(view)
        if doc:
            operation["description"] = doc
        for status, (text, content) in (responses or {200: ("OK", None)}).items():
            operation["responses"][str(status)] = {"description": text, **({"content": content} if content else {})}
        for status in errors:
            operation["responses"][str(status)] = _error_response(status)
        if request_body:
            operation["requestBody"] = {"required": True, "content": request_body}
        operation.update(extra)
        view.__dict__.setdefault("openapi_operations", {})[method.upper()] = operation
        return view

    return decorate


def openapi_document(app: Flask, prefix: str = API_PREFIX) -> dict:
    """The OpenAPI document for every route of ``app`` under ``prefix``, whichever blueprint owns it."""
    paths: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not (rule.rule == prefix or rule.rule.startswith(prefix + "/")):
            continue
        view = app.view_functions[rule.endpoint]
        declared = getattr(view, "openapi_operations", {})
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        path = _PATH_PARAM.sub(lambda m: "{" + m["name"] + "}", rule.rule)
        for method in methods:
            operation = dict(declared.get(method) or declared.get("*") or _from_docstring(view))
            operation["operationId"] = rule.endpoint.replace(".", "_") + (f"_{method.lower()}" if len(methods) > 1 else "")
            operation["parameters"] = _path_parameters(rule.rule, operation.get("parameters", []))
            operation["responses"] = {**operation["responses"], "405": _error_response(405), "500": _error_response(500)}
            if any(p["in"] == "path" for p in operation["parameters"]):
                operation["responses"].setdefault("404", _error_response(404))
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "驿站图 stationmap API", "version": "1",
                 "description": "Chongqing trade-union outdoor-worker stations: registry, finder, coverage. "
                                "Coordinates are WGS-84 longitude/latitude (GeoJSON, RFC 7946). "
                                "Every error is the envelope {ok: false, errors: [...], status}."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": dict(SCHEMAS),
                       **({"securitySchemes": dict(SECURITY_SCHEMES)} if SECURITY_SCHEMES else {})},
    }


def _error_response(status: int) -> dict:
    return {"description": ERROR_TEXT.get(status, "Error"), "content": json_content("ErrorEnvelope")}


def _path_parameters(rule: str, parameters: list[dict]) -> list[dict]:
    declared = {p["name"] for p in parameters if p.get("in") == "path"}
    added = [
        {"name": m["name"], "in": "path", "required": True,
         "schema": dict(_CONVERTER_SCHEMA.get(m["converter"] or "", _STRING))}
        for m in _PATH_PARAM.finditer(rule) if m["name"] not in declared
    ]
    return added + list(parameters)


def _docstring_body(view) -> str:
    lines = (view.__doc__ or "").strip().splitlines()
    return "\n".join(line.strip() for line in lines[1:]).strip()


def _from_docstring(view) -> dict:
    """An operation for a view nobody described: summary from its docstring's first line."""
    summary = (view.__doc__ or view.__name__.replace("_", " ")).strip().splitlines()[0]
    operation = {"summary": summary, "parameters": [], "responses": {"200": {"description": "OK"}}}
    if _docstring_body(view):
        operation["description"] = _docstring_body(view)
    return operation
