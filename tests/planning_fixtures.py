"""Hand-computable worlds for the planning tests: square districts drawn in the Albers CRS, stations and GeoTIFFs."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from geo.districts import Districts
from geo.projection import metric_to_lonlat
from geo.registry import stations_frame
from tests.conftest import make_station

# Albers (0, 0) is lon 107.5°, lat 30° — inside Chongqing; the squares need not follow real borders.
SIDE_M = 20_000.0


def square(cx: float, cy: float, side: float) -> shapely.Polygon:
    """A square in Albers metres, densified every 250 m and converted to WGS-84 (stays square in Albers)."""
    h = side / 2
    box = shapely.segmentize(shapely.box(cx - h, cy - h, cx + h, cy + h), 250.0)
    return shapely.transform(box, lambda xy: np.column_stack(metric_to_lonlat(xy[:, 0], xy[:, 1])))


def square_districts(*specs) -> Districts:
    """``Districts`` from (adcode, cx, cy, side_m, population) squares; seats at their centres."""
    rows = []
    for adcode, cx, cy, side, population in specs:
        lon, lat = metric_to_lonlat(cx, cy)
        rows.append({"adcode": adcode, "name_zh": f"测试{adcode[-2:]}区", "name_en": f"Test {adcode[-2:]}", "kind": "district",
                     "population_2020": population, "seat_lon": float(lon), "seat_lat": float(lat),
                     "geometry": square(cx, cy, side)})
    return Districts(gpd.GeoDataFrame(rows, geometry="geometry", crs=4326))


def one_square(population: int = 400_000) -> Districts:
    return square_districts(("500103", 0.0, 0.0, SIDE_M, population))


def stations_at(points_xy, hours="24/7", adcode="500103") -> gpd.GeoDataFrame:
    """Active stations at Albers points, as the registry would hold them."""
    features = []
    for i, (x, y) in enumerate(points_xy):
        lon, lat = metric_to_lonlat(x, y)
        features.append(make_station(f"{adcode}-OS-{i + 1:04d}", float(lon), float(lat), hours=hours))
    return stations_frame(features)


def write_geotiff(path, data, *, crs="EPSG:4326", bounds=(107.40, 29.90, 107.60, 30.10), nodata=None):
    """A one-band float32 GeoTIFF covering ``bounds`` (west, south, east, north) in ``crs``."""
    import rasterio
    from affine import Affine

    data = np.asarray(data, dtype="float32")
    west, south, east, north = bounds
    transform = Affine((east - west) / data.shape[1], 0.0, west, 0.0, -(north - south) / data.shape[0], north)
    profile = {"driver": "GTiff", "height": data.shape[0], "width": data.shape[1], "count": 1, "dtype": "float32",
               "transform": transform}
    if crs is not None:
        profile["crs"] = crs
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path
