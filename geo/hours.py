"""Opening hours: OpenStreetMap syntax (``24/7``, ``Mo-Fr 08:00-18:00``) evaluated by opening-hours-py,
read from what people type (one parser for every input) and shown to people in Chinese or English.

Parsed expressions are cached by their text: a registry holds few distinct strings,
so "which stations are open at t" costs one evaluation per distinct string.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
from opening_hours import OpeningHours

from geo.errors import Problem, ValidationError
from geo.messages import Text, translate

# Stations keep local (China Standard Time) hours; "now" means now in Chongqing.
CHONGQING_TZ = ZoneInfo("Asia/Shanghai")


def chongqing_now() -> datetime:
    """The current wall-clock time in Chongqing, naive (as opening_hours expects)."""
    return datetime.now(CHONGQING_TZ).replace(tzinfo=None)


def to_local_naive(when: datetime | None) -> datetime:
    """Interpret ``when`` in Chongqing local time; ``None`` means now."""
    if when is None:
        return chongqing_now()
    if when.tzinfo is not None:
        return when.astimezone(CHONGQING_TZ).replace(tzinfo=None)
    return when


@lru_cache(maxsize=4096)
def parse_opening_hours(text: str) -> OpeningHours:
    """Parse an opening_hours string; raises ``ValueError`` with the library's message if invalid."""
    try:
        return OpeningHours(text)
    except Exception as exc:  # opening_hours.ParserError is not a ValueError subclass
        raise ValueError(" ".join(str(exc).split()) or "invalid opening_hours") from exc


def opening_hours_problem(text: str) -> str | None:
    """``None`` if ``text`` parses, else a one-line reason."""
    try:
        parse_opening_hours(text)
    except ValueError as exc:
        return str(exc)
    return None


def is_open(text: str, when: datetime | None = None) -> bool:
    """Whether a station with these hours is open at ``when`` (Chongqing time; default now)."""
    return bool(parse_opening_hours(text).is_open(to_local_naive(when)))


def open_mask(hours: np.ndarray | list[str], when: datetime | None = None) -> np.ndarray:
    """Boolean array: which of ``hours`` (one string per station) are open at ``when``.

    Evaluates each distinct string once; unparsable strings count as closed.
    """
    local = to_local_naive(when)
    values, codes = np.unique(np.asarray(hours, dtype=object).astype(str), return_inverse=True)
    state = np.fromiter((_safe_is_open(v, local) for v in values), dtype=bool, count=len(values))
    return state[codes]


def _safe_is_open(text: str, local: datetime) -> bool:
    try:
        return bool(parse_opening_hours(text).is_open(local))
    except ValueError:
        return False


def next_change(text: str, when: datetime | None = None) -> datetime | None:
    """When the open/closed state next changes, or ``None`` (e.g. ``24/7``)."""
    try:
        return parse_opening_hours(text).next_change(to_local_naive(when))
    except (ValueError, OverflowError):
        return None


# -- reading what people type: one parser for uploads, the edit form and the API ----------------

_WEEKDAY_CHARS = {"一": "Mo", "二": "Tu", "三": "We", "四": "Th", "五": "Fr", "六": "Sa", "日": "Su", "天": "Su", "七": "Su"}
_ALWAYS = re.compile(r"\s*(全天|全天候|24小时|24小时营业|24小时开放|全天24小时|24h|24/7|00:00-24:00|0:00-24:00|全年无休|全天开放)\s*")


