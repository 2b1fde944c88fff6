"""Queries shared by the CLI and the web API, answering in GeoJSON Features (WGS-84)."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

import numpy as np

from geo import schema
from geo.coords import likely_crs, other_readings, to_wgs84
from geo.errors import Problem, ValidationError
from geo.hours import is_open, next_change, to_local_naive
from geo.messages import Text, clipped
from geo.queries.distance import MAX_TRIP_M, Trip, rank_trips, rider_whereabouts, trip_estimator
from geo.queries.nearest import MAX_K, index_for


def query_point_wgs84(lon, lat, crs: str = "wgs84") -> tuple[float, float]:
    """Validate a user's point and convert it from ``crs`` (wgs84, gcj02, bd09) to WGS-84."""
    if crs not in schema.INPUT_CRS:
        raise ValidationError(Problem("crs", Text("q.unknown_crs", crs=clipped(crs)), Text("hint.one_of", choices=", ".join(schema.INPUT_CRS))))
    lon, lat = check_rider_point(lon, lat)
    wlon, wlat = to_wgs84(lon, lat, crs)
    return float(wlon), float(wlat)


def check_rider_point(lon, lat) -> tuple[float, float]:
    """A typed point as two finite degrees, or ``ValidationError`` in the rider's words with the fix
    (a swapped pair such as 29.56, 106.55 gets "经纬度似乎填反了")."""
    problems, values = [], {}
    for name, value, limit in (("lon", lon, 180.0), ("lat", lat, 90.0)):
        try:
            number = float(value.strip().replace("，", ".")) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            problems.append(Problem(name, Text("point.not_number", value=str(value)[:32]), Text("point.example")))
            continue
        if not math.isfinite(number):
            problems.append(Problem(name, Text("point.not_finite", value=value if isinstance(value, float) else str(value)[:32]),
                                    Text("point.example")))
        elif not -limit <= number <= limit:
            problems.append(Problem(name, Text(f"point.{name}_range", value=number)))
        values[name] = number
    if len(values) == 2 and all(math.isfinite(v) for v in values.values()):
        swapped = _looks_swapped(values["lon"], values["lat"])
        if swapped and not problems:
            problems.append(Problem("lon, lat", Text("point.swapped", lon=values["lon"], lat=values["lat"])))
        if swapped or (problems and -90 <= values["lon"] <= 90 and -180 <= values["lat"] <= 180):
            problems = [Problem(pr.where, pr.message_text, Text("point.swapped_hint")) for pr in problems]
    if problems:
        raise ValidationError(problems)
    return values["lon"], values["lat"]


def _looks_swapped(lon: float, lat: float) -> bool:
    """(29.56, 106.55): a latitude where the longitude goes, and it would be Chongqing the other way round."""
    minx, miny, maxx, maxy = schema.CHONGQING_BBOX
    return miny <= lon <= maxy and minx <= lat <= maxx


@dataclass
class RiderAnswer:
    """What the finder shows: stations with trips, or a note (``outside_chongqing`` / ``too_far``), and a CRS hint."""

    features: list[dict]
    lon: float
    lat: float
    note: str | None = None
    crs_hint: str | None = None  # the CRS the typed point was probably in, when it differs from the stated one
    trips: list[Trip] = field(default_factory=list)


def rider_hits(snapshot, wlon: float, wlat: float, k: int = 5, kind=None, amenities=(), open_at=False,
               exclude: frozenset = frozenset()):
    """The ``k`` stations to offer from a WGS-84 point: ``([(hit, Trip)], note)``.

    Stations across a river rank as if ``CROSSING_RANK_FACTOR`` times farther; ``exclude``
    (ids, e.g. stations with an open "closed" report) are skipped. ``note`` is set instead of
    hits when the rider is outside Chongqing or farther than ``MAX_TRIP_M`` from every station.
    """
    where = rider_whereabouts(snapshot.districts, wlon, wlat)
    if where.note:
        return [], where.note
    index = index_for(snapshot)
    estimator = trip_estimator(snapshot.districts)
    fetch = min(MAX_K, k + min(len(exclude), 20))
    while True:
        hits = index.nearest(wlon, wlat, k=fetch, kind=kind, amenities=tuple(amenities), open_at=open_at)
        if hits and hits[0].distance_m > MAX_TRIP_M:
            return [], "too_far"
        hits = [h for h in hits if h.id not in exclude]
        rows = [hit_row(snapshot, h) for h in hits]
        coords = np.column_stack([snapshot.table.lon[rows], snapshot.table.lat[rows]]).reshape(-1, 2)
        trips = estimator.trips(wlon, wlat, coords, np.array([h.distance_m for h in hits], dtype=float))
        # A crossing among the first k may be overtaken by farther same-bank stations: look further once.
        if fetch < MAX_K and any(t.crosses_river for t in trips[:k]) and fetch < 3 * k + len(exclude):
            fetch = min(MAX_K, 3 * k + min(len(exclude), 20))
            continue
        return rank_trips(hits, trips, k), None


