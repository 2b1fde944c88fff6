"""geo.hours for people: the renderer (Chinese and English) and the one parser every input uses."""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest

from geo.errors import ValidationError
from geo.hours import describe_hours, hours_status, normalise_opening_hours, opening_hours_problem, parse_hours_input
from geo.paths import DATA_DIR

SAMPLE_HOURS = sorted({f["properties"]["opening_hours"]
                       for f in json.loads((DATA_DIR / "stations.geojson").read_text("utf-8"))["features"]})

RENDERED = {
    "24/7": ("24 小时营业", "Open 24 hours"),
    "Mo-Su 07:00-22:00": ("每天 07:00–22:00", "Daily 07:00–22:00"),
    "Mo-Fr 08:00-18:00; Sa,Su 09:00-17:00": ("周一至周五 08:00–18:00，周六、日 09:00–17:00",
                                            "Mon–Fri 08:00–18:00; Sat, Sun 09:00–17:00"),
    "Mo-Sa 08:00-21:00; Su 09:00-18:00": ("周一至周六 08:00–21:00，周日 09:00–18:00", "Mon–Sat 08:00–21:00; Sun 09:00–18:00"),
    "Tu-Su 09:00-17:00": ("周二至周日 09:00–17:00", "Tue–Sun 09:00–17:00"),
    "Mo-Fr 09:00-12:00,14:00-17:30": ("周一至周五 09:00–12:00、14:00–17:30", "Mon–Fri 09:00–12:00, 14:00–17:30"),
    "Jul-Aug Mo-Fr 08:30-17:30": ("7月至8月 周一至周五 08:30–17:30", "Jul–Aug Mon–Fri 08:30–17:30"),
    "Jan,Feb,Jul,Aug Mo-Fr 08:30-17:00": ("1月、2月、7月、8月 周一至周五 08:30–17:00", "Jan, Feb, Jul, Aug Mon–Fri 08:30–17:00"),
    # common OSM forms beyond the sample
    "Mo,We,Fr 10:00-16:00": ("周一、三、五 10:00–16:00", "Mon, Wed, Fri 10:00–16:00"),
    "Mo-Fr 08:00-18:00; Sa,Su off": ("周一至周五 08:00–18:00，周六、日休息", "Mon–Fri 08:00–18:00; Sat, Sun closed"),
    "Mo-Fr 08:00-18:00; PH off": ("周一至周五 08:00–18:00，法定节假日休息", "Mon–Fri 08:00–18:00; public holidays closed"),
    "08:00-20:00": ("每天 08:00–20:00", "Daily 08:00–20:00"),
    "Mo-Su 18:00+": ("每天 18:00起", "Daily 18:00+"),
    "Sa-Mo 10:00-14:00": ("周一、六、日 10:00–14:00", "Mon, Sat, Sun 10:00–14:00"),
}


@pytest.mark.parametrize("text, expected", RENDERED.items())
def test_renderer_says_hours_in_both_languages(text, expected):
    assert opening_hours_problem(text) is None  # each example is real OSM syntax
    assert (describe_hours(text, "zh"), describe_hours(text, "en")) == expected


@pytest.mark.parametrize("text", SAMPLE_HOURS)
def test_every_sample_pattern_reads_as_chinese_and_parses_back(text):
    """No OSM code left on a Chinese page, and what we show a clerk can be typed back in."""
    zh = describe_hours(text, "zh")
    assert not re.search(r"\b(Mo|Tu|We|Th|Fr|Sa|Su|PH|Jan|Feb|Jul|Aug|off)\b", zh), zh
    assert normalise_opening_hours(zh) == text
    assert not re.search(r"\b(Mo|Tu|We|Th|Fr|Sa|Su)\b", describe_hours(text, "en"))


def test_unknown_syntax_is_shown_as_written():
    assert describe_hours("sunrise-sunset", "zh") == "sunrise-sunset"


PARSED = {
    "每天 7:00-22:00": "Mo-Su 07:00-22:00",
    "每天 7:00—22:00": "Mo-Su 07:00-22:00",
    "周一至周五 8:00-18:00，周六、日 9:00-17:00": "Mo-Fr 08:00-18:00; Sa,Su 09:00-17:00",
    "周一到周五 8:00～18:00；周六、周日 9:00-17:00": "Mo-Fr 08:00-18:00; Sa,Su 09:00-17:00",
    "星期一至星期六 08:00-21:00，星期日 09:00-18:00": "Mo-Sa 08:00-21:00; Su 09:00-18:00",
    "工作日 8:30-17:30，周末休息": "Mo-Fr 08:30-17:30; Sa,Su off",
    "周一至周五 9:00-12:00，14:00-17:30": "Mo-Fr 09:00-12:00,14:00-17:30",
    "全天": "24/7", "24小时": "24/7", "24 小时营业": "24/7",
    "早7点到晚10点": "07:00-22:00",
    "7月至8月 周一至周五 8:30-17:30": "Jul-Aug Mo-Fr 08:30-17:30",
    "Mo-Fr 08:00-18:00": "Mo-Fr 08:00-18:00",  # OSM stays as it is
    "看情况": "看情况",  # unreadable: unchanged, so validation reports it
}


@pytest.mark.parametrize("typed, stored", PARSED.items())
def test_parser_turns_chinese_forms_into_osm(typed, stored):
    assert normalise_opening_hours(typed) == stored


def test_parse_hours_input_refuses_what_it_cannot_read_in_both_languages():
    assert parse_hours_input("每天 7:00-22:00") == "Mo-Su 07:00-22:00"
    with pytest.raises(ValidationError) as caught:
        parse_hours_input("有时候开门")
    problem = caught.value.problems[0]
    assert problem.where == "opening_hours"
    assert "无法识别的开放时间" in problem.as_dict("zh")["message"]
    assert "unreadable opening hours" in problem.as_dict("en")["message"]


STATUS = [
    ("Mo-Su 07:00-22:00", datetime(2026, 12, 2, 21, 0), "今天 22:00 打烊", "Closes 22:00 today"),
    ("Mo-Su 07:00-22:00", datetime(2026, 12, 2, 23, 0), "明天 07:00 营业", "Opens 07:00 tomorrow"),
    ("Mo-Su 07:00-22:00", datetime(2026, 12, 2, 6, 0), "今天 07:00 营业", "Opens 07:00 today"),
    ("24/7", datetime(2026, 12, 2, 3, 0), "24 小时营业", "Open 24 hours"),
    ("Mo-Fr 08:00-18:00", datetime(2026, 12, 5, 12, 0), "周一 08:00 营业", "Opens Mon 08:00"),  # a Saturday
]


@pytest.mark.parametrize("text, when, zh, en", STATUS)
def test_status_line_says_today_tomorrow_or_the_day(text, when, zh, en):
    assert hours_status(text, when, "zh") == zh
    assert hours_status(text, when, "en") == en