def normalise_opening_hours(value):
    """Accept OpenStreetMap syntax as is; translate the common Chinese forms clerks type when that makes it valid.

    '周一至周五 8:00-18:00，周六、日 9:00-17:00' -> 'Mo-Fr 08:00-18:00; Sa,Su 09:00-17:00';
    '每天 7:00—22:00' -> 'Mo-Su 07:00-22:00'; '全天' / '24小时' -> '24/7'; '早7点到晚10点' -> '07:00-22:00'.
    Returns the value unchanged when no translation parses (validation then reports it), so the
    upload, the portal's edit form and the write API all store the same OSM text for the same input.
    """
    if not isinstance(value, str) or not value.strip():
        return value
    text = value.strip()
    if opening_hours_problem(text) is None:
        return text
    candidate = unicodedata.normalize("NFKC", text)
    candidate = candidate.replace("，", "; ").replace(",", "; ").replace("；", "; ").replace("。", "").replace("、", ",")
    if _ALWAYS.fullmatch(candidate.replace(" ", "")):
        return "24/7"
    candidate = re.sub(r"(?<!\d)(1[0-2]|[1-9])月(?:份)?", lambda m: _MONTHS[int(m[1]) - 1], candidate)
    candidate = re.sub(r"(?:法定)?(?:节假日|假日)\s*(?:休息|闭馆|不开放|关闭)", "PH off", candidate)
    # "周六,日": a bare weekday character after a listed one
    candidate = re.sub(r"(?:周|星期|礼拜)([一二三四五六日天七])", lambda m: _WEEKDAY_CHARS[m[1]], candidate)
    candidate = re.sub(r"(?<=[A-Za-z],)([一二三四五六日天七])", lambda m: _WEEKDAY_CHARS[m[1]], candidate)
    candidate = re.sub(r"(?<=-)([一二三四五六日天七])(?![\d点])", lambda m: _WEEKDAY_CHARS[m[1]], candidate)
    candidate = candidate.replace("每天", "Mo-Su ").replace("每日", "Mo-Su ").replace("工作日", "Mo-Fr ")
    candidate = candidate.replace("周末", "Sa,Su ").replace("双休日", "Sa,Su ")
    candidate = re.sub(r"\s*(?:休息|闭馆|不开放|关闭)", " off", candidate)
    # 早7点 / 上午8点半 / 晚10点 / 下午5:30
    candidate = re.sub(r"(早上|早|上午|中午|下午|晚上|晚)?\s*(\d{1,2})(?:[:：](\d\d)|点半|点(\d{1,2})分?|点|时)",
                       _clock, candidate)
    candidate = re.sub(r"\s*(至|到|~|～|—|–|－)\s*", "-", candidate)
    candidate = re.sub(r"(?<![\d:])(\d):(\d\d)", r"0\1:\2", candidate)
    candidate = re.sub(r"([A-Za-z])(\d)", r"\1 \2", candidate)
    candidate = re.sub(r"\s*-\s*", "-", candidate)
    candidate = re.sub(r"\s*;\s*(?=\d)", ",", candidate)  # "9:00-12:00，14:00-17:30": one day's two spans
    candidate = re.sub(r"\s*;\s*", "; ", re.sub(r"\s+", " ", candidate)).strip(" ;")
    return candidate if opening_hours_problem(candidate) is None else text


def _clock(match) -> str:
    part, hour, minute = match[1], int(match[2]), match[3] or match[4]
    if match[0].endswith("点半"):
        minute = "30"
    if part in ("下午", "晚上", "晚") and hour < 12:
        hour += 12
    return f"{hour:02d}:{int(minute or 0):02d}"


def parse_hours_input(value) -> str:
    """What a person typed, as OpenStreetMap ``opening_hours`` text; ``ValidationError`` (zh/en, with a hint) if unreadable."""
    normalised = normalise_opening_hours(value)
    if not isinstance(normalised, str) or not normalised.strip():
        raise ValidationError(Problem("opening_hours", Text("prop.empty")))
    if opening_hours_problem(normalised) is not None:
        raise ValidationError(Problem("opening_hours", Text("hours.unreadable", value=normalised[:60]), Text("prop.hours_hint")))
    return normalised


# -- showing hours to people ----------------------------------------------------------------

_DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SPAN = r"\d\d:\d\d(?:-\d\d:\d\d)?\+?"
_RULE = re.compile(
    rf"^(?:(?P<months>(?:{'|'.join(_MONTHS)})(?:-(?:{'|'.join(_MONTHS)}))?(?:,(?:{'|'.join(_MONTHS)})(?:-(?:{'|'.join(_MONTHS)}))?)*)\s+)?"
    rf"(?:(?P<days>(?:Mo|Tu|We|Th|Fr|Sa|Su|PH)(?:-(?:Mo|Tu|We|Th|Fr|Sa|Su))?(?:,(?:Mo|Tu|We|Th|Fr|Sa|Su|PH)(?:-(?:Mo|Tu|We|Th|Fr|Sa|Su))?)*)\s*)?"
    rf"(?P<times>{_SPAN}(?:,{_SPAN})*|off|closed)?$"
)
# The renderer's words are the catalogue's ``hours.*``, ``prov.weekday.<0-6>`` and ``month.<1-12>`` codes (listed in
# translations/runtime_codes.py); the parser above reads Chinese input forms, which are input, not our texts.
def _word(key: str, lang: str, **values) -> str:
    return translate(f"hours.{key}", lang, **values)


def _day(day: str, lang: str) -> str:
    """A weekday code (``Mo``) as people write it: 周一 / Mon."""
    return translate(f"prov.weekday.{_DAYS.index(day)}", lang)