def hit_row(snapshot, hit) -> int:
    """The registry position of a nearest hit's station: carried by the hit (an index of the snapshot's
    columns), else looked up by its id."""
    return hit.row if hit.row >= 0 else snapshot.by_id[hit.id]


def crs_hint(snapshot, lon: float, lat: float, crs: str) -> str | None:
    """The CRS a typed point was probably given in, when another reading lands on a station (as uploads check)."""
    index = index_for(snapshot)
    try:
        stated = to_wgs84(lon, lat, crs)
        stated_m = index.nearest(*stated, k=1)
        readings = other_readings(lon, lat, crs)
    except (ValueError, ValidationError):
        return None
    alt_m = {}
    for alt, point in readings.items():
        hit = index.nearest(float(point[0]), float(point[1]), k=1)
        if hit:
            alt_m[alt] = hit[0].distance_m
    return likely_crs(stated_m[0].distance_m if stated_m else math.inf, alt_m)


def find_for_rider(snapshot, lon, lat, k: int = 5, kind: str | None = None, amenities=(),
                   open_at: datetime | None | bool = False, crs: str = "wgs84", exclude: frozenset = frozenset()) -> RiderAnswer:
    """The finder's answer for a typed or located point (in ``crs``): features with trip fields, or a note."""
    wlon, wlat = query_point_wgs84(lon, lat, crs)
    pairs, note = rider_hits(snapshot, wlon, wlat, k, kind, amenities, open_at, exclude)
    when = None if open_at is False else open_at
    features = [with_live_fields(snapshot.get(hit.id), when, trip=trip) for hit, trip in pairs]
    hint = None
    if crs == "wgs84" and note is None:
        hint = crs_hint(snapshot, float(lon), float(lat), crs)
    return RiderAnswer(features, wlon, wlat, note, hint, [t for _, t in pairs])


def nearest_features(snapshot, lon, lat, k: int = 5, kind: str | None = None, amenities=(),
                     open_at: datetime | None | bool = False, crs: str = "wgs84") -> list[dict]:
    """The k stations to offer as Features with ``distance_m`` (straight line), ``walk_minutes``,
    ``ride_minutes``, ``crosses_river`` and ``open_now``; empty outside Chongqing.

    ``open_at``: ``False`` ignores hours, ``None`` filters by now, a datetime by that time.
    """
    return find_for_rider(snapshot, lon, lat, k, kind, amenities, open_at, crs).features


@lru_cache(maxsize=4096)
def opening_state(opening_hours: str, minute: datetime) -> tuple[bool, str | None]:
    """(open now, next change as ISO minutes) for one hours string at one local minute.

    Hours have minute resolution, so caching per minute is exact; a registry holds few
    distinct strings, so the finder's hot path rarely evaluates opening hours at all.
    """
    change = next_change(opening_hours, minute)
    return is_open(opening_hours, minute), (change.isoformat(timespec="minutes") if change else None)


def live_fields(props: dict, minute: datetime, trip: Trip | None = None) -> dict:
    """What depends on the moment (a local minute) and the query point: open now, next change, the trip."""
    open_now, change = opening_state(props["opening_hours"], minute)
    fields = {"open_now": open_now, "next_change": change}
    if trip is not None:
        fields.update(trip.as_dict())
    return fields


def local_minute(when: datetime | None = None) -> datetime:
    """``when`` (default now) as Chongqing local time, to the minute: what opening hours resolve."""
    return to_local_naive(when).replace(second=0, microsecond=0)


def with_live_fields(feature: dict, when: datetime | None = None, trip: Trip | None = None) -> dict:
    """A copy of a station Feature plus its ``live_fields``."""
    out = copy.copy(feature)
    out["properties"] = {**feature["properties"], **live_fields(feature["properties"], local_minute(when), trip)}
    return out
