/* Shared helpers for the stationmap pages: config and strings, safe DOM building, the JSON API,
 * WGS-84 <-> GCJ-02 for Amap tiles, navigation links and the station card.
 *
 * Safety rule: station text (names, addresses, phones...) only ever reaches the page through
 * textContent, attribute setters or URL encoding here. Nothing in this file uses innerHTML.
 */
(function () {
  "use strict";

  var configEl = document.getElementById("sm-config");
  var config = configEl ? JSON.parse(configEl.textContent) : { strings: {}, kinds: {}, api: "/api", lang: "zh" };
  var SM = (window.SM = { config: config });

  /* ---- strings -------------------------------------------------------------------- */

  SM.t = function (key, values) {
    var text = Object.prototype.hasOwnProperty.call(config.strings, key) ? config.strings[key] : key;
    if (values) {
      text = text.replace(/\{(\w+)\}/g, function (whole, name) {
        return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
      });
    }
    return text;
  };

  /* ---- DOM ------------------------------------------------------------------------- */

  /** el("a", {className: "btn", href: url, text: label}, [children]) - text via textContent only. */
  SM.el = function (tag, attrs, children) {
    var node = tag.indexOf("svg:") === 0
      ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
      : document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var value = attrs[name];
        if (value === undefined || value === null || value === false) return;
        if (name === "text") node.textContent = String(value);
        else if (name === "className") node.setAttribute("class", value);
        else if (name === "dataset") Object.keys(value).forEach(function (k) { node.dataset[k] = value[k]; });
        else if (name.indexOf("on") === 0 && typeof value === "function") node.addEventListener(name.slice(2), value);
        else node.setAttribute(name, value === true ? "" : String(value));
      });
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  };

  SM.clear = function (node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  };

  SM.debounce = function (fn, ms) {
    var timer = null;
    return function () {
      var args = arguments, self = this;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(self, args); }, ms);
    };
  };

  /** Kind codes become CSS class suffixes only if we know them. */
  SM.kindClass = function (kind) {
    return Object.prototype.hasOwnProperty.call(config.kinds, kind) ? "sm-kind-" + kind : "sm-kind-unknown";
  };
  SM.kindLabel = function (kind) {
    return Object.prototype.hasOwnProperty.call(config.kinds, kind) ? config.kinds[kind].label : String(kind || "");
  };

  /* ---- API ------------------------------------------------------------------------- */

  function query(params) {
    var search = new URLSearchParams();
    Object.keys(params || {}).forEach(function (key) {
      var value = params[key];
      if (value === undefined || value === null || value === "") return;
      if (Array.isArray(value)) value.forEach(function (v) { search.append(key, v); });
      else search.append(key, value);
    });
    var text = search.toString();
    return text ? "?" + text : "";
  }
  SM.query = query;

  /** GET config.api + path; resolves to parsed JSON, rejects with Error(message) using the error envelope. */
  SM.api = function (path, params, signal) {
    // Accept-Language: the page's language, so error messages and notes in the answer match the page.
    return fetch(config.api + path + query(params), { signal: signal, headers: { Accept: "application/json", "Accept-Language": config.lang || "zh" },
                                                     credentials: "same-origin" })
      .then(function (response) {
        return response.json().catch(function () { return null; }).then(function (body) {
          if (!response.ok || (body && body.ok === false)) {
            var message = "HTTP " + response.status;
            if (body && body.errors && body.errors.length) {
              message = body.errors.map(function (e) { return (e.where ? e.where + ": " : "") + e.message; }).join("; ");
            }
            var error = new Error(message);
            error.status = response.status;
            throw error;
          }
          return body;
        });
      });
  };

  var vocabularyPromise = null;
  /** The code -> label vocabulary in the page language, fetched once per page. */
  SM.vocabulary = function () {
    if (!vocabularyPromise) {
      vocabularyPromise = SM.api("/vocabulary", { lang: config.lang }).catch(function () {
        vocabularyPromise = null;
        return { kinds: {}, amenities: {}, honours: {}, statuses: {}, crs: {} };
      });
    }
    return vocabularyPromise;
  };

  var stationCache = {};
  SM.station = function (id) {
    if (!stationCache[id]) {
      stationCache[id] = SM.api("/stations/" + encodeURIComponent(id), { lang: config.lang }).catch(function (e) {
        delete stationCache[id];
        throw e;
      });
    }
    return stationCache[id];
  };

  /* ---- coordinates: GCJ-02 (Amap) ---------------------------------------------------- */
  // A port of geo/coords.py: the published GCJ-02 formula on the Krasovsky ellipsoid.
  var A = 6378245.0, EE = 0.00669342162296594323, PI = Math.PI;

  function inChina(lon, lat) { return lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271; }

  function gcjOffset(lon, lat) {
    var x = lon - 105.0, y = lat - 35.0, sx = Math.sqrt(Math.abs(x));
    var common = (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0;
    var dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx + common;
    dlat += (20.0 * Math.sin(y * PI) + 40.0 * Math.sin(y / 3.0 * PI)) * 2.0 / 3.0;
    dlat += (160.0 * Math.sin(y / 12.0 * PI) + 320.0 * Math.sin(y * PI / 30.0)) * 2.0 / 3.0;
    var dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx + common;
    dlon += (20.0 * Math.sin(x * PI) + 40.0 * Math.sin(x / 3.0 * PI)) * 2.0 / 3.0;
    dlon += (150.0 * Math.sin(x / 12.0 * PI) + 300.0 * Math.sin(x / 30.0 * PI)) * 2.0 / 3.0;
    var radLat = lat / 180.0 * PI, magic = 1 - EE * Math.sin(radLat) * Math.sin(radLat), sqrtMagic = Math.sqrt(magic);
    dlat = (dlat * 180.0) / ((A * (1 - EE)) / (magic * sqrtMagic) * PI);
    dlon = (dlon * 180.0) / (A / sqrtMagic * Math.cos(radLat) * PI);
    return [dlon, dlat];
  }

  SM.wgs84ToGcj02 = function (lon, lat) {
    if (!inChina(lon, lat)) return [lon, lat];
    var d = gcjOffset(lon, lat);
    return [lon + d[0], lat + d[1]];
  };

  SM.gcj02ToWgs84 = function (lon, lat) {
    if (!inChina(lon, lat)) return [lon, lat];
    var wlon = lon, wlat = lat;
    for (var i = 0; i < 30; i++) {
      var d = gcjOffset(wlon, wlat);
      var rlon = wlon + d[0] - lon, rlat = wlat + d[1] - lat;
      wlon -= rlon; wlat -= rlat;
      if (Math.abs(rlon) < 1e-10 && Math.abs(rlat) < 1e-10) break;
    }
    return [wlon, wlat];
  };

  /** WGS-84 [lon, lat] to the map's drawing system (GCJ-02 on Amap tiles). */
  SM.toDisplay = function (lon, lat) {
    return config.displayCrs === "gcj02" ? SM.wgs84ToGcj02(lon, lat) : [lon, lat];
  };
  /** The map's drawing system back to WGS-84. */
  SM.fromDisplay = function (lon, lat) {
    return config.displayCrs === "gcj02" ? SM.gcj02ToWgs84(lon, lat) : [lon, lat];
  };
  /** [lon, lat] typed in `crs` ("wgs84" | "gcj02") to the display system. */
  SM.inputToDisplay = function (lon, lat, crs) {
    if (crs === (config.displayCrs || "wgs84")) return [lon, lat];
    var w = crs === "gcj02" ? SM.gcj02ToWgs84(lon, lat) : [lon, lat];
    return SM.toDisplay(w[0], w[1]);
  };

  /** A GeoJSON object with every position moved to the display system (a copy; the input is untouched). */
  SM.geojsonToDisplay = function (geojson) {
    if (config.displayCrs !== "gcj02") return geojson;
    function coords(c) {
      if (typeof c[0] === "number") {
        var p = SM.wgs84ToGcj02(c[0], c[1]);
        return c.length > 2 ? [p[0], p[1]].concat(c.slice(2)) : p;
      }
      return c.map(coords);
    }
    function geometry(g) {
      if (!g) return g;
      if (g.type === "GeometryCollection") return { type: g.type, geometries: g.geometries.map(geometry) };
      return { type: g.type, coordinates: coords(g.coordinates) };
    }
    if (geojson.type === "FeatureCollection") {
      return Object.assign({}, geojson, {
        features: geojson.features.map(function (f) { return Object.assign({}, f, { geometry: geometry(f.geometry) }); }),
      });
    }
    if (geojson.type === "Feature") return Object.assign({}, geojson, { geometry: geometry(geojson.geometry) });
    return geometry(geojson);
  };

  /* ---- formatting ------------------------------------------------------------------ */

  SM.formatDistance = function (metres) {
    if (metres === null || metres === undefined || isNaN(metres)) return "";
    if (metres < 1000) return SM.t("metres", { n: Math.round(metres) });
    return SM.t("kilometres", { n: (metres / 1000).toFixed(1) });
  };

  /** 12,345.67 - by hand: the first Intl.NumberFormat costs tens of ms (ICU data) on a slow phone. */
  SM.formatNumber = function (value, digits) {
    if (value === null || value === undefined || value === "" || isNaN(value)) return "–";
    var text = Number(value).toFixed(digits || 0);
    var parts = text.split(".");
    parts[0] = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return parts.join(".");
  };

  SM.formatShare = function (share) {
    if (share === null || share === undefined || isNaN(share)) return "–";
    return (share * 100).toFixed(1) + "%";
  };

  function todayInChongqing() {
    try {
      return new Date().toLocaleDateString("en-CA", { timeZone: "Asia/Shanghai" });
    } catch (e) {
      return new Date().toISOString().slice(0, 10);
    }
  }

  /** "2024-05-01T18:00+08:00" as "18:00" today or "05-01 18:00" another day. */
  SM.formatChange = function (iso) {
    if (!iso || typeof iso !== "string") return "";
    var date = iso.slice(0, 10), time = iso.slice(11, 16);
    return date === todayInChongqing() ? time : date.slice(5) + " " + time;
  };

  /* ---- links ---------------------------------------------------------------------- */

  /** Route links for a WGS-84 point, as webmap/public/pages.py navigation_links builds them: Amap walking and
   *  riding (coordinate=wgs84), Baidu walking (coord_type=wgs84), geo: and OpenStreetMap. origin: [lon, lat] or null. */
  SM.navLinks = function (lon, lat, name, origin) {
    var x = Number(lon).toFixed(6), y = Number(lat).toFixed(6);
    var label = String(name || "");
    function amap(mode) {
      var params = new URLSearchParams();
      if (origin) params.append("from", Number(origin[0]).toFixed(6) + "," + Number(origin[1]).toFixed(6));
      params.append("to", x + "," + y + "," + label);
      params.append("mode", mode);
      params.append("policy", "1");
      params.append("coordinate", "wgs84");
      params.append("callnative", "1");
      params.append("src", "stationmap");
      return "https://uri.amap.com/navigation?" + params.toString().replace(/%2C/g, ",");
    }
    var baidu = new URLSearchParams();
    if (origin) baidu.append("origin", "latlng:" + Number(origin[1]).toFixed(6) + "," + Number(origin[0]).toFixed(6));
    baidu.append("destination", "latlng:" + y + "," + x + "|name:" + label);
    baidu.append("mode", "walking");
    baidu.append("region", "重庆");
    baidu.append("coord_type", "wgs84");
    baidu.append("output", "html");
    baidu.append("src", "stationmap");
    return {
      amap: amap("walk"),
      amap_ride: amap("ride"),
      baidu: "https://api.map.baidu.com/direction?" + baidu.toString().replace(/%2C/g, ",").replace(/%3A/g, ":").replace(/%7C/g, "|"),
      geo: "geo:" + y + "," + x + "?q=" + y + "," + x,
      osm: "https://www.openstreetmap.org/?mlat=" + y + "&mlon=" + x + "#map=17/" + y + "/" + x,
    };
  };

  SM.reportUrl = function (id) {
    return config.stationUrl + encodeURIComponent(id) + "/report";
  };

  SM.stationUrl = function (id) {
    return config.stationUrl + encodeURIComponent(id);
  };

  SM.telHref = function (phone) {
    var digits = String(phone || "").replace(/[^0-9+]/g, "");
    return digits ? "tel:" + digits : null;
  };

  /* ---- station card ------------------------------------------------------------------ */

  SM.openBadge = function (props) {
    var open = !!props.open_now;
    var nodes = [SM.el("span", { className: "badge " + (open ? "badge-open" : "badge-closed"), text: SM.t(open ? "open_now" : "closed_now") })];
    if (props.hours_status) {
      nodes.push(SM.el("span", { className: "next-change", text: props.hours_status }));
      return nodes;
    }
    var change = SM.formatChange(props.next_change);
    if (change) {
      nodes.push(SM.el("span", { className: "next-change", text: SM.t(open ? "closes_at" : "opens_at", { time: change }) }));
    }
    return nodes;
  };

  SM.navButtons = function (lon, lat, props, withDetails, origin) {
    var links = SM.navLinks(lon, lat, props.name, origin);
    return SM.el("div", { className: "actions" }, [
      SM.el("a", { className: "btn btn-primary nav-amap", href: links.amap, target: "_blank", rel: "noopener noreferrer", text: SM.t("nav_amap") }),
      SM.el("a", { className: "btn nav-amap-ride", href: links.amap_ride, target: "_blank", rel: "noopener noreferrer", text: SM.t("nav_amap_ride") }),
      SM.el("a", { className: "btn nav-baidu", href: links.baidu, target: "_blank", rel: "noopener noreferrer", text: SM.t("nav_baidu") }),
      SM.el("a", { className: "btn nav-geo", href: links.geo, text: SM.t("nav_geo") }),
      withDetails === false ? null : SM.el("a", { className: "btn", href: SM.stationUrl(props.id), text: SM.t("details") }),
      SM.el("a", { className: "btn btn-quiet", href: links.osm, target: "_blank", rel: "noopener noreferrer", text: SM.t("nav_osm") }),
    ]);
  };

  function labelled(map, code) {
    return map && Object.prototype.hasOwnProperty.call(map, code) ? map[code] : String(code);
  }

  /** The popup card for a station Feature (from /api/stations/<id>), built with DOM calls only. */
  SM.stationCard = function (feature, vocabulary) {
    var p = feature.properties || {}, c = feature.geometry.coordinates;
    var vocab = vocabulary || {};
    var rows = [];
    function row(label, value) {
      if (value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length)) return;
      rows.push(SM.el("dt", { text: label }));
      rows.push(SM.el("dd", null, [typeof value === "string" ? value : value]));
    }
    row(SM.t("address"), p.address);
    row(SM.t("hours"), p.hours_text || p.opening_hours);
    var tel = SM.telHref(p.phone);
    if (p.phone) row(SM.t("phone"), tel ? SM.el("a", { href: tel, text: p.phone }) : p.phone);
    if (p.amenities && p.amenities.length) {
      row(SM.t("amenities"), SM.el("ul", { className: "chips-static" },
        p.amenities.map(function (a) { return SM.el("li", { text: labelled(vocab.amenities, a) }); })));
    }
    if (p.honours && p.honours.length) {
      row(SM.t("honours"), p.honours.map(function (h) { return labelled(vocab.honours, h); }).join("；"));
    }
    row(SM.t("operator"), p.operator);
    var meta = SM.kindLabel(p.kind) + (p.district ? " · " + p.district : "");
    return SM.el("article", { className: "sm-card", dataset: { id: String(p.id || "") } }, [
      SM.el("h3", { className: "sm-card-title", text: p.name }),
      SM.el("p", { className: "sm-meta" }, [
        SM.el("span", { className: "swatch " + SM.kindClass(p.kind) + (p.honours && p.honours.length ? " sm-honoured" : ""), "aria-hidden": "true" }),
        meta,
      ]),
      p.status && p.status !== "active"
        ? SM.el("p", { className: "notice notice-warn", text: SM.t("retired_notice") })
        : SM.el("p", null, SM.openBadge(p)),
      p.reported_closed ? SM.el("p", { className: "notice notice-warn sm-reported", text: SM.t("reported_closed_notice") }) : null,
      p.last_verified ? SM.el("p", { className: "verified" + (p.stale ? " is-stale" : ""),
        text: SM.t("last_verified", { date: p.last_verified }) + (p.stale ? " · " + SM.t("stale_note") : "") }) : null,
      SM.el("dl", null, rows),
      SM.navButtons(c[0], c[1], p, true),
      p.status === "active" ? SM.el("p", { className: "sm-report-link" }, [
        SM.el("a", { className: "btn btn-report", href: SM.reportUrl(p.id), text: SM.t("report_problem") })]) : null,
    ]);
  };

  /* ---- place search (finder and map): /api/search, offline, a list of buttons ---------------- */

  var PLACE_KINDS = { landmark: "place_kind_landmark", district: "place_kind_district", subdistrict: "place_kind_subdistrict",
                      street: "place_kind_street", station: "place_kind_station" };

  /** Wire a search form: typing asks /api/search; choosing a place calls onPick(place) with WGS-84 lon/lat. */
  SM.placeSearch = function (form, onPick) {
    if (!form) return;
    var input = form.querySelector("input[type=search]"), list = form.querySelector(".place-results");
    var controller = null;
    function show(places) {
      SM.clear(list);
      places.forEach(function (place) {
        var kind = Object.prototype.hasOwnProperty.call(PLACE_KINDS, place.kind) ? SM.t(PLACE_KINDS[place.kind]) : "";
        list.appendChild(SM.el("li", null, [SM.el("button", {
          type: "button", className: "place-option", dataset: { kind: place.kind },
          onclick: function () { list.hidden = true; input.value = place.name; onPick(place); },
        }, [SM.el("strong", { text: place.name }), SM.el("span", { className: "muted", text: " " + kind + (place.district ? " · " + place.district : "") })])]));
      });
      if (!places.length) list.appendChild(SM.el("li", { className: "muted", text: SM.t("place_not_found", { q: input.value }) }));
      list.hidden = false;
    }
    function lookUp(pickFirst) {
      var q = input.value.trim();
      if (!q) { list.hidden = true; return; }
      if (controller) controller.abort();
      controller = new AbortController();
      SM.api("/search", { q: q }, controller.signal).then(function (body) {
        if (pickFirst && body.results.length) { list.hidden = true; onPick(body.results[0]); return; }
        show(body.results || []);
      }).catch(function (error) { if (error.name !== "AbortError") show([]); });
    }
    input.addEventListener("input", SM.debounce(function () { lookUp(false); }, 200));
    form.addEventListener("submit", function (event) { event.preventDefault(); lookUp(true); });
  };

  /* ---- language links follow the page's own URL (query and #zoom/lat/lon) ------------------ */

  SM.syncLangLinks = function () {
    document.querySelectorAll(".lang-switch a[data-lang]").forEach(function (a) {
      var url = new URL(window.location.href);
      url.searchParams.set("lang", a.getAttribute("data-lang"));
      a.href = url.toString();
    });
  };
  SM.syncLangLinks();
  window.addEventListener("hashchange", SM.syncLangLinks);

  /* ---- district outlines: an empty folium layer, filled from a cacheable URL ------------------ */

  /** Page scripts call this after sending their own first request, so stations come first. */
  SM.loadOutlines = function () {
    var bridge = window.stationmapMap;
    if (!bridge || !bridge.outlines || !config.outlinesUrl) return;
    fetch(config.outlinesUrl, { credentials: "same-origin" })
      .then(function (response) { if (!response.ok) throw new Error("HTTP " + response.status); return response.json(); })
      .then(function (data) {
        bridge.outlines.addData(data);
        document.documentElement.dataset.outlines = "drawn";
      })
      .catch(function () { document.documentElement.dataset.outlines = "failed"; });
  };
})();
