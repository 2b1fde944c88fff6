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

Slow and greedy clients. A per-read timeout does not stop a client that trickles a byte
every few seconds (2,100 such connections took every rider's answer away), so:

* the request line and headers must arrive within ``header_timeout_s`` of the request's
  first wait (408 otherwise), and the body within ``body_timeout_s`` of its first read
  (the application then sees a broken upload and answers 400);
* one address may hold at most ``max_connections_per_address`` connections per worker;
  more are answered 429 with ``Retry-After`` at once and closed. Behind a reverse proxy
  every client shares the proxy's address: set it to 0 there and let the proxy limit
  (``deploy/nginx.conf``: ``limit_conn``);
* a request line over gevent's 8 kB limit (a huge query string) gets 414 with the JSON
  error envelope under ``/api/`` and a small page elsewhere, instead of an empty body.
"""

from __future__ import annotations

import json
import socket
import time
import warnings
from collections import defaultdict

import gevent
from gevent import monkey
from gunicorn.workers.ggevent import GeventPyWSGIWorker, PyWSGIHandler


class SlowClientError(ValueError):
    """The client did not send its request line and headers, or its body, in time."""


def _raw_response(status: str, content_type: str, body: bytes, extra: str = "") -> bytes:
    return (f"HTTP/1.1 {status}\r\nConnection: close\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n").encode("latin-1") + body


def error_response(status: int, reason: str, path: str, message_en: str, message_zh: str, extra: str = "") -> bytes:
    """A complete HTTP answer made before the app is reached: the envelope under /api/, else a page."""
    if path.startswith("/api/"):
        body = json.dumps({"ok": False, "errors": [{"message": message_en}], "status": status}).encode()
        return _raw_response(f"{status} {reason}", "application/json", body, extra)
    page = (f'<!doctype html><html lang="zh-CN"><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width,initial-scale=1"><title>{status}</title><h1>{status}</h1>'
            f"<p>{message_zh}</p><p lang=\"en\">{message_en}</p><p><a href=\"/\">驿站图 / Home</a></p></html>")
    return _raw_response(f"{status} {reason}", "text/html; charset=utf-8", page.encode(), extra)


class DeadlineInput:
    """``wsgi.input`` whose reads must all be done by a deadline set at the first read.

    A per-recv socket timeout is not enough: one ``read(n)`` loops over many receives, and a
    client sending a byte a second satisfies each of them. Each read runs under a gevent
    timer for the time left; when it fires the application sees a broken body (Werkzeug
    answers 400) and the connection is closed.
    """

    def __init__(self, wrapped, seconds: float):
        self._wrapped = wrapped
        self._seconds = seconds
        self._deadline = None

    def _within_deadline(self, read, *args):
        now = time.monotonic()
        if self._deadline is None:
            self._deadline = now + self._seconds
        left = self._deadline - now
        error = SlowClientError(f"request body not received within {self._seconds:g} s")
        if left <= 0:
            raise error
        with gevent.Timeout(left, error):
            return read(*args)

    def read(self, *args):
        return self._within_deadline(self._wrapped.read, *args)

    def readline(self, *args):
        return self._within_deadline(self._wrapped.readline, *args)

    def readlines(self, *args):
        return self._within_deadline(self._wrapped.readlines, *args)

    def __iter__(self):
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    def __getattr__(self, name):
        if name == "readinto":  # make Werkzeug use read(), which keeps the deadline
            raise AttributeError(name)
        return getattr(self._wrapped, name)


class FairHandler(PyWSGIHandler):
    """One connection: its requests in turn with other connections', closed when idle or too slow."""

    # Longest wait for a client's next bytes, between requests on a kept-alive connection
    # and within one (a stalled upload); the worker sets it from gunicorn's keepalive.
    idle_timeout_s = 15.0
    # Whole request line + headers, from the start of the wait for them.
    header_timeout_s = 20.0
    # Whole body, from its first read: 10 MB at 200 kB/s.
    body_timeout_s = 60.0
    # Connections one address may hold in this worker (0: no cap, e.g. behind a proxy).
    max_connections_per_address = 64
    _connections: dict = defaultdict(int)

    def handle(self):
        address = self.client_address[0] if isinstance(self.client_address, tuple) else str(self.client_address)
        cap = self.max_connections_per_address
        if cap and self._connections[address] >= cap:
            try:
                self.socket.sendall(error_response(429, "Too Many Requests", "/api/", (
                    f"too many connections from your address (at most {cap}); retry shortly"),
                    f"来自您地址的连接过多（最多 {cap} 个），请稍后再试", "Retry-After: 10\r\n"))
                self.socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.socket.close()
            self.__dict__.pop("socket", None)
            return None
        self._connections[address] += 1
        try:
            self.socket.settimeout(self.idle_timeout_s)
            return super().handle()
        finally:
            self._connections[address] -= 1
            if not self._connections[address]:
                del self._connections[address]

    def handle_one_request(self):
        timer = gevent.Timeout.start_new(self.header_timeout_s, SlowClientError(
            f"request line and headers not received within {self.header_timeout_s:g} s"))
        self._header_timer = timer
        try:
            result = super().handle_one_request()
        except SlowClientError:
            return ("408", error_response(408, "Request Timeout", "/", "the request took too long to arrive",
                                          "请求发送超时"))
        finally:
            timer.close()
            gevent.idle()
        if isinstance(result, tuple) and str(result[0]).startswith("414"):
            path = self.requestline.split(" ", 2)[1] if self.requestline.count(" ") >= 1 else "/"
            return ("414", error_response(414, "URI Too Long", path,
                                          "the address (query string) is too long: at most 8 kB",
                                          "网址（查询参数）过长：最多 8 kB"))
        return result

    def read_request(self, raw_requestline):
        result = super().read_request(raw_requestline)
        self._header_timer.close()  # headers are in: the body and the app have their own limits
        return result

    def get_environ(self):
        environ = super().get_environ()
        environ["wsgi.input"] = DeadlineInput(environ["wsgi.input"], self.body_timeout_s)
        return environ

    def _handle_client_error(self, ex):
        if isinstance(ex, SlowClientError):
            return ("408", error_response(408, "Request Timeout", "/", str(ex), "请求发送超时"))
        return super()._handle_client_error(ex)


class FairGeventWorker(GeventPyWSGIWorker):
    """gunicorn's gevent_pywsgi worker with ``FairHandler``."""

    wsgi_handler = FairHandler

    def init_process(self):
        self.wsgi_handler = type("FairHandler", (FairHandler,), {"idle_timeout_s": float(self.cfg.keepalive),
                                                                 "_connections": defaultdict(int)})
        super().init_process()

    def patch(self):
        # The app is built before the fork (preload), so ssl was imported before gevent
        # could patch it, and gevent warns about that in every worker. The server makes
        # no TLS connections of its own, so the unpatched ssl is never used cooperatively.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", monkey.MonkeyPatchWarning)
            super().patch()
