"""Folium base maps for the pages: tiles (OSM, Tianditu, Amap or none), district outlines, layer control, legend.

Station markers are never put into folium here: the page scripts load them from the API
and draw them with their own DOM code, so no station text reaches a folium template
(folium does not escape, see docs/STACK-FACTS). What folium gets is trusted: our UI
strings, the schema's labels and the district file.

Coordinates: everything is stored in WGS-84. Amap tiles are drawn in GCJ-02, so with
``TILE_PROVIDER = "amap"`` the outlines and the station page's marker are shifted here
with :func:`geo.coords.from_wgs84`, and the page scripts shift what they draw (they get
``display_crs`` in their config). Tianditu and OSM tiles are WGS-84 (to within a metre).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from urllib.parse import quote

import folium
import numpy as np
import shapely
from branca.element import MacroElement
from folium.template import Template
from folium.utilities import JsCode
from markupsafe import Markup

from geo import schema
from geo.coords import from_wgs84
from webmap.core.i18n import translate

log = logging.getLogger(__name__)

PROVIDERS = ("osm", "tianditu", "amap", "none")

# Origins tiles come from: the only requests a page makes outside our own server.
TILE_ORIGINS = {
    "osm": ("https://tile.openstreetmap.org",),
    "tianditu": ("https://*.tianditu.gov.cn",),
    "amap": ("https://*.is.autonavi.com",),
    "none": (),
}

# Marker colours per kind; the legend, the page scripts and the CSS classes share them.
KIND_COLOURS = {"outdoor_station": "#d9480f", "bookshelf": "#1864ab", "childcare": "#862e9c"}
HONOUR_COLOUR = "#f59f00"

MAX_ZOOM = 18
MIN_ZOOM = 5
# Chongqing's main urban area (解放碑), WGS-84 [lat, lon], where a map without a station opens.
CITY_CENTRE = (29.5585, 106.5770)

# Outline simplification for the overview: 0.001 degrees is about 100 m, below a pixel at
# the zoom where the whole municipality fits, and keeps the 38 outlines near 70 KB gzipped.
OUTLINE_TOLERANCE_DEG = 0.001
OUTLINE_DECIMALS = 4  # about 10 m
OUTLINE_STYLE = {"color": "#495057", "weight": 1.5, "opacity": 0.8, "fill": False, "dashArray": "4 3"}


def resolve_provider(config) -> str:
    """The tile provider to use: ``TILE_PROVIDER``, or ``none`` when it is unknown or Tianditu lacks a key."""
    provider = str(config.get("TILE_PROVIDER") or "none").lower()
    if provider not in PROVIDERS:
        log.warning("TILE_PROVIDER %r is not one of %s; drawing maps without tiles", provider, ", ".join(PROVIDERS))
        return "none"
    if provider == "tianditu" and not config.get("TIANDITU_KEY"):
        log.warning("TILE_PROVIDER is tianditu but TIANDITU_KEY is empty; drawing maps without tiles")
        return "none"
    return provider


def display_crs(provider: str) -> str:
    """The coordinate system the map is drawn in: ``gcj02`` on Amap tiles, else ``wgs84``."""
    return "gcj02" if provider == "amap" else "wgs84"


def tile_origins(provider: str) -> tuple[str, ...]:
    return TILE_ORIGINS.get(provider, ())


@dataclass(frozen=True)
class MapParts:
    """A rendered folium map, to be placed in our own page: the map ``<div>`` and its script (without ``<script>`` tags)."""

    html: Markup
    script: Markup
    name: str


def _tianditu_url(layer: str, key: str) -> str:
    return (
        f"https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
        f"&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}"
        f"&tk={quote(key, safe='')}"
    )


def add_tiles(m: folium.Map, provider: str, lang: str, tianditu_key: str = "") -> None:
    """Add the base tile layer(s) of ``provider`` (nothing for ``none``)."""
    if provider == "osm":
        folium.TileLayer(
            "https://tile.openstreetmap.org/{z}/{x}/{y}.png", name=translate("base_osm", lang),
            attr='&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>',
            max_zoom=MAX_ZOOM, max_native_zoom=19, subdomains="abc",
        ).add_to(m)
    elif provider == "tianditu":
        attr = '&copy; <a href="https://www.tianditu.gov.cn/">天地图</a>'
        folium.TileLayer(_tianditu_url("vec", tianditu_key), name=translate("base_tianditu", lang), attr=attr,
                         subdomains="01234567", max_zoom=MAX_ZOOM, max_native_zoom=18).add_to(m)
        # Chinese annotations (cva) or English ones (eva), as a separate switchable layer.
        folium.TileLayer(_tianditu_url("eva" if lang == "en" else "cva", tianditu_key),
                         name=translate("layer_labels", lang), attr=attr, subdomains="01234567",
                         max_zoom=MAX_ZOOM, max_native_zoom=18, overlay=True).add_to(m)
    elif provider == "amap":
        amap_lang = "en" if lang == "en" else "zh_cn"
        folium.TileLayer(
            f"https://webrd0{{s}}.is.autonavi.com/appmaptile?lang={amap_lang}&size=1&scale=1&style=8&x={{x}}&y={{y}}&z={{z}}",
            name=translate("base_amap", lang), attr='&copy; <a href="https://www.amap.com/">高德地图</a>',
            subdomains="1234", max_zoom=MAX_ZOOM, max_native_zoom=18,
        ).add_to(m)


def base_map(provider: str, lang: str, static_prefix: str = "/static/", tianditu_key: str = "",
             location=CITY_CENTRE, zoom: int = 11) -> folium.Map:
    """A folium map with our vendored Leaflet (no CDN) and the provider's tiles.

    ``location`` is WGS-84 ``(lat, lon)``; it is shifted to GCJ-02 for Amap.
    """
    lat, lon = location
    if display_crs(provider) != "wgs84":
        lon, lat = from_wgs84(lon, lat, display_crs(provider))
    # tiles=None means no default tile layer; maxZoom goes to L.map (marker clustering needs it).
    m = folium.Map(location=[lat, lon], zoom_start=zoom, tiles=None, control_scale=True, maxZoom=MAX_ZOOM,
                   minZoom=MIN_ZOOM, prefer_canvas=False)
    # Per instance, never on the class (that would leak into every later map in the process).
    # No jQuery: none of the folium elements we use calls $(), and it was a third of the
    # script bytes every map page parsed (tests/browser check that pages run without errors).
    m.default_js = [("leaflet", f"{static_prefix}vendor/leaflet/leaflet.js")]
    m.default_css = [("leaflet_css", f"{static_prefix}vendor/leaflet/leaflet.css")]
    add_tiles(m, provider, lang, tianditu_key)
    return m


def _shift(geometries, crs: str):
    if crs == "wgs84":
        return geometries

    def shift_xy(xy):
        x, y = from_wgs84(xy[:, 0], xy[:, 1], crs)
        return np.column_stack([x, y])

    return shapely.transform(geometries, shift_xy)


def outline_collection(districts, lang: str = "zh", crs: str = "wgs84",
                       tolerance_deg: float = OUTLINE_TOLERANCE_DEG) -> dict:
    """District outlines as a GeoJSON FeatureCollection, simplified and rounded for a web map.

    Coordinates are in ``crs`` (``wgs84`` or ``gcj02`` for Amap tiles). Properties:
    ``adcode`` and ``name`` (in ``lang``).
    """
    frame = districts.frame
    geoms = shapely.simplify(frame.geometry.to_numpy(), tolerance_deg, preserve_topology=True)
    geoms = _shift(geoms, crs)
    geoms = shapely.transform(geoms, lambda xy: np.round(xy, OUTLINE_DECIMALS))
    names = frame["name_en"] if lang == "en" else frame["name_zh"]
    features = [
        {"type": "Feature", "properties": {"adcode": str(code), "name": str(name)},
         "geometry": json.loads(shapely.to_geojson(geom))}
        for code, name, geom in zip(frame["adcode"], names, geoms, strict=True)
    ]
    return {"type": "FeatureCollection", "features": features}


def district_bounds(districts, crs: str = "wgs84") -> list[list[float]]:
    """``[[south, west], [north, east]]`` of the municipality in ``crs``, for ``fitBounds``."""
    minx, miny, maxx, maxy = districts.frame.total_bounds
    if crs != "wgs84":
        (minx, maxx), (miny, maxy) = from_wgs84(np.array([minx, maxx]), np.array([miny, maxy]), crs)
    return [[float(miny), float(minx)], [float(maxy), float(maxx)]]


def add_district_outlines(m: folium.Map, lang: str, outlines: dict | None = None) -> folium.GeoJson:
    """The outline overlay: non-interactive (taps go through to the map and markers), in the layer control.

    Without ``outlines`` the layer starts empty and the page script fills it from the cacheable
    ``/map/districts.geojson`` (``pages.district_outlines``) once the station request is on its way:
    inlined, the outlines were 250 KB of every page and of its parse time, fetched on every visit.
    """
    style = JsCode("function () { return " + json.dumps(OUTLINE_STYLE) + "; }")
    data = outlines if outlines is not None else {"type": "FeatureCollection", "features": []}
    layer = folium.GeoJson(data, name=translate("layer_districts", lang), interactive=False, smooth_factor=1.0,
                           style=style)
    layer.add_to(m)
    return layer


class Legend(MacroElement):
    """A Leaflet control listing the station kinds with their colours; built with DOM calls, no HTML strings."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function () {
            var entries = {{ this.entries|tojson }};
            var legend = L.control({position: "bottomright"});
            legend.onAdd = function () {
                var box = L.DomUtil.create("div", "sm-legend leaflet-bar");
                var details = document.createElement("details");
                details.open = window.innerWidth >= 640;
                var summary = document.createElement("summary");
                summary.textContent = {{ this.title|tojson }};
                details.appendChild(summary);
                var list = document.createElement("ul");
                entries.forEach(function (e) {
                    var item = document.createElement("li");
                    var swatch = document.createElement("span");
                    swatch.className = "sm-swatch " + e.cls;
                    swatch.setAttribute("aria-hidden", "true");
                    item.appendChild(swatch);
                    item.appendChild(document.createTextNode(e.label));
                    list.appendChild(item);
                });
                details.appendChild(list);
                box.appendChild(details);
                L.DomEvent.disableClickPropagation(box);
                return box;
            };
            legend.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
    """)

    def __init__(self, lang: str, kinds=None, honoured: bool = True, cluster_note: bool = True):
        super().__init__()
        self._name = "Legend"
        kinds = list(kinds or schema.KINDS)
        self.title = translate("legend_title", lang)
        self.entries = [{"cls": f"sm-kind-{k}", "label": schema.kind_label(k, lang)} for k in kinds]
        if honoured:
            self.entries.append({"cls": "sm-kind-outdoor_station sm-honoured", "label": translate("legend_honoured", lang)})
        if cluster_note:
            self.entries.append({"cls": "sm-swatch-cluster", "label": translate("legend_cluster", lang)})


class InitialView(MacroElement):
    """Fit ``[[south, west], [north, east]]`` at once. folium's ``fit_bounds`` animates the zoom, and the
    animation's end would undo a view the page script sets from the URL meanwhile."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.fitBounds({{ this.bounds|tojson }}, {animate: false});
        {% endmacro %}
    """)

    def __init__(self, bounds):
        super().__init__()
        self._name = "InitialView"
        self.bounds = bounds


class Bridge(MacroElement):
    """Hands the folium-made map, layer control and outline layer to our page scripts as ``window.stationmapMap``.

    folium declares the layer control with ``let``, which other scripts cannot reach by
    name; this element runs inside folium's script, after them, and publishes them.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        window.stationmapMap = {
            map: {{ this._parent.get_name() }},
            control: {{ this.control.get_name() if this.control else "null" }},
            outlines: {{ this.outlines.get_name() if this.outlines else "null" }},
            displayCrs: {{ this.crs|tojson }}
        };
        {% endmacro %}
    """)

    def __init__(self, crs: str, control=None, outlines=None):
        super().__init__()
        self._name = "Bridge"
        self.crs = crs
        self.control = control
        self.outlines = outlines


def finish(m: folium.Map, provider: str, *, control=True, outlines=None, legend: Legend | None = None,
           fit=None) -> MapParts:
    """Add the layer control, legend and bridge, optionally fit ``[[s, w], [n, e]]``, and render."""
    layer_control = None
    if control:
        layer_control = folium.LayerControl(position="topright", collapsed=True)
        layer_control.add_to(m)
    if legend is not None:
        legend.add_to(m)
    if fit is not None:
        InitialView(fit).add_to(m)
    Bridge(display_crs(provider), layer_control, outlines).add_to(m)
    figure = m.get_root()
    figure.render()
    # Markup is right here: folium rendered only our strings, the schema's labels and the district
    # file (each through tojson inside scripts); no station text is ever given to folium.
    html, script = figure.html.render(), figure.script.render()
    return MapParts(html=Markup(html), script=Markup(script), name=m.get_name())  # noqa: S704


def overview_map(districts, provider: str, lang: str, static_prefix: str = "/static/", tianditu_key: str = "") -> MapParts:
    """The home page map: tiles, district outlines (filled by the page script), layer control and legend.

    Stations come from the page script too, per view, from the API.
    """
    crs = display_crs(provider)
    m = base_map(provider, lang, static_prefix, tianditu_key)
    outlines = add_district_outlines(m, lang)
    return finish(m, provider, outlines=outlines, legend=Legend(lang), fit=district_bounds(districts, crs))


def finder_map(districts, provider: str, lang: str, static_prefix: str = "/static/", tianditu_key: str = "") -> MapParts:
    """The nearest-station page's small map: outlines for orientation when tiles do not load."""
    m = base_map(provider, lang, static_prefix, tianditu_key, zoom=12)
    outlines = add_district_outlines(m, lang)
    return finish(m, provider, outlines=outlines, legend=Legend(lang, honoured=False, cluster_note=False))


