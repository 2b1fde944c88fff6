/* Upload preview: draws the rows of a checked upload on the finder's base map.
 *
 * Station text from the uploaded file (names, messages) is untrusted: it reaches the page only
 * through textContent on elements we create, and popups are given DOM nodes, never HTML strings.
 */
(function () {
  "use strict";

  var dataEl = document.getElementById("sm-upload-preview");
  var holder = window.stationmapMap;
  if (!dataEl || !holder || !window.L) return;
  var data = JSON.parse(dataEl.textContent);
  var map = holder.map;
  var colours = { ok: "#2b8a3e", warning: "#f59f00", problem: "#c92a2a" };

  function text(tag, value, className) {
    var node = document.createElement(tag);
    node.textContent = value;
    if (className) node.className = className;
    return node;
  }

  function popup(point) {
    var box = document.createElement("div");
    box.className = "sm-preview-popup";
    box.appendChild(text("strong", point.label + " · " + point.name));
    if (point.id) box.appendChild(text("div", point.id, "hint"));
    box.appendChild(text("div", data.states[point.state] || point.state));
    if (point.messages.length) {
      var list = document.createElement("ul");
      point.messages.forEach(function (message) { list.appendChild(text("li", message)); });
      box.appendChild(list);
    }
    return box;
  }

  var group = L.featureGroup();
  data.points.forEach(function (point) {
    var marker = L.circleMarker([point.lonlat[1], point.lonlat[0]], {
      radius: 8, color: colours[point.state] || "#495057", weight: 2, fillOpacity: 0.6
    });
    marker.bindPopup(popup(point));
    marker.on("add", function () {
      var el = marker.getElement && marker.getElement();
      if (el) {
        el.setAttribute("data-row-label", point.label);
        el.setAttribute("data-state", point.state);
      }
    });
    group.addLayer(marker);
  });
  group.addTo(map);
  if (group.getLayers().length) {
    map.fitBounds(group.getBounds().pad(0.3), { maxZoom: 16 });
  }
  window.stationmapUploadPreview = group;
})();
