"""Where people live: a demand grid of residents over Chongqing, modelled from the census or loaded from real data.

Every demand layer is a ``PopulationGrid``: square cells in the Chongqing Albers equal-area
CRS (``geo.projection.CHONGQING_EQUAL_AREA``), aligned to multiples of the cell size, each
record carrying its centre (metres and WGS-84 degrees), its residents and its district.

The default layer (``default_population_grid``) spreads each district's 2020 census
population over the cells whose centre lies in the district, by a documented density model
(``DensityModel``): it is a model, not a measurement, and says so in ``PopulationGrid.source``.
Real data replaces it through ``population_from_raster`` (a GeoTIFF of people per pixel,
e.g. WorldPop) or ``population_from_points_csv`` (lon, lat, weight rows).
"""

from __future__ import annotations

import csv
import io
import math
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from threading import Lock

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.districts import Districts
from geo.errors import Problem, ValidationError
from geo.gridding import district_grid
from geo.messages import Place, Text, clipped
from geo.projection import CHONGQING_EQUAL_AREA, lonlat_to_metric, metric_to_lonlat

DEFAULT_CELL_M = 1000.0
CELL_SIZES_M = (250.0, 500.0, 1000.0, 2000.0)

# The density model (see ``DensityModel``); the README quotes these.
RURAL_FLOOR = 0.02          # rural density as a share of the density at the seat
LAMBDA_SCALE = 0.08         # decay length as a share of sqrt(district area)
LAMBDA_MIN_KM = 1.5         # ... but never shorter than this (dense, small urban districts)
LAMBDA_MAX_KM = 8.0         # ... nor longer than this (the largest rural counties)

MAX_PROBLEMS = 200

# In-process caches of grids, weakly keyed on the Districts object they were built from.
_GRID_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_GRID_LOCK = Lock()


@dataclass(frozen=True)
class DensityModel:
    """Residents per unit area in district *d* at distance *r* from its seat: ``floor + seat_weight · exp(−r / λ_d)``.

    λ_d = clip(``lambda_scale`` · √(area_d), ``lambda_min_km``, ``lambda_max_km``), so a district's
    urban core scales with its size. Within each district the weights of its cells are
    rescaled so that they sum to the district's 2020 census population; only the *shape*
    matters, not the absolute values (and the model does not depend on the cell size).

    Defaults: floor 0.02, λ = 0.08·√area clipped to 1.5–8 km — e.g. 渝中 λ = 1.5 km,
    渝北 3.1 km, 万州 4.7 km, 酉阳 5.8 km. The floor holds about a third of most districts'
    residents (9 % in 渝中, 23 % in 大渡口, where λ is clipped); within 10 km of the seat live
    37 % (酉阳) to 100 % (渝中), e.g. 万州 46 %, 渝北 65 %. Real settlement is lumpier (several
    towns per county, none modelled), which is why ``population_from_raster`` exists.

    ``seat_weight=0`` gives a uniform density (people spread evenly over each district's area).
    """

    floor: float = RURAL_FLOOR
    seat_weight: float = 1.0
    lambda_scale: float = LAMBDA_SCALE
    lambda_min_km: float = LAMBDA_MIN_KM
    lambda_max_km: float = LAMBDA_MAX_KM

    def decay_length_m(self, area_km2) -> np.ndarray:
        """λ_d in metres for districts of these areas (km²)."""
        lam_km = np.clip(self.lambda_scale * np.sqrt(np.asarray(area_km2, dtype=float)), self.lambda_min_km, self.lambda_max_km)
        return lam_km * 1000.0

    def weight(self, distance_m, decay_length_m) -> np.ndarray:
        """Relative density at ``distance_m`` from the seat (same units as the floor)."""
        return self.floor + self.seat_weight * np.exp(-np.asarray(distance_m, dtype=float) / decay_length_m)

    def describe(self) -> Text:
        if self.seat_weight == 0:
            return Text("pop.model.uniform")
        return Text("pop.model.decay", floor=f"{self.floor:g}", scale=f"{self.lambda_scale:g}", low=f"{self.lambda_min_km:g}",
                    high=f"{self.lambda_max_km:g}")


DEFAULT_MODEL = DensityModel()
UNIFORM_MODEL = DensityModel(floor=1.0, seat_weight=0.0)


