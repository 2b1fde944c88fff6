"""The rules an upload must pass against the registry and the district map, found all at once.

Blocking: schema (``geo.registry.validate``), points outside Chongqing, outside the uploader's
district or with longitude and latitude swapped, rows repeated exactly. Warnings the
uploader must confirm: a station of the same kind within 30 m or of the same name in the
district (in the registry or earlier in the file), and points that land on existing
stations when read in another coordinate system. Ids come from
``geo.registry.prepare_new_features``, exactly as a commit assigns them.
"""

from __future__ import annotations

import json
import re
import unicodedata
import weakref
from collections import defaultdict
from threading import Lock
from typing import TYPE_CHECKING

import numpy as np
import shapely

from geo import schema
from geo.access.permissions import Actor
from geo.coords import CRS_MATCH_M, CRS_MIN_SHIFT_M, CRS_NAME_MATCH_M, other_readings, to_wgs84
from geo.districts import Districts
from geo.errors import ValidationError
from geo.messages import Join, Label, Text, crs_choice, crs_short, field_label, place
from geo.projection import geodesic_distance_m
from geo.registry import now_iso, prepare_new_features
from geo.registry.validate import check_point, check_properties, formula_problems
from geo.uploads.matching import station_changes, upload_id
from geo.uploads.report import UploadIssue, UploadReport, UploadRow

if TYPE_CHECKING:
    from geo.uploads.formats import ParsedUpload

# Two stations of one kind closer than this (geodesic metres) are probably one station.
DUPLICATE_RADIUS_M = 30.0
# The wrong-CRS evidence is shared with the rider's finder: see geo.coords.other_readings.


def fill_district(feature: dict, uploader_adcode: str | None, districts: Districts | None) -> None:
    """Complete ``district_adcode``/``district`` from each other, else from the uploader's district, else the location."""
    props = feature["properties"]
    adcode, name = props.get("district_adcode"), props.get("district")
    if districts is not None and isinstance(name, str) and name:
        found = _district_by_name(districts, name)
        if found and (not adcode or adcode == found):
            props["district_adcode"], props["district"] = found, districts.name(found)
            return
    if not adcode:
        adcode = uploader_adcode
        if adcode is None and districts is not None and feature.get("geometry"):
            lon, lat = feature["geometry"]["coordinates"][:2]
            located = districts.locate([lon], [lat])[0]
            adcode = located
        if adcode:
            props["district_adcode"] = adcode
    if not name and isinstance(adcode, str) and districts is not None and adcode in districts.by_adcode:
        props["district"] = districts.name(adcode)


def _district_by_name(districts: Districts, name: str) -> str | None:
    key = unicodedata.normalize("NFKC", name).strip().casefold()
    for adcode in districts.by_adcode:
        zh, en = districts.name(adcode), districts.name(adcode, "en")
        short = re.sub(r"(土家族苗族自治县|苗族土家族自治县|土家族自治县|自治县|区|县)$", "", zh)
        if key in (zh.casefold(), short.casefold(), en.casefold(), en.rsplit(" ", 1)[0].casefold()):
            return adcode
    return None


def _fold_name(name) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", name)).casefold() if isinstance(name, str) else ""


