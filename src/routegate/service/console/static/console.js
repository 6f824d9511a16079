// routegate console: plain JavaScript, no dependencies. Every page is
// server-rendered; this file adds the live model check, the create form,
// one workspace's page (load, change model, delete), and how far a publish is
// on the manifest versions' pages, all through the JSON API
// with the session cookie. Text is always inserted with textContent, never as HTML.
(function () {
  "use strict";

  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var CSRF = csrfMeta ? csrfMeta.getAttribute("content") : "";
  var LOGIN_URL = document.body.getAttribute("data-login-url") || "";
  var CHECK_DELAY_MS = 250;
  var CLOSE_ENOUGH = 0.5;  // Dice similarity a suggestion needs before it is offered
  var BILLING_LABELS = JSON.parse(document.body.getAttribute("data-billing-labels") || "{}");  // from the server

  // --- small helpers -------------------------------------------------------

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }

  // el("p", {class: "x"}, "text", childNode, ...): attributes, then children (strings become text).
  function el(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) return;
      node.setAttribute(key, value === true ? "" : value);
    });
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  function append(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(node, c); }); return; }
    node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  }

  function replace(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    for (var i = 1; i < arguments.length; i++) append(node, arguments[i]);
  }

  function code(text) { return el("code", {}, String(text)); }
  function muted(text) { return el("span", {class: "muted"}, text); }

  function billingLabel(mode) { return BILLING_LABELS[mode] || (mode ? String(mode) : "—"); }

  function billingBadge(mode) {
    if (mode === "platform_managed") {
      return el("span", {class: "badge badge--platform", title: "Served on the platform's key and metered to the platform"}, billingLabel(mode));
    }
    if (mode === "byok") {
      return el("span", {class: "badge badge--byok", title: "Bring your own key: the workspace's own credentials pay"}, billingLabel(mode));
    }
    return muted(billingLabel(mode));
  }

  function envList(names) {
    if (!names || !names.length) return muted("none");
    var out = [];
    names.forEach(function (name, i) {
      if (i) out.push(el("span", {class: "sep"}, " or "));
      out.push(el("code", {class: "env"}, name));
    });
    return el("span", {}, out);
  }

  function timeText(iso) {
    if (!iso) return muted("—");
    var date = new Date(iso);
    var shown = isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
    return el("time", {datetime: String(iso)}, shown);
  }

  function facts(pairs) {
    var nodes = [];
    pairs.forEach(function (pair) {
      nodes.push(el("dt", {}, pair[0]));
      nodes.push(el("dd", {}, pair[1]));
    });
    return nodes;
  }

  function authNames(input) {
    return input.value.split(/[\s,]+/).filter(Boolean);
  }

  function loginRedirect() {
    if (!LOGIN_URL) return false;
    window.location.assign(LOGIN_URL + "?next=" + encodeURIComponent(window.location.pathname + window.location.search));
    return true;
  }

  // One same-origin call to the JSON API. A body goes as application/json; unsafe methods carry the CSRF token.
  function api(method, path, body, signal) {
    var headers = {"Accept": "application/json"};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (CSRF && method !== "GET") headers["X-CSRF-Token"] = CSRF;
    return fetch(path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      mode: "same-origin",
      signal: signal
    }).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (response.status === 401) loginRedirect();
        return {ok: response.ok, status: response.status, data: data};
      });
    });
  }

  function errorText(result) {
    var data = result.data || {};
    return data.error || data.message || data.detail || ("the service answered HTTP " + result.status);
  }

  // A refusal as the API gave it: its code, the HTTP status, the reason, and any field problems.
  function refusalNodes(result) {
    var data = result.data || {};
    var nodes = [
      el("p", {}, data.code ? el("span", {class: "check__code", "data-testid": "error-code"}, data.code) : null,
         data.code ? " " : null, "HTTP " + result.status),
      el("p", {"data-testid": "error-message"}, errorText(result))
    ];
    if (Array.isArray(data.problems) && data.problems.length) {
      nodes.push(el("ul", {}, data.problems.map(function (p) {
        var where = p.field || p.where || "";
        return el("li", {}, where ? code(where) : null, where ? ": " : null, String(p.message || ""));
      })));
    }
    return nodes;
  }

  function showResult(box, state, heading, nodes) {
    box.hidden = false;
    box.setAttribute("data-state", state);
    box.setAttribute("role", state === "error" ? "alert" : "status");
    replace(box, el("h3", {}, heading), nodes);
    box.focus();
  }

  function chips(ids, onPick, label) {
    return el("ul", {class: "chips", "aria-label": label}, ids.map(function (id) {
      var button = el("button", {type: "button", class: "chip", "data-model": id}, id);
      button.addEventListener("click", function () { onPick(id); });
      return el("li", {}, button);
    }));
  }

  // --- closeness of suggestions ---------------------------------------------

  function letterPairs(text) {
    var folded = text.slice(0, 128).toLowerCase();
    var pairs = {};
    for (var i = 0; i < folded.length - 1; i++) pairs[folded.slice(i, i + 2)] = true;
    if (folded.length === 1) pairs[folded] = true;
    return pairs;
  }

  // Dice similarity of letter pairs: 1 for the same id, 0 for nothing in common.
  function similarity(a, b) {
    var pa = letterPairs(a), pb = letterPairs(b);
    var ka = Object.keys(pa), kb = Object.keys(pb);
    if (!ka.length || !kb.length) return 0;
    var shared = ka.filter(function (k) { return pb[k]; }).length;
    return 2 * shared / (ka.length + kb.length);
  }

  function closeSuggestions(model, ids) {
    return (ids || []).filter(function (id) { return similarity(model, id) >= CLOSE_ENOUGH; });
  }

  // --- several candidate providers --------------------------------------------

  // For each candidate, the auth env names that would choose it: those no other candidate accepts.
  function choosingEnv(candidates, providerEnv) {
    return candidates.map(function (name) {
      var others = {};
      candidates.forEach(function (other) {
        if (other !== name) (providerEnv[other] || []).forEach(function (env) { others[env] = true; });
      });
      return {name: name, env: (providerEnv[name] || []).filter(function (env) { return !others[env]; })};
    });
  }

  function candidatesNodes(d, providerEnv) {
    if (!d.candidates || d.candidates.length < 2) return [];
    return [
      el("p", {}, "Several providers could serve it; the workspace's auth env names decide:"),
      el("ul", {class: "choices__list", "data-testid": "candidates"}, choosingEnv(d.candidates, providerEnv).map(function (c) {
        return el("li", {"data-provider": c.name}, el("strong", {}, c.name),
          d.allowed && c.name === d.provider ? " (chosen)" : null, ": ",
          c.env.length ? envList(c.env) : muted("no env name of its own"));
      }))
    ];
  }

  // --- the live check -------------------------------------------------------

  // Checks a model field against the registry as the user types: a pending state while they type,
  // one request once they pause, then the decision. opts: input, box, runtime(), auth(), providerEnv,
  // onPick(id), onDecision(decision or null).
  function LiveCheck(opts) {
    var timer = 0, inflight = null, sequence = 0;
    var settled = null;  // {key, decision} of the last answer
    var waiting = null;  // {key, promise} of the request in flight

    function key() { return JSON.stringify([opts.runtime(), opts.input.value.trim(), opts.auth()]); }

    function set(state, nodes, decision) {
      opts.box.setAttribute("data-state", state);
      if (state === "checking") opts.box.setAttribute("aria-busy", "true");
      else opts.box.removeAttribute("aria-busy");
      replace(opts.box, nodes);
      if (opts.onDecision) opts.onDecision(decision || null);
    }

    function render(d) {
      if (d.allowed && (d.path === "menu" || d.path === "route")) {
        set("allowed", [
          el("p", {}, el("span", {class: "check__verdict"}, "Routes"), " on ", code(d.runtime),
             d.path === "menu" ? " — on the menu" : " — by the provider's pattern"),
          el("p", {}, "Provider ", el("strong", {"data-testid": "check-provider"}, d.provider), " · billing ", billingBadge(d.billing_mode)),
          el("p", {}, "Needs ", envList(d.required_env)),
          candidatesNodes(d, opts.providerEnv)
        ], d);
      } else if (d.allowed) {
        set("allowed", [el("p", {}, el("span", {class: "check__verdict"}, "Allowed"), " — ", d.reason)], d);
      } else {
        var close = closeSuggestions(d.model, d.suggestions);
        set("refused", [
          el("p", {}, el("span", {class: "check__verdict"}, "Refused"), " ",
             el("span", {class: "check__code", "data-testid": "check-code"}, d.code)),
          el("p", {class: "check__reason"}, d.reason),
          candidatesNodes(d, opts.providerEnv),
          close.length ? [el("p", {}, "Close menu ids:"), chips(close, opts.onPick, "Close menu ids")] : null
        ], d);
      }
    }

    // Forget any check still to come or in flight: its answer is for a field that has changed.
    function cancel() {
      clearTimeout(timer);
      if (inflight) { inflight.abort(); inflight = null; }
      sequence++;
    }

    function idle() {
      cancel();
      settled = null;
      set("idle", el("p", {}, opts.idleText));
    }

    function run() {
      cancel();
      var id = opts.input.value.trim();
      if (!id) { idle(); return Promise.resolve(null); }
      var mine = ++sequence;
      var asked = key();
      inflight = new AbortController();
      set("checking", el("p", {}, "Checking ", code(id), "…"));
      var promise = api("POST", "/registry/check", {runtime: opts.runtime(), model: id, auth_env: opts.auth()}, inflight.signal)
        .then(function (r) {
          if (mine !== sequence) return null;
          if (r.ok && r.data) {
            settled = {key: asked, decision: r.data};
            render(r.data);
            return r.data;
          }
          set("error", el("p", {}, "Could not check this id: ", errorText(r)));
          return null;
        })
        .catch(function (error) {
          if (error && error.name === "AbortError") return null;
          if (mine === sequence) set("error", el("p", {}, "Could not reach the service to check this id."));
          return null;
        });
      waiting = {key: asked, promise: promise};
      return promise;
    }

    // Typing shows "pending" at once, so a half-typed id never flashes a refusal; the check runs at the pause.
    function schedule() {
      cancel();
      settled = null;
      if (!opts.input.value.trim()) { idle(); return; }
      set("pending", el("p", {}, "Checking when you pause typing…"));
      timer = setTimeout(run, CHECK_DELAY_MS);
    }

    // The decision for what the field says now: the last answer if it still applies, else a check now.
    function ensure() {
      var now = key();
      if (settled && settled.key === now) return Promise.resolve(settled.decision);
      if (waiting && waiting.key === now && inflight) return waiting.promise;
      return run();
    }

    opts.input.addEventListener("input", schedule);
    return {run: run, schedule: schedule, ensure: ensure, idle: idle};
  }

  function providerEnvOf(node) {
    try { return JSON.parse(node.getAttribute("data-provider-env") || "{}"); } catch (e) { return {}; }
  }

  // --- create page ---------------------------------------------------------

  function initCreate() {
    var form = $("#create-form");
    var name = $("#name");
    var runtime = $("#runtime");
    var template = $("#template");
    var templateNote = $("#template-note");
    var model = $("#model");
    var authEnv = $("#auth-env");
    var result = $("#create-result");
    var submit = $("#create-button");
    var filledByTemplate = "";  // the model id a template put in the field, which another template may replace

    function showMenu() {
      $all("[data-menu-for]").forEach(function (menu) {
        menu.hidden = menu.getAttribute("data-menu-for") !== runtime.value;
      });
      $("[data-menu-runtime]").textContent = runtime.value;
    }

    function pick(id) {
      model.value = id;
      model.focus();
      check.run();
    }

    var check = LiveCheck({
      input: model,
      box: $("#check-result"),
      runtime: function () { return runtime.value; },
      auth: function () { return authNames(authEnv); },
      providerEnv: providerEnvOf(form),
      onPick: pick,
      idleText: "Type a model id, or pick one from the menu."
    });

    function reset() {
      form.reset();
      filledByTemplate = "";
      templateNote.textContent = "";
      result.hidden = true;
      showMenu();
      check.idle();
      name.focus();
    }

    function renderCreated(ws) {
      var another = el("button", {type: "button", class: "button", "data-testid": "create-another"}, "Create another");
      another.addEventListener("click", reset);
      showResult(result, "created", "Workspace created", [
        el("dl", {class: "facts", "data-testid": "created"}, facts([
          ["Name", el("strong", {}, ws.name)],
          ["ID", code(ws.id)],
          ["Runtime", code(ws.runtime)],
          ["Model", ws.model ? code(ws.model) : muted("none")],
          ["Provider", ws.provider || muted("none")],
          ["Billing", billingBadge(ws.billing_mode)],
          ["Needs", envList(ws.required_env)]
        ])),
        el("p", {class: "actions"}, another,
           el("a", {href: "/ui/workspaces/" + encodeURIComponent(ws.id)}, "Open " + ws.name),
           el("a", {href: "/ui/workspaces"}, "All workspaces"))
      ]);
    }

    runtime.addEventListener("change", function () { showMenu(); check.run(); });
    template.addEventListener("change", function () {
      var option = template.options[template.selectedIndex];
      var rt = option.getAttribute("data-runtime");
      var defaultModel = option.getAttribute("data-model");
      var typed = model.value.trim();
      if (rt) { runtime.value = rt; showMenu(); }
      templateNote.textContent = "";
      if (defaultModel && (!typed || typed === filledByTemplate)) {
        model.value = defaultModel;
        filledByTemplate = defaultModel;
      } else if (defaultModel && typed !== defaultModel) {
        templateNote.textContent = "Kept the model id you typed; this template's default is " + defaultModel + ".";
      }
      check.run();
    });
    model.addEventListener("input", function () { filledByTemplate = ""; });
    authEnv.addEventListener("input", function () { if (model.value.trim()) check.schedule(); });
    $all("#menu .chip").forEach(function (button) {
      button.addEventListener("click", function () { pick(button.getAttribute("data-model")); });
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      name.removeAttribute("aria-invalid");
      if (!name.value.trim()) {
        name.setAttribute("aria-invalid", "true");
        showResult(result, "error", "Not created", el("p", {}, "Give the workspace a name."));
        name.focus();
        return;
      }
      var body = {name: name.value.trim(), runtime: runtime.value, model: model.value.trim()};
      if (template.value) body.template = template.value;
      var names = authNames(authEnv);
      if (names.length) body.auth_env = names;
      submit.disabled = true;
      // The check above the result settles first: a result box that a late check pushed down would move
      // its "Create another" from under the pointer.
      Promise.all([api("POST", "/workspaces", body), check.ensure()])
        .then(function (answers) {
          var r = answers[0];
          if (r.ok && r.data) { renderCreated(r.data); return; }
          if (r.status === 401 && LOGIN_URL) return;
          var nodes = refusalNodes(r);
          var close = closeSuggestions(body.model, (r.data || {}).suggestions);
          if (close.length) {
            nodes.push(el("p", {}, "Close menu ids:"));
            nodes.push(chips(close, function (id) { result.hidden = true; pick(id); }, "Close menu ids"));
          }
          showResult(result, "error", "Not created", nodes);
        })
        .catch(function () {
          showResult(result, "error", "Not created", el("p", {}, "Could not reach the service. Nothing was created; try again."));
        })
        .then(function () { submit.disabled = false; });
    });

    showMenu();
    if (model.value.trim()) check.run();
  }

  // --- workspaces list -----------------------------------------------------

  function initWorkspaces() {
    // A click anywhere on a row opens its workspace (the name is the link for keyboards and screen readers).
    $all("#workspaces-body tr[data-href]").forEach(function (row) {
      row.addEventListener("click", function (event) {
        if (event.target.closest("a")) return;
        window.location.assign(row.getAttribute("data-href"));
      });
    });
  }

  // --- one workspace -------------------------------------------------------

  function value(v) {
    if (v === null || v === undefined || v === "") return muted("—");
    if (Array.isArray(v)) {
      if (!v.length) return muted("none");
      return el("span", {}, v.map(function (item, i) { return [i ? ", " : "", value(item)]; }));
    }
    if (typeof v === "boolean") return v ? "yes" : "no";
    return code(v);
  }

  function label(key) {
    var text = key.replace(/_/g, " ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function initWorkspace() {
    var box = $("#workspace");
    var id = box.getAttribute("data-workspace-id");
    var status = $("#workspace-status");
    var path = "/workspaces/" + encodeURIComponent(id);
    var current = null;  // the workspace as the API last returned it

    var changeForm = $("#change-form");
    var changeModel = $("#change-model");
    var changeResult = $("#change-result");
    var changeButton = $("#change-button");
    var preview = $("#change-preview");
    var billingConfirm = $("#billing-confirm");
    var confirmed = $("#billing-confirmed");
    var deleteButton = $("#delete-button");
    var deleteConfirm = $("#delete-confirm");
    var deleteResult = $("#delete-result");
    var previewed = null;  // the allowed decision the preview shows

    function renderDecisions(decisions) {
      var rows = decisions.ok && decisions.data ? decisions.data.items : null;
      var body = $("#decisions-body");
      if (!Array.isArray(rows)) {
        replace(body, el("tr", {}, el("td", {colspan: "7"}, "Could not load decisions: " + errorText(decisions))));
      } else if (!rows.length) {
        replace(body, el("tr", {}, el("td", {colspan: "7", class: "empty"}, "No decisions recorded.")));
      } else {
        replace(body, rows.slice().reverse().map(function (d) {
          var outcome = d.admitted ? el("span", {class: "badge badge--ok"}, "admitted")
            : el("span", {}, el("span", {class: "badge badge--bad"}, "refused"), " ", el("span", {class: "check__code"}, d.code || ""));
          return el("tr", {},
            el("td", {}, timeText(d.created_at)),
            el("td", {}, d.action === "model_change" ? "model change" : (d.action || "—")),
            el("td", {}, outcome, d.reason ? el("span", {class: "decision__reason"}, d.reason) : null),
            el("td", {}, value(d.model)),
            el("td", {}, value(d.provider)),
            el("td", {}, billingBadge(d.billing_mode)),
            el("td", {}, value(d.manifest_fingerprint)));
        }));
      }
    }

    function renderWorkspace(w, env) {
      current = w;
      $("#workspace-title").textContent = w.name;
      document.title = w.name + " · routegate";
      $("#delete-question").textContent = "Delete " + w.name + "? This cannot be undone.";
      replace($("#workspace-facts"), facts([
        ["ID", code(w.id)],
        ["Runtime", code(w.runtime)],
        ["Model", value(w.model)],
        ["Provider", value(w.provider)],
        ["Billing", billingBadge(w.billing_mode)],
        ["Needs", envList(w.required_env)],
        ["Auth env", value(w.auth_env)],
        ["Template", value(w.template)],
        ["Parent", value(w.parent_id)],
        ["Created", timeText(w.created_at)]
      ]));
      if (env.ok && env.data) {
        replace($("#runtime-env"), facts(Object.keys(env.data).map(function (key) {
          return [label(key), key === "billing_mode" ? billingBadge(env.data[key]) : value(env.data[key])];
        })));
      } else {
        replace($("#runtime-env"), el("dd", {}, "Could not load the runtime env: " + errorText(env)));
      }
    }

    function load() {
      return Promise.all([
        api("GET", path),
        api("GET", path + "/runtime-env"),
        api("GET", "/decisions?" + new URLSearchParams({workspace_id: id, limit: "200"}).toString())
      ]).then(function (answers) {
        var ws = answers[0];
        if (!ws.ok || !ws.data) {
          status.textContent = ws.status === 404 ? "There is no workspace with id " + id + "." : "Could not load the workspace: " + errorText(ws);
          return;
        }
        status.textContent = "";
        renderWorkspace(ws.data, answers[1]);
        renderDecisions(answers[2]);
        $("#workspace-detail").hidden = false;
      }).catch(function () {
        status.textContent = "Could not reach the service to load this workspace.";
      });
    }

    // --- change the model: preview what changes, confirm a billing change, then PUT ---

    function previewRow(name, before, after, changed) {
      return el("tr", {"data-field": name.toLowerCase(), "data-changed": changed ? "yes" : "no"},
        el("th", {scope: "row"}, name, changed ? el("span", {class: "visually-hidden"}, " (changes)") : null),
        el("td", {}, before), el("td", {class: changed ? "changed" : null}, after));
    }

    function billingChanges(d) {
      return Boolean(d && d.allowed && current && (d.billing_mode || null) !== (current.billing_mode || null));
    }

    function showPreview(d) {
      previewed = d && d.allowed ? d : null;
      confirmed.checked = false;
      if (!previewed || !current) { preview.hidden = true; billingConfirm.hidden = true; return; }
      var envBefore = (current.required_env || []).join(" "), envAfter = (d.required_env || []).join(" ");
      replace($("#change-preview-body"), [
        previewRow("Model", value(current.model), value(d.model), current.model !== d.model),
        previewRow("Provider", value(current.provider), value(d.provider), (current.provider || null) !== (d.provider || null)),
        previewRow("Billing", billingBadge(current.billing_mode), billingBadge(d.billing_mode), billingChanges(d)),
        previewRow("Env names", envList(current.required_env), envList(d.required_env), envBefore !== envAfter)
      ]);
      if (billingChanges(d)) {
        var from = billingLabel(current.billing_mode), to = billingLabel(d.billing_mode);
        $("#billing-change-text").textContent = "Billing changes from " + from + " to " + to + ". " +
          (d.billing_mode === "platform_managed" ? "The platform's key will pay for this workspace's model."
            : "The workspace's own key will pay; the platform stops paying.");
        $("#billing-confirm-label").textContent = "I confirm billing changes from " + from + " to " + to;
        billingConfirm.hidden = false;
      } else {
        billingConfirm.hidden = true;
      }
      preview.hidden = false;
    }

    var check = LiveCheck({
      input: changeModel,
      box: $("#change-check"),
      runtime: function () { return current ? current.runtime : ""; },
      auth: function () { return current ? current.auth_env : []; },
      providerEnv: providerEnvOf(box),
      onPick: function (model) { changeModel.value = model; changeModel.focus(); check.run(); },
      onDecision: showPreview,
      idleText: "Type a model id to see what would change."
    });

    changeForm.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!current) return;
      var model = changeModel.value.trim();
      if (!model) {
        showResult(changeResult, "error", "Not changed", el("p", {}, "Type the model id to change to."));
        changeModel.focus();
        return;
      }
      changeButton.disabled = true;
      check.ensure().then(function (d) {
        if (billingChanges(d) && !(previewed === d && confirmed.checked)) {
          showResult(changeResult, "error", "Confirm the billing change",
            el("p", {}, "This change moves billing from " + billingLabel(current.billing_mode) + " to " +
               billingLabel(d.billing_mode) + ". Tick the confirmation, then choose Change model again."));
          confirmed.focus();
          return null;
        }
        var before = current;
        return api("PUT", path + "/model", {model: model}).then(function (r) {
          if (r.ok && r.data) {
            showResult(changeResult, "changed", "Model changed", el("p", {"data-testid": "change-summary"},
              "Now ", code(r.data.model || "none"), " via ", r.data.provider || "no provider", "; billing ",
              billingLabel(before.billing_mode), " → ", billingLabel(r.data.billing_mode), "."));
            changeModel.value = "";
            check.idle();
            return load();
          }
          if (r.status === 401 && LOGIN_URL) return null;
          showResult(changeResult, "error", "Not changed", refusalNodes(r));
          return load();  // the refusal is now in the decision history
        });
      }).catch(function () {
        showResult(changeResult, "error", "Not changed", el("p", {}, "Could not reach the service. Nothing changed; try again."));
      }).then(function () { changeButton.disabled = false; });
    });

    // --- delete, after an explicit confirmation ---

    function askDelete(open) {
      deleteConfirm.hidden = !open;
      deleteButton.setAttribute("aria-expanded", open ? "true" : "false");
      if (open) $("#delete-confirm-button").focus();
      else deleteButton.focus();
    }

    deleteButton.addEventListener("click", function () { askDelete(deleteConfirm.hidden); });
    $("#delete-cancel").addEventListener("click", function () { askDelete(false); });
    $("#delete-confirm-button").addEventListener("click", function () {
      var name = current ? current.name : id;
      api("DELETE", path).then(function (r) {
        if (r.ok) {
          $("#workspace-detail").hidden = true;
          replace(status, "Workspace ", el("strong", {}, name), " was deleted. ",
                  el("a", {href: "/ui/workspaces"}, "Back to the workspaces"));
          status.setAttribute("data-state", "deleted");
          $("#workspace-title").focus();
          return;
        }
        if (r.status === 401 && LOGIN_URL) return;
        deleteConfirm.hidden = true;
        deleteButton.setAttribute("aria-expanded", "false");
        showResult(deleteResult, "error", "Not deleted", refusalNodes(r));
      }).catch(function () {
        showResult(deleteResult, "error", "Not deleted", el("p", {}, "Could not reach the service. Nothing was deleted; try again."));
      });
    });

    if (!id) { status.textContent = "No such workspace."; return; }
    load();
  }

  // --- manifest versions: how far a publish or activation is ------------------

  var PROGRESS_URL = "/registry/versions/progress";
  var PROGRESS_EVERY_MS = 500;

  function replayWhat(r) {
    if (r.kind === "activate") return (r.dry_run ? "Dry run of activating" : "Activation of") + " version " + r.version;
    if (r.kind === "reload") return "Reload of the configured manifest";
    return r.dry_run ? "Dry run of a publish" : "Publish";
  }

  function replayCount(r) {
    if (r.total === null) return "counting the stored workspaces…";
    var percent = r.total ? Math.floor(100 * r.replayed / r.total) : 100;
    return r.replayed.toLocaleString("en") + " of " + r.total.toLocaleString("en") +
      " stored workspaces decided again (" + percent + "%)";
  }

  // A <progress> showing replay r: indeterminate until the replay has counted the fleet.
  function setProgress(bar, r) {
    if (r && r.total !== null) {
      bar.max = Math.max(r.total, 1);
      bar.value = r.replayed;
    } else {
      bar.removeAttribute("value");
    }
  }

  // The replays in flight on this instance (#replays), and a form's own replay while its POST is
  // pending: both polled from the API until nothing is left to follow. The form is submitted as
  // usual; the page that answers it replaces this one.
  function initReplays() {
    var section = $("#replays");
    var list = $("#replays-list");
    var pending = null;  // {kind, dryRun, version, bar, text, seen} of the form submitted from this page
    var polling = false;

    function renderList(items) {
      if (!items.length) {
        if (!section.hidden) replace(list, el("li", {class: "muted"}, "Nothing is replaying now; reload the page for the newest history."));
        return;
      }
      section.hidden = false;
      replace(list, items.map(function (r) {
        var bar = el("progress", {"aria-label": replayWhat(r)});
        setProgress(bar, r);
        return el("li", {class: "replay", "data-kind": r.kind}, el("strong", {}, replayWhat(r)), " ", bar, " ",
                  el("span", {}, replayCount(r)), " ", muted(["since ", timeText(r.started_at)]));
      }));
    }

    function showOwn(items) {
      var mine = items.filter(function (r) {
        return r.kind === pending.kind && r.dry_run === pending.dryRun && r.version === pending.version;
      }).pop();  // the newest such
      pending.seen = pending.seen || Boolean(mine);
      if (mine || !pending.seen) {
        setProgress(pending.bar, mine);
        pending.text.textContent = mine ? replayCount(mine) : "Waiting for the replay to begin…";
      } else {  // it has ended: the answer is on its way
        setProgress(pending.bar, {replayed: 1, total: 1});
        pending.text.textContent = "Replayed; waiting for the answer…";
      }
    }

    function poll() {
      api("GET", PROGRESS_URL).then(function (r) {
        var items = r.ok && r.data ? r.data.items : [];
        renderList(items);
        if (pending) showOwn(items);
        return items.length > 0;
      }, function () { return false; }).then(function (more) {
        if (more || pending) setTimeout(poll, PROGRESS_EVERY_MS);
        else polling = false;
      });
    }

    function follow() {
      if (polling) return;
      polling = true;
      poll();
    }

    $all("form[data-replay]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (pending) { event.preventDefault(); return; }  // the first submission is already on its way
        var box = $("[data-replay-progress]", form);
        var kind = form.getAttribute("data-replay");
        var version = form.getAttribute("data-version");
        pending = {
          kind: kind,
          dryRun: !event.submitter || event.submitter.value !== kind,  // as the server reads the form
          version: version ? Number(version) : null,
          bar: $("progress", box),
          text: $("[data-replay-text]", box),
          seen: false
        };
        setProgress(pending.bar, null);
        pending.text.textContent = "Waiting for the replay to begin…";
        box.hidden = false;
        form.setAttribute("aria-busy", "true");
        follow();
      });
    });

    var initial = JSON.parse(section.getAttribute("data-replays") || "[]");
    renderList(initial);
    if (initial.length) follow();
  }

  var pages = {create: initCreate, workspaces: initWorkspaces, workspace: initWorkspace, versions: initReplays, version: initReplays};
  var init = pages[document.body.getAttribute("data-page")];
  if (init) init();
})();
