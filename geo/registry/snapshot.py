"""One version of the registry: immutable stations held as columns, a GeoDataFrame view, and a
cache for what is derived from it (indexes, coverage) so that each is built once per version.

Stations are kept as columns (``StationTable``) rather than as 200,000 GeoJSON dicts: a value
that repeats (a district, an operator, opening hours, an amenity list) is held once, with an
int32 code per station, and a Feature dict is made only when somebody asks for that station.

The queries attach their own indexes through ``Snapshot.cached``; storage never imports them.
A derived value with a ``carried_to(snapshot)`` method follows a write to the next version
(``Snapshot.with_changes``), recomputing only what the stations written touch; what is encoded
per station (a station's JSON) is kept in a ``Snapshot.memo`` and handed on the same way.
"""

from __future__ import annotations

import copy
import ctypes
import gc
import json
import threading
from collections.abc import Mapping, Sequence
from functools import cached_property

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.dtypes import StringDType

from geo import schema
from geo.districts import Districts
from geo.errors import NotFoundError
from geo.messages import Text


class _Missing:
    """A property the station does not have (distinct from an explicit JSON ``null``)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __reduce__(self):
        return (_Missing, ())

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING = _Missing()

#: properties whose values repeat across stations: each distinct value is held once
SHARED = frozenset({"kind", "district_adcode", "district", "operator", "opening_hours", "amenities", "honours",
                    "status", "source", "listing", "verified_at"})
_LISTS = frozenset(name for name, (_, kind, _) in schema.PROPERTIES.items() if kind is list)


def release_freed_memory() -> None:
    """Hand the heap memory a bulk load freed back to the system (glibc's ``malloc_trim``; elsewhere nothing).

    Reading 200,000 stations allocates and drops far more than it keeps; without this the
    process stays tens of megabytes larger than what it holds."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def cached_on(holder, name, build):
    """``build()`` once per immutable ``holder`` (a snapshot, a district map), kept in its ``derived`` dict.

    Anything computed from an immutable object stays valid for its lifetime and is dropped
    with it. Two threads may both build; one result wins, both are equal.
    """
    store = vars(holder).setdefault("derived", {})
    value = store.get(name)
    if value is None:
        value = store.setdefault(name, build())
    return value


class StationMemo:
    """``encode(feature)`` of the stations somebody asked for, made on first use and kept (a bounded
    number): what a rider's answer needs for its five stations, without encoding all 200,000 up front.

    The next version (``carried_to``) takes the values over and drops the stations its write
    touched: a cost in the size of the write, not of the memo. The version left behind still
    answers its in-flight requests, encoding each station afresh.
    """

    #: stations held at most (~15 MB of JSON per language); past that the memo starts again
    LIMIT = 20_000

    def __init__(self, table: StationTable, encode, values: dict | None = None):
        self.table, self.encode = table, encode
        self._values: dict[int, object] = {} if values is None else values
        self._lock = threading.Lock()
        self._handed_on = False

    def get(self, i: int):
        value = None if self._handed_on else self._values.get(i)  # handed on: the values are the next version's
        if value is None:
            value = self.encode(self.table.feature(i))
            with self._lock:
                if not self._handed_on:
                    if len(self._values) >= self.LIMIT:
                        self._values.clear()
                    self._values[i] = value
        return value

    def carried_to(self, snapshot) -> StationMemo:
        if snapshot.touched is None:
            return StationMemo(snapshot.table, self.encode)
        with self._lock:
            self._handed_on = True
            values = self._values
            for i in snapshot.touched.tolist():
                values.pop(i, None)
        return StationMemo(snapshot.table, self.encode, values)


def distinct_objects(column) -> tuple[np.ndarray, list]:
    """(each station's index into the distinct objects, those objects) of an object column.

    A ``Snapshot`` holds a value many stations share (an amenity list, a listing) as one object,
    so telling them apart by identity, hashed in C, finds the few distinct values of 200,000
    stations without comparing lists or dicts."""
    column = column if isinstance(column, np.ndarray) else object_array(column, len(column))  # a list of lists stays 1-D
    if not len(column):
        return np.zeros(0, dtype=np.int64), []
    codes, _ = pd.factorize(np.fromiter(map(id, column), dtype=np.int64, count=len(column)))
    _, first = np.unique(codes, return_index=True)
    return codes, column[first].tolist()


def object_array(values, n: int | None = None) -> np.ndarray:
    """A 1-D object array of ``values`` (a list value stays one item), ``n`` of them (default: ``len(values)``)."""
    array = np.empty(len(values) if n is None else n, dtype=object)
    for i, v in enumerate(values):  # element-wise: numpy would broadcast a list value into the slot
        array[i] = v
    return array


def _key(value):
    """A hashable stand-in for a property value: equal values (lists and objects by their JSON) share it."""
    if isinstance(value, str):
        return value
    if value is MISSING:
        return ("missing",)
    if isinstance(value, list) and all(type(item) is str for item in value):
        return ("list", *value)  # an amenity list: the usual case, and cheap
    if isinstance(value, list | dict):  # by their JSON, which tells true from 1 (and keeps each object's key order)
        return (type(value).__name__, json.dumps(value, ensure_ascii=False, default=repr))
    return (type(value).__name__, repr(value))


class _Coder:
    """Codes of one shared property: ``values`` (each distinct value once) and ``code(value)``, which adds a
    value not seen before. Copied on the first addition, so a table's values never change under it."""

    def __init__(self, values: list, lookup: dict | None = None):
        self.values, self._lookup, self._copied = values, lookup, False

    @property
    def lookup(self) -> dict:
        if self._lookup is None:
            self._lookup = {}
            for code, value in enumerate(self.values):
                self._lookup.setdefault(_key(value), code)
        return self._lookup

    def code(self, value) -> int:
        key = _key(value)
        code = self.lookup.get(key)
        if code is None:
            if not self._copied:
                self.values, self._lookup, self._copied = list(self.values), dict(self._lookup), True
            code = self._lookup[key] = len(self.values)
            self.values.append(value)
        return code


def _coded(column: np.ndarray) -> tuple[np.ndarray, list]:
    """(int32 code per station, distinct values) of an object column; equal values get one code."""
    which, distinct = distinct_objects(column)
    coder = _Coder([])
    remap = np.array([coder.code(v) for v in distinct], dtype=np.int32)
    return (remap[which] if len(which) else np.zeros(0, np.int32)), coder.values


class TextColumn:
    """A property nearly every station has as text of its own (id, name, address, phone, timestamps),
    for every station: the texts in one numpy ``StringDType`` array, ``MISSING`` (absent) as its NA,
    and the rare value that is not text (a JSON null, a number) by position beside it (``others``).

    No Python object per station: about half the memory of an object array of ``str`` (~48 against
    ~96 MB for names, addresses, phones and timestamps at 200,000 stations), and nothing that a
    forked worker's reference counting would copy, or the garbage collector walk. A value is made
    into a ``str`` when read."""

    __slots__ = ("texts", "others")
    DTYPE = StringDType(na_object=MISSING)

    def __init__(self, texts: np.ndarray, others: dict[int, object] | None = None):
        self.texts, self.others = texts, others or {}

    @classmethod
    def of(cls, values) -> TextColumn:
        """From an object array (or any sequence) of the values."""
        values = values if isinstance(values, np.ndarray) else object_array(values, len(values))
        odd = [i for i, v in enumerate(values.tolist()) if type(v) is not str and v is not MISSING]
        if odd:
            values = values.copy()
            others = {i: values[i] for i in odd}
            values[odd] = MISSING
        else:
            others = None
        return cls(np.array(values, dtype=cls.DTYPE), others)

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, i: int):
        if self.others and i in self.others:
            return self.others[i]
        return self.texts[i]

    def take(self, rows) -> np.ndarray:
        """The values at ``rows`` (positions, or a mask) as an object array."""
        rows = np.asarray(rows)
        rows = np.flatnonzero(rows) if rows.dtype == bool else rows.astype(np.int64, copy=False)
        out = self.texts[rows].astype(object)
        if self.others:
            for j in np.flatnonzero(np.isin(rows, np.fromiter(self.others, np.int64, len(self.others)))).tolist():
                out[j] = self.others[int(rows[j])]
        return out

    def objects(self) -> np.ndarray:
        """Every value, as an object array."""
        out = self.texts.astype(object)
        for i, value in self.others.items():
            out[i] = value
        return out

    def with_rows(self, n: int, rows: dict[int, object]) -> TextColumn:
        """A new column of ``n`` stations: these, with the values at positions ``rows`` (and any added past the end)."""
        dtype = self.texts.dtype
        texts = np.concatenate([self.texts, np.full(n - len(self.texts), MISSING, dtype=dtype)]) if n > len(self.texts) \
            else self.texts.copy()
        others = {i: v for i, v in self.others.items() if i not in rows}
        texts_at = []
        for i, value in rows.items():
            if type(value) is not str and value is not MISSING:
                others[i], value = value, MISSING  # beside the texts, as in ``of``
            texts_at.append(value)
        if rows:
            texts[np.fromiter(rows, np.int64, len(rows))] = object_array(texts_at).astype(dtype)
        return TextColumn(texts, others)


