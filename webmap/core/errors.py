"""One JSON error envelope for the API, ``{"ok": false, "errors": [...], "status": N}``, and the
mapping from domain exceptions to HTTP statuses, in one place."""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from geo.errors import ConflictError, NotFoundError, PermissionDeniedError, RegistryUnavailableError, ValidationError
from geo.messages import localise, message_of

log = logging.getLogger(__name__)

STATUS_FOR = (
    (ValidationError, 400),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (RegistryUnavailableError, 503),
)


def error_response(status: int, errors: list):
    """The envelope. ``errors`` are strings or ``{"where", "message", "hint"}`` dicts."""
    body = {"ok": False, "errors": [e if isinstance(e, dict) else {"message": str(e)} for e in errors], "status": status}
    response = jsonify(body)
    response.status_code = status
    return response


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def message_lang() -> str:
    """The language of error messages: a page's own language; for JSON English, unless the
    endpoint negotiated another (``g.message_lang``, set by the write API)."""
    if wants_json():
        return g.get("message_lang", "en")
    from webmap.core.i18n import get_lang

    return get_lang()


def init_app(app: Flask) -> None:
    for exc_type, status in STATUS_FOR:
        app.register_error_handler(exc_type, _domain_handler(status))
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)


def _domain_handler(status: int):
    def handle(exc):
        lang = message_lang()
        if isinstance(exc, ValidationError):
            errors = [p.as_dict(lang) for p in exc.problems]
        else:
            errors = [localise(message_of(exc), lang)]
        if wants_json():
            return error_response(status, errors)
        return render_template("error.html", status=status, errors=errors), status

    return handle


def _http_error(exc: HTTPException):
    if not wants_json():
        page = render_template("error.html", status=exc.code, errors=[{"message": exc.description or exc.name}])
        return page, exc.code, [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    response = error_response(exc.code or 500, [exc.description or exc.name])
    for name, value in exc.get_headers():
        if name.lower() != "content-type":  # keep Allow (405), WWW-Authenticate (401), Retry-After (429)
            response.headers[name] = value
    return response


def _unexpected(exc: Exception):
    log.exception("unhandled error on %s", request.path)
    if wants_json():
        return error_response(500, ["internal error; it has been logged"])
    return render_template("error.html", status=500, errors=[{"message": "internal error"}]), 500
