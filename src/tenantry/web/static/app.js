// Small progressive enhancements; every page works without them.
(function () {
  // Ask before destructive actions: <form data-confirm="…">.
  document.addEventListener("submit", function (ev) {
    var msg = ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) ev.preventDefault();
  });
  // Copy buttons: <button data-copy="#id">.
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("[data-copy]");
    if (!btn) return;
    var el = document.querySelector(btn.getAttribute("data-copy"));
    if (el && navigator.clipboard) {
      navigator.clipboard.writeText(el.textContent.trim()).then(function () {
        btn.textContent = "Copied";
      });
    }
  });
  // Close open menus when clicking elsewhere.
  document.addEventListener("click", function (ev) {
    document.querySelectorAll("details.switcher[open], details.user-menu[open]").forEach(function (d) {
      if (!d.contains(ev.target)) d.removeAttribute("open");
    });
  });
})();
// Live run logs: <pre data-run-log data-stream="…"> follows the run's server-sent events and
// reloads the page when the run ends, so status, tables and buttons are current.
(function () {
  var pre = document.querySelector("[data-run-log]");
  if (!pre || !pre.getAttribute("data-stream") || !window.EventSource) return;
  var url = pre.getAttribute("data-stream") + "?after=" + pre.getAttribute("data-after");
  var source = new EventSource(url);
  source.addEventListener("log", function (ev) {
    var line = JSON.parse(ev.data);
    var span = document.createElement("span");
    span.className = "log-" + line.level;
    span.textContent = line.at.substring(11, 19) + " " + line.message + "\n";
    pre.appendChild(span);
    pre.scrollTop = pre.scrollHeight;
  });
  source.addEventListener("status", function (ev) {
    var status = JSON.parse(ev.data).status;
    var badge = document.querySelector("[data-run-status] .badge");
    if (badge) { badge.textContent = status; badge.className = "badge status-" + status; }
  });
  source.addEventListener("end", function () {
    source.close();
    window.location.reload();
  });
})();
// Pipeline form: show only the options that apply to the chosen mode and disposition.
(function () {
  var form = document.querySelector("[data-pipeline-form]");
  if (!form) return;
  var mode = form.querySelector("[name=mode]");
  var disposition = form.querySelector("[name=write_disposition]");
  var source = form.querySelector("[data-source-select]");
  function sync() {
    if (source && source.selectedOptions.length) {
      var modes = source.selectedOptions[0].getAttribute("data-modes").split(" ");
      Array.prototype.forEach.call(mode.options, function (o) { o.hidden = modes.indexOf(o.value) < 0; });
      if (modes.indexOf(mode.value) < 0) mode.value = modes[0];
    }
    form.querySelectorAll("[data-modes]").forEach(function (el) {
      el.hidden = el.getAttribute("data-modes").split(" ").indexOf(mode.value) < 0;
    });
    form.querySelectorAll("[data-dispositions]").forEach(function (el) {
      el.hidden = el.getAttribute("data-dispositions").split(" ").indexOf(disposition.value) < 0;
    });
  }
  [mode, disposition, source].forEach(function (el) { if (el) el.addEventListener("change", sync); });
  sync();
})();
// --- Schedules (begin): live "next five fires + description" preview of the cron form. -----
(function () {
  var box = document.querySelector("[data-cron-preview]");
  var cron = document.querySelector("[data-cron-input]");
  var zone = document.querySelector("[data-timezone-input]");
  if (!box || !cron || !zone || !window.fetch) return;
  var list = box.querySelector("[data-preview-list]");
  var text = box.querySelector("[data-preview-description]");
  var error = box.querySelector("[data-preview-error]");
  var timer = null;
  var seq = 0;
  function show(body) {
    text.textContent = body.description;
    list.innerHTML = "";
    body.next_fires.forEach(function (t) {
      var li = document.createElement("li");
      li.textContent = t.local.substring(0, 16).replace("T", " ") + " " + (t.local.substring(19) || "UTC") +
        "  (= " + t.utc.substring(0, 16).replace("T", " ") + " UTC)";
      list.appendChild(li);
    });
    error.hidden = true;
  }
  function refresh() {
    var mine = ++seq;
    var url = box.getAttribute("data-url") + "?cron=" + encodeURIComponent(cron.value) +
      "&timezone=" + encodeURIComponent(zone.value);
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        if (mine !== seq) return; // an older answer arriving late
        if (res.ok) return show(res.body);
        list.innerHTML = "";
        text.textContent = "";
        error.textContent = (res.body.errors || []).map(function (e) { return e.message; }).join("; ") || res.body.detail;
        error.hidden = false;
      })
      .catch(function () { /* offline or signed out: the form still works */ });
  }
  function later() { clearTimeout(timer); timer = setTimeout(refresh, 250); }
  cron.addEventListener("input", later);
  zone.addEventListener("input", later);
  zone.addEventListener("change", later);
  refresh();
})();
// --- Schedules (end) -------------------------------------------------------------------------
