"""Queries shared by the CLI and the web API, answering in GeoJSON Features (WGS-84)."""

from __future__ import annotations

import copy
from datetime import datetime
from functools import lru_cache

from geo import schema
from geo.coords import to_wgs84
from geo.errors import Problem, ValidationError
from geo.hours import is_open, next_change, to_local_naive
from geo.messages import Text, clipped
from geo.queries.nearest import check_query_point, index_for


def query_point_wgs84(lon, lat, crs: str = "wgs84") -> tuple[float, float]:
    """Validate a user's point and convert it from ``crs`` (wgs84, gcj02, bd09) to WGS-84."""
    if crs not in schema.INPUT_CRS:
        raise ValidationError(Problem("crs", Text("q.unknown_crs", crs=clipped(crs)), Text("hint.one_of", choices=", ".join(schema.INPUT_CRS))))
    lon, lat, _ = check_query_point(lon, lat)
    wlon, wlat = to_wgs84(lon, lat, crs)
    return float(wlon), float(wlat)


def nearest_features(snapshot, lon, lat, k: int = 5, kind: str | None = None, amenities=(),
                     open_at: datetime | None | bool = False, crs: str = "wgs84") -> list[dict]:
    """The k nearest active stations as Features with ``distance_m``, ``walk_minutes`` and ``open_now``.

    ``open_at``: ``False`` ignores hours, ``None`` filters by now, a datetime by that time.
    """
    wlon, wlat = query_point_wgs84(lon, lat, crs)
    hits = index_for(snapshot).nearest(wlon, wlat, k=k, kind=kind, amenities=tuple(amenities), open_at=open_at)
    when = None if open_at is False else open_at
    return [
        with_live_fields(snapshot.get(hit.id), when, distance_m=round(hit.distance_m, 1))
        for hit in hits
    ]


@lru_cache(maxsize=4096)
def opening_state(opening_hours: str, minute: datetime) -> tuple[bool, str | None]:
    """(open now, next change as ISO minutes) for one hours string at one local minute.

    Hours have minute resolution, so caching per minute is exact; a registry holds few
    distinct strings, so the finder's hot path rarely evaluates opening hours at all.
    """
    change = next_change(opening_hours, minute)
    return is_open(opening_hours, minute), (change.isoformat(timespec="minutes") if change else None)


def live_fields(props: dict, minute: datetime, distance_m: float | None = None) -> dict:
    """What depends on the moment (a local minute) and the query point: open now, next change, distances."""
    open_now, change = opening_state(props["opening_hours"], minute)
    fields = {"open_now": open_now, "next_change": change}
    if distance_m is not None:
        fields["distance_m"] = distance_m
        fields["walk_minutes"] = walking_minutes(distance_m)
    return fields


def walking_minutes(distance_m: float) -> float:
    """Minutes on foot at the unions' walking pace, to a tenth."""
    return round(distance_m / schema.WALK_M_PER_MIN, 1)


def local_minute(when: datetime | None = None) -> datetime:
    """``when`` (default now) as Chongqing local time, to the minute: what opening hours resolve."""
    return to_local_naive(when).replace(second=0, microsecond=0)


def with_live_fields(feature: dict, when: datetime | None = None, distance_m: float | None = None) -> dict:
    """A copy of a station Feature plus its ``live_fields``."""
    out = copy.copy(feature)
    out["properties"] = {**feature["properties"], **live_fields(feature["properties"], local_minute(when), distance_m)}
    return out
