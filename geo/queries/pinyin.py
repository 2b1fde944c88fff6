"""Pinyin of Chinese text exactly as pypinyin's ``lazy_pinyin`` gives it (NORMAL style: no tones, ü as v;
each character's first reading; words cut by its segmenter), held compactly.

pypinyin keeps its dictionaries as ~90,000 Python lists and strings: ~55 MB in every process that
imports it, for as long as it runs. Place search needs only three things from them: the toneless
reading of each character, which character sequences are phrases (to cut a run into words as
pypinyin does), and the reading of the few thousand phrases that are not read as their characters
alone (重庆 is chóng qìng, not zhòng qìng). ``PinyinTable.load()`` imports pypinyin once, copies
those into a few MB, and lets pypinyin's modules go again. ``tests/geo/queries/test_pinyin.py``
checks the copy against ``lazy_pinyin`` itself; ``scripts/bench_search.py`` prints the memory.
"""

from __future__ import annotations

import bisect
import re
import sys
import threading
from array import array

from geo.registry.snapshot import release_freed_memory

_LOCK = threading.Lock()


class PinyinTable:
    """``first_words(run)`` and ``syllables(word)``: pypinyin's segmenter and ``lazy_pinyin`` for runs of
    Han characters (``han_run`` finds them, as pypinyin does)."""

    def __init__(self, han_pattern: str, readings: list[tuple[str, ...]], reading_of: array, phrases: list[str],
                 special: dict[str, tuple[str, ...]]):
        self.han_run = re.compile(han_pattern.removeprefix("^").removesuffix("$"))
        self._readings = readings        # distinct readings of single characters
        self._reading_of = reading_of    # code point -> 1 + index into _readings (0: no reading)
        self._phrases = phrases          # every phrase, sorted (pypinyin's PHRASES_DICT keys)
        self._is_phrase = frozenset(phrases)
        self._longest = max(map(len, phrases), default=1)
        self._special = special          # phrases not read as their characters alone

    _loaded: PinyinTable | None = None

    @classmethod
    def load(cls) -> PinyinTable:
        """The table of the installed pypinyin (made once per process; ~0.6 s, ~9 MB)."""
        with _LOCK:
            if PinyinTable._loaded is None:
                packed = cls._packed_from_pypinyin()
                _unload_pypinyin()
                # Made only now, into the memory pypinyin gave back, rather than amid its objects
                # (which kept half-used blocks of memory alive: 16.5 MB held instead of 8.6).
                PinyinTable._loaded = cls._unpacked(*packed)
            return PinyinTable._loaded

    @classmethod
    def _unpacked(cls, han_pattern: str, readings: str, reading_of: array, phrases: str, special: str) -> PinyinTable:
        pairs = (line.split("\t") for line in special.split("\n")) if special else ()
        return cls(han_pattern, [tuple(r.split(" ")) for r in readings.split("|")] if readings else [], reading_of,
                   phrases.split("\n") if phrases else [], {phrase: tuple(read.split(" ")) if read else () for phrase, read in pairs})

    @staticmethod
    def _packed_from_pypinyin() -> tuple[str, str, array, str, str]:
        """What the table is made of, as a few long strings (Han pattern, readings, phrases, special
        phrases with their readings) and the code point array."""
        from pypinyin import lazy_pinyin
        from pypinyin.constants import PHRASES_DICT, PINYIN_DICT, RE_HANS

        # Style conversion is per syllable, so each distinct toned reading is converted once, by
        # lazy_pinyin itself, through a character whose first reading it is.
        toned_first = {cp: readings.split(",")[0] for cp, readings in PINYIN_DICT.items()}
        normal_of = {}
        for cp, toned in toned_first.items():
            if toned not in normal_of and chr(cp) not in PHRASES_DICT:
                normal_of[toned] = tuple(lazy_pinyin(chr(cp), errors="ignore"))
        char_readings = {cp: normal_of.get(toned) for cp, toned in toned_first.items()}
        for phrase in PHRASES_DICT:  # a character that is a phrase of its own is read as that phrase
            if len(phrase) == 1:
                char_readings[ord(phrase)] = tuple(lazy_pinyin(phrase, errors="ignore"))
        distinct: dict[tuple[str, ...], int] = {}
        reading_of = array("H", bytes(2 * (max(char_readings, default=0) + 1)))
        for cp, reading in char_readings.items():
            if reading is None:  # a toned reading only single-character phrases have: ask lazy_pinyin
                reading = tuple(lazy_pinyin(chr(cp), errors="ignore"))
            if reading:
                reading_of[cp] = 1 + distinct.setdefault(reading, len(distinct))  # a few thousand: fits uint16
        readings = list(distinct)

        def alone(text: str) -> list[str]:
            return [s for c in text if ord(c) < len(reading_of) and reading_of[ord(c)]
                    for s in readings[reading_of[ord(c)] - 1]]

        special = {}
        for phrase, syllables in PHRASES_DICT.items():
            if len(phrase) < 2:
                continue
            if len(syllables) == len(phrase) and all(s and s[0] in normal_of for s in syllables):
                read = [x for s in syllables for x in normal_of[s[0]]]
            else:
                read = lazy_pinyin(phrase, errors="ignore")
            if read != alone(phrase):
                special[phrase] = " ".join(read)
        return (RE_HANS.pattern, "|".join(" ".join(r) for r in readings), reading_of, "\n".join(sorted(PHRASES_DICT)),
                "\n".join(f"{phrase}\t{read}" for phrase, read in special.items()))

    def first_words(self, remain: str) -> tuple[list[str], str]:
        """The words pypinyin's segmenter (``pypinyin.seg.mmseg.seg``, strict: only dictionary phrases
        are words) takes from the start of ``remain``, and what it goes on with: one turn of its loop.

        That loop grows a prefix while it is the start of some phrase and keeps the longest that is
        a phrase; so it takes the longest phrase ``remain`` starts with, else all of ``remain`` one
        character at a time if ``remain`` is itself the start of a longer phrase, else one character."""
        for length in range(min(self._longest, len(remain)), 0, -1):
            if remain[:length] in self._is_phrase:
                return [remain[:length]], remain[length:]
        i = bisect.bisect_left(self._phrases, remain)
        if i < len(self._phrases) and self._phrases[i].startswith(remain):
            return list(remain), ""
        return [remain[0]], remain[1:]

    def syllables(self, word: str) -> list[str]:
        """``lazy_pinyin(word, errors="ignore")`` of a word ``first_words`` gave."""
        special = self._special.get(word)
        if special is not None:
            return list(special)
        readings, reading_of, n = self._readings, self._reading_of, len(self._reading_of)
        out: list[str] = []
        for c in word:
            code = ord(c)
            if code < n and reading_of[code]:
                out += readings[reading_of[code] - 1]
        return out


def _unload_pypinyin() -> None:
    """Let pypinyin's modules (and their dictionaries) go: nothing here keeps a reference to them."""
    for name in [m for m in sys.modules if m == "pypinyin" or m.startswith("pypinyin.")]:
        del sys.modules[name]
    release_freed_memory()
