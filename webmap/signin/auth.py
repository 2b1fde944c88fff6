"""Sign-in for the district portal: session cookies for people, bearer tokens for programs, CSRF and login throttling.

How it fits together
--------------------
* People sign in at ``/login``. Flask's signed session cookie (HttpOnly, SameSite=Lax,
  Secure whenever the request came over HTTPS, or always with ``SESSION_COOKIE_SECURE`` or
  ``STATIONMAP_HTTPS=1``) carries the user name, the moment of sign-in and the account's
  *session stamp*. The stamp is keyed on the account's session generation, which grows on
  sign-out, password change or reset and disabling (and changes with the role), so every
  cookie issued before that stops working on the next request: signing out ends the
  session on the server, not only in this browser (it signs the account out everywhere).
  Sessions also end ``SESSION_LIFETIME`` after sign-in (8 hours by default).
* Programs send ``Authorization: Bearer <token>``. A request that carries an
  ``Authorization`` header is judged by that header alone: a bad token is a 401 even
  when a valid session cookie rides along, so a token can never be "upgraded" by a cookie.
  Checking a token costs microseconds (``AccountStore.verify_token``); an address that sends
  more than ``BAD_BEARER_LIMIT_PER_IP`` bad tokens gets 429 with ``Retry-After`` until the
  window passes, before its token is even looked at.
* Behind a reverse proxy set ``PROXY_COUNT`` (``STATIONMAP_PROXIES``) to the number of
  proxies in front: werkzeug's ``ProxyFix`` then takes the client's address and scheme
  from ``X-Forwarded-For`` / ``X-Forwarded-Proto``, so throttles count real clients and
  cookies are Secure when the client spoke HTTPS to the proxy. Leave it 0 without a proxy,
  or clients could forge their address.
* Every form is CSRF-protected by flask-wtf's ``CSRFProtect``. The write API blueprint is
  exempt from the blanket check and calls :func:`protect_session_write` itself, which
  demands the CSRF token (``X-CSRFToken`` header) whenever the caller is authenticated by
  cookie rather than by bearer token.
* Failed sign-ins are throttled by flask-limiter: ``LOGIN_LIMIT_PER_USER`` (5 per minute)
  per client address + user name and ``LOGIN_LIMIT_PER_IP`` (30 per minute) per address.
  The counts live where the store keeps its state: a SQLite file beside the accounts
  (``webmap.signin.attempts``) for the file store, the database for the PostgreSQL store, so every
  worker process and every app server shares them and a restart keeps them.
  Behind a reverse proxy, wrap the app in ``werkzeug.middleware.proxy_fix.ProxyFix``
  or every client shares the proxy's address.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from functools import wraps
from pathlib import Path

from flask import Blueprint, Flask, current_app, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from limits import parse as parse_limit
from limits.strategies import FixedWindowRateLimiter

from geo.access.permissions import Actor
from geo.errors import NotFoundError
from geo.messages import Text
from webmap.core.page import safe_next

bp = Blueprint("auth", __name__)

ACCOUNTS_EXTENSION = "stationmap_accounts"
LIMITER_EXTENSION = "stationmap_limiter"
BAD_CREDENTIAL_THROTTLE = "stationmap_token_throttle"
REFUSED_EXTENSION = "stationmap_refused"  # (scope, address) -> until when charge_address refuses it, this process

def text(key: str, **values) -> str:
    from webmap.core.i18n import translate

    return translate(f"portal.{key}", **values)


# -- wiring ----------------------------------------------------------------------


def init_app(app: Flask) -> None:
    """Open the account store, turn on CSRF protection and the login throttle."""
    from geo.access.accounts import AccountStore
    from webmap.core.state import get_app_state, get_store

    state = get_app_state(app)
    if not app.config.get("RATELIMIT_STORAGE_URI"):
        # The default: the store's (a SQLite file beside the accounts file, or the store's database).
        accounts_dir = Path(app.config["ACCOUNTS_PATH"]).resolve().parent
        app.config["RATELIMIT_STORAGE_URI"] = state.counters_uri(accounts_dir / ".login_attempts.sqlite")
    app.config["PERMANENT_SESSION_LIFETIME"] = app.config["SESSION_LIFETIME"]
    app.session_interface = ReusedSerializerSessionInterface()
    if os.environ.get("STATIONMAP_HTTPS") == "1":
        app.config["SESSION_COOKIE_SECURE"] = True
    app.config["SESSION_COOKIE_HTTPONLY"] = True

    with app.app_context():
        districts = get_store().districts
    app.extensions[ACCOUNTS_EXTENSION] = app.config.get("ACCOUNTS") or AccountStore(
        app.config["ACCOUNTS_PATH"], districts, records=state.accounts(app.config["ACCOUNTS_PATH"]))

    csrf = CSRFProtect(app)
    # The write API checks CSRF itself, and only for cookie sessions (see protect_session_write).
    if "api_write" in app.blueprints:
        csrf.exempt(app.blueprints["api_write"])
    limiter = Limiter(
        key_func=get_remote_address,
        app=app,
        storage_uri=app.config["RATELIMIT_STORAGE_URI"],
        default_limits=[],
        headers_enabled=True,
    )
    app.extensions[LIMITER_EXTENSION] = limiter
    app.extensions[BAD_CREDENTIAL_THROTTLE] = (FixedWindowRateLimiter(limiter.storage),
                                                parse_limit(app.config["BAD_BEARER_LIMIT_PER_IP"]))
    # ProxyFix (PROXY_COUNT) wraps the whole app in webmap.create_app, outside every middleware.
    # flask-limiter also checks every request in a before_request hook (about 0.35 ms, a
    # third of a whole /api/nearest request). Only the login view is limited, and its
    # decorator below runs the check itself, so the app-wide hook is dropped.
    app.before_request_funcs[None].remove(limiter._check_request_limit)
    # Its after-request hook is where a failed sign-in is counted (``deduct_when``) and the
    # X-RateLimit headers are added; only sign-in needs it, so it runs for this blueprint alone.
    _move_hooks_to_blueprint(app.after_request_funcs, bp.name, lambda hook: getattr(hook, "func", None)
                             is Limiter._Limiter__inject_headers)
    _move_hooks_to_blueprint(app.teardown_request_funcs, bp.name, lambda hook: getattr(hook, "__self__", None)
                             is limiter)
    # Only failed sign-ins count, so a clerk who signs in often is never locked out,
    # but once the limit is reached even the right password waits for the window.
    login_view = app.view_functions["auth.login"]
    login_view = limiter.limit(app.config["LOGIN_LIMIT_PER_USER"], key_func=_address_and_user, methods=["POST"],
                               deduct_when=_login_failed, scope="login-user")(login_view)
    login_view = limiter.limit(app.config["LOGIN_LIMIT_PER_IP"], methods=["POST"],
                               deduct_when=_login_failed, scope="login-ip")(login_view)
    app.view_functions["auth.login"] = login_view

    app.jinja_env.globals["current_user"] = current_user


def _move_hooks_to_blueprint(hooks: dict, blueprint: str, belongs) -> None:
    moved = [hook for hook in hooks[None] if belongs(hook)]
    if not moved:
        raise RuntimeError("flask-limiter's request hooks were not found; check its version")
    hooks[None] = [hook for hook in hooks[None] if not belongs(hook)]
    hooks.setdefault(blueprint, []).extend(moved)


class ReusedSerializerSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signing serializer built once per secret key.

    Flask builds a new one on every request, cookie or not: a tenth of a ``/api/nearest``
    answer. The serializer only holds configuration, so sharing it across threads is safe.
    """

    def __init__(self):
        self._serializers: dict = {}

    def get_cookie_secure(self, app: Flask) -> bool:
        """Secure when configured, or whenever this request came over HTTPS (``ProxyFix`` tells behind a proxy)."""
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure

    def get_signing_serializer(self, app: Flask):
        key = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        serializer = self._serializers.get(key)
        if serializer is None:
            serializer = self._serializers[key] = super().get_signing_serializer(app)
        return serializer


