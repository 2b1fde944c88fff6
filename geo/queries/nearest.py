"""Exact k-nearest stations by geodesic distance, over a KD-tree built once per registry version.

How it stays exact and fast: stations are indexed by their Earth-centred Cartesian
coordinates (ECEF, metres on the WGS-84 ellipsoid) in a KD-tree (pykdtree: about 7 µs for
one query where scipy's cKDTree spends ~40 µs in call overhead), which ranks them by the
straight-line *chord* through the Earth. No path along the surface is shorter than the
straight line, so a station's chord is a lower bound of its geodesic distance, and for
stations a few kilometres apart the two differ by under a millionth. Candidates come in
chord order; we compute geodesics (pyproj, Karney's algorithm) until the next chord
exceeds the k-th geodesic found, and widen the search until the farthest fetched chord
does. Usually that is k geodesics and one KD-tree query of k+1.
"""

from __future__ import annotations

import math
import threading
from datetime import datetime
from typing import NamedTuple

import numpy as np
from pykdtree.kdtree import KDTree
from threadpoolctl import threadpool_limits

from geo import schema
from geo.errors import Problem, ValidationError
from geo.hours import parse_opening_hours, to_local_naive
from geo.messages import Text, clipped
from geo.projection import GEOD, TO_ECEF, ecef_point

# Slack for rounding when a chord rules a station out: geodesics are good to ~15 nm and
# chords to ~1 nm, so a millimetre can never turn a right answer away.
ROUNDING_M = 1e-3
MAX_K = 100
# Filter masks kept per index: one bool per station each (200 KB at 200,000 stations).
ELIGIBLE_CACHE_ENTRIES = 32
AMENITY_BITS = {code: 1 << i for i, code in enumerate(schema.AMENITIES)}

# pykdtree parallelises every query with OpenMP; for the one-point queries a server makes,
# waking the thread team costs 50–500 µs on a busy 2-core machine against ~6 µs of work,
# and its threads then spin, starving the server's other requests. Server workers are
# processes, so one OpenMP thread each loses nothing. OpenMP's limit belongs to the thread
# that sets it, so each thread that queries (a threaded server's too) sets its own, once.
_single_threaded = threading.local()


def _one_openmp_thread() -> None:
    if not getattr(_single_threaded, "done", False):
        threadpool_limits(limits=1, user_api="openmp")
        _single_threaded.done = True


_one_openmp_thread()


class NearestHit(NamedTuple):
    """One answer: the station's row position in the indexed frame, its id and geodesic metres."""

    position: int
    id: str
    distance_m: float


def ecef(lon, lat) -> np.ndarray:
    """WGS-84 degrees → Earth-centred Cartesian metres on the ellipsoid, shape (n, 3), C-contiguous."""
    lon = np.asarray(lon, dtype=float).ravel()
    lat = np.asarray(lat, dtype=float).ravel()
    x, y, z = TO_ECEF.transform(lon, lat, np.zeros_like(lon))
    return np.ascontiguousarray(np.column_stack([x, y, z]))


def amenity_mask(amenities) -> int:
    """Bit mask for a set of amenity codes (unknown codes raise ``ValidationError``)."""
    bits = 0
    for code in amenities:
        if code not in AMENITY_BITS:
            raise ValidationError(
                Problem("amenity", Text("q.unknown_amenity", code=code), Text("hint.one_of", choices=", ".join(schema.AMENITIES)))
            )
        bits |= AMENITY_BITS[code]
    return bits


def check_query_point(lon, lat, k: int = 1) -> tuple[float, float, int]:
    """Validate a query point (WGS-84 degrees) and k; every problem reported at once."""
    if isinstance(lon, float) and isinstance(lat, float) and type(k) is int and (
            -180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0 and 1 <= k <= MAX_K):
        return lon, lat, k  # the common case, already valid (NaN fails the comparisons)
    problems = []
    values = {}
    for name, value, low, high in (("lon", lon, -180.0, 180.0), ("lat", lat, -90.0, 90.0)):
        try:
            number = float(value)
        except (TypeError, ValueError):
            problems.append(Problem(name, Text("q.not_number", value=clipped(value))))
            continue
        if not math.isfinite(number):
            problems.append(Problem(name, Text("q.not_finite", value=clipped(value))))
        elif not low <= number <= high:
            problems.append(Problem(name, Text("q.outside", value=clipped(value), low=f"{low:g}", high=f"{high:g}")))
        values[name] = number
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_K:
        problems.append(Problem("k", Text("q.k_range", k=clipped(k), max=MAX_K)))
    if problems:
        raise ValidationError(problems)
    return values["lon"], values["lat"], int(k)