def coverage_map(provider: str, lang: str, static_prefix: str = "/static/", tianditu_key: str = "", districts=None) -> MapParts:
    """The planners' map; the choropleth and gap layers are added by the page script from the API."""
    m = base_map(provider, lang, static_prefix, tianditu_key, zoom=8)
    fit = district_bounds(districts, display_crs(provider)) if districts is not None else None
    return finish(m, provider, fit=fit)


def station_map(feature: dict, provider: str, lang: str, static_prefix: str = "/static/", tianditu_key: str = "") -> MapParts:
    """A small map centred on one station, with a marker but no popup or tooltip (no station text in folium)."""
    lon, lat = feature["geometry"]["coordinates"][:2]
    props = feature["properties"]
    m = base_map(provider, lang, static_prefix, tianditu_key, location=(lat, lon), zoom=16)
    shown_lon, shown_lat = from_wgs84(lon, lat, display_crs(provider)) if display_crs(provider) != "wgs84" else (lon, lat)
    kind = props["kind"] if props.get("kind") in schema.KINDS else "outdoor_station"
    css = f"sm-pin sm-kind-{kind}" + (" sm-honoured" if props.get("honours") else "")
    folium.Marker([shown_lat, shown_lon], icon=folium.DivIcon(html="", class_name=css, icon_size=(28, 28),
                                                              icon_anchor=(14, 14))).add_to(m)
    return finish(m, provider, control=provider == "tianditu")  # only Tianditu has a layer to switch
