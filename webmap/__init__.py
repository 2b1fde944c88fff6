"""The web app: map pages, the nearest-station finder, the planners' coverage page and the JSON API.

``create_app(config)`` builds everything from the config it is given; nothing runs at import, which
only imports the app's modules (``stationmap serve`` does that while its registry loads).
"""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from webmap.core import budget, compress, errors, gates, i18n, page, reports_state, state
from webmap.core.config import DEFAULTS, resolve_secret_key
from webmap.planner import api as api_planning
from webmap.planner import views as planner
from webmap.portal import api as api_write
from webmap.portal import reports as portal_reports
from webmap.portal import views as portal
from webmap.public import api, pages, problems
from webmap.public.fastpath import NearestFastPath
from webmap.signin import auth


def create_app(config: dict | None = None) -> Flask:
    """Build the Flask app.

    Config keys (see ``webmap.core.config.DEFAULTS``): ``REGISTRY_PATH``, ``DISTRICTS_PATH``,
    ``TILE_PROVIDER`` (osm | tianditu | amap | none), ``TIANDITU_KEY``, ``SECRET_KEY``,
    ``MAX_CONTENT_LENGTH`` and the upload limits.
    """
    app = Flask(__name__, instance_relative_config=False)
    app.config.from_mapping(DEFAULTS)
    if config:
        app.config.update(config)
    app.json.sort_keys = False  # keep GeoJSON member order: type, geometry, properties

    state.init_app(app)
    # After the store: with the PostgreSQL store every server shares the key kept in the database.
    app.config["SECRET_KEY"] = resolve_secret_key(app.config, state.get_app_state(app))
    reports_state.init_app(app)
    errors.init_app(app)
    gates.init_app(app)  # after errors: its busy/throttled handlers are the more specific ones
    i18n.init_app(app)
    # App-wide response hooks (Flask runs after-request hooks last-registered first):
    # security headers, then compression of the finished body.
    app.after_request(compress.gzip_response)
    app.after_request(page.security_headers)
    app.jinja_env.globals["csp_nonce"] = page.csp_nonce  # a global, so imported macros see it too
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp, url_prefix="/api")
    app.register_blueprint(problems.bp)

    # District portal: sign-in (sessions, bearer tokens, CSRF, login throttle), pages and write API.
    app.register_blueprint(auth.bp)
    app.register_blueprint(portal.bp)
    app.register_blueprint(api_write.bp, url_prefix="/api")
    auth.init_app(app)  # after the blueprints: it wraps the login view and exempts the write API from blanket CSRF
    portal.init_app(app)
    problems.init_app(app)  # after auth.init_app: exempts the public report API from CSRF
    app.register_blueprint(portal_reports.bp)
    portal_reports.init_app(app)

    # Planners' workbench: the /planner page and report, and the planning API.
    app.register_blueprint(planner.bp)
    app.register_blueprint(api_planning.bp, url_prefix="/api")
    api_planning.init_app(app)  # after auth.init_app: exempts the read-only POST /api/plan from CSRF

    if app.config["NEAREST_FAST_PATH"]:
        app.wsgi_app = NearestFastPath(app)
    # Outermost: ProxyFix (the real client address and scheme, behind PROXY_COUNT proxies), then
    # the per-address request budget, counted before anything is parsed or routed.
    budget.init_app(app)
    if app.config["PROXY_COUNT"]:
        hops = int(app.config["PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
    return app
