"""Per-app state of the planners' workbench: finished plans (LRU, one solve per request), exact-solver slots, uploaded candidate files.

A plan is keyed by the registry snapshot it was computed on and the request's normalised
parameters. ``PlanCache.get_or_compute`` lets only one thread solve a given key: a second
identical request (the page's chart ``<img>`` right after the plan, a double click) waits
for the first and reuses its result. Exact solves (CBC, up to ``time_limit_s`` plus the
model build) hold one of ``PLAN_EXACT_SLOTS`` slots; when none frees up within
``PLAN_SLOT_WAIT_S`` the request is refused with ``SolverBusyError`` (HTTP 503).

Candidate files uploaded with ``POST /api/plan`` are kept by their SHA-256 where the store
keeps its state (a private directory every worker process can reach, or the store's database,
which every app server reaches), so later GETs (downloads, charts, the report) name them by
digest instead of uploading again. They expire after ``PLAN_CANDIDATES_TTL_S``.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path

from flask import Flask, current_app

from geo.errors import NotFoundError, RegistryUnavailableError
from geo.messages import Text
from geo.registry.state import Blobs

EXTENSION = "stationmap.planner"
DIGEST_PATTERN = re.compile(r"^[0-9a-f]{64}$")

class SolverBusyError(RegistryUnavailableError):
    """Every exact-solver slot is taken; the client should retry later or use the greedy method."""


class PlanCache:
    """Least-recently-used results by key, computed at most once at a time per key."""

    def __init__(self, entries: int, exact_slots: int, slot_wait_s: float):
        self.entries = entries
        self.slot_wait_s = slot_wait_s
        self._exact_slots, self._slots, self._slots_pid = max(1, exact_slots), None, None
        self._items: OrderedDict = OrderedDict()
        self._flights: dict = {}
        self._lock = threading.Lock()

    @property
    def slots(self) -> threading.BoundedSemaphore:
        """Made in the process that uses it: in a gevent worker, after the fork and gevent's patch, so
        waiting for a slot yields to the event loop instead of stopping the whole worker."""
        if self._slots_pid != os.getpid():
            self._slots, self._slots_pid = threading.BoundedSemaphore(self._exact_slots), os.getpid()
        return self._slots

    def get(self, key):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def get_or_compute(self, key, compute, *, exact: bool):
        """The cached value for ``key``, or ``compute()`` (holding an exact-solver slot if ``exact``)."""
        value = self.get(key)
        if value is not None:
            return value
        with self._lock:
            flight = self._flights.setdefault(key, threading.Lock())
        with flight:
            value = self.get(key)
            if value is not None:
                return value
            try:
                if exact and not self.slots.acquire(timeout=self.slot_wait_s):
                    raise SolverBusyError(Text("plan.solver_busy"))
                try:
                    value = compute()
                finally:
                    if exact:
                        self.slots.release()
                with self._lock:
                    self._items[key] = value
                    self._items.move_to_end(key)
                    while len(self._items) > self.entries:
                        self._items.popitem(last=False)
            finally:
                with self._lock:
                    self._flights.pop(key, None)
        return value


class CandidateStash:
    """Uploaded candidate CSV files by SHA-256: the rules (digests, expiry) over the store's planner inputs
    (``geo.registry.state.Blobs``: a private directory (0700, ours, not a symlink), or the store's database)."""

    def __init__(self, directory: str | Path | None, ttl_s: float, blobs: Blobs | None = None):
        self.directory = Path(directory or default_directory())
        self.ttl_s = ttl_s
        if blobs is None:
            from geo.registry.state_file import FileBlobs

            blobs = FileBlobs(self.directory)
        self.blobs = blobs

    def put(self, data: bytes) -> str:
        """Keep ``data``; returns its digest (the same bytes always get the same digest)."""
        digest = hashlib.sha256(data).hexdigest()
        self.blobs.put(digest, data)
        self.blobs.expire(time.time() - self.ttl_s)
        return digest

    def get(self, digest: str) -> bytes:
        """The bytes kept under ``digest``; ``NotFoundError`` if unknown or expired."""
        if not DIGEST_PATTERN.fullmatch(digest or ""):
            raise NotFoundError(Text("plan.no_digest"))
        data = self.blobs.get(digest, self.ttl_s)
        if data is None:
            raise NotFoundError(Text("plan.expired"))
        return data


def default_directory() -> Path:
    """The file store's place for planner inputs when ``PLAN_CANDIDATES_DIR`` is not set."""
    return Path(tempfile.gettempdir()) / f"stationmap-candidates-{os.getuid()}"


class PlannerState:
    def __init__(self, config, app_state=None):
        self.plans = PlanCache(int(config["PLAN_CACHE_ENTRIES"]), int(config["PLAN_EXACT_SLOTS"]),
                               float(config["PLAN_SLOT_WAIT_S"]))
        directory = config["PLAN_CANDIDATES_DIR"] or default_directory()
        self.candidates = CandidateStash(directory, float(config["PLAN_CANDIDATES_TTL_S"]),
                                         app_state.planner_inputs(directory) if app_state is not None else None)


def init_app(app: Flask) -> None:
    from webmap.core.state import get_app_state

    app.extensions[EXTENSION] = PlannerState(app.config, get_app_state(app))


def planner_state() -> PlannerState:
    return current_app.extensions[EXTENSION]
