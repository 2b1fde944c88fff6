"""Vectorised selection of stations by kind, status, district, amenities, bounding box and text, over column arrays built once per snapshot.

``StationColumns`` turns a snapshot's frame into plain numpy arrays (positions match
``Snapshot.features``), so a map request filters 150,000 stations with a handful of
array comparisons instead of a loop over Features. Text search is case- and
width-insensitive (NFKC + casefold: ``os`` finds ``500103-OS-0001``, ``５００`` finds ``500``).
"""

from __future__ import annotations

import unicodedata
from functools import cached_property

import numpy as np
import pandas as pd

from geo import schema
from geo.queries.nearest import amenity_bits, amenity_mask
from geo.registry.snapshot import object_array

KIND_CODES = tuple(schema.KINDS)
STATUS_CODES = tuple(schema.STATUSES)
SEARCHED_PROPERTIES = ("name", "address", "operator", "id")
# What the columns are made from.
_READ = ("kind", "status", "district_adcode", "amenities", *SEARCHED_PROPERTIES)
# Separates rows (and fields within a row) in the search text; queries never contain it.
_ROW_SEP, _FIELD_SEP = "\x00", "\x1f"
# Above this share of rows containing the query, scanning every row beats walking the matches.
_DENSE_MATCH_SHARE = 0.05


def normalise_text(text: str) -> str:
    """Fold case and full-width forms so that a search matches what a person means."""
    return unicodedata.normalize("NFKC", text).casefold()


class StationColumns:
    """Column arrays of every station in a snapshot (all statuses), in ``features`` order.

    Parameters
    ----------
    frame : GeoDataFrame
        ``Snapshot.frame``: EPSG:4326 points with the schema's property columns.

    Attributes
    ----------
    lon, lat : ndarray of float
        WGS-84 degrees.
    kind, status : ndarray of int8
        Index into ``KIND_CODES`` / ``STATUS_CODES``; -1 for a code outside the vocabulary.
    adcode : ndarray of object
    amenity_bits : ndarray of int64
        ``geo.queries.nearest.AMENITY_BITS`` of each station's amenities, OR-ed.
    """

    def __init__(self, frame=None, *, lon=None, lat=None, columns=None):
        """From a GeoDataFrame, or from WGS-84 ``lon``/``lat`` arrays and a name → array mapping
        (``Snapshot.column``)."""
        if frame is not None:
            lon, lat = frame.geometry.x.to_numpy(dtype=float), frame.geometry.y.to_numpy(dtype=float)
            columns = {name: frame[name].to_numpy(dtype=object) for name in ("kind", "status", "district_adcode", "amenities",
                                                                            *SEARCHED_PROPERTIES)}
        self._set(lon, lat, _codes(columns["kind"], KIND_CODES), _codes(columns["status"], STATUS_CODES),
                  np.asarray(columns["district_adcode"], dtype=object), amenity_bits(columns["amenities"]))
        # Search texts are made when a text query first comes (seconds at 200,000 stations).
        self._searched = lambda: [columns[name] for name in SEARCHED_PROPERTIES]

    def _set(self, lon, lat, kind, status, adcode, bits) -> None:
        self.size = len(lon)
        self.lon = np.ascontiguousarray(lon, dtype=float)
        self.lat = np.ascontiguousarray(lat, dtype=float)
        self.kind, self.status, self.adcode, self.amenity_bits = kind, status, adcode, bits

    @classmethod
    def of_snapshot(cls, snapshot) -> StationColumns:
        """The columns of every station of a registry snapshot (carried to its next versions), from the
        table's codes: each distinct kind, status, district and amenity list is looked at once."""
        table = snapshot.table

        def per_station(name: str, of_values):
            codes, values = table.coded(name)
            return of_values(object_array(values))[codes]

        columns = object.__new__(cls)
        columns._set(table.lon, table.lat, per_station("kind", lambda v: _codes(v, KIND_CODES)),
                     per_station("status", lambda v: _codes(v, STATUS_CODES)), per_station("district_adcode", lambda v: v),
                     amenity_bits(*table.coded("amenities")[::-1]))
        columns._searched = _reader(table)
        return columns

    def carried_to(self, snapshot) -> StationColumns:
        """These columns for ``snapshot``, made from this one's version by ``with_changes``: only the
        stations written are worked out again (a write at 200,000 stations costs milliseconds here)."""
        touched = snapshot.touched
        table = snapshot.table
        part = StationColumns(lon=table.lon[touched], lat=table.lat[touched],
                              columns={name: table.take(name, touched) for name in _READ})
        new = object.__new__(StationColumns)
        new.size = len(snapshot)
        new.lon = np.ascontiguousarray(snapshot.table.lon)
        new.lat = np.ascontiguousarray(snapshot.table.lat)
        for name in ("kind", "status", "adcode", "amenity_bits"):
            old = getattr(self, name)
            array = np.empty(new.size, dtype=old.dtype)
            array[: self.size] = old
            array[touched] = getattr(part, name)
            setattr(new, name, array)
        if "_text_index" in vars(self):  # carried: the written rows' texts beside the previous index
            new._text_index = self._text_index.with_rows(touched.tolist(), part._search_texts(), new.size)
        else:  # read from the table when a text query first comes, not at every write
            new._searched = _reader(table)
        return new

    def _search_texts(self) -> list[str]:
        return [_search_text(row) for row in zip(*self._searched(), strict=True)]

    @cached_property
    def _text_index(self) -> TextIndex:
        index = TextIndex.of(self._search_texts())
        del self._searched
        return index

    def text_mask(self, query: str) -> np.ndarray:
        """Which stations have ``query`` in their name, address, operator or id (normalised)."""
        needle = normalise_text(query)
        if not needle or _ROW_SEP in needle or _FIELD_SEP in needle:
            return np.zeros(self.size, dtype=bool)
        return self._text_index.mask(needle)

    def select(self, *, kinds=(), statuses=("active",), district: str | None = None, amenities=(),
               bbox=None, text: str | None = None) -> np.ndarray:
        """Positions (into ``Snapshot.features``) of the stations matching every given filter, ascending.

        Parameters
        ----------
        kinds : iterable of str
            Any of these kinds; empty means all.
        statuses : iterable of str
            Any of these statuses; empty means all.
        district : str, optional
            District adcode.
        amenities : iterable of str
            Stations offering all of these (unknown codes raise ``ValidationError``).
        bbox : (minlon, minlat, maxlon, maxlat), optional
            WGS-84 degrees, edges included.
        text : str, optional
            Substring of name, address, operator or id.
        """
        mask = np.ones(self.size, dtype=bool)
        if kinds:
            mask &= np.isin(self.kind, [KIND_CODES.index(k) for k in kinds if k in KIND_CODES])
        if statuses:
            mask &= np.isin(self.status, [STATUS_CODES.index(s) for s in statuses if s in STATUS_CODES])
        if district is not None:
            mask &= self.adcode == district
        bits = amenity_mask(amenities)
        if bits:
            mask &= (self.amenity_bits & bits) == bits
        if bbox is not None:
            minlon, minlat, maxlon, maxlat = bbox
            mask &= (self.lon >= minlon) & (self.lon <= maxlon) & (self.lat >= minlat) & (self.lat <= maxlat)
        if text:
            mask &= self.text_mask(text)
        return np.flatnonzero(mask)


