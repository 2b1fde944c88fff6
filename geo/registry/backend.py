"""What a registry backend does: store and fetch, atomically, and nothing else.

The rules of writing (rights, protected fields, honours, ids, timestamps, validation, the
audit entry) live above, in ``geo.registry.store``; a backend never decides whether a
change is allowed. It offers:

- ``load()``: every station and the version they make, in registry order (``load_table()``: the
  same as columns, where the backend can read them so);
- ``changes_since(version)``: the stations written after ``version`` (a delta), or None when
  it cannot tell (the file backend), in which case the caller reloads everything;
- ``stamp()``: a cheap token that changes whenever the stored registry does;
- ``writing()``: a transaction in which the current version and stations are read under
  the writers' lock and one batch of changes plus its audit entry is committed, or nothing;
- ``audit``: the append-only log (``entries(...)`` filtered, oldest first);
- ``watch(callback)``: call ``callback()`` from a background thread when another process
  writes (LISTEN/NOTIFY for PostgreSQL, a stat poll for a file).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager

AUDIT_FILTERS = ("station_id", "actor", "district", "action", "since", "until")


class WriteTransaction(ABC):
    """One write, under the backend's writers' lock: read what the rules need, then ``commit`` once."""

    version: int
    #: the backend's ``stamp()`` right after this commit (set by ``commit``)
    stamp_after = None

    @abstractmethod
    def get(self, station_ids: list[str]) -> dict[str, dict]:
        """The stored Features with these ids (those that exist)."""

    @abstractmethod
    def highest_serials(self, prefixes: set[str]) -> dict[str, int]:
        """For each id prefix ``"500103-OS-"``, the highest serial used (retired stations count)."""

    @abstractmethod
    def commit(self, changes: list[tuple[str, dict | None, dict]], entry: dict) -> list[dict] | None:
        """Store the ``after`` of each (action, before, after) and ``entry`` as version ``self.version + 1``.

        Returns every station after the commit if the backend built that list anyway, else None."""


class AuditReader(ABC):
    @abstractmethod
    def entries(self, station_id: str | None = None, actor: str | None = None, district: str | None = None,
                action: str | None = None, since: str | None = None, until: str | None = None) -> list[dict]:
        """Audit entries, oldest first; ``since``/``until`` compare ISO timestamps."""

    @abstractmethod
    def last_version(self) -> int:
        """The version of the newest entry (0 if none)."""


class Backend(ABC):
    """Storage of one registry. See the module docstring for the contract."""

    audit: AuditReader
    #: a short description for messages, e.g. the file path or the database (never a password)
    label: str = ""

    @abstractmethod
    def load(self) -> tuple[int, list[dict]]:
        """(version, every station Feature in registry order)."""

    def load_table(self):
        """(version, ``StationTable``) straight from storage, or None to build it from ``load()``'s Features
        (a backend that can read columns skips 200,000 dicts)."""
        return None

    def changes_since(self, version: int) -> tuple[int, list[dict]] | None:
        """(current version, Features written after ``version``) or None if only a full load can tell."""
        return None

    @abstractmethod
    def stamp(self):
        """A token equal between two calls iff nothing was written in between (cheap)."""

    @abstractmethod
    def writing(self) -> AbstractContextManager[WriteTransaction]:
        """A write transaction (see ``WriteTransaction``); raising inside it changes nothing."""

    _watcher: tuple[int, object, list] | None = None  # (pid, thread, [stopped]) of this process's watcher

    def watch(self, callback) -> None:
        """Call ``callback()`` from a background thread (one per process) after another process writes."""
        w = self._watcher
        if w is not None and w[0] == os.getpid() and w[1].is_alive() and not w[2][0]:
            return
        stopped = [False]  # a plain flag: an Event would be gevent's in a patched worker, deaf to other threads
        thread = native_thread(lambda: self._watch(callback, lambda: stopped[0]), f"stationmap-watch-{type(self).__name__}")
        self._watcher = (os.getpid(), thread, stopped)
        thread.start()

    def stop_watching(self) -> None:
        """Stop this process's watcher (e.g. in a server's parent process before it forks workers)."""
        if self._watcher is not None and self._watcher[0] == os.getpid():
            self._watcher[2][0] = True
            join = getattr(self._watcher[1], "join", None)
            if join is not None:  # before a fork, no thread may be mid-step (holding a lock the children would inherit)
                join(timeout=5)

    def _watch(self, callback, stopped) -> None:
        """The watcher's loop: call ``callback()`` after each change until ``stopped()``; first catch up once."""
        raise NotImplementedError(f"{type(self).__name__} cannot watch for changes")

    def close(self) -> None:  # noqa: B027 - nothing to release by default
        """Release connections and threads."""


class _NativeThread:
    """A bare OS thread: ``threading.Thread.start()`` in a gevent-patched process waits on a patched Event
    that another OS thread cannot wake, so this one starts through the original ``_thread`` instead."""

    def __init__(self, start_new_thread, target):
        self._start_new_thread, self._target, self._alive = start_new_thread, target, False

    def _run(self):
        try:
            self._target()
        finally:
            self._alive = False

    def start(self):
        self._alive = True
        self._start_new_thread(self._run, ())

    def is_alive(self) -> bool:
        return self._alive


def _patched(module: str):
    """gevent's monkey module if it has patched ``module`` (looked up, never imported; None while another
    thread is still importing it, when nothing is patched yet)."""
    monkey = sys.modules.get("gevent.monkey")
    is_patched = getattr(monkey, "is_module_patched", None)
    return monkey if is_patched is not None and is_patched(module) else None


def native_thread(target, name: str):
    """A real OS thread (daemon) even in a gevent-patched worker: a watcher blocks on its socket and a reload
    is CPU work, and neither may hold up the worker's event loop. (gevent is looked up, never imported.)"""
    monkey = _patched("threading")
    if monkey is not None:
        return _NativeThread(monkey.get_original("_thread", "start_new_thread"), target)
    return threading.Thread(target=target, name=name, daemon=True)


def report_once(reported: set, what: str, exc: BaseException) -> None:
    """One line on standard error the first time a background thread meets this failure (``what``: which thread),
    so that a server which stopped following writes says why, without a line every poll. Written with
    ``os.write``: no lock of ``logging``'s, which gevent may have swapped for one this thread cannot wait on."""
    line = f"stationmap: {what}: {type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
    if line in reported:
        return
    reported.add(line)
    try:
        os.write(2, (line + "\n").encode("utf-8", "replace"))
    except OSError:
        pass


def native_sleep(seconds: float) -> None:
    """``time.sleep`` for a watcher's OS thread: gevent's patched sleep would start a hub in that thread."""
    monkey = _patched("time")
    sleep = monkey.get_original("time", "sleep") if monkey is not None else time.sleep
    sleep(seconds)
