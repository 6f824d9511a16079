// routegate console: plain JavaScript, no dependencies. Every page is
// server-rendered; this file adds the live model check, the create form and the
// workspace tables, which read the JSON API with the session cookie.
// Text is always inserted with textContent, never as HTML.
(function () {
  "use strict";

  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var CSRF = csrfMeta ? csrfMeta.getAttribute("content") : "";
  var LOGIN_URL = document.body.getAttribute("data-login-url") || "";
  var CHECK_DELAY_MS = 250;

  // --- small helpers -------------------------------------------------------

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }

  // el("p", {class: "x"}, "text", childNode, ...): attributes, then children (strings become text).
  function el(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) return;
      if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : value);
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

  function billingBadge(mode) {
    if (mode === "platform_managed") {
      return el("span", {class: "badge badge--platform", title: "Served on the platform's key and metered to the platform"}, "platform-managed");
    }
    if (mode === "byok") {
      return el("span", {class: "badge badge--byok", title: "Bring your own key: the workspace's own credentials pay"}, "BYOK");
    }
    return el("span", {class: "muted"}, mode ? String(mode) : "—");
  }

  function envList(names) {
    if (!names || !names.length) return el("span", {class: "muted"}, "none");
    var out = [];
    names.forEach(function (name, i) {
      if (i) out.push(el("span", {class: "sep"}, " or "));
      out.push(el("code", {class: "env"}, name));
    });
    return el("span", {}, out);
  }

  function timeText(iso) {
    if (!iso) return el("span", {class: "muted"}, "—");
    var date = new Date(iso);
    var shown = isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
    return el("time", {datetime: String(iso)}, shown);
  }

  function loginRedirect() {
    if (!LOGIN_URL) return false;
    window.location.assign(LOGIN_URL + "?next=" + encodeURIComponent(window.location.pathname + window.location.search));
    return true;
  }

  // One call to the JSON API. Unsafe methods carry the session's CSRF token.
  function api(method, path, body, signal) {
    var headers = {"Accept": "application/json"};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (CSRF && method !== "GET") headers["X-CSRF-Token"] = CSRF;
    return fetch(path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
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

  function chips(ids, onPick, label) {
    return el("ul", {class: "chips", "aria-label": label}, ids.map(function (id) {
      var button = el("button", {type: "button", class: "chip", "data-model": id}, id);
      button.addEventListener("click", function () { onPick(id); });
      return el("li", {}, button);
    }));
  }

  function facts(pairs) {
    var nodes = [];
    pairs.forEach(function (pair) {
      nodes.push(el("dt", {}, pair[0]));
      nodes.push(el("dd", {}, pair[1]));
    });
    return nodes;
  }

  // --- create page ---------------------------------------------------------

  function initCreate() {
    var form = $("#create-form");
    var name = $("#name");
    var runtime = $("#runtime");
    var template = $("#template");
    var model = $("#model");
    var authEnv = $("#auth-env");
    var check = $("#check-result");
    var result = $("#create-result");
    var submit = $("#create-button");
    var timer = 0;
    var inflight = null;
    var sequence = 0;

    function authNames() {
      return authEnv.value.split(/[\s,]+/).filter(Boolean);
    }

    function showMenu() {
      $all("[data-menu-for]").forEach(function (menu) {
        menu.hidden = menu.getAttribute("data-menu-for") !== runtime.value;
      });
      $("[data-menu-runtime]").textContent = runtime.value;
    }

    function pick(id) {
      model.value = id;
      model.focus();
      runCheck();
    }

    function setCheck(state, nodes) {
      check.setAttribute("data-state", state);
      check.removeAttribute("aria-busy");
      replace(check, nodes);
    }

    function renderDecision(d) {
      if (d.allowed && (d.path === "menu" || d.path === "route")) {
        setCheck("allowed", [
          el("p", {}, el("span", {class: "check__verdict"}, "Routes"), " on ", code(d.runtime),
             d.path === "menu" ? " — on the menu" : " — by the provider's pattern"),
          el("p", {}, "Provider ", el("strong", {"data-testid": "check-provider"}, d.provider), " · billing ", billingBadge(d.billing_mode)),
          el("p", {}, "Needs ", envList(d.required_env))
        ]);
      } else if (d.allowed) {
        setCheck("allowed", [el("p", {}, el("span", {class: "check__verdict"}, "Allowed"), " — ", d.reason)]);
      } else {
        var nodes = [
          el("p", {}, el("span", {class: "check__verdict"}, "Refused"), " ",
             el("span", {class: "check__code", "data-testid": "check-code"}, d.code)),
          el("p", {class: "check__reason"}, d.reason)
        ];
        if (d.candidates && d.candidates.length) {
          nodes.push(el("p", {}, "Candidates: ", d.candidates.map(function (c, i) { return [i ? ", " : "", code(c)]; }),
                        ". Add an auth env name below to settle it."));
        }
        if (d.suggestions && d.suggestions.length) {
          nodes.push(el("p", {}, "Nearest menu ids:"));
          nodes.push(chips(d.suggestions, pick, "Nearest menu ids"));
        }
        setCheck("refused", nodes);
      }
    }

    function runCheck() {
      clearTimeout(timer);
      if (inflight) inflight.abort();
      inflight = null;
      var id = model.value.trim();
      if (!id) {
        setCheck("idle", el("p", {}, "Type a model id, or pick one from the menu."));
        return;
      }
      var mine = ++sequence;
      inflight = new AbortController();
      check.setAttribute("aria-busy", "true");
      check.setAttribute("data-state", "checking");
      api("POST", "/registry/check", {runtime: runtime.value, model: id, auth_env: authNames()}, inflight.signal)
        .then(function (r) {
          if (mine !== sequence) return;
          if (r.ok && r.data) renderDecision(r.data);
          else setCheck("error", el("p", {}, "Could not check this id: ", errorText(r)));
        })
        .catch(function (error) {
          if (error && error.name === "AbortError") return;
          if (mine === sequence) setCheck("error", el("p", {}, "Could not reach the service to check this id."));
        });
    }

    function scheduleCheck() {
      clearTimeout(timer);
      timer = setTimeout(runCheck, CHECK_DELAY_MS);
    }

    function showResult(state, heading, nodes) {
      result.hidden = false;
      result.setAttribute("data-state", state);
      result.setAttribute("role", state === "error" ? "alert" : "status");
      replace(result, el("h2", {}, heading), nodes);
      result.focus();
    }

    function renderCreated(ws) {
      showResult("created", "Workspace created", [
        el("dl", {class: "facts", "data-testid": "created"}, facts([
          ["Name", el("strong", {}, ws.name)],
          ["ID", code(ws.id)],
          ["Runtime", code(ws.runtime)],
          ["Model", ws.model ? code(ws.model) : el("span", {class: "muted"}, "none")],
          ["Provider", ws.provider || el("span", {class: "muted"}, "none")],
          ["Billing", billingBadge(ws.billing_mode)],
          ["Needs", envList(ws.required_env)]
        ])),
        el("p", {}, el("a", {href: "/ui/workspaces/" + encodeURIComponent(ws.id)}, "Open " + ws.name),
           " · ", el("a", {href: "/ui/workspaces"}, "All workspaces"))
      ]);
    }

    function renderRefused(r) {
      var data = r.data || {};
      var nodes = [
        el("p", {}, data.code ? el("span", {class: "check__code", "data-testid": "error-code"}, data.code) : null,
           data.code ? " " : null, "HTTP " + r.status),
        el("p", {"data-testid": "error-message"}, errorText(r))
      ];
      if (Array.isArray(data.problems) && data.problems.length) {
        nodes.push(el("ul", {}, data.problems.map(function (p) {
          var where = p.field || p.where || "";
          return el("li", {}, where ? code(where) : null, where ? ": " : null, String(p.message || ""));
        })));
      }
      if (Array.isArray(data.suggestions) && data.suggestions.length) {
        nodes.push(el("p", {}, "Nearest menu ids:"));
        nodes.push(chips(data.suggestions, function (id) { result.hidden = true; pick(id); }, "Nearest menu ids"));
      }
      showResult("error", "Not created", nodes);
    }

    runtime.addEventListener("change", function () { showMenu(); runCheck(); });
    template.addEventListener("change", function () {
      var option = template.options[template.selectedIndex];
      var rt = option.getAttribute("data-runtime");
      var defaultModel = option.getAttribute("data-model");
      if (rt) { runtime.value = rt; showMenu(); }
      if (defaultModel) model.value = defaultModel;
      runCheck();
    });
    model.addEventListener("input", scheduleCheck);
    authEnv.addEventListener("input", function () { if (model.value.trim()) scheduleCheck(); });
    $all("#menu .chip").forEach(function (button) {
      button.addEventListener("click", function () { pick(button.getAttribute("data-model")); });
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      name.removeAttribute("aria-invalid");
      if (!name.value.trim()) {
        name.setAttribute("aria-invalid", "true");
        showResult("error", "Not created", el("p", {}, "Give the workspace a name."));
        name.focus();
        return;
      }
      var body = {name: name.value.trim(), runtime: runtime.value, model: model.value.trim()};
      if (template.value) body.template = template.value;
      var names = authNames();
      if (names.length) body.auth_env = names;
      submit.disabled = true;
      api("POST", "/workspaces", body)
        .then(function (r) {
          if (r.ok && r.data) renderCreated(r.data);
          else if (r.status !== 401 || !LOGIN_URL) renderRefused(r);
        })
        .catch(function () {
          showResult("error", "Not created", el("p", {}, "Could not reach the service. Nothing was created; try again."));
        })
        .then(function () { submit.disabled = false; });
    });

    showMenu();
    if (model.value.trim()) runCheck();
  }

  // --- workspaces table ----------------------------------------------------

  function initWorkspaces() {
    var box = $("#workspaces");
    var body = $("#workspaces-body");
    var status = $("#workspaces-status");
    var next = $("#next-page");
    var page = parseInt(box.getAttribute("data-page-number"), 10) || 1;
    var query = new URLSearchParams({limit: box.getAttribute("data-limit")});
    if (box.getAttribute("data-cursor")) query.set("cursor", box.getAttribute("data-cursor"));

    api("GET", "/workspaces?" + query.toString()).then(function (r) {
      if (!r.ok || !r.data) {
        status.textContent = "Could not load workspaces: " + errorText(r);
        return;
      }
      var items = r.data.items || [];
      replace(body, items.map(function (ws) {
        var href = "/ui/workspaces/" + encodeURIComponent(ws.id);
        // data-label names each cell when a narrow screen stacks the row into a card.
        var row = el("tr", {"data-id": ws.id},
          el("td", {"data-label": "Name"}, el("a", {href: href}, ws.name)),
          el("td", {"data-label": "Runtime"}, code(ws.runtime)),
          el("td", {"data-label": "Model"}, ws.model ? code(ws.model) : el("span", {class: "muted"}, "—")),
          el("td", {"data-label": "Provider"}, ws.provider || el("span", {class: "muted"}, "—")),
          el("td", {"data-label": "Billing"}, billingBadge(ws.billing_mode)),
          el("td", {"data-label": "Created"}, timeText(ws.created_at)));
        row.addEventListener("click", function (event) {
          if (event.target.closest("a")) return;
          window.location.assign(href);
        });
        return row;
      }));
      if (!items.length) {
        replace(body, el("tr", {}, el("td", {colspan: "6", class: "empty"},
          page > 1 ? "No more workspaces." : "No workspaces yet. ", page > 1 ? null : el("a", {href: "/"}, "Create one"))));
      }
      status.textContent = items.length ? "Showing " + items.length + " workspace" + (items.length === 1 ? "" : "s") + " on page " + page + "." : "";
      if (r.data.next_cursor) {
        next.href = "/ui/workspaces?" + new URLSearchParams({cursor: r.data.next_cursor, page: String(page + 1)}).toString();
        next.hidden = false;
      }
    }).catch(function () {
      status.textContent = "Could not reach the service to load workspaces.";
    });
  }

  // --- one workspace -------------------------------------------------------

  function value(v) {
    if (v === null || v === undefined || v === "") return el("span", {class: "muted"}, "—");
    if (Array.isArray(v)) {
      if (!v.length) return el("span", {class: "muted"}, "none");
      return el("span", {}, v.map(function (item, i) { return [i ? ", " : "", value(item)]; }));
    }
    if (typeof v === "boolean") return v ? "yes" : "no";
    if (typeof v === "object") {
      return el("dl", {class: "facts"}, facts(Object.keys(v).map(function (k) { return [k, value(v[k])]; })));
    }
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
    if (!id) { status.textContent = "No such workspace."; return; }
    var path = "/workspaces/" + encodeURIComponent(id);
    Promise.all([
      api("GET", path),
      api("GET", path + "/runtime-env"),
      api("GET", "/decisions?" + new URLSearchParams({workspace_id: id}).toString())
    ]).then(function (answers) {
      var ws = answers[0], env = answers[1], decisions = answers[2];
      if (!ws.ok || !ws.data) {
        status.textContent = ws.status === 404 ? "There is no workspace with id " + id + "." : "Could not load the workspace: " + errorText(ws);
        return;
      }
      var w = ws.data;
      $("#workspace-title").textContent = w.name;
      document.title = w.name + " · routegate";
      status.textContent = "";
      replace($("#workspace-facts"), facts([
        ["ID", code(w.id)],
        ["Runtime", code(w.runtime)],
        ["Model", value(w.model)],
        ["Provider", value(w.provider)],
        ["Billing", billingBadge(w.billing_mode)],
        ["Needs", envList(w.required_env)],
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
      var rows = decisions.ok && decisions.data ? (decisions.data.items || decisions.data) : null;
      if (!Array.isArray(rows)) {
        replace($("#decisions-body"), el("tr", {}, el("td", {colspan: "7"}, "Could not load decisions: " + errorText(decisions))));
      } else if (!rows.length) {
        replace($("#decisions-body"), el("tr", {}, el("td", {colspan: "7", class: "empty"}, "No decisions recorded.")));
      } else {
        replace($("#decisions-body"), rows.map(function (d) {
          var outcome = d.admitted ? el("span", {class: "badge badge--ok"}, "admitted")
            : el("span", {}, el("span", {class: "badge badge--bad"}, "refused"), " ", el("span", {class: "check__code"}, d.code || ""));
          return el("tr", {},
            el("td", {}, timeText(d.created_at)),
            el("td", {}, d.action || "—"),
            el("td", {}, outcome, d.reason ? el("span", {class: "decision__reason"}, d.reason) : null),
            el("td", {}, value(d.model)),
            el("td", {}, value(d.provider)),
            el("td", {}, billingBadge(d.billing_mode)),
            el("td", {}, value(d.manifest_fingerprint)));
        }));
      }
      $("#workspace-detail").hidden = false;
    }).catch(function () {
      status.textContent = "Could not reach the service to load this workspace.";
    });
  }

  var pages = {create: initCreate, workspaces: initWorkspaces, workspace: initWorkspace};
  var init = pages[document.body.getAttribute("data-page")];
  if (init) init();
})();
