"""What every HTML page shares, whichever audience it is for: the CSP nonce and security headers,
the tile provider, the cached folium base maps and the JSON config the page scripts read.
"""

from __future__ import annotations

import secrets
from threading import Lock
from urllib.parse import urlsplit

from flask import current_app, g, request, url_for

from geo import schema
from webmap.core import mapbuild
from webmap.core.i18n import get_lang, js_strings

_map_cache_lock = Lock()


def safe_next() -> str:
    """Where to go after sign-in: a path on this site only (no ``//host`` or ``\\`` tricks)."""
    target = request.values.get("next") or ""
    parts = urlsplit(target)
    if (not target.startswith("/") or target.startswith("//") or "\\" in target
            or parts.scheme or parts.netloc or any(ord(c) < 32 for c in target)):
        return url_for("portal.stations") if "portal" in current_app.blueprints else "/"
    return target


def csp_nonce() -> str:
    """This response's script nonce (one per request)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    return g.csp_nonce


def content_security_policy(nonce: str, provider: str) -> str:
    """Scripts only from us or with this response's nonce (so no inline handlers); images from us and the tile host."""
    tiles = " ".join(mapbuild.tile_origins(provider))
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'",
        "style-src 'self'",
        f"img-src 'self' data: {tiles}".rstrip(),
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    ])


def security_headers(response):
    if response.mimetype == "text/html":
        provider = mapbuild.resolve_provider(current_app.config)
        response.headers.setdefault("Content-Security-Policy", content_security_policy(csp_nonce(), provider))
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def provider_settings() -> tuple[str, str]:
    provider = mapbuild.resolve_provider(current_app.config)
    return provider, current_app.config.get("TIANDITU_KEY", "") if provider == "tianditu" else ""


def cached_map(page: str, build):
    """A rendered base map, built once per (page, language, provider, static prefix) and kept by the app."""
    provider, key = provider_settings()
    lang = get_lang()
    static_prefix = url_for("static", filename="")
    cache = current_app.extensions.setdefault("stationmap.maps", {})
    cache_key = (page, lang, provider, static_prefix)
    parts = cache.get(cache_key)
    if parts is None:
        with _map_cache_lock:
            parts = cache.get(cache_key)
            if parts is None:
                parts = build(provider=provider, lang=lang, static_prefix=static_prefix, tianditu_key=key)
                cache[cache_key] = parts
    return parts


def page_config(page: str, **extra) -> dict:
    """What the page scripts need, embedded as JSON (never executed): language, strings, URLs, colours."""
    provider, _ = provider_settings()
    lang = get_lang()
    root = request.script_root
    config = {
        "page": page,
        "lang": lang,
        "strings": js_strings(lang),
        "api": root + "/api",
        "stationUrl": root + "/stations/",
        "displayCrs": mapbuild.display_crs(provider),
        "tiles": provider,
        "kinds": {code: {"label": term.label(lang), "colour": mapbuild.KIND_COLOURS[code]}
                  for code, term in schema.KINDS.items()},
        # JSON objects lose their order through tojson (sorted keys): the schema's order, explicitly.
        "kindOrder": list(schema.KINDS),
        "walkMetresPerMinute": schema.WALK_M_PER_MIN,
        "outlinesUrl": url_for("pages.district_outlines", lang=lang),
    }
    config.update(extra)
    return config