class NearestIndex:
    """Nearest-station queries over a fixed set of stations (normally the active ones).

    Parameters
    ----------
    stations : GeoDataFrame
        Point geometries in EPSG:4326 with ``id``, ``kind``, ``amenities`` (list of codes)
        and ``opening_hours`` columns. Row order defines ``NearestHit.position``.
    """

    def __init__(self, stations):
        self.stations = stations
        self.size = len(stations)
        self.lon = np.ascontiguousarray(stations.geometry.x.to_numpy(dtype=float))
        self.lat = np.ascontiguousarray(stations.geometry.y.to_numpy(dtype=float))
        self.ids = stations["id"].to_numpy(dtype=object)
        self.kinds = stations["kind"].to_numpy(dtype=object)
        self.amenity_bits = np.fromiter(
            (sum(AMENITY_BITS.get(a, 0) for a in amenities) for amenities in stations["amenities"]),
            dtype=np.int64,
            count=self.size,
        )
        self.hours_text, self.hours_code = np.unique(
            stations["opening_hours"].to_numpy(dtype=object).astype(str), return_inverse=True
        )
        self._open_state_cache: dict[datetime, list[bool]] = {}
        self._eligible_cache: dict[tuple, tuple[np.ndarray, float]] = {}
        # Plain-Python copies for the single-query path: indexing a list is several times
        # faster than pulling scalars out of numpy arrays, and a query touches only a few.
        self._lon_list, self._lat_list = self.lon.tolist(), self.lat.tolist()
        self._id_list = self.ids.tolist()
        # One tree over everything plus one per kind, so a query for the 15 childcare
        # classes does not wade through 2,340 outdoor stations.
        self._trees: dict[str | None, tuple[KDTree, np.ndarray, list[int]]] = {}
        if self.size:
            xyz = ecef(self.lon, self.lat)
            groups = {None: np.arange(self.size)} | {k: np.flatnonzero(self.kinds == k) for k in np.unique(self.kinds)}
            for kind, positions in groups.items():
                self._trees[kind] = (KDTree(np.ascontiguousarray(xyz[positions])), positions, positions.tolist())

    def open_state(self, when: datetime | None) -> list[bool]:
        """Open/closed per distinct opening_hours string at ``when`` (cached per minute)."""
        minute = to_local_naive(when).replace(second=0, microsecond=0)
        state = self._open_state_cache.get(minute)
        if state is None:
            state = [_is_open(text, minute) for text in self.hours_text]
            if len(self._open_state_cache) > 256:
                self._open_state_cache.clear()
            self._open_state_cache[minute] = state
        return state

    def nearest(
        self,
        lon: float,
        lat: float,
        k: int = 5,
        kind: str | None = None,
        amenities=(),
        open_at: datetime | None | bool = False,
    ) -> list[NearestHit]:
        """The ``k`` nearest matching stations to (lon, lat), nearest first.

        Parameters
        ----------
        lon, lat : float
            Query point, WGS-84 degrees.
        k : int
            How many stations, 1–100. Fewer come back if fewer match.
        kind : str, optional
            Only this kind (``schema.KINDS``).
        amenities : iterable of str
            Only stations offering all of these.
        open_at : datetime, None or False
            ``False`` ignores opening hours; ``None`` means open now; a datetime means
            open at that time (naive = Chongqing local time).

        Returns
        -------
        list of NearestHit, ``distance_m`` geodesic metres on WGS-84.
        """
        lon, lat, k = check_query_point(lon, lat, k)
        if kind is not None and kind not in schema.KINDS:
            raise ValidationError(Problem("kind", Text("q.unknown_kind", kind=kind), Text("hint.one_of", choices=", ".join(schema.KINDS))))
        bits = amenity_mask(amenities)
        if kind not in self._trees:
            return []
        minute = None if open_at is False else to_local_naive(open_at).replace(second=0, microsecond=0)
        filtered = bool(bits) or minute is not None
        tree, _, tree_positions = self._trees[kind]
        n = len(tree_positions)
        if filtered:
            eligible, share = self._eligible(kind, bits, minute)
            if not share:
                return []
            # Fetch enough that about k + 1 of them pass the filters: at night few stations
            # are open, and widening 4x at a time from k + 1 cost several KD-tree queries.
            fetch = min(n, int((k + 1) / share * 1.25) + 6)
        else:
            fetch = min(n, k + 1)  # one more than k certifies the answer
        _one_openmp_thread()
        query = np.array([ecef_point(lon, lat)])
        while True:
            chord, local = tree.query(query, k=fetch)
            chord, local = chord.ravel(), local.ravel()
            farthest_fetched = float(chord[-1])
            if filtered:
                keep = eligible[local]
                chord, local = chord[keep], local[keep]
            candidates = zip(chord.tolist(), [tree_positions[i] for i in local.tolist()], strict=True)
            hits = self._rank_exact(lon, lat, candidates, k)
            # Complete when every station not fetched (each at least as far as the last
            # chord, and its geodesic longer still) is farther than the k-th answer.
            if fetch >= n or (len(hits) == k and farthest_fetched > hits[-1].distance_m + ROUNDING_M):
                return hits
            fetch = min(n, fetch * 4)

    def _eligible(self, kind: str | None, bits: int, minute: datetime | None) -> tuple[np.ndarray, float]:
        """Which stations of ``kind``'s tree pass the filters (by position in the tree), and their share.

        Vectorised over the whole index once per (kind, amenities, minute): opening hours
        change at most once a minute, and a query then filters its candidates with one
        array lookup instead of a Python test per candidate.
        """
        key = (kind, bits, minute)
        cached = self._eligible_cache.get(key)
        if cached is None:
            ok = np.ones(self.size, dtype=bool)
            if bits:
                ok &= (self.amenity_bits & bits) == bits
            if minute is not None:
                ok &= np.asarray(self.open_state(minute), dtype=bool)[self.hours_code]
            eligible = ok[self._trees[kind][1]]
            if len(self._eligible_cache) >= ELIGIBLE_CACHE_ENTRIES:
                self._eligible_cache.clear()
            cached = self._eligible_cache[key] = (eligible, float(eligible.mean()) if len(eligible) else 0.0)
        return cached

    def _rank_exact(self, lon, lat, candidates, k) -> list[NearestHit]:
        """The k geodesically nearest of (chord, position) pairs sorted by chord.

        A candidate whose chord exceeds the k-th geodesic so far cannot be nearer (its
        geodesic is longer than its chord), and neither can any after it: pyproj's scalar
        geodesic (~1.6 µs) runs only for the others.
        """
        ranked: list[tuple[float, int]] = []
        for chord, p in candidates:
            if len(ranked) >= k and chord > ranked[k - 1][0] + ROUNDING_M:
                break
            ranked.append((GEOD.inv(lon, lat, self._lon_list[p], self._lat_list[p])[2], p))
            ranked.sort()
        return [NearestHit(p, self._id_list[p], d) for d, p in ranked[:k]]

    def nearest_many(self, lons, lats, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Batch form without filters: arrays ``(distance_m, position)`` of shape (n, k).

        Exact like ``nearest``; rows the vectorised pass cannot certify fall back to it.
        """
        lons = np.asarray(lons, dtype=float)
        lats = np.asarray(lats, dtype=float)
        if not (np.isfinite(lons).all() and np.isfinite(lats).all()):
            raise ValidationError(Problem("lon/lat", Text("q.coords_finite")))
        if not self.size:
            raise ValidationError(Problem("registry", Text("q.no_stations")))
        k = min(k, self.size)
        tree, _, _ = self._trees[None]
        fetch = min(self.size, k + 1)
        chord, pos = tree.query(ecef(lons, lats), k=fetch)
        chord, pos = chord.reshape(len(lons), fetch), pos.reshape(len(lons), fetch).astype(np.int64)
        dist_all = np.empty((len(lons), k))
        for j in range(k):
            _, _, dist_all[:, j] = GEOD.inv(lons, lats, self.lon[pos[:, j]], self.lat[pos[:, j]])
        order = np.argsort(dist_all, axis=1, kind="stable")[:, :k]
        dist_out = np.take_along_axis(dist_all, order, axis=1)
        pos_out = np.take_along_axis(pos[:, :k], order, axis=1)
        # A row is certified when the first candidate not examined (and so every farther
        # one) has a chord beyond its k-th geodesic; the rare others use the single query.
        if fetch > k:
            unsure = np.flatnonzero(chord[:, k] <= dist_out[:, -1] + ROUNDING_M)
        else:
            unsure = np.arange(0)
        for r in unsure:
            hits = self.nearest(lons[r], lats[r], k=k)
            dist_out[r] = [h.distance_m for h in hits]
            pos_out[r] = [h.position for h in hits]
        return dist_out, pos_out


def _is_open(text: str, when: datetime) -> bool:
    try:
        return bool(parse_opening_hours(text).is_open(when))
    except ValueError:
        return False


def index_for(snapshot) -> NearestIndex:
    """The nearest index of a registry snapshot's active stations, built once per version."""
    return snapshot.cached("nearest_index", lambda: NearestIndex(snapshot.active))
