"""Strict parsing of API query parameters: one spec per parameter drives both the parser and the OpenAPI document.

Every problem with a request is collected and raised together as one ``ValidationError``
whose ``Problem.where`` is the parameter's name, so the client learns all of them at once.
Strict means: unknown parameters, repeated single-valued parameters, ``NaN``/``inf``,
hex or ``1_000`` numbers and out-of-range values are refused, never guessed at. An empty
value (``kind=``, what an untouched form field sends) counts as not given.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from geo import schema
from geo.errors import Problem, ValidationError
from geo.hours import CHONGQING_TZ
from geo.messages import Label, message_of
from geo.messages import Text as Message
from geo.queries.coverage import MAX_RADIUS_M
from geo.queries.nearest import MAX_K

_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?")
_INTEGER = re.compile(r"[+-]?\d{1,9}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TRUE, _FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off"})


class ParamError(ValueError):
    """One value of one parameter is wrong; the message reads after the parameter's name."""


def shown(raw: str, limit: int = 40) -> str:
    """A user's value quoted for an error message, cut short so we never echo a huge input."""
    return repr(raw if len(raw) <= limit else raw[:limit] + "…")


class Param:
    """A query parameter: its name, how to parse one raw value, and its OpenAPI schema.

    Parameters
    ----------
    name : str
    description : str
        Shown in the OpenAPI document; state units and CRS.
    required : bool
    default : value, or a zero-argument callable evaluated per request
    repeatable : bool
        Whether ``?name=a&name=b`` is allowed (values are then a tuple).
    """

    def __init__(self, name: str, description: str, *, required: bool = False, default=None,
                 repeatable: bool = False, example=None):
        self.name, self.description, self.required = name, description, required
        self.default, self.repeatable, self.example = default, repeatable, example

    def parse(self, raw: str):
        return raw

    def schema(self) -> dict:
        return {"type": "string"}

    def default_value(self):
        return self.default() if callable(self.default) else self.default

    def openapi(self) -> dict:
        spec = {"name": self.name, "in": "query", "required": self.required,
                "description": self.description, "schema": self.schema()}
        if self.default is not None and not callable(self.default):
            spec["schema"]["default"] = list(self.default) if isinstance(self.default, tuple) else self.default
        if self.example is not None:
            spec["example"] = self.example
        return spec


class Number(Param):
    """A finite decimal number in ``[low, high]``."""

    def __init__(self, name, description, low: float, high: float, **kw):
        super().__init__(name, description, **kw)
        self.low, self.high = low, high

    def parse(self, raw):
        text = raw.strip()
        value = float(text) if _DECIMAL.fullmatch(text) else math.nan
        if math.isnan(value):
            raise ParamError(Message("param.number", value=shown(raw)))
        if not (math.isfinite(value) and self.low <= value <= self.high):
            raise ParamError(Message("param.between", low=f"{self.low:g}", high=f"{self.high:g}", value=shown(raw)))
        return value

    def schema(self):
        return {"type": "number", "minimum": self.low, "maximum": self.high}


class Integer(Number):
    """A whole number in ``[low, high]``."""

    def parse(self, raw):
        text = raw.strip()
        if not _INTEGER.fullmatch(text):
            raise ParamError(Message("param.whole", low=f"{self.low:g}", high=f"{self.high:g}", value=shown(raw)))
        value = int(text)
        if not self.low <= value <= self.high:
            raise ParamError(Message("param.from_to", low=f"{self.low:g}", high=f"{self.high:g}", value=value))
        return value

    def schema(self):
        return {"type": "integer", "minimum": int(self.low), "maximum": int(self.high)}


