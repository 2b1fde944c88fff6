/* A file input that speaks the page's language. The browser draws its own button and "no file
 * chosen" text in the browser's language, whatever the page's; this puts our own button and the
 * chosen file's name (from the catalogue, via data-choose / data-none / data-many) in its place.
 * Without JavaScript the browser's own input stays, and still works. Text goes in by textContent only.
 */
(function () {
  "use strict";

  function enhance(input) {
    if (input.dataset.pickReady) return;
    input.dataset.pickReady = "1";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "btn file-pick-button";
    button.textContent = input.dataset.choose;
    var name = document.createElement("span");
    name.className = "file-pick-name";
    name.setAttribute("aria-live", "polite");
    if (input.id) name.id = input.id + "-chosen";

    function show() {
      var files = input.files || [];
      name.textContent = files.length === 0 ? input.dataset.none
        : files.length === 1 ? files[0].name
        : input.dataset.many.replace("{n}", String(files.length));
      name.classList.toggle("is-empty", files.length === 0);
    }

    var box = document.createElement("span");
    box.className = "file-pick";
    input.parentNode.insertBefore(box, input);
    box.appendChild(input);
    box.appendChild(button);
    box.appendChild(name);
    input.classList.add("file-pick-native");
    input.tabIndex = -1; // the button takes focus; a click on the field's label still opens the picker
    button.setAttribute("aria-describedby", name.id || "");
    button.addEventListener("click", function () { input.click(); });
    input.addEventListener("change", show);
    if (input.form) input.form.addEventListener("reset", function () { setTimeout(show, 0); });
    show();
  }

  Array.prototype.forEach.call(document.querySelectorAll("input[type=file][data-choose]"), enhance);
})();