class RegistryIndex:
    """What the upload checks need from one registry snapshot: a point index, and names by district.

    Built once per registry version; names are folded lazily, one district at a time,
    because an upload touches one district and folding 200,000 names takes seconds.
    """

    def __init__(self, features: list[dict]):
        self.props = [f["properties"] for f in features]
        # fromiter allocates no per-station lists: at 200k stations a list comprehension here
        # sets off full garbage collections over the parsed registry (seconds).
        n = len(features)
        self.coords = np.empty((n, 2))
        self.coords[:, 0] = np.fromiter((f["geometry"]["coordinates"][0] for f in features), dtype=float, count=n)
        self.coords[:, 1] = np.fromiter((f["geometry"]["coordinates"][1] for f in features), dtype=float, count=n)
        self.tree = shapely.STRtree(shapely.points(self.coords)) if len(features) else None
        self._names_by_district: dict[str, dict[str, list[int]]] = {}
        self._lock = Lock()

    def kind(self, i: int) -> str:
        return self.props[i]["kind"]

    def name(self, i: int) -> str:
        return self.props[i]["name"]

    def id(self, i: int) -> str:
        return self.props[i]["id"]

    def retired(self, i: int) -> bool:
        return self.props[i]["status"] != "active"

    def same_name(self, adcode, name) -> list[int]:
        """Stations of district ``adcode`` whose name equals ``name`` (ignoring width, case and spaces)."""
        if not isinstance(adcode, str) or not _fold_name(name):
            return []
        with self._lock:
            table = self._names_by_district.get(adcode)
            if table is None:
                table = defaultdict(list)
                for i, p in enumerate(self.props):
                    if p["district_adcode"] == adcode:
                        table[_fold_name(p["name"])].append(i)
                self._names_by_district[adcode] = table
        return table.get(_fold_name(name), [])

    def within(self, lon: np.ndarray, lat: np.ndarray, radius_m: float):
        """(query index, station index, metres) for every station within ``radius_m`` of each point."""
        return _pairs_within(self.tree, self.coords, lon, lat, radius_m)

    def describe(self, i: int) -> Text:
        return Text("station_ref", name=self.name(i), id=self.id(i))


_INDEXES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def registry_index(snapshot) -> RegistryIndex:
    """The index of a snapshot, built once per registry version."""
    if snapshot is None:
        return RegistryIndex([])
    try:
        return _INDEXES[snapshot]
    except (KeyError, TypeError):
        index = RegistryIndex(snapshot.features)
        try:
            _INDEXES[snapshot] = index
        except TypeError:
            pass
        return index


def _pairs_within(tree, coords, lon, lat, radius_m):
    empty = (np.zeros(0, int), np.zeros(0, int), np.zeros(0))
    if tree is None or len(lon) == 0:
        return empty
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dlat = radius_m / 110_000.0 * 1.2
    dlon = dlat / np.maximum(np.cos(np.radians(lat)), 0.1)
    boxes = shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)
    qi, ti = tree.query(boxes)
    if len(qi) == 0:
        return empty
    dist = geodesic_distance_m(lon[qi], lat[qi], coords[ti, 0], coords[ti, 1])
    keep = dist <= radius_m
    return qi[keep], ti[keep], dist[keep]


