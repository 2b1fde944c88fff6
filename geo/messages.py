"""Messages a person reads (upload reports, edit-form errors, pages, exports), in Chinese and English.

Every string lives in ONE gettext catalogue, ``translations/<locale>/LC_MESSAGES/messages.po``
(``zh_CN`` and ``en``), whose message ids are stable codes such as ``place.row`` or
``portal.upload_title``. A message is a ``Text``: a code plus its parameters, rendered in either
language (``text.render("zh")``); ``str(text)`` is the English, which is what logs and
exception messages keep showing. Parameters that are words themselves (field names,
coordinate systems, places such as "row 3") are ``Label``s, ``Place``s, ``Text``s or
``schema.Term``s and are rendered in the same language as the message.

The domain reads the compiled ``.mo`` files with plain ``babel.support.Translations`` (no Flask
here); the web layer reads the same files through Flask-Babel. ``pybabel compile`` (run by
``./run.sh install``) makes the ``.mo`` files; a missing or stale one is compiled from its ``.po``.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from geo.paths import REPO_ROOT

log = logging.getLogger(__name__)

LANGS = ("zh", "en")
LOCALES = {"zh": "zh", "en": "en"}  # Simplified Chinese (zh_CN) lives in the "zh" folder: Babel calls zh_CN "zh_Hans_CN", which gettext finds as "zh"
DOMAIN = "messages"
TRANSLATIONS_DIR = REPO_ROOT / "translations"


def lang_of(value: str | None, default: str = "zh") -> str:
    """``zh``/``en`` from a language tag or POSIX locale (``zh_CN.UTF-8``, ``en-GB``, ``C``); ``default`` otherwise."""
    tag = (value or "").strip().lower().replace("-", "_")
    if tag.startswith("zh"):
        return "zh"
    if tag.startswith("en"):
        return "en"
    return default


def locale_lang() -> str:
    """The command line's language from the environment (``LC_ALL``, ``LC_MESSAGES``, ``LANG``), Chinese by default."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if os.environ.get(name):
            return lang_of(os.environ[name])
    return "zh"


def po_path(lang: str) -> Path:
    return TRANSLATIONS_DIR / LOCALES[lang] / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_catalogues(force: bool = False) -> list[Path]:
    """Write each ``.mo`` beside its ``.po`` when missing or older (what ``pybabel compile`` does); returns those written."""
    written = []
    for lang in LANGS:
        po = po_path(lang)
        mo = po.with_suffix(".mo")
        if not force and mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=LOCALES[lang], domain=DOMAIN)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        try:
            tmp = mo.with_suffix(".mo.tmp")
            tmp.write_bytes(buffer.getvalue())
            os.replace(tmp, mo)
            written.append(mo)
        except OSError:  # a read-only install: catalogue() compiles in memory instead
            log.warning("cannot write %s; run `pybabel compile -d translations`", mo)
    return written


@lru_cache(maxsize=len(LANGS))
def catalogue(lang: str) -> Translations:
    """The compiled catalogue of ``lang`` (``zh`` or ``en``), from its ``.mo`` or, if that is missing or stale, its ``.po``."""
    po = po_path(lang if lang in LOCALES else "zh")
    mo = po.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as fh:
            return Translations(fh, domain=DOMAIN)
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=LOCALES[lang if lang in LOCALES else "zh"], domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def has_message(key: str) -> bool:
    """Whether ``key`` is a message id of the catalogue."""
    return key in catalogue("en")._catalog


def template(key: str, lang: str = "en") -> str:
    """The unformatted text of ``key`` in ``lang`` (what the page scripts receive)."""
    return catalogue("en" if lang == "en" else "zh").gettext(key)


def translate(key: str, lang: str = "en", **params) -> str:
    """``key`` in ``lang``, formatted with ``params`` (localised themselves)."""
    return Text(key, **params).render(lang)


@dataclass(frozen=True)
class Label:
    """A word or phrase in both languages, used as a message parameter (either side may be a ``Text``)."""

    zh: object
    en: object

    def label(self, lang: str = "en") -> str:
        return localise(self.en if lang == "en" else self.zh, lang)

    def __str__(self) -> str:
        return self.label("en")


