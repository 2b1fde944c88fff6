"""How far a station is for a rider: straight-line metres, estimated walking and riding minutes,
whether the way crosses the Yangtze or the Jialing, and whether the rider is in Chongqing at all.

The finder and the API call ``trip_estimator(districts).trips(...)`` and show what it returns;
they never compute minutes themselves. Today's estimator multiplies the geodesic (straight-line)
distance by a detour factor; a road-network estimator (routing on an OpenStreetMap extract)
implements the same ``TripEstimator`` protocol and is installed with ``use_trip_estimator``,
without any page changing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import shapely

from geo import schema
from geo.districts import Districts
from geo.registry.snapshot import cached_on

# Ratio of network to straight-line distance. Across 25 Chinese cities the mean detour index is
# 1.324, and short trips detour more than long ones (Annals of GIS 27(4):351–369, 2021,
# doi:10.1080/19475683.2021.1966503). Riders' trips are short and Chongqing is hilly (stairs,
# switchbacks, few through-streets), so we take 1.4: an assumption above the national mean,
# not a figure measured in Chongqing.
DETOUR_FACTOR = 1.4
WALK_M_PER_MIN = schema.WALK_M_PER_MIN  # 4.5 km/h
RIDE_M_PER_MIN = 250.0  # an e-bike in city traffic, 15 km/h
MIN_MINUTES = 1
# Beyond this a rider is not "near" any station: the finder says so instead of counting minutes.
MAX_TRIP_M = 50_000.0
# A station across a river ranks as if it were this much farther: a bridge detour is the rule.
CROSSING_RANK_FACTOR = 1.5

# Pairs of districts whose shared border is a river (the border follows the river's middle).
# Each was checked against the map: the two districts face each other across the water.
RIVER_BORDERS: dict[tuple[str, str], str] = {
    ("500103", "500108"): "yangtze",  # 渝中 | 南岸
    ("500105", "500108"): "yangtze",  # 江北 | 南岸
    ("500107", "500108"): "yangtze",  # 九龙坡 | 南岸
    ("500107", "500113"): "yangtze",  # 九龙坡 | 巴南
    ("500104", "500113"): "yangtze",  # 大渡口 | 巴南
    ("500105", "500113"): "yangtze",  # 江北 | 巴南
    ("500112", "500113"): "yangtze",  # 渝北 | 巴南 (洛碛)
    ("500103", "500105"): "jialing",  # 渝中 | 江北
    ("500105", "500106"): "jialing",  # 江北 | 沙坪坝
    ("500106", "500112"): "jialing",  # 沙坪坝 | 渝北 (礼嘉)
}


@dataclass(frozen=True)
class Trip:
    """One station as a rider sees it. Distances in metres, times in whole minutes (at least 1)."""

    straight_m: float
    walk_minutes: int
    ride_minutes: int
    crosses_river: bool
    method: str = "estimate"  # "estimate" (straight line × detour) or "network"

    @property
    def rank_m(self) -> float:
        """The distance used for ordering: crossing a river counts as a detour."""
        return self.straight_m * (CROSSING_RANK_FACTOR if self.crosses_river else 1.0)

    def as_dict(self) -> dict:
        return {"distance_m": round(self.straight_m, 1), "distance_kind": "straight_line",
                "walk_minutes": self.walk_minutes, "ride_minutes": self.ride_minutes,
                "crosses_river": self.crosses_river, "estimate": self.method}


class TripEstimator(Protocol):
    def trips(self, lon: float, lat: float, destinations: np.ndarray, straight_m: np.ndarray) -> list[Trip]:
        """Trips from (lon, lat) WGS-84 to each destination ``[[lon, lat], …]`` given their geodesic metres."""


def minutes(metres: float, metres_per_minute: float, detour: float = DETOUR_FACTOR) -> int:
    """Whole minutes for ``metres`` of straight line at a pace, with the detour factor; never below 1."""
    if not math.isfinite(metres) or metres < 0:
        raise ValueError("distance must be a finite number of metres ≥ 0")
    return max(MIN_MINUTES, math.ceil(metres * detour / metres_per_minute - 1e-9))


class StraightLineEstimator:
    """Straight line × ``DETOUR_FACTOR``; a crossing is a segment that meets a river line."""

    def __init__(self, rivers=None, detour: float = DETOUR_FACTOR):
        self.rivers = rivers
        self.detour = detour
        if rivers is not None:
            shapely.prepare(rivers)

    def crossings(self, lon: float, lat: float, destinations: np.ndarray) -> np.ndarray:
        if self.rivers is None or not len(destinations):
            return np.zeros(len(destinations), dtype=bool)
        ends = np.empty((len(destinations), 2, 2))
        ends[:, 0, 0], ends[:, 0, 1] = lon, lat
        ends[:, 1, :] = destinations[:, :2]
        return shapely.intersects(self.rivers, shapely.linestrings(ends))

    def trips(self, lon: float, lat: float, destinations: np.ndarray, straight_m: np.ndarray) -> list[Trip]:
        destinations = np.asarray(destinations, dtype=float).reshape(-1, 2)
        crossing = self.crossings(lon, lat, destinations).tolist()
        # As minutes(), inlined: a handful of stations per query, on the finder's hot path.
        walk, ride = self.detour / WALK_M_PER_MIN, self.detour / RIDE_M_PER_MIN
        ceil = math.ceil
        return [Trip(m, max(MIN_MINUTES, ceil(m * walk - 1e-9)), max(MIN_MINUTES, ceil(m * ride - 1e-9)), c)
                for m, c in zip(map(float, straight_m), crossing, strict=True)]


def river_lines(districts: Districts):
    """The Yangtze and Jialing where they separate central districts: a MultiLineString (WGS-84), or None."""
    geometries = dict(zip(districts.frame["adcode"], districts.frame.geometry, strict=True))
    parts = []
    for a, b in RIVER_BORDERS:
        if a in geometries and b in geometries:
            shared = shapely.intersection(geometries[a].boundary, geometries[b].boundary)
            parts += [g for g in shapely.get_parts(shapely.line_merge(shared)) if g.geom_type == "LineString"]
    return shapely.multilinestrings(parts) if parts else None


def trip_estimator(districts: Districts) -> TripEstimator:
    """The estimator for this district map: one installed by ``use_trip_estimator``, else straight line × detour."""
    return cached_on(districts, "trip_estimator", lambda: StraightLineEstimator(river_lines(districts)))


def use_trip_estimator(districts: Districts, estimator: TripEstimator) -> None:
    """Install another estimator (e.g. routing on a road network) for every later query."""
    vars(districts).setdefault("derived", {})["trip_estimator"] = estimator


# What the finder says instead of a list, per note (message codes; see translations/runtime_codes.py).
NOTE_MESSAGES = {"outside_chongqing": "finder.outside", "too_far": "finder.too_far"}


@dataclass(frozen=True)
class Whereabouts:
    """Where the rider is: ``inside`` Chongqing or not; ``note`` says why the finder gives no list."""

    inside: bool
    note: str | None = None  # "outside_chongqing" | "too_far"


def rider_whereabouts(districts: Districts, lon: float, lat: float, nearest_m: float | None = None) -> Whereabouts:
    """Outside the municipality, or farther than ``MAX_TRIP_M`` from the nearest station, there is nothing to walk to."""
    if not shapely.intersects_xy(_prepared_outline(districts), lon, lat):
        return Whereabouts(False, "outside_chongqing")
    if nearest_m is not None and nearest_m > MAX_TRIP_M:
        return Whereabouts(True, "too_far")
    return Whereabouts(True)


def _prepared_outline(districts: Districts):
    """The municipality as one prepared polygon: a point test in microseconds, on the finder's hot path."""
    def build():
        outline = districts.outline
        shapely.prepare(outline)
        return outline

    return cached_on(districts, "outline_prepared", build)


def rank_trips(items: list, trips: list[Trip], k: int) -> list[tuple[object, Trip]]:
    """The ``k`` best of ``items`` by ``Trip.rank_m`` (stable: equal ranks keep their order)."""
    order = sorted(range(len(items)), key=lambda i: trips[i].rank_m)
    return [(items[i], trips[i]) for i in order[:k]]
