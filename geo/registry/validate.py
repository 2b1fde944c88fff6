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
from geo.messages import Join, Label, Place, Text, at, message_of, type_label

CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_PROBLEMS = 200


def parse_json_strict(raw: bytes | str, source: str = "input") -> object:
    """Parse JSON refusing what Python's parser lets through: NaN/Infinity, duplicate keys,
    huge nesting, invalid UTF-8 and lone surrogates. Raises ``ValidationError``."""
    if isinstance(raw, bytes):
        if not raw.strip():
            raise ValidationError(Problem(source, Text("json.empty")))
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValidationError(
                Problem(source, Text("json.not_utf8", byte=exc.start), Text("json.save_utf8"))
            ) from exc
    if not raw.strip():
        raise ValidationError(Problem(source, Text("json.empty")))
    try:
        data = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float,
                          object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as exc:
        detail = Text(JSON_ERRORS[exc.msg]) if exc.msg in JSON_ERRORS else exc.msg
        raise ValidationError(
            Problem(source, Text("json.invalid", detail=detail, line=exc.lineno, column=exc.colno))
        ) from exc
    except RecursionError as exc:
        raise ValidationError(Problem(source, Text("json.too_deep"))) from exc
    except ValueError as exc:  # raised by our hooks
        raise ValidationError(Problem(source, message_of(exc))) from exc
    if SURROGATE_ESCAPE.search(raw):
        _reject_lone_surrogates(data, source)
    return data


# json's reasons for a syntax error that we can say in Chinese too.
JSON_ERRORS = {"Expecting value": "json.why.value", "Expecting ',' delimiter": "json.why.comma",
               "Expecting ':' delimiter": "json.why.colon", "Extra data": "json.why.extra",
               "Expecting property name enclosed in double quotes": "json.why.name",
               "Unterminated string starting at": "json.why.string", "Invalid control character at": "json.why.control"}


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(Text("json.too_large_number", number=text[:20]))
    return value


def _reject_constant(name: str):
    raise ValueError(Text("json.constant", name=name))


def _reject_duplicate_keys(pairs):
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(Text("json.duplicate_key", key=key))
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
                raise ValidationError(Problem(source, Text("text.lone_surrogate"))) from None


def feature_label(index: int, feature) -> Place:
    """``features[3]`` or ``features[3] (500103-OS-0001)`` when the feature has a readable id."""
    fid = None
    if isinstance(feature, dict) and isinstance(feature.get("properties"), dict):
        fid = feature["properties"].get("id")
    return Place(feature=index, id=fid if isinstance(fid, str) and fid else None)


def check_point(geometry, where: str) -> tuple[list[Problem], tuple[float, float] | None]:
    """Schema check of one Point geometry; returns problems and (lon, lat) if usable."""
    if not isinstance(geometry, dict):
        return [Problem(at(where, "geometry"), Text("geo.missing_object"), Text("geo.point_required"))], None
    if geometry.get("type") != "Point":
        return [Problem(at(where, "geometry.type"), Text("geo.not_point", type=_shown_type(geometry.get("type"))))], None
    coords = geometry.get("coordinates")
    if not isinstance(coords, list) or len(coords) not in (2, 3):
        return [Problem(at(where, "geometry.coordinates"), Text("geo.pair"))], None
    if not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in coords):
        return [Problem(at(where, "geometry.coordinates"), Text("geo.numbers"))], None
    lon, lat = float(coords[0]), float(coords[1])
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return [Problem(at(where, "geometry.coordinates"), Text("geo.finite"))], None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        hint = Text("geo.lon_first") if -180 <= lat <= 180 and -90 <= lon <= 90 else ""
        return [Problem(at(where, "geometry.coordinates"), Text("geo.out_of_range", lon=lon, lat=lat), hint)], None
    return [], (lon, lat)


def _shown_type(value):
    """A GeoJSON ``type`` member as the message shows it: the user's text, or what Python calls a non-string."""
    return value if isinstance(value, str) else Label(zh=repr(value), en=value)


def type_member(data):
    """What a JSON document says it is, for messages: its ``type`` member, or its JSON type if it is no object."""
    return _shown_type(data.get("type")) if isinstance(data, dict) else type_label(data)


