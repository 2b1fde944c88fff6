"""The gunicorn worker ``stationmap serve`` runs: gevent, taking keep-alive connections in turn.

Why gevent rather than gunicorn's default sync worker: riders' phones talk to the server
directly over slow mobile links and keep their connections open. A sync worker serves one
connection at a time and closes it after each answer (then waits for the client's FIN),
so two slow phones can stall both workers, and every request pays a new TCP handshake.
A gevent worker holds many connections per process and keeps them alive.

Why a subclass: gunicorn's gevent worker answers a connection's next request at once when
its bytes are already buffered (a busy client, or a pipelining one) without returning to
the event loop, so that one connection is served over and over while others wait
(hundreds of milliseconds at the 99th percentile under load). Waiting for the loop to be
idle after each answer lets every ready connection go first; ``tests/test_serve.py``
shows a second client being answered while a first one's pipeline is still running.
"""

from __future__ import annotations

import warnings

import gevent
from gevent import monkey
from gunicorn.workers.ggevent import GeventWorker


class FairGeventWorker(GeventWorker):
    """gunicorn's gevent worker, yielding to the other connections after every answer."""

    def patch(self):
        # The app is built before the fork (preload), so ssl was imported before gevent
        # could patch it, and gevent warns about that in every worker. The server makes
        # no TLS connections of its own, so the unpatched ssl is never used cooperatively.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", monkey.MonkeyPatchWarning)
            super().patch()

    def handle_request(self, listener_name, req, sock, addr):
        try:
            return super().handle_request(listener_name, req, sock, addr)
        finally:
            gevent.idle()
