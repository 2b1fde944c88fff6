"""The web app: map pages, the nearest-station finder, the planners' coverage page and the JSON API.

``create_app(config)`` builds everything from the config it is given; nothing runs at import.
"""

from __future__ import annotations

from flask import Flask

from webmap.config import DEFAULTS, resolve_secret_key


def create_app(config: dict | None = None) -> Flask:
    """Build the Flask app.

    Config keys (see ``webmap.config.DEFAULTS``): ``REGISTRY_PATH``, ``DISTRICTS_PATH``,
    ``TILE_PROVIDER`` (osm | tianditu | amap | none), ``TIANDITU_KEY``, ``SECRET_KEY``,
    ``MAX_CONTENT_LENGTH`` and the upload limits.
    """
    app = Flask(__name__, instance_relative_config=False)
    app.config.from_mapping(DEFAULTS)
    if config:
        app.config.update(config)
    app.config["SECRET_KEY"] = resolve_secret_key(app.config)

    from webmap import api, errors, i18n, pages, state

    state.init_app(app)
    errors.init_app(app)
    i18n.init_app(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp, url_prefix="/api")
    return app