def check_properties(props, where: str, districts: Districts | None, *, partial: bool = False) -> list[Problem]:
    """Schema check of station properties. ``partial`` checks only the keys present (edits)."""
    if not isinstance(props, dict):
        return [Problem(at(where, "properties"), Text("geo.missing_object"))]
    problems = []
    for name in props:
        if name not in schema.PROPERTIES:
            problems.append(Problem(at(where, f"properties.{name}"), Text("prop.unknown"), _did_you_mean(name)))
    for name, (required, kind, max_len) in schema.PROPERTIES.items():
        def here(name=name):  # a Place costs microseconds to render: only build it for a problem
            return at(where, f"properties.{name}")
        if name not in props or props[name] is None:
            if required and not partial:
                problems.append(Problem(here(), Text("prop.required")))
            continue
        value = props[name]
        if not isinstance(value, kind):
            problems.append(Problem(here(), Text("prop.not_list", got=type_label(value)) if kind is list else Text("prop.not_text", got=type_label(value))))
            continue
        if isinstance(value, str):
            if max_len and len(value) > max_len:
                problems.append(Problem(here(), Text("prop.too_long", n=len(value), max=max_len)))
            if CONTROL_CHARS.search(value):
                problems.append(Problem(here(), Text("prop.control")))
            if required and not value.strip():
                problems.append(Problem(here(), Text("prop.empty")))
        problems.extend(_check_value(name, value, here, props, districts))
    return problems


def _check_value(name, value, here, props, districts) -> list[Problem]:
    if name == "kind" and value not in schema.KINDS:
        return [Problem(here(), Text("prop.unknown_kind", value=value), one_of(schema.KINDS))]
    if name == "status" and value not in schema.STATUSES:
        return [Problem(here(), Text("prop.unknown_status", value=value), one_of(schema.STATUSES))]
    if name == "source" and value not in schema.SOURCES:
        return [Problem(here(), Text("prop.unknown_source", value=value), one_of(schema.SOURCES))]
    if name in ("amenities", "honours"):
        vocab = schema.AMENITIES if name == "amenities" else schema.HONOURS
        key = "prop.unknown_amenity" if name == "amenities" else "prop.unknown_honour"
        bad = [v for v in value if not isinstance(v, str) or v not in vocab]
        problems = [Problem(here(), Text(key, value=b), one_of(vocab)) for b in bad]
        if len(set(map(str, value))) != len(value):
            problems.append(Problem(here(), Text("prop.repeated_code")))
        return problems
    if name == "opening_hours":
        reason = opening_hours_problem(value)
        return [Problem(here(), Text("prop.hours", reason=_hours_reason(reason)), Text("prop.hours_hint"))] if reason else []
    if name in ("created_at", "updated_at", "verified_at"):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return [Problem(here(), Text("prop.date", value=value), Text("hint.example", example="2025-06-01T09:30:00+08:00"))]
        return []
    if name == "phone" and value and not schema.PHONE_PATTERN.match(value):
        return [Problem(here(), Text("prop.phone", value=value), Text("prop.phone_hint"))]
    if name == "district_adcode":
        if not schema.ADCODE_PATTERN.match(value) or (districts is not None and value not in districts.by_adcode):
            return [Problem(here(), Text("prop.adcode", value=value))]
        if districts is not None and isinstance(props.get("district"), str):
            expected = districts.name(value)
            if props["district"] != expected:
                return [Problem(f"{here()[: -len('district_adcode')]}district",
                                Text("prop.district_mismatch", name=props["district"], code=value, expected=expected))]
        return []
    if name == "id":
        match = schema.ID_PATTERN.match(value)
        if not match:
            return [Problem(here(), Text("prop.id", value=value), Text("prop.id_hint"))]
        problems = []
        if isinstance(props.get("district_adcode"), str) and match["adcode"] != props["district_adcode"]:
            problems.append(Problem(here(), Text("prop.id_adcode", prefix=match["adcode"], adcode=props["district_adcode"])))
        kind = props.get("kind")
        if kind in schema.KIND_ID_CODES and match["kind"] != schema.KIND_ID_CODES[kind]:
            problems.append(Problem(here(), Text("prop.id_kind", code=match["kind"], kind=kind,
                                               expected=schema.KIND_ID_CODES[kind])))
        return problems
    return []


