"""Finding a place without GPS: station names and addresses, streets and 街道/镇 from the addresses,
district names and a small gazetteer of landmarks, by Chinese text or pinyin initials (``jfb`` → 解放碑).

Everything is built from the registry and the district layer (no network), with no object per
station: folded names, addresses and pinyin are held as a few "\n"-joined strings in result order
(``_Rows``), whole texts and prefixes are found by bisection in rows sorted by text, containing by
``str.find``, and a ``Place`` is made only for what a search returns. A new registry version
carries the previous one's gazetteer and works out again only the stations written
(``Gazetteer.carried_to``). ``scripts/bench_search.py`` compares it with the simple implementation
it replaced (kept in tests/geo/queries/test_search_equivalence.py, which checks both agree).
"""

from __future__ import annotations

import array
import bisect
import copy
import functools
import itertools
import re
import unicodedata
from dataclasses import dataclass

import numpy as np

from geo.queries.pinyin import PinyinTable
from geo.queries.texts import Texts, codes_of, fold_all, text_of
from geo.registry.snapshot import cached_on

MAX_QUERY_CHARS = 40
MAX_RESULTS = 10

# Well-known places riders name, WGS-84: approximate centres entered by hand (see data/SOURCES.md,
# "Gazetteer"); the places are hundreds of metres across and only start the finder's search.
# Each is checked to fall in its district by tests/geo/queries/test_search.py.
LANDMARKS: tuple[tuple[str, str, float, float], ...] = (
    ("解放碑", "500103", 106.5770, 29.5575),
    ("朝天门", "500103", 106.5860, 29.5650),
    ("洪崖洞", "500103", 106.5790, 29.5630),
    ("较场口", "500103", 106.5730, 29.5530),
    ("观音桥", "500105", 106.5320, 29.5760),
    ("江北嘴", "500105", 106.5740, 29.5740),
    ("三峡广场", "500106", 106.4560, 29.5570),
    ("磁器口", "500106", 106.4480, 29.5800),
    ("杨家坪", "500107", 106.5130, 29.5040),
    ("南坪", "500108", 106.5640, 29.5300),
    ("弹子石", "500108", 106.5920, 29.5570),
    ("重庆北站", "500112", 106.5510, 29.6080),
    ("江北国际机场", "500112", 106.6400, 29.7180),
    ("重庆西站", "500106", 106.4330, 29.5050),
    ("鱼洞", "500113", 106.5220, 29.3900),
)

# An address reads 重庆市 + district + 街道/镇/乡 + street + number.
_SUBDIVISION = re.compile(r"^([\u4e00-\u9fff]{1,6}?(?:街道|镇|乡))")
_STREET = re.compile(r"^([\u4e00-\u9fff0-9]{1,10}?(?:大道|路|街|巷))")
_KIND_ORDER = {"landmark": 0, "district": 1, "subdistrict": 2, "street": 3, "station": 4}


@dataclass(frozen=True)
class Place:
    """One thing a search can find: ``kind`` is landmark, district, subdistrict (街道/镇), street or station."""

    name: str
    kind: str
    lon: float
    lat: float
    district: str = ""
    station_id: str = ""
    detail: str = ""  # a station's address

    def as_dict(self) -> dict:
        out = {"name": self.name, "kind": self.kind, "lon": round(self.lon, 6), "lat": round(self.lat, 6),
               "district": self.district}
        if self.station_id:
            out.update(id=self.station_id, address=self.detail)
        return out