def accounts():
    return current_app.extensions[ACCOUNTS_EXTENSION]


def _address_and_user() -> str:
    name = (request.form.get("username") or "").strip().lower()
    return f"{get_remote_address()}|{name}"


def _login_failed(response) -> bool:
    return response.status_code == 401


def _wants_json() -> bool:
    from webmap.core.errors import wants_json

    return wants_json()


# -- who is asking ---------------------------------------------------------------


def session_stamp(user) -> str:
    """A short digest that changes whenever the account's sign-in state changes.

    Built from the account's session version (bumped by disable, password reset/change)
    plus its role, district and enabled flag, keyed with the app secret so a cookie cannot
    be forged to match.
    """
    parts = [
        str(getattr(user, "session_version", "")),
        str(getattr(user, "role", "")),
        str(getattr(user, "district_adcode", "")),
        "disabled" if getattr(user, "disabled", False) else "enabled",
    ]
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, "|".join(parts).encode(), hashlib.sha256).hexdigest()[:32]


def current_user():
    """The signed-in account (cookie or bearer token), or ``None``. Cached per request."""
    if "stationmap_user" in g:
        return g.stationmap_user
    user, how = _authenticate_request()
    g.stationmap_user, g.stationmap_auth = user, how
    return user


def auth_method() -> str | None:
    """``"token"``, ``"session"`` or ``None`` for the current request."""
    current_user()
    return g.stationmap_auth


