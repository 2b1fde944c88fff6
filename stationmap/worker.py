"""The gunicorn worker ``stationmap serve`` runs: gevent's WSGI server, taking keep-alive connections in turn.

Why gevent rather than gunicorn's default sync worker: riders' phones talk to the server
directly over slow mobile links and keep their connections open. A sync worker serves one
connection at a time and closes it after each answer (then waits for the client's FIN),
so two slow phones can stall both workers, and every request pays a new TCP handshake.
A gevent worker holds many connections per process and keeps them alive. gunicorn's
``gevent_pywsgi`` worker parses HTTP with gevent's own server, which costs about a third
less per request than gunicorn's parser (a hello-world app served 6,484 against 4,250
requests/s on our 2-core machine; ``scripts/bench_web.py`` measures the app against it).

Why a subclass: a server like this answers a connection's next request at once when its
bytes are already buffered (a busy client, or a pipelining one) without returning to the
event loop, so that one connection is served over and over while others wait (hundreds
of milliseconds at the 99th percentile under load). Waiting for the loop to be idle after
each answer lets every ready connection go first; ``tests/test_serve.py`` shows a second
client being answered while a first one's pipeline is still running. And gevent's server
has no idle timeout of its own, so a connection that sends nothing for gunicorn's
``keepalive`` seconds (``stationmap serve --idle-timeout``) is closed, or idle phones
would hold connection slots for ever.
"""

from __future__ import annotations

import warnings

import gevent
from gevent import monkey
from gunicorn.workers.ggevent import GeventPyWSGIWorker, PyWSGIHandler


class FairHandler(PyWSGIHandler):
    """One connection: its requests in turn with other connections', closed when idle."""

    # Longest wait for a client's next bytes, between requests on a kept-alive connection
    # and within one (a stalled upload); the worker sets it from gunicorn's keepalive.
    idle_timeout_s = 15.0

    def handle(self):
        self.socket.settimeout(self.idle_timeout_s)
        return super().handle()

    def handle_one_request(self):
        try:
            return super().handle_one_request()
        finally:
            gevent.idle()


class FairGeventWorker(GeventPyWSGIWorker):
    """gunicorn's gevent_pywsgi worker with ``FairHandler``."""

    wsgi_handler = FairHandler

    def init_process(self):
        self.wsgi_handler = type("FairHandler", (FairHandler,), {"idle_timeout_s": float(self.cfg.keepalive)})
        super().init_process()

    def patch(self):
        # The app is built before the fork (preload), so ssl was imported before gevent
        # could patch it, and gevent warns about that in every worker. The server makes
        # no TLS connections of its own, so the unpatched ssl is never used cooperatively.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", monkey.MonkeyPatchWarning)
            super().patch()