def fold(text: str) -> str:
    """Compare text as people type it: full-width folded (NFKC), case and spaces ignored."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text))).casefold()


_KIND_NAMES = ("landmark", "district", "subdistrict", "street", "station")
# Rows of text are held "\n"-joined: a folded name, address or pinyin never holds a "\n" (fold drops
# all whitespace, pinyin is letters), so a query never spans two rows.
_ROW = "\n"
class _Rows:
    """Texts in one order as a single string ``"\\n" + "".join(text + "\\n")``: ``starts[k]`` is where
    the "\\n" before row ``k`` is (``starts[-1]``: the final one). A find jumps from match to match."""

    __slots__ = ("text", "starts")

    def __init__(self, text: str, starts: np.ndarray):
        self.text, self.starts = text, _index_array(starts)

    @classmethod
    def of(cls, texts: list[str]) -> _Rows:
        lengths = np.fromiter(map(len, texts), np.int64, len(texts)) + 1
        return cls(_ROW + _ROW.join(texts) + _ROW if texts else _ROW, np.concatenate([[0], np.cumsum(lengths)]))

    @classmethod
    def gathered(cls, texts: Texts, order: np.ndarray) -> _Rows:
        """Rows ``order`` of ``texts``."""
        taken = texts.taken(order)
        starts = np.concatenate([[0], np.cumsum(taken.lengths + 1)])
        picked = taken.codes
        picked[starts[1:] - 1] = ord(_ROW)  # each text's end (a text may hold a 0 itself)
        return cls(_ROW + text_of(picked), starts)

    def __len__(self) -> int:
        return len(self.starts) - 1

    def __getitem__(self, row: int) -> str:
        return self.text[self.starts[row] + 1: self.starts[row + 1]]

    def lengths(self) -> np.ndarray:
        return np.diff(self.starts) - 1

    def length(self, row: int) -> int:
        return int(self.starts[row + 1]) - int(self.starts[row]) - 1

    def equals(self, row: int, q: str) -> bool:
        start = int(self.starts[row]) + 1
        return int(self.starts[row + 1]) - start == len(q) and self.text.startswith(q, start)

    def contains(self, row: int, q: str) -> bool:
        return self.text.find(q, int(self.starts[row]) + 1, int(self.starts[row + 1])) != -1

    def find(self, needle: str):
        """(row, offset in the row) of the first occurrence of ``needle`` in each row having it, in
        row order. ``needle`` may start or end with the row separator (whole rows, prefixes)."""
        text, starts = self.text, self.starts
        at = text.find(needle)
        while at != -1:
            row = int(np.searchsorted(starts, at, side="right")) - 1
            yield row, at - int(starts[row]) - 1
            at = text.find(needle, int(starts[row + 1]))

    def sorted_rows(self) -> np.ndarray:
        """The rows ordered by their text (then by row)."""
        texts = self.text[1:-1].split(_ROW) if len(self) else []
        return _index_array(sorted(range(len(texts)), key=texts.__getitem__))

    def bounds(self, order: np.ndarray, q: str) -> tuple[int, int, int]:
        """In ``order`` (``sorted_rows``): where the rows ``>= q`` start, where those ``> q`` start, and
        where those that do not start with ``q`` start again (``[lo, mid)``: equal, ``[lo, hi)``: prefixed)."""
        text, starts, k = self.text, self.starts, len(q)

        def row(i: int) -> str:
            r = int(order[i])
            return text[starts[r] + 1: starts[r + 1]]

        n = len(order)
        lo = bisect.bisect_left(range(n), q, key=row)
        mid = bisect.bisect_right(range(n), q, lo=lo, key=row)
        hi = bisect.bisect_right(range(n), q, lo=mid, key=lambda i: row(i)[:k])
        return lo, mid, hi

    def spliced(self, removed: np.ndarray, at: np.ndarray, texts: list[str]) -> _Rows:
        """These rows without rows ``removed`` (sorted) and with ``texts[j]`` put before row ``at[j]``
        (non-decreasing; ``len(self)`` for the end): slices of the text, one copy."""
        n, text, starts = len(self), self.text, self.starts
        gone = set(removed.tolist())
        cuts = sorted({0, n} | gone | {r + 1 for r in gone} | set(at.tolist()))
        pieces, j = [_ROW], 0
        for c, nxt in zip(cuts, [*cuts[1:], n], strict=True):
            while j < len(texts) and at[j] == c:
                pieces.append(texts[j] + _ROW)
                j += 1
            if c < n and c not in gone:
                pieces.append(text[int(starts[c]) + 1: int(starts[nxt]) + 1])
        kept = np.delete(np.diff(self.starts), removed)
        spans = np.insert(kept, at - np.searchsorted(removed, at), [len(t) + 1 for t in texts])
        return _Rows("".join(pieces), np.concatenate([[0], np.cumsum(spans)]))


def _run_pinyin(run: str, memo: dict | None = None) -> tuple[str, str]:
    """(initials, full pinyin) of a run of Chinese characters as ``lazy_pinyin`` gives them: cut into
    words by its segmenter, each word converted alone (each word's pinyin kept). ``memo``: the
    pinyin of the runs' endings met so far (many runs end alike: …环卫工人爱心驿站) and of words
    (under ``None``); kept for one build only, so nothing small outlives it amid what it frees."""
    memo = {} if memo is None else memo
    words_pinyin = memo.setdefault(None, {})
    table = PinyinTable.load()
    chain, remain, tail = [], run, ("", "")
    while remain:
        got = memo.get(remain)
        if got is not None:
            tail = got
            break
        words, rest = table.first_words(remain)
        chain.append((remain, words))
        remain = rest
    for remain, words in reversed(chain):
        syllables = []
        for word in words:
            pinyin = words_pinyin.get(word)
            if pinyin is None:
                pinyin = words_pinyin[word] = table.syllables(word)
            syllables += pinyin
        tail = memo[remain] = ("".join(s[0] for s in syllables if s) + tail[0], "".join(syllables) + tail[1])
    return tail


def _pinyin_rows(texts: Texts) -> tuple[_Rows, _Rows]:
    """(initials, full pinyin) rows of ``texts`` as ``_initials`` makes them: the pinyin of a text is
    that of its runs of Chinese characters one after another (``lazy_pinyin`` converts each run
    alone and ignores the rest), and each distinct run is converted once (found as distinct rows of
    code points, a run length at a time)."""
    n = len(texts)
    if not n:
        return _Rows.of([]), _Rows.of([])
    codes = texts.codes
    distinct = np.flatnonzero(np.bincount(codes))
    han = np.zeros(int(distinct[-1]) + 1, np.int8)
    han_run = PinyinTable.load().han_run
    han[[c for c in distinct.tolist() if han_run.fullmatch(chr(c))]] = 1
    edges = np.diff(han[codes], prepend=0, append=0)
    firsts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    ends_of_texts = np.cumsum(texts.lengths + 1) - 1
    rows = np.searchsorted(ends_of_texts, firsts)
    run_lengths = ends - firsts
    initials = np.empty(len(firsts), dtype=object)
    full = np.empty(len(firsts), dtype=object)
    memo: dict = {}
    for length in np.unique(run_lengths).tolist():
        these = np.flatnonzero(run_lengths == length)
        firsts_of_runs, inverse = _distinct_rows(codes[firsts[these, None] + np.arange(length)])
        got = [_run_pinyin(text_of(codes[first: first + length]), memo) for first in firsts[these][firsts_of_runs].tolist()]
        initials[these] = np.array([g[0] for g in got], dtype=object)[inverse]
        full[these] = np.array([g[1] for g in got], dtype=object)[inverse]
    initials, full = initials.tolist(), full.tolist()
    bounds = np.searchsorted(rows, np.arange(n), side="right")
    out = []
    for parts in (initials, full):
        lengths = np.bincount(rows, weights=[len(p) for p in parts], minlength=n).astype(np.int64) if parts else np.zeros(n, np.int64)
        text = "".join(np.insert(np.array(parts, dtype=object), bounds, _ROW).tolist()) if parts else _ROW * n
        out.append(_Rows(_ROW + text, np.concatenate([[0], np.cumsum(lengths + 1)])))
    return out[0], out[1]


def _distinct_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(where each distinct row of ``matrix`` first is, which distinct row each row is): by a hash
    of each row, then checked row by row against its group's first (if a hash is shared by rows
    that differ, sorted exactly instead)."""
    powers = np.cumprod(np.full(matrix.shape[1], 1_000_003, np.uint64), dtype=np.uint64)
    hashes = (matrix.astype(np.uint64) * powers).sum(axis=1, dtype=np.uint64)
    _, firsts, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    if not np.array_equal(matrix, matrix[firsts[inverse]]):
        _, firsts, inverse = np.unique(matrix, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.ravel()
    return firsts, inverse


def _pinyin_of(text: str) -> tuple[str, str]:
    memo: dict = {}
    pieces = [_run_pinyin(run, memo) for run in PinyinTable.load().han_run.findall(text)]
    return "".join(i for i, _ in pieces), "".join(f for _, f in pieces)


class _Segment:
    """Searchable rows in result order (kind, folded name length, then place order): folded names,
    folded addresses, pinyin initials and full pinyin; ``ids[row]`` says which place a row is.

    Names, initials and pinyin also have their rows sorted by text (``by_text``), so that a whole
    text or a prefix is a range found by bisection however many rows it covers; containing is
    found with ``str.find`` (a query whose characters a column never has skips it)."""

    __slots__ = ("names", "details", "initials", "pinyin", "ids", "by_text", "chars")

    def __init__(self, names: _Rows, details: _Rows, initials: _Rows, pinyin: _Rows, ids: np.ndarray,
                 by_text: tuple | None = None, chars: tuple | None = None):
        self.names, self.details, self.initials, self.pinyin, self.ids = names, details, initials, pinyin, ids
        self.by_text = by_text or tuple(rows.sorted_rows() for rows in (names, initials, pinyin))
        self.chars = chars or (_chars(names.text), _chars(details.text))

    @classmethod
    def build(cls, names: Texts, details: Texts, ranks: np.ndarray | None = None) -> _Segment:
        """Rows for places with these (unfolded) names and addresses, sorted by (rank, folded name
        length, position)."""
        folded_names, folded_details = fold_all(names, fold), fold_all(details, fold)
        if ranks is None:
            order = np.argsort(folded_names.lengths, kind="stable")
        else:
            order = np.lexsort((np.arange(len(names)), folded_names.lengths, ranks))
        initials, pinyin = _pinyin_rows(names.taken(order))
        return cls(_Rows.gathered(folded_names, order), _Rows.gathered(folded_details, order), initials, pinyin, _index_array(order))

    def spliced(self, removed: np.ndarray, at: np.ndarray, names: list[str], details: list[str], initials: list[str],
                pinyin: list[str], ids: list[int]) -> _Segment:
        """These rows without rows ``removed`` and with the new ones put before rows ``at`` (see ``_Rows.spliced``)."""
        n = len(self)
        into_kept = at - np.searchsorted(removed, at)
        kept = np.delete(np.arange(n), removed)
        moved = np.full(n, -1, np.int64)
        moved[kept] = np.arange(len(kept)) + np.searchsorted(into_kept, np.arange(len(kept)), side="right")
        added = into_kept + np.arange(len(at))
        rows = [self.names.spliced(removed, at, names), self.details.spliced(removed, at, details),
                self.initials.spliced(removed, at, initials), self.pinyin.spliced(removed, at, pinyin)]
        by_text = []
        for new, old_order, texts in zip((rows[0], rows[2], rows[3]), self.by_text, (names, initials, pinyin), strict=True):
            order = moved[old_order]
            order = order[order >= 0]
            for row, text in sorted(zip(added.tolist(), texts, strict=True), key=lambda rt: (rt[1], rt[0])):
                lo, hi = new.bounds(order, text)[:2]
                order = np.insert(order, lo + int(np.searchsorted(order[lo:hi], row)), row)
            by_text.append(_index_array(order))
        chars = (self.chars[0] | frozenset("".join(names)), self.chars[1] | frozenset("".join(details)))
        ids_new = np.insert(np.delete(self.ids, removed), into_kept, ids)
        return _Segment(*rows, _index_array(ids_new), tuple(by_text), chars)

    @classmethod
    def of_texts(cls, names: list[str], details: list[str], initials: list[str], pinyin: list[str], ids: list[int]) -> _Segment:
        """Rows already folded and in order."""
        return cls(_Rows.of(names), _Rows.of(details), _Rows.of(initials), _Rows.of(pinyin), _index_array(ids))

    def __len__(self) -> int:
        return len(self.ids)

    def keys(self) -> np.ndarray:
        """(folded name length, place) of each row as one number: ascending (the rows' order)."""
        return (self.names.lengths().astype(np.int64) << 32) | self.ids

    def found(self, score: int, q: str, latin: bool, need: int) -> list[tuple[_Segment, int]]:
        return [(self, row) for row in self.rows(score, q, latin, need)]

    def rows(self, score: int, q: str, latin: bool, need: int) -> list[int]:
        """The first ``need`` rows (row order) that score ``score`` for ``q`` (see ``Gazetteer.search``)."""
        names = self.names
        if score == 0:
            lo, mid, _ = names.bounds(self.by_text[0], q)
            return _smallest(self.by_text[0][lo:mid], need)
        if score == 1:
            _, mid, hi = names.bounds(self.by_text[0], q)
            found = _smallest(self.by_text[0][mid:hi], need)
            if latin:
                exact = self._pinyin_ranges(q, exact=True)
                found += _first_where(exact, lambda row: not names.contains(row, q), need)
            return sorted(set(found))[:need]
        if score == 2:
            found = [] if self._absent(q, 0) else list(itertools.islice((row for row, offset in names.find(q) if offset > 0), need))
            if latin:
                exact = self._pinyin_ranges(q, exact=True)
                prefixed = np.setdiff1d(self._pinyin_ranges(q, exact=False), exact)
                found += _first_where(prefixed, lambda row: not names.contains(row, q), need)
            return sorted(set(found))[:need]
        if latin or self._absent(q, 1):
            return []
        return list(itertools.islice((row for row, _ in self.details.find(q) if not names.contains(row, q)), need))

    def _absent(self, q: str, column: int) -> bool:
        chars = self.chars[column]
        return any(c not in chars for c in q)

    def _pinyin_ranges(self, q: str, exact: bool) -> np.ndarray:
        """Rows whose initials (or, for 3 letters or more, full pinyin) are ``q`` (``exact``) or start with it, ascending."""
        parts = []
        for rows, order in ((self.initials, self.by_text[1]), (self.pinyin, self.by_text[2]))[: 2 if len(q) >= 3 else 1]:
            lo, mid, hi = rows.bounds(order, q)
            parts.append(order[lo: mid if exact else hi])
        return np.unique(np.concatenate(parts)) if len(parts) > 1 else np.sort(parts[0])


def _chars(text: str) -> frozenset[str]:
    """The distinct characters of ``text``."""
    return frozenset(map(chr, np.flatnonzero(np.bincount(codes_of(text))).tolist())) if text else frozenset()


def _index_array(values) -> np.ndarray:
    values = np.asarray(values, dtype=np.int64)
    return values.astype(np.int32) if not len(values) or values.max() < 2**31 else values


def _smallest(rows: np.ndarray, need: int) -> list[int]:
    """The ``need`` smallest of ``rows``, ascending (without sorting them all)."""
    if len(rows) > need:
        rows = np.partition(rows, need - 1)[:need]
    return np.sort(rows).tolist()


def _first_where(rows: np.ndarray, keep, need: int) -> list[int]:
    """The first ``need`` of ascending ``rows`` that ``keep`` (rows it refuses are few: see ``Gazetteer.search``)."""
    return list(itertools.islice((row for row in map(int, rows) if keep(row)), need))


def address_parts(address: str, district: str) -> list[tuple[str, str]]:
    """``[("subdistrict", "双河口街道"), ("street", "体育二路")]`` from 重庆市万州区双河口街道体育二路12号."""
    rest = address.strip().removeprefix("重庆市").removeprefix("重庆").removeprefix(district)
    parts = []
    match = _SUBDIVISION.match(rest)
    if match:
        parts.append(("subdistrict", match[1]))
        rest = rest[match.end():]
    match = _STREET.match(rest)
    if match and len(match[1]) >= 2:
        parts.append(("street", match[1]))
    return parts


@functools.lru_cache(maxsize=256)
def _parts_pattern(district: str) -> re.Pattern:
    """``address_parts`` for every line of a text of addresses in ``district``: what it strips and
    removes from the start, taken at most once each (possessive), then the same two patterns."""
    return re.compile(rf"(?m)^[^\S\n]*+(?:重庆市)?+(?:重庆)?+(?:{re.escape(district)})?+"
                      rf"(?:{_SUBDIVISION.pattern.removeprefix('^')})?+(?:{_STREET.pattern.removeprefix('^')})?")


def _address_parts_by_district(addresses: Texts, districts: list[str]):
    """(positions in ``addresses``, (街道/镇, street) of each as ``address_parts`` finds them, "": none)
    for the addresses of one district at a time: one regular expression over all of them."""
    by_district: dict[str, array.array] = {}
    for i, district in enumerate(districts):
        by_district.setdefault(district, array.array("q")).append(i)
    for district, rows in by_district.items():
        text = addresses.joined(rows, _ROW)
        if text.count(_ROW) == len(rows) - 1 and _ROW not in district:
            yield district, rows, (m.groups("") for m in _parts_pattern(district).finditer(text))
        else:  # an address or district over several lines: one at a time
            yield district, rows, ((dict(parts).get("subdistrict", ""), dict(parts).get("street", ""))
                                   for parts in (address_parts(addresses[i], district) for i in rows))


class _Groups:
    """The 街道/镇 and streets of every station's address, as numbers into ``keys`` (-1: none), so a
    write re-reads only the addresses it changed. ``keys`` only grows, shared by versions."""

    __slots__ = ("keys", "index", "sub", "street")

    def __init__(self, keys: list, index: dict, sub: np.ndarray, street: np.ndarray):
        self.keys, self.index, self.sub, self.street = keys, index, sub, street

    @classmethod
    def empty(cls, n: int) -> _Groups:
        return cls([], {}, np.full(n, -1, np.int32), np.full(n, -1, np.int32))

    def read(self, positions: list[int], addresses: Texts, districts: list[str]) -> None:
        """Set the parts of the stations at ``positions`` from their addresses (``address_parts``)."""
        order, subs, streets, added = self._numbered(addresses, districts)
        # The new parts are kept as copies made now, after the pass's small objects are gone: kept as
        # made, amid them, they would keep that memory from going back.
        for key in added:
            kind, district, part = key
            key = (kind, district, part.encode("utf-8", "surrogatepass").decode("utf-8", "surrogatepass"))
            self.index[key] = len(self.keys)
            self.keys.append(key)
        at = np.asarray(positions, dtype=np.int64)[np.frombuffer(order, dtype=np.int64)] if len(order) else np.zeros(0, np.int64)
        self.sub[at] = np.frombuffer(subs, dtype=np.int64) if len(subs) else []
        self.street[at] = np.frombuffer(streets, dtype=np.int64) if len(streets) else []

    def _numbered(self, addresses: Texts, districts: list[str]):
        """(positions read in order, 街道/镇 and street number of each, the parts not numbered before, in number order)."""
        index, first_new = self.index, len(self.keys)
        added: dict = {}

        def number(kind: str, district: str, part: str) -> int:
            if not part:
                return -1
            key = (kind, district, part)
            gid = index.get(key)
            if gid is None:
                gid = added.setdefault(key, first_new + len(added))
            return gid

        numbers: dict = {}
        subs, streets = array.array("q"), array.array("q")  # no int object per station
        order = array.array("q")
        for district, rows, parts in _address_parts_by_district(addresses, districts):
            order.extend(rows)
            for sub, street in parts:
                got = numbers.get((district, sub, street))
                if got is None:
                    got = numbers[(district, sub, street)] = (number("subdistrict", district, sub),
                                                              number("street", district, street if len(street) >= 2 else ""))
                subs.append(got[0])
                streets.append(got[1])
        return order, subs, streets, list(added)

    def carried(self, n: int, touched: list[int], addresses: list[str | None], districts: list[str]) -> _Groups:
        sub, street = np.full(n, -1, np.int32), np.full(n, -1, np.int32)
        sub[: len(self.sub)], street[: len(self.street)] = self.sub, self.street
        new = _Groups(self.keys, self.index, sub, street)
        active = [i for i, a in enumerate(addresses) if a is not None]
        sub[touched], street[touched] = -1, -1
        new.read([touched[i] for i in active], Texts.of([addresses[i] for i in active]), [districts[i] for i in active])
        return new

    def places(self, active: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The numbers of the parts named by active stations, in the order first named, and where
        each is: the mean of its stations (the same sums as ``np.mean``)."""
        pairs = np.column_stack([self.sub[active], self.street[active]]).ravel()
        named = pairs >= 0
        seq = pairs[named]
        if not len(seq):
            return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
        first = np.full(len(self.keys), len(seq), np.int64)
        np.minimum.at(first, seq, np.arange(len(seq)))
        gids = np.flatnonzero(first < len(seq))
        gids = gids[np.argsort(first[gids])]
        counts = np.bincount(seq)[gids]
        lons = np.bincount(seq, weights=np.repeat(lon[active], 2)[named])[gids] / counts
        lats = np.bincount(seq, weights=np.repeat(lat[active], 2)[named])[gids] / counts
        return gids, lons, lats


def _texts(column: np.ndarray) -> list[str]:
    return [v if isinstance(v, str) else "" for v in column.tolist()]


def _fixed_places(districts) -> list[tuple]:
    """(name, kind, lon, lat, district) of the landmarks and districts (with short forms)."""
    places = [(name, "landmark", lon, lat, districts.name(code) if code in districts.by_adcode else "")
              for name, code, lon, lat in LANDMARKS]
    frame = districts.frame
    for name, lon, lat in frame[["name_zh", "seat_lon", "seat_lat"]].itertuples(index=False):
        places.append((name, "district", float(lon), float(lat), name))
        short = re.sub(r"(区|县|自治县)$", "", name)
        if short != name and len(short) >= 2:
            places.append((short, "district", float(lon), float(lat), name))
    return places


class Gazetteer:
    """Every searchable place of one registry version: landmarks, districts, 街道/镇 and streets (a
    few thousand, ``head``) and active stations (``stations``, read from the snapshot's columns), each
    held as a few big strings of folded names, addresses and pinyin in result order.

    ``carried_to`` makes the next version's from this one, re-reading only the stations written.
    """

    def __init__(self, table, fixed: list[tuple], groups: _Groups, stations: _Segment, previous: Gazetteer | None = None):
        self.table, self.fixed, self.groups, self.stations = table, fixed, groups, stations
        active = np.sort(stations.ids)  # of a _Segment or an _Overlay
        gids, self.group_lon, self.group_lat = groups.places(active, table.lon, table.lat)
        #: what each head place is: a group number, or -1 - its index among ``fixed``
        self.head_gids = np.concatenate([-1 - np.arange(len(fixed)), gids]).astype(np.int64)
        if previous is not None and np.array_equal(previous.head_gids, self.head_gids):
            self.head = previous.head  # the same places in the same order: only where they are moved
        else:
            self.head = self._head_segment(previous)

    def _head_segment(self, previous: Gazetteer | None) -> _Segment:
        """The head's rows; the texts of places the previous version had are taken from its rows."""
        n = len(self.head_gids)
        columns: list[list[str | None]] = [[None] * n for _ in range(3)]
        missing = list(range(n))
        if previous is not None:
            old = previous.head
            old_texts = [rows.text[1:-1].split(_ROW) if len(rows) else [] for rows in (old.names, old.initials, old.pinyin)]
            row_of = dict(zip(previous.head_gids[old.ids].tolist(), range(len(old)), strict=True))
            rows_now = [row_of.get(g, -1) for g in self.head_gids.tolist()]
            missing = [i for i, r in enumerate(rows_now) if r < 0]
            for column, texts in zip(columns, old_texts, strict=True):
                column[:] = [texts[r] if r >= 0 else None for r in rows_now]
        if missing:
            raw = Texts.of([self.head_place(i)[0] for i in missing])
            made = [_Rows.gathered(fold_all(raw, fold), np.arange(len(raw))), *_pinyin_rows(raw)]
            for column, rows in zip(columns, made, strict=True):
                for k, i in enumerate(missing):
                    column[i] = rows[k]
        keys = self.groups.keys
        ranks = np.array([_KIND_ORDER[self.fixed[-1 - g][1] if g < 0 else keys[g][0]] for g in self.head_gids.tolist()], dtype=np.int64)
        order = np.lexsort((np.arange(n), np.fromiter(map(len, columns[0]), np.int64, n), ranks)).tolist()
        ordered = [[column[i] for i in order] for column in columns]
        by_text = tuple(_index_array(sorted(range(n), key=texts.__getitem__)) for texts in ordered)
        rows = [_Rows.of(texts) for texts in ordered]
        return _Segment(rows[0], _Rows.of([""] * n), rows[1], rows[2], _index_array(order), by_text)

    def head_place(self, i: int) -> tuple:
        """(name, kind, lon, lat, district) of head place ``i``: a landmark or district, or a 街道/镇 or street."""
        if i < len(self.fixed):
            return self.fixed[i]
        kind, district, name = self.groups.keys[int(self.head_gids[i])]
        return name, kind, float(self.group_lon[i - len(self.fixed)]), float(self.group_lat[i - len(self.fixed)]), district

    def __len__(self) -> int:
        return len(self.head) + len(self.stations)

    def search(self, query: str, limit: int = MAX_RESULTS) -> list[Place]:
        """Places matching ``query``: whole name, then name prefix, then name or address containing it;
        ASCII letters also match pinyin initials or full pinyin from the start (``jfb``, ``jiefangbei``).
        Landmarks and districts before streets before stations; at most ``limit``.

        Rows of each score come in result order (``_Segment.rows``), and the search stops once it
        has ``limit``: rows of an earlier score it passes over are fewer than ``limit``.
        """
        q = fold(query)[:MAX_QUERY_CHARS]
        if not q:
            return []
        latin = q.isascii() and q.isalpha()
        found: list[tuple[_Segment, int]] = []
        for score in range(4):
            for part in (self.head, self.stations):
                need = limit - len(found)
                if need <= 0:
                    break
                found += part.found(score, q, latin, need)
        return [self._place(part, row) for part, row in found[:limit]]

    def _place(self, part: _Segment, row: int) -> Place:
        at = int(part.ids[row])
        if part is self.head:
            return Place(*self.head_place(at))
        name, district, station_id, address = (v if isinstance(v, str) else "" for v in
                                               (self.table.value(c, at) for c in ("name", "district", "id", "address")))
        return Place(name, "station", float(self.table.lon[at]), float(self.table.lat[at]), district, station_id, address)

    def carried_to(self, snapshot) -> _Carried:
        """This gazetteer for ``snapshot``, made by ``with_changes`` from this one's version: worked out
        when first searched (``gazetteer_for``), from the stations written since. What is carried does
        not hold this version's table (its coordinates and codes, ~12 MB at 200,000 stations): working
        it out reads the new version's."""
        detached = copy.copy(self)
        detached.table = None
        return _Carried(detached, snapshot.touched)

    def carried(self, snapshot, touched: np.ndarray) -> Gazetteer:
        """The gazetteer of ``snapshot``, whose stations differ from this one's only at ``touched``."""
        table, n = snapshot.table, len(snapshot)
        stations = self.stations
        base, extra, hidden = (stations.base, stations.extra, stations.hidden) if isinstance(stations, _Overlay) \
            else (stations, _Segment.of_texts([], [], [], [], []), np.zeros(0, np.int64))
        row_of = np.full(len(self.groups.sub), -1, np.int64)
        row_of[base.ids] = np.arange(len(base))
        before = row_of[touched[touched < len(row_of)]]
        hidden = np.union1d(hidden, before[before >= 0])
        positions = touched.tolist()
        now_active = table.equals("status", "active", touched).tolist()
        names, addresses, districts = ([v if isinstance(v, str) else "" for v in table.take(c, touched).tolist()]
                                       for c in ("name", "address", "district"))
        folded = sorted((len(fold(names[i])), positions[i], i) for i in range(len(positions)) if now_active[i])
        rows = [i for _, _, i in folded]
        pinyins = [_pinyin_of(names[i]) for i in rows]
        removed = np.flatnonzero(np.isin(extra.ids, touched))
        at = np.searchsorted(extra.keys(), np.array([(length << 32) | p for length, p, _ in folded], dtype=np.int64))
        extra = extra.spliced(removed, at, [fold(names[i]) for i in rows], [fold(addresses[i]) for i in rows],
                              [p[0] for p in pinyins], [p[1] for p in pinyins], [positions[i] for i in rows])
        segment = _Overlay(base, hidden, extra)
        if len(hidden) + len(extra) > _CARRIED_ROWS:
            segment = segment.merged()
        groups = self.groups.carried(n, positions, [a if on else None for a, on in zip(addresses, now_active, strict=True)],
                                     districts)
        return Gazetteer(table, self.fixed, groups, segment, previous=self)

    def station_rows(self) -> _Segment:
        """The station rows as one segment (what a fresh build makes)."""
        return self.stations.merged() if isinstance(self.stations, _Overlay) else self.stations


# Stations written since the station rows were last joined, kept beside them (``_Overlay``) until this many.
_CARRIED_ROWS = 512


class _Overlay:
    """Station rows of a version made by writes: an earlier version's rows (``base``) with the rows
    of the stations written since hidden, and the rows of those now active beside them (``extra``).
    Searching asks both and merges by (folded name length, position), the rows' order; a write
    costs the written stations, not a copy of the ~40 MB of joined strings (``merged`` makes that
    copy once ``_CARRIED_ROWS`` stations were written)."""

    __slots__ = ("base", "hidden", "extra")

    def __init__(self, base: _Segment, hidden: np.ndarray, extra: _Segment):
        self.base, self.hidden, self.extra = base, hidden, extra

    def __len__(self) -> int:
        return len(self.base) - len(self.hidden) + len(self.extra)

    @property
    def ids(self) -> np.ndarray:
        return np.concatenate([np.delete(self.base.ids, self.hidden), self.extra.ids])

    def found(self, score: int, q: str, latin: bool, need: int) -> list[tuple[_Segment, int]]:
        hidden = set(self.hidden.tolist())
        base = [row for row in self.base.rows(score, q, latin, need + len(hidden)) if row not in hidden][:need]
        rows = [(self.base, row) for row in base] + [(self.extra, row) for row in self.extra.rows(score, q, latin, need)]
        rows.sort(key=lambda sr: (sr[0].names.length(sr[1]), int(sr[0].ids[sr[1]])))
        return rows[:need]

    def merged(self) -> _Segment:
        """The base with the hidden rows taken out and the extra rows put in."""
        extra, n = self.extra, len(self.extra)
        at = np.searchsorted(self.base.keys(), extra.keys())
        return self.base.spliced(self.hidden, at, *([rows[r] for r in range(n)] for rows in (extra.names, extra.details, extra.initials, extra.pinyin)),
                                 extra.ids.tolist())


class _Carried:
    """A gazetteer not yet worked out for its version: the last one built and the stations written
    since (a write costs nothing here; the first search after it a few milliseconds)."""

    def __init__(self, base: Gazetteer, touched: np.ndarray):
        self.base, self.touched = base, touched

    def carried_to(self, snapshot) -> _Carried:
        return _Carried(self.base, np.union1d(self.touched, snapshot.touched))

    def resolve(self, snapshot) -> Gazetteer:
        return self.base.carried(snapshot, self.touched)


def build_gazetteer(snapshot) -> Gazetteer:
    """Stations (active), the 街道/镇 and streets named in their addresses (at the mean of their stations),
    districts (at their seats) and ``LANDMARKS``."""
    table = snapshot.table  # straight from the columns: no Feature, and no str, per station
    active = np.flatnonzero(table.equals("status", "active"))
    names, addresses = (Texts.of_column(table.own_column(name).texts[active]) for name in ("name", "address"))
    stations = _Segment.build(names, addresses)
    stations.ids = _index_array(active[stations.ids])
    groups = _Groups.empty(len(snapshot))
    groups.read(active, addresses, _texts(table.take("district", active)))  # a few shared str
    return Gazetteer(table, _fixed_places(snapshot.districts), groups, stations)


def gazetteer_for(snapshot) -> Gazetteer:
    """The gazetteer of this registry version, built once (or carried from the version before)."""
    gazetteer = cached_on(snapshot, "gazetteer", lambda: build_gazetteer(snapshot))
    if isinstance(gazetteer, _Carried):
        gazetteer = gazetteer.resolve(snapshot)
        snapshot.derived["gazetteer"] = gazetteer
    return gazetteer


def search_places(snapshot, query: str, limit: int = MAX_RESULTS) -> list[Place]:
    return gazetteer_for(snapshot).search(query, limit)
