"""The app's state besides stations, behind the same switch as the registry (``open_store(url)``).

A store comes with an ``AppState`` (``store.state``): the file one keeps today's local files
(``geo.registry.state_file``), the PostgreSQL one keeps everything in the store's database
(``geo.registry.state_pg``), so several app servers on one database share accounts, sessions'
generations, sign-in throttles, upload drafts, Idempotency-Key records, planner inputs, reports
and the app's secret. Each piece only stores and fetches, atomically; the rules (who may do what,
validation, hashing, throttling policy, time limits) stay in the modules that use them.

Every factory takes the place the file implementation keeps that piece (from the app's
configuration); the database implementation ignores it. So the caller never knows which it has.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path


class IdempotencyRecords(ABC):
    """Idempotency-Key records by (scope, key): ``pending`` while the first request runs, then its answer."""

    @abstractmethod
    def expire(self, before: float) -> None:
        """Forget records created before ``before`` (a Unix time)."""

    @abstractmethod
    def insert_pending(self, scope: str, key: str, fingerprint: str, now: float) -> bool:
        """Record a pending request unless the key is already known; True if it was recorded (atomic)."""

    @abstractmethod
    def get(self, scope: str, key: str) -> tuple | None:
        """``(fingerprint, state, status, headers, body, created)`` or None."""

    @abstractmethod
    def finish(self, scope: str, key: str, status: int, headers: str, body: bytes) -> None:
        """Keep the first answer."""

    @abstractmethod
    def delete(self, scope: str, key: str, pending_only: bool = False) -> None:
        """Forget a key (only while it is pending, if ``pending_only``)."""


class Drafts(ABC):
    """Upload drafts (a dry run's file and what was checked) by token, claimed at most once."""

    @abstractmethod
    def put(self, token: str, meta: dict, raw: bytes) -> None:
        """Keep a new draft (``meta`` has ``saved_at``, a Unix time)."""

    @abstractmethod
    def peek(self, token: str) -> dict | None:
        """The draft's ``meta`` without claiming it, or None."""

    @abstractmethod
    def take(self, token: str) -> tuple[dict, bytes] | None:
        """Claim the draft and remove it: ``(meta, raw)``; of two simultaneous claims only one gets it."""

    @abstractmethod
    def expire(self, before: float) -> None:
        """Remove drafts saved before ``before``."""


class Blobs(ABC):
    """Planner inputs: uploaded files by their SHA-256."""

    @abstractmethod
    def put(self, digest: str, data: bytes) -> None:
        """Keep ``data`` under ``digest`` (or mark it used again if already kept)."""

    @abstractmethod
    def get(self, digest: str, max_age_s: float) -> bytes | None:
        """The bytes, unless unknown or last used more than ``max_age_s`` ago."""

    @abstractmethod
    def expire(self, before: float) -> None:
        """Remove what was last used before ``before``."""


class AppState(ABC):
    """Where the app's state lives (see the module docstring)."""

    #: the database's URL when the state lives in PostgreSQL (``geo.reports`` picks its store by it), else None
    database_url: str | None = None

    @abstractmethod
    def accounts(self, path: str | Path):
        """The ``geo.access.records.AccountRecords`` (the file: ``path``)."""

    @abstractmethod
    def secret(self, name: str, path: str | Path, make) -> str:
        """The secret called ``name``; made by ``make()`` the first time, then the same for every process."""

    @abstractmethod
    def counters_uri(self, path: str | Path) -> str:
        """A ``limits`` storage URI for fixed-window counters shared by every server (the file: SQLite at ``path``)."""

    @abstractmethod
    def idempotency(self, path: str | Path) -> IdempotencyRecords:
        """Idempotency-Key records (the file: SQLite at ``path``)."""

    @abstractmethod
    def drafts(self, directory: str | Path) -> Drafts:
        """Upload drafts (the file: a private directory)."""

    @abstractmethod
    def planner_inputs(self, directory: str | Path) -> Blobs:
        """Planner inputs (the file: a private directory)."""

    def close(self) -> None:  # noqa: B027 - nothing to release by default
        """Release connections."""
