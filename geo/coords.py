"""Conversions between WGS-84, GCJ-02 (Amap, Tencent, WeChat) and BD-09 (Baidu) longitude/latitude.

Every function takes and returns ``(lon, lat)`` in decimal degrees, longitude first,
as GeoJSON does. Scalars (Python or NumPy numbers, 0-d arrays) give back a pair of
``float``; anything array-like gives back a pair of new ``float64`` arrays of the
broadcast shape of ``lon`` and ``lat``. NaN and infinity are rejected with
``ValueError`` so that a bad upload row fails loudly instead of landing at NaN.

GCJ-02 is the published "Mars" obfuscation formula on the Krasovsky ellipsoid; it is
applied only inside a rough bounding box of mainland China and is the identity
elsewhere (see :func:`in_china_bbox`). BD-09 is Baidu's further rotation of GCJ-02.
Both inverses are computed by fixed-point iteration to better than 1e-9 degrees
(about 0.1 mm), not by the usual one-step approximation, which is typically 0.7 m
and up to about 5 m off for GCJ-02, and up to about 0.2 m off for BD-09: stations
are stored in WGS-84, and a round trip through an edit form must not move them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from geo.schema import INPUT_CRS

__all__ = [
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "in_china_bbox",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

FloatArray = NDArray[np.float64]
#: What every transform returns: two floats for scalar input, two arrays otherwise.
LonLat = tuple[float, float] | tuple[FloatArray, FloatArray]

# GCJ-02 constants. These are the values every published implementation uses; the
# obfuscation is defined by the formula, so "correcting" them would break agreement
# with Amap and Tencent tiles.
KRASOVSKY_A = 6378245.0
KRASOVSKY_EE = 0.00669342162296594323

# The rough mainland-China box shared by coordTransform, eviltransform and gcoord.
# It takes in parts of neighbouring countries and the sea; we keep it rather than a
# real border so our GCJ-02 output agrees with theirs point for point.
CHINA_BBOX = (72.004, 0.8293, 137.8347, 55.8271)  # min lon, min lat, max lon, max lat

BD_X_PI = math.pi * 3000.0 / 180.0

# 1e-11 degrees is about 1 micrometre. The GCJ offset has a sqrt(|lon - 105|) term,
# so right on lon = 105 the iteration contracts only like sqrt and can stall a little
# above 1e-12; the cap stops it there, still far inside the promised 1e-9.
_INVERSE_TOL = 1e-11
_INVERSE_MAX_ITER = 50


def _coerce(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray, tuple[int, ...] | None]:
    """Flatten ``lon``/``lat`` to 1-d float64 copies; the shape is ``None`` for scalar input."""
    try:
        lon_a = np.asarray(lon, dtype=np.float64)
        lat_a = np.asarray(lat, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"lon and lat must be numbers or arrays of numbers in degrees: {exc}") from exc
    try:
        lon_a, lat_a = np.broadcast_arrays(lon_a, lat_a)
    except ValueError as exc:
        raise ValueError(f"lon shape {lon_a.shape} and lat shape {lat_a.shape} do not broadcast") from exc
    for name, values in (("lon", lon_a), ("lat", lat_a)):
        bad = ~np.isfinite(values)
        if bad.any():
            raise ValueError(
                f"{name} has {int(bad.sum())} non-finite value(s) (NaN or inf); coordinates must be finite degrees"
            )
    shape = None if lon_a.ndim == 0 else lon_a.shape
    # reshape(-1) of a broadcast view may share memory; copy so callers' arrays are never written.
    return lon_a.reshape(-1).copy(), lat_a.reshape(-1).copy(), shape


def _restore(lon: FloatArray, lat: FloatArray, shape: tuple[int, ...] | None) -> LonLat:
    if shape is None:
        return float(lon[0]), float(lat[0])
    return lon.reshape(shape), lat.reshape(shape)


def _in_bbox(lon: FloatArray, lat: FloatArray) -> NDArray[np.bool_]:
    min_lon, min_lat, max_lon, max_lat = CHINA_BBOX
    return (lon >= min_lon) & (lon <= max_lon) & (lat >= min_lat) & (lat <= max_lat)


def in_china_bbox(lon: ArrayLike, lat: ArrayLike) -> bool | NDArray[np.bool_]:
    """Whether points fall in the rough mainland-China box where GCJ-02 applies an offset.

    Parameters
    ----------
    lon, lat : float or array_like
        Longitude and latitude in degrees.

    Returns
    -------
    bool or numpy.ndarray of bool
        ``True`` where ``72.004 <= lon <= 137.8347`` and ``0.8293 <= lat <= 55.8271``
        (edges included); a ``bool`` for scalar input.
    """
    lon_a, lat_a, shape = _coerce(lon, lat)
    inside = _in_bbox(lon_a, lat_a)
    return bool(inside[0]) if shape is None else inside.reshape(shape)


def _gcj_offset(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The GCJ-02 shift (dlon, dlat) in degrees at WGS-84 ``lon``/``lat``, ignoring the box."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0

    # The two polynomials below are the obfuscation itself, in pseudo-metres.
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + common
    dlat += (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * math.pi) + 320.0 * np.sin(y * math.pi / 30.0)) * 2.0 / 3.0

    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + common
    dlon += (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi)) * 2.0 / 3.0

    # Pseudo-metres to degrees via the Krasovsky meridian and prime-vertical radii.
    rad_lat = lat / 180.0 * math.pi
    magic = 1.0 - KRASOVSKY_EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon * 180.0) / (KRASOVSKY_A / sqrt_magic * np.cos(rad_lat) * math.pi)
    return dlon, dlat


def _wgs_to_gcj(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    inside = _in_bbox(lon, lat)
    if inside.all():
        dlon, dlat = _gcj_offset(lon, lat)
        return lon + dlon, lat + dlat
    out_lon, out_lat = lon.copy(), lat.copy()
    if inside.any():
        # Only evaluate inside the box: far-away inputs (lat near 90) would divide by cos(lat) ~ 0.
        dlon, dlat = _gcj_offset(lon[inside], lat[inside])
        out_lon[inside] += dlon
        out_lat[inside] += dlat
    return out_lon, out_lat


def _gcj_to_wgs(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    out_lon, out_lat = lon.copy(), lat.copy()
    # The box is tested on the GCJ input, as coordTransform and gcoord do; only in
    # a strip about 0.01 degrees wide along its edges can the WGS answer fall on the other side.
    inside = _in_bbox(lon, lat)
    if not inside.any():
        return out_lon, out_lat
    g_lon, g_lat = lon[inside], lat[inside]
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    # Fixed point of w = g - offset(w). The offset changes by well under 1% of a step
    # between neighbouring guesses, so each pass gains about two digits; Newton would
    # need the derivative of sqrt(|lon - 105|), which is unbounded at lon = 105.
    for _ in range(_INVERSE_MAX_ITER):
        dlon, dlat = _gcj_offset(w_lon, w_lat)
        r_lon = w_lon + dlon - g_lon
        r_lat = w_lat + dlat - g_lat
        w_lon -= r_lon
        w_lat -= r_lat
        if max(np.abs(r_lon).max(), np.abs(r_lat).max()) < _INVERSE_TOL:
            break
    out_lon[inside] = w_lon
    out_lat[inside] = w_lat
    return out_lon, out_lat


def _gcj_to_bd(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * BD_X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * BD_X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd_to_gcj(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    # The widely copied one-step inverse evaluates the wobble terms at the BD point, not the
    # GCJ one, which leaves up to ~0.2 m of error; use it as the first guess and polish.
    x = lon - 0.0065
    y = lat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * BD_X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * BD_X_PI)
    g_lon, g_lat = z * np.cos(theta), z * np.sin(theta)
    if g_lon.size == 0:
        return g_lon, g_lat
    for _ in range(_INVERSE_MAX_ITER):
        b_lon, b_lat = _gcj_to_bd(g_lon, g_lat)
        r_lon = b_lon - lon
        r_lat = b_lat - lat
        g_lon -= r_lon
        g_lat -= r_lat
        if max(np.abs(r_lon).max(), np.abs(r_lat).max()) < _INVERSE_TOL:
            break
    return g_lon, g_lat


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """Convert WGS-84 (GPS) coordinates to GCJ-02 (Amap, Tencent, WeChat).

    Outside the rough mainland-China box (lon 72.004-137.8347, lat 0.8293-55.8271,
    edges included) GCJ-02 applies no offset and the input is returned unchanged.
    Inside it the shift is a few hundred metres (about 300-700 m around Chongqing).

    Parameters
    ----------
    lon, lat : float or array_like
        WGS-84 longitude and latitude in degrees, longitude first. Arrays broadcast.

    Returns
    -------
    lon, lat : float or numpy.ndarray
        GCJ-02 longitude and latitude in degrees; floats for scalar input.

    Raises
    ------
    ValueError
        If any value is NaN or infinite, or the inputs are not numeric or do not broadcast.
    """
    lon_a, lat_a, shape = _coerce(lon, lat)
    return _restore(*_wgs_to_gcj(lon_a, lat_a), shape)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """Convert GCJ-02 (Amap, Tencent, WeChat) coordinates to WGS-84.

    This is the exact inverse of :func:`wgs84_to_gcj02`, found by fixed-point iteration
    to better than 1e-9 degrees, not the common one-step approximation (up to ~5 m off).
    Outside the rough mainland-China box (lon 72.004-137.8347, lat 0.8293-55.8271,
    tested on the GCJ-02 input) the input is returned unchanged. Within about 0.01
    degrees of the box edges the forward transform is discontinuous, so a round trip
    there may not close.

    Parameters
    ----------
    lon, lat : float or array_like
        GCJ-02 longitude and latitude in degrees, longitude first. Arrays broadcast.

    Returns
    -------
    lon, lat : float or numpy.ndarray
        WGS-84 longitude and latitude in degrees; floats for scalar input.

    Raises
    ------
    ValueError
        If any value is NaN or infinite, or the inputs are not numeric or do not broadcast.
    """
    lon_a, lat_a, shape = _coerce(lon, lat)
    return _restore(*_gcj_to_wgs(lon_a, lat_a), shape)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """Convert GCJ-02 coordinates to BD-09 (Baidu) with the standard BD-09 formula.

    The formula has no China box: it is applied everywhere, as the usual open-source
    libraries (coordTransform, gcoord) do. The shift is roughly 0.0065 degrees east and 0.006 north.

    Parameters
    ----------
    lon, lat : float or array_like
        GCJ-02 longitude and latitude in degrees, longitude first. Arrays broadcast.

    Returns
    -------
    lon, lat : float or numpy.ndarray
        BD-09 longitude and latitude in degrees; floats for scalar input.

    Raises
    ------
    ValueError
        If any value is NaN or infinite, or the inputs are not numeric or do not broadcast.
    """
    lon_a, lat_a, shape = _coerce(lon, lat)
    return _restore(*_gcj_to_bd(lon_a, lat_a), shape)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """Convert BD-09 (Baidu) coordinates to GCJ-02.

    Starts from the widely used one-step inverse formula (``x_pi = pi * 3000 / 180``)
    and refines it by fixed-point iteration into the exact inverse of
    :func:`gcj02_to_bd09`, to better than 1e-9 degrees. Results therefore differ from
    libraries that stop at the published formula by up to about 2e-6 degrees (0.2 m).

    Parameters
    ----------
    lon, lat : float or array_like
        BD-09 longitude and latitude in degrees, longitude first. Arrays broadcast.

    Returns
    -------
    lon, lat : float or numpy.ndarray
        GCJ-02 longitude and latitude in degrees; floats for scalar input.

    Raises
    ------
    ValueError
        If any value is NaN or infinite, or the inputs are not numeric or do not broadcast.
    """
    lon_a, lat_a, shape = _coerce(lon, lat)
    return _restore(*_bd_to_gcj(lon_a, lat_a), shape)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """Convert WGS-84 coordinates to BD-09 (Baidu), via GCJ-02.

    Outside the mainland-China box only the BD-09 step applies (GCJ-02 is the identity
    there, see :func:`wgs84_to_gcj02`).

    Parameters
    ----------
    lon, lat : float or array_like
        WGS-84 longitude and latitude in degrees, longitude first. Arrays broadcast.

    Returns
    -------
    lon, lat : float or numpy.ndarray
        BD-09 longitude and latitude in degrees; floats for scalar input.

    Raises
    ------
    ValueError
        If any value is NaN or infinite, or the inputs are not numeric or do not broadcast.
    """
    lon_a, lat_a, shape = _coerce(lon, lat)
    return _restore(*_gcj_to_bd(*_wgs_to_gcj(lon_a, lat_a)), shape)


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """Convert BD-09 (Baidu) coordinates to WGS-84, via GCJ-02, using exact inverses.

    Parameters
    ----------
    lon, lat : float or array_like
        BD-09 longitude and latitude in degrees, longitude first. Arrays broadcast.

    Returns
    -------
    lon, lat : float or numpy.ndarray
        WGS-84 longitude and latitude in degrees; floats for scalar input.

    Raises
    ------
    ValueError
        If any value is NaN or infinite, or the inputs are not numeric or do not broadcast.
    """
    lon_a, lat_a, shape = _coerce(lon, lat)
    return _restore(*_gcj_to_wgs(*_bd_to_gcj(lon_a, lat_a)), shape)


def _identity(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    return lon, lat


_Kernel = Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]]

_TO_WGS84: dict[str, _Kernel] = {
    "wgs84": _identity,
    "gcj02": _gcj_to_wgs,
    "bd09": lambda lon, lat: _gcj_to_wgs(*_bd_to_gcj(lon, lat)),
}
_FROM_WGS84: dict[str, _Kernel] = {
    "wgs84": _identity,
    "gcj02": _wgs_to_gcj,
    "bd09": lambda lon, lat: _gcj_to_bd(*_wgs_to_gcj(lon, lat)),
}

# Fail at import, not on some user's upload, if the vocabulary gains a CRS we cannot convert.
if set(_TO_WGS84) != set(INPUT_CRS) or set(_FROM_WGS84) != set(INPUT_CRS):
    raise ImportError(f"geo.coords handles {sorted(_TO_WGS84)} but geo.schema.INPUT_CRS is {sorted(INPUT_CRS)}")


def _kernel(table: dict[str, _Kernel], crs: str) -> _Kernel:
    kernel = table.get(crs) if isinstance(crs, str) else None
    if kernel is None:
        allowed = ", ".join(repr(code) for code in INPUT_CRS)
        raise ValueError(f"unknown coordinate system {crs!r}; expected one of {allowed}")
    return kernel


def to_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> LonLat:
    """Convert coordinates typed or uploaded in ``crs`` to WGS-84, the storage system.

    Parameters
    ----------
    lon, lat : float or array_like
        Longitude and latitude in degrees in ``crs``, longitude first. Arrays broadcast.
    crs : str
        One of the codes in :data:`geo.schema.INPUT_CRS`: ``"wgs84"``, ``"gcj02"`` or ``"bd09"``.

    Returns
    -------
    lon, lat : float or numpy.ndarray
        WGS-84 longitude and latitude in degrees; floats for scalar input. For
        ``"wgs84"`` the values are validated and returned unchanged (as copies).

    Raises
    ------
    ValueError
        If ``crs`` is not a known code (the message lists the allowed codes), or any
        coordinate is NaN or infinite, not numeric, or the inputs do not broadcast.
    """
    kernel = _kernel(_TO_WGS84, crs)
    lon_a, lat_a, shape = _coerce(lon, lat)
    return _restore(*kernel(lon_a, lat_a), shape)


def from_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> LonLat:
    """Convert stored WGS-84 coordinates to ``crs``, e.g. ``"gcj02"`` to draw on Amap tiles.

    Parameters
    ----------
    lon, lat : float or array_like
        WGS-84 longitude and latitude in degrees, longitude first. Arrays broadcast.
    crs : str
        One of the codes in :data:`geo.schema.INPUT_CRS`: ``"wgs84"``, ``"gcj02"`` or ``"bd09"``.

    Returns
    -------
    lon, lat : float or numpy.ndarray
        Longitude and latitude in degrees in ``crs``; floats for scalar input.

    Raises
    ------
    ValueError
        If ``crs`` is not a known code (the message lists the allowed codes), or any
        coordinate is NaN or infinite, not numeric, or the inputs do not broadcast.
    """
    kernel = _kernel(_FROM_WGS84, crs)
    lon_a, lat_a, shape = _coerce(lon, lat)
    return _restore(*kernel(lon_a, lat_a), shape)


# -- "this looks like GCJ-02 given as WGS-84": shared by uploads and the rider's finder ----------

#: A reading in another CRS this close (metres) to a known station of the same kind explains the point.
CRS_MATCH_M = 15.0
#: ... this close when the station also has the same name.
CRS_NAME_MATCH_M = 100.0
#: ... and only if the stated reading is at least this far from it (GCJ-02 moves points
#: 475–520 m in Chongqing, BD-09 farther still).
CRS_MIN_SHIFT_M = 200.0


def other_readings(lon: ArrayLike, lat: ArrayLike, stated: str) -> dict[str, LonLat]:
    """The same numbers read in every other input CRS, converted to WGS-84: ``{crs: (lon, lat)}``.

    One point cannot reveal its system; a reading that lands on a known station while the
    stated one does not is the evidence (see ``likely_crs``).
    """
    return {alt: to_wgs84(lon, lat, alt) for alt in INPUT_CRS if alt != stated}


def likely_crs(stated_distance_m: float, alt_distances_m: dict[str, float], limit_m: float = CRS_MATCH_M) -> str | None:
    """The CRS the point was probably given in, or ``None``.

    ``stated_distance_m`` is the stated reading's distance to the nearest known station;
    ``alt_distances_m`` each other reading's distance to its nearest station.
    """
    best = min(alt_distances_m.items(), key=lambda kv: kv[1], default=None)
    if best is None or best[1] > limit_m or stated_distance_m < CRS_MIN_SHIFT_M:
        return None
    return best[0]