def _expand_days(days: str) -> list[str]:
    out: list[str] = []
    for part in days.split(","):
        if part == "PH":
            out.append("PH")
            continue
        start, _, end = part.partition("-")
        i, j = _DAYS.index(start), _DAYS.index(end or start)
        out += [_DAYS[k % 7] for k in range(i, i + (j - i) % 7 + 1)]
    return out


def _days_text(days: list[str], lang: str) -> str:
    """Runs of three or more days as a range (周一至周五 / Mon–Fri), others listed (周六、日 / Sat, Sun)."""
    holidays = "PH" in days
    week = [d for d in _DAYS if d in days]
    if len(week) == 7:
        text = _word("daily", lang)
    else:
        runs, run = [], []
        for d in week:
            if run and _DAYS.index(d) == _DAYS.index(run[-1]) + 1:
                run.append(d)
            else:
                if run:
                    runs.append(run)
                run = [d]
        if run:
            runs.append(run)
        parts, single = [], []
        for run in runs:
            if len(run) >= 3:
                parts.append(_word("range", lang, first=_day(run[0], lang), last=_day(run[-1], lang)))
                single.append(False)
            else:
                parts += [_day(d, lang) for d in run]
                single += [True] * len(run)
        if lang != "en" and parts:
            # 周六、日: a single day after another single day drops its 周 (Chinese only)
            parts = [parts[0]] + [p[1:] if single[i + 1] and single[i] and p.startswith("周") else p
                                  for i, p in enumerate(parts[1:])]
        text = _word("list_sep", lang).join(parts)
    if holidays:
        text = (text + _word("list_sep", lang) if text else "") + _word("holidays", lang)
    return text


def _months_text(months: str, lang: str) -> str:
    parts = []
    for part in months.split(","):
        start, _, end = part.partition("-")
        first = translate(f"month.{_MONTHS.index(start) + 1}", lang)
        parts.append(_word("range", lang, first=first, last=translate(f"month.{_MONTHS.index(end) + 1}", lang)) if end else first)
    return _word("list_sep", lang).join(parts)


def _times_text(times: str, lang: str) -> str:
    spans = [t.replace("-", "–") for t in times.split(",")]
    spans = [_word("open_end", lang, time=t[:-1]) if t.endswith("+") else t for t in spans]
    return _word("list_sep", lang).join(spans)


@lru_cache(maxsize=2048)
def describe_hours(text: str, lang: str = "zh") -> str:
    """Opening hours for people: '24 小时营业', '每天 07:00–22:00',
    '周一至周五 08:00–18:00，周六、日 09:00–17:00' (English: 'Daily 07:00–22:00', 'Mon–Fri …; Sat, Sun …').

    Covers the forms the registry and clerks use (weekday ranges and lists, months, several
    spans a day, ``off``, ``PH off``, open end ``+``); anything else is shown as written.
    """
    text = (text or "").strip()
    if text == "24/7":
        return _word("always", lang)
    rules = [r.strip() for r in text.split(";") if r.strip()]
    shown = []
    for rule in rules:
        m = _RULE.match(rule)
        if not m or not (m["days"] or m["times"]):
            return text
        pieces = []
        if m["months"]:
            pieces.append(_months_text(m["months"], lang))
        days = _expand_days(m["days"]) if m["days"] else list(_DAYS)
        day_text = _days_text(days, lang)
        times = m["times"]
        if times in ("off", "closed"):
            pieces.append(_word("days_off", lang, days=day_text))
        else:
            if day_text:
                pieces.append(day_text)
            pieces.append(_times_text(times or "00:00-24:00", lang))
        shown.append(" ".join(pieces))
    return _word("rules_sep", lang).join(shown)


def hours_status(text: str, when: datetime | None = None, lang: str = "zh") -> str:
    """What matters now: '今天 22:00 打烊', '明天 07:00 营业', '24 小时营业' (English: 'Closes 22:00 today' …).

    ``when`` is Chongqing local time (default now). Empty when the hours do not parse.
    """
    local = to_local_naive(when)
    try:
        hours = parse_opening_hours(text)
        open_now = bool(hours.is_open(local))
        change = hours.next_change(local)
    except (ValueError, OverflowError):
        return ""
    if change is None:
        return _word("open_always" if open_now else "closed_indefinitely", lang)
    days = (change.date() - local.date()).days
    time = change.strftime("%H:%M")
    verb = "closes" if open_now else "opens"
    if days == 0:
        return _word(f"{verb}_today", lang, time=time)
    if days == 1:
        return _word(f"{verb}_tomorrow", lang, time=time)
    day = translate(f"prov.weekday.{change.weekday()}", lang)
    if days >= 7:
        day = _word("date", lang, month=change.month, day=change.day)
    return _word(f"{verb}_on", lang, day=day, time=time)
