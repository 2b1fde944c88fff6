"""Reading the district boundaries file (GeoJSON, WGS-84) and refusing a bad one with one clear line."""

from __future__ import annotations

import json

import pytest

from geo.districts import DISTRICT_COLUMNS, Districts
from geo.errors import RegistryUnavailableError
from geo.paths import default_districts_path


def test_the_shared_boundaries_read_as_38_districts_in_wgs84():
    districts = Districts._read(default_districts_path())
    frame = districts.frame
    assert len(frame) == 38 and frame.crs.to_epsg() == 4326
    assert set(DISTRICT_COLUMNS) <= set(frame.columns) and frame.columns[-1] == "geometry"
    assert frame.geometry.is_valid.all() and frame["adcode"].is_unique
    assert districts.locate(106.5770, 29.5575)[0] == "500103"  # 解放碑 is in 渝中区
    assert frame["population_2020"].sum() > 30_000_000


@pytest.mark.parametrize("text, why", [
    ("{not json", "Expecting property name"),
    ('{"type": "FeatureCollection"}', "features"),
    ('{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": null}]}', ""),
])
def test_an_unreadable_file_is_refused_naming_it(tmp_path, text, why):
    path = tmp_path / "districts.geojson"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RegistryUnavailableError) as caught:
        Districts._read(path)
    assert str(path) in str(caught.value) and why in str(caught.value)


def test_a_file_without_the_census_columns_is_refused(tmp_path):
    features = json.loads(default_districts_path().read_text(encoding="utf-8"))["features"][:2]
    for f in features:
        del f["properties"]["population_2020"]
    path = tmp_path / "districts.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    with pytest.raises(RegistryUnavailableError, match="population_2020"):
        Districts._read(path)
