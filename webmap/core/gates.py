"""Bounded concurrency for expensive work (upload parsing, planning, password hashing), off the event loop.

Rider traffic first: the cheap read path (``/api/nearest``, map data, pages) must keep its
latency whatever the expensive paths are doing. Each kind of expensive work passes a
``WorkGate``: at most ``slots`` jobs run at once in this process and at most ``queue`` wait
for a slot, each no longer than ``wait_s``; anything beyond is refused at once with
``BusyError`` (HTTP 503 and ``Retry-After``; the JSON envelope on the API, the error page on
the site), never queued without bound.

Under the gevent worker (``stationmap serve``) a job runs in the hub's pool of native
threads, so the event loop goes on answering riders while a plan is solved or a workbook
parsed: numpy, shapely, pyproj, openpyxl's XML parser and argon2 spend most of their time
outside the GIL, and where they hold it Python hands it back every few milliseconds. Without
gevent (tests, the development server) the job runs in the calling thread.

Work that is CPU-bound in Python (reading an uploaded file) goes further with
``run_isolated``: it runs in a ``webmap.core.workpool.WorkPool`` of ``slots`` separate
processes at ``nice 19``, each job bounded in memory (``RLIMIT_AS``) and wall-clock time, so
neither the GIL nor a memory bomb reaches the worker that serves riders; a job over a limit is
a ``JobLimitExceeded`` (400, the limit named), never a 500.

Configuration (``webmap.core.config``, per process): ``GATE_<KIND>_SLOTS``,
``GATE_<KIND>_QUEUE``, ``GATE_<KIND>_WAIT_S`` for each of ``GATE_KINDS``; for a kind with a
pool, ``GATE_<KIND>_MEMORY_MB``, ``GATE_<KIND>_TIME_S`` and ``GATE_<KIND>_PRELOAD``, and
``WORK_POOL`` (False: isolated jobs run in threads like the others).
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager

from flask import Flask, current_app, render_template

from geo.errors import Problem, RegistryUnavailableError, ValidationError
from geo.messages import Text, localise, message_of
from webmap.core.workpool import JobLimitError, PoolFullError, shared_pool

EXTENSION = "stationmap.gates"

GATE_KINDS = ("upload", "plan", "password")
RETRY_AFTER_S = 10


class BusyError(RegistryUnavailableError):
    """Every slot for this kind of work is taken and its queue is full (or the wait ran out)."""

    def __init__(self, kind: str, retry_after_s: int = RETRY_AFTER_S):
        self.kind = kind
        self.retry_after_s = retry_after_s
        super().__init__(Text("busy.work", kind=Text(f"busy.{kind}")))


class ThrottledError(RegistryUnavailableError):
    """This client has used up its allowance of expensive work for now (HTTP 429)."""

    def __init__(self, retry_after_s: int, message: Text):
        self.retry_after_s = max(1, int(retry_after_s))
        self.kind = "throttle"
        super().__init__(message)


class WorkGate:
    """At most ``slots`` concurrent jobs, at most ``queue`` waiting ones, each waiting ≤ ``wait_s``.

    ``pool`` (processes' memory MiB, seconds, modules to preload) lets ``run_isolated`` send a job
    to a ``WorkPool`` of ``slots`` separate niced processes instead of a thread.
    """

    def __init__(self, kind: str, slots: int, queue: int, wait_s: float, pool: dict | None = None):
        self.kind = kind
        self.slots = max(1, int(slots))
        self.queue = max(0, int(queue))
        self.wait_s = float(wait_s)
        self.pool_options = pool
        self.registry: tuple[str, str] | None = None  # (store URL, districts path) a pool child can open
        self.running = 0
        self.waiting = 0
        self.refused = 0
        self._pid = None
        self._primitives()

    def _primitives(self):
        """This process's semaphore, lock and pool. Made after the fork, in the worker: there
        gevent has patched ``threading``, so waiting for a slot yields to the event loop (a
        semaphore made before the fork, in the master, would block the whole worker)."""
        if self._pid != os.getpid():
            self._free = threading.Semaphore(self.slots)
            self._lock = threading.Lock()
            self._pool = None
            if self.pool_options:
                self._pool = shared_pool(self.slots, **self.pool_options)
            self._pid = os.getpid()
        return self._free, self._lock

    @contextmanager
    def _slot(self):
        free, lock = self._primitives()
        if not free.acquire(blocking=False):
            with lock:
                if self.waiting >= self.queue:
                    self.refused += 1
                    raise BusyError(self.kind)
                self.waiting += 1
            try:
                got = free.acquire(timeout=self.wait_s)
            finally:
                with lock:
                    self.waiting -= 1
            if not got:
                with lock:
                    self.refused += 1
                raise BusyError(self.kind)
        with lock:
            self.running += 1
        try:
            yield
        finally:
            with lock:
                self.running -= 1
            free.release()

    def run(self, job, *args, **kwargs):
        """``job(*args, **kwargs)`` once a slot is free, in a native thread under gevent; ``BusyError``
        when none frees up in time."""
        with self._slot():
            return off_the_event_loop(job, *args, **kwargs)

    def run_on_registry(self, fn, snapshot, *args, **kwargs):
        """``fn(snapshot, *args, **kwargs)``: with a pool and a registry it can reopen
        (``registry``: store URL and districts path), in the pool, where the child holds its own
        copy of the registry (``webmap.core.registry_job``); else like ``run``."""
        if self.pool_options is None or self.registry is None:
            return self.run(fn, snapshot, *args, **kwargs)
        from webmap.core.registry_job import on_registry

        return self.run_isolated(on_registry, *self.registry, fn, args, kwargs)

    def run_isolated(self, job, *args, **kwargs):
        """``job(*args, **kwargs)`` once a slot is free, in this gate's pool of separate processes
        (niced, bounded in memory and time; ``job`` and its arguments must pickle). A job over
        its limits raises ``JobLimitExceeded`` naming the limit. Without a pool, like ``run``."""
        with self._slot():
            if self._pool is None:
                return off_the_event_loop(job, *args, **kwargs)
            try:
                return self._pool.run(job, *args, **kwargs)
            except PoolFullError:
                with self._lock:
                    self.refused += 1
                raise BusyError(self.kind) from None
            except JobLimitError as exc:
                raise JobLimitExceeded(self.kind, exc) from None


class JobLimitExceeded(ValidationError):
    """A job went over its memory or time limit in its separate process (HTTP 400, the limit named)."""

    def __init__(self, kind: str, exc: JobLimitError):
        self.kind, self.limit, self.value = kind, exc.limit, exc.value
        code = "busy.job_time" if exc.limit == "time" else "busy.job_memory"
        super().__init__(Problem("file" if kind == "upload" else kind,
                                 Text(code, kind=Text(f"busy.{kind}"), limit=f"{exc.value:g}"),
                                 Text("busy.job_limit_hint") if kind == "upload" else ""))


def off_the_event_loop(job, *args, **kwargs):
    """Run ``job`` in a native thread when gevent has patched this process, else here."""
    try:
        from gevent import get_hub, monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return job(*args, **kwargs)
    if not monkey.is_module_patched("threading"):
        return job(*args, **kwargs)
    ok, value = get_hub().threadpool.apply(_captured, (job, args, kwargs))
    if ok:
        return value
    raise value


def _captured(job, args, kwargs):
    """``(True, result)`` or ``(False, exception)``: an exception raised in gevent's threadpool would
    also be printed there with its traceback, though the caller handles it (a bad upload)."""
    try:
        return True, job(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - re-raised by off_the_event_loop in the caller
        return False, exc


def gate(kind: str) -> WorkGate:
    """This app's gate for ``kind`` (one of ``GATE_KINDS``)."""
    return current_app.extensions[EXTENSION][kind]


def init_app(app: Flask) -> None:
    gates = {}
    for kind in GATE_KINDS:
        prefix = f"GATE_{kind.upper()}_"
        pool = None
        if app.config["WORK_POOL"] and app.config.get(prefix + "MEMORY_MB"):
            pool = {"memory_mb": app.config[prefix + "MEMORY_MB"], "time_s": app.config[prefix + "TIME_S"],
                    "preload": tuple(app.config.get(prefix + "PRELOAD") or ())}
        gates[kind] = WorkGate(kind, app.config[prefix + "SLOTS"], app.config[prefix + "QUEUE"], app.config[prefix + "WAIT_S"],
                               pool)
        if app.config.get("STORE") is None:  # a store handed in as an object cannot be reopened elsewhere
            gates[kind].registry = (str(app.config.get("STORE_URL") or app.config["REGISTRY_PATH"]),
                                    str(app.config["DISTRICTS_PATH"]))
    app.extensions[EXTENSION] = gates
    app.register_error_handler(BusyError, busy_response)
    app.register_error_handler(ThrottledError, busy_response)


def hold_back() -> None:
    """Wait ``REQUEST_BUDGET_DELAY_S`` before a refusal (429/503 with ``Retry-After``): a client that
    ignores ``Retry-After`` and asks again at once gets at most one answer a second per
    connection, instead of a turn of the worker per refusal. Under gevent a sleeping greenlet."""
    delay = float(current_app.config.get("REQUEST_BUDGET_DELAY_S") or 0)
    if delay > 0:
        time.sleep(delay)  # gevent's sleep in a worker (monkey-patched): cooperative


def busy_response(exc: BusyError | ThrottledError, *, held_back: bool = False):
    """503 (busy) or 429 (throttled) with ``Retry-After``, after ``hold_back()`` (unless the caller
    held back already): the envelope for the API and JSON clients, the error page for the site."""
    from webmap.core.errors import error_response, wants_json
    from webmap.core.i18n import message_lang

    if not held_back:
        hold_back()
    status = 429 if isinstance(exc, ThrottledError) else 503
    message = localise(message_of(exc), message_lang())
    if wants_json():
        response = error_response(status, [{"where": exc.kind, "message": message}])
    else:
        response = current_app.make_response((render_template("error.html", status=status,
                                                               errors=[{"message": message}]), status))
    response.headers["Retry-After"] = str(exc.retry_after_s)
    return response
