"""Whether a station's entry can be trusted today: when it was last verified, and whether riders say it is closed.

A station is *stale* when its ``verified_at`` (or, never verified, its ``updated_at``: the last
time its district touched it) is older than ``max_age_days`` (default ``DEFAULT_MAX_AGE_DAYS``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from geo.hours import CHONGQING_TZ

DEFAULT_MAX_AGE_DAYS = 180


def last_verified(props: dict) -> str:
    """The ISO timestamp a station was last confirmed to exist: ``verified_at``, else ``updated_at``."""
    return props.get("verified_at") or props.get("updated_at") or props.get("created_at") or ""


def is_stale(props: dict, now: datetime | None = None, max_age_days: int = DEFAULT_MAX_AGE_DAYS) -> bool:
    when = last_verified(props)
    try:
        stamp = datetime.fromisoformat(when)
    except ValueError:
        return True
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=CHONGQING_TZ)
    now = now or datetime.now(CHONGQING_TZ)
    if now.tzinfo is None:
        now = now.replace(tzinfo=CHONGQING_TZ)
    return now - stamp > timedelta(days=max_age_days)


def freshness(props: dict, reported_closed: frozenset[str] = frozenset(), now: datetime | None = None,
              max_age_days: int = DEFAULT_MAX_AGE_DAYS) -> dict:
    """``{"verified_at": date or None, "last_verified": date, "stale": bool, "reported_closed": bool}``."""
    return {"verified_at": (props.get("verified_at") or "")[:10] or None, "last_verified": last_verified(props)[:10],
            "stale": is_stale(props, now, max_age_days), "reported_closed": props.get("id") in reported_closed}


def stale_ids(features: list[dict], now: datetime | None = None, max_age_days: int = DEFAULT_MAX_AGE_DAYS,
              district: str | None = None) -> list[str]:
    """Ids of active stations (of one district if given) due for verification, longest-unverified first."""
    rows = [f["properties"] for f in features if f["properties"].get("status") == "active"
            and (district is None or f["properties"].get("district_adcode") == district)]
    due = [p for p in rows if is_stale(p, now, max_age_days)]
    due.sort(key=last_verified)
    return [p["id"] for p in due]
