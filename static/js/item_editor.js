/* Item editor (templates/bank/edit.html): show the fieldsets of the chosen item type, limit the
   knowledge points to the chosen occupation, add/remove rows (options, answers, marking points, rubric
   criteria) and preview chosen images. The form works without this script (every fieldset shows; the
   server reads only the fields of the chosen type). */
(function () {
  "use strict";
  var form = document.getElementById("item-form");
  if (!form) { return; }
  document.documentElement.classList.add("js");

  var typeSelect = document.getElementById("f-type");
  var occSelect = document.getElementById("f-occupation");
  var kpSelect = document.getElementById("f-kp");

  function setDisabled(container, disabled) {
    container.querySelectorAll("input, select, textarea, button").forEach(function (el) { el.disabled = disabled; });
  }

  function showType() {
    var t = typeSelect.value;
    form.querySelectorAll(".type-fields").forEach(function (fs) {
      var on = (fs.getAttribute("data-types") || "").split(/\s+/).indexOf(t) >= 0;
      fs.hidden = !on;
      setDisabled(fs, !on);
    });
    form.querySelectorAll("[data-for]").forEach(function (el) { el.hidden = el.getAttribute("data-for") !== t; });
    var multi = t === "multiple_choice";
    var first = true;
    form.querySelectorAll(".key-input").forEach(function (el) {
      var want = multi ? "checkbox" : "radio";
      if (el.type !== want) {
        var wasChecked = el.checked;
        el.type = want;
        el.checked = wasChecked && (multi || first);
      }
      if (el.checked) { first = false; }
    });
  }

  function showPoints() {
    if (!occSelect || !kpSelect) { return; }
    var occ = occSelect.value;
    kpSelect.querySelectorAll("optgroup").forEach(function (g) {
      var on = !occ || g.getAttribute("data-occupation") === occ;
      g.hidden = !on;
      g.querySelectorAll("option").forEach(function (o) { o.disabled = !on; });
    });
    var sel = kpSelect.options[kpSelect.selectedIndex];
    if (sel && sel.disabled) { kpSelect.value = ""; }
  }

  function revealOption() {
    var next = form.querySelector(".option-row[data-extra]:not(.shown)");
    if (next) { next.hidden = false; next.classList.add("shown"); }
    var button = form.querySelector("[data-add-option]");
    if (button && !form.querySelector(".option-row[data-extra]:not(.shown)")) { button.hidden = true; }
    if (next) { var input = next.querySelector("input[type=text]"); if (input) { input.focus(); } }
  }

  function clearRow(row) {
    row.querySelectorAll("input[type=text], textarea").forEach(function (el) { el.value = ""; });
    row.querySelectorAll(".error").forEach(function (el) { el.remove(); });
    row.classList.remove("has-error");
  }

  form.addEventListener("click", function (ev) {
    var target = ev.target;
    if (target.matches("[data-add-option]")) {
      ev.preventDefault();
      revealOption();
    } else if (target.matches("[data-add-row]")) {
      ev.preventDefault();
      var box = form.querySelector("[data-rows=" + target.getAttribute("data-add-row") + "]");
      var rows = box.querySelectorAll("[data-row]");
      var copy = rows[rows.length - 1].cloneNode(true);
      clearRow(copy);
      box.appendChild(copy);
      var first = copy.querySelector("input[type=text], textarea");
      if (first) { first.focus(); }
    } else if (target.matches("[data-remove-row]")) {
      ev.preventDefault();
      var row = target.closest("[data-row]");
      if (row.parentNode.querySelectorAll("[data-row]").length > 1) { row.remove(); } else { clearRow(row); }
    }
  });

  var files = document.getElementById("f-image-files");
  if (files && window.URL && URL.createObjectURL) {
    var preview = document.createElement("div");
    preview.className = "image-list preview";
    files.insertAdjacentElement("afterend", preview);
    files.addEventListener("change", function () {
      preview.innerHTML = "";
      Array.prototype.forEach.call(files.files, function (f) {
        var fig = document.createElement("figure");
        var img = document.createElement("img");
        img.src = URL.createObjectURL(f);
        img.alt = f.name;
        var cap = document.createElement("figcaption");
        cap.textContent = f.name;
        fig.appendChild(img);
        fig.appendChild(cap);
        preview.appendChild(fig);
      });
    });
  }

  form.querySelectorAll(".option-row[data-extra]").forEach(function (row) {
    var input = row.querySelector("input[type=text]");
    if (input && input.value) { row.classList.add("shown"); } else { row.hidden = true; }
  });
  if (!form.querySelector(".option-row[data-extra]:not(.shown)")) {
    var addOption = form.querySelector("[data-add-option]");
    if (addOption) { addOption.hidden = true; }
  }
  typeSelect.addEventListener("change", showType);
  if (occSelect) { occSelect.addEventListener("change", showPoints); }
  showType();
  showPoints();
})();
