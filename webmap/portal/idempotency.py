"""Idempotent writes: a retried upload or edit with the same ``Idempotency-Key`` gets the first answer instead of writing twice.

A client that lost the answer to a write (a dropped mobile link, a worker killed mid-request)
cannot know whether it happened; retrying blindly duplicated uploads. Writes accept an
``Idempotency-Key`` header (the portal's forms send a hidden ``idempotency_key`` field made
fresh for each form they render). Per account and key this module keeps, where the store keeps
its state (a SQLite file beside the sign-in counters, or the store's database: every server sees it):

* ``pending`` while the first request runs: a concurrent retry gets 409 (try again shortly);
* then the first answer (status, body, ``Content-Type`` and ``Location``), replayed for every
  retry for ``IDEMPOTENCY_TTL_S`` with the header ``Idempotent-Replayed: true``;
* a retry whose request differs (another path or body) gets 422: a key names one request.

A ``pending`` entry older than ``IDEMPOTENCY_STALE_S`` belongs to a request that died without
answering; whether its write happened is unknown, so a retry with that key is refused (409,
"check the audit log, then send again with a new key") rather than risk a second write.
Answers of 5xx are not kept (the write did not happen; a retry may try again).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from functools import wraps
from pathlib import Path

from flask import Flask, Response, current_app, request

from geo.messages import Text
from geo.registry.state import IdempotencyRecords
from webmap.core.errors import error_response, wants_json
from webmap.core.i18n import message_lang

EXTENSION = "stationmap.idempotency"
HEADER = "Idempotency-Key"
FORM_FIELD = "idempotency_key"
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{8,128}$")
KEPT_HEADERS = ("Content-Type", "Location")


class IdempotencyStore:
    """The rules (time to live, stale pending requests, 5xx answers forgotten) over records kept by the
    store's state (``geo.registry.state.IdempotencyRecords``: SQLite beside the accounts, or the database)."""

    def __init__(self, path: str | Path | None, ttl_s: float, stale_s: float, records: IdempotencyRecords | None = None):
        self.ttl_s, self.stale_s = ttl_s, stale_s
        if records is None:
            from geo.registry.state_file import FileState

            records = FileState().idempotency(Path(path))
        self.records = records

    def begin(self, scope: str, key: str, fingerprint: str):
        """``("new", None)`` if this request may run (now marked pending), else
        ``("replay", row)``, ``("pending", None)``, ``("stale", None)`` or ``("mismatch", None)``."""
        now = time.time()
        self.records.expire(now - self.ttl_s)
        if self.records.insert_pending(scope, key, fingerprint, now):
            return "new", None
        row = self.records.get(scope, key)
        if row is None:  # expired and deleted between the two statements: try once more
            return self.begin(scope, key, fingerprint)
        if row[0] != fingerprint:
            return "mismatch", None
        if row[1] == "done":
            return "replay", row
        return ("stale" if now - row[5] > self.stale_s else "pending"), None

    def finish(self, scope: str, key: str, response: Response) -> None:
        """Keep the first answer (or forget the key after a server error: nothing was written)."""
        if response.status_code >= 500:
            self.records.delete(scope, key)
            return
        headers = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
        self.records.finish(scope, key, response.status_code, json.dumps(headers), response.get_data())

    def abandon(self, scope: str, key: str) -> None:
        self.records.delete(scope, key, pending_only=True)


def init_app(app: Flask) -> None:
    from webmap.core.state import get_app_state

    path = app.config.get("IDEMPOTENCY_DB") or Path(app.config["ACCOUNTS_PATH"]).resolve().parent / ".idempotency.sqlite"
    app.extensions[EXTENSION] = IdempotencyStore(path, float(app.config["IDEMPOTENCY_TTL_S"]),
                                                 float(app.config["IDEMPOTENCY_STALE_S"]),
                                                 records=get_app_state(app).idempotency(path))
    app.jinja_env.globals["new_idempotency_key"] = new_key


def new_key() -> str:
    """A fresh key for one rendered form."""
    return secrets.token_urlsafe(18)


def _fingerprint() -> str:
    """What makes two requests the same: method, path, query and body (multipart: fields and file contents,
    not the boundary, which a client may choose anew on each try)."""
    digest = hashlib.sha256(f"{request.method} {request.path}?{request.query_string.decode('latin-1')}".encode())
    if request.mimetype == "multipart/form-data":
        for name in sorted(request.form):
            if name != FORM_FIELD:
                digest.update(f"\0{name}={request.form.getlist(name)}".encode())
        for name in sorted(request.files):
            for upload in request.files.getlist(name):
                digest.update(f"\0file:{name}:{upload.filename}:".encode())
                digest.update(hashlib.sha256(upload.stream.read()).digest())
                upload.stream.seek(0)
    elif request.mimetype == "application/x-www-form-urlencoded":
        for name in sorted(request.form):
            if name not in (FORM_FIELD, "csrf_token"):  # the CSRF token may be renewed between tries
                digest.update(f"\0{name}={request.form.getlist(name)}".encode())
    else:
        digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _refusal(status: int, code: str):
    message = Text(code, header=HEADER).render(message_lang())
    if wants_json():
        return error_response(status, [{"where": HEADER, "message": message}])
    from flask import render_template

    return render_template("error.html", status=status, errors=[{"message": message}]), status


def idempotent(view):
    """Honour ``Idempotency-Key`` (or the form field) on a write view; place it under the auth decorator."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        from webmap.signin.auth import current_user

        key = request.headers.get(HEADER) or (request.form.get(FORM_FIELD) if request.mimetype != "application/json" else None)
        user = current_user()
        if not key or user is None:
            return view(*args, **kwargs)
        if not KEY_PATTERN.match(key):
            return _refusal(400, "idem.bad_key")
        store: IdempotencyStore = current_app.extensions[EXTENSION]
        scope = user.name
        outcome, row = store.begin(scope, key, _fingerprint())
        if outcome == "replay":
            _, _, status, headers, body, _ = row
            response = current_app.response_class(body, status=status, headers=json.loads(headers or "{}"))
            response.headers["Idempotent-Replayed"] = "true"
            return response
        if outcome == "mismatch":
            return _refusal(422, "idem.mismatch")
        if outcome == "pending":
            response = current_app.make_response(_refusal(409, "idem.pending"))
            response.headers["Retry-After"] = "2"
            return response
        if outcome == "stale":
            return _refusal(409, "idem.stale")
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except BaseException:
            store.abandon(scope, key)  # an error answer (4xx via handlers) carries no write: may be retried
            raise
        store.finish(scope, key, response)
        return response

    return wrapped
