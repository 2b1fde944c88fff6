"""Exact k-nearest stations by geodesic distance, over a KD-tree built once per registry version.

How it stays exact and fast near the stations: stations are indexed by their Earth-centred
Cartesian coordinates (ECEF, metres on the WGS-84 ellipsoid) in a KD-tree (pykdtree: about
7 µs for one query where scipy's cKDTree spends ~40 µs in call overhead), which ranks them by
the straight-line *chord* through the Earth. No path along the surface is shorter than the
straight line, so a station's chord is a lower bound of its geodesic distance, and for
stations a few kilometres apart the two differ by under a millionth. Candidates come in
chord order; we compute geodesics (pyproj, Karney's algorithm) until the next chord
exceeds the k-th geodesic found, and widen the search until the farthest fetched chord
does. Usually that is k geodesics and one KD-tree query of k+1.

How it stays exact and fast far away: the chord falls behind the arc with distance
(s − c ≈ s³/24R²: 1 m at 100 km, 800 km from London), so from far outside the city almost
every station's chord is below the nearest geodesic and the chord certifies nothing. Beyond
``FAR_CHORD_M`` the query goes to a tree of *geodesic balls* (``GeodesicBallTree``), whose
certificate is the triangle inequality of the geodesic metric itself and so is exact at any
distance, the antipode and the poles included.
"""
from __future__ import annotations

import copy
import heapq
import math
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import numpy as np
import pandas as pd
from pykdtree.kdtree import KDTree
from threadpoolctl import threadpool_limits

from geo import schema
from geo.errors import Problem, ValidationError
from geo.hours import parse_opening_hours, to_local_naive
from geo.messages import Text, clipped
from geo.projection import GEOD, TO_ECEF, ecef_point
from geo.registry.backend import native_sleep, native_thread
from geo.registry.snapshot import distinct_objects, release_freed_memory

# Slack for rounding when a chord rules a station out: geodesics are good to ~15 nm and
# chords to ~1 nm, so a millimetre can never turn a right answer away.
ROUNDING_M = 1e-3
MAX_K = 100
# Filter masks kept per index: one bool per station each (200 KB at 200,000 stations).
ELIGIBLE_CACHE_ENTRIES = 32
AMENITY_BITS = {code: 1 << i for i, code in enumerate(schema.AMENITIES)}
# Beyond this chord to the nearest candidate the chord bound is looser than ~5 m and the
# geodesic ball tree answers instead (its cost does not grow with distance).
FAR_CHORD_M = 200_000.0
BALL_LEAF_SIZE = 16
#: a kind with more than this share of the stations uses the tree of all of them (its queries filter the
#: others out) instead of a tree of its own: at 200,000 stations, nearly all outdoor, ~20 MB per worker
SHARED_TREE_SHARE = 0.5
# Schur's comparison radius for WGS-84: the smallest radius of curvature of any central plane
# section of the ellipsoid, b²/a (6,335 km, a meridian at the equator).
_MIN_SECTION_RADIUS_M = GEOD.b * GEOD.b / GEOD.a

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
    """One answer: the station's row position in the indexed frame, its id and geodesic metres, and its
    position in the registry (``Snapshot.features``) when the index was built from one (else -1)."""

    position: int
    id: str
    distance_m: float
    row: int = -1


def ecef(lon, lat) -> np.ndarray:
    """WGS-84 degrees → Earth-centred Cartesian metres on the ellipsoid, shape (n, 3), C-contiguous."""
    lon = np.asarray(lon, dtype=float).ravel()
    lat = np.asarray(lat, dtype=float).ravel()
    x, y, z = TO_ECEF.transform(lon, lat, np.zeros_like(lon))
    return np.ascontiguousarray(np.column_stack([x, y, z]))


