"""Finding a place without GPS: station names and addresses, streets and 街道/镇 from the addresses,
district names and a small gazetteer of landmarks, by Chinese text or pinyin initials (``jfb`` → 解放碑).

Everything is built once per registry version from the registry and the district layer (no
network); a query scans a few thousand short strings (``scripts/bench_search.py``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
from pypinyin import lazy_pinyin

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


def _initials(text: str) -> tuple[str, str]:
    """(initials, full pinyin) of the Chinese in ``text``, lower case, no separators."""
    syllables = lazy_pinyin(text, errors="ignore")
    return "".join(s[0] for s in syllables if s), "".join(syllables)


class Gazetteer:
    """Every searchable place of one registry version, with folded names and pinyin precomputed."""

    def __init__(self, places: list[Place]):
        self.places = places
        self.names = [fold(p.name) for p in places]
        self.details = [fold(p.detail) for p in places]
        pinyin = [_initials(p.name) for p in places]
        self.initials = [i for i, _ in pinyin]
        self.pinyin = [f for _, f in pinyin]
        self.rank = np.array([_KIND_ORDER[p.kind] for p in places])

    def search(self, query: str, limit: int = MAX_RESULTS) -> list[Place]:
        """Places matching ``query``: whole name, then name prefix, then name or address containing it;
        ASCII letters also match pinyin initials or full pinyin from the start (``jfb``, ``jiefangbei``).
        Landmarks and districts before streets before stations; at most ``limit``.
        """
        q = fold(query)[:MAX_QUERY_CHARS]
        if not q:
            return []
        latin = q.isascii() and q.isalpha()
        scored = []
        for i, name in enumerate(self.names):
            if name == q:
                score = 0
            elif name.startswith(q):
                score = 1
            elif q in name:
                score = 2
            elif latin and (self.initials[i].startswith(q) or (len(q) >= 3 and self.pinyin[i].startswith(q))):
                score = 1 if self.initials[i] == q or self.pinyin[i] == q else 2
            elif not latin and q in self.details[i]:
                score = 3
            else:
                continue
            scored.append((score, int(self.rank[i]), len(name), i))
        scored.sort()
        return [self.places[i] for *_, i in scored[:limit]]


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


def build_gazetteer(snapshot) -> Gazetteer:
    """Stations (active), the 街道/镇 and streets named in their addresses (at the mean of their stations),
    districts (at their seats) and ``LANDMARKS``."""
    districts = snapshot.districts
    places = [Place(name, "landmark", lon, lat, districts.name(code) if code in districts.by_adcode else "")
              for name, code, lon, lat in LANDMARKS]
    frame = districts.frame
    for name, lon, lat in frame[["name_zh", "seat_lon", "seat_lat"]].itertuples(index=False):
        places.append(Place(name, "district", float(lon), float(lat), name))
        short = re.sub(r"(区|县|自治县)$", "", name)
        if short != name and len(short) >= 2:
            places.append(Place(short, "district", float(lon), float(lat), name))
    groups: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    column = snapshot.column  # straight from the columns: no Feature per station
    active = np.flatnonzero(column("status") == "active")
    texts = [[v if isinstance(v, str) else "" for v in column(name)[active].tolist()] for name in ("name", "district", "id", "address")]
    lons, lats = snapshot.table.lon[active].tolist(), snapshot.table.lat[active].tolist()
    for name, district, station_id, address, lon, lat in zip(*texts, lons, lats, strict=True):
        places.append(Place(name, "station", lon, lat, district, station_id, address))
        for kind, part in address_parts(address, district):
            groups.setdefault((kind, district, part), []).append((lon, lat))
    for (kind, district, name), points in groups.items():
        lon, lat = np.mean(np.array(points), axis=0)
        places.append(Place(name, kind, float(lon), float(lat), district))
    return Gazetteer(places)


def gazetteer_for(snapshot) -> Gazetteer:
    """The gazetteer of this registry version, built once."""
    return cached_on(snapshot, "gazetteer", lambda: build_gazetteer(snapshot))


def search_places(snapshot, query: str, limit: int = MAX_RESULTS) -> list[Place]:
    return gazetteer_for(snapshot).search(query, limit)
