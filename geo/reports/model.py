"""What a report is: its categories and outcomes (with Chinese and English labels), and the checks on what a rider sends."""

from __future__ import annotations

import math
import re
import secrets
import unicodedata
from dataclasses import dataclass, field

from geo import schema
from geo.errors import Problem, ValidationError
from geo.messages import Text, translate
from geo.projection import geodesic_distance_m
from geo.schema import Term


def _terms(area: str, *codes: str) -> dict[str, Term]:
    """Terms whose words are the catalogue's ``report.<area>.<code>`` (listed in translations/runtime_codes.py)."""
    return {code: Term(code, translate(f"report.{area}.{code}", "zh"), translate(f"report.{area}.{code}", "en"))
            for code in codes}


CATEGORIES = _terms("category", "closed", "facility_broken", "not_here", "hours_wrong", "other")
REPORT_STATUSES = _terms("status", "open", "confirmed", "dismissed")
# What a clerk did about a confirmed report (or "dismissed", with a reason).
OUTCOMES = _terms("outcome", "retired", "moved", "hours_fixed", "facility_removed", "fixed", "dismissed")

MAX_NOTE_CHARS = 500
MAX_NOTES_KEPT = 10
# A "not here" pin farther than this from the station is a different place, not a correction.
MAX_MOVE_M = 3000.0
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
CODE_LENGTH = 8
CODE_PATTERN = re.compile(rf"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$")

_TAGS = re.compile(r"</?[A-Za-z!][^<>]{0,2000}>")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def new_code() -> str:
    """A receipt code: 8 characters a rider can read out (about 40 bits)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normal_code(text) -> str | None:
    """A typed receipt code, case and spaces forgiven; ``None`` if it cannot be one."""
    if not isinstance(text, str) or len(text) > 32:
        return None
    code = re.sub(r"[\s-]", "", text).upper()
    return code if CODE_PATTERN.match(code) else None


def clean_note(note) -> str:
    """A note as plain text: markup tags and control characters removed, whitespace folded.

    Nothing a rider sends is kept as HTML; what remains is escaped wherever it is shown.
    """
    if note is None:
        return ""
    text = unicodedata.normalize("NFC", str(note))
    text = _CONTROL.sub("", _TAGS.sub(" ", text))
    return re.sub(r"\s+", " ", text).strip()


@dataclass(frozen=True)
class Submission:
    """A checked report, ready to store. ``location`` is WGS-84 ``(lon, lat)`` for "not here"."""

    station_id: str
    district_adcode: str
    station_name: str
    category: str
    facility: str = ""
    location: tuple[float, float] | None = None
    note: str = ""

    def merge_key(self) -> tuple[str, str, str]:
        """Reports with the same key, while open, are one report."""
        return (self.station_id, self.category, self.facility)


@dataclass
class Report:
    code: str
    station_id: str
    district_adcode: str
    station_name: str
    category: str
    facility: str
    location: tuple[float, float] | None
    notes: list[str]
    count: int
    status: str
    outcome: str
    reason: str
    created_at: str
    updated_at: str
    resolved_by: str = ""
    extra: dict = field(default_factory=dict)

    def public_dict(self) -> dict:
        """What anyone holding the receipt may see (no notes: they may name people)."""
        return {"code": self.code, "station_id": self.station_id, "station_name": self.station_name,
                "category": self.category, "facility": self.facility, "status": self.status,
                "outcome": self.outcome, "reason": self.reason, "reports": self.count,
                "created_at": self.created_at, "updated_at": self.updated_at}

    def as_dict(self) -> dict:
        """Everything, for the station's district."""
        return {**self.public_dict(), "district_adcode": self.district_adcode,
                "location": list(self.location) if self.location else None, "notes": list(self.notes),
                "resolved_by": self.resolved_by}


def check_submission(station: dict, body) -> Submission:
    """Check what a rider sent about ``station`` (a registry Feature); every problem at once, in their words.

    ``body`` keys: ``category`` (one of ``CATEGORIES``), ``facility`` (an amenity code, for
    ``facility_broken``), ``lon``/``lat`` (WGS-84, for ``not_here``: where the station really is),
    ``note`` (optional, at most ``MAX_NOTE_CHARS`` characters).
    """
    if not isinstance(body, dict):
        raise ValidationError(Problem("body", Text("report.body")))
    props = station["properties"]
    problems = []
    if props.get("status") != "active":
        problems.append(Problem("station_id", Text("report.retired")))
    category = body.get("category")
    if category not in CATEGORIES:
        problems.append(Problem("category", Text("report.category"), Text("report.category_hint")))
    facility = body.get("facility") or ""
    if category == "facility_broken":
        if facility not in schema.AMENITIES:
            problems.append(Problem("facility", Text("report.facility"), Text("report.facility_hint")))
    else:
        facility = ""
    location = None
    if category == "not_here":
        location, more = _pin(body, station)
        problems += more
    note = body.get("note")
    if note is not None and not isinstance(note, str):
        problems.append(Problem("note", Text("report.note_text")))
        note = ""
    note = clean_note(note)
    if len(note) > MAX_NOTE_CHARS:
        problems.append(Problem("note", Text("report.note_long", n=len(note), max=MAX_NOTE_CHARS), Text("report.note_long_hint")))
    if category == "other" and not note and not problems:
        problems.append(Problem("note", Text("report.note_needed")))
    if problems:
        raise ValidationError(problems)
    return Submission(props["id"], props["district_adcode"], props["name"], category, facility, location, note)


def _pin(body: dict, station: dict) -> tuple[tuple[float, float] | None, list[Problem]]:
    values = []
    for key in ("lon", "lat"):
        value = body.get(key)
        try:
            number = float(value) if not isinstance(value, bool) and value not in (None, "") else math.nan
        except (TypeError, ValueError):
            number = math.nan
        values.append(number)
    lon, lat = values
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return None, [Problem("lon, lat", Text("report.pin"), Text("report.pin_hint"))]
    slon, slat = station["geometry"]["coordinates"][:2]
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        return None, [Problem("lon, lat", Text("report.pin"), Text("report.pin_hint"))]
    moved = float(geodesic_distance_m(slon, slat, lon, lat))
    if moved > MAX_MOVE_M:
        return None, [Problem("lon, lat", Text("report.pin_far", m=round(moved), max=round(MAX_MOVE_M)), Text("report.pin_far_hint"))]
    return (round(lon, 6), round(lat, 6)), []
