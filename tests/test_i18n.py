"""The one message catalogue: both languages hold the same codes with the same placeholders, the code
uses no code the catalogue lacks, and ``pybabel extract`` finds every code (so ``pybabel update`` keeps them)."""

from __future__ import annotations

import logging
import string
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from geo.messages import LANGS, LOCALES, has_message, po_path, template

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"Text": None, "t": None, "T": None, "N_": None, "translate": None, "_": None, "gettext": None}


def catalogue(lang: str):
    with po_path(lang).open("rb") as fh:
        return read_po(fh, locale=LOCALES[lang])


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


@pytest.fixture(scope="module")
def catalogues():
    return {lang: {m.id: m for m in catalogue(lang) if m.id} for lang in LANGS}


@pytest.fixture(scope="module")
def extracted() -> set[str]:
    found = set()
    logging.getLogger("babel").setLevel(logging.ERROR)  # "skipping f-string" notes about parameters, not codes
    for section in ("geo", "webmap", "stationmap", "translations"):
        method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2"), ("**/static/**.js", "javascript")]
        for _file, _line, message, _comments, _context in extract_from_dir(
                ROOT / section, method_map, keywords=KEYWORDS, comment_tags=(), strip_comment_tags=True):
            found.update([message] if isinstance(message, str) else [m for m in message if m])
    return found


def test_both_languages_hold_the_same_codes(catalogues):
    zh, en = catalogues["zh"], catalogues["en"]
    assert set(zh) == set(en), {"only zh": sorted(set(zh) - set(en)), "only en": sorted(set(en) - set(zh))}
    assert len(zh) > 700


def test_every_entry_is_translated_with_the_same_placeholders(catalogues):
    bad = []
    for key, message in catalogues["en"].items():
        other = catalogues["zh"][key]
        if not message.string.strip() or not other.string.strip():
            bad.append((key, "empty"))
        elif message.fuzzy or other.fuzzy:
            bad.append((key, "fuzzy"))
        elif placeholders(message.string) != placeholders(other.string):
            bad.append((key, placeholders(other.string), placeholders(message.string)))
    assert not bad


def test_every_code_the_code_names_is_in_the_catalogue(extracted):
    missing = sorted(code for code in extracted if not has_message(code))
    assert not missing, "add these to translations/*/LC_MESSAGES/messages.po: " + ", ".join(missing)


def test_pybabel_extract_finds_every_code_so_update_keeps_them(extracted, catalogues):
    """Codes built at run time (``f"field.{name}"``) are listed in translations/runtime_codes.py."""
    lost = sorted(set(catalogues["en"]) - extracted)
    assert not lost, "list these in translations/runtime_codes.py: " + ", ".join(lost)


def test_compiled_catalogue_matches_the_po_files(catalogues):
    for lang in LANGS:
        for key, message in list(catalogues[lang].items())[::25]:
            assert template(key, lang) == message.string
