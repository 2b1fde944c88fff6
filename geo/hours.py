"""Opening hours in OpenStreetMap syntax (``24/7``, ``Mo-Fr 08:00-18:00``), parsed by opening-hours-py.

Parsed expressions are cached by their text: a registry holds few distinct strings,
so "which stations are open at t" costs one evaluation per distinct string.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
from opening_hours import OpeningHours

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