class UploadChecker:
    """One run of every rule over a parsed upload; ``run()`` returns the ``UploadReport``."""

    def __init__(self, parsed: ParsedUpload, snapshot, actor: Actor, districts: Districts):
        self.parsed, self.snapshot, self.actor, self.districts = parsed, snapshot, actor, districts
        self.index = registry_index(snapshot)
        self.rows = [UploadRow(row=r.row, label=r.label, feature=_clean(f)) for r, f in zip(parsed.rows, parsed, strict=True)]
        self.file_problems: list[UploadIssue] = []
        self.file_warnings: list[UploadIssue] = []
        self.bad_location: set[int] = set()
        self.unreadable: set[int] = set()
        self.located: list[str | None] = [None] * len(self.rows)
        self.ids = [upload_id(f) for f in parsed]
        self.matched: dict[int, dict] = {}   # row index -> the registry Feature its id names

    def issue(self, i: int, fld: str | None, message: Text | str, suggestion: Text | str = "",
              code: str = "invalid") -> UploadIssue:
        row, columns = self.rows[i], self.parsed.columns
        if fld == "coordinates":
            column = "/".join(c for c in (columns.get("lon"), columns.get("lat")) if c) or None
        else:
            column = columns.get(fld) if fld else None
        return UploadIssue(row.row, row.label, fld, column, message, suggestion, code)

    def problem(self, i, fld, message, suggestion="", code="invalid"):
        self.rows[i].problems.append(self.issue(i, fld, message, suggestion, code))

    def warn(self, i, fld, message, suggestion="", code="near_duplicate"):
        self.rows[i].warnings.append(self.issue(i, fld, message, suggestion, code))

    def run(self) -> UploadReport:
        for i, raw in enumerate(self.parsed.rows):
            for fld, message, hint in raw.problems:
                self.problem(i, fld, message, hint)
                if fld in ("lon", "lat", "coordinates"):
                    self.bad_location.add(i)
                elif fld is None:  # not a station at all (e.g. a nested collection): nothing more to say
                    self.unreadable.add(i)
                    self.bad_location.add(i)
        self.check_coordinates()
        for i, row in enumerate(self.rows):
            fill_district(row.feature, self.actor.district_adcode, self.districts)
            if self.located[i] and not row.feature["properties"].get("district_adcode"):
                row.feature["properties"]["district_adcode"] = self.located[i]
        self.check_schema()
        self.check_districts()
        self.match_ids()
        self.check_honours()
        self.check_repeated_rows()
        self.check_duplicates()
        self.check_crs()
        self.assign_ids()
        return UploadReport(
            filename=self.parsed.filename, format=self.parsed.format, crs=self.parsed.crs, actor=self.actor,
            snapshot_version=getattr(self.snapshot, "version", None), rows=self.rows,
            file_problems=self.file_problems, file_warnings=self.file_warnings, notes=list(self.parsed.notes),
            parsed=self.parsed, missing=self.missing_from_file(),
        )

    # ids: a row naming an existing station updates it
    def match_ids(self) -> None:
        by_id = getattr(self.snapshot, "by_id", None) or {}
        own = self.actor.district_adcode
        seen: dict[str, int] = {}
        for i, sid in enumerate(self.ids):
            if sid is None:
                continue
            if sid in seen:
                self.problem(i, "id", Text("upload.id_repeated", id=sid, label=place(self.rows[seen[sid]].label)),
                             Text("row.delete_one"), code="repeated_id")
                continue
            seen[sid] = i
            j = by_id.get(sid)
            if j is None:
                self.problem(i, "id", Text("upload.id_unknown", id=sid), Text("upload.id_unknown_hint"), code="unknown_id")
                continue
            existing = self.snapshot.features[j]
            adcode = existing["properties"]["district_adcode"]
            if own is not None and adcode != own:
                self.problem(i, "id", Text("upload.id_other_district", id=sid, name=self.districts.name(adcode)),
                             Text("row.other_district_code_hint"), code="out_of_district")
                continue
            self.matched[i] = existing
            self.rows[i].station_id = sid
            self.rows[i].changes = station_changes(existing, self.rows[i].feature)

    def missing_from_file(self) -> list[dict]:
        """Active stations of the districts the file updates whose ids the file does not carry (for the clerk to retire)."""
        if not self.matched or self.snapshot is None:
            return []
        listed = {sid for sid in self.ids if sid}
        districts = {f["properties"]["district_adcode"] for f in self.matched.values()}
        return [{"id": f["properties"]["id"], "name": f["properties"]["name"], "district_adcode": f["properties"]["district_adcode"]}
                for f in self.snapshot.features
                if f["properties"]["district_adcode"] in districts and f["properties"]["status"] == "active"
                and f["properties"]["id"] not in listed]

    # coordinates: range, swapped axes, inside Chongqing
    def check_coordinates(self) -> None:
        crs = self.parsed.crs
        todo = [i for i, r in enumerate(self.parsed.rows) if r.lonlat is not None and i not in self.bad_location]
        if not todo:
            return
        pts = np.array([self.rows[i].feature["geometry"]["coordinates"][:2] for i in todo], dtype=float)
        inside = self.districts.locate(pts[:, 0], pts[:, 1])
        for i, found in zip(todo, inside, strict=True):
            self.located[i] = found
        lost = [i for i, found in zip(todo, inside, strict=True) if found is None]
        if not lost:
            return
        raw = np.array([self.parsed.rows[i].lonlat for i in lost], dtype=float)
        swapped_lon, swapped_lat = to_wgs84(raw[:, 1], raw[:, 0], crs)
        swapped = self.districts.locate(swapped_lon, swapped_lat)
        columns = self.parsed.columns
        lon_col = columns.get("lon", Label(zh=field_label("lon"), en="longitude"))
        lat_col = columns.get("lat", Label(zh=field_label("lat"), en="latitude"))
        for i, (lon, lat), other in zip(lost, raw, swapped, strict=True):
            self.bad_location.add(i)
            lon, lat = float(lon), float(lat)
            if other is not None:
                district = self.districts.name(other)
                if columns:
                    message = Text("row.swapped_columns", lon_col=lon_col, lon=lon, lat_col=lat_col, lat=lat, district=district)
                    fix = Text("row.swap_columns_hint", lon_col=lon_col, lat_col=lat_col)
                else:
                    message = Text("row.swapped_geojson", lon=lon, lat=lat, district=district)
                    fix = Text("row.swap_geojson_hint")
                self.problem(i, "coordinates", message, fix, code="swapped_coordinates")
            elif not (-180 <= lon <= 180 and -90 <= lat <= 90):
                self.problem(i, "coordinates", Text("row.not_lonlat", lon=lon, lat=lat), Text("row.not_lonlat_hint"))
            else:
                self.problem(i, "coordinates", Text("row.outside", lon=lon, lat=lat, crs=crs_short(crs)),
                             Text("row.outside_hint"), code="outside_chongqing")

    def check_schema(self) -> None:
        stamp = now_iso()
        source = "admin" if self.actor.role == "admin" else "district_upload"
        for i, row in enumerate(self.rows):
            if i in self.unreadable:
                continue
            tag = f"§{i}"
            if i not in self.bad_location:
                for p in check_point(row.feature.get("geometry"), tag)[0]:
                    self.problem(i, "coordinates", p.message_text, p.hint_text)
            props = {"phone": "", "honours": [], **row.feature["properties"], "id": "500000-OS-0000",
                     "status": "active", "created_at": stamp, "updated_at": stamp, "source": source}
            for p in formula_problems(row.feature["properties"], tag):
                self.problem(i, p.where.rsplit(".", 1)[1], p.message_text, p.hint_text, code="formula")
            unreadable_fields = {fld for fld, _, _ in self.parsed.rows[i].problems}
            for p in check_properties(props, tag, self.districts):
                fld = p.where.split(".properties", 1)[1].lstrip(".") if ".properties" in p.where else None
                if fld == "id" or (fld in unreadable_fields and p.message == "is required"):
                    continue
                self.problem(i, fld or None, p.message_text, _vocab_hint(fld, p.hint_text))

    def check_districts(self) -> None:
        own = self.actor.district_adcode
        d = self.districts
        for i, row in enumerate(self.rows):
            adcode = row.feature["properties"].get("district_adcode")
            located = self.located[i]
            known = isinstance(adcode, str) and adcode in d.by_adcode
            if own is not None and known and adcode != own:
                self.problem(i, "district_adcode", Text("row.other_district_code", name=d.name(adcode), adcode=adcode,
                                                        own_name=d.name(own), own=own),
                             Text("row.other_district_code_hint"), code="out_of_district")
            if located is None or i in self.bad_location:
                continue
            if own is not None and located != own:
                self.problem(i, "coordinates", Text("row.outside_own", name=d.name(located), adcode=located,
                                                    own_name=d.name(own), own=own),
                             Text("row.check_point"), code="out_of_district")
            elif known and located != adcode:
                self.problem(i, "coordinates", Text("row.district_mismatch", name=d.name(located), adcode=located,
                                                    other_name=d.name(adcode), other=adcode),
                             Text("row.district_mismatch_hint"), code="district_mismatch")

    def check_honours(self) -> None:
        # Honours are conferred by the unions; the registry takes them from administrators only.
        if self.actor.role == "admin":
            return
        for i, row in enumerate(self.rows):
            honours = row.feature["properties"].get("honours")
            if i in self.matched and set(honours or ()) == set(self.matched[i]["properties"].get("honours") or ()):
                continue   # a re-uploaded row repeating the station's honours changes nothing
            if honours:
                self.problem(i, "honours", Text("row.honours_admin_only"), Text("row.honours_admin_only_hint"),
                             code="honours")

    def check_repeated_rows(self) -> None:
        seen: dict[str, int] = {}
        for i, row in enumerate(self.rows):
            key = json.dumps(row.feature, sort_keys=True, ensure_ascii=False)
            if key in seen:
                first = self.rows[seen[key]]
                self.problem(i, None, Text("row.repeated", label=place(first.label)), Text("row.delete_one"), code="repeated_row")
            else:
                seen[key] = i

    def usable_points(self) -> list[int]:
        """Rows that are new stations with a readable point (rows matched by id are not duplicates of anything)."""
        return [i for i, r in enumerate(self.rows) if self.located[i] is not None and i not in self.bad_location
                and i not in self.matched and not any(p.code == "repeated_row" for p in r.problems)]

    def check_duplicates(self) -> None:
        """Warnings: same kind within 30 m, or same name in the district — in the registry or earlier in the file."""
        index = self.index
        usable = self.usable_points()
        pts = np.array([self.rows[i].feature["geometry"]["coordinates"][:2] for i in usable], dtype=float).reshape(-1, 2)
        kinds = [self.rows[i].feature["properties"].get("kind") for i in usable]
        near: dict[int, list[tuple[float, int]]] = defaultdict(list)
        for q, t, dist in zip(*index.within(pts[:, 0], pts[:, 1], DUPLICATE_RADIUS_M), strict=True):
            if index.kind(t) == kinds[q]:
                near[usable[q]].append((float(dist), int(t)))
        self.registry_hits: dict[int, set[int]] = defaultdict(set)
        for i, hits in near.items():
            dist, t = min(hits)
            self.registry_hits[i].add(t)
            same_name = _fold_name(index.name(t)) == _fold_name(self.rows[i].feature["properties"].get("name"))
            retired = index.retired(t)
            key = ("dup.retired" if retired else "dup.existing") + ("_same_name" if same_name else "")
            self.warn(i, "coordinates", Text(key, dist=dist, station=index.describe(t)),
                      Text("dup.retired_hint") if retired else Text("dup.existing_hint"))
        for i, row in enumerate(self.rows):
            if i in self.matched:
                continue
            props = row.feature["properties"]
            others = [t for t in index.same_name(props.get("district_adcode"), props.get("name"))
                      if t not in self.registry_hits[i]]
            if others:
                self.registry_hits[i].update(others)
                self.warn(i, "name", Text("dup.same_name", station=index.describe(others[0])), Text("dup.same_name_hint"),
                          code="same_name")
        # within the file: later rows are warned about earlier ones
        if len(usable) > 1:
            tree = shapely.STRtree(shapely.points(pts))
            close: dict[int, tuple[float, int]] = {}
            for q, t, dist in zip(*_pairs_within(tree, pts, pts[:, 0], pts[:, 1], DUPLICATE_RADIUS_M), strict=True):
                if t < q and kinds[q] == kinds[t] and (usable[q] not in close or dist < close[usable[q]][0]):
                    close[usable[q]] = (float(dist), usable[t])
            for i, (dist, j) in sorted(close.items()):
                self.warn(i, "coordinates", Text("dup.in_file", dist=dist, label=place(self.rows[j].label)),
                          Text("dup.in_file_hint"))
        first_by_name: dict[tuple, int] = {}
        for i, row in enumerate(self.rows):
            props = row.feature["properties"]
            key = (props.get("district_adcode"), _fold_name(props.get("name")))
            if not key[1] or i in self.matched or any(p.code == "repeated_row" for p in row.problems):
                continue
            if key in first_by_name:
                self.warn(i, "name", Text("dup.in_file_same_name", label=place(self.rows[first_by_name[key]].label)),
                          Text("dup.in_file_hint"), code="same_name")
            else:
                first_by_name[key] = i

    def check_crs(self) -> None:
        """Warn when reading the coordinates in another CRS would put points on existing stations."""
        index, crs = self.index, self.parsed.crs
        usable = self.usable_points()
        if index.tree is None or not usable:
            return
        raw = np.array([self.parsed.rows[i].lonlat for i in usable], dtype=float)
        stated = np.array([self.rows[i].feature["geometry"]["coordinates"][:2] for i in usable], dtype=float)
        flagged: dict[int, tuple[float, str, int, float]] = {}
        for alt, (alt_lon, alt_lat) in other_readings(raw[:, 0], raw[:, 1], crs).items():
            for q, t, dist in zip(*index.within(alt_lon, alt_lat, CRS_NAME_MATCH_M), strict=True):
                i = usable[q]
                props = self.rows[i].feature["properties"]
                same_name = _fold_name(index.name(t)) == _fold_name(props.get("name"))
                same_kind = index.kind(t) == props.get("kind")
                if not (same_name or (same_kind and dist <= CRS_MATCH_M)):
                    continue
                shift = float(geodesic_distance_m(stated[q, 0], stated[q, 1], *index.coords[t]))
                if shift >= CRS_MIN_SHIFT_M and (i not in flagged or dist < flagged[i][0]):
                    flagged[i] = (float(dist), alt, int(t), shift)
        for i, (dist, alt, t, shift) in sorted(flagged.items()):
            # The CRS warning explains a same-name match; do not warn twice about that station.
            self.rows[i].warnings = [w for w in self.rows[i].warnings
                                     if not (w.code == "same_name" and index.id(t) in w.message)]
            self.warn(i, "coordinates",
                      Text("crs.row", alt=crs_short(alt, schema.INPUT_CRS[alt].en), crs=crs_short(crs, schema.INPUT_CRS[crs].en),
                           dist=dist, station=index.describe(t), shift=shift),
                      Text("crs.row_hint", source=Text(f"crs.source.{alt}"), choice=crs_choice(alt)), code="crs_mismatch")
        if len(flagged) >= 2:
            alts = sorted({v[1] for v in flagged.values()})
            self.file_warnings.append(UploadIssue(
                None, "file", None, None,
                Text("crs.file", n=len(flagged), rows=len(self.rows), crs=crs_short(crs, schema.INPUT_CRS[crs].en),
                     alts=Join(tuple(crs_short(a, schema.INPUT_CRS[a].en) for a in alts), zh=" 或 ", en=" or ")),
                Text("crs.file_hint", choice=crs_choice(alts[0], f"{alts[0]} ({schema.INPUT_CRS[alts[0]].zh})")),
                "crs_mismatch"))

    def assign_ids(self) -> None:
        """Run the registry's own preparation on the rows, as a commit would, for the preview ids."""
        if not all(not r.problems for r in self.rows) or self.file_problems:
            return
        current = self.snapshot.features if self.snapshot is not None else []
        new_rows = [r for i, r in enumerate(self.rows) if i not in self.matched]
        if not new_rows:
            return
        try:
            prepared = prepare_new_features([r.feature for r in new_rows], current, self.actor, self.districts)
        except ValidationError as exc:  # should not happen: the checks above are a superset
            self.file_problems += [UploadIssue(None, "file", None, None, p.line()) for p in exc.problems]
            return
        for row, feature in zip(new_rows, prepared, strict=True):
            row.provisional_id = feature["properties"]["id"]


def _vocab_hint(fld: str | None, hint: Text | str) -> Text | str:
    """A file names kinds and amenities by their Chinese labels, so the hint lists those (English adds the codes)."""
    vocab = {"kind": schema.KINDS, "amenities": schema.AMENITIES, "honours": schema.HONOURS}.get(fld)
    if vocab is None or not isinstance(hint, Text) or hint.key != "hint.one_of":
        return hint
    return Text("hint.one_of", choices=Join(tuple(Label(zh=t.zh, en=f"{t.zh} ({c})") for c, t in vocab.items())))


def _clean(feature: dict) -> dict:
    """A fresh Feature with only what a new station may carry (no server fields, no foreign members)."""
    props = feature.get("properties") if isinstance(feature.get("properties"), dict) else {}
    props = {k: v for k, v in props.items() if k not in ("id", "status", "created_at", "updated_at", "source")}
    geometry = feature.get("geometry")
    return {"type": "Feature", "geometry": dict(geometry) if isinstance(geometry, dict) else None,
            "properties": json.loads(json.dumps(props))}