class Choice(Param):
    """One code from a fixed vocabulary (a mapping or sequence, or a callable returning one)."""

    def __init__(self, name, description, choices: Iterable[str] | Callable[[], Iterable[str]],
                 pattern: str | None = None, **kw):
        super().__init__(name, description, **kw)
        self.choices, self.pattern = choices, pattern

    def allowed(self) -> Iterable[str]:
        return self.choices() if callable(self.choices) else self.choices

    def parse(self, raw):
        value = raw.strip()
        allowed = self.allowed()
        if value not in allowed:
            listed = list(allowed)
            hint = Message("hint.one_of", choices=", ".join(listed)) if len(listed) <= 20 else Message("param.n_codes", n=len(listed))
            raise ParamError(Message("param.not_known", value=shown(raw), name=self.name, hint=hint))
        return value

    def schema(self):
        if callable(self.choices):
            return {"type": "string", "pattern": self.pattern} if self.pattern else {"type": "string"}
        return {"type": "string", "enum": list(self.choices)}


class MultiChoice(Choice):
    """Codes from a vocabulary, repeated (``?amenity=a&amenity=b``) or comma-separated (``a,b``)."""

    def __init__(self, name, description, choices, **kw):
        super().__init__(name, description, choices, repeatable=True, **kw)

    def parse(self, raw):
        parts = [part for part in raw.split(",") if part.strip()]
        if not parts:
            raise ParamError(Message("param.empty_list"))
        return tuple(super(MultiChoice, self).parse(part) for part in parts)

    def schema(self):
        return {"type": "array", "items": super().schema()}

    def openapi(self):
        spec = super().openapi()
        spec.update(style="form", explode=True)
        return spec


class Flag(Param):
    """A yes/no switch: ``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off``."""

    def __init__(self, name, description, **kw):
        kw.setdefault("default", False)
        super().__init__(name, description, **kw)

    def parse(self, raw):
        value = raw.strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ParamError(Message("param.bool", value=shown(raw)))

    def schema(self):
        return {"type": "boolean"}


class BBox(Param):
    """``minlon,minlat,maxlon,maxlat`` in WGS-84 degrees (RFC 7946 order)."""

    def parse(self, raw):
        parts = raw.split(",")
        if len(parts) != 4:
            raise ParamError(Message("param.bbox_count", n=len(parts)))
        values = []
        for label, part, limit in zip(("minlon", "minlat", "maxlon", "maxlat"), parts, (180, 90, 180, 90), strict=True):
            text = part.strip()
            value = float(text) if _DECIMAL.fullmatch(text) else math.nan
            if not math.isfinite(value):
                raise ParamError(Message("param.part_number", label=label, value=shown(part)))
            if not -limit <= value <= limit:
                raise ParamError(Message("param.part_between", label=label, low=-limit, high=limit, value=shown(part)))
            values.append(value)
        if values[0] > values[2]:
            raise ParamError(Message("param.minlon_gt"))
        if values[1] > values[3]:
            raise ParamError(Message("param.minlat_gt"))
        return tuple(values)

    def schema(self):
        return {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4}

    def openapi(self):
        spec = super().openapi()
        spec.update(style="form", explode=False)
        return spec


class FreeText(Param):
    """Free text of at most ``max_length`` characters, without control characters."""

    def __init__(self, name, description, max_length: int = 100, **kw):
        super().__init__(name, description, **kw)
        self.max_length = max_length

    def parse(self, raw):
        value = raw.strip()
        if len(value) > self.max_length:
            raise ParamError(Message("param.too_long", max=self.max_length))
        if _CONTROL.search(value):
            raise ParamError(Message("prop.control"))
        return value

    def schema(self):
        return {"type": "string", "maxLength": self.max_length}


class LocalDateTime(Param):
    """ISO 8601 date and time; without an offset it is Chongqing local time (UTC+8)."""

    YEARS = (2000, 2100)

    def parse(self, raw):
        text = raw.strip()
        try:
            if len(text) < 16 or len(text) > 40:
                raise ValueError
            value = datetime.fromisoformat(text)
        except ValueError:
            raise ParamError(Message("param.iso_datetime", value=shown(raw))) from None
        if not self.YEARS[0] <= value.year <= self.YEARS[1]:
            raise ParamError(Message("param.years", first=self.YEARS[0], last=self.YEARS[1]))
        return value if value.tzinfo is None else value.astimezone(CHONGQING_TZ).replace(tzinfo=None)

    def schema(self):
        return {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}"}


