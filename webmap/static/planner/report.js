/* The printable report: its print button (CSP allows no inline handlers, so it is wired here). */
(function () {
  "use strict";
  var button = document.getElementById("print-report");
  if (button) button.addEventListener("click", function () { window.print(); });
})();