class TextIndex:
    """Every station's search text joined into one string (``_ROW_SEP`` between rows) with each
    row's start, and the texts of rows written since it was joined kept beside it: one string of
    ~20 MB at 200,000 stations instead of 200,000 string objects, and a write costs its rows only.
    """

    #: rows kept beside the joined string before they are joined in (a rejoin is ~50 ms at 200k)
    REJOIN_AFTER = 512

    def __init__(self, blob: str, starts: np.ndarray, size: int, written: dict[int, str]):
        self.blob, self.starts, self.size, self.written = blob, starts, size, written

    @classmethod
    def of(cls, texts: list[str]) -> TextIndex:
        starts = np.zeros(len(texts), dtype=np.int64)
        if len(texts) > 1:
            starts[1:] = np.cumsum(np.fromiter((len(t) + 1 for t in texts[:-1]), dtype=np.int64, count=len(texts) - 1))
        return cls(_ROW_SEP.join(texts), starts, len(texts), {})

    def texts(self) -> list[str]:
        texts = self.blob.split(_ROW_SEP) if self.blob or len(self.starts) else []
        texts += [""] * (self.size - len(texts))
        for i, text in self.written.items():
            texts[i] = text
        return texts

    def with_rows(self, rows: list[int], texts: list[str], size: int) -> TextIndex:
        written = {**self.written, **dict(zip(rows, texts, strict=True))}
        carried = TextIndex(self.blob, self.starts, size, written)
        return TextIndex.of(carried.texts()) if len(written) > self.REJOIN_AFTER else carried

    def mask(self, needle: str) -> np.ndarray:
        mask = np.zeros(self.size, dtype=bool)
        blob, starts, joined = self.blob, self.starts, len(self.starts)
        if blob.count(needle) > max(64, joined * _DENSE_MATCH_SHARE):
            # Most rows match: test every row at once (the texts are made for this query only).
            texts = np.array(blob.split(_ROW_SEP), dtype=np.dtypes.StringDType())
            mask[:joined] = np.strings.find(texts, needle) >= 0
        else:  # few matches: let str.find skip through the joined text, one jump per matching row
            at = blob.find(needle)
            while at != -1:
                row = int(np.searchsorted(starts, at, side="right")) - 1
                mask[row] = True
                at = blob.find(needle, int(starts[row + 1])) if row + 1 < joined else -1
        for i, text in self.written.items():
            mask[i] = needle in text
        return mask


def _reader(table):
    """The searched properties of every station of ``table``, read when called."""
    return lambda: [table.column(name) for name in SEARCHED_PROPERTIES]


def _search_text(values) -> str:
    return normalise_text(_FIELD_SEP.join(str(v) for v in values))


def _codes(values: np.ndarray, vocabulary: tuple[str, ...]) -> np.ndarray:
    """Each value's index in ``vocabulary`` (int8), -1 for anything else: hashed in C, the few distinct values looked up."""
    values = np.asarray(values, dtype=object)
    if not len(values):
        return np.zeros(0, dtype=np.int8)
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    lookup = {code: i for i, code in enumerate(vocabulary)}
    return np.array([lookup.get(u, -1) if isinstance(u, str) else -1 for u in uniques.tolist()], dtype=np.int8)[codes]
