/* The station map (/): loads the stations of the current view from /api/stations?bbox=...&group=auto
 * into one marker-cluster layer per kind (or, when the server groups a dense view, count bubbles),
 * refetches on moveend (debounced), and builds popups from /api/stations/<id> with DOM calls only.
 */
(function () {
  "use strict";
  var SM = window.SM, bridge = window.stationmapMap;
  if (!SM || !bridge || !window.L) return;
  var L = window.L, map = bridge.map, control = bridge.control;
  var kinds = SM.config.kindOrder || Object.keys(SM.config.kinds);

  /* ---- layers: per kind, a cluster group for points and a plain group for server cells ---- */

  function clusterIcon(kind) {
    return function (cluster) {
      var count = cluster.getChildCount();
      var size = count < 10 ? 34 : count < 100 ? 40 : count < 1000 ? 48 : 56;
      return L.divIcon({
        html: SM.el("span", { text: String(count) }),
        className: "sm-cluster " + SM.kindClass(kind),
        iconSize: [size, size],
      });
    };
  }

  var layers = {};
  kinds.forEach(function (kind) {
    var points = L.markerClusterGroup({
      showCoverageOnHover: false,
      spiderfyOnMaxZoom: true,
      maxClusterRadius: 56,
      disableClusteringAtZoom: 17,
      iconCreateFunction: clusterIcon(kind),
    });
    var cells = L.featureGroup();
    points.on("click", onStationClick);
    cells.on("click", onStationClick);
    var group = L.layerGroup([points, cells]).addTo(map);
    layers[kind] = { points: points, cells: cells, group: group, markers: new Map() };
    if (control) {
      // The layer control writes labels as HTML: pass only our own label, escaped.
      var label = document.createElement("span");
      label.appendChild(SM.el("span", { className: "sm-swatch " + SM.kindClass(kind), "aria-hidden": "true" }));
      label.appendChild(document.createTextNode(SM.kindLabel(kind)));
      control.addOverlay(group, label.innerHTML);
    }
  });
  // Cells the server did not split by kind.
  var mixedCells = L.featureGroup().addTo(map);
  mixedCells.on("click", onStationClick);
  if (control) control.addOverlay(mixedCells, escapeHtml(SM.t("layer_grouped")));

  function escapeHtml(text) {
    var span = document.createElement("span");
    span.textContent = text;
    return span.innerHTML;
  }

  /* ---- status line ------------------------------------------------------------------ */

  var Status = L.Control.extend({
    options: { position: "bottomleft" },
    onAdd: function () {
      var box = L.DomUtil.create("div", "sm-status");
      box.setAttribute("role", "status");
      box.setAttribute("aria-live", "polite");
      L.DomEvent.disableClickPropagation(box);
      return box;
    },
  });
  var status = new Status().addTo(map);
  function setStatus(text, isError, retry) {
    var box = status.getContainer();
    SM.clear(box);
    box.classList.toggle("is-error", !!isError);
    box.appendChild(document.createTextNode(text));
    if (retry) box.appendChild(SM.el("button", { type: "button", className: "btn", text: SM.t("retry"), onclick: retry }));
  }

  /* ---- popups: one for the map, filled from /api/stations/<id> ------------------------------ */

  var popup = L.popup({ maxWidth: 320, minWidth: 240, autoPanPadding: [24, 24], offset: [0, -6] });
  var popupFor = null;

  function openStation(marker) {
    var id = marker.stationId;
    var box = SM.el("div", { className: "sm-popup" }, [SM.el("p", { className: "sm-popup-loading", text: SM.t("loading") })]);
    popupFor = id;
    popup.setLatLng(marker.getLatLng()).setContent(box).openOn(map);
    Promise.all([SM.station(id), SM.vocabulary()]).then(function (results) {
      if (popupFor !== id || !popup.isOpen()) return;
      SM.clear(box).appendChild(SM.stationCard(results[0], results[1]));
      popup.setContent(box);  // re-measure and re-pan for the filled card
    }).catch(function (error) {
      SM.clear(box).appendChild(SM.el("p", { className: "status is-error", text: SM.t("load_failed", { message: error.message }) }));
    });
  }

  /* ---- markers ---------------------------------------------------------------------- */

  // Icons are shared: one per look, not one per station (thousands of markers per view).
  var icons = {};
  // Freshness from /api/freshness: stations not verified for a while, and those riders report closed.
  var flags = { stale: new Set(), closed: new Set() };
  function flagClass(id) {
    return flags.closed.has(id) ? " sm-reported" : flags.stale.has(id) ? " sm-stale" : "";
  }
  function stationIcon(kind, honoured, id) {
    var key = SM.kindClass(kind) + (honoured ? " sm-honoured" : "") + flagClass(id);
    if (!icons[key]) {
      icons[key] = L.divIcon({ html: "", className: "sm-pin " + key, iconSize: [28, 28], iconAnchor: [14, 14] });
    }
    return icons[key];
  }

  function stationMarker(feature) {
    var p = feature.properties, c = feature.geometry.coordinates;
    var shown = SM.toDisplay(c[0], c[1]);
    var honoured = Array.isArray(p.honours) ? p.honours.length > 0 : !!p.honoured;
    var name = p.name ? String(p.name) : "";
    // title and alt are set as DOM properties by Leaflet: text, never markup.
    var marker = L.marker([shown[1], shown[0]], { icon: stationIcon(p.kind, honoured, String(p.id)), title: name, alt: name, keyboard: true, riseOnHover: true });
    marker.stationId = String(p.id);
    marker.honoured = honoured;
    marker.kind = p.kind;
    return marker;
  }

  // One listener each instead of one per marker: ids on the icons (for tests and debugging), clicks.
  map.on("layeradd", function (event) {
    var layer = event.layer;
    if (layer.stationId && layer.getElement) {
      var icon = layer.getElement();
      if (icon) icon.setAttribute("data-id", layer.stationId);
    }
  });
  function onStationClick(event) {
    if (event.layer && event.layer.stationId) openStation(event.layer);
  }

  function cellMarker(feature) {
    var p = feature.properties, c = feature.geometry.coordinates;
    var shown = SM.toDisplay(c[0], c[1]);
    var n = Number(p.count) || 0;
    // At most geo.queries.grouping.BUBBLE_PX (60): the server keeps cells that far apart.
    var size = n < 100 ? 36 : n < 1000 ? 44 : n < 10000 ? 52 : 60;
    var kind = cellKind(p);
    var marker = L.marker([shown[1], shown[0]], {
      icon: L.divIcon({
        html: SM.el("span", { text: SM.formatNumber(n) }),
        className: "sm-cell" + (kind ? " " + SM.kindClass(kind) : ""),
        iconSize: [size, size],
      }),
      title: SM.t("stations_here", { n: n }),
      keyboard: true,
    });
    marker.on("click", function () {
      map.setView(marker.getLatLng(), Math.min(map.getZoom() + 2, map.getMaxZoom()));
    });
    return marker;
  }

  /** The one kind a server cell holds, if it holds only one (cells carry {"kinds": {kind: n}}). */
  function cellKind(p) {
    var present = Object.keys(p.kinds || {}).filter(function (k) { return p.kinds[k] > 0; });
    return present.length === 1 && layers[present[0]] ? present[0] : null;
  }

  function showPoints(features) {
    var byKind = {};
    kinds.forEach(function (kind) { byKind[kind] = new Map(); });
    features.forEach(function (f) {
      var kind = f.properties.kind;
      if (!byKind[kind]) return;
      byKind[kind].set(String(f.properties.id), f);
    });
    kinds.forEach(function (kind) {
      var layer = layers[kind], wanted = byKind[kind], stale = [], fresh = [];
      layer.cells.clearLayers();
      layer.markers.forEach(function (marker, id) {
        if (!wanted.has(id)) { stale.push(marker); layer.markers.delete(id); }
      });
      wanted.forEach(function (feature, id) {
        if (!layer.markers.has(id)) {
          var marker = stationMarker(feature);
          layer.markers.set(id, marker);
          fresh.push(marker);
        }
      });
      if (stale.length) layer.points.removeLayers(stale);
      if (fresh.length) layer.points.addLayers(fresh);
    });
    mixedCells.clearLayers();
  }

  function showCells(features) {
    kinds.forEach(function (kind) {
      var layer = layers[kind];
      layer.points.clearLayers();
      layer.markers.clear();
      layer.cells.clearLayers();
    });
    mixedCells.clearLayers();
    features.forEach(function (f) {
      var p = f.properties || {};
      // A cell holding one station arrives as that station.
      var kind = p.cluster ? cellKind(p) : p.kind;
      var marker = p.cluster ? cellMarker(f) : stationMarker(f);
      (kind && layers[kind] ? layers[kind].cells : mixedCells).addLayer(marker);
    });
  }

  /* ---- fetching the view --------------------------------------------------------------- */

  var inFlight = null;
  var loaded = null; // {bounds: L.LatLngBounds in display CRS, grouped: bool, zoom}

  function viewRequest() {
    var bounds = map.getBounds().pad(0.3);
    var sw = SM.fromDisplay(bounds.getWest(), bounds.getSouth());
    var ne = SM.fromDisplay(bounds.getEast(), bounds.getNorth());
    var clamp = function (v, lo, hi) { return Math.min(hi, Math.max(lo, v)); };
    var bbox = [clamp(sw[0], -180, 180), clamp(sw[1], -90, 90), clamp(ne[0], -180, 180), clamp(ne[1], -90, 90)]
      .map(function (v) { return v.toFixed(5); }).join(",");
    var shown = enabledKinds();
    return {
      bounds: bounds,
      kinds: shown.join(","),
      // Only the kinds switched on in the layer control, so cells count what is shown.
      params: { bbox: bbox, zoom: map.getZoom(), group: "auto", fields: "min", kind: shown.length < kinds.length ? shown : null },
    };
  }

  function enabledKinds() {
    return kinds.filter(function (kind) { return map.hasLayer(layers[kind].group); });
  }

  function draw(collection, request) {
    var features = collection.features || [];
    var grouped = !!collection.grouped;
    if (grouped) showCells(features); else showPoints(features);
    loaded = { bounds: request.bounds, grouped: grouped, kinds: request.kinds };
    var count = typeof collection.count === "number" ? collection.count : features.length;
    setStatus(SM.t(grouped ? "in_view_grouped" : "in_view", { n: SM.formatNumber(count) }));
    document.documentElement.dataset.stations = "drawn";
    document.dispatchEvent(new CustomEvent("sm:stations", { detail: { count: count, grouped: grouped } }));
  }

  /** The whole municipality's stations, requested from <head> before the scripts loaded (first view only). */
  function loadEarly() {
    var early = SM.config.early, pending = window.stationmapEarly;
    window.stationmapEarly = null;
    if (!early || !pending) return false;
    var sw = SM.toDisplay(early.bbox[0], early.bbox[1]), ne = SM.toDisplay(early.bbox[2], early.bbox[3]);
    var request = { bounds: L.latLngBounds([sw[1], sw[0]], [ne[1], ne[0]]), kinds: kinds.join(",") };
    var controller = new AbortController();
    controller.key = "early";
    inFlight = controller;
    document.documentElement.dataset.stations = "loading";
    setStatus(SM.t("loading"));
    pending.then(function (collection) {
      if (inFlight !== controller) return;
      inFlight = null;
      // Cells sized for a deeper zoom than the map settled on would overlap: ask for this view.
      var tooSmall = collection && collection.grouped && collection.zoom > map.getZoom();
      if (collection && collection.type === "FeatureCollection" && !tooSmall) draw(collection, request);
      else load();
    });
    return true;
  }

  function load() {
    // An ungrouped answer holds every station of its box: views inside it need no new request.
    if (!enabledKinds().length) {
      if (inFlight) inFlight.abort();
      inFlight = null;
      loaded = null;
      setStatus(SM.t("in_view", { n: 0 }));
      return;
    }
    if (loaded && !loaded.grouped && loaded.kinds === enabledKinds().join(",") && loaded.bounds.contains(map.getBounds())) {
      document.documentElement.dataset.stations = "drawn";
      return;
    }
    var request = viewRequest();
    var key = SM.query(request.params);
    if (inFlight && inFlight.key === key) return;  // the same view is already on its way
    if (inFlight) inFlight.abort();
    var controller = new AbortController();
    controller.key = key;
    inFlight = controller;
    document.documentElement.dataset.stations = "loading";
    setStatus(SM.t("loading"));
    SM.api("/stations", request.params, controller.signal).then(function (collection) {
      if (inFlight !== controller) return;
      inFlight = null;
      draw(collection, request);
    }).catch(function (error) {
      if (error.name === "AbortError") return;
      inFlight = null;
      setStatus(SM.t("load_failed", { message: error.message }), true, load);
    });
  }

  /* ---- view in the URL (#zoom/lat/lon, WGS-84) so a link or a language switch keeps it ---- */

  function readHash() {
    var m = /^#(\d{1,2})\/(-?\d+(?:\.\d+)?)\/(-?\d+(?:\.\d+)?)$/.exec(window.location.hash);
    if (!m) return false;
    var zoom = Number(m[1]), lat = Number(m[2]), lon = Number(m[3]);
    if (!(lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180)) return false;
    var shown = SM.toDisplay(lon, lat);
    map.setView([shown[1], shown[0]], zoom, { animate: false });
    return true;
  }

  function writeHash() {
    var c = map.getCenter(), w = SM.fromDisplay(c.lng, c.lat);
    var hash = "#" + map.getZoom() + "/" + w[1].toFixed(5) + "/" + w[0].toFixed(5);
    if (window.location.hash !== hash) history.replaceState(null, "", hash);
    SM.syncLangLinks();
  }

  function loadFreshness() {
    SM.api("/freshness").then(function (body) {
      flags.stale = new Set(body.stale || []);
      flags.closed = new Set(body.reported_closed || []);
      kinds.forEach(function (kind) {
        layers[kind].markers.forEach(function (marker, id) {
          if (flagClass(id)) marker.setIcon(stationIcon(marker.kind, marker.honoured, id));
        });
      });
      document.documentElement.dataset.freshness = "drawn";
    }).catch(function () { document.documentElement.dataset.freshness = "failed"; });
  }

  /* ---- no GPS, no tiles: 定位, place search, and saying when the base map failed -------------- */

  var tilesFailed = document.getElementById("tiles-failed");
  map.eachLayer(function (layer) {
    if (!(layer instanceof L.TileLayer)) return;
    var loadedTiles = 0, failedTiles = 0;
    layer.on("tileload", function () { loadedTiles += 1; if (tilesFailed) tilesFailed.hidden = true; });
    layer.on("tileerror", function () {
      failedTiles += 1;
      if (tilesFailed && failedTiles >= 2 && loadedTiles === 0) {
        tilesFailed.hidden = false;
        document.documentElement.dataset.tiles = "failed";
      }
    });
  });

  var youMarker = null;
  function showYou(lon, lat, zoom) {
    var shown = SM.toDisplay(lon, lat), latlng = [shown[1], shown[0]];
    if (!youMarker) {
      youMarker = L.marker(latlng, {
        icon: L.divIcon({ html: "", className: "sm-pin sm-you", iconSize: [26, 26], iconAnchor: [13, 13] }),
        title: SM.t("you_are_here"), keyboard: false, zIndexOffset: 1000,
      }).addTo(map);
    } else {
      youMarker.setLatLng(latlng);
    }
    map.setView(latlng, zoom || 15);
  }

  var Locate = L.Control.extend({
    options: { position: "topleft" },
    onAdd: function () {
      var button = SM.el("button", { type: "button", id: "locate-map", className: "sm-locate", title: SM.t("locate_me"),
                                     "aria-label": SM.t("locate_me"), text: SM.t("locate_me") });
      L.DomEvent.disableClickPropagation(button);
      button.addEventListener("click", function () {
        if (!("geolocation" in navigator)) { setStatus(SM.t("geo_unsupported"), true); return; }
        setStatus(SM.t("locating"));
        navigator.geolocation.getCurrentPosition(function (position) {
          showYou(position.coords.longitude, position.coords.latitude, 15);  // WGS-84
        }, function (error) {
          setStatus(SM.t("locate_failed", { message: error.code === 1 ? SM.t("geo_denied") : error.message || String(error.code) }), true);
        }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
      });
      return button;
    },
  });
  new Locate().addTo(map);

  SM.placeSearch(document.getElementById("place-search"), function (place) {
    showYou(place.lon, place.lat, place.kind === "district" ? 12 : 16);
  });

  var fromHash = readHash();
  if (control && window.innerWidth >= 900) control.expand();
  map.on("movestart", function () { document.documentElement.dataset.stations = "pending"; });
  map.on("moveend", SM.debounce(load, 200));
  map.on("overlayadd overlayremove", function (event) {
    if (kinds.some(function (kind) { return layers[kind].group === event.layer; })) load();
  });
  map.on("moveend", SM.debounce(writeHash, 300));
  window.addEventListener("hashchange", readHash);
  if (fromHash) window.stationmapEarly = null;
  if (!loadEarly()) load();
  SM.loadOutlines();
  loadFreshness();
})();
