/* examsys proctor console: a live table polled every few seconds and action buttons (each with a reason). */
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("proctor-data").textContent);
  var S = D.strings;
  var CSRF = document.querySelector('meta[name="csrf-token"]').content;
  var $ = function (id) { return document.getElementById(id); };
  var tbody = document.querySelector("#live tbody");
  var msg = $("console-msg");
  var rowsById = {};

  function fmt(ms) {
    if (ms == null) return "—";
    var s = Math.max(0, Math.ceil(ms / 1000));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return h + ":" + (m < 10 ? "0" : "") + m + ":" + (r < 10 ? "0" : "") + r;
  }
  function td(text, cls) {
    var c = document.createElement("td");
    c.textContent = text == null ? "" : String(text);
    if (cls) c.className = cls;
    return c;
  }
  function btn(action, row) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "small";
    b.textContent = S.actions[action];
    b.setAttribute("data-action", action);
    b.addEventListener("click", function () { openDialog(action, row); });
    return b;
  }

  function render(data) {
    var c = data.counts, s = data.session;
    $("session-info").textContent = S.summary
      .replace("{status}", S.session_status[s.status] + (s.paused ? " · " + S.paused : ""))
      .replace("{started}", s.started_at || "—").replace("{in_progress}", c.in_progress)
      .replace("{submitted}", c.submitted).replace("{absent}", c.absent)
      .replace("{not_started}", c.not_started).replace("{online}", c.online);
    document.querySelectorAll("[data-room]").forEach(function (b) {
      var a = b.getAttribute("data-room");
      b.disabled = (a === "start") ? s.status !== "scheduled" : s.status !== "running";
    });
    tbody.textContent = "";
    rowsById = {};
    data.rows.forEach(function (r) {
      rowsById[r.id] = r;
      var tr = document.createElement("tr");
      tr.setAttribute("data-attempt", r.id);
      tr.className = "st-" + r.status + (r.paused ? " paused" : "") + (r.online ? " online" : "");
      tr.appendChild(td(r.seat));
      tr.appendChild(td(r.ticket));
      tr.appendChild(td(r.name));
      tr.appendChild(td(r.id_masked));
      tr.appendChild(td(r.form));
      tr.appendChild(td(S.status[r.status] + (r.paused ? " · " + S.paused : ""), "status"));
      tr.appendChild(td(r.answered + " / " + r.total, "answered"));
      tr.appendChild(td(fmt(r.remaining_ms) + (r.extra_min ? " (+" + r.extra_min + ")" : ""), "remaining"));
      tr.appendChild(td(r.last_seen || "—"));
      tr.appendChild(td(r.status === "submitted" || r.status === "absent" ? "" :
                        (r.online ? S.online : (r.logged_in ? S.offline : S.logged_out)), r.online ? "ok" : "bad"));
      tr.appendChild(td(r.focus_loss || "", r.focus_loss ? "signal" : ""));
      tr.appendChild(td(r.second_login || "", r.second_login ? "signal" : ""));
      tr.appendChild(td(r.paste || "", r.paste ? "signal" : ""));
      tr.appendChild(td(r.irregularity || "", r.irregularity ? "signal" : ""));
      var actions = document.createElement("td");
      actions.className = "actions";
      var open = r.status === "in_progress" || r.status === "not_started";
      if (open && !r.paused && r.remaining_ms != null) actions.appendChild(btn("pause", r));
      if (open && r.paused) actions.appendChild(btn("resume", r));
      if (open) actions.appendChild(btn("extend", r));
      if (open) actions.appendChild(btn("force_submit", r));
      actions.appendChild(btn("unlock", r));
      actions.appendChild(btn("irregularity", r));
      tr.appendChild(actions);
      tbody.appendChild(tr);
    });
    var ev = $("events");
    ev.textContent = "";
    data.events.forEach(function (e) {
      var li = document.createElement("li");
      var who = e.attempt && rowsById[e.attempt] ? rowsById[e.attempt].seat + " " + rowsById[e.attempt].name : "";
      var detail = e.text || "";  // the details in the UI language, made by the server
      li.textContent = e.at + " · " + (S.kinds[e.kind] || e.kind) + (who ? " · " + who : "") + " · " + e.actor +
        (detail ? " · " + detail : "");
      ev.appendChild(li);
    });
  }

  var polling = false;
  function poll() {
    if (polling) return;
    polling = true;
    fetch(D.state_url, {credentials: "same-origin", cache: "no-store", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json().then(function (j) { return {ok: r.ok, body: j}; }); })
      .then(function (r) { polling = false; if (r.ok) render(r.body); else say(S.failed.replace("{message}", r.body.message)); },
            function () { polling = false; say(S.unreachable); });
  }
  function say(text) { msg.textContent = text; }

  // -------------------------------------------------------------- actions
  var dialog = $("action-dialog"), pending = null;
  function openDialog(action, row) {
    pending = {action: action, attempt_id: row ? row.id : null};
    $("action-title").textContent = S.actions[action] + " · " + S["for"].replace("{who}", row ? (row.seat + " " + row.name) : S.room);
    $("minutes-field").hidden = action !== "extend";
    $("note-field").hidden = action !== "irregularity";
    $("action-reason").value = "";
    $("action-note").value = "";
    if (dialog.showModal) dialog.showModal(); else dialog.setAttribute("open", "");
    $("action-reason").focus();
  }
  $("action-cancel").addEventListener("click", function () { dialog.close(); pending = null; });
  $("action-form").addEventListener("submit", function (e) {
    e.preventDefault();
    if (!pending) return;
    var body = {action: pending.action, reason: $("action-reason").value};
    if (pending.attempt_id != null) body.attempt_id = pending.attempt_id;
    if (pending.action === "extend") body.minutes = parseInt($("action-minutes").value, 10);
    if (pending.action === "irregularity") body.note = $("action-note").value;
    dialog.close();
    pending = null;
    send(body);
  });
  function send(body) {
    fetch(D.action_url, {method: "POST", credentials: "same-origin", cache: "no-store",
      headers: {"Content-Type": "application/json", "X-CSRFToken": CSRF, "Accept": "application/json"},
      body: JSON.stringify(body)})
      .then(function (r) { return r.json().then(function (j) { return {ok: r.ok, body: j}; }); })
      .then(function (r) { say(r.ok ? S.done : S.failed.replace("{message}", r.body.message)); poll(); },
            function () { say(S.unreachable); });
  }
  document.querySelectorAll("[data-room]").forEach(function (b) {
    b.addEventListener("click", function () {
      var a = b.getAttribute("data-room");
      if (a === "collect_all" && !window.confirm(S.confirm_collect)) return;
      openDialog(a, null);
    });
  });

  poll();
  setInterval(poll, D.poll_ms || 3000);
})();
