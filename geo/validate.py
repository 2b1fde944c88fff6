"""Validation of station GeoJSON against the schema and the district map, reporting every problem at once.

geopandas loads swapped, out-of-range and NaN coordinates without complaint and honours
a legacy ``crs`` member silently, so we check the parsed JSON ourselves before building
any GeoDataFrame.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime

import numpy as np

from geo import schema
from geo.districts import Districts
from geo.errors import Problem, ValidationError
from geo.hours import opening_hours_problem

CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_PROBLEMS = 200


def parse_json_strict(raw: bytes | str, source: str = "input") -> object:
    """Parse JSON refusing what Python's parser lets through: NaN/Infinity, duplicate keys,
    huge nesting, invalid UTF-8 and lone surrogates. Raises ``ValidationError``."""
    if isinstance(raw, bytes):
        if not raw.strip():
            raise ValidationError(Problem(source, "the file is empty"))
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValidationError(
                Problem(source, f"not UTF-8 text (byte {exc.start})", "save the file as UTF-8 GeoJSON")
            ) from exc
    if not raw.strip():
        raise ValidationError(Problem(source, "the file is empty"))
    try:
        data = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float,
                          object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            Problem(source, f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")
        ) from exc
    except RecursionError as exc:
        raise ValidationError(Problem(source, "JSON nested too deeply")) from exc
    except ValueError as exc:  # raised by our hooks
        raise ValidationError(Problem(source, str(exc))) from exc
    if SURROGATE_ESCAPE.search(raw):
        _reject_lone_surrogates(data, source)
    return data


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is too large a number")
    return value


def _reject_constant(name: str):
    raise ValueError(f"{name} is not allowed in JSON; use a finite number")


def _reject_duplicate_keys(pairs):
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r} in one object")
            seen.add(key)
    return obj


# Only a \uD800–\uDFFF escape can smuggle a lone surrogate past a UTF-8 decode.
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _reject_lone_surrogates(value, source: str) -> None:
    """Walk parsed JSON for strings that cannot be encoded as UTF-8 (they crash later writes)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValidationError(Problem(source, "text contains an invalid character (lone surrogate)")) from None


def feature_label(index: int, feature) -> str:
    """``features[3]`` or ``features[3] (500103-OS-0001)`` when the feature has a readable id."""
    fid = None
    if isinstance(feature, dict) and isinstance(feature.get("properties"), dict):
        fid = feature["properties"].get("id")
    return f"features[{index}] ({fid})" if isinstance(fid, str) and fid else f"features[{index}]"


def check_point(geometry, where: str) -> tuple[list[Problem], tuple[float, float] | None]:
    """Schema check of one Point geometry; returns problems and (lon, lat) if usable."""
    if not isinstance(geometry, dict):
        return [Problem(f"{where}.geometry", "missing or not an object", "a Point geometry is required")], None
    if geometry.get("type") != "Point":
        return [Problem(f"{where}.geometry.type", f"is {geometry.get('type')!r}, expected 'Point'")], None
    coords = geometry.get("coordinates")
    if not isinstance(coords, list) or len(coords) not in (2, 3):
        return [Problem(f"{where}.geometry.coordinates", "must be [longitude, latitude]")], None
    if not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in coords):
        return [Problem(f"{where}.geometry.coordinates", "must be numbers")], None
    lon, lat = float(coords[0]), float(coords[1])
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return [Problem(f"{where}.geometry.coordinates", "must be finite numbers")], None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        hint = "longitude comes first in GeoJSON" if -180 <= lat <= 180 and -90 <= lon <= 90 else ""
        return [Problem(f"{where}.geometry.coordinates", f"[{lon}, {lat}] is out of range", hint)], None
    return [], (lon, lat)


def check_properties(props, where: str, districts: Districts | None, *, partial: bool = False) -> list[Problem]:
    """Schema check of station properties. ``partial`` checks only the keys present (edits)."""
    if not isinstance(props, dict):
        return [Problem(f"{where}.properties", "missing or not an object")]
    problems = []
    for name in props:
        if name not in schema.PROPERTIES:
            problems.append(Problem(f"{where}.properties.{name}", "unknown property", _did_you_mean(name)))
    for name, (required, kind, max_len) in schema.PROPERTIES.items():
        here = f"{where}.properties.{name}"
        if name not in props or props[name] is None:
            if required and not partial:
                problems.append(Problem(here, "is required"))
            continue
        value = props[name]
        if not isinstance(value, kind):
            problems.append(Problem(here, f"must be {'a list' if kind is list else 'text'}, got {type(value).__name__}"))
            continue
        if isinstance(value, str):
            if max_len and len(value) > max_len:
                problems.append(Problem(here, f"is {len(value)} characters long; at most {max_len} allowed"))
            if CONTROL_CHARS.search(value):
                problems.append(Problem(here, "contains control characters"))
            if required and not value.strip():
                problems.append(Problem(here, "is empty"))
        problems.extend(_check_value(name, value, here, props, districts))
    return problems


