"""The page language (Chinese by default, English on request) and every UI string in both.

The language comes from ``?lang=zh|en`` (which is then remembered in a cookie), else from
the ``lang`` cookie, else from ``DEFAULT_LANG``. Templates get ``t(key, **values)``,
``lang`` and ``lang_url(code)``; scripts get the strings they need through
``js_strings()``, embedded as JSON. Vocabulary labels (kinds, amenities, honours) are
not here: they come from ``geo.schema``.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from flask import Flask, current_app, g, request, url_for
from werkzeug.routing import BuildError

log = logging.getLogger(__name__)

LANGS = ("zh", "en")
COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600

# key -> (Chinese, English). Placeholders use str.format names.
STRINGS: dict[str, tuple[str, str]] = {
    # Site chrome
    "site_name": ("驿站图", "StationMap"),
    "site_tagline": ("重庆工会户外劳动者服务站", "Chongqing trade-union stations for outdoor workers"),
    "nav_map": ("地图", "Map"),
    "nav_nearest": ("附近驿站", "Nearby"),
    "nav_coverage": ("覆盖分析", "Coverage"),
    "nav_label": ("主导航", "Main navigation"),
    "footer_portal": ("区县工会登录（上传和维护站点）", "District union sign-in (upload and maintain stations)"),
    "lang_label": ("语言", "Language"),
    "skip_to_content": ("跳到正文", "Skip to content"),
    "footer_sample": (
        "站点位置为示意样例数据，待各区县工会上传真实数据后更新。",
        "Locations are illustrative sample data until districts upload real ones.",
    ),
    "footer_map_data": ("边界与人口：重庆市各区县（2020 年人口普查）", "Boundaries and population: Chongqing districts (2020 census)"),
    "loading": ("加载中…", "Loading…"),
    "load_failed": ("加载失败：{message}", "Could not load: {message}"),
    "retry": ("重试", "Retry"),
    "noscript": ("此页面的地图和列表需要启用 JavaScript。", "The map and lists on this page need JavaScript."),
    # Map page
    "title_map": ("驿站地图", "Station map"),
    "map_label": ("重庆驿站地图", "Map of stations in Chongqing"),
    "layer_districts": ("区县边界", "District outlines"),
    "layer_grouped": ("站点数量（按网格汇总）", "Station counts (grouped)"),
    "layer_labels": ("地图注记", "Map labels"),
    "base_osm": ("OpenStreetMap 地图", "OpenStreetMap"),
    "base_tianditu": ("天地图", "Tianditu"),
    "base_amap": ("高德地图", "Amap"),
    "legend_title": ("图例", "Legend"),
    "legend_honoured": ("获评荣誉的站点", "Honoured station"),
    "legend_cluster": ("数字：该处站点数，点击放大", "Number: stations there, tap to zoom in"),
    "in_view": ("视野内 {n} 个站点", "{n} stations in view"),
    "in_view_grouped": ("视野内 {n} 个站点（已汇总，放大查看）", "{n} stations in view (grouped; zoom in)"),
    "zoom_in": ("放大查看", "Zoom in"),
    "stations_here": ("此处 {n} 个站点", "{n} stations here"),
    # Station card / popup / station page
    "open_now": ("营业中", "Open now"),
    "closed_now": ("已打烊", "Closed"),
    "closes_at": ("{time} 打烊", "Closes {time}"),
    "opens_at": ("{time} 开门", "Opens {time}"),
    "hours": ("开放时间", "Opening hours"),
    "address": ("地址", "Address"),
    "district": ("所在区县", "District"),
    "operator": ("运营单位", "Operator"),
    "phone": ("电话", "Phone"),
    "call": ("拨打电话", "Call"),
    "amenities": ("服务内容", "Services"),
    "honours": ("荣誉", "Honours"),
    "kind": ("类型", "Type"),
    "status": ("状态", "Status"),
    "station_id": ("站点编号", "Station ID"),
    "coordinates": ("坐标（WGS-84）", "Coordinates (WGS-84)"),
    "updated_at": ("更新时间", "Last updated"),
    "navigate": ("导航", "Navigate"),
    "nav_amap": ("高德地图导航", "Navigate with Amap"),
    "nav_geo": ("用手机地图打开", "Open in map app"),
    "nav_osm": ("OpenStreetMap 地图", "OpenStreetMap"),
    "details": ("站点详情", "Station details"),
    "retired_notice": ("该站点已撤销，不再提供服务。", "This station has been retired and no longer offers services."),
    "back_to_map": ("返回地图", "Back to the map"),
    "find_nearby": ("查找附近其他驿站", "Find other stations nearby"),
    "title_station": ("{name} - 驿站详情", "{name} - station details"),
    "share_link": ("分享本页链接", "Link to share"),
    # Nearest page
    "title_nearest": ("附近驿站", "Nearby stations"),
    "nearest_intro": ("找离你最近的歇脚点：喝水、充电、热饭、如厕。", "Find the nearest place to rest, drink, charge and heat food."),
    "use_my_location": ("使用我的位置", "Use my location"),
    "locating": ("正在定位…", "Locating…"),
    "geo_failed": ("无法获取位置（{message}）。可以点地图或输入坐标。", "Could not get your location ({message}). Tap the map or type coordinates."),
    "geo_unsupported": ("此浏览器不支持定位。可以点地图或输入坐标。", "This browser cannot share its location. Tap the map or type coordinates."),
    "geo_denied": ("未获定位授权", "permission denied"),
    "tap_map_hint": ("也可以在下方地图上点选位置。", "You can also tap a place on the map below."),
    "enter_coords": ("输入坐标", "Enter coordinates"),
    "lon": ("经度", "Longitude"),
    "lat": ("纬度", "Latitude"),
    "crs": ("坐标系", "Coordinate system"),
    "search": ("查找", "Search"),
    "filters": ("筛选", "Filters"),
    "kind_all": ("全部", "All"),
    "open_only": ("只看营业中", "Open now only"),
    "show_k": ("显示数量", "Show"),
    "results": ("离你最近的驿站", "Nearest stations"),
    "results_from": ("以 {lon}, {lat}（WGS-84）为起点", "From {lon}, {lat} (WGS-84)"),
    "no_results": ("附近没有符合条件的驿站，试试减少筛选条件。", "No matching station nearby; try fewer filters."),
    "no_position": ("请先定位、点地图或输入坐标。", "Locate yourself, tap the map or type coordinates first."),
    "metres": ("{n} 米", "{n} m"),
    "kilometres": ("{n} 公里", "{n} km"),
    "walk_minutes": ("步行约 {n} 分钟", "about {n} min walk"),
    "your_location": ("你的位置", "Your location"),
    "searching": ("正在查找…", "Searching…"),
    "found_n": ("找到 {n} 个站点", "{n} stations found"),
    # Coverage page
    "title_coverage": ("覆盖分析", "Coverage"),
    "coverage_intro": (
        "各区县驿站数量、每万人与每百平方公里站点数，以及服务半径内覆盖的面积占比。",
        "Stations per district, per 10,000 residents and per 100 km², and the share of land within the service radius.",
    ),
    "radius": ("服务半径", "Service radius"),
    "radius_custom": ("自定义（米）", "Custom (m)"),
    "apply": ("应用", "Apply"),
    "col_district": ("区县", "District"),
    "col_stations": ("站点合计", "All stations"),
    "col_population": ("常住人口", "Population"),
    "col_per_10k": ("每万人站点数", "Per 10k residents"),
    "col_per_100km2": ("每百平方公里站点数", "Per 100 km²"),
    "col_share": ("半径内面积占比", "Share within R"),
    "col_pop_share": ("半径内常住人口占比", "Residents within R"),
    "sort_by": ("按此列排序", "Sort by this column"),
    "totals": ("全市合计", "Whole municipality"),
    "chart_title": ("各区县半径 {r} 内面积占比", "Share of each district within {r}"),
    "download_csv": ("下载表格 CSV", "Download table (CSV)"),
    "download_gaps": ("下载服务空白区 GeoJSON", "Download gaps (GeoJSON)"),
    "layer_share": ("覆盖率", "Coverage share"),
    "layer_gaps": ("服务空白区", "Gaps (not covered)"),
    "computing": ("正在计算…", "Computing…"),
    "radius_invalid": ("半径须在 1 至 50000 米之间", "The radius must be between 1 and 50,000 m"),
    "share_legend": ("半径内面积占比", "Share within radius"),
    # Errors
    "error_title": ("出错了", "Something went wrong"),
    "error_404": ("找不到这个页面或站点。", "This page or station does not exist."),
    "error_400": ("请求有误。", "The request was not valid."),
    "error_500": ("服务器出错，已记录。请稍后再试。", "Server error; it has been logged. Please try again later."),
    "error_503": ("站点数据暂时不可用。", "The station registry is temporarily unavailable."),
    "error_generic": ("请求未能完成。", "The request could not be completed."),
    "go_home": ("返回首页地图", "Go to the map"),
}

# Strings the page scripts need, sent once per page as JSON.
JS_KEYS = (
    "loading", "load_failed", "retry", "open_now", "closed_now", "closes_at", "opens_at", "hours", "address",
    "district", "operator", "phone", "call", "amenities", "honours", "navigate", "nav_amap", "nav_geo", "nav_osm",
    "details", "in_view", "in_view_grouped", "zoom_in", "stations_here", "use_my_location", "locating", "geo_failed",
    "geo_unsupported", "geo_denied", "no_results", "no_position", "metres", "kilometres", "walk_minutes",
    "your_location", "searching", "found_n", "results_from", "col_district", "col_stations", "col_per_10k",
    "col_per_100km2", "col_share", "col_pop_share", "col_population", "totals", "chart_title", "computing", "radius_invalid",
    "layer_share", "layer_gaps", "share_legend", "sort_by", "legend_title", "legend_honoured", "retired_notice",
    "layer_grouped",
)


def get_lang() -> str:
    """The language of this request: ``?lang=`` if valid, else the cookie, else ``DEFAULT_LANG``."""
    if "lang" not in g:
        asked = request.args.get("lang")
        cookie = request.cookies.get(COOKIE)
        default = current_app.config.get("DEFAULT_LANG", "zh")
        g.lang = asked if asked in LANGS else cookie if cookie in LANGS else default if default in LANGS else "zh"
    return g.lang


def translate(key: str, lang: str | None = None, **values) -> str:
    """The string ``key`` in ``lang`` (this request's language by default), formatted with ``values``."""
    pair = STRINGS.get(key)
    if pair is None:
        return key
    text = pair[1] if (lang or get_lang()) == "en" else pair[0]
    return text.format(**values) if values else text


t = translate


def js_strings(lang: str | None = None) -> dict[str, str]:
    """The unformatted strings the page scripts use (they fill ``{n}`` and friends themselves)."""
    lang = lang or get_lang()
    return {key: STRINGS[key][1 if lang == "en" else 0] for key in JS_KEYS}


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


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(t=translate, lang_url=lang_url, LANGS=LANGS)
    app.context_processor(lambda: {"lang": get_lang()})
    app.after_request(_remember_lang)