@dataclass(frozen=True)
class Join:
    """A list parameter, joined the way each language lists things."""

    items: tuple
    zh: str = "、"
    en: str = ", "

    def label(self, lang: str = "en") -> str:
        return (self.en if lang == "en" else self.zh).join(localise(item, lang) for item in self.items)


@dataclass(frozen=True, init=False)
class Text:
    """One message: a catalogue code and its parameters. ``str()`` is the English."""

    key: str
    params: tuple[tuple[str, object], ...]

    def __init__(self, key: str, /, **params):
        if not has_message(key):
            raise KeyError(f"no message {key!r} in the catalogue")
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "params", tuple((k, _frozen(v)) for k, v in params.items()))

    def render(self, lang: str = "en") -> str:
        values = {name: localise(value, lang) for name, value in self.params}
        return template(self.key, lang).format(**values)

    def __str__(self) -> str:
        return self.render("en")


def _frozen(value):
    return Join(tuple(value)) if isinstance(value, list) else value


def localise(value, lang: str = "en"):
    """``value`` for a message in ``lang``: Texts rendered, Labels and ``schema.Term``s labelled, lists joined,
    anything else (numbers, the user's own text) unchanged."""
    if isinstance(value, (Text, Label, Join, Place)):
        return value.render(lang) if isinstance(value, Text) else value.label(lang)
    if isinstance(value, tuple):
        return Join(value).label(lang)
    label = getattr(value, "label", None)
    if callable(label) and hasattr(value, "zh") and hasattr(value, "en"):  # geo.schema.Term
        return label(lang)
    return value


def keep_texts(obj, *names: str, clip=str) -> None:
    """For a frozen dataclass's ``__post_init__``: each of the fields ``names`` may be given as a ``Text``;
    keep what was given as ``<name>_text`` and its English (through ``clip``) in the field itself."""
    for name in names:
        value = getattr(obj, name)
        object.__setattr__(obj, f"{name}_text", value)
        object.__setattr__(obj, name, clip(str(value)))


def message_of(exc: BaseException):
    """The message an exception was raised with: its ``Text`` if it carries one, else its English text."""
    first = exc.args[0] if exc.args else None
    return first if isinstance(first, Text) else str(exc)


