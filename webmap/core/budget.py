"""A request budget per client address, checked before Flask is reached.

Riders are many people, each phone asking a few times a minute (the finder refreshes every
few seconds; a page load is a few dozen requests). One address sending hundreds of requests a
second is a program, and every request it sends — even a cheap nearest query, even a refused
token — takes a turn of the worker from the riders. So each address may make
``REQUEST_BUDGET_PER_ADDRESS`` requests per worker process (``limits`` syntax; default 100 in
10 seconds, i.e. 10 a second sustained, 20 over two workers: far above what a phone needs, room
for dozens of phones behind one carrier NAT, and a short window keeps a flooding address's
first burst small).
Beyond that it is answered 429 with ``Retry-After``, the JSON envelope under ``/api/`` and an
error page elsewhere, in the reader's language.

The check is a WSGI middleware outside Flask's routing: counting costs ~20 µs (``limits``'
sliding window counter over an in-memory store), nothing is parsed. The address is
``REMOTE_ADDR`` as the app sees it, i.e. after werkzeug's ``ProxyFix`` when ``PROXY_COUNT``
says a proxy is in front (``webmap/__init__.py`` puts ``ProxyFix`` outside this middleware).

A refused address waits ``REQUEST_BUDGET_DELAY_S`` (1 s) for its 429 (as every 429/503 with
``Retry-After`` does, ``webmap.core.gates.hold_back``). A program that ignores
``Retry-After`` and asks again at once would otherwise cost a turn per refusal; held back, a
connection can ask at most once a second, and an address holds at most
``--max-connections-per-address`` connections per worker (``stationmap.worker``). Under gevent
the wait is a sleeping greenlet: it costs the riders nothing.

Other throttles hand their verdicts to this one (``block_address``): an address over its
allowance of bad bearer tokens (``BAD_BEARER_LIMIT_PER_IP``) is refused here, in
microseconds and without touching the shared counter store, until that window passes.

The counts are per process (each gunicorn worker counts what it serves), kept in memory and
made afresh in each worker after the fork. Behind nginx, ``deploy/nginx.conf``'s ``limit_req``
is the first line and this one the second.
"""

from __future__ import annotations

import math
import os
import threading
import time

from flask import Flask
from limits import parse as parse_limit
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from geo.messages import Text
from webmap.core.gates import ThrottledError, busy_response

SCOPE = "request"
EXTENSION = "stationmap.budget"
MAX_BLOCKED = 100_000  # addresses remembered as blocked per process (each ~200 bytes)


class AddressBudget:
    """WSGI middleware: ``REQUEST_BUDGET_PER_ADDRESS`` requests per client address, then 429."""

    def __init__(self, app: Flask, wsgi_app, limit: str, delay_s: float):
        self.app = app
        self.wsgi_app = wsgi_app
        self.limit = parse_limit(limit)
        self.delay_s = max(0.0, float(delay_s))
        self._pid = None
        self._limiter = None
        self._blocked: dict[str, tuple[float, Text]] = {}
        self._lock = threading.Lock()

    def limiter(self) -> SlidingWindowCounterRateLimiter:
        """This process's counter (made after the fork: a worker never shares the master's)."""
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage())
                    self._blocked = {}
                    self._pid = os.getpid()
        return self._limiter

    def block(self, address: str, until: float, message: Text) -> None:
        """Refuse everything from ``address`` here until ``until`` (epoch seconds) with ``message``:
        what another throttle decided (too many bad tokens) costs nothing more to enforce."""
        self.limiter()
        if len(self._blocked) >= MAX_BLOCKED:
            now = time.time()
            self._blocked = {a: b for a, b in self._blocked.items() if b[0] > now}
        if len(self._blocked) < MAX_BLOCKED:
            self._blocked[address] = (until, message)

    def __call__(self, environ, start_response):
        address = environ.get("REMOTE_ADDR") or "-"
        limiter = self.limiter()
        blocked = self._blocked.get(address)
        if blocked is not None:
            if blocked[0] > time.time():
                return self.refuse(environ, start_response, blocked[0], blocked[1])
            self._blocked.pop(address, None)
        if limiter.hit(self.limit, SCOPE, address):
            return self.wsgi_app(environ, start_response)
        reset_at, _ = limiter.get_window_stats(self.limit, SCOPE, address)
        return self.refuse(environ, start_response, reset_at, Text("busy.request_budget"))

    def refuse(self, environ, start_response, until: float, message: Text):
        if self.delay_s:
            time.sleep(self.delay_s)  # cooperative under gevent (monkey-patched)
        wait = max(1, math.ceil(until - time.time()))
        with self.app.request_context(environ):
            response = busy_response(ThrottledError(wait, message), held_back=True)
            response = self.app.process_response(response)
        return response(environ, start_response)


def block_address(app: Flask, address: str, until: float, message: Text) -> None:
    """``AddressBudget.block`` for this app, if it has a budget."""
    budget = app.extensions.get(EXTENSION)
    if budget is not None:
        budget.block(address, until, message)


def init_app(app: Flask) -> None:
    """Put the budget in front of ``app.wsgi_app`` (call after every other middleware but ``ProxyFix``)."""
    limit = app.config.get("REQUEST_BUDGET_PER_ADDRESS")
    if limit:
        app.wsgi_app = app.extensions[EXTENSION] = AddressBudget(app, app.wsgi_app, limit,
                                                                 app.config["REQUEST_BUDGET_DELAY_S"])
