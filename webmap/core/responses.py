"""HTTP responses for the JSON API: compact UTF-8 bodies, ETags and conditional GETs, gzip, and a small per-app body cache.

Registry-derived bodies (station lists, coverage, gaps) depend only on the registry's
content and the query, so their ETag is a hash of both; a client that already has the
version gets ``304 Not Modified`` before anything is computed, and a repeated query is
served from the cache, already compressed. Bodies never contain ``NaN`` or ``Infinity``
(``allow_nan=False``: a non-finite number is a bug and fails loudly in tests).
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from threading import Lock

import numpy as np
import pandas as pd
from flask import Response, current_app, request

from geo.registry.snapshot import ASCII_COLUMNS, AsciiColumn, cached_on
from webmap.core.compress import MIN_BYTES as GZIP_MIN_BYTES
from webmap.core.compress import accepts_gzip, gzip_bytes

# Bump when the shape of any cached body changes, so old ETags stop matching.
API_REVISION = "1"
# Cached bodies are compressed once, so hard; per-request bodies (nearest) lightly, to spare the CPU.
GZIP_LEVEL_CACHED = 6
GZIP_LEVEL_LIVE = 1
# A per-request body is compressed only when it is larger than TCP's initial congestion
# window (10 segments of 1,460 bytes, RFC 6928): a smaller one arrives in the first round
# trip either way, so compressing it would cost server time and save the phone nothing.
GZIP_MIN_BYTES_LIVE = 10 * 1460
CACHE_ENTRIES = 64
CACHE_BYTES = 64 * 1024 * 1024
EXTENSION = "stationmap.api_bodies"

GEOJSON = "application/geo+json"
JSON = "application/json"
CSV = "text/csv"


# One encoder for the process: json.dumps with options builds a new one on every call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def dumps(data) -> str:
    """Compact JSON text, non-ASCII kept as UTF-8, ``NaN`` refused."""
    return _ENCODER.encode(data)


class Body:
    """Encoded bytes of one response with its gzip form, made on first need."""

    __slots__ = ("data", "mimetype", "_gzipped", "level", "gzip_from")

    def __init__(self, data: bytes, mimetype: str = JSON, level: int = GZIP_LEVEL_LIVE,
                 gzip_from: int = GZIP_MIN_BYTES_LIVE):
        self.data, self.mimetype, self.level, self._gzipped = data, mimetype, level, None
        self.gzip_from = gzip_from  # compress from this many bytes on

    def gzipped(self) -> bytes:
        if self._gzipped is None:
            self._gzipped = gzip_bytes(self.data, self.level)
        return self._gzipped

    @property
    def size(self) -> int:
        return len(self.data) + len(self._gzipped or b"")


class BodyCache:
    """Least-recently-used bodies by ETag, bounded by count and total bytes; thread-safe."""

    def __init__(self, entries: int = CACHE_ENTRIES, max_bytes: int = CACHE_BYTES):
        self.entries, self.max_bytes = entries, max_bytes
        self._items: OrderedDict[str, Body] = OrderedDict()
        self._lock = Lock()

    def get(self, key: str) -> Body | None:
        with self._lock:
            body = self._items.get(key)
            if body is not None:
                self._items.move_to_end(key)
            return body

    def put(self, key: str, body: Body) -> Body:
        if len(body.data) > self.max_bytes // 4:  # one giant list must not flush everything else
            return body
        with self._lock:
            self._items[key] = body
            self._items.move_to_end(key)
            total = sum(b.size for b in self._items.values())
            while len(self._items) > 1 and (len(self._items) > self.entries or total > self.max_bytes):
                _, dropped = self._items.popitem(last=False)
                total -= dropped.size
        return body


def body_cache() -> BodyCache:
    return current_app.extensions.setdefault(EXTENSION, BodyCache())


def snapshot_fingerprint(snapshot) -> str:
    """A short hash of what a snapshot's answers depend on; cached on it.

    Its version, each station's id, edit time, status and position (``RowHashes``, summed), and
    the district map (whose boundaries and census figures coverage reports use).
    """

    def build() -> str:
        digest = hashlib.blake2b(str(snapshot.version).encode(), digest_size=12)
        digest.update(districts_fingerprint(snapshot.districts).encode())
        digest.update(snapshot.cached("row_hashes", lambda: RowHashes(snapshot.table)).total())
        return digest.hexdigest()

    return cached_on(snapshot, "fingerprint", build)


class RowHashes:
    """Per station two 64-bit hashes of its id, edit time, status and position (pandas' keyed
    SipHash, the same in every process), and their sums: the registry's part of the fingerprint.

    Hashed in C from the columns (200,000 stations in ~0.1 s), carried across a write by hashing
    only the stations written, and 3 MB where lines of text per station were 20 MB."""

    _KEYS = ("stationmap-etag-1", "stationmap-etag-2")
    _FIELDS = ("id", "updated_at", "status")

    def __init__(self, table, hashes: np.ndarray | None = None):
        self.hashes = self.of(table) if hashes is None else hashes

    @classmethod
    def of(cls, table, rows: np.ndarray | None = None) -> np.ndarray:
        pick = (lambda a: a) if rows is None else (lambda a: a[rows])
        out = np.zeros((len(pick(table.lon)), 2), dtype=np.uint64)
        texts = lambda values: np.array([v if isinstance(v, str) else "" for v in values], dtype=object)  # noqa: E731
        columns = []  # (values hashed, the code of each station into them or None)
        for name in cls._FIELDS:
            if name in table.codes:  # a shared property: each distinct value hashed once
                codes, values = table.coded(name)
                columns.append((texts(values), pick(codes)))
            elif name in ASCII_COLUMNS:  # from its bytes, no str per station
                columns.append((_ascii_words(table.own_column(name) if rows is None else AsciiColumn.of(table.take(name, rows))), None))
            else:
                columns.append((texts((table.column(name) if rows is None else table.take(name, rows)).tolist()), None))
        columns += [(pick(table.lon).view(np.uint64), None), (pick(table.lat).view(np.uint64), None)]
        with np.errstate(over="ignore"):
            for k, key in enumerate(cls._KEYS):
                for j, (column, codes) in enumerate(columns):
                    h = pd.util.hash_array(column, hash_key=key.ljust(16)[:16], categorize=False)
                    out[:, k] ^= (h if codes is None else h[codes]) * np.uint64(2 * j + 1) + np.uint64(j)
        return out

    def total(self) -> bytes:
        with np.errstate(over="ignore"):
            return self.hashes.sum(axis=0, dtype=np.uint64).tobytes()

    def carried_to(self, snapshot) -> RowHashes:
        touched = snapshot.touched
        hashes = np.zeros((len(snapshot), 2), dtype=np.uint64)
        hashes[: len(self.hashes)] = self.hashes
        if len(touched):
            hashes[touched] = self.of(snapshot.table, touched)
        return RowHashes(snapshot.table, hashes)


def _ascii_words(column) -> np.ndarray:
    """One uint64 per value of an ``AsciiColumn``, the same however wide its bytes are held: the bytes
    zero-padded to ``AsciiColumn.WIDEST`` and folded a word at a time; a value kept beside the bytes
    from its type and text."""
    raw = column.raw
    padded = np.zeros((len(raw), -(-AsciiColumn.WIDEST // 8) * 8), dtype=np.uint8)
    padded[:, : raw.dtype.itemsize] = raw.view(np.uint8).reshape(len(raw), raw.dtype.itemsize)
    words = padded.view(np.uint64)
    out = np.zeros(len(raw), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(words.shape[1]):
            out = out * np.uint64(0x100000001B3) + words[:, j]
    for i, value in column.others.items():
        out[i] = int.from_bytes(hashlib.blake2b(f"{type(value).__name__}:{value}".encode(), digest_size=8).digest(), "little")
    return out


def districts_fingerprint(districts) -> str:
    """A short hash of the district layer (codes, names, population, outlines); cached on it."""

    def build() -> str:
        frame = districts.frame
        digest = hashlib.blake2b(digest_size=12)
        digest.update(dumps(frame[["adcode", "name_zh", "name_en", "population_2020"]].astype(str).values.tolist()).encode())
        for geometry in frame.geometry:
            digest.update(geometry.wkb)
        return digest.hexdigest()

    return cached_on(districts, "fingerprint", build)


def query_etag(*parts) -> str:
    """A weak ETag for this request's path and query plus ``parts`` (e.g. the snapshot fingerprint)."""
    query = sorted((k, v) for k, values in request.args.lists() for v in values)
    digest = hashlib.blake2b(dumps([API_REVISION, request.path, query, *map(str, parts)]).encode(), digest_size=12)
    return f'W/"{digest.hexdigest()}"'


