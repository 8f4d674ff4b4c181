/* examsys candidate page: countdown from the server's deadline, acknowledged autosave with an ordered
 * retry queue, heartbeat (proctor actions within 5 s), integrity signals, navigation and keyboard use.
 *
 * Rules (DESIGN.md decisions 3-5):
 *  - the countdown is remaining_ms from the server, anchored to performance.now() on every reply; it never
 *    counts ticks and never reads the wall clock, so a throttled tab or a wrong client clock cannot drift it;
 *  - an answer is shown as saved only when the server acknowledges its sequence number;
 *  - unacknowledged answers stay in memory (never in browser storage) and are re-sent in order.
 */
(function () {
  "use strict";
  var dataEl = document.getElementById("exam-data");
  if (!dataEl) return;
  var D = JSON.parse(dataEl.textContent);
  var S = D.strings;
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var CSRF = csrfMeta ? csrfMeta.content : "";
  var $ = function (id) { return document.getElementById(id); };

  // ---------------------------------------------------------------- network
  function post(url, body, timeoutMs) {
    var ctrl = typeof AbortController !== "undefined" ? new AbortController() : null;
    var timer = ctrl ? setTimeout(function () { ctrl.abort(); }, timeoutMs || 15000) : null;
    return fetch(url, {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: {"Content-Type": "application/json", "X-CSRFToken": CSRF, "Accept": "application/json"},
      body: JSON.stringify(body), signal: ctrl ? ctrl.signal : undefined
    }).then(function (resp) {
      if (timer) clearTimeout(timer);
      return resp.json().catch(function () { return null; }).then(function (json) {
        return {status: resp.status, ok: resp.ok, body: json};
      });
    }, function (err) {
      if (timer) clearTimeout(timer);
      return {status: 0, ok: false, body: null, error: err};
    });
  }

  var conn = $("conn");
  function setConn(online) {
    if (!conn) return;
    conn.textContent = online ? S.online : S.offline;
    conn.className = "conn " + (online ? "ok" : "bad");
  }

  // ---------------------------------------------------------------- time
  var endAt = null;          // performance.now() value at which the time runs out
  var frozenMs = null;       // remaining time while paused
  var startAt = null;        // waiting page: performance.now() value of the start
  var status = D.state.status;
  var paused = !!D.state.paused;
  var stopped = false;       // session ended or paper final: no more requests
  var timeUpSent = false;

  function applyState(st, sentAt) {
    if (!st || typeof st !== "object") return;
    var now = performance.now();
    var halfRtt = sentAt != null ? Math.max(0, (now - sentAt) / 2) : 0;
    if (typeof st.remaining_ms === "number") {
      if (st.paused) { frozenMs = st.remaining_ms; endAt = null; }
      else { frozenMs = null; endAt = now + st.remaining_ms - halfRtt; }
    }
    if (typeof st.starts_in_ms === "number") startAt = now + st.starts_in_ms - halfRtt;
    var wasPaused = paused;
    paused = !!st.paused;
    if (st.status) status = st.status;
    if (D.mode === "waiting" && st.started) {
      if (st.status === "in_progress") { stopped = true; location.reload(); return; }
      if (sentAt == null) setTimeout(beat, 0);  // started but not entered yet: the heartbeat enters
    }
    if (status === "submitted" || status === "absent") { finished(); return; }
    if (wasPaused && !paused) { timeUpSent = false; pump(); }
    renderOverlay();
    tick();
  }

  function fmt(ms) {
    var s = Math.max(0, Math.ceil(ms / 1000));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return (h < 10 ? "0" : "") + h + ":" + (m < 10 ? "0" : "") + m + ":" + (r < 10 ? "0" : "") + r;
  }

  function remaining() {
    if (frozenMs != null) return frozenMs;
    if (endAt == null) return null;
    return Math.max(0, endAt - performance.now());
  }

  var timerEl = $("timer"), startTimerEl = $("start-timer");
  function tick() {
    if (D.mode === "waiting") {
      if (startTimerEl && startAt != null) startTimerEl.textContent = fmt(Math.max(0, startAt - performance.now()));
      return;
    }
    var left = remaining();
    if (timerEl && left != null) {
      timerEl.textContent = fmt(left);
      timerEl.className = left <= 60000 ? "urgent" : (left <= 300000 ? "warn" : "");
    }
    if (left === 0 && !paused && status === "in_progress" && !stopped && !timeUpSent) timeUp();
  }

  // ---------------------------------------------------------------- overlay
  var overlay = $("overlay"), overlayText = $("overlay-text"), overlayExtra = $("overlay-extra"),
      overlayBtn = $("overlay-btn"), answersEl = $("answers");
  var overlayMode = null;
  function showOverlay(mode, text, extra, button) {
    overlayMode = mode;
    if (!overlay) return;
    overlayText.textContent = text;
    overlayExtra.textContent = extra || "";
    overlay.hidden = false;
    overlay.setAttribute("data-mode", mode);
    if (button) { overlayBtn.textContent = button.text; overlayBtn.onclick = button.action; overlayBtn.hidden = false; }
    else overlayBtn.hidden = true;
    if (answersEl) answersEl.disabled = true;
  }
  function hideOverlay() {
    overlayMode = null;
    if (overlay) { overlay.hidden = true; overlay.removeAttribute("data-mode"); }
    if (answersEl) answersEl.disabled = false;
  }
  function renderOverlay() {
    if (D.mode !== "paper" || stopped) return;
    if (paused) showOverlay("paused", S.paused);
    else if (timeUpSent) showOverlay("time_up", S.time_up);
    else if (overlayMode === "paused" || overlayMode === "time_up") hideOverlay();
  }

  // ---------------------------------------------------------------- end states
  function sessionEnded() {
    stopped = true;
    setConn(false);
    if (D.mode === "paper") showOverlay("ended", S.ended);
    else if (conn) conn.textContent = S.ended;
  }

  function finished() {
    if (stopped && overlayMode === "done") return;
    stopped = true;
    var lost = D.mode === "paper" ? unsavedNumbers() : [];
    if (!lost.length) { location.href = D.urls.paper; return; }
    showOverlay("done", S.done, S.lost.replace("{list}", lost.join(", ")),
                {text: S.continue, action: function () { location.href = D.urls.paper; }});
  }

  // ---------------------------------------------------------------- heartbeat + signals
  var signals = [];
  var lastBlur = 0;
  function signal(kind, extra) {
    if (stopped || D.mode !== "paper") return;
    var ev = {kind: kind};
    if (extra) for (var k in extra) ev[k] = extra[k];
    if (signals.length < 50) signals.push(ev);
  }
  window.addEventListener("blur", function () {
    lastBlur = performance.now();
    setTimeout(function () { signal(document.hidden ? "visibility_hidden" : "focus_loss"); }, 30);
  });
  document.addEventListener("visibilitychange", function () {
    if (document.hidden && performance.now() - lastBlur > 1000) signal("visibility_hidden");
    if (!document.hidden) beat();  // resync at once when the tab comes back
  });

  var beatTimer = null, beating = false;
  function beat() {
    if (stopped || beating) return;
    beating = true;
    if (beatTimer) { clearTimeout(beatTimer); beatTimer = null; }
    var events = signals.splice(0, signals.length);
    var sentAt = performance.now();
    post(D.urls.heartbeat, {events: events}, 10000).then(function (r) {
      beating = false;
      if (r.status === 401) { sessionEnded(); return; }
      if (r.ok && r.body) { setConn(true); applyState(r.body, sentAt); if (D.mode === "paper" && queue.length && !inflight) pump(); }
      else { if (r.status === 0) { setConn(false); signals = events.concat(signals).slice(0, 50); } }
      schedule();
    });
  }
  function schedule() {
    if (stopped) return;
    beatTimer = setTimeout(beat, D.heartbeat_ms || 4000);
  }

  if (D.mode === "waiting") { applyState(D.state, null); setInterval(tick, 250); schedule(); return; }

  // ---------------------------------------------------------------- items and answers
  var seq = (D.seq_base || 1) - 1;
  var items = {};            // id -> {el, type, answer, flagged, lastSeq, ackSeq, savedAt, state}
  var order = [];            // item ids in display order
  var sections = document.querySelectorAll("#answers .question");
  Array.prototype.forEach.call(sections, function (el) {
    var id = parseInt(el.getAttribute("data-item"), 10);
    var it = {el: el, id: id, no: el.getAttribute("data-no"), type: el.getAttribute("data-type"),
              flagged: !!el.querySelector(".flag-box:checked"), lastSeq: 0, ackSeq: 0};
    it.answer = readAnswer(it);
    items[id] = it;
    order.push(id);
  });

  function readAnswer(it) {
    var el = it.el;
    if (it.type === "single_choice") {
      var c = el.querySelector('input[type=radio]:checked');
      return c ? c.value : null;
    }
    if (it.type === "multiple_choice") {
      return Array.prototype.map.call(el.querySelectorAll('.answer input[type=checkbox]:checked'), function (x) { return x.value; });
    }
    if (it.type === "true_false") {
      var t = el.querySelector('input[type=radio]:checked');
      return t ? t.value === "true" : null;
    }
    var box = el.querySelector(".answer input[type=text], .answer textarea");
    return box ? box.value : null;
  }

  function isAnswered(it) {
    var a = it.answer;
    if (a === null || a === undefined) return false;
    if (Array.isArray(a)) return a.length > 0;
    if (typeof a === "string") return a.trim().length > 0;
    return true;
  }

  var navBtns = {};
  Array.prototype.forEach.call(document.querySelectorAll("#qnav .qbtn[data-item]"), function (b) {
    navBtns[parseInt(b.getAttribute("data-item"), 10)] = b;
    b.addEventListener("click", function () { show(order.indexOf(parseInt(b.getAttribute("data-item"), 10)), true); });
  });

  function renderNav(id) {
    var it = items[id], b = navBtns[id];
    if (!b) return;
    b.classList.toggle("answered", isAnswered(it));
    b.classList.toggle("flagged", it.flagged);
    b.classList.toggle("unsaved", it.lastSeq > it.ackSeq);
  }

  function setItemState(id, state, message) {
    var it = items[id];
    it.state = state;
    var el = it.el.querySelector(".save-state");
    var text = {saving: S.saving, saved: S.saved.replace("{t}", it.savedAt || ""), pending: S.unsaved,
                retrying: S.retrying, error: message || ""}[state] || "";
    el.textContent = text;
    el.className = "save-state " + state;
    renderNav(id);
  }

  // ---------------------------------------------------------------- the save queue
  var queue = [];            // entries {item, seq, answer, flagged}, in sequence order
  var inflight = null;
  var retryTimer = null;
  var failures = 0;
  var debounce = {};         // item id -> timer (text answers)
  var alertEl = $("save-alert");

  function enqueue(id) {
    var it = items[id];
    if (debounce[id]) { clearTimeout(debounce[id]); delete debounce[id]; }
    seq += 1;
    var entry = {item: id, seq: seq, answer: it.answer, flagged: it.flagged};
    it.lastSeq = seq;
    for (var i = queue.length - 1; i >= 0; i--) {
      if (queue[i].item === id && queue[i] !== inflight) queue.splice(i, 1);  // the newer entry carries it all
    }
    queue.push(entry);
    setItemState(id, failures ? "retrying" : "saving");
    pump();
  }

  function change(id, immediate) {
    var it = items[id];
    it.answer = readAnswer(it);
    renderNav(id);
    if (immediate) { enqueue(id); return; }
    setItemState(id, "pending");
    if (debounce[id]) clearTimeout(debounce[id]);
    debounce[id] = setTimeout(function () { delete debounce[id]; enqueue(id); }, D.debounce_ms || 700);
  }

  function flushDebounced() {
    Object.keys(debounce).forEach(function (k) { enqueue(parseInt(k, 10)); });
  }

  function updateAlert() {
    var n = queue.length + Object.keys(debounce).length;
    if (failures > 0 && n > 0) {
      alertEl.textContent = S.queue_alert.replace("{n}", n);
      alertEl.hidden = false;
    } else {
      alertEl.hidden = true;
    }
  }

  function retryLater() {
    failures += 1;
    setConn(false);
    queue.forEach(function (e) { if (items[e.item].lastSeq === e.seq) setItemState(e.item, "retrying"); });
    var delay = Math.min(10000, 1000 * Math.pow(2, Math.min(failures - 1, 4)));
    retryTimer = setTimeout(function () { retryTimer = null; pump(); }, delay);
    updateAlert();
  }

  function pump() {
    if (D.mode !== "paper") return;
    if (inflight || stopped || retryTimer || paused) { updateAlert(); return; }
    if (!queue.length) { updateAlert(); if (afterFlush.length) afterFlush.splice(0).forEach(function (f) { f(); }); return; }
    var entry = inflight = queue[0];
    var sentAt = performance.now();
    post(D.urls.save, entry, 15000).then(function (r) {
      inflight = null;
      var b = r.body || {};
      if (r.ok && b.ok) {
        failures = 0;
        setConn(true);
        queue.splice(queue.indexOf(entry), 1);
        var it = items[entry.item];
        it.ackSeq = Math.max(it.ackSeq, b.seq);
        if (it.lastSeq <= b.seq) { it.savedAt = b.saved_at_local; setItemState(entry.item, "saved"); }
        applyState(b, sentAt);
        pump();
      } else if (r.status === 401) {
        sessionEnded();
      } else if (r.status === 409) {
        applyState(b, sentAt);
        if (b.error === "paused") { retryTimer = setTimeout(function () { retryTimer = null; pump(); }, 3000); }
        else { finished(); }
      } else if (r.status === 400 && b.error === "csrf") {
        stopped = true;
        showOverlay("reload", S.reload, "", {text: S.continue, action: function () { location.reload(); }});
      } else if (r.status >= 400 && r.status < 500 && r.status !== 408 && r.status !== 429) {
        // the server will never accept this entry: drop it and say so next to the question
        queue.splice(queue.indexOf(entry), 1);
        setItemState(entry.item, "error", b.message || String(r.status));
        pump();
      } else {
        retryLater();
      }
      updateAlert();
    });
  }

  var afterFlush = [];
  function whenFlushed(fn) { afterFlush.push(fn); pump(); }

  function unsavedNumbers() {
    var out = [];
    order.forEach(function (id) { var it = items[id]; if (it.lastSeq > it.ackSeq || debounce[id]) out.push(it.no); });
    return out;
  }

  window.addEventListener("beforeunload", function (e) {
    if (!stopped && (queue.length || Object.keys(debounce).length)) { e.preventDefault(); e.returnValue = ""; }
  });
  window.addEventListener("online", function () { if (retryTimer) { clearTimeout(retryTimer); retryTimer = null; } pump(); beat(); });

  // ---------------------------------------------------------------- inputs
  order.forEach(function (id) {
    var it = items[id], el = it.el;
    Array.prototype.forEach.call(el.querySelectorAll(".answer input[type=radio], .answer input[type=checkbox]"), function (inp) {
      inp.addEventListener("change", function () { change(id, true); });
    });
    Array.prototype.forEach.call(el.querySelectorAll(".answer input[type=text], .answer textarea"), function (inp) {
      inp.addEventListener("input", function () { change(id, false); });
      inp.addEventListener("blur", function () { if (debounce[id]) enqueue(id); });
      inp.addEventListener("paste", function () { signal("paste", {item: id}); });
    });
    var flag = el.querySelector(".flag-box");
    flag.addEventListener("change", function () { it.flagged = flag.checked; renderNav(id); enqueue(id); });
    el.querySelector(".prev").addEventListener("click", function () { show(current - 1, true); });
    el.querySelector(".next").addEventListener("click", function () { show(current + 1, true); });
    if (el.querySelector(".save-state.saved")) it.state = "saved";
  });

  // ---------------------------------------------------------------- navigation
  var current = 0;
  if (answersEl) answersEl.classList.add("one-at-a-time");
  function show(i, focus) {
    if (i < 0 || i >= order.length) return;
    current = i;
    order.forEach(function (id, k) {
      items[id].el.classList.toggle("current", k === i);
      var b = navBtns[id];
      if (b) { if (k === i) b.setAttribute("aria-current", "true"); else b.removeAttribute("aria-current"); }
    });
    if (focus) items[order[i]].el.focus({preventScroll: false});
  }
  show(0, false);

  document.addEventListener("keydown", function (e) {
    if (stopped || paused || e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    var typing = t && (t.tagName === "TEXTAREA" || (t.tagName === "INPUT" && t.type === "text"));
    if (typing || (t && t.tagName === "DIALOG") || ($("confirm-dialog") && $("confirm-dialog").open)) return;
    var it = items[order[current]];
    var key = e.key;
    if (key === "ArrowRight" || key === "PageDown") { e.preventDefault(); show(current + 1, true); return; }
    if (key === "ArrowLeft" || key === "PageUp") { e.preventDefault(); show(current - 1, true); return; }
    if (key === "Home") { e.preventDefault(); show(0, true); return; }
    if (key === "End") { e.preventDefault(); show(order.length - 1, true); return; }
    if (key === "ArrowUp" || key === "ArrowDown") {
      if (t && t.type === "radio") e.preventDefault();  // arrows never change an answer by accident
      return;
    }
    var k = key.length === 1 ? key.toUpperCase() : "";
    if (k === "M") {
      var flag = it.el.querySelector(".flag-box");
      flag.checked = !flag.checked; it.flagged = flag.checked; renderNav(it.id); enqueue(it.id);
      e.preventDefault(); return;
    }
    if (it.type === "true_false" && (k === "T" || k === "F")) {
      var r = it.el.querySelector('input[value="' + (k === "T" ? "true" : "false") + '"]');
      r.checked = true; change(it.id, true); e.preventDefault(); return;
    }
    if ((it.type === "single_choice" || it.type === "multiple_choice") && k >= "A" && k <= "H") {
      var inputs = it.el.querySelectorAll(".answer input");
      var idx = k.charCodeAt(0) - 65;
      if (idx < inputs.length) {
        var inp = inputs[idx];
        inp.checked = it.type === "single_choice" ? true : !inp.checked;
        change(it.id, true);
        inp.focus();
        e.preventDefault();
      }
    }
  });

  // ---------------------------------------------------------------- large font
  var fontBtn = $("font-toggle");
  function setLarge(on) {
    document.body.classList.toggle("large-font", on);
    fontBtn.setAttribute("aria-pressed", on ? "true" : "false");
    fontBtn.textContent = on ? S.normal : S.larger;
    try { sessionStorage.setItem("examsys.largeFont", on ? "1" : "0"); } catch (err) { /* ignore */ }
  }
  fontBtn.addEventListener("click", function () { setLarge(!document.body.classList.contains("large-font")); });
  try { if (sessionStorage.getItem("examsys.largeFont") === "1") setLarge(true); } catch (err) { /* ignore */ }

  // ---------------------------------------------------------------- submit
  var dialog = $("confirm-dialog");
  $("submit-btn").addEventListener("click", function () {
    flushDebounced();
    if (queue.length || inflight) {
      alertEl.textContent = S.wait_saving;
      alertEl.hidden = false;
      pump();
      return;
    }
    var unanswered = [], flagged = [];
    order.forEach(function (id) {
      var it = items[id];
      if (!isAnswered(it)) unanswered.push(it.no);
      if (it.flagged) flagged.push(it.no);
    });
    var text = unanswered.length ? S.unanswered.replace("{list}", unanswered.join(", ")) : S.all_answered;
    if (flagged.length) text += " " + S.flagged.replace("{list}", flagged.join(", "));
    $("confirm-unanswered").textContent = text;
    if (dialog.showModal) dialog.showModal(); else dialog.setAttribute("open", "");
  });
  $("confirm-cancel").addEventListener("click", function () { dialog.close(); });
  $("confirm-ok").addEventListener("click", function () {
    dialog.close();
    whenFlushed(function () {
      post(D.urls.submit, {confirm: true}, 20000).then(function (r) {
        if (r.ok && r.body) { applyState(r.body, null); finished(); }
        else if (r.status === 401) sessionEnded();
        else {
          alertEl.textContent = S.submit_failed.replace("{message}", (r.body && r.body.message) || S.offline);
          alertEl.hidden = false;
          if (r.body) applyState(r.body, null);
        }
      });
    });
  });

  function timeUp() {
    timeUpSent = true;
    flushDebounced();
    renderOverlay();
    whenFlushed(function () {
      post(D.urls.submit, {time_up: true}, 20000).then(function (r) {
        if (r.ok && r.body) { applyState(r.body, null); finished(); }
        else if (r.status === 401) sessionEnded();
        else if (r.status === 409 && r.body && r.body.error === "not_time_up") { timeUpSent = false; applyState(r.body, null); hideOverlay(); }
        else { setTimeout(function () { timeUpSent = false; }, 3000); }   // retried by the next tick
      });
    });
  }

  order.forEach(renderNav);
  applyState(D.state, null);
  setInterval(tick, 250);
  schedule();
})();
