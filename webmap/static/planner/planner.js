/* The planners' workbench (/planner): population-weighted coverage for a service circle and an hour
 * (/api/population-coverage, /api/gap-cells), new-site plans (/api/plan, GET or POST with a candidates
 * CSV), proposals on the map and in a ranked list, charts as <img> from /api/charts/*, downloads.
 *
 * Safety rule as in common.js: every text from the server (district and candidate names) reaches the
 * page through textContent or attribute setters. Nothing here uses innerHTML with data.
 */
(function () {
  "use strict";
  var SM = window.SM, L = window.L, bridge = window.stationmapMap;
  if (!SM) return;
  var config = SM.config, limits = config.limits, presets = config.presets;
  var root = document.documentElement;

  function T(key, values) { return SM.t(key, values); }
  function byId(id) { return document.getElementById(id); }

  var form = byId("plan-form"), statusEl = byId("planner-status"), summaryEl = byId("summary");
  var radiusInput = byId("radius-input"), atInput = byId("at-input"), districtSelect = byId("district-select");
  var newInput = byId("new-input"), limitInput = byId("time-limit-input"), fileInput = byId("candidates-input");
  var runButton = byId("run-plan"), list = byId("proposal-list"), noPlan = byId("no-plan"), planSummary = byId("plan-summary");
  var downloads = byId("downloads"), table = byId("planner-table");
  var charts = { coverage: byId("chart-coverage"), cdf: byId("chart-cdf"), plan: byId("chart-plan") };

  var state = { coverage: null, plan: null, coverageKey: null };
  var coverageFlight = null, planFlight = null, gapsFlight = null, stationsFlight = null;

  function setStatus(text, isError) {
    statusEl.textContent = text || "";
    statusEl.classList.toggle("is-error", !!isError);
  }

  function people(n) { return T("planner.people", { n: SM.formatNumber(n) }); }

  function radiusLabel(r) {
    return r >= 1000 ? SM.t("kilometres", { n: String(Math.round(r / 100) / 10) }) : SM.t("metres", { n: Math.round(r) });
  }

  function districtName(row) {
    if (!row) return "";
    return config.lang === "en" ? (row.district_en || row.district || "") : (row.district || "");
  }

  function withLang(url) {
    return url + (url.indexOf("?") >= 0 ? "&" : "?") + "lang=" + encodeURIComponent(config.lang);
  }

  /* ---- the form ------------------------------------------------------------------------- */

  function checked(name) {
    var input = form.querySelector('input[name="' + name + '"]:checked');
    return input ? input.value : null;
  }

  /** The controls as API parameters, or {error} naming what to fix. */
  function readForm() {
    var preset = checked("preset");
    var radius = preset && preset !== "custom" ? presets[preset] : Number(radiusInput.value);
    if (!(radius >= 1 && radius <= limits.maxRadius)) return { error: T("planner.invalid_radius"), field: radiusInput };
    var at = null;
    if (checked("hours") === "at") {
      if (!/^\d{1,2}:\d{2}$/.test(atInput.value)) return { error: T("planner.invalid_time"), field: atInput };
      at = atInput.value;
    }
    var n = Number(newInput.value);
    if (!(Number.isInteger(n) && n >= 1 && n <= limits.maxNew)) return { error: T("planner.invalid_new", { max: limits.maxNew }), field: newInput };
    var method = checked("method") || "greedy";
    var timeLimit = Number(limitInput.value);
    if (method !== "greedy" && !(timeLimit >= 1 && timeLimit <= limits.maxTimeLimit)) {
      return { error: T("planner.invalid_limit", { max: limits.maxTimeLimit }), field: limitInput };
    }
    var district = districtSelect.value || null;
    return {
      radius: radius, at: at, district: district, n: n, method: method, timeLimit: timeLimit,
      grid: district ? limits.districtCell : limits.cityCell,
      file: fileInput.files && fileInput.files.length ? fileInput.files[0] : null,
    };
  }

  function coverageQuery(f) {
    return { radius_m: f.radius, at: f.at, grid_m: f.grid };
  }

  function planQuery(f) {
    var q = { new: f.n, radius_m: f.radius, district: f.district, method: f.method, at: f.at };
    if (f.method !== "greedy") q.time_limit_s = f.timeLimit;
    return q;
  }

  /** The URL always holds the current settings, and plan=1 once a plan is shown: a reload or a shared link
   *  reproduces it (uploaded candidates cannot travel in a link, so such plans are not re-run). */
  function rememberInUrl(f) {
    var q = { radius_m: f.radius, at: f.at, district: f.district, new: f.n, method: f.method };
    if (f.method !== "greedy") q.time_limit_s = f.timeLimit;
    if (state.plan && !state.planFromFile && state.planKey === JSON.stringify(planQuery(f))) q.plan = 1;
    history.replaceState(null, "", window.location.pathname + SM.query(q));
    SM.syncLangLinks();
  }

  function syncControls() {
    var method = checked("method");
    limitInput.disabled = method === "greedy";
    byId("time-limit-label").classList.toggle("is-disabled", method === "greedy");
  }

  /* ---- the map ------------------------------------------------------------------------- */

  var map = bridge && bridge.map, control = bridge && bridge.control, outlines = bridge && bridge.outlines;
  var layers = {};

  function escapeHtml(text) {  // Leaflet's layer control inserts overlay names as HTML
    var span = document.createElement("span");
    span.textContent = text;
    return span.innerHTML;
  }

  function latlng(lon, lat) {
    var p = SM.toDisplay(lon, lat);
    return [p[1], p[0]];
  }

  if (map) {
    var canvas = L.canvas({ padding: 0.3 });
    layers.existing = L.layerGroup().addTo(map);
    layers.gaps = L.geoJSON(null, {
      style: function () { return { color: "#c92a2a", weight: 0, fillColor: "#e03131", fillOpacity: 0.45 }; },
      onEachFeature: function (feature, layer) {
        var p = feature.properties || {};
        layer.bindTooltip(SM.el("div", null, [
          SM.el("strong", { text: p.district || "" }), SM.el("br"),
          T("planner.col_uncovered") + ": " + people(p.residents), SM.el("br"),
          SM.formatDistance(p.nearest_m),
        ]), { sticky: true });
      },
    }).addTo(map);
    layers.circles = L.layerGroup().addTo(map);
    layers.sites = L.layerGroup().addTo(map);
    if (control) {
      control.addOverlay(layers.existing, escapeHtml(T("planner.layer_existing")));
      control.addOverlay(layers.gaps, escapeHtml(T("planner.layer_gap_cells")));
      control.addOverlay(layers.circles, escapeHtml(T("planner.layer_circles")));
      control.addOverlay(layers.sites, escapeHtml(T("planner.layer_proposals")));
    }
    var Legend = L.Control.extend({
      options: { position: "bottomright" },
      onAdd: function () {
        var box = L.DomUtil.create("div", "pl-legend leaflet-bar");
        var details = SM.el("details", null, [SM.el("summary", { text: SM.t("legend_title") })]);
        details.open = window.innerWidth >= 640;
        [["pl-key-existing", T("planner.legend_existing")], ["pl-key-gap", T("planner.legend_gap")], ["pl-key-site", T("planner.legend_site")]]
          .forEach(function (entry) {
            details.appendChild(SM.el("div", null, [SM.el("i", { className: entry[0], "aria-hidden": "true" }), entry[1]]));
          });
        box.appendChild(details);
        L.DomEvent.disableClickPropagation(box);
        return box;
      },
    });
    new Legend().addTo(map);
    map.on("moveend", SM.debounce(loadStations, 250));
    layers.canvas = canvas;
  }

  function outlineLayers(fn) {
    if (outlines && outlines.eachLayer) outlines.eachLayer(fn);
  }

  // The outlines arrive after the page (SM.loadOutlines); a district picked before then is focused when they do.
  var pendingFocus;
  new MutationObserver(function () {
    if (root.dataset.outlines === "drawn" && pendingFocus !== undefined) {
      var code = pendingFocus;
      pendingFocus = undefined;
      focusDistrict(code);
    }
  }).observe(root, { attributes: true, attributeFilter: ["data-outlines"] });

  function focusDistrict(code) {
    if (root.dataset.outlines !== "drawn") { pendingFocus = code; return; }
    var bounds = null;
    outlineLayers(function (layer) {
      var p = layer.feature && layer.feature.properties;
      var selected = !!code && p && p.adcode === code;
      if (selected) layer.setStyle({ color: "#a51d1d", weight: 3, opacity: 1, dashArray: null });
      else if (outlines.resetStyle) outlines.resetStyle(layer);
      if (selected) bounds = layer.getBounds();
    });
    if (!map) return;
    if (bounds) map.fitBounds(bounds, { animate: false, padding: [12, 12] });
    else if (outlines && outlines.getBounds) map.fitBounds(outlines.getBounds(), { animate: false });
  }

  /** Existing stations, faint: what is in view, grouped into cells by the server when dense. */
  function loadStations() {
    if (!map) return;
    var b = map.getBounds();
    var sw = SM.fromDisplay(b.getWest(), b.getSouth()), ne = SM.fromDisplay(b.getEast(), b.getNorth());
    var bbox = [Math.max(-180, sw[0]), Math.max(-90, sw[1]), Math.min(180, ne[0]), Math.min(90, ne[1])]
      .map(function (v) { return v.toFixed(5); }).join(",");
    if (stationsFlight) stationsFlight.abort();
    var controller = new AbortController();
    stationsFlight = controller;
    SM.api("/stations", { fields: "min", group: "auto", bbox: bbox, zoom: map.getZoom() }, controller.signal).then(function (body) {
      if (stationsFlight !== controller) return;
      layers.existing.clearLayers();
      (body.features || []).forEach(function (f) {
        var c = f.geometry.coordinates, p = f.properties || {};
        var count = p.cluster ? p.count : 1;
        L.circleMarker(latlng(c[0], c[1]), {
          renderer: layers.canvas, radius: p.cluster ? Math.min(14, 3 + 2 * Math.log2(count)) : 3.5, color: "#495057",
          weight: 1, opacity: 0.55, fillColor: "#868e96", fillOpacity: 0.35, interactive: false,
        }).addTo(layers.existing);
      });
      root.dataset.stations = "drawn";
    }).catch(function (error) {
      if (error.name !== "AbortError") setStatus(T("planner.load_failed", { message: error.message }), true);
    });
  }

  function loadGaps(f) {
    if (!map) return;
    if (gapsFlight) gapsFlight.abort();
    var controller = new AbortController();
    gapsFlight = controller;
    var q = coverageQuery(f);
    q.limit = limits.gapCells;
    q.district = f.district;
    SM.api("/gap-cells", q, controller.signal).then(function (collection) {
      if (gapsFlight !== controller) return;
      layers.gaps.clearLayers();
      layers.gaps.addData(SM.geojsonToDisplay(collection));
      root.dataset.gaps = String(collection.count);
    }).catch(function (error) {
      if (error.name !== "AbortError") setStatus(T("planner.load_failed", { message: error.message }), true);
    });
  }

  /* ---- coverage ------------------------------------------------------------------------- */

  function coverageKey(f) { return [f.radius, f.at, f.district].join("|"); }

  function loadCoverage() {
    var f = readForm();
    if (f.error) { setStatus(f.error, true); return; }
    var key = coverageKey(f);
    if (key === state.coverageKey) return;
    var districtChanged = !state.lastForm || state.lastForm.district !== f.district;
    var radiusChanged = !state.lastForm || state.lastForm.radius !== f.radius;
    if (state.plan && (districtChanged || radiusChanged)) clearPlan();
    state.lastForm = f;
    state.coverageKey = key;
    rememberInUrl(f);
    if (districtChanged) focusDistrict(f.district);
    if (coverageFlight) coverageFlight.abort();
    var controller = new AbortController();
    coverageFlight = controller;
    setStatus(T("planner.computing"));
    root.dataset.coverage = "loading";
    table.setAttribute("aria-busy", "true");
    SM.api("/population-coverage", Object.assign(coverageQuery(f), { gaps: 0 }), controller.signal).then(function (body) {
      if (coverageFlight !== controller) return;
      coverageFlight = null;
      state.coverage = body;
      table.removeAttribute("aria-busy");
      renderSummary(f);
      renderTable();
      setCharts(f);
      byId("population-source").textContent = body.population_source || "";
      setStatus("");
      root.dataset.coverage = "ready";
    }).catch(function (error) {
      if (error.name === "AbortError") return;
      coverageFlight = null;
      state.coverageKey = null;
      table.removeAttribute("aria-busy");
      root.dataset.coverage = "failed";
      setStatus(T("planner.load_failed", { message: error.message }), true);
    });
    loadGaps(f);
  }

  function scopeRow(f) {
    var body = state.coverage;
    if (!body) return null;
    if (!f.district) return body.totals;
    return (body.districts || []).filter(function (r) { return r.adcode === f.district; })[0] || null;
  }

  function renderSummary(f) {
    SM.clear(summaryEl);
    var row = scopeRow(f);
    if (!row) return;
    var scope = f.district ? districtName(row) : T("planner.district_all");
    summaryEl.appendChild(SM.el("h2", { text: T("planner.summary_title", { scope: scope, r: radiusLabel(f.radius) }) }));
    if (f.at) {
      var label = state.coverage && state.coverage.at_label ? state.coverage.at_label[config.lang === "en" ? "en" : "zh"] : f.at;
      summaryEl.appendChild(SM.el("p", { className: "muted pl-at-note", text: T("planner.at_note", { t: label }) }));
    }
    var items = [
      ["pop", T("planner.col_pop_share"), SM.formatShare(row.population_share)],
      ["area", T("planner.col_area_share"), SM.formatShare(row.area_share)],
      ["per", T("planner.col_per_station"), SM.formatNumber(row.residents_per_station)],
      ["stations", T("planner.col_stations"), SM.formatNumber(row.stations)],
      ["median", T("planner.col_median"), SM.formatDistance(row.median_distance_m)],
      ["uncovered", T("planner.col_uncovered"), SM.formatNumber(row.residents_uncovered)],
    ];
    summaryEl.appendChild(SM.el("dl", { className: "pl-figures" }, items.map(function (item) {
      return SM.el("div", { className: "pl-figure pl-figure-" + item[0] }, [SM.el("dt", { text: item[1] }), SM.el("dd", { text: item[2] })]);
    })));
  }

  /* ---- table --------------------------------------------------------------------------- */

  function renderTable() {
    var body = state.coverage;
    if (!body) return;
    var f = state.lastForm || {};
    var plan = state.plan, after = {};
    if (plan) (plan.districts || []).forEach(function (d) { after[d.adcode] = d; });
    var columns = [
      { label: T("planner.col_rank"), num: true, value: function (r, i) { return i === null ? "" : String(i + 1); } },
      { label: T("planner.col_district"), head: true, value: function (r) { return r.adcode === config.city ? T("planner.totals") : districtName(r); } },
      { label: T("planner.col_population"), num: true, value: function (r) { return SM.formatNumber(r.population); } },
      { label: T("planner.col_stations"), num: true, value: function (r) { return SM.formatNumber(r.stations); } },
      { label: T("planner.col_per_station"), num: true, value: function (r) { return SM.formatNumber(r.residents_per_station); } },
      { label: T("planner.col_pop_share"), num: true, value: function (r) { return SM.formatShare(r.population_share); } },
      { label: T("planner.col_area_share"), num: true, value: function (r) { return SM.formatShare(r.area_share); } },
      { label: T("planner.col_median"), num: true, value: function (r) { return SM.formatDistance(r.median_distance_m); } },
      { label: T("planner.col_uncovered"), num: true, value: function (r) { return SM.formatNumber(r.residents_uncovered); } },
    ];
    if (plan) {
      var totals = { adcode: config.city, share_before: plan.share_before, share_after: plan.share_after, added: plan.added,
                     new_sites: plan.sites_chosen };
      var pick = function (r) { return r.adcode === config.city ? totals : after[r.adcode]; };
      columns = columns.concat([
        { label: T("planner.col_after"), num: true, value: function (r) { var a = pick(r); return a ? SM.formatShare(a.share_after) : "–"; } },
        { label: T("planner.col_added"), num: true, value: function (r) { var a = pick(r); return a ? SM.formatNumber(a.added) : "–"; } },
        { label: T("planner.col_new"), num: true, value: function (r) { var a = pick(r); return a ? SM.formatNumber(a.new_sites) : "–"; } },
      ]);
    }
    var rowsByCode = {};
    (body.districts || []).forEach(function (r) { rowsByCode[r.adcode] = r; });
    var order = (body.worst_served || []).filter(function (code) { return rowsByCode[code]; });
    var thead = SM.clear(table.querySelector("thead")), tbody = SM.clear(table.querySelector("tbody"));
    var tfoot = SM.clear(table.querySelector("tfoot"));
    thead.appendChild(SM.el("tr", null, columns.map(function (c) {
      return SM.el("th", { scope: "col", className: c.num ? "num" : null, text: c.label });
    })));
    function cells(row, index, footer) {
      return columns.map(function (c) {
        var tag = c.head && !footer ? "th" : "td";
        return SM.el(tag, { className: c.num ? "num" : null, scope: tag === "th" ? "row" : null, text: c.value(row, index) });
      });
    }
    order.forEach(function (code, i) {
      var row = rowsByCode[code];
      tbody.appendChild(SM.el("tr", { className: code === f.district ? "is-selected" : null, dataset: { adcode: code } },
        cells(row, i, false)));
    });
    if (body.totals) tfoot.appendChild(SM.el("tr", null, cells(body.totals, null, true)));
  }

  /* ---- charts --------------------------------------------------------------------------- */

  function setImage(img, url) {
    if (img.parentNode && img.parentNode.tagName === "A") img.parentNode.href = url;
    if (img.getAttribute("src") !== url) {
      img.dataset.loaded = "";
      img.onload = function () { img.dataset.loaded = "1"; };
      img.setAttribute("src", url);
    }
    img.hidden = false;
  }

  function setCharts(f) {
    var q = coverageQuery(f);
    q.lang = config.lang;
    byId("download-coverage-csv").href = config.api + "/population-coverage.csv" + SM.query(q);
    byId("download-coverage-xlsx").href = config.api + "/population-coverage.xlsx" + SM.query(q);
    setImage(charts.coverage, config.api + "/charts/coverage.svg" + SM.query(q));
    if (f.district) q.district = f.district;
    setImage(charts.cdf, config.api + "/charts/distance-cdf.svg" + SM.query(q));
  }

  /* ---- plans ---------------------------------------------------------------------------- */

  function readJson(response) {
    return response.json().catch(function () { return null; }).then(function (body) {
      if (!response.ok || (body && body.ok === false)) {
        var message = "HTTP " + response.status;
        if (body && body.errors && body.errors.length) {
          message = body.errors.map(function (e) { return (e.where ? e.where + ": " : "") + e.message; }).join("; ");
        }
        throw new Error(message);
      }
      return body;
    });
  }

  function requestPlan(f, signal) {
    var q = planQuery(f);
    if (!f.file) return SM.api("/plan", q, signal);
    var data = new FormData();
    Object.keys(q).forEach(function (k) { if (q[k] !== null && q[k] !== undefined) data.append(k, q[k]); });
    data.append("candidates", f.file);
    return fetch(config.api + "/plan", { method: "POST", body: data, signal: signal, credentials: "same-origin",
                                          headers: { Accept: "application/json", "Accept-Language": config.lang || "zh" } }).then(readJson);
  }

  function clearPlan() {
    state.plan = null;
    SM.clear(list);
    SM.clear(planSummary);
    noPlan.hidden = false;
    downloads.hidden = true;
    byId("chart-plan-figure").hidden = true;
    if (layers.sites) { layers.sites.clearLayers(); layers.circles.clearLayers(); }
    delete root.dataset.plan;
    renderTable();
  }

  var cancelButton = byId("cancel-plan"), elapsedTimer = null;

  function stopElapsed() {
    if (elapsedTimer) clearInterval(elapsedTimer);
    elapsedTimer = null;
    cancelButton.hidden = true;
  }

  /** A long exact solve: the seconds so far, and a button that cancels it. */
  function startElapsed(f) {
    stopElapsed();
    if (f.method === "greedy") { setStatus(T("planner.planning")); return; }
    var started = Date.now();
    var tick = function () {
      setStatus(T("planner.plan_elapsed", { s: Math.round((Date.now() - started) / 1000), limit: f.timeLimit }));
    };
    tick();
    elapsedTimer = setInterval(tick, 1000);
    cancelButton.hidden = false;
  }

  function runPlan() {
    var f = readForm();
    if (f.error) { setStatus(f.error, true); if (f.field) f.field.focus(); return; }
    loadCoverage();
    if (planFlight) planFlight.abort();
    var controller = new AbortController();
    planFlight = controller;
    runButton.disabled = true;
    root.dataset.plan = "running";
    startElapsed(f);
    requestPlan(f, controller.signal).then(function (plan) {
      if (planFlight !== controller) return;
      planFlight = null;
      stopElapsed();
      runButton.disabled = false;
      state.plan = plan;
      state.planFromFile = !!f.file;
      state.planKey = JSON.stringify(planQuery(f));
      rememberInUrl(f);
      renderPlan(plan, f);
      renderTable();
      setStatus(plan.shortfall ? plan.shortfall[config.lang === "en" ? "en" : "zh"] : T("planner.plan_ready", { n: plan.sites_chosen }),
                false);
      root.dataset.plan = "ready";
    }).catch(function (error) {
      stopElapsed();
      runButton.disabled = false;
      if (error.name === "AbortError") {
        if (planFlight === controller) { planFlight = null; root.dataset.plan = "cancelled"; setStatus(T("planner.plan_cancelled")); }
        return;
      }
      planFlight = null;
      root.dataset.plan = "failed";
      setStatus(T("planner.plan_failed", { message: error.message }), true);
    });
  }

  cancelButton.addEventListener("click", function () {
    if (planFlight) planFlight.abort();
  });

  function statusText(p) {
    var code = "planner.status_" + p.status;  // a code built at run time: listed in translations/runtime_codes.py
    var text = T(code);
    if (text === code) text = String(p.status);
    if (p.best_bound !== null && p.best_bound !== undefined && p.status !== "optimal") {
      text += "；" + T("planner.bound", { n: SM.formatNumber(p.best_bound), gap: SM.formatShare(p.gap) });
    }
    return text + "；" + T("planner.runtime", { s: (p.runtime_s || 0).toFixed(1) });
  }

  /** Grid-cell candidates are named "cell <col>,<row>" by the server; say so in the page language. */
  function siteName(site) {
    var name = String((config.lang === "en" ? site.name_en : site.name) || site.name || "");
    return /^cell -?\d+,-?\d+$/.test(name) ? T("planner.grid_cell", { id: name.slice(5) }) : name;
  }

  function renderPlan(plan, f) {
    noPlan.hidden = true;
    SM.clear(planSummary);
    planSummary.appendChild(SM.el("p", { className: "pl-plan-totals", text: T("planner.plan_totals", {
      before: SM.formatNumber(plan.covered_before), after: SM.formatNumber(plan.covered_after),
      share_before: SM.formatShare(plan.share_before), share_after: SM.formatShare(plan.share_after) }) }));
    var runs = [plan].concat(plan.alternative ? [plan.alternative] : []);
    var box = SM.el("div", { className: "pl-compare" }, [plan.alternative ? SM.el("h3", { text: T("planner.compare_title") }) : null]);
    runs.forEach(function (p) {
      var methodCode = "planner.method_label_" + p.method;  // listed in translations/runtime_codes.py
      box.appendChild(SM.el("p", { className: "pl-run", dataset: { method: p.method } }, [
        SM.el("strong", { text: T(methodCode) }),
        " " + T("planner.objective") + " ",
        SM.el("span", { className: "pl-objective", text: SM.formatNumber(p.objective) }),
        SM.el("br"),
        SM.el("span", { className: "muted", text: statusText(p) }),
      ]));
    });
    if (plan.comparison && plan.comparison.greedy_over_exact) {
      box.appendChild(SM.el("p", { className: "muted", text: T("planner.greedy_ratio", { pct: SM.formatShare(plan.comparison.greedy_over_exact) }) }));
    }
    planSummary.appendChild(box);
    if (plan.shortfall) {
      planSummary.appendChild(SM.el("p", { className: "pl-shortfall", role: "note",
                                            text: plan.shortfall[config.lang === "en" ? "en" : "zh"] }));
    }
    if (plan.provenance && plan.provenance.at) {
      planSummary.appendChild(SM.el("p", { className: "hint", text: T("planner.plan_hours_note", {
        t: plan.provenance.at_label[config.lang === "en" ? "en" : "zh"] }) }));
    }
    (plan.notes || []).forEach(function (note) { planSummary.appendChild(SM.el("p", { className: "hint", text: note })); });

    SM.clear(list);
    if (layers.sites) { layers.sites.clearLayers(); layers.circles.clearLayers(); }
    var markers = {};
    (plan.sites || []).forEach(function (site) {
      var where = latlng(site.lon, site.lat);
      if (map) {
        var number = SM.el("span", { className: "pl-site-number", text: String(site.rank) });
        var marker = L.marker(where, {
          icon: L.divIcon({ className: "pl-site", html: number, iconSize: [30, 30], iconAnchor: [15, 15] }),
          title: siteName(site), alt: String(site.rank), keyboard: true, riseOnHover: true,
        });
        marker.bindTooltip(SM.el("div", null, [
          SM.el("strong", { text: site.rank + ". " + siteName(site) }), SM.el("br"),
          T("planner.site_added", { n: SM.formatNumber(site.residents_added) }),
        ]));
        marker.addTo(layers.sites);
        markers[site.rank] = marker;
        L.circle(where, { radius: plan.radius_m, color: "#c92a2a", weight: 1, opacity: 0.7, fillColor: "#c92a2a",
                          fillOpacity: 0.08, interactive: false }).addTo(layers.circles);
      }
      var zoom = SM.el("button", { type: "button", className: "proposal-rank", text: String(site.rank),
                                   "aria-label": T("planner.site_zoom", { n: site.rank }) });
      zoom.addEventListener("click", function () {
        if (!map) return;
        map.setView(where, Math.max(map.getZoom(), 13));
        if (markers[site.rank]) markers[site.rank].openTooltip();
      });
      list.appendChild(SM.el("li", { className: "proposal", dataset: { rank: String(site.rank) } }, [
        zoom,
        SM.el("div", { className: "proposal-body" }, [
          SM.el("p", { className: "proposal-name", text: siteName(site) }),
          SM.el("p", { className: "proposal-meta", text: site.district + " · WGS-84 " + Number(site.lon).toFixed(5) + ", " +
                       Number(site.lat).toFixed(5) + " · GCJ-02 " + Number(site.lon_gcj02).toFixed(5) + ", " + Number(site.lat_gcj02).toFixed(5) }),
          SM.el("p", { className: "proposal-added" }, [
            SM.el("strong", { text: T("planner.site_added", { n: SM.formatNumber(site.residents_added) }) }),
            " · " + T("planner.site_cumulative", { n: SM.formatNumber(site.cumulative_added) }),
          ]),
        ]),
      ]));
    });

    if (map && layers.circles.getLayers().length) {
      map.fitBounds(L.featureGroup(layers.circles.getLayers()).getBounds(), { animate: false, padding: [16, 16], maxZoom: 14 });
    }

    var links = plan.links || {};
    byId("download-csv").href = withLang(links.csv);
    byId("download-geojson").href = links.geojson;
    byId("download-xlsx").href = withLang(links.xlsx);
    byId("report-link").href = withLang(links.report);
    downloads.hidden = false;
    byId("chart-plan-figure").hidden = false;
    setImage(charts.plan, withLang(links.chart));
  }

  /* ---- wiring --------------------------------------------------------------------------- */

  var refresh = SM.debounce(loadCoverage, 300);
  form.addEventListener("change", function (event) {
    var name = event.target.name;
    syncControls();
    if (name === "preset" && event.target.value === "custom") { radiusInput.focus(); return; }
    if (name === "hours" && event.target.value === "at" && !atInput.value) {
      var now = new Date();
      atInput.value = String(now.getHours()).padStart(2, "0") + ":" + String(now.getMinutes()).padStart(2, "0");
    }
    if (name === "preset" || name === "hours" || name === "at" || name === "district" || name === "radius_m") refresh();
    var f = readForm();
    if (!f.error) rememberInUrl(f);
  });
  radiusInput.addEventListener("input", function () {
    var custom = form.querySelector('input[name="preset"][value="custom"]');
    if (custom) custom.checked = true;
  });
  atInput.addEventListener("input", function () {
    var at = form.querySelector('input[name="hours"][value="at"]');
    if (at) at.checked = true;
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    runPlan();
  });

  syncControls();
  if (config.initial && config.initial.plan) runPlan(); else loadCoverage();
  loadStations();
  SM.loadOutlines();
})();
