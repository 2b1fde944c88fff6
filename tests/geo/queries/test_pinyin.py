"""geo.queries.pinyin reads Chinese exactly as pypinyin's ``lazy_pinyin`` does, without keeping pypinyin's
55 MB of dictionaries in the process."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypinyin import lazy_pinyin
from pypinyin.constants import PHRASES_DICT, PINYIN_DICT

from geo.queries.pinyin import PinyinTable

PHRASES = sorted(PHRASES_DICT)
CHARS = sorted(chr(cp) for cp in PINYIN_DICT)


def read(table: PinyinTable, text: str) -> list[str]:
    """``lazy_pinyin(text, errors="ignore")`` made from the table: each Han run cut into words, each word read."""
    out = []
    for run in table.han_run.findall(text):
        while run:
            words, run = table.first_words(run)
            for word in words:
                out += table.syllables(word)
    return out


@pytest.fixture(scope="module")
def table():
    return PinyinTable.load()


def test_place_names_read_as_pypinyin_reads_them(table):
    for text in ["重庆", "重庆市渝中区解放碑", "长寿区", "江北区观音桥步行街", "沙坪坝区三峡广场", "中国银行", "行人", "乐山"]:
        assert read(table, text) == lazy_pinyin(text, errors="ignore"), text
    assert read(table, "重庆") == ["chong", "qing"] and read(table, "绿") == ["lv"]


def test_a_sample_of_characters_and_phrases_read_alike(table):
    rng = random.Random(7)
    for text in rng.sample(CHARS, 1500) + rng.sample(PHRASES, 1500):
        assert read(table, text) == lazy_pinyin(text, errors="ignore"), text


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PHRASES) | st.sampled_from(CHARS) | st.sampled_from(["a", "1", " ", "·", "𠀀"]),
                max_size=6))
def test_runs_of_phrases_are_cut_and_read_alike(parts):
    # Phrases side by side are where the segmenter's choices show (a phrase may start inside another).
    text = "".join(parts)
    assert read(PinyinTable.load(), text) == lazy_pinyin(text, errors="ignore")


@pytest.mark.slow
def test_every_character_and_phrase_reads_alike(table):
    for text in CHARS + PHRASES:
        assert read(table, text) == lazy_pinyin(text, errors="ignore"), text


def test_pypinyin_is_let_go_once_the_table_is_made():
    code = ("import sys, gc, json\n"
            "def rss(): return int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20\n"
            "from geo.queries.pinyin import PinyinTable\n"
            "before = rss(); table = PinyinTable.load(); gc.collect()\n"
            "import ctypes; ctypes.CDLL('libc.so.6').malloc_trim(0)\n"
            "print(json.dumps({'grew_mb': rss() - before, 'loaded': sorted(m for m in sys.modules if m.startswith('pypinyin')),"
            " 'chongqing': table.syllables('重庆')}))\n")
    got = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout)
    assert got["loaded"] == [] and got["chongqing"] == ["chong", "qing"]
    assert got["grew_mb"] < 20, got  # pypinyin itself holds ~55 MB; the table ~9