def current_actor() -> Actor | None:
    user = current_user()
    return user.actor if user is not None else None


def _authenticate_request():
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None, "bad-header"
        throttle, limit = current_app.extensions[BAD_CREDENTIAL_THROTTLE]
        address = get_remote_address()
        if not throttle.test(limit, "bad-token", address):
            _block_bad_tokens(throttle, limit, address)
            return None, "throttled"
        try:
            user = accounts().verify_token(token.strip())
        except Exception:  # noqa: BLE001 - a malformed token is just a wrong token
            user = None
        if user is not None and _enabled(user):
            return user, "token"
        if not throttle.hit(limit, "bad-token", address):
            _block_bad_tokens(throttle, limit, address)
        return None, "bad-token"
    name = session.get("user")
    if not isinstance(name, str):
        return None, None
    try:
        user = accounts().get(name)
    except NotFoundError:  # the account was deleted from the file
        user = None
    signed_in = session.get("at")
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    if (user is None or not _enabled(user) or session.get("stamp") != session_stamp(user)
            or not isinstance(signed_in, (int, float)) or time.time() - signed_in > lifetime):
        session.clear()
        return None, "expired"
    return user, "session"


def _block_bad_tokens(throttle, limit, address: str) -> None:
    """Over its allowance of bad tokens, an address is refused by the request budget until the
    window passes: at the door, in microseconds, without another trip to the shared counters."""
    from webmap.core.budget import block_address

    reset_at, _ = throttle.get_window_stats(limit, "bad-token", address)
    block_address(current_app, address, reset_at, Text("portal.throttled"))


def _enabled(user) -> bool:
    return not getattr(user, "disabled", False)


def role_required(*roles: str):
    """Signed in (pages: redirect to /login; API: 401 envelope with ``WWW-Authenticate: Bearer``), and the
    account's role must be one of ``roles`` (else 403)."""

    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            user = current_user()
            if user is None:
                return unauthenticated()
            if user.role not in roles:
                return forbidden(text("forbidden"))
            return view(*args, **kwargs)

        return wrapped

    return decorate


def unauthenticated():
    from webmap.core.errors import error_response
    from webmap.core.i18n import message_lang

    if g.get("stationmap_auth") == "throttled":
        return _too_many_bad_tokens()
    if request.path.startswith("/api/") or _wants_json():
        how = g.get("stationmap_auth")
        key = {"bad-header": "api.auth_bad_header", "bad-token": "api.auth_bad_token",
               "expired": "api.auth_expired"}.get(how, "api.auth_required")
        response = error_response(401, [Text(key).render(message_lang())])
        response.headers["WWW-Authenticate"] = 'Bearer realm="stationmap"'
        return response
    return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))