def parse_args(args, specs: Sequence[Param]) -> dict:
    """Parse a request's query (a werkzeug ``MultiDict``) against ``specs``.

    Returns
    -------
    dict
        Parameter name → parsed value, or its default when not given.

    Raises
    ------
    ValidationError
        One ``Problem`` per bad parameter (unknown, repeated, missing, malformed).
    """
    problems = []
    names = _names(tuple(specs))
    for key in args:
        if key not in names:
            hint = Message("param.accepted", names=", ".join(sorted(names))) if names else Message("param.no_params")
            problems.append(Problem(key, Message("param.unknown", name=shown(key)), hint))
    values = {}
    for spec in specs:
        # Most parameters of a request are absent; a dict lookup settles those.
        raw = [v for v in args.getlist(spec.name) if v.strip()] if spec.name in args else None
        if not raw:
            if spec.required:
                problems.append(Problem(spec.name, Message("param.required", name=spec.name),
                                        Label(zh=Message("param.see_docs"), en=spec.description)))
            values[spec.name] = spec.default_value()
            continue
        if len(raw) > 1 and not spec.repeatable:
            problems.append(Problem(spec.name, Message("param.repeated", name=spec.name, n=len(raw))))
            continue
        try:
            if spec.repeatable:
                parsed = tuple(dict.fromkeys(v for one in raw for v in spec.parse(one)))
            else:
                parsed = spec.parse(raw[0])
        except ParamError as exc:
            problems.append(Problem(spec.name, Message("param.named", name=spec.name, message=message_of(exc))))
            continue
        values[spec.name] = parsed
    if problems:
        raise ValidationError(problems)
    return values


@functools.cache
def _names(specs: tuple[Param, ...]) -> frozenset[str]:
    return frozenset(spec.name for spec in specs)


# -- parameters shared by several endpoints ------------------------------------------

LON = Number("lon", "Longitude of the query point, decimal degrees in the system named by `crs`.", -180, 180,
             required=True, example=106.5516)
LAT = Number("lat", "Latitude of the query point, decimal degrees in the system named by `crs`.", -90, 90,
             required=True, example=29.5630)
K = Integer("k", f"How many stations, 1–{MAX_K}.", 1, MAX_K, default=5)
CRS = Choice("crs", "Coordinate system of lon/lat: wgs84 (GPS, browser), gcj02 (Amap, Tencent, WeChat), bd09 (Baidu).",
             schema.INPUT_CRS, default="wgs84")
KIND = Choice("kind", "Only stations of this kind.", schema.KINDS)
KINDS = MultiChoice("kind", "Only stations of these kinds (repeat the parameter or separate with commas).", schema.KINDS)
AMENITIES = MultiChoice("amenity", "Only stations offering all of these amenities (repeat or comma-separate).",
                        schema.AMENITIES)
OPEN_NOW = Flag("open_now", "Only stations open now (or at `at`), by their opening_hours.")
AT = LocalDateTime("at", "Moment for `open_now` and the open/next-change fields, ISO 8601; "
                         "without an offset it is Chongqing local time. Default: now.", example="2025-07-01T14:30")
LANG = Choice("lang", "Language of labels: zh (default) or en.", ("zh", "en"))
RADIUS = Number("radius_m", f"Reach of a station in metres, 1–{MAX_RADIUS_M:g}.", 1, MAX_RADIUS_M, default=1000.0)
BBOX = BBox("bbox", "Only stations inside minlon,minlat,maxlon,maxlat (WGS-84 degrees, edges included).",
            example=[106.45, 29.5, 106.65, 29.65])
STATUS = Choice("status", "Which stations: active (default), retired or all.", (*schema.STATUSES, "all"),
                default="active")
DOWNLOAD = Flag("download", "Send as a file download (Content-Disposition: attachment).")


def district(choices: Callable[[], Mapping[str, object]], description: str) -> Choice:
    """A district adcode parameter checked against the loaded district map."""
    return Choice("district", description, choices, pattern=r"^50\d{4}$", example="500103")
