"""What checking an upload found: issues by row as the user numbers them, the report, and the refusals.

Plain data with ``to_dict()`` for the JSON API and the portal; no rules live here
(``geo.uploads.rules``) and no file reading (``geo.uploads.formats``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from geo.access.permissions import Actor
from geo.errors import Problem, ValidationError
from geo.messages import Place, Text, field_label, keep_texts, localise, place, translate

if TYPE_CHECKING:
    from geo.uploads.formats import ParsedUpload

MAX_ISSUE_TEXT = 300


class UploadRejectedError(ValidationError):
    """The upload has blocking problems; nothing was written. ``issues`` holds them by row."""

    def __init__(self, issues: list[UploadIssue], source: str = ""):
        self.issues = list(issues)
        super().__init__([i.problem() for i in issues] or "the upload was rejected", source=source)


class ConfirmationRequiredError(ValidationError):
    """Some rows look like duplicates (or like the wrong CRS); the uploader must keep or drop each."""

    def __init__(self, issues: list[UploadIssue], rows: list[int]):
        self.issues = list(issues)
        self.rows = rows
        super().__init__([i.problem() for i in issues], source=f"{len(rows)} row(s) need your confirmation")


@dataclass(frozen=True)
class UploadIssue:
    """One problem or warning: which row (as the user numbers it), which field/column, what, what to do.

    ``code`` is stable for the web layer (e.g. ``out_of_district``, ``swapped_coordinates``,
    ``near_duplicate``, ``same_name``, ``crs_mismatch``, ``invalid``). ``message`` and
    ``suggestion`` may be given as ``geo.messages.Text``: the fields then hold the English
    and ``as_dict(lang)`` / ``text(lang)`` give Chinese or English.
    """

    row: int | None
    label: str
    field: str | None
    column: str | None
    message: str
    suggestion: str = ""
    code: str = "invalid"
    message_text: Text | str = field(default="", init=False, repr=False, compare=False)
    suggestion_text: Text | str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self):
        keep_texts(self, "message", "suggestion", clip=_clip)

    @property
    def where(self) -> str:
        label = self.label
        if isinstance(label, Place):
            if self.column and label.row is not None:
                return Place(row=label.row, column=self.column)
            if self.field and label.feature is not None:
                return label.at("geometry" if self.field == "coordinates" else f"properties.{self.field}")
            if self.field and label.row is not None:
                return Place(row=label.row, field=self.field)
            return label
        if self.column:
            return f"{self.label}, column {self.column}"
        if self.field and self.label.startswith("features["):
            return f"{self.label}.geometry" if self.field == "coordinates" else f"{self.label}.properties.{self.field}"
        return f"{self.label}, {self.field}" if self.field else self.label

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" + (f" ({self.suggestion})" if self.suggestion else "")

    def problem(self) -> Problem:
        return Problem(self.where, self.message_text, self.suggestion_text)

    def label_in(self, lang: str = "en") -> str:
        """The row as the user numbers it: ``row 3`` / 第 3 行, ``features[3]`` / 第 4 个要素."""
        return localise(place(self.label), lang)

    def field_in(self, lang: str = "en") -> str:
        """The column as the file names it, else the field's name in ``lang``."""
        if self.column:
            return self.column
        return localise(field_label(self.field), lang) if self.field else ""

    def message_in(self, lang: str = "en") -> str:
        return self.message if lang == "en" else _clip(localise(self.message_text, lang))

    def suggestion_in(self, lang: str = "en") -> str:
        return self.suggestion if lang == "en" else _clip(localise(self.suggestion_text, lang))

    def text(self, lang: str = "en") -> str:
        """The whole issue on one line."""
        if lang == "en":
            return str(self)
        return self.problem().text(lang)

    def as_dict(self, lang: str = "en") -> dict:
        where = self.where if lang == "en" else localise(place(self.where), lang)
        return {"row": self.row, "label": self.label, "where": where, "field": self.field, "column": self.column,
                "code": self.code, "message": self.message_in(lang), "suggestion": self.suggestion_in(lang)}


def display_value(value, lang: str) -> str:
    """A field value as a clerk reads it: code lists as their labels, coordinates as lon, lat."""
    from geo import schema

    if value is None or value == "" or value == [] or value == {}:
        return translate("upload.empty_value", lang)
    if isinstance(value, dict):   # the 上图 status per platform
        parts = []
        for platform, entry in value.items():
            name = schema.LISTING_PLATFORMS[platform].label(lang) if platform in schema.LISTING_PLATFORMS else platform
            status = (entry or {}).get("status")
            label = schema.LISTING_STATUSES[status].label(lang) if status in schema.LISTING_STATUSES else str(status)
            part = translate("upload.listing_entry", lang, platform=name, status=label)
            note = (entry or {}).get("note")
            parts.append(translate("upload.listing_note", lang, entry=part, note=note) if note else part)
        return ("；" if lang == "zh" else "; ").join(parts)
    if isinstance(value, list) and value and all(isinstance(v, int | float) for v in value):
        return ", ".join(f"{v:.6f}" for v in value[:2])
    if isinstance(value, list):
        vocab = {**schema.AMENITIES, **schema.HONOURS}
        return "、".join(getattr(vocab.get(v), lang, v) if lang in ("zh", "en") and v in vocab else str(v) for v in value)
    if isinstance(value, str) and value in schema.KINDS:
        return getattr(schema.KINDS[value], lang, value)
    return str(value)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ISSUE_TEXT else text[: MAX_ISSUE_TEXT - 1] + "…"