class AsciiColumn(TextColumn):
    """A ``TextColumn`` of short ASCII texts (the timestamps ``ASCII_COLUMNS``: ``2026-12-06T13:51:25+08:00``),
    each held in a fixed-width byte array as wide as the longest (25 bytes a station, where
    ``StringDType`` keeps a 16-byte entry and the text apart, ~45 in all: ~9 MB less per column
    at 200,000 stations). A value that is not such a text (absent, a JSON null, a longer or non-ASCII
    text) is kept by position beside it (``others``)."""

    __slots__ = ("raw",)
    #: texts longer than this are kept beside the bytes (one odd value would widen every row)
    WIDEST = 40

    def __init__(self, raw: np.ndarray, others: dict[int, object] | None = None):
        self.raw, self.others = raw, others or {}

    @classmethod
    def of(cls, values) -> AsciiColumn:
        plain = values.tolist() if isinstance(values, np.ndarray) else list(values)
        if not plain:
            return cls(np.zeros(0, dtype="S1"))
        if set(map(type, plain)) == {str}:  # nearly always: encoded at once, then checked
            joined = "".join(plain)
            if joined.isascii() and "\x00" not in joined:
                raw = np.array(plain, dtype="S")
                if raw.dtype.itemsize <= cls.WIDEST:
                    return cls(raw)
        others = {}
        for i, v in enumerate(plain):
            if type(v) is not str or len(v) > cls.WIDEST or not v.isascii() or "\x00" in v:
                others[i], plain[i] = v, ""
        return cls(np.array(plain, dtype="S"), others)

    @property
    def texts(self) -> np.ndarray:
        """Every value as ``TextColumn.DTYPE`` (made on each call; a value not held as text reads as ``MISSING``)."""
        texts = self.raw.astype(TextColumn.DTYPE)
        if self.others:
            texts[np.fromiter(self.others, np.int64, len(self.others))] = MISSING
        return texts

    def __len__(self) -> int:
        return len(self.raw)

    def __getitem__(self, i: int):
        if self.others and i in self.others:
            return self.others[i]
        return self.raw[i].decode("ascii")

    def take(self, rows) -> np.ndarray:
        rows = np.asarray(rows)
        rows = np.flatnonzero(rows) if rows.dtype == bool else rows.astype(np.int64, copy=False)
        raw, width = self.raw[rows], self.raw.dtype.itemsize
        # ASCII bytes widened to UTF-32 code units are the texts (twice as fast as numpy's bytes → str cast)
        out = raw.view(np.uint8).reshape(len(raw), width).astype(np.uint32).view(f"U{width}").ravel().astype(object)
        if self.others:
            for j in np.flatnonzero(np.isin(rows, np.fromiter(self.others, np.int64, len(self.others)))).tolist():
                out[j] = self.others[int(rows[j])]
        return out

    def objects(self) -> np.ndarray:
        return self.take(np.arange(len(self.raw)))

    def with_rows(self, n: int, rows: dict[int, object]) -> AsciiColumn:
        old = {i: v for i, v in self.others.items() if i not in rows}
        old.update({i: MISSING for i in range(len(self.raw), n) if i not in rows})  # grown: absent until written
        new = AsciiColumn.of([rows[i] for i in rows])
        width = max(self.raw.dtype.itemsize, new.raw.dtype.itemsize, 1)
        raw = np.zeros(n, dtype=f"S{width}")
        raw[: min(n, len(self.raw))] = self.raw[:n]
        at = np.fromiter(rows, np.int64, len(rows))
        raw[at] = new.raw
        others = {**old, **{int(at[j]): v for j, v in new.others.items()}}
        return AsciiColumn(raw, others)


