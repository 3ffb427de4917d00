// The semantic layer's pages, written here (no third-party code): the model file editor (YAML
// with highlighting, line numbers and the model's problems as you type) and the playground
// (pick members, run through the Cube API, see rows, an SVG chart and the SQL).
(function () {
  "use strict";

  var SQL = window.TenantrySql; // sql-editor.js, loaded first: SQL highlighting

  function escapeHtml(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  // --- YAML highlighting -----------------------------------------------------------------

  function span(kind, text) { return '<span class="' + kind + '">' + escapeHtml(text) + "</span>"; }

  function sqlHtml(text) { return SQL ? SQL.highlight(text) : escapeHtml(text); }

  function scalarHtml(value) {
    if (!value) return "";
    if (/^(['"]).*\1$/.test(value.trim())) return span("sql-string", value);
    if (/^-?\d+(\.\d+)?$/.test(value.trim())) return span("sql-number", value);
    if (/^(true|false|null|~)$/i.test(value.trim())) return span("sql-keyword", value);
    // {CUBE} and {member} references stand out in plain values too.
    return escapeHtml(value).replace(/\{[A-Za-z_][\w.]*\}/g, function (ref) {
      return '<span class="yaml-ref">' + ref + "</span>";
    });
  }

  // The comment at the end of a value, outside quotes ("a # b" keeps its #).
  function splitComment(value) {
    var quote = null;
    for (var i = 0; i < value.length; i++) {
      var c = value[i];
      if (quote) { if (c === quote) quote = null; continue; }
      if (c === "'" || c === '"') quote = c;
      else if (c === "#" && (i === 0 || /\s/.test(value[i - 1]))) return [value.slice(0, i), value.slice(i)];
    }
    return [value, ""];
  }

  function highlightYaml(text) {
    var block = null; // {indent, sql}: inside a "key: |" or "key: >" block scalar
    return text.split("\n").map(function (line) {
      var indent = /^\s*/.exec(line)[0].length;
      if (block && (line.trim() === "" || indent > block.indent)) {
        return block.sql ? sqlHtml(line) : escapeHtml(line);
      }
      block = null;
      var m = /^(\s*)((?:- +)*)(.*)$/.exec(line);
      var out = escapeHtml(m[1]) + (m[2] ? span("yaml-dash", m[2]) : "");
      var rest = m[3];
      if (rest.charAt(0) === "#") return out + span("sql-comment", rest);
      var key = /^([A-Za-z_][\w\-]*)(\s*:)(?=\s|$)/.exec(rest);
      var value = rest;
      var name = null;
      if (key) {
        name = key[1];
        out += span("yaml-key", key[1]) + escapeHtml(key[2]);
        value = rest.slice(key[0].length);
      }
      var parts = splitComment(value);
      if (/^\s*[|>][+-]?\s*$/.test(parts[0])) {
        block = { indent: indent + m[2].length, sql: name === "sql" || /_sql$/.test(name || "") };
        out += escapeHtml(parts[0]);
      } else if (name === "sql" || /_sql$/.test(name || "")) {
        var q = /^(\s*)(["']?)(.*?)(\2)(\s*)$/.exec(parts[0]);
        out += escapeHtml(q[1] + q[2]) + sqlHtml(q[3]) + escapeHtml(q[4] + q[5]);
      } else {
        out += scalarHtml(parts[0]);
      }
      return out + (parts[1] ? span("sql-comment", parts[1]) : "");
    }).join("\n");
  }

  // --- the editor: a transparent textarea over a highlighted <pre>, like sql-editor.js ------

  function YamlEditor(root) {
    this.root = root;
    this.input = root.querySelector("[data-yaml-input]");
    this.layer = root.querySelector("[data-yaml-highlight]");
    this.gutter = root.querySelector("[data-yaml-gutter]");
    this.stack = root.querySelector("[data-yaml-stack]");
    this.lines = [];
    var self = this;
    this.input.addEventListener("input", function () { self.render(); });
    this.input.addEventListener("keydown", function (ev) { self.keydown(ev); });
    this.render();
  }

  YamlEditor.prototype.lineHeight = function () {
    var style = window.getComputedStyle(this.layer);
    return { height: parseFloat(style.lineHeight) || 20, top: parseFloat(style.paddingTop) || 0 };
  };

  YamlEditor.prototype.render = function () {
    var text = this.input.value;
    this.layer.innerHTML = highlightYaml(text) + "\n";
    var count = text.split("\n").length;
    var html = [];
    for (var n = 1; n <= count; n++) {
      var bad = this.lines.indexOf(n) >= 0;
      html.push('<div class="sql-line-number' + (bad ? " sql-error-line" : "") + '" data-line="' + n + '">' + n + "</div>");
    }
    this.gutter.innerHTML = html.join("");
    this.stack.querySelectorAll(".sql-marker").forEach(function (m) { m.remove(); });
    var box = this.lineHeight();
    var self = this;
    this.lines.forEach(function (line) {
      if (line > count) return;
      var marker = el("div", { "class": "sql-marker", "data-marker-line": String(line) });
      marker.style.top = (box.top + (line - 1) * box.height) + "px";
      marker.style.height = box.height + "px";
      self.stack.appendChild(marker);
    });
  };

  YamlEditor.prototype.mark = function (lines) {
    this.lines = lines;
    this.root.classList.toggle("has-sql-error", lines.length > 0);
    this.render();
  };

  YamlEditor.prototype.goTo = function (line) {
    var rows = this.input.value.split("\n");
    var start = 0;
    for (var i = 0; i < line - 1 && i < rows.length; i++) start += rows[i].length + 1;
    this.input.focus();
    this.input.setSelectionRange(start, start + (rows[line - 1] || "").length);
    var box = this.lineHeight();
    this.root.scrollTop = Math.max(0, (line - 3) * box.height);
  };

  YamlEditor.prototype.insert = function (text) {
    if (!document.execCommand || !document.execCommand("insertText", false, text)) {
      this.input.setRangeText(text, this.input.selectionStart, this.input.selectionEnd, "end");
      this.input.dispatchEvent(new Event("input", { bubbles: true }));
    }
  };

  YamlEditor.prototype.keydown = function (ev) {
    if (this.input.readOnly || ev.ctrlKey || ev.altKey || ev.metaKey) return;
    if (ev.key === "Tab" && !ev.shiftKey) {
      ev.preventDefault();
      this.insert("  ");
    } else if (ev.key === "Enter" && !ev.shiftKey) {
      // Keep the indentation; one level more after "key:" or "- key:".
      var before = this.input.value.slice(0, this.input.selectionStart);
      var current = before.slice(before.lastIndexOf("\n") + 1);
      var indent = /^\s*/.exec(current)[0];
      if (/^\s*- /.test(current)) indent += "  ";
      if (/:\s*$/.test(current)) indent += "  ";
      ev.preventDefault();
      this.insert("\n" + indent);
    }
  };

  window.TenantryYaml = { highlight: highlightYaml, Editor: YamlEditor };

  // --- the model file form ---------------------------------------------------------------

  function where(p) {
    var text = p.file;
    if (p.line) text += ", line " + p.line;
    if (p.cube) text += ", " + p.cube + (p.member ? "." + p.member : "");
    return text;
  }

  function modelForm() {
    var form = document.querySelector("[data-model-form]");
    if (!form) return;
    var editor = new YamlEditor(form.querySelector("[data-yaml-editor]"));
    var box = form.querySelector("[data-problems]");
    var title = box.querySelector("[data-problems-title]");
    var list = box.querySelector("[data-problem-list]");
    var status = form.querySelector("[data-model-status]");
    var hint = status.textContent;
    var pathInput = form.querySelector("[data-model-path]");
    var seq = 0;
    var timer = null;

    function fileName() {
      var p = form.querySelector("[name=path]");
      return (p && p.value.trim()) || "new_file.yml";
    }

    function markFromList() {
      var mine = fileName();
      var lines = [];
      list.querySelectorAll("li[data-line]").forEach(function (li) {
        if (li.getAttribute("data-file") === mine) {
          lines.push(parseInt(li.getAttribute("data-line"), 10));
          li.classList.add("jump");
          li.title = "Go to line " + li.getAttribute("data-line");
        }
      });
      editor.mark(lines);
    }

    function show(problems) {
      list.innerHTML = "";
      problems.forEach(function (p) {
        var li = el("li", { "data-file": p.file });
        if (p.line) li.setAttribute("data-line", String(p.line));
        li.appendChild(el("span", { "class": "mono" }, where(p)));
        li.appendChild(document.createTextNode(": " + p.message));
        list.appendChild(li);
      });
      title.textContent = problems.length ? problems.length + " problem" + (problems.length === 1 ? "" : "s") + ":" : "";
      box.hidden = !problems.length;
      markFromList();
    }

    function validate() {
      var mine = ++seq;
      status.textContent = "Checking…";
      status.removeAttribute("data-valid");
      fetch(form.getAttribute("data-validate-url"), {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      }).then(function (r) {
        return r.json().then(function (body) { return { ok: r.ok, body: body }; });
      }).then(function (res) {
        if (mine !== seq) return; // an older answer arriving late
        if (!res.ok) { status.textContent = res.body.detail || hint; return; }
        show(res.body.errors || []);
        if (res.body.valid) {
          status.textContent = "✓ The model is valid with this file as it is.";
          status.setAttribute("data-valid", "true");
        } else {
          status.textContent = "Not valid yet; the problems are listed above.";
        }
      }).catch(function () { status.textContent = hint; /* offline or signed out */ });
    }

    function later() { clearTimeout(timer); timer = setTimeout(validate, 400); }

    list.addEventListener("click", function (ev) {
      var li = ev.target.closest("li[data-line]");
      if (li && li.getAttribute("data-file") === fileName()) editor.goTo(parseInt(li.getAttribute("data-line"), 10));
    });
    markFromList();
    if (!editor.input.readOnly) {
      editor.input.addEventListener("input", later);
      if (pathInput) pathInput.addEventListener("input", later);
      if (box.hidden) validate();
    }
  }

  modelForm();
})();

// --- the playground ----------------------------------------------------------------------
(function () {
  "use strict";

  var root = document.querySelector("[data-playground]");
  if (!root) return;
  var SQL = window.TenantrySql;
  var api = root.getAttribute("data-api");
  var org = root.getAttribute("data-org");
  function q$(sel) { return root.querySelector(sel); }
  var ui = {
    error: q$("[data-pg-error]"),
    loading: q$("[data-pg-loading]"),
    builder: q$("[data-pg-builder]"),
    time: q$("[data-pg-time]"),
    granularity: q$("[data-pg-granularity]"),
    range: q$("[data-pg-range]"),
    custom: q$("[data-pg-custom]"),
    from: q$("[data-pg-from]"),
    to: q$("[data-pg-to]"),
    filters: q$("[data-pg-filters]"),
    kept: q$("[data-pg-kept]"),
    orders: q$("[data-pg-orders]"),
    limit: q$("[data-pg-limit]"),
    run: q$("[data-pg-run]"),
    status: q$("[data-pg-status]"),
    results: q$("[data-pg-results]"),
    summary: q$("[data-pg-summary]"),
    served: q$("[data-pg-served]"),
    refresh: q$("[data-pg-refresh]"),
    chart: q$("[data-pg-chart]"),
    table: q$("[data-pg-table]"),
    sqlBox: q$("[data-pg-sql-box]"),
    sql: q$("[data-pg-sql]"),
    json: q$("[data-pg-json]"),
  };
  var KNOWN = ["measures", "dimensions", "segments", "timeDimensions", "filters", "order", "limit"];
  var OPERATORS = {
    string: ["equals", "notEquals", "contains", "notContains", "startsWith", "notStartsWith", "endsWith", "notEndsWith", "set", "notSet"],
    number: ["equals", "notEquals", "gt", "gte", "lt", "lte", "set", "notSet"],
    boolean: ["equals", "notEquals", "set", "notSet"],
    time: ["inDateRange", "notInDateRange", "onTheDate", "beforeDate", "beforeOrOnDate", "afterDate", "afterOrOnDate", "set", "notSet"],
  };
  var OPERATOR_LABELS = {
    equals: "equals", notEquals: "does not equal", contains: "contains", notContains: "does not contain",
    startsWith: "starts with", notStartsWith: "does not start with", endsWith: "ends with",
    notEndsWith: "does not end with", gt: ">", gte: "≥", lt: "<", lte: "≤", set: "is set", notSet: "is not set",
    inDateRange: "in date range", notInDateRange: "not in date range", onTheDate: "on the date",
    beforeDate: "before", beforeOrOnDate: "before or on", afterDate: "after", afterOrOnDate: "after or on",
  };
  var PALETTE = ["#4f46e5", "#0e9384", "#dc6803", "#c11574", "#175cd3", "#67a30f", "#7a5af8", "#d92d20"];

  var meta = { members: {}, measures: [], dimensions: [], segments: [], times: [], cubes: [] };
  var state = { measures: [], dimensions: [], segments: [], kept: [], extra: {} };
  var runSeq = 0;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  // --- talking to the Cube API ------------------------------------------------------------

  function call(path, body) {
    var init = {
      method: body ? "POST" : "GET",
      credentials: "same-origin",
      headers: { "X-Tenantry-Org": org, Accept: "application/json" },
    };
    if (body) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(api + path, init).then(function (r) {
      return r.text().then(function (text) {
        var parsed;
        try { parsed = JSON.parse(text); } catch (e) { parsed = { error: text.slice(0, 300) || "HTTP " + r.status }; }
        return { ok: r.ok, status: r.status, body: parsed || {} };
      });
    });
  }

  function problem(res) {
    var b = res.body || {};
    if (b.error) return typeof b.error === "string" ? b.error : JSON.stringify(b.error);
    if (b.detail) return b.detail;
    return "The server answered " + res.status + ".";
  }

  function delay(ms) { return new Promise(function (done) { setTimeout(done, ms); }); }

  // A long query answers {"error": "Continue wait"}: ask again, a little later each time.
  function load(query, mine, attempt) {
    return call("/load", { query: query }).then(function (res) {
      if (mine !== runSeq) return null;
      if (res.body.error === "Continue wait") {
        ui.status.textContent = "Still running… (asked " + (attempt + 1) + " times)";
        return delay(Math.min(500 + attempt * 250, 3000)).then(function () {
          return load(query, mine, attempt + 1);
        });
      }
      if (!res.ok || res.body.error) throw new Error(problem(res));
      return res.body;
    });
  }

  function showError(message) {
    ui.error.textContent = message;
    ui.error.hidden = false;
  }

  function hideError() { ui.error.hidden = true; ui.error.textContent = ""; }

  // --- the model's members (from /meta) ---------------------------------------------------

  function readMeta(body) {
    (body.cubes || []).forEach(function (cube) {
      var info = { name: cube.name, title: cube.title || cube.name, type: cube.type || "cube", measures: [], times: [] };
      meta.cubes.push(info);
      ["measures", "dimensions", "segments"].forEach(function (kind) {
        (cube[kind] || []).forEach(function (m) {
          if (m.isVisible === false || m.public === false) return;
          var name = m.name.indexOf(".") >= 0 ? m.name : cube.name + "." + m.name;
          var item = {
            name: name, kind: kind, type: m.type || (kind === "measures" ? "number" : "string"),
            title: m.shortTitle || m.title || name, fullTitle: m.title || name,
            cube: cube.name, cubeTitle: info.title + (info.type === "view" ? " (view)" : ""),
          };
          meta.members[name] = item;
          meta[kind].push(item);
          if (kind === "measures") info.measures.push(name);
          if (kind === "dimensions" && item.type === "time") { meta.times.push(item); info.times.push(name); }
        });
      });
    });
  }

  function title(name) {
    var m = meta.members[name];
    return m ? m.fullTitle : name;
  }

  function fillSelect(select, items, placeholder, skip) {
    select.innerHTML = "";
    select.appendChild(el("option", { value: "" }, placeholder));
    var groups = {};
    items.forEach(function (item) {
      if (skip && skip.indexOf(item.name) >= 0) return;
      var group = groups[item.cube];
      if (!group) {
        group = groups[item.cube] = el("optgroup", { label: item.cubeTitle });
        select.appendChild(group);
      }
      group.appendChild(el("option", { value: item.name }, item.title));
    });
  }

  // The query the demo opens on: the first view's (else cube's) first measure, by month of its
  // first time dimension, over the last 12 months.
  function defaultQuery() {
    var views = meta.cubes.filter(function (c) { return c.type === "view"; });
    var ordered = views.concat(meta.cubes.filter(function (c) { return c.type !== "view"; }));
    var pick = ordered.filter(function (c) { return c.measures.length; })[0];
    if (!pick) return {};
    var q = { measures: [pick.measures[0]] };
    if (pick.times.length) {
      q.timeDimensions = [{ dimension: pick.times[0], granularity: "month", dateRange: "last 12 months" }];
    }
    return q;
  }

  // --- the builder <-> the query ----------------------------------------------------------

  function renderChips() {
    ["measures", "dimensions", "segments"].forEach(function (kind) {
      var box = q$('[data-chips="' + kind + '"]');
      box.innerHTML = "";
      state[kind].forEach(function (name) {
        var chip = el("span", { "class": "pg-chip", "data-member": name });
        chip.appendChild(el("span", {}, title(name)));
        chip.appendChild(el("span", { "class": "mono muted" }, name));
        chip.appendChild(el("button", { type: "button", "class": "linklike", "data-remove": kind, "aria-label": "Remove " + title(name) }, "×"));
        box.appendChild(chip);
      });
      fillSelect(q$('[data-add="' + kind + '"]'), meta[kind], "+ Add " + kind.replace(/s$/, ""), state[kind]);
    });
    refreshOrderChoices();
  }

  function memberType(name) {
    var m = meta.members[name];
    if (!m) return "string";
    if (m.kind === "measures") return "number";
    return OPERATORS[m.type] ? m.type : "string";
  }

  function filterRow(f) {
    f = f || {};
    var row = el("div", { "class": "pg-row", "data-filter-row": "" });
    var member = el("select", { "data-filter-member": "", "aria-label": "Filter member" });
    fillSelect(member, meta.dimensions.concat(meta.measures), "Member…");
    if (f.member && !meta.members[f.member]) member.appendChild(el("option", { value: f.member }, f.member));
    member.value = f.member || "";
    var op = el("select", { "data-filter-operator": "", "aria-label": "Operator" });
    var values = el("input", { "data-filter-values": "", "aria-label": "Values", placeholder: "values, comma-separated" });
    values.value = (f.values || []).join(", ");
    row.appendChild(member);
    row.appendChild(op);
    row.appendChild(values);
    row.appendChild(el("button", { type: "button", "class": "btn btn-small", "data-remove-row": "", "aria-label": "Remove filter" }, "×"));
    fillOperators(row, f.operator);
    return row;
  }

  function fillOperators(row, chosen) {
    var member = row.querySelector("[data-filter-member]").value;
    var op = row.querySelector("[data-filter-operator]");
    var keep = chosen || op.value;
    op.innerHTML = "";
    var ops = OPERATORS[memberType(member)];
    if (keep && ops.indexOf(keep) < 0) ops = ops.concat([keep]);
    ops.forEach(function (o) { op.appendChild(el("option", { value: o }, OPERATOR_LABELS[o] || o)); });
    op.value = ops.indexOf(keep) >= 0 ? keep : ops[0];
    syncValues(row);
  }

  function syncValues(row) {
    var op = row.querySelector("[data-filter-operator]").value;
    var values = row.querySelector("[data-filter-values]");
    values.hidden = op === "set" || op === "notSet";
    values.placeholder = /DateRange$/.test(op) ? "2024-01-01, 2024-03-31" : /Date$/.test(op) ? "2024-01-01" : "values, comma-separated";
  }

  function chosenMembers() {
    var out = state.measures.concat(state.dimensions);
    if (ui.time.value) out.unshift(ui.time.value);
    return out;
  }

  function orderRow(member, direction) {
    var row = el("div", { "class": "pg-row", "data-order-row": "" });
    var select = el("select", { "data-order-member": "", "aria-label": "Order by" });
    row.appendChild(select);
    var dir = el("select", { "data-order-direction": "", "aria-label": "Direction" });
    dir.appendChild(el("option", { value: "asc" }, "ascending"));
    dir.appendChild(el("option", { value: "desc" }, "descending"));
    dir.value = direction === "desc" ? "desc" : "asc";
    row.appendChild(dir);
    row.appendChild(el("button", { type: "button", "class": "btn btn-small", "data-remove-row": "", "aria-label": "Remove order" }, "×"));
    fillOrderMembers(select, member);
    return row;
  }

  function fillOrderMembers(select, keep) {
    keep = keep === undefined ? select.value : keep;
    select.innerHTML = "";
    var names = chosenMembers();
    if (keep && names.indexOf(keep) < 0) names.push(keep);
    names.forEach(function (n) { select.appendChild(el("option", { value: n }, title(n))); });
    if (keep) select.value = keep;
  }

  // After a member leaves the query, ordering by it goes too (the API would refuse it).
  function refreshOrderChoices() {
    var names = chosenMembers();
    ui.orders.querySelectorAll("[data-order-member]").forEach(function (s) {
      if (names.indexOf(s.value) < 0) s.closest("[data-order-row]").remove();
      else fillOrderMembers(s);
    });
  }

  // Granularity and range apply to a time dimension only.
  function syncTime() {
    var off = !ui.time.value;
    [ui.granularity, ui.range, ui.from, ui.to].forEach(function (c) { c.disabled = off; });
  }

  function rangeValue() {
    var r = ui.range.value;
    if (r === "custom") return ui.from.value && ui.to.value ? [ui.from.value, ui.to.value] : null;
    return r || null;
  }

  function splitValues(text) {
    return text.split(",").map(function (v) { return v.trim(); }).filter(function (v) { return v !== ""; });
  }

  function readQuery() {
    var q = {};
    Object.keys(state.extra).forEach(function (k) { q[k] = state.extra[k]; });
    ["measures", "dimensions", "segments"].forEach(function (kind) {
      if (state[kind].length) q[kind] = state[kind].slice();
    });
    if (ui.time.value) {
      var t = { dimension: ui.time.value };
      if (ui.granularity.value) t.granularity = ui.granularity.value;
      var range = rangeValue();
      if (range) t.dateRange = range;
      q.timeDimensions = [t];
    }
    var filters = [];
    ui.filters.querySelectorAll("[data-filter-row]").forEach(function (row) {
      var member = row.querySelector("[data-filter-member]").value;
      if (!member) return;
      var op = row.querySelector("[data-filter-operator]").value;
      var f = { member: member, operator: op };
      if (op !== "set" && op !== "notSet") f.values = splitValues(row.querySelector("[data-filter-values]").value);
      filters.push(f);
    });
    filters = filters.concat(state.kept);
    if (filters.length) q.filters = filters;
    var order = {};
    var any = false;
    ui.orders.querySelectorAll("[data-order-row]").forEach(function (row) {
      var member = row.querySelector("[data-order-member]").value;
      if (member) { order[member] = row.querySelector("[data-order-direction]").value; any = true; }
    });
    if (any) q.order = order;
    var limit = parseInt(ui.limit.value, 10);
    if (limit > 0) q.limit = limit;
    return q;
  }

  function writeQuery(q) {
    state.measures = (q.measures || []).slice();
    state.dimensions = (q.dimensions || []).slice();
    state.segments = (q.segments || []).slice();
    state.extra = {};
    Object.keys(q).forEach(function (k) { if (KNOWN.indexOf(k) < 0) state.extra[k] = q[k]; });
    var t = (q.timeDimensions || [])[0] || {};
    fillSelect(ui.time, meta.times, "None");
    if (t.dimension && !meta.members[t.dimension]) ui.time.appendChild(el("option", { value: t.dimension }, t.dimension));
    ui.time.value = t.dimension || "";
    ui.granularity.value = t.granularity || "";
    ui.from.value = "";
    ui.to.value = "";
    if (Array.isArray(t.dateRange)) {
      ui.range.value = "custom";
      ui.from.value = String(t.dateRange[0] || "").slice(0, 10);
      ui.to.value = String(t.dateRange[1] || "").slice(0, 10);
    } else if (t.dateRange) {
      var known = Array.prototype.some.call(ui.range.options, function (o) { return o.value === t.dateRange; });
      if (!known) ui.range.insertBefore(el("option", { value: t.dateRange }, t.dateRange), ui.range.lastElementChild);
      ui.range.value = t.dateRange;
    } else {
      ui.range.value = "";
    }
    ui.custom.hidden = ui.range.value !== "custom";
    syncTime();
    ui.filters.innerHTML = "";
    state.kept = [];
    (q.filters || []).forEach(function (f) {
      if (f && f.member && f.operator) ui.filters.appendChild(filterRow(f));
      else state.kept.push(f); // {and: […]} / {or: […]}: kept as written
    });
    ui.kept.hidden = !state.kept.length;
    ui.kept.textContent = state.kept.length + " grouped filter(s) (and/or) from the link are kept as written.";
    renderChips();
    ui.orders.innerHTML = "";
    var order = q.order || {};
    var pairs = Array.isArray(order) ? order : Object.keys(order).map(function (k) { return [k, order[k]]; });
    pairs.forEach(function (p) { ui.orders.appendChild(orderRow(p[0], p[1])); });
    ui.limit.value = q.limit || "";
  }

  function changed() {
    var q = readQuery();
    ui.json.textContent = JSON.stringify(q, null, 2);
    var url = window.location.pathname + "?query=" + encodeURIComponent(JSON.stringify(q));
    window.history.replaceState(null, "", url);
    return q;
  }

  // --- results: table, chart, SQL ---------------------------------------------------------

  function columnsOf(q, annotation) {
    annotation = annotation || {};
    var cols = [];
    function add(key, kind, member, granularity) {
      var a = (annotation[kind] || {})[key] || {};
      cols.push({ key: key, kind: kind, member: member, granularity: granularity, title: a.title || title(member) + (granularity ? " (" + granularity + ")" : "") });
    }
    (q.timeDimensions || []).forEach(function (t) {
      if (t.granularity) add(t.dimension + "." + t.granularity, "timeDimensions", t.dimension, t.granularity);
    });
    (q.dimensions || []).forEach(function (d) { add(d, "dimensions", d); });
    (q.measures || []).forEach(function (m) { add(m, "measures", m); });
    return cols;
  }

  function timeLabel(value, granularity) {
    var s = String(value == null ? "" : value);
    if (!/^\d{4}-\d{2}-\d{2}/.test(s)) return s;
    if (granularity === "year") return s.slice(0, 4);
    if (granularity === "quarter") return s.slice(0, 4) + " Q" + (Math.floor((parseInt(s.slice(5, 7), 10) - 1) / 3) + 1);
    if (granularity === "month") return s.slice(0, 7);
    if (granularity === "day" || granularity === "week") return s.slice(0, 10);
    return s.slice(0, 16).replace("T", " ");
  }

  function cellText(col, value) {
    if (value === null || value === undefined) return "∅";
    if (col.kind === "timeDimensions") return timeLabel(value, col.granularity);
    return typeof value === "object" ? JSON.stringify(value) : String(value);
  }

  function renderTable(cols, data) {
    var head = el("tr");
    cols.forEach(function (c) {
      var th = el("th", { "class": c.kind === "measures" ? "num" : "" }, c.title);
      th.appendChild(el("div", { "class": "mono muted small pg-key" }, c.key));
      head.appendChild(th);
    });
    ui.table.tHead.innerHTML = "";
    ui.table.tHead.appendChild(head);
    var body = ui.table.tBodies[0];
    body.innerHTML = "";
    data.forEach(function (row) {
      var tr = el("tr");
      cols.forEach(function (c) {
        tr.appendChild(el("td", { "class": "mono small" + (c.kind === "measures" ? " num" : "") }, cellText(c, row[c.key])));
      });
      body.appendChild(tr);
    });
  }

  // SVG, drawn here: a line chart over time, else bars for the first measure.
  var SVGNS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function compact(n) {
    var a = Math.abs(n);
    if (a >= 1e9) return (n / 1e9).toFixed(1).replace(/\.0$/, "") + "B";
    if (a >= 1e6) return (n / 1e6).toFixed(1).replace(/\.0$/, "") + "M";
    if (a >= 1e4) return (n / 1e3).toFixed(1).replace(/\.0$/, "") + "k";
    return String(Math.round(n * 100) / 100);
  }

  function niceScale(min, max) {
    if (min === max) { max = max === 0 ? 1 : max + Math.abs(max) * 0.1; min = Math.min(0, min); }
    var raw = (max - min) / 4;
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 2.5, 5, 10].map(function (f) { return f * mag; }).filter(function (s) { return s >= raw; })[0];
    var lo = Math.floor(min / step) * step;
    var hi = Math.ceil(max / step) * step;
    var ticks = [];
    for (var v = lo; v <= hi + step / 2; v += step) ticks.push(Math.round(v * 1e9) / 1e9);
    return { lo: lo, hi: hi, ticks: ticks };
  }

  function frame(kind, label, values, legend) {
    var W = 760, H = 300 + (legend.length ? 24 : 0), L = 64, R = 16, T = 16, B = 56;
    var plotH = 300 - T - B;
    var nums = values.filter(function (v) { return isFinite(v); });
    var scale = niceScale(Math.min(0, Math.min.apply(null, nums)), Math.max(0, Math.max.apply(null, nums)));
    var root = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": label, "class": "pg-svg", "data-chart": kind });
    function y(v) { return T + plotH - ((v - scale.lo) / (scale.hi - scale.lo)) * plotH; }
    scale.ticks.forEach(function (t) {
      root.appendChild(svg("line", { x1: L, x2: W - R, y1: y(t), y2: y(t), "class": t === 0 ? "pg-axis" : "pg-grid-line" }));
      root.appendChild(svg("text", { x: L - 8, y: y(t) + 4, "text-anchor": "end", "class": "pg-tick" }, compact(t)));
    });
    legend.forEach(function (item, i) {
      var x = L + i * 150;
      root.appendChild(svg("rect", { x: x, y: H - 16, width: 12, height: 12, rx: 2, fill: PALETTE[i % PALETTE.length] }));
      root.appendChild(svg("text", { x: x + 18, y: H - 6, "class": "pg-legend" }, item.length > 20 ? item.slice(0, 19) + "…" : item));
    });
    return { root: root, y: y, L: L, R: R, T: T, W: W, plotH: plotH, bottom: T + plotH };
  }

  function xLabels(f, labels, xOf) {
    var every = Math.max(1, Math.ceil(labels.length / 10));
    var tilt = labels.length > 6;
    labels.forEach(function (text, i) {
      if (i % every) return;
      var x = xOf(i), yy = f.bottom + 16;
      var attrs = { x: x, y: yy, "text-anchor": tilt ? "end" : "middle", "class": "pg-tick" };
      if (tilt) attrs.transform = "rotate(-30 " + x + " " + yy + ")";
      f.root.appendChild(svg("text", attrs, text.length > 16 ? text.slice(0, 15) + "…" : text));
    });
  }

  function lineChart(q, cols, data) {
    var tcol = cols.filter(function (c) { return c.kind === "timeDimensions"; })[0];
    var dims = cols.filter(function (c) { return c.kind === "dimensions"; });
    var measures = cols.filter(function (c) { return c.kind === "measures"; });
    var xs = [];
    data.forEach(function (r) { var k = String(r[tcol.key]); if (xs.indexOf(k) < 0) xs.push(k); });
    xs.sort();
    var series = [];
    if (dims.length) {
      // One line per dimension value (the 8 largest) of the first measure.
      var byName = {};
      data.forEach(function (r) {
        var name = dims.map(function (d) { return cellText(d, r[d.key]); }).join(" · ");
        var s = byName[name] || (byName[name] = { name: name, points: {}, total: 0 });
        var v = parseFloat(r[measures[0].key]);
        s.points[String(r[tcol.key])] = v;
        s.total += isFinite(v) ? Math.abs(v) : 0;
      });
      series = Object.keys(byName).map(function (k) { return byName[k]; })
        .sort(function (a, b) { return b.total - a.total; }).slice(0, 8);
    } else {
      series = measures.slice(0, 8).map(function (m) {
        var points = {};
        data.forEach(function (r) { points[String(r[tcol.key])] = parseFloat(r[m.key]); });
        return { name: m.title, points: points };
      });
    }
    var all = [];
    series.forEach(function (s) { Object.keys(s.points).forEach(function (k) { all.push(s.points[k]); }); });
    var label = "Line chart of " + (dims.length ? measures[0].title : measures.map(function (m) { return m.title; }).join(", ")) + " by " + tcol.title;
    var f = frame("line", label, all, series.length > 1 ? series.map(function (s) { return s.name; }) : []);
    var span = f.W - f.R - f.L - 20;
    function xOf(i) { return f.L + 10 + (xs.length > 1 ? (i * span) / (xs.length - 1) : span / 2); }
    series.forEach(function (s, si) {
      var color = PALETTE[si % PALETTE.length];
      var d = [];
      xs.forEach(function (x, i) {
        var v = s.points[x];
        if (!isFinite(v)) return;
        d.push((d.length ? "L" : "M") + xOf(i).toFixed(1) + " " + f.y(v).toFixed(1));
      });
      f.root.appendChild(svg("path", { d: d.join(" "), fill: "none", stroke: color, "stroke-width": 2, "class": "pg-line" }));
      xs.forEach(function (x, i) {
        var v = s.points[x];
        if (!isFinite(v)) return;
        var dot = svg("circle", { cx: xOf(i), cy: f.y(v), r: 3, fill: color, "class": "pg-point" });
        dot.appendChild(svg("title", {}, s.name + " · " + timeLabel(x, tcol.granularity) + ": " + v));
        f.root.appendChild(dot);
      });
    });
    xLabels(f, xs.map(function (x) { return timeLabel(x, tcol.granularity); }), xOf);
    return f.root;
  }

  function barChart(q, cols, data) {
    var dims = cols.filter(function (c) { return c.kind === "dimensions"; });
    var m = cols.filter(function (c) { return c.kind === "measures"; })[0];
    var rows = data.slice(0, 60);
    var labels = rows.map(function (r) {
      return dims.length ? dims.map(function (d) { return cellText(d, r[d.key]); }).join(" · ") : "Total";
    });
    var values = rows.map(function (r) { return parseFloat(r[m.key]); });
    var label = "Bar chart of " + m.title + (dims.length ? " by " + dims.map(function (d) { return d.title; }).join(", ") : "");
    var f = frame("bar", label, values, []);
    var slot = (f.W - f.R - f.L) / Math.max(1, rows.length);
    var width = Math.max(2, Math.min(64, slot * 0.7));
    function xOf(i) { return f.L + slot * i + slot / 2; }
    values.forEach(function (v, i) {
      if (!isFinite(v)) return;
      var top = Math.min(f.y(v), f.y(0));
      var bar = svg("rect", { x: xOf(i) - width / 2, y: top, width: width, height: Math.max(1, Math.abs(f.y(v) - f.y(0))), rx: 2, fill: PALETTE[0], "class": "pg-bar" });
      bar.appendChild(svg("title", {}, labels[i] + ": " + v));
      f.root.appendChild(bar);
    });
    xLabels(f, labels, xOf);
    return f.root;
  }

  function renderChart(q, cols, data) {
    ui.chart.innerHTML = "";
    var hasMeasure = cols.some(function (c) { return c.kind === "measures"; });
    if (!hasMeasure || !data.length) {
      ui.chart.appendChild(el("p", { "class": "muted small" }, !hasMeasure ? "Add a measure to see a chart." : "No rows to chart."));
      return;
    }
    var timed = cols.some(function (c) { return c.kind === "timeDimensions"; });
    ui.chart.appendChild(timed ? lineChart(q, cols, data) : barChart(q, cols, data));
    if (!timed && data.length > 60) ui.chart.appendChild(el("p", { "class": "muted small" }, "The chart shows the first 60 rows."));
  }

  function renderResult(q, body) {
    var data = body.data || [];
    var cols = columnsOf(q, body.annotation);
    renderTable(cols, data);
    renderChart(q, cols, data);
    var ms = body.timings && body.timings.query_ms;
    ui.summary.textContent = data.length + " row" + (data.length === 1 ? "" : "s") +
      (typeof body.total === "number" ? " of " + body.total : "") +
      (ms !== undefined ? " · " + ms + " ms in the warehouse" : "") +
      (body.slowQuery ? " · served from the cache while it refreshes" : "");
    var used = Object.keys(body.usedPreAggregations || {});
    ui.served.textContent = used.length ? "pre-aggregation " + used.join(", ") : "the warehouse (no pre-aggregation matched)";
    ui.served.setAttribute("data-pre-aggregations", used.join(" "));
    ui.refresh.textContent = body.lastRefreshTime ? new Date(body.lastRefreshTime).toLocaleString() + " (" + body.lastRefreshTime + ")" : "—";
    ui.results.hidden = false;
  }

  function renderSql(res) {
    ui.sqlBox.hidden = false;
    if (!res.ok || res.body.error) {
      ui.sql.textContent = "-- " + problem(res);
      return;
    }
    var sql = res.body.sql || {};
    var pair = Array.isArray(sql) ? (sql[0] || {}).sql : sql.sql;
    var text = Array.isArray(pair) ? pair[0] : String(pair || "");
    var params = Array.isArray(pair) && pair[1] && pair[1].length ? "\n-- parameters: " + JSON.stringify(pair[1]) : "";
    if (SQL) ui.sql.innerHTML = SQL.highlight(text + params);
    else ui.sql.textContent = text + params;
  }

  function run() {
    var q = changed();
    if (!q.measures && !q.dimensions && !q.timeDimensions && !q.segments) {
      showError("Pick at least one measure or dimension.");
      return;
    }
    var mine = ++runSeq;
    hideError();
    ui.run.disabled = true;
    ui.status.textContent = "Running…";
    var began = Date.now();
    call("/sql", { query: q }).then(function (res) { if (mine === runSeq) renderSql(res); })
      .catch(function () { /* the load below reports what went wrong */ });
    load(q, mine, 0).then(function (body) {
      if (!body) return;
      renderResult(q, body);
      ui.status.textContent = "Done in " + (Date.now() - began) + " ms.";
    }).catch(function (err) {
      if (mine !== runSeq) return;
      ui.results.hidden = true;
      showError(err.message || "The server did not answer; try again.");
      ui.status.textContent = "";
    }).then(function () { if (mine === runSeq) ui.run.disabled = false; });
  }

  // --- events -----------------------------------------------------------------------------

  root.addEventListener("change", function (ev) {
    var t = ev.target;
    var kind = t.getAttribute("data-add");
    if (kind) {
      if (t.value && state[kind].indexOf(t.value) < 0) state[kind].push(t.value);
      renderChips();
    } else if (t.hasAttribute("data-filter-member")) {
      fillOperators(t.closest("[data-filter-row]"));
    } else if (t.hasAttribute("data-filter-operator")) {
      syncValues(t.closest("[data-filter-row]"));
    } else if (t === ui.range) {
      ui.custom.hidden = ui.range.value !== "custom";
    } else if (t === ui.time) {
      syncTime();
      refreshOrderChoices();
    }
    changed();
  });
  root.addEventListener("input", function (ev) {
    if (ev.target.matches("[data-filter-values], [data-pg-limit]")) changed();
  });
  root.addEventListener("click", function (ev) {
    var chip = ev.target.closest("[data-remove]");
    if (chip) {
      var kind = chip.getAttribute("data-remove");
      var name = chip.closest("[data-member]").getAttribute("data-member");
      state[kind] = state[kind].filter(function (n) { return n !== name; });
      renderChips();
      changed();
      return;
    }
    var row = ev.target.closest("[data-remove-row]");
    if (row) { row.closest(".pg-row").remove(); changed(); return; }
    if (ev.target.closest("[data-pg-add-filter]")) { ui.filters.appendChild(filterRow()); return; }
    if (ev.target.closest("[data-pg-add-order]")) {
      var first = chosenMembers()[0];
      ui.orders.appendChild(orderRow(first, "desc"));
      changed();
      return;
    }
    if (ev.target.closest("[data-pg-run]")) run();
  });
  var copy = document.querySelector("[data-pg-copy-link]");
  if (copy) copy.addEventListener("click", function () {
    var href = window.location.href;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(href).then(function () { copy.textContent = "Copied"; });
    } else {
      window.prompt("Copy this link:", href);
    }
  });

  // --- start: the model's members, then the query from the link (or a useful default) -----

  call("/meta").then(function (res) {
    ui.loading.hidden = true;
    if (!res.ok || res.body.error) { showError("Could not load the model: " + problem(res)); return; }
    readMeta(res.body);
    if (!meta.cubes.length) {
      showError("The model has no cubes or views you can query yet. Add a model file on the Semantic models page.");
      return;
    }
    var initial = root.getAttribute("data-initial-query");
    var q = null;
    if (initial) { try { q = JSON.parse(initial); } catch (e) { q = null; } }
    writeQuery(q || defaultQuery());
    ui.builder.hidden = false;
    changed();
    ui.status.textContent = "Press Run to query.";
  }).catch(function () {
    ui.loading.hidden = true;
    showError("Could not reach the Cube API; check your connection and reload.");
  });
})();
