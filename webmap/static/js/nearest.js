/* The rider's finder (/nearest): a position from the browser (WGS-84), a tap on the map or typed
 * coordinates (WGS-84 or GCJ-02); filters; the k nearest from /api/nearest as a list and on the map.
 * The server renders the same list for ?lon=&lat= links, so this script only takes over.
 */
(function () {
  "use strict";
  var SM = window.SM, bridge = window.stationmapMap, L = window.L;
  if (!SM) return;
  var map = bridge && bridge.map;

  var form = document.getElementById("finder");
  var locateButton = document.getElementById("locate");
  var statusEl = document.getElementById("status");
  var list = document.getElementById("results");
  var note = document.getElementById("results-note");
  var lonInput = document.getElementById("lon"), latInput = document.getElementById("lat"), crsSelect = document.getElementById("crs");

  var resultLayer = map ? L.featureGroup().addTo(map) : null;
  var youMarker = null;
  var inFlight = null;
  var markersById = {};

  function setStatus(text, isError) {
    statusEl.textContent = text || "";
    statusEl.classList.toggle("is-error", !!isError);
  }

  /* ---- the query ---------------------------------------------------------------------- */

  var farNotice = document.getElementById("far-notice"), farText = document.getElementById("far-text");
  var crsHint = document.getElementById("crs-hint");
  var typed = false;  // the point came from the coordinate boxes (not GPS, a tap or a place)
  var fromPlace = null;  // the name of the place the rider picked in the search box

  function number(text) {
    text = String(text).replace("，", ".").trim();
    return /^[-+]?(\d+\.?\d*|\.\d+)$/.test(text) ? parseFloat(text) : NaN;
  }

  function currentPoint() {
    var lon = number(lonInput.value), lat = number(latInput.value);
    if (!isFinite(lon) || !isFinite(lat)) return null;
    return { lon: lon, lat: lat, crs: crsSelect.value || "wgs84" };
  }

  /** What is wrong with the typed coordinates, in the rider's language with the fix; "" if nothing. */
  function pointProblem() {
    if (!String(lonInput.value).trim() && !String(latInput.value).trim()) return SM.t("no_position");
    var lon = number(lonInput.value), lat = number(latInput.value);
    if (!isFinite(lon) || !isFinite(lat)) return SM.t("not_a_number");
    var swapped = lon >= 27.9 && lon <= 32.5 && lat >= 105 && lat <= 110.5;
    if (swapped) return SM.t("swapped_hint");
    if (lon < -180 || lon > 180 || lat < -90 || lat > 90) return SM.t("out_of_range");
    return "";
  }

  function filters() {
    var data = new FormData(form);
    return {
      kind: data.get("kind") || "",
      amenity: data.getAll("amenity"),
      open_now: data.get("open_now") ? "1" : "",
      show_reported: data.get("show_reported") ? "1" : "",
      k: data.get("k") || "5",
    };
  }

  function setPoint(lon, lat, crs) {
    lonInput.value = lon.toFixed(6);
    latInput.value = lat.toFixed(6);
    crsSelect.value = crs;
    typed = false;
    fromPlace = null;
    search();
  }

  function search() {
    var problem = pointProblem();
    var point = currentPoint();
    if (problem || !point) { setStatus(problem || SM.t("no_position"), true); return; }
    var f = filters();
    var params = { lon: point.lon, lat: point.lat, crs: point.crs, k: f.k, kind: f.kind, amenity: f.amenity,
                   open_now: f.open_now, show_reported: f.show_reported, lang: SM.config.lang };
    // The page URL mirrors the query, so reloading or sharing it gives the same list (server-rendered).
    var pageParams = Object.assign({}, params);
    delete pageParams.lang;
    if (typed) params.typed = "1";
    history.replaceState(null, "", window.location.pathname + SM.query(pageParams));
    SM.syncLangLinks();

    if (inFlight) inFlight.abort();
    var controller = new AbortController();
    inFlight = controller;
    setStatus(SM.t("searching"));
    list.setAttribute("aria-busy", "true");
    drawYou(point);
    SM.api("/nearest", params, controller.signal).then(function (collection) {
      if (inFlight !== controller) return;
      inFlight = null;
      list.removeAttribute("aria-busy");
      render(collection.features || [], point, collection);
    }).catch(function (error) {
      if (error.name === "AbortError") return;
      inFlight = null;
      list.removeAttribute("aria-busy");
      setStatus(SM.t("load_failed", { message: error.message }), true);
    });
  }

  /* ---- rendering ---------------------------------------------------------------------- */

  function resultItem(feature, number, origin) {
    var p = feature.properties, c = feature.geometry.coordinates;
    var head = SM.el("div", { className: "result-head" }, [
      SM.el("span", { className: "result-number", "aria-hidden": "true", text: String(number) }),
      SM.el("div", { className: "result-title" }, [
        SM.el("h3", { text: p.name }),
        SM.el("p", { className: "result-kind" }, [
          SM.el("span", { className: "swatch " + SM.kindClass(p.kind), "aria-hidden": "true" }),
          SM.kindLabel(p.kind),
        ]),
      ]),
      SM.el("p", { className: "result-distance" }, [
        SM.el("strong", { text: SM.t("straight_line", { d: SM.formatDistance(p.distance_m) }) }),
        SM.el("span", { text: SM.t("walk_minutes", { n: p.walk_minutes }) }),
        SM.el("span", { text: SM.t("ride_minutes", { n: p.ride_minutes }) }),
      ]),
    ]);
    var chips = null;
    if (p.amenities && p.amenities.length) {
      chips = SM.el("ul", { className: "chips chips-static" });
      SM.vocabulary().then(function (vocab) {
        p.amenities.forEach(function (a) {
          var label = vocab.amenities && Object.prototype.hasOwnProperty.call(vocab.amenities, a) ? vocab.amenities[a] : a;
          chips.appendChild(SM.el("li", { text: label }));
        });
      });
    }
    return SM.el("li", { className: "result", dataset: { id: String(p.id) } }, [
      head,
      p.crosses_river ? SM.el("p", { className: "river-note", text: SM.t("crosses_river") }) : null,
      SM.el("p", { className: "result-open" }, SM.openBadge(p)),
      SM.el("p", { className: "result-address", text: p.address }),
      SM.el("p", { className: "result-hours", text: p.hours_text || p.opening_hours }),
      p.stale ? SM.el("p", { className: "verified is-stale",
        text: SM.t("last_verified", { date: p.last_verified }) + " · " + SM.t("stale_note") }) : null,
      chips,
      SM.navButtons(c[0], c[1], p, true, origin),
    ]);
  }

  function render(features, point, collection) {
    SM.clear(list);
    markersById = {};
    if (resultLayer) resultLayer.clearLayers();
    var wgsPoint = collection && collection.query ? [collection.query.lon, collection.query.lat] : null;
    farNotice.hidden = !(collection && collection.note);
    farText.textContent = collection && collection.message ? collection.message : "";
    crsHint.hidden = !(collection && collection.crs_hint);
    if (collection && collection.crs_hint) {
      var label = SM.config.crsLabels && SM.config.crsLabels[collection.crs_hint] ? SM.config.crsLabels[collection.crs_hint] : collection.crs_hint;
      crsHint.textContent = SM.t("crs_hint", { crs: label });
    }
    features.forEach(function (feature, i) {
      list.appendChild(resultItem(feature, i + 1, wgsPoint));
      if (resultLayer) {
        var c = feature.geometry.coordinates, shown = SM.toDisplay(c[0], c[1]);
        var marker = L.marker([shown[1], shown[0]], {
          icon: L.divIcon({
            html: SM.el("span", { className: "sm-pin-number", text: String(i + 1) }),
            className: "sm-pin sm-pin-numbered " + SM.kindClass(feature.properties.kind),
            iconSize: [30, 30], iconAnchor: [15, 15],
          }),
          title: String(feature.properties.name || ""),
          keyboard: true,
        });
        marker.on("click", function () { highlight(String(feature.properties.id)); });
        marker.addTo(resultLayer);
        markersById[String(feature.properties.id)] = marker;
      }
    });
    note.textContent = features.length || (collection && collection.note) ? "" : SM.t("no_results");
    var wgs = point.crs === "gcj02" ? SM.gcj02ToWgs84(point.lon, point.lat) : [point.lon, point.lat];
    setStatus(features.length ? SM.t("found_n", { n: features.length }) + " · " + (fromPlace
      ? SM.t("from_place", { name: fromPlace })
      : SM.t("results_from", { lon: wgs[0].toFixed(5), lat: wgs[1].toFixed(5) })) : "");
    fitResults();
    document.documentElement.dataset.results = String(features.length);
    document.dispatchEvent(new CustomEvent("sm:results", { detail: { count: features.length } }));
  }

  function highlight(id) {
    list.querySelectorAll(".result.is-highlighted").forEach(function (el) { el.classList.remove("is-highlighted"); });
    var item = list.querySelector('.result[data-id="' + CSS.escape(id) + '"]');
    if (item) {
      item.classList.add("is-highlighted");
      item.scrollIntoView({ behavior: "smooth", block: "nearest" });
    }
  }

  function drawYou(point) {
    if (!map) return;
    var shown = SM.inputToDisplay(point.lon, point.lat, point.crs);
    var latlng = [shown[1], shown[0]];
    if (!youMarker) {
      youMarker = L.marker(latlng, {
        icon: L.divIcon({ html: "", className: "sm-pin sm-you", iconSize: [26, 26], iconAnchor: [13, 13] }),
        title: SM.t("your_location"), keyboard: false, zIndexOffset: 1000,
      }).addTo(map);
    } else {
      youMarker.setLatLng(latlng);
    }
  }

  function fitResults() {
    if (!map) return;
    var bounds = resultLayer.getLayers().length ? resultLayer.getBounds() : null;
    if (youMarker) bounds = bounds ? bounds.extend(youMarker.getLatLng()) : L.latLngBounds([youMarker.getLatLng()]);
    if (bounds) map.fitBounds(bounds.pad(0.15), { maxZoom: 16, animate: false });
  }

  /* ---- inputs ------------------------------------------------------------------------ */

  function locate() {
    if (!("geolocation" in navigator)) { setStatus(SM.t("geo_unsupported"), true); return; }
    setStatus(SM.t("locating"));
    locateButton.disabled = true;
    navigator.geolocation.getCurrentPosition(function (position) {
      locateButton.disabled = false;
      // The Geolocation API reports WGS-84.
      setPoint(position.coords.longitude, position.coords.latitude, "wgs84");
    }, function (error) {
      locateButton.disabled = false;
      var message = error.code === 1 ? SM.t("geo_denied") : error.message || String(error.code);
      setStatus(SM.t("geo_failed", { message: message }), true);
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  }

  locateButton.hidden = false;
  locateButton.addEventListener("click", locate);
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    typed = true;
    fromPlace = null;
    search();
  });
  SM.placeSearch(document.getElementById("place-search"), function (place) {
    setPoint(place.lon, place.lat, "wgs84");  // clears fromPlace, so set it after
    fromPlace = place.name;
  });
  form.addEventListener("change", function (event) {
    // Filters re-run the search at once; coordinates wait for the Search button.
    var name = event.target.name;
    if ((name === "kind" || name === "amenity" || name === "open_now" || name === "show_reported" || name === "k") && currentPoint()) search();
  });
  if (map) {
    map.on("click", function (event) {
      // A tap gives a point in the map's drawing system (GCJ-02 on Amap tiles).
      setPoint(event.latlng.lng, event.latlng.lat, SM.config.displayCrs === "gcj02" ? "gcj02" : "wgs84");
    });
  }

  // The server already rendered results for ?lon=&lat=; draw them on the map too.
  if (currentPoint() && list.children.length) search();
  else if (map && currentPoint()) drawYou(currentPoint());
  SM.loadOutlines();
})();