def charge_address(scope: str, limit: str) -> int:
    """Count one unit of ``scope`` for this client's address against ``limit`` (e.g. "30 per minute").

    Returns 0 while within the limit, else the seconds until the window resets. The counts
    live in the same shared store as the sign-in throttle, so every worker sees them.
    """
    address = get_remote_address()
    refused = current_app.extensions.setdefault(REFUSED_EXTENSION, {})
    refused_until = refused.get((scope, address))
    if refused_until is not None:  # refused here already: no trip to the shared store until the window passes
        if refused_until > time.time():
            return max(1, int(refused_until - time.time()) + 1)
        refused.pop((scope, address), None)
    strategy = FixedWindowRateLimiter(current_app.extensions[LIMITER_EXTENSION].storage)
    item = parse_limit(limit)
    if strategy.hit(item, scope, address):
        return 0
    reset_at, _ = strategy.get_window_stats(item, scope, address)
    if len(refused) > 100_000:
        refused.clear()
    refused[(scope, address)] = reset_at
    return max(1, int(reset_at - time.time()) + 1)


def _too_many_bad_tokens():
    from webmap.core.errors import error_response

    throttle, limit = current_app.extensions[BAD_CREDENTIAL_THROTTLE]
    reset_at, _ = throttle.get_window_stats(limit, "bad-token", get_remote_address())
    wait = max(1, int(reset_at - time.time()) + 1)
    if request.path.startswith("/api/") or _wants_json():
        response = error_response(429, [text("throttled")])
    else:
        response = current_app.make_response((render_template("error.html", status=429,
                                                               errors=[{"message": text("throttled")}]), 429))
    response.headers["Retry-After"] = str(wait)
    return response


def forbidden(message: str):
    """403 as an envelope for the API and JSON clients, as the error page otherwise."""
    from webmap.core.errors import error_response

    if request.path.startswith("/api/") or _wants_json():
        return error_response(403, [message])
    return render_template("error.html", status=403, errors=[{"message": message}]), 403


def protect_session_write() -> None:
    """CSRF check for a write authenticated by cookie; bearer-token requests need none.

    A cross-site page can make the browser send our cookie, but it can neither read the
    CSRF token nor add an ``Authorization`` header without a CORS preflight we never grant.
    """
    if auth_method() == "token":
        return
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        current_app.extensions["csrf"].protect()


# -- pages -----------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign-in form. Failed attempts answer 401 and count towards the throttle."""
    if request.method == "GET":
        return render_template("auth/login.html", error=None, username="", next_url=safe_next())
    username = (request.form.get("username") or "").strip()
    password = request.form.get("password") or ""
    user = None
    if username and password and len(username) <= 100 and len(password) <= 1000:
        from webmap.core.gates import gate

        # argon2 costs ~50 ms and 64 MiB: a bounded number at a time, off the event loop.
        user = gate("password").run(accounts().authenticate, username, password)
    if user is None or not _enabled(user):
        return render_template("auth/login.html", error=text("bad_credentials"), username=username,
                               next_url=safe_next()), 401
    session.clear()  # a fresh cookie: nothing from before sign-in carries over
    session.permanent = True
    session["user"] = user.name
    session["stamp"] = session_stamp(user)
    session["at"] = int(time.time())
    return redirect(safe_next())


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    """GET shows a confirmation button (so a link from another site cannot sign anyone out); POST signs out."""
    if request.method == "GET":
        return render_template("auth/logout.html")
    user = current_user() if auth_method() == "session" else None
    if user is not None:
        try:
            accounts().end_sessions(user.name)  # the cookie dies on the server too, even a copied one
        except NotFoundError:
            pass
    session.clear()
    return redirect(url_for("auth.login"))