def amenity_bits(lists, codes: np.ndarray | None = None) -> np.ndarray:
    """``AMENITY_BITS`` OR-ed for each amenity list (0 for anything not a list); with ``codes``, for each
    station the bits of ``lists[code]``. Stations share their lists, so each distinct one is read once:
    pass the distinct lists and the codes (``StationTable.coded``), or a column of shared lists."""
    if codes is None:
        codes, lists = distinct_objects(lists)
    elif len(codes) < len(lists):  # a few stations (those a write touched): only the lists they use
        used, codes = np.unique(codes, return_inverse=True)
        lists = [lists[c] for c in used.tolist()]
    bits = np.array([sum(AMENITY_BITS.get(a, 0) for a in v) if isinstance(v, list) else 0 for v in lists], dtype=np.int64)
    return bits[codes] if len(codes) else np.zeros(0, dtype=np.int64)


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
        if isinstance(stations, StationArrays):
            columns = stations
        else:  # a GeoDataFrame
            columns = StationArrays(stations.geometry.x.to_numpy(dtype=float), stations.geometry.y.to_numpy(dtype=float),
                                    stations["id"].to_numpy(dtype=object), stations["kind"].to_numpy(dtype=object),
                                    stations["amenities"].tolist(), stations["opening_hours"].tolist())
        self.size = len(columns.lon)
        self.registry_positions = columns.positions if columns.positions is not None else np.arange(self.size)
        self._rows = columns.positions  # each station's registry position, for the hits (None: built from a frame)
        self._excluded: np.ndarray | None = None
        self.lon = np.ascontiguousarray(columns.lon, dtype=float)
        self.lat = np.ascontiguousarray(columns.lat, dtype=float)
        self.ids = columns.ids
        # Stations share their amenity lists and hours texts (see geo.registry.snapshot): work out
        # each distinct one once (from the registry's codes when it gives them).
        coded = columns.coded or {}
        self.amenity_bits = amenity_bits(*coded["amenities"][::-1]) if "amenities" in coded else amenity_bits(columns.amenities)
        which, hours = coded.get("opening_hours", (None, columns.hours))
        codes, texts = pd.factorize(np.array([h if isinstance(h, str) else "" for h in hours], dtype=object))
        self.hours_text, self.hours_code = texts.tolist(), codes if which is None else codes[which]
        self._open_state_cache: dict[datetime, list[bool]] = {}
        self._eligible_cache: dict[tuple, tuple[np.ndarray, float]] = {}
        # One tree over everything plus one per kind, so a query for the 15 childcare
        # classes does not wade through 2,340 outdoor stations.
        self._trees: dict[str | None, tuple[KDTree, np.ndarray]] = {}
        #: kind -> which stations are of it (bool by position), for a kind that uses the tree of all stations
        self._kind_masks: dict[str, np.ndarray] = {}
        if self.size:
            xyz = ecef(self.lon, self.lat)
            if "kind" in coded:
                which, kinds = coded["kind"]
                present = sorted({kinds[c] for c in np.unique(which).tolist()}, key=str)
                groups = {None: np.arange(self.size)} | {
                    k: np.flatnonzero(np.isin(which, [c for c, v in enumerate(kinds) if v == k])) for k in present}
            else:
                groups = {None: np.arange(self.size)} | {k: np.flatnonzero(columns.kinds == k) for k in np.unique(columns.kinds)}
            for kind, positions in groups.items():
                if kind is not None and len(positions) > SHARED_TREE_SHARE * self.size:
                    # Most stations are of this kind: its queries use the tree of all of them with the
                    # others filtered out, rather than a second tree (and ball tree) nearly as big.
                    self._trees[kind] = self._trees[None]
                    self._kind_masks[kind] = mask = np.zeros(self.size, dtype=bool)
                    mask[positions] = True
                else:
                    self._trees[kind] = (KDTree(np.ascontiguousarray(xyz[positions])), positions)
        # Per kind: a sphere (centre, radius in ECEF metres) holding its stations, which tells a
        # far query before the KD-tree is asked (a KD-tree cannot prune when every station is
        # about equally far, e.g. from the antipode), and the geodesic ball tree that answers it.
        # The ball trees are built when first needed (or by ``warm`` in the background): riders'
        # queries never need them, and at 200,000 stations they are most of the build.
        self._spheres: dict[str | None, tuple[tuple[float, float, float], float]] = {}
        self._ball_trees: dict[str | None, GeodesicBallTree] = {}
        for kind, (_, positions) in self._trees.items():
            pts = xyz[positions if kind not in self._kind_masks else self._kind_masks[kind]]
            centre = pts.mean(axis=0)
            self._spheres[kind] = (tuple(centre.tolist()), float(np.sqrt(((pts - centre) ** 2).sum(axis=1)).max()))

    def excluding(self, excluded: np.ndarray) -> NearestIndex:
        """This index without the stations at ``excluded`` (bool by position); trees shared, not copied."""
        view = copy.copy(self)
        view._excluded = excluded
        view._open_state_cache, view._eligible_cache = {}, {}
        return view

    def ball_tree(self, kind: str | None) -> GeodesicBallTree:
        """The geodesic ball tree over ``kind``'s stations (all of them for ``None``), built once.

        No lock: two threads may both build it, one result is kept (and a forked worker never
        waits on a lock its parent held)."""
        if kind in self._kind_masks:  # shares the tree of all stations (its queries filter the others out)
            kind = None
        tree = self._ball_trees.get(kind)
        if tree is None:
            positions = self._trees[kind][1]
            lon, lat = self.lon[positions], self.lat[positions]
            tree = self._ball_trees.setdefault(kind, GeodesicBallTree(ecef(lon, lat), lon, lat))
        return tree

    def build_ball_trees(self) -> None:
        for kind in list(self._trees):
            if kind not in self._kind_masks:
                self.ball_tree(kind)

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
        filtered = bool(bits) or minute is not None or self._excluded is not None or kind in self._kind_masks
        tree, tree_positions = self._trees[kind]
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
        point = ecef_point(lon, lat)
        centre, reach = self._spheres[kind]
        if math.dist(point, centre) - reach > FAR_CHORD_M:
            return self._nearest_far(lon, lat, k, kind, eligible if filtered else None)
        query = np.array([point])
        while True:
            chord, local = tree.query(query, k=fetch)
            chord, local = chord.ravel(), local.ravel()
            if chord[0] > FAR_CHORD_M:
                return self._nearest_far(lon, lat, k, kind, eligible if filtered else None)
            farthest_fetched = float(chord[-1])
            if filtered:
                keep = eligible[local]
                chord, local = chord[keep], local[keep]
            hits = self._rank_exact(lon, lat, chord.tolist(), tree_positions[local], k)
            # Complete when every station not fetched (each at least as far as the last
            # chord, and its geodesic longer still) is farther than the k-th answer.
            if fetch >= n or (len(hits) == k and farthest_fetched > hits[-1].distance_m + ROUNDING_M):
                return hits
            fetch = min(n, fetch * 4)

    def _nearest_far(self, lon, lat, k, kind, eligible) -> list[NearestHit]:
        """Far from every station the chord certifies nothing: geodesic balls do."""
        positions = self._trees[kind][1]
        found = self.ball_tree(kind).nearest(lon, lat, k, eligible)
        return [self._hit(p, d) for d, p in ((d, int(positions[i])) for d, i in found)]

    def _eligible(self, kind: str | None, bits: int, minute: datetime | None) -> tuple[np.ndarray, float]:
        """Which stations of ``kind``'s tree pass the filters (by position in the tree), and their share.

        Vectorised over the whole index once per (kind, amenities, minute): opening hours
        change at most once a minute, and a query then filters its candidates with one
        array lookup instead of a Python test per candidate.
        """
        key = (kind, bits, minute)
        cached = self._eligible_cache.get(key)
        if cached is None:
            ok = np.ones(self.size, dtype=bool) if self._excluded is None else ~self._excluded
            if kind in self._kind_masks:
                ok &= self._kind_masks[kind]
            if bits:
                ok &= (self.amenity_bits & bits) == bits
            if minute is not None:
                ok &= np.asarray(self.open_state(minute), dtype=bool)[self.hours_code]
            eligible = ok[self._trees[kind][1]]
            if len(self._eligible_cache) >= ELIGIBLE_CACHE_ENTRIES:
                self._eligible_cache.clear()
            cached = self._eligible_cache[key] = (eligible, float(eligible.mean()) if len(eligible) else 0.0)
        return cached

    def _rank_exact(self, lon, lat, chords: list[float], positions: np.ndarray, k) -> list[NearestHit]:
        """The k geodesically nearest of the stations at ``positions``, whose ``chords`` are sorted.

        A candidate whose chord exceeds the k-th geodesic so far cannot be nearer (its
        geodesic is longer than its chord), and neither can any after it: pyproj's scalar
        geodesic (~1.6 µs) runs only for the others. A candidate's coordinates are read with
        ``item`` (~0.1 µs; lists of every station's floats were 16 MB per worker).
        """
        station_lon, station_lat, at = self.lon.item, self.lat.item, positions.item
        ranked: list[tuple[float, int]] = []
        for j, chord in enumerate(chords):
            if len(ranked) >= k and chord > ranked[k - 1][0] + ROUNDING_M:
                break
            p = at(j)
            ranked.append((GEOD.inv(lon, lat, station_lon(p), station_lat(p))[2], p))
            ranked.sort()
        return [self._hit(p, d) for d, p in ranked[:k]]

    def _hit(self, p: int, distance_m: float) -> NearestHit:
        return NearestHit(p, self.ids[p], distance_m, -1 if self._rows is None else self._rows.item(p))

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
        tree, _ = self._trees[None]
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


