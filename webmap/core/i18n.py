"""The language of a request (Chinese by default, English on request) and the catalogue's web side.

Every string lives in the one gettext catalogue under ``translations/`` (see ``geo.messages``);
Flask-Babel reads it for the pages. One selector, ``choose_lang``, decides the language:

- pages: ``?lang=zh|en`` (then remembered in a cookie), else the ``lang`` cookie, else ``DEFAULT_LANG``;
- API answers: ``?lang=``, else ``DEFAULT_LANG`` (never the cookie: answers are cached publicly);
- API error messages: ``?lang=``, else ``Accept-Language``, else English (programs read them).

Templates get ``t(key, **values)`` (and Flask-Babel's ``_``), ``tr(message)`` for a domain
``geo.messages.Text``, ``lang`` and ``lang_url(code)``; scripts get
the strings they use through ``js_strings()``, embedded as JSON. Vocabulary labels (kinds, amenities,
honours) are not here: they come from ``geo.schema``.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import flask_babel
from flask import Flask, current_app, g, has_request_context, request, url_for
from werkzeug.routing import BuildError

from geo.messages import LANGS, LOCALES, TRANSLATIONS_DIR, compile_catalogues, localise, template

log = logging.getLogger(__name__)

COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600

# Strings the page scripts need, sent once per page as JSON (codes of the catalogue).
JS_KEYS = (
    "loading", "load_failed", "retry", "open_now", "closed_now", "closes_at", "opens_at", "hours", "address",
    "district", "operator", "phone", "call", "amenities", "honours", "navigate", "nav_amap", "nav_geo", "nav_osm",
    "details", "in_view", "in_view_grouped", "zoom_in", "stations_here", "use_my_location", "locating", "geo_failed",
    "geo_unsupported", "geo_denied", "no_results", "no_position", "metres", "kilometres", "walk_minutes",
    "your_location", "searching", "found_n", "results_from", "col_district", "col_stations", "col_per_10k",
    "col_per_100km2", "col_share", "col_pop_share", "col_population", "totals", "chart_title", "computing", "radius_invalid",
    "cov_grid_note",
    "layer_share", "layer_gaps", "share_legend", "sort_by", "legend_title", "legend_honoured", "retired_notice",
    "layer_grouped", "nav_amap_ride", "nav_baidu", "ride_minutes", "straight_line", "crosses_river", "open_city_map",
    "crs_hint", "from_place", "place_not_found", "place_kind_landmark", "place_kind_district", "place_kind_subdistrict",
    "place_kind_street", "place_kind_station", "swapped_hint", "not_a_number", "out_of_range", "tiles_failed",
    "locate_me", "locate_failed", "you_are_here", "report_problem", "last_verified", "stale_note",
    "reported_closed_notice", "search_place_hint",
)
PLANNER_JS_KEYS = tuple("planner." + key for key in (
    "computing", "planning", "planning_exact", "plan_ready", "plan_failed", "load_failed", "invalid_radius", "invalid_time",
    "invalid_new", "invalid_limit", "summary_title", "at_note", "col_district", "col_population", "col_stations",
    "col_pop_share", "col_area_share", "col_per_station", "col_median", "col_uncovered", "col_before", "col_after",
    "col_added", "col_new", "col_rank", "totals", "people", "no_plan", "site_added", "site_cumulative", "site_zoom", "grid_cell",
    "plan_totals", "plan_hours_note", "compare_title", "objective", "method_label_greedy", "method_label_exact",
    "status_greedy", "status_optimal", "status_time_limit", "status_stopped", "status_not_solved", "bound", "runtime", "greedy_ratio",
    "layer_existing", "layer_gap_cells", "layer_proposals", "layer_circles", "legend_existing", "legend_gap",
    "legend_site", "district_all", "preset_walk15", "preset_ebike15", "method",
))


def choose_lang(asked: str | None, *, default: str = "zh", cookie: str | None = None, accept=None) -> str:
    """The one language selector: ``asked`` (``?lang=``) if valid, else ``cookie``, else the best of
    ``accept`` (an ``Accept-Language`` header object), else ``default``."""
    if asked in LANGS:
        return asked
    if cookie in LANGS:
        return cookie
    if accept is not None:
        best = accept.best_match(LANGS)
        if best:
            return best
    return default if default in LANGS else "zh"


def _default() -> str:
    return current_app.config.get("DEFAULT_LANG", "zh")


def answer_lang(args, config=None) -> str:
    """The language of an API answer: ``lang`` if given, else the app's default."""
    return choose_lang(args.get("lang"), default=(config or current_app.config).get("DEFAULT_LANG", "zh"))


