"""One JSON error envelope for the API, ``{"ok": false, "errors": [...], "status": N}``, the
mapping from domain exceptions to HTTP statuses, and every app-wide error handler (413, 415,
CSRF, 429 and the rest), in one place. Messages are rendered in ``message_lang()``."""

from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, render_template, request
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, UnsupportedMediaType

from geo.errors import ConflictError, NotFoundError, PermissionDeniedError, RegistryUnavailableError, ValidationError
from geo.messages import Label, Text, has_message, localise, message_of
from webmap.core.i18n import message_lang, translate
from webmap.core.page import safe_next

log = logging.getLogger(__name__)

STATUS_FOR = (
    (ValidationError, 400),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (RegistryUnavailableError, 503),
)


def error_response(status: int, errors: list):
    """The envelope. ``errors`` are strings or ``{"where", "message", "hint"}`` dicts, already in ``message_lang()``
    (which may come from Accept-Language: hence ``Vary``)."""
    body = {"ok": False, "errors": [e if isinstance(e, dict) else {"message": str(e)} for e in errors], "status": status}
    response = jsonify(body)
    response.status_code = status
    response.vary.add("Accept-Language")
    return response


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def http_error(exc_type, text: Text):
    """An HTTP exception whose message is ``text`` (rendered in the reader's language by the handler)."""
    exc = exc_type(str(text))
    exc.text = text
    return exc


def init_app(app: Flask) -> None:
    for exc_type, status in STATUS_FOR:
        app.register_error_handler(exc_type, _domain_handler(status))
    app.register_error_handler(RequestEntityTooLarge, _too_large)
    app.register_error_handler(UnsupportedMediaType, _unsupported)
    app.register_error_handler(CSRFError, _csrf_failed)
    app.register_error_handler(RateLimitExceeded, _throttled)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)


def _description(exc: HTTPException, lang: str) -> str:
    """An HTTP error's message in ``lang``: our own ``Text`` if it carries one, else the catalogue's
    sentence for its status, else Werkzeug's description."""
    text = getattr(exc, "text", None)
    if text is not None:
        return localise(text, lang)
    if exc.description == type(exc).description and has_message(f"http.{exc.code}"):
        return Text(f"http.{exc.code}").render(lang)
    return exc.description or exc.name


def _too_large(exc: RequestEntityTooLarge):
    """413 with the limit stated, as an envelope for the API and a page elsewhere."""
    lang = message_lang()
    if getattr(exc, "text", None) is not None:
        message = localise(exc.text, lang)
    else:
        limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
        message = translate("portal.too_large", lang, mb=f"{limit / 1024 / 1024:g}")
    if wants_json():
        return error_response(413, [{"where": localise(Label(zh=Text("place.body"), en="body"), lang), "message": message,
                                     "hint": Text("api.split_body").render(lang)}])
    return render_template("error.html", status=413, errors=[{"message": message}]), 413


def _unsupported(exc: UnsupportedMediaType):
    return error_response(415, [{"where": "Content-Type", "message": _description(exc, message_lang())}])


def _csrf_failed(exc: CSRFError):
    lang = message_lang()
    if wants_json():
        message = Text("api.csrf_failed", detail=Label(zh=Text("api.csrf_reason"), en=exc.description)).render(lang)
        return error_response(400, [{"where": "csrf_token", "message": message, "hint": Text("api.csrf_hint").render(lang)}])
    return render_template("error.html", status=400, errors=[{"message": translate("portal.csrf_failed", lang)}]), 400


def _throttled(exc: RateLimitExceeded):
    lang = message_lang()
    if wants_json():
        response = error_response(429, [translate("portal.throttled", lang)])
    else:
        response = current_app.make_response((render_template("auth/login.html", error=translate("portal.throttled", lang),
                                                               username=request.form.get("username", ""),
                                                               next_url=safe_next()), 429))
    response.headers["Retry-After"] = "60"
    return response


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
    message = _description(exc, message_lang())
    if not wants_json():
        page = render_template("error.html", status=exc.code, errors=[{"message": message}])
        return page, exc.code, [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    response = error_response(exc.code or 500, [message])
    for name, value in exc.get_headers():
        if name.lower() != "content-type":  # keep Allow (405), WWW-Authenticate (401), Retry-After (429)
            response.headers[name] = value
    return response


def _unexpected(exc: Exception):
    log.exception("unhandled error on %s", request.path)
    if wants_json():
        return error_response(500, [Text("http.500").render(message_lang())])
    return render_template("error.html", status=500, errors=[{"message": Text("http.500").render(message_lang())}]), 500
