"""Tests of webmap.core.openapi: the document is valid OpenAPI, lists exactly the app's /api routes, matches the vocabulary, and describes real responses."""

from __future__ import annotations

import re

import pytest
from flask import Blueprint
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from geo import schema
from geo.queries.coverage import MAX_RADIUS_M
from geo.queries.nearest import MAX_K
from webmap.core import openapi
from webmap.core.openapi import describe, json_content, openapi_document, register_schema, register_security_scheme
from webmap.core.params import Integer


@pytest.fixture
def doc(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def api_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
            routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


def doc_routes(doc) -> set[tuple[str, str]]:
    return {(path, method) for path, item in doc["paths"].items() for method in item}


def test_document_is_valid_openapi(doc):
    validate(doc)
    assert doc["openapi"].startswith("3.")


def test_every_route_is_documented_and_nothing_else(app, doc):
    assert api_routes(app) == doc_routes(doc)
    assert {"/api/stations", "/api/stations/{station_id}", "/api/nearest", "/api/districts", "/api/coverage",
            "/api/coverage.csv", "/api/gaps", "/api/vocabulary", "/api/openapi.json"} <= set(doc["paths"])


def test_operations_are_complete(doc):
    operation_ids = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            operation_ids.append(op["operationId"])
            assert op["summary"], (path, method)
            assert "200" in op["responses"] and "405" in op["responses"]
            error = op["responses"]["400"]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorEnvelope"}
            for name in re.findall(r"{(\w+)}", path):
                assert any(p["name"] == name and p["in"] == "path" and p["required"] for p in op["parameters"])
                assert "404" in op["responses"]
    assert len(operation_ids) == len(set(operation_ids))


def params_of(doc, path) -> dict[str, dict]:
    return {p["name"]: p for p in doc["paths"][path]["get"]["parameters"]}


def test_parameters_carry_types_ranges_and_vocabulary(doc):
    nearest = params_of(doc, "/api/nearest")
    assert nearest["lon"]["required"] and nearest["lon"]["schema"] == {"type": "number", "minimum": -180, "maximum": 180}
    assert nearest["lat"]["schema"]["minimum"] == -90 and nearest["lat"]["schema"]["maximum"] == 90
    assert nearest["k"]["schema"] == {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 5}
    assert nearest["kind"]["schema"]["enum"] == list(schema.KINDS)
    assert nearest["amenity"]["schema"]["items"]["enum"] == list(schema.AMENITIES)
    assert nearest["crs"]["schema"]["enum"] == list(schema.INPUT_CRS)
    assert nearest["open_now"]["schema"]["type"] == "boolean"
    stations = params_of(doc, "/api/stations")
    assert stations["status"]["schema"]["enum"] == [*schema.STATUSES, "all"]
    assert stations["bbox"]["schema"]["minItems"] == stations["bbox"]["schema"]["maxItems"] == 4
    assert stations["bbox"]["explode"] is False
    assert stations["district"]["schema"]["pattern"] == r"^50\d{4}$"
    assert params_of(doc, "/api/coverage")["radius_m"]["schema"]["maximum"] == MAX_RADIUS_M
    assert set(doc["components"]["schemas"]["StationFeature"]["properties"]["properties"]["properties"]) >= set(schema.PROPERTY_NAMES)


def response_validator(doc, name):
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": doc["components"]})


@pytest.mark.parametrize("url, name", [
    ("/api/stations", "StationCollection"),
    ("/api/stations?fields=min&status=all", "StationCollection"),
    ("/api/stations/500103-OS-0001", "StationFeature"),
    ("/api/nearest?lon=106.55&lat=29.56&k=20", "NearestCollection"),
    ("/api/coverage", "Coverage"),
    ("/api/districts", "DistrictList"),
    ("/api/gaps?radius_m=3000", "GapCollection"),
    ("/api/vocabulary?lang=en", "Vocabulary"),
    ("/api/nearest?lon=abc", "ErrorEnvelope"),
    ("/api/stations/none", "ErrorEnvelope"),
])
def test_responses_match_their_schemas(client, doc, url, name):
    errors = list(response_validator(doc, name).iter_errors(client.get(url).get_json()))
    assert not errors, errors[:3]


def test_grouped_response_matches_its_schema(registry_path, tmp_path, doc):
    from tests.webmap.public.test_api import make_app

    client = make_app(registry_path, tmp_path, MAX_POINTS_PER_VIEW=2).test_client()
    body = client.get("/api/stations?group=auto").get_json()
    assert body["grouped"] is True
    assert not list(response_validator(doc, "StationCollection").iter_errors(body))


def test_other_blueprints_are_included(registry_path, tmp_path, monkeypatch):
    """How the portal documents its write endpoints: ``describe`` plus ``register_schema``."""
    from tests.webmap.public.test_api import make_app

    app = make_app(registry_path, tmp_path)
    portal = Blueprint("portal_api", __name__)
    monkeypatch.setattr(openapi, "SCHEMAS", dict(openapi.SCHEMAS))
    monkeypatch.setattr(openapi, "SECURITY_SCHEMES", dict(openapi.SECURITY_SCHEMES))
    register_schema("TestPatch", {"type": "object", "properties": {"name": {"type": "string"}}})
    register_security_scheme("testBearer", {"type": "http", "scheme": "bearer"})

    @portal.route("/test-items/<item_id>", methods=["GET", "PATCH", "DELETE"])
    @describe("Edit a station", method="PATCH", request_body=json_content("TestPatch"), errors=(400, 403, 404, 409),
              tags=("portal",), security=[{"testBearer": []}])
    @describe("Retire a station", method="DELETE", errors=(403, 404))
    def edit_item(item_id):
        """Read, edit or retire a test item."""
        return ""

    @portal.get("/test-uploads/<int:upload_id>")
    def upload_status(upload_id):
        """Where an upload stands.

        Processing happens in the background.
        """
        return ""

    @portal.get("/test-uploads")
    @describe("List uploads", params=(Integer("page", "Page number.", 1, 1000),))
    def uploads():
        return ""

    app.register_blueprint(portal, url_prefix="/api")
    doc = openapi_document(app)
    validate(doc)
    assert api_routes(app) == doc_routes(doc)
    item = doc["paths"]["/api/test-items/{item_id}"]
    assert set(item) == {"get", "patch", "delete"}
    assert item["get"]["summary"] == "Read, edit or retire a test item."  # no describe for GET: the docstring
    assert item["patch"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/TestPatch")
    assert item["patch"]["security"] == [{"testBearer": []}]
    assert doc["components"]["securitySchemes"]["testBearer"]["scheme"] == "bearer"
    assert item["delete"]["summary"] == "Retire a station" and "403" in item["delete"]["responses"]
    undocumented = doc["paths"]["/api/test-uploads/{upload_id}"]["get"]
    assert undocumented["summary"] == "Where an upload stands."
    assert undocumented["parameters"][0]["schema"] == {"type": "integer"}
    assert doc["paths"]["/api/test-uploads"]["get"]["parameters"][0]["schema"]["maximum"] == 1000
