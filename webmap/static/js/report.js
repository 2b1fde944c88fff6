/* The report form (/stations/<id>/report): show the extra field of the chosen problem, and for
 * "not here" a draggable pin on the station's map that fills the WGS-84 lon/lat boxes.
 * Without JavaScript every field shows and the coordinates can be typed.
 */
(function () {
  "use strict";
  var SM = window.SM, bridge = window.stationmapMap, L = window.L;
  var form = document.getElementById("report-form");
  if (!SM || !form) return;
  var extras = form.querySelectorAll(".report-extra");
  var lonInput = document.getElementById("pin-lon"), latInput = document.getElementById("pin-lat");
  var pin = null;

  function chosen() {
    var checked = form.querySelector("input[name=category]:checked");
    return checked ? checked.value : "";
  }

  function placePin() {
    var map = bridge && bridge.map;
    if (!map || pin) return;
    var station = SM.config.station, shown = SM.toDisplay(station[0], station[1]);
    pin = L.marker([shown[1], shown[0]], { draggable: true, autoPan: true, title: SM.t("report_problem"),
      icon: L.divIcon({ html: "", className: "sm-pin sm-you", iconSize: [30, 30], iconAnchor: [15, 15] }) }).addTo(map);
    pin.on("dragend", function () {
      var at = pin.getLatLng(), w = SM.fromDisplay(at.lng, at.lat);
      lonInput.value = w[0].toFixed(6);
      latInput.value = w[1].toFixed(6);
    });
    setTimeout(function () { map.invalidateSize(); }, 0);
  }

  function update() {
    var category = chosen();
    extras.forEach(function (box) { box.hidden = box.getAttribute("data-for") !== category; });
    if (category === "not_here") placePin();
  }
  form.addEventListener("change", update);
  update();
})();