@dataclass(eq=False)
class PopulationGrid:
    """Residents on grid cells: one record per (cell, district) with residents.

    Attributes
    ----------
    x, y : ndarray of float
        Cell centres in the Chongqing Albers equal-area CRS, metres. A record whose district
        holds no cell centre (a district smaller than a cell) sits at the district's
        representative point instead.
    lon, lat : ndarray of float
        The same points in WGS-84 degrees.
    residents : ndarray of float
        People per record (≥ 0). For the census model, per district they sum to the census
        figure to float precision.
    district_idx : ndarray of int
        Row of ``district_codes`` (= ``districts.frame``) each record belongs to.
    district_codes : ndarray of str
        The adcodes, in ``districts.frame`` order.
    cell_m : float
        Cell side in metres; every cell has area ``cell_m²``.
    source : str
        Where the numbers come from (model description, raster path, CSV name).
    """

    x: np.ndarray
    y: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    residents: np.ndarray
    district_idx: np.ndarray
    district_codes: np.ndarray
    cell_m: float
    source: Text | str
    _cache: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.x)

    @property
    def adcode(self) -> np.ndarray:
        """District adcode of each record."""
        return self.district_codes[self.district_idx]

    @property
    def total(self) -> float:
        return float(self.residents.sum())

    @property
    def cell_area_km2(self) -> float:
        return self.cell_m**2 / 1e6

    @property
    def xy(self) -> np.ndarray:
        """(n, 2) metric coordinates, for KD-trees."""
        if "xy" not in self._cache:
            self._cache["xy"] = np.column_stack([self.x, self.y])
        return self._cache["xy"]

    def by_district(self) -> pd.Series:
        """Residents per district (indexed by adcode, ``districts.frame`` order)."""
        sums = np.bincount(self.district_idx, weights=self.residents, minlength=len(self.district_codes))
        return pd.Series(sums, index=pd.Index(self.district_codes, name="adcode"), name="residents")

    def mask(self, adcode: str | None) -> np.ndarray:
        """Boolean mask of the records in district ``adcode`` (all records if ``None``)."""
        if adcode is None:
            return np.ones(len(self), dtype=bool)
        hits = np.flatnonzero(self.district_codes == adcode)
        if len(hits) == 0:
            raise ValidationError(Problem("district", Text("pop.unknown_district", adcode=clipped(adcode))))
        return self.district_idx == hits[0]

    def subset(self, mask: np.ndarray) -> PopulationGrid:
        """The records selected by a boolean mask or index array (same district codes)."""
        return PopulationGrid(self.x[mask], self.y[mask], self.lon[mask], self.lat[mask], self.residents[mask],
                              self.district_idx[mask], self.district_codes, self.cell_m, self.source)

    def frame(self) -> pd.DataFrame:
        """One row per record: lon, lat, x, y, adcode, residents."""
        return pd.DataFrame({"lon": self.lon, "lat": self.lat, "x": self.x, "y": self.y,
                             "adcode": self.adcode, "residents": self.residents})

    def cell_polygons(self, mask: np.ndarray | None = None) -> gpd.GeoSeries:
        """The cells as squares in EPSG:4326 (for maps and GeoJSON), optionally only ``mask``."""
        x = self.x if mask is None else self.x[mask]
        y = self.y if mask is None else self.y[mask]
        h = self.cell_m / 2
        boxes = shapely.box(x - h, y - h, x + h, y + h)
        return gpd.GeoSeries(boxes, crs=CHONGQING_EQUAL_AREA).to_crs(4326)


# -- the cells -------------------------------------------------------------------------------


def check_cell_size(cell_m) -> float:
    """A grid cell size in metres: one of ``CELL_SIZES_M``."""
    try:
        value = float(cell_m)
    except (TypeError, ValueError):
        value = math.nan
    if value not in CELL_SIZES_M:
        raise ValidationError(Problem("cell_m", Text("pop.bad_cell", value=clipped(cell_m)),
                                      Text("pop.cell_hint", sizes=", ".join(f"{c:g}" for c in CELL_SIZES_M))))
    return value


