"""Exact k-nearest stations by geodesic distance, over a KD-tree built once per registry version.

How it stays exact and fast: stations are indexed as 3-D unit vectors (scipy ``cKDTree``),
so the tree ranks them by great-circle distance on a sphere. The sphere and the WGS-84
ellipsoid disagree by at most ``SPHERE_ERROR`` (relative), so each candidate's true
geodesic distance lies in ``[s·(1-ε), s·(1+ε)]``. We compute geodesics (pyproj, Karney's
algorithm) only for candidates whose interval could reach the answer, and widen the
search until the farthest fetched candidate is provably farther than the k-th answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from scipy.spatial import cKDTree

from geo import schema
from geo.errors import Problem, ValidationError
from geo.hours import parse_opening_hours, to_local_naive
from geo.projection import GEOD

# Mean Earth radius (IUGG), metres: the sphere the KD-tree measures on.
EARTH_RADIUS_M = 6_371_008.8
# Largest relative gap between that sphere's great-circle distance and the WGS-84
# geodesic. Local radii of curvature span 6,335–6,400 km (-0.56 % … +0.45 %); 0.75 %
# leaves margin, and a looser bound only costs a few extra geodesic evaluations.
SPHERE_ERROR = 0.0075
MAX_K = 100
AMENITY_BITS = {code: 1 << i for i, code in enumerate(schema.AMENITIES)}


@dataclass(frozen=True)
class NearestHit:
    """One answer: the station's row position in the indexed frame, its id and geodesic metres."""

    position: int
    id: str
    distance_m: float


def unit_vectors(lon, lat) -> np.ndarray:
    """Degrees → points on the unit sphere, shape (n, 3)."""
    lam = np.radians(np.asarray(lon, dtype=float))
    phi = np.radians(np.asarray(lat, dtype=float))
    cos_phi = np.cos(phi)
    return np.column_stack([cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)])


def chord_to_arc_m(chord) -> np.ndarray:
    """Chord length on the unit sphere → great-circle metres on the mean-radius sphere."""
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.minimum(np.asarray(chord) / 2.0, 1.0))


def amenity_mask(amenities) -> int:
    """Bit mask for a set of amenity codes (unknown codes raise ``ValidationError``)."""
    bits = 0
    for code in amenities:
        if code not in AMENITY_BITS:
            raise ValidationError(
                Problem("amenity", f"unknown amenity {code!r}", "one of " + ", ".join(schema.AMENITIES))
            )
        bits |= AMENITY_BITS[code]
    return bits


