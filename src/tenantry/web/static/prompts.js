// The prompt registry's pages, written here (no third-party code): the YAML editor checked and
// previewed as you type (an input form generated from the declared inputs), the run panel that
// streams a model's answer as it arrives, and small helpers. The editor itself (highlighting,
// line numbers, marks, Tab → two spaces) is semantic.js's TenantryYaml.Editor.
//
// Every call goes to the page's own routes with the browser session: a POST of a form carrying
// the CSRF token, answered with JSON — or, for a run, with server-sent events.
(function () {
  "use strict";

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function csrfOf(form) {
    var field = form.querySelector("[name=csrf_token]");
    return field ? field.value : "";
  }

  var REFUSED = "The request was refused (signed out, or not allowed here): reload the page.";

  // POST a FormData; {ok, status, body} with the body parsed as JSON.
  function post(url, data) {
    return fetch(url, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      redirect: "manual", // a refused form answers with a redirect to a page, not JSON
      headers: { Accept: "application/json" },
    }).then(function (r) {
      if (r.type === "opaqueredirect" || r.status === 0) {
        return { ok: false, status: 0, body: { detail: REFUSED } };
      }
      return r.text().then(function (text) {
        var body;
        try { body = JSON.parse(text); } catch (e) { body = { detail: "Unexpected answer (HTTP " + r.status + ")." }; }
        return { ok: r.ok, status: r.status, body: body || {} };
      });
    });
  }

  function later(fn, ms) {
    var timer = null;
    return function () { clearTimeout(timer); timer = setTimeout(fn, ms); };
  }

  // --- the input form, generated from the declared inputs ---------------------------------

  function typeLabel(f) {
    if (f.type === "array") return f.items ? "array of " + f.items : "array";
    return f.type;
  }

  function InputForm(root, onChange) {
    this.root = root;
    this.fields = [];
    this.signature = null;
    var self = this;
    function changed(ev) {
      var field = ev.target.closest("[data-input-field]");
      if (field) self.clearError(field.getAttribute("data-input-field"));
      if (onChange) onChange();
    }
    root.addEventListener("input", changed);
    root.addEventListener("change", changed);
    root.addEventListener("submit", function (ev) { ev.preventDefault(); });
  }

  InputForm.prototype.control = function (name) {
    return this.root.querySelector('[data-input="' + name + '"]');
  };

  InputForm.prototype.build = function (fields) {
    var signature = JSON.stringify(fields || []);
    if (signature === this.signature) return false;
    // Keep what was typed into inputs that are still there with the same type.
    var kept = {};
    var self = this;
    this.fields.forEach(function (f) {
      var c = self.control(f.name);
      if (c) kept[f.name] = { type: f.type, value: c.value, checked: c.checked, touched: c.getAttribute("data-touched") };
    });
    this.signature = signature;
    this.fields = fields || [];
    this.root.innerHTML = "";
    if (!this.fields.length) {
      this.root.appendChild(el("p", { "class": "muted small" }, "This prompt declares no inputs."));
    }
    this.fields.forEach(function (f) { self.root.appendChild(self.field(f, kept[f.name])); });
    return true;
  };

  InputForm.prototype.field = function (f, kept) {
    var id = "in-" + f.name;
    var wrap = el("div", { "class": "field input-field", "data-input-field": f.name, "data-type": f.type });
    var label = el("label", { "for": id });
    label.appendChild(el("span", { "class": "mono" }, f.name));
    label.appendChild(el("span", { "class": "muted small input-type" }, " " + typeLabel(f) + (f.required ? " · required" : "")));
    var control;
    var hasDefault = f["default"] !== null && f["default"] !== undefined;
    if (f.type === "boolean") {
      control = el("input", { type: "checkbox", id: id });
      control.checked = f["default"] === true;
      wrap.classList.add("input-check");
    } else if (f.type === "enum") {
      control = el("select", { id: id });
      if (!f.required || !hasDefault) control.appendChild(el("option", { value: "" }, f.required ? "(choose)" : "(none)"));
      (f.values || []).forEach(function (v) {
        var option = el("option", { value: String(v) }, String(v));
        if (hasDefault && String(v) === String(f["default"])) option.selected = true;
        control.appendChild(option);
      });
    } else if (f.type === "number" || f.type === "integer") {
      control = el("input", { type: "number", id: id, step: f.type === "integer" ? "1" : "any" });
      if (f.minimum !== null && f.minimum !== undefined) control.setAttribute("min", String(f.minimum));
      if (f.maximum !== null && f.maximum !== undefined) control.setAttribute("max", String(f.maximum));
      if (hasDefault) control.value = String(f["default"]);
    } else if (f.type === "array" || f.type === "object") {
      control = el("textarea", { id: id, rows: "3", "class": "mono", spellcheck: "false" });
      control.setAttribute("placeholder", f.type === "array" ? '["first", "second"]' : '{"key": "value"}');
      if (hasDefault) control.value = JSON.stringify(f["default"], null, 2);
    } else {
      control = el("input", { type: "text", id: id });
      if (hasDefault) control.value = String(f["default"]);
    }
    control.setAttribute("data-input", f.name);
    control.setAttribute("name", "input." + f.name);
    if (kept && kept.type === f.type && kept.touched) {
      if (f.type === "boolean") control.checked = kept.checked; else control.value = kept.value;
      control.setAttribute("data-touched", "1");
    }
    control.addEventListener("input", function () { control.setAttribute("data-touched", "1"); });
    control.addEventListener("change", function () { control.setAttribute("data-touched", "1"); });
    if (f.type === "boolean") {
      label.insertBefore(control, label.firstChild);
      wrap.appendChild(label);
    } else {
      wrap.appendChild(label);
      wrap.appendChild(control);
    }
    if (f.description) wrap.appendChild(el("p", { "class": "hint" }, f.description));
    wrap.appendChild(el("p", { "class": "field-error", "data-input-error": "", hidden: "" }));
    return wrap;
  };

  // name → value, as the server coerces them (numbers and JSON may stay text: the server
  // names the input when a value does not fit). Empty fields are left out: default or required.
  InputForm.prototype.values = function () {
    var out = {};
    var self = this;
    this.fields.forEach(function (f) {
      var c = self.control(f.name);
      if (!c) return;
      if (f.type === "boolean") { out[f.name] = c.checked; return; }
      var v = c.value;
      if (v.trim() === "") return;
      if (f.type === "number" || f.type === "integer") {
        out[f.name] = isFinite(Number(v)) ? Number(v) : v;
      } else if (f.type === "array" || f.type === "object") {
        try { out[f.name] = JSON.parse(v); } catch (e) { out[f.name] = v; }
      } else {
        out[f.name] = v;
      }
    });
    return out;
  };

  InputForm.prototype.clearError = function (name) {
    var wrap = this.root.querySelector('[data-input-field="' + name + '"]');
    if (!wrap) return;
    wrap.classList.remove("has-error");
    var p = wrap.querySelector("[data-input-error]");
    p.hidden = true;
    p.textContent = "";
  };

  // Marks the inputs a 422 names (fields "inputs.<name>" or "inputs.<name>[i]").
  InputForm.prototype.showErrors = function (errors) {
    var self = this;
    this.fields.forEach(function (f) { self.clearError(f.name); });
    (errors || []).forEach(function (e) {
      var m = /^inputs\.([A-Za-z_][A-Za-z0-9_]*)/.exec(e.field || "");
      if (!m) return;
      var wrap = self.root.querySelector('[data-input-field="' + m[1] + '"]');
      if (!wrap) return;
      wrap.classList.add("has-error");
      var p = wrap.querySelector("[data-input-error]");
      p.textContent = (e.field.slice(7) !== m[1] ? e.field.slice(7) + ": " : "") + e.message;
      p.hidden = false;
    });
  };

  // --- a rendered prompt: text, or chat messages with role badges -------------------------

  function showRendered(box, rendered) {
    box.innerHTML = "";
    if (rendered && rendered.messages) {
      rendered.messages.forEach(function (m) {
        var item = el("div", { "class": "chat-msg chat-" + m.role, "data-role": m.role });
        item.appendChild(el("span", { "class": "badge msg-role msg-role-" + m.role }, m.role));
        item.appendChild(el("pre", { "class": "chat-content" }, m.content));
        box.appendChild(item);
      });
    } else {
      box.appendChild(el("pre", { "class": "rendered-text" }, (rendered && rendered.text) || ""));
    }
  }

  function problemText(body) {
    var text = body.detail || body.title || "The request failed.";
    return text;
  }

  // --- the editor page --------------------------------------------------------------------

  function editorPage() {
    var form = document.querySelector("[data-prompt-form]");
    if (!form || !window.TenantryYaml) return;
    var editor = new window.TenantryYaml.Editor(form.querySelector("[data-yaml-editor]"));
    var box = form.querySelector("[data-problems]");
    var title = box.querySelector("[data-problems-title]");
    var list = box.querySelector("[data-problem-list]");
    var status = form.querySelector("[data-prompt-status]");
    var hint = status.textContent;
    var panel = document.querySelector("[data-preview]");
    var inputRoot = panel && panel.querySelector("[data-input-form]");
    var rendered = panel && panel.querySelector("[data-rendered]");
    var previewError = panel && panel.querySelector("[data-preview-error]");
    var checkSeq = 0;
    var previewSeq = 0;
    var readable = true; // the YAML reads as a prompt (else the preview waits)

    function markFromList() {
      var lines = [];
      list.querySelectorAll("li[data-line]").forEach(function (li) {
        // Errors are marked in the editor; warnings are only listed (and can be jumped to).
        if (!li.classList.contains("problem-warning")) lines.push(parseInt(li.getAttribute("data-line"), 10));
        li.classList.add("jump");
        li.title = "Select line " + li.getAttribute("data-line");
      });
      editor.mark(lines);
    }

    function showProblems(problems) {
      list.innerHTML = "";
      var errors = 0;
      problems.forEach(function (p) {
        if (p.severity !== "warning") errors += 1;
        var li = el("li", { "class": "problem-" + (p.severity || "error") });
        if (p.line) {
          li.setAttribute("data-line", String(p.line));
          li.appendChild(el("span", { "class": "mono" }, "line " + p.line));
          li.appendChild(document.createTextNode(" · "));
        }
        if (p.severity === "warning") li.appendChild(el("span", { "class": "badge" }, "warning"));
        if (p.where) {
          li.appendChild(el("span", { "class": "mono" }, p.where));
          li.appendChild(document.createTextNode(": "));
        }
        li.appendChild(document.createTextNode(p.message));
        list.appendChild(li);
      });
      var n = problems.length;
      title.textContent = n ? n + " problem" + (n === 1 ? "" : "s") + ":" : "";
      box.hidden = !n;
      box.classList.toggle("alert-error", errors > 0);
      box.classList.toggle("alert-warn", errors === 0);
      markFromList();
    }

    var inputs = inputRoot ? new InputForm(inputRoot, later(preview, 250)) : null;
    if (inputs) {
      try { inputs.build(JSON.parse(panel.getAttribute("data-inputs") || "[]")); } catch (e) { inputs.build([]); }
    }

    function preview() {
      if (!inputs) return;
      if (!readable) {
        previewError.textContent = "The preview waits until the YAML reads as a prompt (see the problems).";
        previewError.hidden = false;
        rendered.classList.add("stale");
        return;
      }
      var mine = ++previewSeq;
      var data = new FormData();
      data.append("csrf_token", csrfOf(form));
      data.append("yaml", editor.input.value);
      data.append("inputs", JSON.stringify(inputs.values()));
      post(form.getAttribute("data-preview-url"), data).then(function (res) {
        if (mine !== previewSeq) return; // an older answer arriving late
        if (res.ok) {
          previewError.hidden = true;
          inputs.showErrors([]);
          rendered.classList.remove("stale");
          showRendered(rendered, res.body.rendered);
          return;
        }
        inputs.showErrors(res.body.errors);
        previewError.textContent = problemText(res.body);
        previewError.hidden = false;
        rendered.classList.add("stale");
      }).catch(function () { /* offline: the editor still works */ });
    }

    function check() {
      var mine = ++checkSeq;
      status.textContent = "Checking…";
      status.removeAttribute("data-valid");
      var data = new FormData();
      data.append("csrf_token", csrfOf(form));
      data.append("yaml", editor.input.value);
      post(form.getAttribute("data-validate-url"), data).then(function (res) {
        if (mine !== checkSeq) return;
        if (!res.ok) { status.textContent = res.body.detail || hint; return; }
        var problems = res.body.problems || [];
        showProblems(problems);
        var warnings = problems.filter(function (p) { return p.severity === "warning"; }).length;
        if (res.body.valid) {
          status.textContent = "✓ Valid" + (warnings ? " (" + warnings + " warning" + (warnings === 1 ? "" : "s") + ")." : ".");
          status.setAttribute("data-valid", "true");
        } else {
          status.textContent = "Not valid yet; the problems are listed above.";
        }
        readable = res.body.inputs !== null && res.body.inputs !== undefined;
        if (readable && inputs) inputs.build(res.body.inputs);
        preview();
      }).catch(function () { status.textContent = hint; });
    }

    list.addEventListener("click", function (ev) {
      var li = ev.target.closest("li[data-line]");
      if (li) editor.goTo(parseInt(li.getAttribute("data-line"), 10));
    });
    markFromList();
    editor.input.addEventListener("input", later(check, 400));
    if (box.hidden) check(); else preview();
  }

  // --- the run panel ------------------------------------------------------------------------

  // Reads a text/event-stream body as it arrives: onEvent(name, data) per event.
  function readEvents(response, onEvent) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    function dispatch(block) {
      var name = "message";
      var data = [];
      block.split(/\r?\n/).forEach(function (line) {
        if (line.indexOf("event:") === 0) name = line.slice(6).trim();
        else if (line.indexOf("data:") === 0) data.push(line.slice(5).replace(/^ /, ""));
      });
      if (!data.length) return;
      var parsed;
      try { parsed = JSON.parse(data.join("\n")); } catch (e) { parsed = data.join("\n"); }
      onEvent(name, parsed);
    }
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) {
          buffer += decoder.decode();
          if (buffer.trim()) dispatch(buffer);
          return;
        }
        buffer += decoder.decode(chunk.value, { stream: true });
        var parts = buffer.split(/\r?\n\r?\n/);
        buffer = parts.pop();
        parts.forEach(dispatch);
        return pump();
      });
    }
    return pump();
  }

  function money(v) {
    if (v === null || v === undefined) return null;
    return "$" + Number(v).toFixed(6);
  }

  function runPage() {
    var form = document.querySelector("[data-run-form]");
    if (!form) return;
    var target = document.querySelector("[data-target-select]");
    if (target) target.addEventListener("change", function () { target.form.submit(); });
    var inputs = new InputForm(form.querySelector("[data-input-form]"));
    try { inputs.build(JSON.parse(form.getAttribute("data-inputs") || "[]")); } catch (e) { inputs.build([]); }
    var result = document.querySelector("[data-run-result]");
    var ui = {
      error: result.querySelector("[data-run-error]"),
      renderBox: result.querySelector("[data-render-box]"),
      rendered: result.querySelector("[data-rendered]"),
      output: result.querySelector("[data-run-output]"),
      tools: result.querySelector("[data-tool-calls]"),
      stats: result.querySelector("[data-run-stats]"),
      status: form.querySelector("[data-run-status]"),
      run: form.querySelector("[data-run]"),
      render: form.querySelector("[data-render]"),
    };
    var executions = form.getAttribute("data-execute-url").replace(/\/prompts\/[^/]+\/execute$/, "/prompts/executions/");

    function fail(body) {
      inputs.showErrors(body.errors);
      ui.error.textContent = problemText(body);
      if (body.execution_id) {
        ui.error.appendChild(document.createTextNode(" "));
        ui.error.appendChild(el("a", { href: executions + body.execution_id }, "See the execution"));
      }
      ui.error.hidden = false;
    }

    function formData() {
      var data = new FormData(form);
      data["delete"]("store_inputs");
      Array.prototype.slice.call(form.querySelectorAll("[data-input]")).forEach(function (c) { data["delete"](c.name); });
      var store = form.querySelector("[name=store_inputs]");
      data.append("store_inputs", store && store.checked ? "true" : "false");
      data.append("inputs", JSON.stringify(inputs.values()));
      return data;
    }

    function reset() {
      ui.error.hidden = true;
      ui.error.textContent = "";
      inputs.showErrors([]);
    }

    ui.render.addEventListener("click", function () {
      reset();
      post(form.getAttribute("data-render-url"), formData()).then(function (res) {
        if (!res.ok) return fail(res.body);
        ui.renderBox.hidden = false;
        showRendered(ui.rendered, res.body.rendered);
      });
    });

    function done(view) {
      if (!ui.output.textContent && view.output) ui.output.textContent = view.output;
      var parts = ["Tokens in " + view.input_tokens, "out " + view.output_tokens];
      var cost = money(view.cost_usd);
      parts.push(cost ? "cost " + cost : "cost unknown (no price for " + view.model + ")");
      parts.push("latency " + view.latency_ms + " ms");
      parts.push(view.model);
      ui.stats.innerHTML = "";
      ui.stats.appendChild(document.createTextNode(parts.join(" · ") + " · "));
      ui.stats.appendChild(el("a", { href: executions + view.id, "data-testid": "execution-link" }, "details"));
      ui.stats.hidden = false;
      ui.status.textContent = "Done.";
    }

    function onEvent(name, data) {
      if (name === "start") {
        ui.status.textContent = "Calling " + data.provider + " / " + data.model + " (version " + data.version + ")…";
      } else if (name === "text") {
        ui.output.textContent += data.text;
      } else if (name === "tool_call") {
        var args = typeof data.arguments === "string" ? data.arguments : JSON.stringify(data.arguments);
        var li = el("li", { "data-tool": data.name || "" });
        li.appendChild(el("span", { "class": "badge" }, "tool call"));
        li.appendChild(el("span", { "class": "mono" }, " " + (data.name || "") + "(" + (args || "") + ")"));
        ui.tools.appendChild(li);
        ui.tools.hidden = false;
      } else if (name === "done") {
        done(data);
      } else if (name === "error") {
        ui.status.textContent = "Failed.";
        fail(data);
      }
    }

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (!ui.run || ui.run.disabled) return;
      reset();
      ui.output.textContent = "";
      ui.tools.innerHTML = "";
      ui.tools.hidden = true;
      ui.stats.hidden = true;
      ui.run.disabled = true;
      ui.status.textContent = "Starting…";
      fetch(form.getAttribute("data-execute-url"), {
        method: "POST",
        body: formData(),
        credentials: "same-origin",
        redirect: "manual",
        headers: { Accept: "text/event-stream, application/json" },
      }).then(function (r) {
        if (r.type === "opaqueredirect" || r.status === 0) return fail({ detail: REFUSED });
        var type = r.headers.get("content-type") || "";
        if (r.ok && type.indexOf("text/event-stream") === 0) return readEvents(r, onEvent);
        return r.text().then(function (text) {
          var body;
          try { body = JSON.parse(text); } catch (e) { body = { detail: "Unexpected answer (HTTP " + r.status + ")." }; }
          ui.status.textContent = r.status === 429 ? "Quota reached." : "Refused.";
          fail(body);
        });
      }).catch(function (e) {
        ui.status.textContent = "";
        fail({ detail: "The connection failed: " + e });
      }).then(function () { ui.run.disabled = false; });
    });
  }

  // --- small helpers -----------------------------------------------------------------------

  // Tab inserts two spaces in plain template textareas (parts).
  document.querySelectorAll("textarea[data-tab-spaces]").forEach(function (area) {
    area.addEventListener("keydown", function (ev) {
      if (ev.key !== "Tab" || ev.shiftKey || ev.ctrlKey || ev.altKey || ev.metaKey || area.readOnly) return;
      ev.preventDefault();
      area.setRangeText("  ", area.selectionStart, area.selectionEnd, "end");
    });
  });

  // A version's YAML, read-only: highlighted with line numbers like the editor.
  document.querySelectorAll("[data-yaml-editor]").forEach(function (root) {
    if (!root.closest("[data-prompt-form]") && root.querySelector("[data-readonly-yaml]") && window.TenantryYaml) {
      new window.TenantryYaml.Editor(root);
    }
  });

  editorPage();
  runPage();
})();
