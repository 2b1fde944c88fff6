"""``geo.gridding`` gives the cells GDAL's rasterize (through rasterio) gives: the pixel-centre rule."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio import features

from geo.districts import Districts
from geo.gridding import burn, district_grid
from geo.paths import default_districts_path


def rasterio_labels(polygons, grid) -> np.ndarray:
    return features.rasterize(((geom, i + 1) for i, geom in enumerate(polygons)), out_shape=grid.labels.shape,
                              transform=grid.transform(), fill=0, dtype="int32")


@pytest.fixture(scope="module")
def district_polygons():
    return Districts.load(default_districts_path()).metric_frame.geometry.to_numpy()


@pytest.mark.parametrize("cell_m", [250.0, 500.0, 1000.0, 2000.0])
def test_chongqing_districts_land_on_the_cells_rasterio_puts_them_on(district_polygons, cell_m):
    grid = district_grid(district_polygons, cell_m)
    assert grid.labels.dtype == np.uint8
    np.testing.assert_array_equal(grid.labels, rasterio_labels(district_polygons, grid))
    assert set(np.unique(grid.labels)) == set(range(len(district_polygons) + 1))  # every district has cells
    # aligned to multiples of the cell size, and covering every district
    assert grid.x0 % cell_m == 0 and grid.y1 % cell_m == 0
    minx, miny, maxx, maxy = shapely.total_bounds(district_polygons)
    ny, nx = grid.labels.shape
    assert grid.x0 <= minx and grid.x0 + nx * cell_m >= maxx and grid.y1 >= maxy and grid.y1 - ny * cell_m <= miny


def test_a_cell_centre_counts_and_where_polygons_overlap_the_later_wins():
    # cells of 1 from (0, 4) down: centres x 0.5, 1.5, 2.5 and y 3.5, 2.5, 1.5, 0.5
    first, second = shapely.box(0, 0, 3, 3), shapely.box(1, 1, 2.6, 4)  # the second holds centres x 1.5, 2.5; y 3.5 to 1.5
    grid = district_grid([first, second], 1.0)
    expected = [[0, 2, 2],
                [1, 2, 2],
                [1, 2, 2],
                [1, 1, 1]]
    assert grid.labels.tolist() == expected
    np.testing.assert_array_equal(grid.labels, rasterio_labels([first, second], grid))


def test_holes_are_left_out_and_empty_or_outside_polygons_change_nothing():
    ring = shapely.Polygon([(0, 0), (10, 0), (10, 10), (0, 10)], [[(3, 3), (7, 3), (7, 7), (3, 7)]])
    grid = district_grid([ring], 1.0)
    assert grid.labels.shape == (10, 10)
    assert grid.labels[5, 5] == 0 and grid.labels[0, 0] == 1 and int(grid.labels.sum()) == 100 - 16
    labels = grid.labels.copy()
    burn(labels, shapely.Polygon(), grid.x0, grid.y1, 1.0, 7)
    burn(labels, shapely.box(50, 50, 60, 60), grid.x0, grid.y1, 1.0, 7)
    burn(labels, None, grid.x0, grid.y1, 1.0, 7)
    np.testing.assert_array_equal(labels, grid.labels)


@pytest.mark.parametrize("shape", [
    shapely.Point(0, 0).buffer(1, quad_segs=1),  # a diamond through all four cell centres
    shapely.Point(0.5, 0.5).buffer(2, quad_segs=2),  # an octagon with vertices on centres
    shapely.Polygon([(0, 0), (2, 0), (2, 2), (1, 1), (0, 2)]),  # a notch whose tip is a centre
])
def test_a_centre_on_an_edge_goes_where_gdal_puts_it(shape):
    grid = district_grid([shape], 1.0)
    np.testing.assert_array_equal(grid.labels, rasterio_labels([shape], grid))


coordinate = st.floats(min_value=0, max_value=40, allow_nan=False).map(lambda v: round(v, 3))


@st.composite
def polygons(draw):
    """Valid polygons and multipolygons, holes included: buffered random points and lines, minus a few circles."""
    shapes = []
    for _ in range(draw(st.integers(1, 3))):
        points = [(draw(coordinate), draw(coordinate)) for _ in range(draw(st.integers(1, 4)))]
        base = shapely.LineString(points) if len(points) > 1 else shapely.Point(points[0])
        shape = shapely.buffer(base, draw(st.floats(0.5, 8)), quad_segs=draw(st.integers(1, 6)))
        for _ in range(draw(st.integers(0, 2))):
            shape = shape.difference(shapely.Point(draw(coordinate), draw(coordinate)).buffer(draw(st.floats(0.3, 3)), quad_segs=3))
        shapes.append(shape)
    return shapes


@settings(max_examples=80, deadline=None)
@given(polygons(), st.sampled_from([0.7, 1.0, 2.5]))
def test_random_polygons_with_holes_land_where_rasterio_puts_them(shapes, cell_m):
    shapes = [s for s in shapes if not s.is_empty]
    if not shapes:
        return
    grid = district_grid(shapes, cell_m)
    theirs = rasterio_labels(shapes, grid)
    rows, cols = np.nonzero(grid.labels != theirs)
    # Only a cell whose centre lies on an edge (where the two may round the crossing differently) can differ.
    centres = shapely.points(*grid.centres(rows, cols))
    on_edge = np.min([shapely.distance(shapely.boundary(s), centres) for s in shapes], axis=0) if len(rows) else []
    assert np.all(np.asarray(on_edge) < 1e-9 * max(cell_m, 1.0)), (rows, cols)
