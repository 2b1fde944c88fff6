/* The planners' page (/coverage): for a radius R, a choropleth of districts by the share of land within R
 * of a station (/api/districts?geometry=1), the uncovered gaps (/api/gaps, loaded when switched on),
 * a sortable table and a bar chart (/api/coverage), and download links. All text via textContent.
 */
(function () {
  "use strict";
  var SM = window.SM, bridge = window.stationmapMap, L = window.L;
  if (!SM) return;
  var map = bridge && bridge.map, control = bridge && bridge.control;
  var config = SM.config;

  var form = document.getElementById("radius-form");
  var radiusInput = document.getElementById("radius-input");
  var statusEl = document.getElementById("coverage-status");
  var table = document.getElementById("coverage-table");
  var tbody = table.querySelector("tbody"), tfoot = table.querySelector("tfoot");
  var chart = document.getElementById("chart"), chartTitle = document.getElementById("chart-title");
  var totalsEl = document.getElementById("totals");
  var csvLink = document.getElementById("download-csv"), gapsLink = document.getElementById("download-gaps");

  var BREAKS = [0.02, 0.05, 0.1, 0.2, 0.4];
  var COLOURS = ["#fff5f0", "#fcbba1", "#fb6a4a", "#de2d26", "#a50f15", "#67000d"];
  var KIND_KEYS = config.kindOrder || Object.keys(config.kinds);

  var state = { radius: Number(config.radius) || 1000, rows: [], totals: null, sortKey: "covered_share", sortDir: "descending" };
  var inFlight = null;

  function setStatus(text, isError) {
    statusEl.textContent = text || "";
    statusEl.classList.toggle("is-error", !!isError);
  }

  function radiusLabel(r) {
    return r >= 1000 && r % 100 === 0 ? SM.t("kilometres", { n: r / 1000 }) : SM.t("metres", { n: r });
  }

  /** Table rows carry district/district_en, district features name_zh/name_en. */
  function districtName(row) {
    if (config.lang === "en") return row.district_en || row.name_en || row.district || row.name_zh || "";
    return row.district || row.name_zh || "";
  }

  function shareColour(share) {
    var i = 0;
    while (i < BREAKS.length && share >= BREAKS[i]) i++;
    return COLOURS[i];
  }

  /* ---- map layers ---------------------------------------------------------------------- */

  var choropleth = null, gapsLayer = null, gapsRadius = null;
  if (map) {
    choropleth = L.geoJSON(null, {
      style: function (feature) {
        var share = Number(feature.properties.covered_share) || 0;
        return { fillColor: shareColour(share), fillOpacity: 0.72, color: "#ffffff", weight: 1, opacity: 0.9 };
      },
      onEachFeature: function (feature, layer) {
        var p = feature.properties;
        layer.bindTooltip(SM.el("div", null, [
          SM.el("strong", { text: districtName(p) }),
          SM.el("br"),
          SM.t("col_share") + ": " + SM.formatShare(p.covered_share),
          SM.el("br"),
          SM.t("col_stations") + ": " + SM.formatNumber(p.stations),
        ]), { sticky: true });
      },
    }).addTo(map);
    gapsLayer = L.geoJSON(null, {
      style: function () { return { color: "#c92a2a", weight: 0.5, fillColor: "#c92a2a", fillOpacity: 0.35 }; },
      interactive: false,
    });
    if (control) {
      control.addOverlay(choropleth, escapeHtml(SM.t("layer_share")));
      control.addOverlay(gapsLayer, escapeHtml(SM.t("layer_gaps")));
    }
    map.on("overlayadd", function (event) {
      if (event.layer === gapsLayer && gapsRadius !== state.radius) loadGaps();
    });
    var Legend = L.Control.extend({
      options: { position: "bottomright" },
      onAdd: function () {
        var box = L.DomUtil.create("div", "share-legend leaflet-bar");
        box.appendChild(SM.el("strong", { text: SM.t("share_legend") }));
        var bounds = [0].concat(BREAKS);
        bounds.forEach(function (lower, i) {
          var upper = BREAKS[i];
          var text = upper === undefined ? "≥ " + Math.round(lower * 100) + "%" : Math.round(lower * 100) + "–" + Math.round(upper * 100) + "%";
          box.appendChild(SM.el("div", null, [SM.el("i", { className: "c" + i }), text]));
        });
        box.appendChild(SM.el("div", null, [SM.el("i", { className: "gap" }), SM.t("layer_gaps")]));
        return box;
      },
    });
    new Legend().addTo(map);
  }

  function escapeHtml(text) {
    var span = document.createElement("span");
    span.textContent = text;
    return span.innerHTML;
  }

  function loadGaps() {
    var radius = state.radius;
    gapsRadius = radius;
    SM.api("/gaps", { radius_m: radius }).then(function (collection) {
      if (radius !== state.radius) return;
      gapsLayer.clearLayers();
      gapsLayer.addData(SM.geojsonToDisplay(collection));
    }).catch(function (error) {
      gapsRadius = null;
      setStatus(SM.t("load_failed", { message: error.message }), true);
    });
  }

  /* ---- table ------------------------------------------------------------------------- */

  var COLUMNS = [
    { key: "district", numeric: false, format: function (row) { return districtName(row); } },
  ].concat(KIND_KEYS.map(function (kind) {
    return { key: kind, numeric: true, format: function (row) { return SM.formatNumber(row[kind]); } };
  })).concat([
    { key: "stations", numeric: true, format: function (row) { return SM.formatNumber(row.stations); } },
    { key: "per_10k_residents", numeric: true, format: function (row) { return SM.formatNumber(row.per_10k_residents, 2); } },
    { key: "per_100km2", numeric: true, format: function (row) { return SM.formatNumber(row.per_100km2, 2); } },
    { key: "covered_share", numeric: true, format: function (row) { return SM.formatShare(row.covered_share); } },
    { key: "population_share", numeric: true, format: function (row) { return row.population_share == null ? "…" : SM.formatShare(row.population_share); } },
  ]);

  function sortValue(row, key) {
    if (key === "district") return districtName(row) || "";
    var v = Number(row[key]);
    return isNaN(v) ? -Infinity : v;
  }

  function renderTable() {
    var key = state.sortKey, dir = state.sortDir === "ascending" ? 1 : -1;
    var collator = new Intl.Collator(config.lang === "en" ? "en" : "zh-CN");
    var rows = state.rows.slice().sort(function (a, b) {
      var x = sortValue(a, key), y = sortValue(b, key);
      var c = typeof x === "string" ? collator.compare(x, y) : x - y;
      return c * dir || collator.compare(districtName(a) || "", districtName(b) || "");
    });
    SM.clear(tbody);
    rows.forEach(function (row) {
      tbody.appendChild(SM.el("tr", { dataset: { adcode: String(row.adcode || "") } }, COLUMNS.map(function (col) {
        return SM.el(col.key === "district" ? "th" : "td", { className: col.numeric ? "num" : null, scope: col.key === "district" ? "row" : null, text: col.format(row) });
      })));
    });
    SM.clear(tfoot);
    if (state.totals) {
      var totals = Object.assign({ district: SM.t("totals"), district_en: SM.t("totals") }, state.totals);
      tfoot.appendChild(SM.el("tr", null, COLUMNS.map(function (col) {
        return SM.el("td", { className: col.numeric ? "num" : null, text: col.key === "district" ? SM.t("totals") : col.format(totals) });
      })));
    }
    table.querySelectorAll("thead th").forEach(function (th) {
      th.setAttribute("aria-sort", th.getAttribute("data-key") === key ? state.sortDir : "none");
    });
  }

  table.querySelectorAll("thead th").forEach(function (th) {
    th.querySelector("button").addEventListener("click", function () {
      var key = th.getAttribute("data-key");
      if (state.sortKey === key) state.sortDir = state.sortDir === "ascending" ? "descending" : "ascending";
      else { state.sortKey = key; state.sortDir = key === "district" ? "ascending" : "descending"; }
      renderTable();
    });
  });

  /* ---- totals and chart ------------------------------------------------------------------ */

  function renderTotals() {
    SM.clear(totalsEl);
    var t = state.totals;
    if (!t) return;
    var items = [[SM.t("col_stations"), SM.formatNumber(t.stations)]];
    KIND_KEYS.forEach(function (kind) { if (kind in t) items.push([SM.kindLabel(kind), SM.formatNumber(t[kind])]); });
    if ("population" in t) items.push([SM.t("col_population"), SM.formatNumber(t.population)]);
    items.push([SM.t("col_per_10k"), SM.formatNumber(t.per_10k_residents, 2)]);
    items.push([SM.t("col_per_100km2"), SM.formatNumber(t.per_100km2, 2)]);
    items.push([SM.t("col_share") + " (" + radiusLabel(state.radius) + ")", SM.formatShare(t.covered_share)]);
    var dl = SM.el("dl");
    items.forEach(function (item) {
      dl.appendChild(SM.el("dt", { text: item[0] }));
      dl.appendChild(SM.el("dd", { text: item[1] }));
    });
    totalsEl.appendChild(SM.el("h2", { text: SM.t("totals") }));
    totalsEl.appendChild(dl);
    if (t.area_method === "grid") totalsEl.appendChild(SM.el("p", { className: "note", text: SM.t("cov_grid_note") }));
  }

  function renderChart() {
    var rows = state.rows.slice().sort(function (a, b) { return (b.covered_share || 0) - (a.covered_share || 0); });
    // Drawn at the container's pixel width, so the 12 px labels stay 12 px on a phone.
    var width = Math.max(300, Math.min(900, (chart.clientWidth || 640) - 16));
    var en = config.lang === "en";
    var labelW = Math.round(Math.min(en ? 230 : 128, width * (en ? 0.4 : 0.3))), valueW = 52, rowH = 22, top = 6;
    var barW = width - labelW - valueW - 8;
    var height = top + rows.length * rowH + 6;
    var max = Math.max(0.0001, rows.reduce(function (m, r) { return Math.max(m, r.covered_share || 0); }, 0));
    var svg = SM.el("svg:svg", { viewBox: "0 0 " + width + " " + height, role: "img", "aria-labelledby": "chart-title" });
    rows.forEach(function (row, i) {
      var y = top + i * rowH, share = row.covered_share || 0, name = districtName(row) || "";
      var limit = Math.max(4, Math.floor((labelW - 8) / (en ? 6.6 : 12.5)));
      var short = name.length > limit ? name.slice(0, limit - 1) + "…" : name;
      var g = SM.el("svg:g", null, [
        SM.el("svg:title", { text: name + ": " + SM.formatShare(share) }),
        SM.el("svg:text", { x: labelW - 6, y: y + 15, "text-anchor": "end", text: short }),
        SM.el("svg:rect", { className: "bar-bg", x: labelW, y: y + 3, width: barW, height: rowH - 6, rx: 3 }),
        SM.el("svg:rect", { className: "bar", x: labelW, y: y + 3, width: Math.max(1, barW * share / max), height: rowH - 6, rx: 3 }),
        SM.el("svg:text", { className: "value", x: labelW + barW + 6, y: y + 15, text: SM.formatShare(share) }),
      ]);
      svg.appendChild(g);
    });
    SM.clear(chart).appendChild(svg);
    chartTitle.textContent = SM.t("chart_title", { r: radiusLabel(state.radius) });
  }

  /* ---- loading ---------------------------------------------------------------------- */

  function updateLinks() {
    csvLink.href = config.api + "/coverage.csv" + SM.query({ radius_m: state.radius, lang: config.lang });
    gapsLink.href = config.api + "/gaps" + SM.query({ radius_m: state.radius });
    gapsLink.setAttribute("download", "gaps-" + state.radius + "m.geojson");
    history.replaceState(null, "", window.location.pathname + SM.query({ radius_m: state.radius }));
    SM.syncLangLinks();
  }

  function load(radius) {
    if (!(radius >= 1 && radius <= 50000)) { setStatus(SM.t("radius_invalid"), true); return; }
    state.radius = Math.round(radius);
    radiusInput.value = state.radius;
    updateLinks();
    if (inFlight) inFlight.abort();
    var controller = new AbortController();
    inFlight = controller;
    setStatus(SM.t("computing"));
    table.setAttribute("aria-busy", "true");
    var r = state.radius;
    Promise.all([
      SM.api("/coverage", { radius_m: r }, controller.signal),
      map ? SM.api("/districts", { geometry: 1, radius_m: r }, controller.signal) : Promise.resolve(null),
      // Residents within R (census-modelled grid), the same figures as /planner and the CLI.
      SM.api("/population-coverage", { radius_m: r }, controller.signal),
    ]).then(function (results) {
      if (inFlight !== controller) return;
      inFlight = null;
      table.removeAttribute("aria-busy");
      var residents = {};
      (results[2].districts || []).forEach(function (row) { residents[row.adcode] = row.population_share; });
      state.rows = (results[0].districts || []).map(function (row) {
        return Object.assign({}, row, { population_share: residents[row.adcode] });
      });
      state.totals = results[0].totals ? Object.assign({}, results[0].totals, { population_share: results[2].totals.population_share }) : null;
      renderTable();
      renderTotals();
      renderChart();
      if (choropleth && results[1]) {
        choropleth.clearLayers();
        choropleth.addData(SM.geojsonToDisplay(results[1]));
      }
      if (gapsLayer && map.hasLayer(gapsLayer)) loadGaps();
      setStatus("");
      document.documentElement.dataset.coverage = String(r);
      document.dispatchEvent(new CustomEvent("sm:coverage", { detail: { radius: r } }));
    }).catch(function (error) {
      if (error.name === "AbortError") return;
      inFlight = null;
      table.removeAttribute("aria-busy");
      setStatus(SM.t("load_failed", { message: error.message }), true);
    });
  }

  window.addEventListener("resize", SM.debounce(function () { if (state.rows.length) renderChart(); }, 200));

  form.addEventListener("change", function (event) {
    if (event.target.name !== "radius_choice") return;
    if (event.target.value === "custom") { radiusInput.focus(); return; }
    load(Number(event.target.value));
  });
  radiusInput.addEventListener("input", function () {
    var custom = form.querySelector('input[name="radius_choice"][value="custom"]');
    if (custom) custom.checked = true;
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    load(Number(radiusInput.value));
  });

  load(state.radius);
})();