def not_modified(etag: str, cache_control: str) -> Response | None:
    """A 304 if the client already holds ``etag``, else ``None``."""
    if request.if_none_match and request.if_none_match.contains_weak(etag.removeprefix("W/").strip('"')):
        response = Response(status=304)
        response.headers["ETag"] = etag
        response.headers["Cache-Control"] = cache_control
        response.vary.add("Accept-Encoding")
        return response
    return None


def cached(etag: str, cache_control: str, build, *, download: str | None = None) -> Response:
    """Serve ``build()`` (→ ``Body``) under ``etag``: 304 if the client has it, from the cache if we do."""
    response = not_modified(etag, cache_control)
    if response is not None:
        return response
    cache = body_cache()
    body = cache.get(etag)
    if body is None:
        body = build()
        body.level, body.gzip_from = GZIP_LEVEL_CACHED, GZIP_MIN_BYTES
        cache.put(etag, body)
    response = send(body, cache_control, download=download)
    response.headers["ETag"] = etag
    return response


class EncodedResponse(Response):
    """A response whose gzip encoding, or its absence, ``encode_for_client`` chose (``compress`` leaves it be)."""

    encoding_chosen = True


def send(body: Body, cache_control: str, *, status: int = 200, download: str | None = None) -> Response:
    """A response for ``body``, gzip-encoded when the client accepts it and it is worth it."""
    data, headers, content_type = encode_for_client(body, cache_control, request.headers.get("Accept-Encoding", ""),
                                                    download=download)
    return EncodedResponse(data, status=status, headers=headers, content_type=content_type)


def encode_for_client(body: Body, cache_control: str, accept_encoding: str, *, download: str | None = None):
    """The bytes, headers and Content-Type to send ``body`` to a client with this ``Accept-Encoding``."""
    data = body.data
    headers = {"Cache-Control": cache_control}
    if len(data) >= body.gzip_from:
        headers["Vary"] = "Accept-Encoding"
        if accepts_gzip(accept_encoding):
            data = body.gzipped()
            headers["Content-Encoding"] = "gzip"
    if download:
        headers["Content-Disposition"] = f'attachment; filename="{download}"'
    return data, headers, body.mimetype + ("; charset=utf-8" if body.mimetype == CSV else "")


def json_body(data, mimetype: str = JSON) -> Body:
    return Body(dumps(data).encode("utf-8"), mimetype)


def send_json(data, cache_control: str, mimetype: str = JSON) -> Response:
    """Send ``data`` as compact UTF-8 JSON (not cached)."""
    return send(json_body(data, mimetype), cache_control)