def shown(value, limit: int = 40) -> str:
    """A user's value as text for a message (quote it in the template), cut short so a huge input is never echoed."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def clipped(value, limit: int = 40):
    """A user's value for a message parameter: unchanged (so ``{value!r}`` shows it as Python would), but a
    string cut short so a huge input is never echoed."""
    return value[:limit] + "…" if isinstance(value, str) and len(value) > limit else value


def field_label(name) -> Text | str:
    """A field's name: the upload template's Chinese column header, or the schema name in English."""
    key = f"field.{name}"
    return Text(key) if has_message(key) else name


def type_label(value) -> Text | str:
    """The JSON type of a value, for "must be text, got int" (English keeps Python's type name)."""
    name = type(value).__name__
    return Text(f"type.{name}") if has_message(f"type.{name}") else name


def crs_short(code: str, en: str | None = None) -> Label:
    """A coordinate system by its short name in Chinese (``WGS-84``) and by ``en`` (default: its code) in English."""
    from geo import schema

    term = schema.INPUT_CRS.get(code)
    return Label(zh=term.en.split(" (")[0] if term else code, en=code if en is None else en)


def crs_choice(code: str, en: str | None = None) -> Label:
    """A coordinate system as the upload form offers it (Chinese: its label in the list), ``en`` (default: its code) in English."""
    from geo import schema

    return Label(zh=schema.INPUT_CRS[code].zh, en=code if en is None else en)


_PARTS = {"geometry": "place.geometry", "geometry.type": "place.geometry_type", "geometry.coordinates": "field.coordinates",
          "properties": "place.properties"}
_PLAIN_PLACES = {"file": "place.file", "body": "place.body", "rows": "place.rows", "features": "place.features"}


class Place(str):
    """Where a problem is, as data: a row (and its column as the user wrote it, or a schema field), or a GeoJSON
    feature (its 0-based index, its id) and a part of it (``properties.kind``, ``geometry.coordinates``).

    The string itself is the English the code has always shown (``row 3, column 经度``,
    ``features[2] (500103-OS-0001).properties.kind``); ``label("zh")`` renders it from the catalogue
    (第 3 行，经度列; 第 3 个要素（500103-OS-0001），类型) without parsing that English.
    """

    row: int | None
    column: str | None
    field: str | None
    feature: int | None
    id: str | None
    part: str | None

    columns: str | None

    def __new__(cls, *, row: int | None = None, column: str | None = None, field: str | None = None,
                feature: int | None = None, id: str | None = None, part: str | None = None,  # noqa: A002 - the station id
                columns: str | None = None):
        parts = (row, column, field, feature, id, part, columns)
        self = super().__new__(cls, "")
        self.row, self.column, self.field, self.feature, self.id, self.part, self.columns = parts
        english = self.label("en")
        self = super().__new__(cls, english)
        self.row, self.column, self.field, self.feature, self.id, self.part, self.columns = parts
        return self

    def __reduce__(self):
        return (_place, (self.row, self.column, self.field, self.feature, self.id, self.part, self.columns))

    def at(self, part: str) -> Place:
        """A part inside this place: ``features[3]`` → ``features[3].geometry``."""
        joined = f"{self.part}.{part}" if self.part else part
        return Place(row=self.row, column=self.column, field=self.field, feature=self.feature, id=self.id, part=joined,
                     columns=self.columns)

    def label(self, lang: str = "en") -> str:
        if self.feature is not None:
            n = Label(zh=str(self.feature + 1), en=str(self.feature))
            base = Text("place.feature_id", n=n, id=self.id) if self.id else Text("place.feature", n=n)
            if self.part is None:
                return base.render(lang)
            return Text("place.part", base=base, part=Label(zh=_part_label(self.part), en=self.part)).render(lang)
        if self.row is not None:
            if self.column is not None:
                return Text("place.row_column", row=self.row, column=self.column).render(lang)
            if self.columns is not None:
                return Text("place.row_columns", row=self.row, columns=self.columns).render(lang)
            if self.field is not None:
                return Text("place.row_field", row=self.row, field=Label(zh=_part_label(self.field), en=self.field)).render(lang)
            return Text("place.row", row=self.row).render(lang)
        if self.column is not None:
            return Text("place.column", column=self.column).render(lang)
        return ""


def _place(row, column, field, feature, id, part, columns):  # noqa: A002 - pickling support
    return Place(row=row, column=column, field=field, feature=feature, id=id, part=part, columns=columns)


def at(where, part: str):
    """``where`` with ``part`` appended: a ``Place`` stays structured, a plain path gets ``.part``.

    ``where`` may also be a function returning the place: validating 200,000 stations then builds
    a place only for the few that have a problem."""
    if callable(where):
        where = where()
    return where.at(part) if isinstance(where, Place) else f"{where}.{part}"


def place(where) -> Place | Label | str:
    """Where a problem is, in both languages. A ``Place`` already is; a plain name is a field
    (``lon``), a list of fields (``lon, lat``), one of the plain places (``file``, ``body``) or a
    path inside a request body (``properties.name``), looked up in the catalogue; anything else
    is shown as written."""
    if isinstance(where, Place) or not isinstance(where, str) or not where:
        return where
    if where in _PLAIN_PLACES:
        return Label(zh=Text(_PLAIN_PLACES[where]), en=where)
    names = where.split(", ")
    if len(names) > 1 and all(has_message(f"field.{name}") for name in names):  # "lon, lat"
        return Label(zh=Join(tuple(Text(f"field.{name}") for name in names)), en=where)
    zh = _part_label(where)
    return where if zh == where else Label(zh=zh, en=where)


def _part_label(part: str) -> str:
    """``properties.name`` -> 名称, ``geometry.coordinates`` -> 坐标, anything unknown as written (Chinese)."""
    if part in _PARTS:
        return Text(_PARTS[part]).render("zh")
    name = part.removeprefix("properties.")
    return localise(field_label(name), "zh")