#: own properties held as ``AsciiColumn``
ASCII_COLUMNS = frozenset({"created_at", "updated_at"})


def own_column_of(name: str, values) -> TextColumn:
    """The own column of property ``name`` from an object array (or a sequence) of its values."""
    return AsciiColumn.of(values) if name in ASCII_COLUMNS else TextColumn.of(values)


class StationTable:
    """Every station of one version as columns: ``lon``, ``lat`` (float64); the properties a station has
    to itself (id, name, address, phone, timestamps) as a ``TextColumn`` each (``own``); the properties whose
    values repeat (``SHARED``: kind, district, hours, amenities, status…) as an int32 code per station into
    a short list of distinct values (``codes``, ``values``). ``MISSING`` where a station lacks a property.
    Immutable once built.

    Coded columns hold no object per station: following a write copies them without touching a
    reference count, and the full object column of a shared property is made only when asked for
    (``column``). Read one station (``value``), some (``take``) or a comparison (``equals``) without it.
    The own columns are not copied for a write at all: a version shares its predecessor's arrays and
    keeps the rows written since beside them (``written``), until ``MERGE_AFTER`` rows.
    """

    __slots__ = ("lon", "lat", "names", "own", "codes", "values", "tails", "_coders", "written", "_written_at", "_own_at")
    #: rows written (or added) kept beside the own columns before they are merged into new arrays
    MERGE_AFTER = 2048

    def __init__(self, lon: np.ndarray, lat: np.ndarray, columns: dict[str, np.ndarray], tails: dict[int, list] | None = None):
        """From one object array per property (the shared ones are coded here)."""
        own, codes, values = {}, {}, {}
        for name, column in columns.items():
            if name in SHARED:
                codes[name], values[name] = _coded(np.asarray(column, dtype=object))
            else:
                own[name] = own_column_of(name, column)
        self._set(lon, lat, tuple(columns), own, codes, values, tails or {}, {})

    @classmethod
    def of_columns(cls, lon: np.ndarray, lat: np.ndarray, own: dict[str, np.ndarray], codes: dict[str, np.ndarray],
                   values: dict[str, list]) -> StationTable:
        """From the object arrays (or ``TextColumn``) of the properties not in ``SHARED`` and the codes and
        distinct values of those in it (what a database hands over already coded)."""
        own = {name: column if isinstance(column, TextColumn) else own_column_of(name, column) for name, column in own.items()}
        return object.__new__(cls)._set(lon, lat, tuple(schema.PROPERTY_NAMES), own, codes, values, {}, {})

    def _set(self, lon, lat, names, own, codes, values, tails, coders, written=None) -> StationTable:
        self.lon, self.lat, self.names, self.own, self.codes, self.values = lon, lat, names, own, codes, values
        #: extra coordinate members (an altitude) by position, for the rare station that has one
        self.tails = tails
        self._coders = coders  # name -> lookup of values to codes, handed on while the values do not change
        #: position -> the own properties (``own``'s order) of a station written since ``own`` was made
        self.written = written or {}
        self._written_at = np.array(sorted(self.written), dtype=np.int64)
        self._own_at = {name: k for k, name in enumerate(own)}
        return self

    def __len__(self) -> int:
        return len(self.lon)

    @classmethod
    def from_features(cls, features: Sequence[dict]) -> StationTable:
        n = len(features)
        lon = np.fromiter((f["geometry"]["coordinates"][0] for f in features), dtype=float, count=n)
        lat = np.fromiter((f["geometry"]["coordinates"][1] for f in features), dtype=float, count=n)
        tails = {i: list(f["geometry"]["coordinates"][2:]) for i, f in enumerate(features)
                 if len(f["geometry"]["coordinates"]) > 2}
        props = [f["properties"] for f in features]
        own, codes, values, coders = {}, {}, {}, {}
        for name in schema.PROPERTY_NAMES:
            if name in SHARED:
                coder = _Coder([])
                codes[name] = np.fromiter((coder.code(p.get(name, MISSING)) for p in props), dtype=np.int32, count=n)
                values[name], coders[name] = coder.values, coder.lookup
            else:
                own[name] = own_column_of(name, object_array((p.get(name, MISSING) for p in props), n))
        return object.__new__(cls)._set(lon, lat, tuple(schema.PROPERTY_NAMES), own, codes, values, tails, coders)

    # -- reading ----------------------------------------------------------------

    @property
    def columns(self) -> dict[str, np.ndarray]:
        """Every property as a full object array (the shared ones made now: prefer ``take``/``equals``)."""
        return {name: self.column(name) for name in self.names}

    def column(self, name: str) -> np.ndarray:
        """One property for every station as an object array (a shared property's, or an own one's since a
        write, is made on each call)."""
        if name in self.own:
            return self.own_column(name).objects()
        return self._values_array(name)[self.codes[name]]

    def _values_array(self, name: str) -> np.ndarray:
        values = self.values[name]
        return object_array(values, len(values))

    def take(self, name: str, rows) -> np.ndarray:
        """The property of the stations at ``rows`` (positions), as an object array."""
        if name in self.own:
            base = self.own[name]
            if not self.written:
                return base.take(rows)
            rows = np.asarray(rows, dtype=np.int64)
            out = np.empty(len(rows), dtype=object)
            inside = rows < len(base)
            out[inside] = base.take(rows[inside])
            k = self._own_at[name]
            for j in np.flatnonzero(np.isin(rows, self._written_at)).tolist():
                out[j] = self.written[int(rows[j])][k]
            return out
        return self._values_array(name)[self.codes[name][rows]]

    def value(self, name: str, i: int):
        """The property of station ``i``."""
        if name in self.own:
            row = self.written.get(i)
            return self.own[name][i] if row is None else row[self._own_at[name]]
        return self.values[name][self.codes[name][i]]

    def some(self, i: int, names) -> dict:
        """Those of ``names`` that station ``i`` has, as in its Feature (shared values not copied: read only)."""
        out = {}
        for name in names:
            value = self.value(name, i)
            if value is not MISSING:
                out[name] = value
        return out

    def own_column(self, name: str) -> TextColumn:
        """An own property for every station as a ``TextColumn`` (the rows written since merged in)."""
        base = self.own[name]
        if not self.written:
            return base
        k = self._own_at[name]
        return base.with_rows(len(self), {i: row[k] for i, row in self.written.items()})

    def take_texts(self, name: str, rows) -> np.ndarray:
        """An own text property (an id) of the stations at ``rows`` as a ``TextColumn.DTYPE`` array: no
        ``str`` object per station. A value that is not text reads as ``MISSING``."""
        base = self.own[name]
        rows = np.asarray(rows, dtype=np.int64)
        if not self.written and not base.others:
            return base.texts[rows]
        values = [v if type(v) is str else MISSING for v in self.take(name, rows).tolist()]
        return np.array(values, dtype=TextColumn.DTYPE)

    def equals(self, name: str, value, rows=None) -> np.ndarray:
        """Whether the property equals ``value``, for every station (or those at ``rows``)."""
        if name in self.own:
            column = self.column(name) if rows is None else self.take(name, rows)
            return np.fromiter((type(v) is type(value) and v == value for v in column), dtype=bool, count=len(column))
        codes = self.codes[name] if rows is None else self.codes[name][rows]
        matching = [c for c, v in enumerate(self.values[name]) if type(v) is type(value) and v == value]
        return codes == matching[0] if len(matching) == 1 else np.isin(codes, matching)

    def coded(self, name: str) -> tuple[np.ndarray, list]:
        """(code per station, distinct values) of a shared property."""
        return self.codes[name], self.values[name]

    def subset(self, rows: np.ndarray) -> StationTable:
        """The stations at ``rows`` as a table of their own (sharing the distinct values)."""
        tails = {k: self.tails[r] for k, r in enumerate(np.asarray(rows).tolist()) if r in self.tails}
        return object.__new__(StationTable)._set(
            self.lon[rows], self.lat[rows], self.names, {n: own_column_of(n, self.take(n, rows)) for n in self.own},
            {n: c[rows] for n, c in self.codes.items()}, self.values, tails, self._coders)

    def feature(self, i: int) -> dict:
        """Station ``i`` as a new GeoJSON Feature (properties in the schema's order; the caller may change it)."""
        props = {}
        own, codes, values, written = self.own, self.codes, self.values, self.written.get(i)
        for name in self.names:
            if name in own:
                value = own[name][i] if written is None else written[self._own_at[name]]
            else:
                value = values[name][codes[name][i]]
            if value is MISSING:
                continue
            if name in _LISTS and isinstance(value, list):
                value = list(value)  # shared between stations: never hand out the shared one
            elif isinstance(value, dict):
                value = copy.deepcopy(value)
            props[name] = value
        coordinates = [float(self.lon[i]), float(self.lat[i])]
        if i in self.tails:
            coordinates += self.tails[i]
        return {"type": "Feature", "geometry": {"type": "Point", "coordinates": coordinates}, "properties": props}

    # -- the next version ------------------------------------------------------------

    def with_rows(self, rows: dict[int, dict], appended: list[dict]) -> StationTable:
        """A new table: the Features in ``rows`` (position → Feature) replace those rows, ``appended`` are added.

        A server follows every write this way, so this is what a write costs each server: the shared
        properties' int32 codes and the coordinates are copied (plain memory), the own properties'
        arrays are shared and the rows written kept beside them (merged once there are many)."""
        extra = StationTable.from_features(appended) if appended else None
        n = len(self)

        def grown(column: np.ndarray, tail: np.ndarray | None) -> np.ndarray:
            # copy/concatenate: not np.empty + assignment, which first fills an object array with None
            return column.copy() if tail is None else np.concatenate([column, tail])

        lon, lat = grown(self.lon, extra and extra.lon), grown(self.lat, extra and extra.lat)
        names_own = tuple(self.own)
        written = dict(self.written)
        for i, f in [*rows.items(), *((n + k, f) for k, f in enumerate(appended))]:
            props = f["properties"]
            written[i] = tuple(props.get(name, MISSING) for name in names_own)
        codes, values, coders = {}, {}, {}
        for name, column in self.codes.items():
            coder = _Coder(self.values[name], self._coders.get(name))
            tail = None
            if extra is not None:
                remap = np.array([coder.code(v) for v in extra.values[name]], dtype=np.int32)
                tail = remap[extra.codes[name]]
            column = grown(column, tail)
            for i, f in rows.items():
                column[i] = coder.code(f["properties"].get(name, MISSING))
            codes[name], values[name], coders[name] = column, coder.values, coder.lookup
        tails = {i: t for i, t in self.tails.items() if i not in rows}
        if extra is not None:
            tails.update({n + i: t for i, t in extra.tails.items()})
        for i, f in rows.items():
            coordinates = f["geometry"]["coordinates"]
            lon[i], lat[i] = coordinates[0], coordinates[1]
            if len(coordinates) > 2:
                tails[i] = list(coordinates[2:])
        table = object.__new__(StationTable)._set(lon, lat, self.names, self.own, codes, values, tails, coders, written)
        if len(written) > self.MERGE_AFTER:  # one copy of the own columns now and then, not one per write
            table = table._set(lon, lat, self.names, {name: table.own_column(name) for name in names_own}, codes, values,
                               tails, coders)
        return table