@dataclass
class UploadRow:
    """One uploaded station: its Feature as it would be added, and what is wrong or doubtful with it."""

    row: int
    label: str
    feature: dict
    provisional_id: str | None = None
    problems: list[UploadIssue] = field(default_factory=list)
    warnings: list[UploadIssue] = field(default_factory=list)
    station_id: str | None = None          # the existing station this row updates (its 编号 / id)
    changes: list[dict] = field(default_factory=list)   # [{"field", "old", "new"}] against the registry

    @property
    def state(self) -> str:
        return "problem" if self.problems else "warning" if self.warnings else "ok"

    @property
    def action(self) -> str:
        """``add`` (a new station), ``update`` (an existing one, changed) or ``unchanged``."""
        if self.station_id is None:
            return "add"
        return "update" if self.changes else "unchanged"

    def changes_in(self, lang: str = "en") -> list[dict]:
        """The changes with the field's name in ``lang`` (Chinese: the template's column header) and printable values."""
        return [{"field": c["field"], "label": localise(field_label(c["field"]), lang), "old": display_value(c["old"], lang),
                 "new": display_value(c["new"], lang)} for c in self.changes]

    def label_in(self, lang: str = "en") -> str:
        return localise(place(self.label), lang)

    def as_dict(self, lang: str = "en") -> dict:
        props = self.feature.get("properties", {})
        geometry = self.feature.get("geometry")
        return {"row": self.row, "label": self.label, "state": self.state, "provisional_id": self.provisional_id,
                "action": self.action, "station_id": self.station_id, "changes": self.changes_in(lang),
                "name": props.get("name"), "kind": props.get("kind"), "district_adcode": props.get("district_adcode"),
                "coordinates": geometry["coordinates"] if geometry else None,
                "problems": [i.as_dict(lang) for i in self.problems], "warnings": [i.as_dict(lang) for i in self.warnings]}


@dataclass
class UploadReport:
    """Everything ``check_upload`` found. ``ok`` means no blocking problem; rows in
    ``needs_confirmation`` must each be kept or dropped by the uploader before commit.

    ``notes`` may be given as ``geo.messages.Text``; they are kept as English text (``notes``)
    and as messages (``notes_in(lang)``).
    """

    filename: str
    format: str
    crs: str
    actor: Actor
    snapshot_version: int | None
    rows: list[UploadRow]
    file_problems: list[UploadIssue] = field(default_factory=list)
    file_warnings: list[UploadIssue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    parsed: ParsedUpload | None = field(default=None, repr=False)
    missing: list[dict] = field(default_factory=list)   # active stations of the district the file does not list
    note_texts: list[Text | str] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self):
        self.note_texts = list(self.notes)
        self.notes = [str(n) for n in self.notes]

    def notes_in(self, lang: str = "en") -> list[str]:
        return [localise(n, lang) for n in self.note_texts]

    @property
    def problems(self) -> list[UploadIssue]:
        return self.file_problems + [i for r in self.rows for i in r.problems]

    @property
    def warnings(self) -> list[UploadIssue]:
        return self.file_warnings + [i for r in self.rows for i in r.warnings]

    @property
    def ok(self) -> bool:
        return not self.file_problems and not any(r.problems for r in self.rows)

    @property
    def needs_confirmation(self) -> list[int]:
        return [r.row for r in self.rows if r.warnings]

    @property
    def features(self) -> list[dict]:
        """The Features to add (no server-set fields), or ``[]`` while any problem remains."""
        return [r.feature for r in self.rows if r.action == "add"] if self.ok else []

    def by_action(self, action: str) -> list[UploadRow]:
        return [r for r in self.rows if r.action == action]

    def preview(self, lang: str = "en") -> dict:
        """A FeatureCollection of every row with usable coordinates, for a map preview.

        Properties are the station's (with the id it would get); the foreign member
        ``upload`` carries row, label, state and messages (in ``lang``).
        """
        features = []
        for r in self.rows:
            geometry = r.feature.get("geometry")
            if not geometry or not _finite_pair(geometry.get("coordinates")):
                continue
            props = dict(r.feature["properties"], id=r.provisional_id)
            features.append({"type": "Feature", "geometry": geometry, "properties": props,
                             "upload": {"row": r.row, "label": r.label, "state": r.state,
                                        "messages": [i.text(lang) for i in r.problems + r.warnings]}})
        return {"type": "FeatureCollection", "features": features}

    def to_dict(self, lang: str = "en") -> dict:
        """JSON-ready summary: counts, problems, warnings, notes, rows and the preview; messages in ``lang``."""
        return {
            "ok": self.ok, "filename": self.filename, "format": self.format, "crs": self.crs,
            "snapshot_version": self.snapshot_version,
            "counts": {"rows": len(self.rows), "problems": len(self.problems), "warnings": len(self.warnings),
                       "ready": len(self.features), "added": len(self.by_action("add")), "changed": len(self.by_action("update")),
                       "unchanged": len(self.by_action("unchanged")), "missing": len(self.missing)},
            "missing": list(self.missing),
            "problems": [i.as_dict(lang) for i in self.problems], "warnings": [i.as_dict(lang) for i in self.warnings],
            "needs_confirmation": self.needs_confirmation, "notes": self.notes_in(lang),
            "rows": [r.as_dict(lang) for r in self.rows], "preview": self.preview(lang),
        }


def _finite_pair(coords) -> bool:
    return (isinstance(coords, list) and len(coords) >= 2
            and all(isinstance(c, (int, float)) and np.isfinite(c) for c in coords[:2])
            and -180 <= coords[0] <= 180 and -90 <= coords[1] <= 90)


