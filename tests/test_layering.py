"""House rules a test can check: the domain never imports the web layer."""

import ast
from pathlib import Path

import pytest

GEO = Path(__file__).resolve().parent.parent / "geo"


@pytest.mark.parametrize("module", sorted(GEO.glob("*.py")), ids=lambda p: p.name)
def test_geo_does_not_import_flask_or_webmap(module):
    tree = ast.parse(module.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"flask", "werkzeug", "webmap", "folium"}
