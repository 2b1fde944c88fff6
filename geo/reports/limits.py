"""Abuse limits for reports without accounts: per address and per station, with the ``limits`` library.

Counters live in a ``limits`` storage: in memory by default, or any storage URI (the web app
passes its SQLite one, so every server process shares the counts). Addresses are hashed
before they become keys; no address is stored with a report.
"""

from __future__ import annotations

import hashlib
import time

from limits import parse
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from geo.errors import StationMapError
from geo.messages import Text

# The sixth report from one address within a minute is refused; a station takes 20 an hour.
PER_ADDRESS = ("5/minute", "30/day")
PER_STATION = ("20/hour",)


class ReportRefusedError(StationMapError):
    """Too many reports from one address or about one station; ``retry_after_s`` says when to try again."""

    def __init__(self, message: Text, retry_after_s: int):
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


class ReportLimits:
    """Fixed windows per address (``PER_ADDRESS``) and per station (``PER_STATION``)."""

    def __init__(self, storage: Storage | str | None = None, per_address=PER_ADDRESS, per_station=PER_STATION):
        if isinstance(storage, str):
            storage = storage_from_string(storage)
        self.limiter = FixedWindowRateLimiter(storage or MemoryStorage())
        self.per_address = [parse(text) for text in per_address]
        self.per_station = [parse(text) for text in per_station]

    def hit(self, address: str, station_id: str) -> None:
        """Count one report; ``ReportRefusedError`` (and nothing counted) if any limit is reached."""
        who = hashlib.blake2b(str(address).encode(), digest_size=12).hexdigest()
        checks = [(item, ("report-address", who), "report.too_many_address") for item in self.per_address]
        checks += [(item, ("report-station", station_id), "report.too_many_station") for item in self.per_station]
        for item, keys, message in checks:
            if not self.limiter.test(item, *keys):
                reset = self.limiter.get_window_stats(item, *keys).reset_time
                wait = max(1, int(reset - time.time()) + 1)
                raise ReportRefusedError(Text(message, seconds=wait, limit=str(item.amount),
                                              per=Text(f"report.per.{item.GRANULARITY.name.upper()}")), wait)
        for item, keys, _ in checks:
            self.limiter.hit(item, *keys)