def check_query_point(lon, lat, k: int = 1) -> tuple[float, float, int]:
    """Validate a query point (WGS-84 degrees) and k; every problem reported at once."""
    problems = []
    values = {}
    for name, value, low, high in (("lon", lon, -180.0, 180.0), ("lat", lat, -90.0, 90.0)):
        try:
            number = float(value)
        except (TypeError, ValueError):
            problems.append(Problem(name, f"{value!r} is not a number"))
            continue
        if not np.isfinite(number):
            problems.append(Problem(name, f"{value!r} is not a finite number"))
        elif not low <= number <= high:
            problems.append(Problem(name, f"{value!r} is outside [{low:g}, {high:g}]"))
        values[name] = number
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_K:
        problems.append(Problem("k", f"{k!r} must be a whole number from 1 to {MAX_K}"))
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
        self._open_state_cache: dict[datetime, np.ndarray] = {}
        xyz = unit_vectors(self.lon, self.lat)
        # Plain-Python copies for the single-query path (list indexing beats numpy scalars).
        self._xyz_lists = (xyz[:, 0].tolist(), xyz[:, 1].tolist(), xyz[:, 2].tolist())
        self._lon_list, self._lat_list = self.lon.tolist(), self.lat.tolist()
        self._bits_list, self._hours_list = self.amenity_bits.tolist(), self.hours_code.tolist()
        # One tree over everything plus one per kind, so a query for the 15 childcare
        # classes does not wade through 2,340 outdoor stations.
        self._trees: dict[str | None, tuple[cKDTree, np.ndarray]] = {}
        self._area_m2: dict[str | None, float] = {}
        if self.size:
            self._trees[None] = (cKDTree(xyz), np.arange(self.size))
            for kind in np.unique(self.kinds):
                positions = np.flatnonzero(self.kinds == kind)
                self._trees[kind] = (cKDTree(xyz[positions]), positions)
            for kind, (_, positions) in self._trees.items():
                self._area_m2[kind] = _bbox_area_m2(self.lon[positions], self.lat[positions])

    # -- filters --------------------------------------------------------------

    def open_state(self, when: datetime | None) -> np.ndarray:
        """Open/closed per distinct opening_hours string at ``when`` (cached per minute)."""
        minute = to_local_naive(when).replace(second=0, microsecond=0)
        state = self._open_state_cache.get(minute)
        if state is None:
            state = np.array([_is_open(text, minute) for text in self.hours_text], dtype=bool)
            if len(self._open_state_cache) > 256:
                self._open_state_cache.clear()
            self._open_state_cache[minute] = state
        return state

    def _eligible(self, positions, amenity_bits: int, open_state) -> np.ndarray:
        keep = np.ones(len(positions), dtype=bool)
        if amenity_bits:
            keep &= (self.amenity_bits[positions] & amenity_bits) == amenity_bits
        if open_state is not None:
            keep &= open_state[self.hours_code[positions]]
        return keep

    # -- queries --------------------------------------------------------------

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
            raise ValidationError(Problem("kind", f"unknown kind {kind!r}", "one of " + ", ".join(schema.KINDS)))
        bits = amenity_mask(amenities)
        if kind not in self._trees:
            return []
        open_state = None if open_at is False else self.open_state(open_at)
        tree, tree_positions = self._trees[kind]
        n = len(tree_positions)
        cos_lat = math.cos(math.radians(lat))
        qx, qy, qz = cos_lat * math.cos(math.radians(lon)), cos_lat * math.sin(math.radians(lon)), math.sin(math.radians(lat))
        query = np.array([qx, qy, qz])
        # Grow a ball from a fraction of the average spacing. For one point, scipy's ball
        # query costs a third of its k-nearest query, and scoring a few dozen candidates
        # in plain Python beats a dozen small numpy calls.
        radius_m = max(100.0, 0.5 * math.sqrt(self._area_m2[kind] * max(k, 2) / (math.pi * n)))
        x, y, z = self._xyz_lists
        for _ in range(6):
            chord_r = 2.0 * math.sin(min(radius_m / (2 * EARTH_RADIUS_M), math.pi / 2))
            local = tree.query_ball_point(query, chord_r)
            if len(local) > 64:
                break
            if len(local) >= k:
                positions = [int(tree_positions[i]) for i in local]
                if bits or open_state is not None:
                    positions = [p for p in positions if self._is_eligible(p, bits, open_state)]
                scored = sorted(((x[p] - qx) ** 2 + (y[p] - qy) ** 2 + (z[p] - qz) ** 2, p) for p in positions)
                hits = self._rank_small(lon, lat, scored, k)
                # Everything outside the ball is at least radius·(1-ε) away geodesically.
                if len(hits) == k and hits[-1].distance_m < radius_m * (1 - SPHERE_ERROR):
                    return hits
            radius_m *= 3
        return self._nearest_by_knn(tree, tree_positions, query, lon, lat, k, bits, open_state)

    def _nearest_by_knn(self, tree, tree_positions, query, lon, lat, k, bits, open_state) -> list[NearestHit]:
        """Fallback for sparse matches or far-away points: widen a k-nearest query until certain."""
        n = len(tree_positions)
        fetch = min(n, 2 * k + 6)
        while True:
            chord, local = tree.query(query, k=fetch)
            chord, local = np.atleast_1d(chord), np.atleast_1d(local)
            positions = tree_positions[local]
            arc = chord_to_arc_m(chord)
            keep = self._eligible(positions, bits, open_state)
            hits = self._rank_exact(lon, lat, positions[keep], arc[keep], k)
            exhausted = fetch >= n
            # Complete when nothing beyond the fetched set can beat the k-th answer.
            if exhausted or (len(hits) == k and arc[-1] * (1 - SPHERE_ERROR) > hits[-1].distance_m):
                return hits
            fetch = min(n, fetch * 4)

    def _is_eligible(self, position: int, bits: int, open_state) -> bool:
        if bits and (self._bits_list[position] & bits) != bits:
            return False
        return open_state is None or bool(open_state[self._hours_list[position]])

    def _rank_small(self, lon, lat, scored, k) -> list[NearestHit]:
        """Exact re-rank of (squared chord, position) pairs sorted by chord, in plain Python."""
        if not scored:
            return []
        arcs = [2.0 * EARTH_RADIUS_M * math.asin(min(math.sqrt(c2) / 2.0, 1.0)) for c2, _ in scored]
        limit = arcs[min(k, len(arcs)) - 1] * (1 + SPHERE_ERROR)
        ranked = []
        for (_, p), arc in zip(scored, arcs):
            if arc * (1 - SPHERE_ERROR) > limit and len(ranked) >= k:
                break
            ranked.append((GEOD.inv(lon, lat, self._lon_list[p], self._lat_list[p])[2], p))
        ranked.sort()
        return [NearestHit(p, self.ids[p], float(d)) for d, p in ranked[:k]]

    def _rank_exact(self, lon, lat, positions, arc, k) -> list[NearestHit]:
        """Geodesic re-rank of candidates already sorted by spherical distance."""
        if not len(positions):
            return []
        k_arc = arc[min(k, len(arc)) - 1]
        # Candidates whose best case cannot beat the k-th candidate's worst case never matter.
        contenders = int(np.searchsorted(arc * (1 - SPHERE_ERROR), k_arc * (1 + SPHERE_ERROR), side="right"))
        contenders = max(contenders, min(k, len(arc)))
        chosen = positions[:contenders]
        if contenders <= 6:
            # pyproj's scalar path costs ~1.6 µs; its array path ~13 µs of fixed overhead.
            dist = np.array([GEOD.inv(lon, lat, self.lon[p], self.lat[p])[2] for p in chosen])
        else:
            _, _, dist = GEOD.inv(np.full(contenders, lon), np.full(contenders, lat), self.lon[chosen], self.lat[chosen])
        order = np.lexsort((chosen, dist))[:k] if contenders > 1 else (0,)
        return [NearestHit(int(chosen[i]), self.ids[chosen[i]], float(dist[i])) for i in order]

    def nearest_many(self, lons, lats, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Batch form without filters: arrays ``(distance_m, position)`` of shape (n, k).

        Exact like ``nearest``; rows the vectorised pass cannot certify fall back to it.
        """
        lons = np.asarray(lons, dtype=float)
        lats = np.asarray(lats, dtype=float)
        if not (np.isfinite(lons).all() and np.isfinite(lats).all()):
            raise ValidationError(Problem("lon/lat", "coordinates must be finite numbers"))
        if not self.size:
            raise ValidationError(Problem("registry", "no stations to search"))
        k = min(k, self.size)
        tree, _ = self._trees[None]
        fetch = min(self.size, k + 1)
        chord, pos = tree.query(unit_vectors(lons, lats), k=fetch)
        chord, pos = chord.reshape(len(lons), fetch), pos.reshape(len(lons), fetch)
        dist_k = np.empty((len(lons), k))
        for j in range(k):
            _, _, dist_k[:, j] = GEOD.inv(lons, lats, self.lon[pos[:, j]], self.lat[pos[:, j]])
        order = np.argsort(dist_k, axis=1, kind="stable")
        dist_out = np.take_along_axis(dist_k, order, axis=1)
        pos_out = np.take_along_axis(pos[:, :k], order, axis=1)
        # A row is certified when the first candidate not examined cannot beat its k-th
        # answer (then no farther one can); near-ties fall back to the single-query path.
        if fetch > k:
            next_arc = chord_to_arc_m(chord[:, k])
            unsure = np.flatnonzero(next_arc * (1 - SPHERE_ERROR) <= dist_out[:, -1])
        else:
            unsure = np.arange(0)
        for r in unsure:
            hits = self.nearest(lons[r], lats[r], k=k)
            dist_out[r] = [h.distance_m for h in hits]
            pos_out[r] = [h.position for h in hits]
        return dist_out, pos_out


def _bbox_area_m2(lon: np.ndarray, lat: np.ndarray) -> float:
    """Rough area (m²) of the points' lon/lat bounding box: sizes the first search ball."""
    height = np.radians(lat.max() - lat.min()) * EARTH_RADIUS_M
    width = np.radians(lon.max() - lon.min()) * EARTH_RADIUS_M * math.cos(math.radians(float(lat.mean())))
    return max(height * width, 1e6)


def _is_open(text: str, when: datetime) -> bool:
    try:
        return bool(parse_opening_hours(text).is_open(when))
    except ValueError:
        return False