def _check_value(name, value, here, props, districts) -> list[Problem]:
    def one_of(vocab):
        return "one of " + ", ".join(vocab)

    if name == "kind" and value not in schema.KINDS:
        return [Problem(here, f"unknown kind {value!r}", one_of(schema.KINDS))]
    if name == "status" and value not in schema.STATUSES:
        return [Problem(here, f"unknown status {value!r}", one_of(schema.STATUSES))]
    if name == "source" and value not in schema.SOURCES:
        return [Problem(here, f"unknown source {value!r}", one_of(schema.SOURCES))]
    if name in ("amenities", "honours"):
        vocab = schema.AMENITIES if name == "amenities" else schema.HONOURS
        bad = [v for v in value if not isinstance(v, str) or v not in vocab]
        problems = [Problem(here, f"unknown {name[:-1] if name == 'honours' else 'amenity'} {b!r}", one_of(vocab)) for b in bad]
        if len(set(map(str, value))) != len(value):
            problems.append(Problem(here, "lists the same code twice"))
        return problems
    if name == "opening_hours":
        reason = opening_hours_problem(value)
        return [Problem(here, f"not valid opening_hours syntax: {reason}", "e.g. 24/7 or Mo-Fr 08:00-18:00; Sa,Su 09:00-17:00")] if reason else []
    if name in ("created_at", "updated_at"):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return [Problem(here, f"{value!r} is not an ISO 8601 date-time", "e.g. 2025-06-01T09:30:00+08:00")]
        return []
    if name == "phone" and value and not schema.PHONE_PATTERN.match(value):
        return [Problem(here, f"{value!r} is not a phone number", "digits, spaces, + - ( ) only, e.g. 023-63891234")]
    if name == "district_adcode":
        if not schema.ADCODE_PATTERN.match(value) or (districts is not None and value not in districts.by_adcode):
            return [Problem(here, f"{value!r} is not one of Chongqing's 38 district codes")]
        if districts is not None and isinstance(props.get("district"), str):
            expected = districts.name(value)
            if props["district"] != expected:
                return [Problem(f"{here[: -len('district_adcode')]}district", f"{props['district']!r} does not match code {value} ({expected})")]
        return []
    if name == "id":
        match = schema.ID_PATTERN.match(value)
        if not match:
            return [Problem(here, f"{value!r} is not a station id", "district code-kind code-serial, e.g. 500103-OS-0001")]
        problems = []
        if isinstance(props.get("district_adcode"), str) and match["adcode"] != props["district_adcode"]:
            problems.append(Problem(here, f"starts with {match['adcode']} but district_adcode is {props['district_adcode']}"))
        kind = props.get("kind")
        if kind in schema.KIND_ID_CODES and match["kind"] != schema.KIND_ID_CODES[kind]:
            problems.append(Problem(here, f"kind code {match['kind']} does not match kind {kind!r} ({schema.KIND_ID_CODES[kind]})"))
        return problems
    return []


def _did_you_mean(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, schema.PROPERTY_NAMES, n=1)
    return f"did you mean {close[0]!r}?" if close else "allowed: " + ", ".join(schema.PROPERTY_NAMES)


def check_locations(points, districts: Districts) -> list[Problem]:
    """Each (where, lon, lat, adcode) must lie in Chongqing and in the district it names."""
    if not points:
        return []
    wheres, lons, lats, adcodes = zip(*points, strict=False)
    found = districts.locate(np.array(lons), np.array(lats))
    problems = []
    swapped = None
    for i, (where, lon, lat, adcode) in enumerate(points):
        here = f"{where}.geometry.coordinates"
        if found[i] is None:
            if swapped is None:
                swapped = districts.locate(np.array(lats), np.array(lons))
            hint = "latitude and longitude look swapped: GeoJSON is [longitude, latitude]" if swapped[i] is not None else "check the coordinates"
            problems.append(Problem(here, f"[{lon}, {lat}] is outside Chongqing", hint))
        elif isinstance(adcode, str) and adcode in districts.by_adcode and found[i] != adcode:
            problems.append(
                Problem(here, f"lies in {districts.name(found[i])} ({found[i]}), not in {districts.name(adcode)} ({adcode})",
                        "fix the coordinates or district_adcode")
            )
    return problems


def validate_feature_collection(data, districts: Districts | None) -> list[Problem]:
    """Every problem with a station FeatureCollection (parsed JSON), in file order."""
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        got = data.get("type") if isinstance(data, dict) else type(data).__name__
        return [Problem("type", f"expected a GeoJSON FeatureCollection, got {got!r}")]
    if "crs" in data:
        return [Problem("crs", "RFC 7946 GeoJSON has no 'crs' member; coordinates must be WGS-84 lon/lat", "remove 'crs' and convert to WGS-84")]
    features = data.get("features")
    if not isinstance(features, list):
        return [Problem("features", "must be a list of Feature objects")]
    problems: list[Problem] = []
    points = []
    seen_ids: dict[str, int] = {}
    for index, feature in enumerate(features):
        where = feature_label(index, feature)
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            problems.append(Problem(where, "is not a GeoJSON Feature"))
            continue
        geometry_problems, lonlat = check_point(feature.get("geometry"), where)
        problems.extend(geometry_problems)
        props = feature.get("properties")
        problems.extend(check_properties(props, where, districts))
        if isinstance(props, dict):
            fid = props.get("id")
            if isinstance(fid, str):
                if fid in seen_ids:
                    problems.append(Problem(f"{where}.properties.id", f"duplicate id (also features[{seen_ids[fid]}])"))
                else:
                    seen_ids[fid] = index
            if lonlat is not None:
                points.append((where, lonlat[0], lonlat[1], props.get("district_adcode")))
        if len(problems) >= MAX_PROBLEMS:
            break
    if districts is not None and len(problems) < MAX_PROBLEMS:
        problems.extend(check_locations(points, districts))
    return problems[:MAX_PROBLEMS]


def validate_file_bytes(raw: bytes, districts: Districts | None, source: str = "input") -> dict:
    """Parse and validate; return the FeatureCollection or raise ``ValidationError`` with every problem."""
    data = parse_json_strict(raw, source)
    problems = validate_feature_collection(data, districts)
    if problems:
        raise ValidationError(problems, source=source)
    return data
