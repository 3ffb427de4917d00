// SQL editor for dbt models, written here (no third-party code): a transparent <textarea>
// over a highlighted <pre>, line numbers, and the transformation form's live checks.
// Without JavaScript the textarea is a plain, working field.
(function () {
  "use strict";

  var KEYWORDS = (
    "all and any as asc between by case cast coalesce create cross current_date " +
    "current_timestamp delete desc distinct else end except exists false filter first following " +
    "for from full group having if ilike in inner insert intersect interval into is join last " +
    "lateral left like limit natural not null nulls offset on or order outer over partition " +
    "preceding qualify range recursive right row rows select set table then true union unbounded " +
    "update using values when where window with within"
  ).split(" ");
  var IS_KEYWORD = {};
  KEYWORDS.forEach(function (k) { IS_KEYWORD[k] = true; });

  // Tried in order at each position; the first that matches takes the text. Unterminated
  // strings, comments and Jinja blocks run to the end, as a parser would read them.
  var RULES = [
    ["jinja", /\{\{[\s\S]*?(?:\}\}|$)/y],
    ["jinja", /\{%[\s\S]*?(?:%\}|$)/y],
    ["comment", /\{#[\s\S]*?(?:#\}|$)/y],
    ["comment", /--[^\n]*/y],
    ["comment", /\/\*[\s\S]*?(?:\*\/|$)/y],
    ["string", /'(?:[^']|'')*(?:'|$)/y],
    ["ident", /"(?:[^"]|"")*(?:"|$)/y],
    ["number", /(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![A-Za-z_])/y],
    ["word", /[A-Za-z_][A-Za-z0-9_$]*/y],
    ["space", /\s+/y],
    ["punct", /[\s\S]/y],
  ];

  function escapeHtml(text) {
    return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function tokenize(sql) {
    var tokens = [];
    var pos = 0;
    while (pos < sql.length) {
      for (var i = 0; i < RULES.length; i++) {
        var re = RULES[i][1];
        re.lastIndex = pos;
        var m = re.exec(sql);
        if (m && m[0].length) {
          var kind = RULES[i][0];
          if (kind === "word") {
            if (IS_KEYWORD[m[0].toLowerCase()]) kind = "keyword";
            else if (/^\s*\(/.test(sql.substring(pos + m[0].length, pos + m[0].length + 40))) kind = "function";
          }
          tokens.push([kind, m[0]]);
          pos += m[0].length;
          break;
        }
      }
    }
    return tokens;
  }

  function highlight(sql) {
    return tokenize(sql).map(function (t) {
      var text = escapeHtml(t[1]);
      if (t[0] === "space" || t[0] === "punct" || t[0] === "word") return text;
      return '<span class="sql-' + t[0] + '">' + text + "</span>";
    }).join("");
  }

  function lineOf(message) {
    var m = /\bline (\d+)\b/.exec(message || "");
    return m ? parseInt(m[1], 10) : null;
  }

  // One editor: textarea [data-sql-input], highlight layer, gutter and error-line marker.
  function Editor(root) {
    this.root = root;
    this.input = root.querySelector("[data-sql-input]");
    this.layer = root.querySelector("[data-sql-highlight]");
    this.gutter = root.querySelector("[data-sql-gutter]");
    this.marker = root.querySelector("[data-sql-marker]");
    this.errorLine = null;
    var self = this;
    this.input.addEventListener("input", function () { self.render(); });
    this.input.addEventListener("keydown", function (ev) { self.keydown(ev); });
    this.render();
  }

  Editor.prototype.render = function () {
    var text = this.input.value;
    // The trailing newline keeps the layer as tall as the textarea after a final Enter.
    this.layer.innerHTML = highlight(text) + "\n";
    var count = text.split("\n").length;
    var html = [];
    for (var n = 1; n <= count; n++) {
      html.push('<div class="sql-line-number' + (n === this.errorLine ? " sql-error-line" : "") +
        '" data-line="' + n + '">' + n + "</div>");
    }
    this.gutter.innerHTML = html.join("");
    this.placeMarker();
  };

  Editor.prototype.placeMarker = function () {
    var line = this.errorLine;
    var count = this.input.value.split("\n").length;
    if (!line || line > count) { this.marker.hidden = true; return; }
    var style = window.getComputedStyle(this.layer);
    var height = parseFloat(style.lineHeight) || 20;
    this.marker.style.top = (parseFloat(style.paddingTop) + (line - 1) * height) + "px";
    this.marker.style.height = height + "px";
    this.marker.hidden = false;
  };

  Editor.prototype.markLine = function (line) {
    this.errorLine = line;
    this.root.classList.toggle("has-sql-error", !!line);
    this.render();
  };

  Editor.prototype.insert = function (text) {
    this.input.focus();
    if (!document.execCommand || !document.execCommand("insertText", false, text)) {
      this.input.setRangeText(text, this.input.selectionStart, this.input.selectionEnd, "end");
      this.input.dispatchEvent(new Event("input", { bubbles: true }));
    }
  };

  Editor.prototype.keydown = function (ev) {
    if (ev.key === "Tab" && !ev.shiftKey && !ev.ctrlKey && !ev.altKey && !this.input.readOnly) {
      ev.preventDefault();
      this.insert("  ");
    }
  };

  window.TenantrySql = { highlight: highlight, tokenize: tokenize, lineOf: lineOf, Editor: Editor };

  // --- the transformation form -----------------------------------------------------------
  var form = document.querySelector("[data-transform-form]");
  var root = form && form.querySelector("[data-sql-editor]");
  if (!root) return;
  var editor = new Editor(root);
  var errorBox = form.querySelector("[data-sql-error]");
  var status = form.querySelector("[data-sql-status]");
  var hint = status.innerHTML;
  var seq = 0;
  var timer = null;

  function post(url) {
    return fetch(url, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    });
  }

  function problemText(body) {
    var errors = body.errors || [];
    if (!errors.length) return body.detail || "Something went wrong.";
    return errors.map(function (e) {
      return e.field === "sql" ? e.message : e.field.replace(/^spec\./, "") + ": " + e.message;
    }).join("; ");
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
    editor.markLine(lineOf(message));
  }

  function clearError() {
    errorBox.textContent = "";
    errorBox.hidden = true;
    editor.markLine(null);
  }

  function validate() {
    var mine = ++seq;
    status.textContent = "Checking…";
    post(form.getAttribute("data-validate-url")).then(function (res) {
      if (mine !== seq) return; // an older answer arriving late
      if (!res.ok) {
        showError(problemText(res.body));
        status.innerHTML = hint;
        return;
      }
      clearError();
      var reads = res.body.sources.concat(res.body.refs.map(function (r) { return "ref " + r; }));
      status.textContent = "✓ The SQL is valid" + (reads.length ? "; it reads " + reads.join(", ") : "") +
        (res.body.sql_checked ? "." : ". Loops and macros are checked by dbt when it runs.");
      status.setAttribute("data-valid", "true");
    }).catch(function () { status.innerHTML = hint; /* offline or signed out */ });
  }

  function later() {
    status.removeAttribute("data-valid");
    clearTimeout(timer);
    timer = setTimeout(validate, 400);
  }

  if (errorBox.textContent.trim()) editor.markLine(lineOf(errorBox.textContent));
  if (!editor.input.readOnly) {
    editor.input.addEventListener("input", later);
    ["name", "kind"].forEach(function (n) {
      var el = form.querySelector("[name=" + n + "]");
      if (el) el.addEventListener("change", later);
    });
    if (editor.input.value.trim() && !errorBox.textContent.trim()) validate();
  }

  form.addEventListener("click", function (ev) {
    var btn = ev.target.closest("[data-insert]");
    if (btn) editor.insert(btn.getAttribute("data-insert"));
  });

  // Options that apply to the chosen kind, materialization and snapshot strategy only.
  function value(name) {
    var el = form.querySelector("[name=" + name + "]");
    return el ? el.value : "";
  }
  function sync() {
    var kind = value("kind") || "model";
    var mat = value("materialization");
    form.querySelectorAll("[data-kinds]").forEach(function (el) {
      el.hidden = el.getAttribute("data-kinds") !== kind;
    });
    form.querySelectorAll("[data-materializations]").forEach(function (el) {
      el.hidden = kind !== "model" || el.getAttribute("data-materializations") !== mat;
    });
    form.querySelectorAll("[data-strategies]").forEach(function (el) {
      el.hidden = el.getAttribute("data-strategies") !== value("snapshot_strategy");
    });
    form.querySelectorAll("[data-unique-key]").forEach(function (el) {
      el.hidden = !(kind === "snapshot" || mat === "incremental");
    });
  }
  form.addEventListener("change", function (ev) {
    if (/^(kind|materialization|snapshot_strategy)$/.test(ev.target.name || "")) sync();
  });
  sync();

  // Another column row: a copy of the last one, emptied and renumbered.
  var add = form.querySelector("[data-add-column]");
  if (add) add.addEventListener("click", function () {
    var body = form.querySelector("[data-column-rows] tbody");
    var rows = body.querySelectorAll("[data-column-row]");
    var next = rows.length;
    var row = rows[rows.length - 1].cloneNode(true);
    row.querySelectorAll("input").forEach(function (input) {
      input.name = input.name.replace(/^col_\d+_/, "col_" + next + "_");
      input.setAttribute("aria-label", input.getAttribute("aria-label").replace(/^Column \d+/, "Column " + (next + 1)));
      if (input.type === "checkbox") input.checked = false; else input.value = "";
    });
    body.appendChild(row);
    row.querySelector("input").focus();
  });

  // Compile and Preview: the editor's SQL as it is now (saved or not).
  var out = document.querySelector("[data-output]");
  function showOutput(title) {
    out.hidden = false;
    out.querySelector("[data-output-title]").textContent = title;
    ["[data-output-error]", "[data-output-sql]", "[data-output-table]"].forEach(function (s) {
      out.querySelector(s).hidden = true;
    });
    out.querySelector("[data-output-summary]").textContent = "Running dbt…";
  }
  function outputError(body) {
    var box = out.querySelector("[data-output-error]");
    box.textContent = problemText(body);
    box.hidden = false;
    out.querySelector("[data-output-summary]").textContent = "";
  }
  function showTable(result) {
    var table = out.querySelector("[data-output-table]");
    var head = "<tr>" + result.columns.map(function (c) {
      return "<th>" + escapeHtml(c.name) + '<div class="muted small">' + escapeHtml(c.type) + "</div></th>";
    }).join("") + "</tr>";
    table.tHead.innerHTML = head;
    table.tBodies[0].innerHTML = result.rows.map(function (row) {
      return "<tr>" + row.map(function (v) {
        var text = v === null ? "NULL" : typeof v === "object" ? JSON.stringify(v) : String(v);
        return '<td class="mono small">' + escapeHtml(text) + "</td>";
      }).join("") + "</tr>";
    }).join("");
    table.hidden = false;
    out.querySelector("[data-output-summary]").textContent = result.row_count + " row" +
      (result.row_count === 1 ? "" : "s") + (result.truncated ? " (more exist)" : "") +
      " · " + result.elapsed_ms + " ms";
  }
  form.querySelectorAll("[data-action]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var action = btn.getAttribute("data-action");
      var label = btn.textContent;
      btn.disabled = true;
      btn.textContent = action === "compile" ? "Compiling…" : "Previewing…";
      showOutput(action === "compile" ? "Compiled SQL" : "Preview");
      post(form.getAttribute("data-" + action + "-url")).then(function (res) {
        if (!res.ok) return outputError(res.body);
        if (action === "compile") {
          var pre = out.querySelector("[data-output-sql]");
          pre.innerHTML = highlight(res.body.compiled_sql);
          pre.hidden = false;
          out.querySelector("[data-output-summary]").textContent = "What dbt runs in your warehouse.";
        } else {
          showTable(res.body);
        }
      }).catch(function () {
        outputError({ detail: "The server did not answer; try again." });
      }).then(function () {
        btn.disabled = false;
        btn.textContent = label;
        out.scrollIntoView({ behavior: "smooth", block: "nearest" });
      });
    });
  });
})();