def grid_cells(districts: Districts, cell_m: float = DEFAULT_CELL_M) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres (x, y in metres) and district row of every cell whose centre lies in a district.

    Cells are aligned to multiples of ``cell_m`` in the Albers CRS, so grids of the same
    size always coincide. Rasterising (pixel-centre rule) splits boundary cells by their
    centre, so each cell belongs to exactly one district. A district that contains no
    cell centre gets one record at its representative point.
    """
    metric = districts.metric_frame
    grid = district_grid(metric.geometry.to_numpy(), cell_m)
    rows, cols = np.nonzero(grid.labels)
    x, y = grid.centres(rows, cols)
    idx = grid.labels[rows, cols].astype(np.int64) - 1
    missing = np.setdiff1d(np.arange(len(metric)), idx)
    if len(missing):
        points = shapely.point_on_surface(metric.geometry.to_numpy()[missing])
        x = np.concatenate([x, shapely.get_x(points)])
        y = np.concatenate([y, shapely.get_y(points)])
        idx = np.concatenate([idx, missing])
    return x, y, idx


def cached_grid_cells(districts: Districts, cell_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``grid_cells``, cached in-process per ``Districts`` object and cell size (read-only arrays)."""
    key = ("cells", float(cell_m))
    with _GRID_LOCK:
        cached = _GRID_CACHE.get(districts, {}).get(key)
    if cached is None:
        cached = grid_cells(districts, cell_m)
        for array in cached:
            array.flags.writeable = False
        with _GRID_LOCK:
            _GRID_CACHE.setdefault(districts, {})[key] = cached
    return cached


def _grid(districts, x, y, idx, residents, cell_m, source) -> PopulationGrid:
    lon, lat = metric_to_lonlat(x, y)
    codes = districts.frame["adcode"].to_numpy(dtype=str).astype(object)
    return PopulationGrid(np.asarray(x, float), np.asarray(y, float), np.asarray(lon), np.asarray(lat),
                          np.asarray(residents, float), np.asarray(idx, np.int64), codes, float(cell_m), source)


