// Live total on the marking page (display only: the server computes and checks the score).
(function () {
  "use strict";
  var form = document.getElementById("mark-form");
  var out = document.getElementById("live-total");
  var outRaw = document.getElementById("live-raw");  // a practical sheet on its own scale (e.g. of 100)
  if (!form || !out) return;
  var LEVELS = { A: 1.0, B: 0.8, C: 0.6, D: 0.2, E: 0.0 };
  var scale = parseFloat(form.dataset.scale || "1") || 1;

  function num(v) { var x = parseFloat(String(v).replace(",", ".")); return isFinite(x) ? x : null; }
  function fmt(x) { return (Math.round(x * 100) / 100).toString(); }

  function total() {
    var kind = form.dataset.kind, sum = 0, ok = true;
    if (kind === "practical") {
      form.querySelectorAll("tr.criterion").forEach(function (row, i) {
        var pts = num(row.dataset.points) || 0;
        if (row.dataset.mode === "level") {
          var c = row.querySelector("input[type=radio]:checked");
          if (c) { sum += LEVELS[c.value] * pts; } else { ok = false; }
        } else {
          var inp = row.querySelector("input[type=number]");
          var d = inp && inp.value !== "" ? num(inp.value) : 0;
          if (d === null) { ok = false; } else { sum += pts - d; }
        }
      });
      if (form.querySelector("input[name=veto]:checked")) { sum = 0; }
      if (outRaw) { outRaw.textContent = ok ? fmt(sum) : "—"; }
      sum *= scale;
    } else {
      var inputs = form.querySelectorAll("input[type=number]");
      inputs.forEach(function (inp) {
        if (inp.value === "") { ok = false; return; }
        var v = num(inp.value); if (v === null) { ok = false; } else { sum += v; }
      });
    }
    out.textContent = ok ? fmt(sum) : "—";
  }
  form.addEventListener("input", total);
  form.addEventListener("change", total);
  total();
})();
