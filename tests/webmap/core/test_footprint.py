"""What a server worker loads: the libraries only planning jobs or one-off builds need stay out of it.

Every worker holds what it imports for as long as it runs. pypinyin (55 MB of dictionaries: place
search keeps a compact copy, geo.queries.pinyin), scipy (planning jobs run in their own processes;
the coverage grid uses the nearest index's k-d tree), GDAL through pyogrio (the district file
is read as JSON) and GDAL through rasterio (districts are put on grids with numpy, geo.gridding;
a grid coverage's gap polygons are drawn only when asked for) would add ~140 MB to each worker
at 200,000 stations."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from geo.paths import DATA_DIR

KEPT_OUT = ("pypinyin", "scipy", "pyogrio", "rasterio", "sklearn", "matplotlib")


def test_answering_riders_and_planners_loads_none_of_the_heavy_optional_libraries(tmp_path):
    """The gaps of a grid coverage (as at 200,000 stations) included: they are drawn in a planning process."""
    registry = tmp_path / "stations.geojson"
    shutil.copy(DATA_DIR / "stations.geojson", registry)  # the sample, so that search and coverage have work to do
    code = f"""
import json, sys
from pathlib import Path
from tests.conftest import make_test_app
import geo.queries.coverage
geo.queries.coverage.GRID_ABOVE_STATIONS = 100  # coverage on the grid, as at 200,000 stations
client = make_test_app(Path({str(registry)!r}), Path({str(tmp_path)!r})).test_client()
codes = [client.get(url).status_code for url in (
    "/", "/nearest", "/api/nearest?lon=106.55&lat=29.56&k=5", "/api/search?q=jfb", "/api/search?q=解放碑",
    "/api/stations?bbox=105.2,28.1,110.2,32.3&zoom=8&group=auto&fields=min&q=站", "/coverage",
    "/api/coverage?radius_m=1000", "/api/population-coverage?radius_m=1000", "/planner", "/api/gaps?radius_m=1000")]
gaps = client.get("/api/gaps?radius_m=1000").get_json()  # a grid coverage's gaps: drawn in a planning process
import gc, types
gc.collect()
alive = {{o.__name__.split('.')[0] for o in gc.get_objects() if isinstance(o, types.ModuleType)}}  # let go, or only from sys.modules?
print(json.dumps({{"codes": codes, "loaded": sorted(({{m.split('.')[0] for m in sys.modules}} | alive) & set({list(KEPT_OUT)!r})),
                  "gaps": gaps["count"], "method": client.get("/api/coverage?radius_m=1000").get_json()["totals"]["area_method"]}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(got["codes"]) == {200}, got
    assert got["loaded"] == [], got
    assert got["method"] == "grid" and got["gaps"] > 0, got