class StationIds(Mapping):
    """Station id → position in the registry. Positions never change (an edit keeps its place, a new
    station is appended), so a version shares its predecessor's index and holds only the ids added since:
    following a write does not copy 200,000 entries.

    The ids of the version it was built from are found by their hash: the sorted 64-bit hashes and the
    position of each (~3 MB at 200,000 stations, beside the id column it reads to confirm a match),
    where a dict of 200,000 ``str`` keys was ~27 MB, and pages of objects a forked worker's reference
    counting copies. A lookup is a bisection (~4 µs against a dict's ~1: ``scripts/bench_store.py``;
    the finder's hits carry their positions and look nothing up). The hashes are this process's (and its forks'):
    a pickled index is rebuilt from its ids."""

    __slots__ = ("_ids", "_hashes", "_positions", "_added")
    #: ids added before they are merged into the sorted index
    MERGE_AFTER = 4096

    def __init__(self, ids: TextColumn, added: dict[str, int] | None = None):
        self._ids, self._added = ids, added or {}
        hashes = np.fromiter(map(_hash_or_zero, ids.objects().tolist()), dtype=np.int64, count=len(ids))
        self._positions = np.argsort(hashes, kind="stable")
        self._hashes = hashes[self._positions]

    def __reduce__(self):
        return StationIds, (self._ids, self._added)

    def _base_position(self, station_id) -> int | None:
        h = _hash_or_zero(station_id)
        hashes, positions, n = self._hashes, self._positions, len(self._hashes)
        at = int(hashes.searchsorted(h))
        found = None
        while at < n and hashes.item(at) == h:  # nearly always one; the last of equal ids wins, as in a dict
            p = positions.item(at)
            value = self._ids[p]
            if type(value) is type(station_id) and value == station_id and (found is None or p > found):
                found = p
            at += 1
        return found

    def __getitem__(self, station_id) -> int:
        i = self.get(station_id)
        if i is None:
            raise KeyError(station_id)
        return i

    def get(self, station_id, default=None):
        i = self._added.get(station_id) if type(station_id) is str else None
        if i is None:
            i = self._base_position(station_id)
        return default if i is None else i

    def __contains__(self, station_id) -> bool:
        return self.get(station_id) is not None

    def __len__(self) -> int:
        return len(self._ids) + len(self._added)

    def __iter__(self):
        yield from self._ids.objects().tolist()
        yield from self._added

    def with_added(self, added: dict[str, int]) -> StationIds:
        if not added:
            return self
        merged = {**self._added, **added}
        if len(merged) > self.MERGE_AFTER:
            return StationIds(self._ids.with_rows(len(self._ids) + len(merged), {i: fid for fid, i in merged.items()}))
        shared = object.__new__(StationIds)
        shared._ids, shared._hashes, shared._positions, shared._added = self._ids, self._hashes, self._positions, merged
        return shared


