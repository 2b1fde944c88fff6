"""gzip for text responses (pages, JSON, scripts, styles) when the browser accepts it.

Leaflet and the markercluster plugin are 200 KB as files and about 60 KB gzipped; a
station view of the API shrinks about six-fold. Behind a reverse proxy that compresses, this is
a no-op (the proxy sees ``Content-Encoding`` already set and passes the body through).
Static files are compressed once per (path, ETag) and kept in a small in-process cache.
"""

from __future__ import annotations

import functools
import zlib
from collections import OrderedDict
from threading import Lock

from flask import request
from werkzeug.http import parse_accept_header

# Smaller bodies fit in one TCP packet as they are: gzip would not pay for its header and time.
MIN_BYTES = 1400
LEVEL = 6
COMPRESSIBLE = ("text/", "application/json", "application/geo+json", "application/javascript",
                "image/svg+xml", "text/csv")
# Pages that carry a CSRF token next to text a user typed are not compressed (BREACH).
UNCOMPRESSED_BLUEPRINTS = ("auth", "portal")
_STATIC_CACHE: OrderedDict = OrderedDict()
_STATIC_CACHE_MAX = 64
_lock = Lock()


def gzip_bytes(data: bytes, level: int = LEVEL) -> bytes:
    """``data`` as a gzip member (mtime 0, so equal bodies compress to equal bytes).

    The window and hash table are sized to the data: zlib's defaults allocate and clear
    about 400 KB per call, which costs ~80 µs, more than compressing a 4 KB API answer.
    """
    window_bits = min(15, max(9, (len(data) - 1).bit_length()))
    compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + window_bits, 8 if window_bits == 15 else 4)
    return compressor.compress(data) + compressor.flush()


@functools.lru_cache(maxsize=256)
def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` header value admits gzip (``gzip;q=0`` does not).

    Cached: clients send a handful of distinct values, and parsing one costs more than the lookup.
    """
    return bool(parse_accept_header(accept_encoding)["gzip"])


def gzip_response(response):
    """An ``after_request`` hook: compress a finished 200 response in place if worthwhile."""
    if (
        response.status_code != 200
        or response.is_streamed and not response.direct_passthrough
        or "Content-Encoding" in response.headers
        or getattr(response, "encoding_chosen", False)
        or not (response.mimetype or "").startswith(COMPRESSIBLE)
        or not accepts_gzip(request.headers.get("Accept-Encoding", ""))
        or request.method == "HEAD"
        or request.blueprint in UNCOMPRESSED_BLUEPRINTS
    ):
        return response
    length = response.content_length
    if length is not None and length < MIN_BYTES:
        return response

    etag, _ = response.get_etag()
    static_key = (request.path, etag) if response.direct_passthrough and etag else None
    body = None
    if static_key:
        with _lock:
            body = _STATIC_CACHE.get(static_key)
    if body is None:
        response.direct_passthrough = False
        data = response.get_data()
        if len(data) < MIN_BYTES:
            return response
        body = gzip_bytes(data)
        if static_key:
            with _lock:
                _STATIC_CACHE[static_key] = body
                while len(_STATIC_CACHE) > _STATIC_CACHE_MAX:
                    _STATIC_CACHE.popitem(last=False)
    else:
        response.direct_passthrough = False
        if hasattr(response.response, "close"):
            response.response.close()  # the file wrapper; the cached body replaces it
    response.set_data(body)
    response.headers["Content-Encoding"] = "gzip"
    response.headers["Content-Length"] = str(len(body))
    response.vary.add("Accept-Encoding")
    if etag:
        # Weak, as nginx does: the same resource, another encoding; If-None-Match still matches.
        response.set_etag(etag, weak=True)
    return response
