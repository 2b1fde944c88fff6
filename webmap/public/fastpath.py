"""A WSGI fast path for ``GET /api/nearest``, the request a rider's phone sends most.

Flask's per-request machinery (request and app contexts, URL matching, the session, CSRF
and the before/after hooks) costs more than answering the query itself. This middleware
answers a well-formed nearest query directly, through the same parser (``parse_args``),
the same domain call and the same body builder (``api.nearest_answer``) as the Flask view,
and sends the headers the app would add. Anything else — another path or method, a bad
parameter, a domain error — goes to Flask unchanged, which answers with its usual error
envelope. ``tests/test_fastpath.py`` checks that both routes send identical responses.
"""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import parse_qsl

from flask import Flask
from werkzeug.datastructures import MultiDict

from geo.errors import ValidationError
from webmap.core import params
from webmap.core.reports_state import get_reports, max_age_days
from webmap.core.responses import encode_for_client
from webmap.core.state import EXTENSION as STORE_EXTENSION
from webmap.public.api import NEAREST_PARAMS, answer_lang, nearest_answer

# What the app's after-request hooks add to an API answer (see webmap.core.page.security_headers).
APP_HEADERS = (("X-Content-Type-Options", "nosniff"),)
STATUS_OK = f"{HTTPStatus.OK.value} {HTTPStatus.OK.phrase}"


class NearestFastPath:
    """Wraps ``app.wsgi_app``; install with ``app.wsgi_app = NearestFastPath(app)``."""

    def __init__(self, app: Flask, path: str = "/api/nearest"):
        self.app = app
        self.flask_wsgi_app = app.wsgi_app
        self.path = path

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != self.path or environ.get("REQUEST_METHOD") != "GET":
            return self.flask_wsgi_app(environ, start_response)
        try:
            answer = self._answer(environ)
        except Exception:  # noqa: BLE001 - Flask answers it again, with its error handling and logging
            answer = None
        if answer is None:
            return self.flask_wsgi_app(environ, start_response)
        data, headers, content_type = answer
        start_response(STATUS_OK, [*headers.items(), ("Content-Type", content_type),
                                   ("Content-Length", str(len(data))), *APP_HEADERS])
        return [data]

    def _answer(self, environ):
        # What werkzeug's ``request.args`` does, without building a request object.
        query = environ.get("QUERY_STRING", "").encode("latin-1").decode()
        args = MultiDict(parse_qsl(query, keep_blank_values=True, errors="werkzeug.url_quote"))
        try:
            args = params.parse_args(args, NEAREST_PARAMS)
        except ValidationError:
            return None
        snapshot = self.app.extensions[STORE_EXTENSION].snapshot()
        body, cache_control = nearest_answer(snapshot, args, answer_lang(args, self.app.config),
                                             get_reports(self.app).reported_closed(), max_age_days(self.app))
        return encode_for_client(body, cache_control, environ.get("HTTP_ACCEPT_ENCODING", ""))
