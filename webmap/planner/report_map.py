"""A printable map for the planner's report: district outlines, gap cells, stations and proposed sites as inline SVG shapes.

Drawn in the Chongqing Albers equal-area CRS (``geo.projection``: metres, north up, the
city's own projection), so service circles are true circles and the scale bar holds
everywhere on the sheet. No tiles and no script: it prints exactly as it looks and needs
no network. The template gets numbers only (autoescaped like everything else).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely

SCALE_STEPS_KM = (0.5, 1, 2, 5, 10, 20, 50, 100)
MARGIN = 0.04        # of the extent, around the focus
MAX_ASPECT = 1.25    # height / width at most; taller districts get side margins instead


@dataclass
class ReportMap:
    """Shapes in SVG user units (pixels of a ``width`` × ``height`` view box, y down)."""

    width: int
    height: int
    outlines: list[dict] = field(default_factory=list)     # {"d": path, "focus": bool}
    gaps: list[tuple[float, float, float]] = field(default_factory=list)   # x, y, side
    stations: list[tuple[float, float]] = field(default_factory=list)
    sites: list[dict] = field(default_factory=list)        # {"rank", "x", "y", "r"}
    scale: dict = field(default_factory=dict)              # {"x1", "x2", "y", "km"}

    @property
    def view_box(self) -> str:
        return f"0 0 {self.width} {self.height}"


def report_map(districts, adcode: str | None, *, stations_xy=None, gaps=None, sites=None, radius_m: float = 0.0,
               cell_m: float = 1000.0, width: int = 760) -> ReportMap:
    """The map around district ``adcode`` (``None``: the whole city).

    Parameters
    ----------
    districts : geo.districts.Districts
    stations_xy : (n, 2) array of Albers metres, existing stations
    gaps : DataFrame with ``x``, ``y`` (Albers metres), uncovered cell centres
    sites : DataFrame with ``rank``, ``x``, ``y`` (Albers metres), proposed sites
    radius_m : service radius drawn around each site, metres
    cell_m : side of a gap cell, metres
    """
    metric = districts.metric_frame
    codes = metric["adcode"].to_numpy(dtype=str)
    geoms = metric.geometry.to_numpy()
    minx, miny, maxx, maxy = geoms[codes == adcode][0].bounds if adcode is not None else metric.total_bounds
    pad = MARGIN * max(maxx - minx, maxy - miny)
    minx, miny, maxx, maxy = minx - pad, miny - pad, maxx + pad, maxy + pad
    k = min(width / (maxx - minx), width * MAX_ASPECT / (maxy - miny))   # pixels per metre
    height = int(round((maxy - miny) * k))
    minx -= (width / k - (maxx - minx)) / 2                               # centre a narrow district
    view = shapely.box(minx, miny, minx + width / k, maxy)

    def to_px(x, y):
        return (np.asarray(x, float) - minx) * k, (maxy - np.asarray(y, float)) * k

    result = ReportMap(width, height)
    tolerance = 0.6 / k
    for code, geom in zip(codes, geoms, strict=True):
        if not geom.intersects(view):
            continue
        simple = shapely.simplify(geom, tolerance, preserve_topology=True)
        result.outlines.append({"d": _path(simple, to_px), "focus": adcode is None or code == adcode})
    result.outlines.sort(key=lambda o: o["focus"])   # the focus district drawn last, on top

    if gaps is not None and len(gaps):
        gx, gy = to_px(gaps["x"].to_numpy() - cell_m / 2, gaps["y"].to_numpy() + cell_m / 2)
        side = max(cell_m * k, 1.0)
        result.gaps = [(round(x, 1), round(y, 1), round(side, 1)) for x, y in zip(gx, gy, strict=True)]
    if stations_xy is not None and len(stations_xy):
        sx, sy = to_px(stations_xy[:, 0], stations_xy[:, 1])
        inside = (sx >= 0) & (sx <= width) & (sy >= 0) & (sy <= height)
        result.stations = [(round(x, 1), round(y, 1)) for x, y in zip(sx[inside], sy[inside], strict=True)]
    if sites is not None and len(sites):
        px, py = to_px(sites["x"].to_numpy(), sites["y"].to_numpy())
        pins = place_pins(np.column_stack([px, py]), PIN_RADIUS, width, height)
        result.sites = [{"rank": int(rank), "x": round(x, 1), "y": round(y, 1), "r": round(radius_m * k, 1),
                         "px": round(pin[0], 1), "py": round(pin[1], 1), "moved": bool(np.hypot(pin[0] - x, pin[1] - y) > 0.5)}
                        for rank, x, y, pin in zip(sites["rank"], px, py, pins, strict=True)]

    target_km = width / 5 / k / 1000
    km = max((s for s in SCALE_STEPS_KM if s <= target_km), default=SCALE_STEPS_KM[0])
    result.scale = {"x1": 16, "x2": round(16 + km * 1000 * k, 1), "y": height - 16, "km": f"{km:g}"}
    return result


PIN_RADIUS = 8.0   # SVG units; the numbered pin's circle


def place_pins(points: np.ndarray, radius: float, width: float, height: float) -> np.ndarray:
    """Pin centres that do not overlap: each pin (in rank order) at its site if free, else at the nearest free
    spot on rings around it (a leader line then joins pin and site). Greedy, O(n² · tries); n ≤ 1,000."""
    placed: list[tuple[float, float]] = []
    gap = 2 * radius + 1
    for x, y in np.asarray(points, float):
        spot = (x, y)
        if not _free(spot, placed, gap):
            spot = None
            for ring in range(1, 40):
                d = ring * radius * 1.2
                steps = 8 * ring
                for j in range(steps):
                    a = 2 * np.pi * j / steps - np.pi / 2
                    cand = (x + d * np.cos(a), y + d * np.sin(a))
                    if radius <= cand[0] <= width - radius and radius <= cand[1] <= height - radius and _free(cand, placed, gap):
                        spot = cand
                        break
                if spot is not None:
                    break
            spot = spot or (x, y)
        placed.append(spot)
    return np.asarray(placed).reshape(-1, 2)


def _free(spot, placed, gap) -> bool:
    return all((spot[0] - px) ** 2 + (spot[1] - py) ** 2 >= gap * gap for px, py in placed)


def _path(geometry, to_px) -> str:
    """An SVG path (even-odd rings) for a polygon or multipolygon."""
    parts = []
    for polygon in getattr(geometry, "geoms", [geometry]):
        if polygon.geom_type != "Polygon" or polygon.is_empty:
            continue
        for ring in (polygon.exterior, *polygon.interiors):
            xs, ys = to_px(*np.asarray(ring.coords)[:, :2].T)
            points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
            parts.append(f"M{points}Z")
    return "".join(parts)