# A text value beginning with "=" is what a spreadsheet runs as a formula: nobody types a
# station's name or address that way, and stored it would run in every export opened in
# Excel. One rule for every write (uploads, edits, the CLI), applied by the store itself.
FORMULA_START = "="


def formula_problems(props, where: str) -> list[Problem]:
    """Text properties (and list items) that begin with ``=``, each a problem at ``where.properties.<name>``."""
    if not isinstance(props, dict):
        return []
    problems = []
    for name, value in props.items():
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, str) and item.lstrip().startswith(FORMULA_START):
                problems.append(Problem(f"{where}.properties.{name}", Text("row.formula", value=item[:40]),
                                        Text("row.formula_hint")))
                break
    return problems


def one_of(vocab) -> Text:
    """"one of rest, toilet, …": the codes, which is what a file or the API carries (Chinese adds the labels)."""
    choices = [Label(zh=f"{code}（{vocab[code].zh}）", en=code) if isinstance(vocab, dict) else code for code in vocab]
    return Text("hint.one_of", choices=Join(tuple(choices)))


_HOURS_POSITION = re.compile(r"--> \d+:(\d+)")


def _hours_reason(reason: str) -> Label:
    """The parser's reason in English; in Chinese only where it stopped (the parser's grammar talk helps nobody)."""
    match = _HOURS_POSITION.search(reason)
    return Label(zh=Text("prop.hours_at", position=match[1]) if match else reason, en=reason)


def _did_you_mean(name: str) -> Text:
    import difflib

    close = difflib.get_close_matches(name, schema.PROPERTY_NAMES, n=1)
    if close:
        return Text("hint.did_you_mean", name=close[0])
    return Text("hint.allowed", names=Join(schema.PROPERTY_NAMES))


def check_locations(points, districts: Districts) -> list[Problem]:
    """Each (where, lon, lat, adcode) must lie in Chongqing and in the district it names."""
    if not points:
        return []
    wheres, lons, lats, adcodes = zip(*points, strict=False)
    found = districts.locate(np.array(lons), np.array(lats))
    problems = []
    swapped = None
    for i, (where, lon, lat, adcode) in enumerate(points):
        def here(where=where):
            return at(where, "geometry.coordinates")
        if found[i] is None:
            if swapped is None:
                swapped = districts.locate(np.array(lats), np.array(lons))
            hint = Text("loc.swapped_hint") if swapped[i] is not None else Text("loc.check")
            problems.append(Problem(here(), Text("loc.outside", lon=lon, lat=lat), hint))
        elif isinstance(adcode, str) and adcode in districts.by_adcode and found[i] != adcode:
            problems.append(
                Problem(here(), Text("loc.other_district", found_name=districts.name(found[i]), found=found[i],
                                   name=districts.name(adcode), adcode=adcode), Text("loc.other_district_hint"))
            )
    return problems


def validate_feature_collection(data, districts: Districts | None) -> list[Problem]:
    """Every problem with a station FeatureCollection (parsed JSON), in file order."""
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        return [Problem("type", Text("geo.not_collection", got=type_member(data)))]
    if "crs" in data:
        return [Problem("crs", Text("geo.crs_member"), Text("geo.crs_member_hint"))]
    features = data.get("features")
    if not isinstance(features, list):
        return [Problem("features", Text("geo.features_list"))]
    problems: list[Problem] = []
    points = []
    seen_ids: dict[str, int] = {}
    for index, feature in enumerate(features):
        def where(index=index, feature=feature):  # built only for a station with a problem
            return feature_label(index, feature)
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            problems.append(Problem(where(), Text("geo.not_feature")))
            continue
        geometry_problems, lonlat = check_point(feature.get("geometry"), where)
        problems.extend(geometry_problems)
        props = feature.get("properties")
        problems.extend(check_properties(props, where, districts))
        if isinstance(props, dict):
            fid = props.get("id")
            if isinstance(fid, str):
                if fid in seen_ids:
                    problems.append(Problem(at(where, "properties.id"),
                                            Text("geo.duplicate_id", other=Place(feature=seen_ids[fid]))))
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