def _hash_or_zero(value) -> int:
    try:
        return hash(value)
    except TypeError:  # an unhashable value (never an id): looked for among the zeros, and never equal
        return 0


class FeatureView(Sequence):
    """The stations of a snapshot as GeoJSON Features, made on access (registry order)."""

    __slots__ = ("_table",)

    def __init__(self, table: StationTable):
        self._table = table

    def __len__(self) -> int:
        return len(self._table)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._table.feature(j) for j in range(*i.indices(len(self)))]
        n = len(self._table)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        return self._table.feature(i)

    def __eq__(self, other):
        if isinstance(other, FeatureView | list | tuple):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None

    def __iter__(self):
        feature = self._table.feature
        for i in range(len(self._table)):
            yield feature(i)


class Snapshot:
    """One version of the registry, read-only, with indexes built lazily once.

    Attributes
    ----------
    version : int
    features : sequence of dict
        GeoJSON Features in registry order (all statuses), each made when read.
    table : StationTable
        The same stations as columns (what bulk readers use: ``column(name)``, ``lon``, ``lat``).
    frame : GeoDataFrame
        Same rows, EPSG:4326, one column per schema property.
    active : GeoDataFrame
        Rows with ``status == "active"``: what maps, nearest and coverage use.
    """

    def __init__(self, version: int, features: Sequence[dict] | None, districts: Districts,
                 by_id: StationIds | None = None, table: StationTable | None = None):
        self.version = version
        self.districts = districts
        self.table = table if table is not None else StationTable.from_features(features or [])
        #: what the snapshot was built from, when a backend holds that list anyway (the file store)
        self.source = features
        self.by_id = by_id if by_id is not None else StationIds(self.table.own_column("id"))
        self.features = FeatureView(self.table)
        #: positions written since the previous version (None: a fresh load)
        self.touched: np.ndarray | None = None
        #: lon/lat of the touched stations before and after the write, for derived data kept per area
        self.touched_points: np.ndarray | None = None
        #: the derived values of the version this one was made from (to carry forward), until warmed
        self.previous_derived: dict | None = None
        #: set once a newer version was made from this one
        self.superseded = False
        #: (an earlier version's frame, positions written since), to patch rather than rebuild the frame
        self._frame_base: tuple | None = None

    def where(self, district: str | None = None, status: str | None = None) -> list[dict]:
        """The Features of district ``district`` and status ``status`` (either None: any), registry order;
        chosen on the columns, so only those stations are made into Features."""
        mask = np.ones(len(self), dtype=bool)
        if district:
            mask &= self.table.equals("district_adcode", district)
        if status:
            mask &= self.table.equals("status", status)
        return [self.table.feature(i) for i in np.flatnonzero(mask).tolist()]

    def column(self, name: str) -> np.ndarray:
        """One property for every station, registry order; ``MISSING`` where a station lacks it (a shared
        property's array is made on each call: ``table.take``/``table.equals`` read it without)."""
        return self.table.column(name)

    def with_changes(self, version: int, changed: list[dict], features: list[dict] | None = None) -> Snapshot:
        """The next version: these Features replace those with their ids, new ids are appended in order.

        ``features``: the resulting list, if the backend holds it anyway (kept as ``source``)."""
        rows: dict[int, dict] = {}
        appended: list[dict] = []
        added: dict[str, int] = {}
        for f in changed:
            fid = f["properties"]["id"]
            i = added.get(fid, self.by_id.get(fid))
            if i is None:
                i = added[fid] = len(self.by_id) + len(added)
                appended.append(f)
            else:
                rows[i] = f
        by_id = self.by_id.with_added(added)
        if features is not None and len(features) != len(by_id):
            return Snapshot(version, features, self.districts)  # not this version plus these changes: start afresh
        touched = np.array(sorted(set(rows) | set(range(len(self.table), len(by_id)))), dtype=np.int64)
        before = np.column_stack([self.table.lon[list(rows)], self.table.lat[list(rows)]]) if rows else np.empty((0, 2))
        new = Snapshot(version, features, self.districts, by_id=by_id, table=self.table.with_rows(rows, appended))
        new.touched = touched
        new.touched_points = np.concatenate([before, np.column_stack([new.table.lon[touched], new.table.lat[touched]])])
        # The frame (planning, coverage) is patched from the previous one when first asked for, not
        # here: following a write must stay cheap for every server, and most versions never need it.
        old_frame = vars(self).get("frame")
        if old_frame is not None:
            new._frame_base = (old_frame, touched)
        elif self._frame_base is not None:
            new._frame_base = (self._frame_base[0], np.union1d(self._frame_base[1], touched))
        derived = vars(self).get("derived", {})
        for name, value in derived.items():  # what knows how to follow a write (see StationColumns.carried_to)
            carry = getattr(value, "carried_to", None)
            if carry is not None:
                vars(new).setdefault("derived", {})[name] = carry(new)
        new.previous_derived = dict(derived)
        self.superseded = True
        return new

    @cached_property
    def frame(self) -> gpd.GeoDataFrame:
        if self._frame_base is not None:
            old, touched = self._frame_base
            self._frame_base = None
            return _patched_frame(old, self.table, touched) if len(touched) else old
        return table_frame(self.table)

    @cached_property
    def active(self) -> gpd.GeoDataFrame:
        frame = self.frame
        return frame[frame["status"] == "active"].reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.table)

    def get(self, station_id: str) -> dict:
        """The GeoJSON Feature with this id (any status); ``NotFoundError`` if none."""
        try:
            return self.table.feature(self.by_id[station_id])
        except KeyError:
            raise NotFoundError(Text("registry.not_found", id=station_id)) from None

    def cached(self, name: str, build):
        """``build()`` once for this version, kept under ``name`` (see ``cached_on``)."""
        return cached_on(self, name, build)

    def memo(self, name: str, encode) -> StationMemo:
        """``encode(feature)`` per station, made when a station is first asked for (``StationMemo``);
        carried to the next version without the stations written."""
        return cached_on(self, f"memo:{name}", lambda: StationMemo(self.table, encode))