def get_lang() -> str:
    """The language of this request: a page's (``?lang=``, cookie, default) or, under ``/api/``, an answer's."""
    if not has_request_context():
        return current_app.config.get("DEFAULT_LANG", "zh") if current_app else "zh"
    if "lang" not in g:
        if request.path.startswith("/api/"):
            g.lang = answer_lang(request.args)
        else:
            g.lang = choose_lang(request.args.get("lang"), cookie=request.cookies.get(COOKIE), default=_default())
    return g.lang


def message_lang() -> str:
    """The language of error messages: a page's own language; under ``/api/`` (or for a client that
    wants JSON) ``?lang=``, else ``Accept-Language``, else English."""
    if not has_request_context():
        return "en"
    if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
        return choose_lang(request.args.get("lang"), accept=request.accept_languages, default="en")
    return get_lang()


def translate(key: str, lang: str | None = None, **values) -> str:
    """The catalogue's ``key`` in ``lang`` (this request's language by default), formatted with ``values``."""
    text = flask_babel.gettext(key) if lang is None and has_request_context() else template(key, lang or get_lang())
    return text.format(**values) if values else text


t = translate


def js_strings(lang: str | None = None, keys=JS_KEYS) -> dict[str, str]:
    """The unformatted strings the page scripts use (they fill ``{n}`` and friends themselves)."""
    lang = lang or get_lang()
    return {key: template(key, lang) for key in keys}


def lang_url(code: str) -> str:
    """This page's URL with ``lang=code``, keeping the other query arguments."""
    args = request.args.to_dict(flat=False)
    args["lang"] = [code]
    if request.endpoint and request.url_rule is not None and request.endpoint != "static":
        try:
            return url_for(request.endpoint, **(request.view_args or {}), **args)
        except BuildError:  # e.g. a rule that needs arguments we do not have: keep the path as it is
            log.debug("no URL for %s; using the request path", request.endpoint)
    return request.path + "?" + urlencode(args, doseq=True)


def _remember_lang(response):
    """Keep an explicit ``?lang=`` choice in a cookie so the next page stays in that language.

    Pages only: API answers are publicly cacheable and must not set cookies.
    """
    if request.path.startswith("/api/"):
        return response
    asked = request.args.get("lang")
    if asked in LANGS and request.cookies.get(COOKIE) != asked:
        response.set_cookie(COOKIE, asked, max_age=COOKIE_MAX_AGE, samesite="Lax", httponly=True)
    return response


def _locale() -> str:
    """Flask-Babel's locale selector: the locale of ``message_lang`` for JSON, of ``get_lang`` for pages."""
    return LOCALES[message_lang()]


def init_app(app: Flask) -> None:
    compile_catalogues()  # a checkout whose .mo files are missing or older than the .po files
    flask_babel.Babel(app, locale_selector=_locale, default_translation_directories=str(TRANSLATIONS_DIR))
    app.jinja_env.globals.update(t=translate, tr=lambda value: localise(value, get_lang()), lang_url=lang_url, LANGS=LANGS)
    app.context_processor(lambda: {"lang": get_lang()})
    app.after_request(_remember_lang)