def scale_to_totals(weights: np.ndarray, district_idx: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Rescale ``weights`` so each district's records sum to ``totals[d]``.

    The rounding residual of each district goes to its largest record, so the sums hold to
    float precision. Districts with zero weight must have zero total.
    """
    weights = np.asarray(weights, dtype=float)
    sums = np.bincount(district_idx, weights=weights, minlength=len(totals))
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(sums > 0, totals / sums, 0.0)
    scaled = weights * factor[district_idx]
    residual = totals - np.bincount(district_idx, weights=scaled, minlength=len(totals))
    order = np.lexsort((scaled, district_idx))        # within each district, largest last
    last = order[np.r_[np.flatnonzero(np.diff(district_idx[order])), len(order) - 1]] if len(order) else order
    scaled[last] += residual[district_idx[last]]
    return scaled


# -- the census model ------------------------------------------------------------------------


def modelled_population(districts: Districts, cell_m: float = DEFAULT_CELL_M, model: DensityModel = DEFAULT_MODEL) -> PopulationGrid:
    """Each district's 2020 census population spread over its cells by ``model``.

    Parameters
    ----------
    districts : Districts
        Needs ``population_2020``, ``seat_lon``, ``seat_lat`` (WGS-84) and ``area_km2``.
    cell_m : float
        Cell side in metres (1,000 by default; 500 for district-level planning).
    model : DensityModel

    Returns
    -------
    PopulationGrid whose per-district sums equal the census to float precision.
    """
    x, y, idx = cached_grid_cells(districts, cell_m)
    frame = districts.frame
    seat_x, seat_y = lonlat_to_metric(frame["seat_lon"].to_numpy(float), frame["seat_lat"].to_numpy(float))
    lam = model.decay_length_m(frame["area_km2"].to_numpy(float))
    distance = np.hypot(x - seat_x[idx], y - seat_y[idx])
    weights = model.weight(distance, lam[idx])
    totals = frame["population_2020"].to_numpy(float)
    residents = scale_to_totals(weights, idx, totals)
    return _grid(districts, x, y, idx, residents, cell_m, modelled_grid(cell_m, model).source)


@dataclass(frozen=True)
class GridInfo:
    """What a population grid is, without its cells: where its numbers come from and its cell size."""

    source: Text | str
    cell_m: float


def modelled_grid(cell_m: float = DEFAULT_CELL_M, model: DensityModel = DEFAULT_MODEL) -> GridInfo:
    """What ``modelled_population`` at ``cell_m`` is (what a plan's provenance names, with no grid built)."""
    cell_m = float(cell_m)
    return GridInfo(Text("pop.source.cells", source=Text("pop.source.model", model=model.describe()), cell=f"{cell_m:g}"), cell_m)


def default_population_grid(districts: Districts, cell_m: float = DEFAULT_CELL_M, model: DensityModel = DEFAULT_MODEL) -> PopulationGrid:
    """``modelled_population``, cached in-process per ``Districts`` object, cell size and model.

    The cache is keyed weakly on the districts object (it goes when the districts do);
    callers must not modify the returned arrays.
    """
    cell_m = check_cell_size(cell_m)
    key = (cell_m, model)
    with _GRID_LOCK:
        cached = _GRID_CACHE.get(districts, {}).get(key)
    if cached is not None:
        return cached
    grid = modelled_population(districts, cell_m, model)
    for array in (grid.x, grid.y, grid.lon, grid.lat, grid.residents, grid.district_idx):
        array.flags.writeable = False
    with _GRID_LOCK:
        _GRID_CACHE.setdefault(districts, {})[key] = grid
    return grid


# -- real data -------------------------------------------------------------------------------


def aggregate_points(districts: Districts, lon, lat, weight, cell_m: float = DEFAULT_CELL_M, *,
                     district_idx=None, scale_to_census: bool = False, source=None) -> PopulationGrid:
    """Sum weighted points (WGS-84) into grid cells, one record per (cell, district of the point).

    A cell on a boundary may thus carry two records at the same centre, one per district,
    so per-district sums are exactly the sums of the points. Points outside every district
    (``district_idx`` < 0; located here when not given) and zero weights are dropped.
    ``source`` (a ``geo.messages.Text`` or text) says where the points come from.
    """
    source = Text("pop.source.points_plain") if source is None else source
    lon, lat, weight = (np.asarray(v, dtype=float) for v in (lon, lat, weight))
    if district_idx is None:
        codes = districts.locate(lon, lat)
        lookup = districts.by_adcode
        district_idx = np.array([lookup[c] if c is not None else -1 for c in codes], dtype=np.int64)
    keep = (district_idx >= 0) & (weight > 0)
    lon, lat, weight, district_idx = lon[keep], lat[keep], weight[keep], np.asarray(district_idx)[keep]
    x, y = lonlat_to_metric(lon, lat)
    ix = np.floor(x / cell_m).astype(np.int64)
    iy = np.floor(y / cell_m).astype(np.int64)
    n_d = len(districts)
    keys = np.stack([ix, iy, district_idx], axis=1)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    sums = np.bincount(inverse.ravel(), weights=weight, minlength=len(uniq))
    cx, cy, idx = (uniq[:, 0] + 0.5) * cell_m, (uniq[:, 1] + 0.5) * cell_m, uniq[:, 2]
    if scale_to_census:
        totals = districts.frame["population_2020"].to_numpy(float)
        have = np.bincount(idx, weights=sums, minlength=n_d) > 0
        empty = [f"{districts.frame['name_zh'].iloc[i]} ({districts.frame['adcode'].iloc[i]})" for i in np.flatnonzero(~have)]
        if empty:
            raise ValidationError(Problem("data", Text("pop.no_residents", n=len(empty), names=", ".join(empty[:10])),
                                          Text("pop.no_residents_hint")),
                                  source=str(source))
        sums = scale_to_totals(sums, idx, totals)
        source = Text("pop.source.scaled", source=source)
    return _grid(districts, cx, cy, idx, sums, cell_m, Text("pop.source.cells", source=source, cell=f"{cell_m:g}"))


def population_from_raster(path: str | Path, districts: Districts, cell_m: float = DEFAULT_CELL_M, *,
                           band: int = 1, scale_to_census: bool = False) -> PopulationGrid:
    """Residents from a GeoTIFF of **people per pixel** (e.g. WorldPop counts), summed into grid cells.

    Checks: the raster has a CRS; its bounds overlap Chongqing; no pixel (other than
    nodata) is NaN, infinite or negative. Each pixel's count goes to the grid cell and
    district containing the pixel centre (districts rasterised on the raster's own grid);
    pixels outside Chongqing are dropped. Rasters of density (people/km²) must be
    converted to counts first. With ``scale_to_census`` the counts are rescaled per
    district to the 2020 census.

    Raises ``ValidationError`` listing every problem found.
    """
    import rasterio
    from rasterio import features
    from rasterio.errors import RasterioError
    from rasterio.warp import transform_bounds

    cell_m = check_cell_size(cell_m)
    name = str(path)
    try:
        src = rasterio.open(path)
    except (RasterioError, OSError) as exc:
        raise ValidationError(Problem("file", Text("pop.not_raster", detail=str(exc))), source=name) from None
    with src:
        problems = []
        if src.crs is None:
            raise ValidationError(Problem("crs", Text("pop.no_crs"), Text("pop.no_crs_hint")), source=name)
        if not 1 <= band <= src.count:
            raise ValidationError(Problem("band", Text("pop.no_band", band=band, count=src.count)), source=name)
        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=21)
        cq_w, cq_s, cq_e, cq_n = districts.outline.bounds
        if not (west < cq_e and east > cq_w and south < cq_n and north > cq_s):
            raise ValidationError(Problem("bounds", Text("pop.no_overlap", west=f"{west:.3f}", east=f"{east:.3f}", south=f"{south:.3f}",
                                                         north=f"{north:.3f}"),
                                          Text("pop.no_overlap_hint", cw=f"{cq_w:.2f}", ce=f"{cq_e:.2f}", cs=f"{cq_s:.2f}", cn=f"{cq_n:.2f}")),
                                  source=name)
        data = src.read(band, masked=True)
        values = np.ma.getdata(data).astype(float)
        valid = ~np.ma.getmaskarray(data)
        for test, what in ((np.isnan(values), "nan"), (np.isinf(values), "infinite"), (values < 0, "negative")):
            bad = np.argwhere(test & valid)
            if len(bad):
                r, c = bad[0]
                problems.append(Problem(f"band {band}", Text("pop.bad_pixels", n=len(bad), what=Text(f"pop.pixel.{what}"), row=r, column=c),
                                        Text("pop.bad_pixels_hint")))
        if problems:
            raise ValidationError(problems, source=name)
        district_shapes = districts.frame.to_crs(src.crs).geometry
        labels = features.rasterize(((g, i + 1) for i, g in enumerate(district_shapes)), out_shape=values.shape,
                                    transform=src.transform, fill=0, dtype="int32")
        rows, cols = np.nonzero(valid & (values > 0) & (labels > 0))
        t = src.transform
        xs = t.a * (cols + 0.5) + t.b * (rows + 0.5) + t.c  # pixel centres in the raster's CRS
        ys = t.d * (cols + 0.5) + t.e * (rows + 0.5) + t.f
        crs = src.crs
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(np.asarray(xs, float), np.asarray(ys, float))
    return aggregate_points(districts, lon, lat, values[rows, cols], cell_m, district_idx=labels[rows, cols].astype(np.int64) - 1,
                            scale_to_census=scale_to_census, source=Text("pop.source.raster", name=Path(name).name))


LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度")
LAT_NAMES = ("lat", "latitude", "y", "纬度")
WEIGHT_NAMES = ("weight", "population", "residents", "pop", "count", "人口", "常住人口", "权重")
NAME_NAMES = ("name", "label", "host", "名称", "站点名称", "地点")


def population_from_points_csv(source: str | Path | bytes, districts: Districts, cell_m: float = DEFAULT_CELL_M, *,
                               scale_to_census: bool = False, name: str | None = None) -> PopulationGrid:
    """Residents from a CSV of weighted points: columns lon, lat, weight (WGS-84 degrees, people ≥ 0).

    Header aliases: 经度/lng/longitude, 纬度/latitude, 人口/population/residents. UTF-8 (with
    or without BOM) or GB18030. Every row is checked — numeric, finite, inside a Chongqing
    district, weight ≥ 0 — and all problems are reported at once as ``row N, column``
    (the spreadsheet row: the header is row 1). Raises ``ValidationError``.
    """
    cell_m = check_cell_size(cell_m)
    table = read_points_csv(source, districts, weight=True, name=name)
    return aggregate_points(districts, table["lon"], table["lat"], table["weight"], cell_m, district_idx=table["district_idx"],
                            scale_to_census=scale_to_census, source=Text("pop.source.points", name=Path(table["label"]).name))


def read_points_csv(source: str | Path | bytes, districts: Districts, *, weight: bool = False, name: str | None = None) -> dict:
    """Read and validate a CSV of points in Chongqing (WGS-84 lon/lat), optionally weighted and named.

    Returns a dict of arrays: ``lon``, ``lat``, ``district_idx`` (row of ``districts.frame``),
    ``weight`` (if ``weight``), ``name`` (the optional name column, else row labels
    ``row N``), ``row`` (spreadsheet row numbers) and ``label`` (the file name). Raises
    ``ValidationError`` with every problem (up to ``MAX_PROBLEMS``).
    """
    if isinstance(source, bytes | bytearray):
        raw, label = bytes(source), name or "upload"
    else:
        label = name or str(source)
        try:
            raw = Path(source).read_bytes()
        except OSError as exc:
            raise ValidationError(Problem("file", Text("pop.cannot_read", detail=exc.strerror)), source=label) from None
    text = _decode(raw, label)
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise ValidationError(Problem("file", Text("pop.file_empty")), source=label)
    header = [h.strip().lower() for h in rows[0]]
    columns, problems = {}, []
    roles = [("lon", LON_NAMES), ("lat", LAT_NAMES)] + ([("weight", WEIGHT_NAMES)] if weight else [])
    for role, names in roles:
        found = [i for i, h in enumerate(header) if h in names]
        if found:
            columns[role] = found[0]
        else:
            problems.append(Problem(Place(row=1), Text("pop.no_column", role=Text(f"pop.role.{role}")), Text("pop.expected", names=", ".join(names))))
    if problems:
        raise ValidationError(problems, source=label)
    name_col = next((i for i, h in enumerate(header) if h in NAME_NAMES), None)
    line_no = np.array([i + 2 for i, r in enumerate(rows[1:]) if any(cell.strip() for cell in r)], dtype=np.int64)
    body = [rows[n - 1] for n in line_no]
    if not body:
        raise ValidationError(Problem(Place(row=2), Text("pop.no_rows")), source=label)
    values = {}
    for role, col in columns.items():
        raw_col = pd.Series([r[col].strip() if col < len(r) else "" for r in body], dtype=object)
        values[role] = pd.to_numeric(raw_col, errors="coerce").to_numpy(float)
        for k in np.flatnonzero(~np.isfinite(values[role])):
            shown = raw_col.iloc[k]
            why = Text("pop.cell_empty") if shown == "" else Text("pop.cell_not_finite", value=clipped(shown))
            problems.append(Problem(Place(row=int(line_no[k]), column=rows[0][col].strip()), why))
    lon, lat = values["lon"], values["lat"]
    if weight:
        for k in np.flatnonzero(values["weight"] < 0):
            problems.append(Problem(Place(row=int(line_no[k]), column=rows[0][columns["weight"]].strip()),
                                    Text("pop.negative", value=f"{values['weight'][k]:g}"), Text("pop.negative_hint")))
    finite = np.isfinite(lon) & np.isfinite(lat)
    codes = np.full(len(body), None, dtype=object)
    codes[finite] = districts.locate(lon[finite], lat[finite])
    outside = np.flatnonzero(finite & pd.isna(codes))
    if len(outside):
        swapped = districts.locate(lat[outside], lon[outside])
        for k, s in zip(outside, swapped, strict=True):
            hint = Text("pop.swapped_hint") if s is not None else Text("pop.outside_hint")
            problems.append(Problem(Place(row=int(line_no[k]), columns="lon/lat"), Text("pop.outside", lon=f"{lon[k]:g}", lat=f"{lat[k]:g}"), hint))
    if problems:
        problems.sort(key=lambda p: p.where.row)
        raise ValidationError(problems[:MAX_PROBLEMS], source=label)
    lookup = districts.by_adcode
    result = {
        "lon": lon, "lat": lat, "row": line_no, "label": label,
        "district_idx": np.array([lookup[c] for c in codes], dtype=np.int64),
        "name": np.array([(r[name_col].strip() if name_col is not None and name_col < len(r) else "") or f"row {n}"
                          for r, n in zip(body, line_no, strict=True)], dtype=object),
    }
    if weight:
        result["weight"] = values["weight"]
    return result


def _decode(raw: bytes, label: str) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationError(Problem("file", Text("pop.not_text")), source=label)

