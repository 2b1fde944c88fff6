"""One formula-injection rule for every write: an upload, an API edit, a portal form and the store itself refuse a value starting with '='."""

from __future__ import annotations

import io

import pytest

from geo.errors import ValidationError
from geo.registry.validate import formula_problems
from tests.portal_helpers import CSV_HEADER, YUZHONG_ROW, bearer, registry_state

pytest_plugins = ("tests.portal_fixtures",)

OWN = "500103-OS-0002"
FORMULAS = ["=1+1", "=HYPERLINK(\"http://x\")", " =cmd|' /C calc'!A0"]


@pytest.mark.parametrize("value", FORMULAS)
def test_upload_refuses_a_formula(anon, tokens, registry_path, value):
    before = registry_state(registry_path)
    row = YUZHONG_ROW.replace("朝天门驿站", value.replace(",", " ").strip() if "," in value else value.strip())
    data = {"file": (io.BytesIO((CSV_HEADER + row + "\n").encode()), "s.csv"), "crs": "wgs84", "dry_run": "0"}
    response = anon.post("/api/uploads", data=data, headers=bearer(tokens["yuzhong"]), content_type="multipart/form-data")
    assert response.status_code == 400
    issues = [i for r in response.get_json()["report"]["rows"] for i in r["problems"]]
    assert [i["code"] for i in issues] == ["formula"] and "formula" in issues[0]["message"]
    assert registry_state(registry_path) == before


@pytest.mark.parametrize("value", FORMULAS)
@pytest.mark.parametrize("field", ["name", "address", "operator"])
def test_api_edit_refuses_the_same_formula(anon, tokens, registry_path, value, field):
    before = registry_state(registry_path)
    response = anon.patch(f"/api/stations/{OWN}", json={field: value}, headers=bearer(tokens["yuzhong"]))
    assert response.status_code == 400
    (error,) = response.get_json()["errors"]
    assert error["where"] == field and "formula" in error["message"]
    assert registry_state(registry_path) == before


def test_the_store_refuses_it_whatever_the_surface(portal_app, registry_path):
    from geo.access.permissions import CLI_ACTOR
    from webmap.core.state import get_store

    before = registry_state(registry_path)
    with portal_app.app_context(), pytest.raises(ValidationError) as caught:
        get_store().update(OWN, {"address": "=1+1"}, CLI_ACTOR)
    assert "formula" in str(caught.value)
    assert registry_state(registry_path) == before


def test_the_rule_itself():
    assert formula_problems({"name": "=1+1", "address": "1=1", "amenities": ["rest", "=x"]}, "f")[0].where == "f.properties.name"
    assert [p.where for p in formula_problems({"name": "a=1", "amenities": ["=x"]}, "f")] == ["f.properties.amenities"]
    assert formula_problems({"phone": "+86 23 1234", "name": "-北站"}, "f") == []