def table_frame(table: StationTable) -> gpd.GeoDataFrame:
    """GeoDataFrame (EPSG:4326) of a ``StationTable``: absent optional properties are NaN, lists never missing."""
    data = {}
    for name, column in table.columns.items():
        missing = np.fromiter((v is MISSING for v in column), dtype=bool, count=len(column)) if len(column) else np.zeros(0, bool)
        if name in _LISTS:
            column = column.copy()
            bad = np.flatnonzero(missing | np.fromiter((not isinstance(v, list) for v in column), dtype=bool, count=len(column)))
            for i in bad.tolist():
                column[i] = []
        elif missing.any():
            column = column.copy()
            column[missing] = np.nan
        data[name] = column
    props = pd.DataFrame(data, columns=list(schema.PROPERTY_NAMES))
    return gpd.GeoDataFrame(props, geometry=shapely.points(np.column_stack([table.lon, table.lat]).reshape(-1, 2)),
                            crs="EPSG:4326")


def stations_frame(features: Sequence[dict]) -> gpd.GeoDataFrame:
    """GeoDataFrame (EPSG:4326) from station Features, built column-wise (fast at 200k rows)."""
    return table_frame(StationTable.from_features(list(features)))


def _patched_frame(old: gpd.GeoDataFrame, table: StationTable, touched: np.ndarray) -> gpd.GeoDataFrame:
    """``table_frame(table)`` from the previous version's frame plus the rows at ``touched`` (a few
    hundred milliseconds at 200,000 stations instead of seconds)."""
    rows = touched.tolist()
    patch = table_frame(table.subset(touched))
    positions = np.arange(len(table))
    positions[rows] = len(old) + np.arange(len(rows))
    combined = pd.concat([old, patch], ignore_index=True)
    frame = combined.iloc[positions].reset_index(drop=True)
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=old.crs)