def chord_to_max_geodesic(chord_m):
    """An upper bound (metres) of the geodesic between two WGS-84 points ``chord_m`` apart.

    Proof. The plane through both points and the Earth's centre cuts the ellipsoid in an
    ellipse whose semi-axes a', b' satisfy b ≤ b' ≤ a' ≤ a, so its curvature is at most
    a'/b'² ≤ a/b² = 1/r with r = b²/a. The shorter arc of that ellipse joins the points on the
    surface, so the geodesic is no longer than it. By Schur's comparison theorem a plane arc
    of length L ≤ πr whose curvature never exceeds 1/r has a chord of at least
    2r·sin(L/2r), hence L ≤ 2r·asin(c/2r). Valid for chords up to 2r (12,670 km); the tree
    only asks it about balls a few hundred kilometres across at most, and answers the full
    half-ellipse (≤ πa) beyond that.
    """
    chord = np.asarray(chord_m, dtype=float)
    r = _MIN_SECTION_RADIUS_M
    bound = 2.0 * r * np.arcsin(np.minimum(chord / (2.0 * r), 1.0))
    return np.where(chord < 2.0 * r, bound * (1.0 + 1e-12) + ROUNDING_M, math.pi * GEOD.a)


class GeodesicBallTree:
    """Exact nearest search by geodesic distance whose cost does not depend on where the query is.

    Each node is a ball on the ellipsoid: a centre on the surface and a radius ρ no
    smaller than the geodesic from the centre to any member (``chord_to_max_geodesic`` of
    the largest chord). For a query point q and any member m the triangle inequality of the
    geodesic metric gives s(q, m) ≥ s(q, centre) − ρ, exactly, at any distance. The search is
    best-first on that bound and stops when the next bound exceeds the k-th geodesic found:
    from London, the antipode or a pole it visits the few balls along the front of the
    stations facing the query, like a city query does around its point (about 40–80
    geodesics, tens of microseconds, at 2,458 to 200,000 stations).

    A second certificate covers what balls do badly, a long straight front of near-ties (from
    a pole every station at the same latitude is equally far): the meridian distance from the
    equator, g(p) = M(φ), changes along any path no faster than the path's length (the
    squared speed on the ellipsoid is (M dφ)² + (N cos φ dλ)² ≥ (M dφ)²), so
    s(q, m) ≥ |g(q) − g(m)|, exact for two points on one meridian. Each node keeps the range
    of g over its members and its bound is the larger of the two.

    Nodes split at the median of their widest ECEF axis, so balls are compact; a ball's
    centre is the surface point under its members' mean. The build is vectorised a level at
    a time (about 0.3 s at 200,000 stations) and needs one meridian distance per station
    and otherwise chords only.
    """

    def __init__(self, xyz: np.ndarray, lon: np.ndarray, lat: np.ndarray, leaf_size: int = BALL_LEAF_SIZE):
        n = len(xyz)
        self.geodesics = 0  # geodesics computed by queries so far (for tests and benchmarks)
        # A complete binary tree in heap order (children of i: 2i+1, 2i+2). Each level halves
        # every node, so all leaves sit on the last level, each a slice of ``order``.
        depth = 0
        while n and -(-n // (1 << depth)) > leaf_size:
            depth += 1
        self.first_leaf = (1 << depth) - 1
        order = np.arange(n)
        bounds = np.array([0, n])
        merid_all = meridian_distance(lat) if n else np.empty(0)
        centre_lon, centre_lat, radius, merid_low, merid_high = [], [], [], [], []
        for level in range(depth + 1 if n else 0):
            starts = bounds[:-1]
            segment = np.repeat(np.arange(len(starts)), np.diff(bounds))
            pts = xyz[order]
            # Centre: the surface point under the members' mean; radius: Schur's bound of the
            # largest chord from it.
            sums = np.add.reduceat(pts, starts, axis=0)
            mean = sums / np.diff(bounds)[:, None]
            c_lon, c_lat, _ = TO_ECEF.transform(mean[:, 0], mean[:, 1], mean[:, 2], direction="INVERSE")
            c_xyz = ecef(c_lon, c_lat)
            chord = np.sqrt(((pts - c_xyz[segment]) ** 2).sum(axis=1))
            centre_lon += np.asarray(c_lon).tolist()
            centre_lat += np.asarray(c_lat).tolist()
            radius += chord_to_max_geodesic(np.maximum.reduceat(chord, starts)).tolist()
            merid = merid_all[order]
            merid_low += np.minimum.reduceat(merid, starts).tolist()
            merid_high += np.maximum.reduceat(merid, starts).tolist()
            if level == depth:
                break
            # Split every node at the median of its widest ECEF axis.
            spread = np.maximum.reduceat(pts, starts, axis=0) - np.minimum.reduceat(pts, starts, axis=0)
            axis = np.argmax(spread, axis=1)
            # One argsort for every node at once: the node number plus the member's place on
            # its node's axis scaled into [0, 0.5].
            low = np.minimum.reduceat(pts, starts, axis=0)[np.arange(len(starts)), axis]
            width = np.maximum(spread[np.arange(len(starts)), axis], 1e-9)
            key = pts[np.arange(n), axis[segment]]
            key = segment + 0.5 * (key - low[segment]) / width[segment]
            order = order[np.argsort(key, kind="stable")]
            halves = starts + np.diff(bounds) // 2
            bounds = np.append(np.column_stack([starts, halves]).ravel(), n)
        self.centre_lon, self.centre_lat, self.radius = centre_lon, centre_lat, radius
        self.merid_low, self.merid_high = merid_low, merid_high
        self.leaf_bounds = bounds.tolist()
        self.order = order
        self.order_lon = np.ascontiguousarray(lon[order]) if n else np.empty(0)
        self.order_lat = np.ascontiguousarray(lat[order]) if n else np.empty(0)
        self.order_merid = merid_all[order] if n else np.empty(0)

    def _bound(self, node: int, lon: float, lat: float, g: float) -> float:
        """A lower bound (metres) of the geodesic from (lon, lat) to every member of ``node``."""
        ball = GEOD.inv(lon, lat, self.centre_lon[node], self.centre_lat[node])[2] - self.radius[node]
        return max(ball, self.merid_low[node] - g, g - self.merid_high[node])

    def nearest(self, lon: float, lat: float, k: int, eligible: np.ndarray | None = None) -> list[tuple[float, int]]:
        """The k nearest ``(geodesic metres, tree-local index)``, nearest first.

        ``eligible`` (bool per tree-local index) drops stations that fail the filters.
        """
        if not self.radius:
            return []
        g = float(meridian_distance(np.array([lat]))[0])
        best: list[tuple[float, int]] = []  # max-heap by distance: (-distance, index)
        frontier = [(self._bound(0, lon, lat, g), 0)]
        evaluated = 1
        while frontier:
            bound, node = heapq.heappop(frontier)
            kth = -best[0][0] + ROUNDING_M if len(best) == k else math.inf
            if bound > kth:
                break
            if node < self.first_leaf:
                for child in (2 * node + 1, 2 * node + 2):
                    heapq.heappush(frontier, (self._bound(child, lon, lat, g), child))
                evaluated += 2
                continue
            leaf = node - self.first_leaf
            lo, hi = self.leaf_bounds[leaf], self.leaf_bounds[leaf + 1]
            members = self.order[lo:hi]
            # Members whose meridian bound already exceeds the k-th answer need no geodesic.
            keep = np.abs(self.order_merid[lo:hi] - g) <= kth
            if eligible is not None:
                keep &= eligible[members]
            if not keep.any():
                continue
            members, mlon, mlat = members[keep], self.order_lon[lo:hi][keep], self.order_lat[lo:hi][keep]
            n = len(members)
            _, _, dist = GEOD.inv(np.full(n, lon), np.full(n, lat), mlon, mlat)
            evaluated += n
            for d, i in zip(dist.tolist(), members.tolist(), strict=True):
                if len(best) < k:
                    heapq.heappush(best, (-d, i))
                elif d < -best[0][0]:
                    heapq.heapreplace(best, (-d, i))
        self.geodesics += evaluated
        return sorted((-nd, i) for nd, i in best)


def meridian_distance(lat) -> np.ndarray:
    """Signed metres along a meridian from the equator to each latitude (degrees), WGS-84."""
    lat = np.asarray(lat, dtype=float)
    zeros = np.zeros_like(lat)
    _, _, dist = GEOD.inv(zeros, zeros, zeros, lat)
    return np.copysign(np.asarray(dist, dtype=float), lat)


def _is_open(text: str, when: datetime) -> bool:
    try:
        return bool(parse_opening_hours(text).is_open(when))
    except ValueError:
        return False


@dataclass(frozen=True)
class StationArrays:
    """What a ``NearestIndex`` is built from: one item per station in each."""

    lon: np.ndarray
    lat: np.ndarray
    ids: np.ndarray
    kinds: np.ndarray | None  # None with ``coded``
    amenities: list | None
    hours: list | None
    #: each station's position in the registry (``Snapshot.features``), ascending
    positions: np.ndarray | None = None
    #: name -> (code per station, distinct values) for ``kind``, ``amenities`` and ``opening_hours``, in place
    #: of the lists (the registry's ``StationTable.coded``)
    coded: dict | None = None


def active_arrays(snapshot, among: np.ndarray | None = None) -> StationArrays:
    """The active stations of a snapshot (only those at registry positions ``among``, if given),
    straight from its columns (no GeoDataFrame)."""
    table = snapshot.table
    active = np.flatnonzero(table.equals("status", "active")) if among is None else among[table.equals("status", "active", among)]
    coded = {name: (table.codes[name][active], table.values[name]) for name in ("kind", "amenities", "opening_hours")}
    return StationArrays(table.lon[active], table.lat[active], table.take_texts("id", active), None, None, None, active, coded)


#: a carried index is replaced by a full one once this many stations were written since the last
#: full build, or once the registry has been quiet for ``REBUILD_QUIET_S``
REBUILD_AFTER_WRITTEN = 2_000
REBUILD_QUIET_S = 5.0


class CarriedIndex:
    """A full ``NearestIndex`` of an earlier version plus the stations written since, exactly.

    A write on one server must show on every server within a second, and rebuilding the
    index of 200,000 stations takes one or two. So the next version keeps the previous
    index, masks out the stations written since (``excluded``), and indexes those that are
    active now in a small index beside it; each query asks both and merges the two answers.
    A full index replaces it off the request path (``warm``).
    """

    def __init__(self, base: NearestIndex, excluded: np.ndarray, written: np.ndarray, snapshot):
        self.base, self.excluded, self.written = base, excluded, written
        self.base_view = base.excluding(excluded)
        self.extra = NearestIndex(active_arrays(snapshot, written))
        self.size = self.base_view.size - int(excluded.sum()) + self.extra.size

    @classmethod
    def after(cls, previous, snapshot) -> CarriedIndex:
        """``previous`` (a NearestIndex or CarriedIndex of the version before) carried to ``snapshot``."""
        base = previous.base if isinstance(previous, CarriedIndex) else previous
        written = snapshot.touched if not isinstance(previous, CarriedIndex) else np.union1d(previous.written, snapshot.touched)
        excluded = np.zeros(base.size, dtype=bool)
        registry = base.registry_positions
        at = np.searchsorted(registry, written)
        inside = at < base.size
        found = at[inside][registry[at[inside]] == written[inside]]
        excluded[found] = True
        return cls(base, excluded, written, snapshot)

    def nearest(self, lon, lat, k: int = 5, kind: str | None = None, amenities=(), open_at=False) -> list[NearestHit]:
        hits = self.base_view.nearest(lon, lat, k, kind, amenities, open_at)
        extra = [NearestHit(self.base.size + h.position, h.id, h.distance_m, h.row)
                 for h in self.extra.nearest(lon, lat, k, kind, amenities, open_at)]
        return sorted(hits + extra, key=lambda h: h.distance_m)[:k]


def index_for(snapshot) -> NearestIndex:
    """The nearest index of a registry snapshot's active stations, built once per version."""
    return snapshot.cached("nearest_index", lambda: NearestIndex(active_arrays(snapshot)))


def warm(snapshot) -> None:
    """Make ``snapshot``'s nearest index before it is served: carried from the previous version when
    only a few stations were written since (milliseconds), else built in full.

    A carried index is replaced by a full one in a background thread once many stations were
    written or the registry has been quiet a while, so queries never wait for that build."""
    previous = snapshot.previous_derived.get("nearest_index") if snapshot.previous_derived else None
    if previous is None or snapshot.touched is None or "nearest_index" in vars(snapshot).get("derived", {}):
        _full_index(snapshot)
        return
    carried = CarriedIndex.after(previous, snapshot)
    if len(carried.written) > REBUILD_AFTER_WRITTEN:
        _full_index(snapshot)
        return
    vars(snapshot).setdefault("derived", {})["nearest_index"] = carried
    # The thread waits holding no version: under a write a second, five of them (37 MB each at
    # 200,000 stations) were kept alive by their sleeping threads alone.
    held = weakref.ref(snapshot)

    def rebuild():
        native_sleep(REBUILD_QUIET_S)
        snapshot = held()
        if snapshot is not None and not snapshot.superseded:  # else a newer version carries this one on
            index = NearestIndex(active_arrays(snapshot))
            index.build_ball_trees()
            snapshot.derived["nearest_index"] = index
            del snapshot, index
            release_freed_memory()  # the carried index and its masks, dropped

    native_thread(rebuild, "stationmap-nearest-rebuild").start()


def _full_index(snapshot) -> None:
    """Build the index now; its ball trees (for queries far from every station) follow in the background."""
    index = index_for(snapshot)
    if isinstance(index, NearestIndex):
        native_thread(index.build_ball_trees, "stationmap-ball-trees").start()
