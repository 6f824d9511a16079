// routegate console: a workspace's call tokens and recent calls, through the JSON API with the
// session cookie. Plain JavaScript, no dependencies; text is always inserted with textContent.
(function () {
  "use strict";

  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var CSRF = csrfMeta ? csrfMeta.getAttribute("content") : "";

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    (children || []).forEach(function (child) {
      if (child !== null && child !== undefined) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function cell(text) { return el("td", {}, [text === null || text === undefined ? "—" : String(text)]); }

  function replaceRows(body, rows) {
    while (body.firstChild) body.removeChild(body.firstChild);
    rows.forEach(function (row) { body.appendChild(row); });
  }

  function message(body, columns, text) {
    replaceRows(body, [el("tr", {}, [el("td", {colspan: String(columns), class: "empty"}, [text])])]);
  }

  function api(method, path, body) {
    var headers = {"Accept": "application/json"};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (CSRF && method !== "GET") headers["X-CSRF-Token"] = CSRF;
    return fetch(path, {
      method: method, headers: headers, credentials: "same-origin", mode: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        return {ok: response.ok, status: response.status, data: data};
      });
    });
  }

  function failure(result) {
    return result.data && result.data.error ? result.data.error : "the service answered " + result.status;
  }

  function init() {
    var box = document.getElementById("call-tokens");
    if (!box) return;
    var id = box.getAttribute("data-workspace-id");
    var base = "/workspaces/" + encodeURIComponent(id) + "/call-tokens";
    var tokensBody = document.getElementById("call-tokens-body");
    var callsBody = document.getElementById("calls-body");
    var issued = document.getElementById("issued-token");

    function revokeButton(token) {
      if (token.revoked_at) return el("span", {class: "badge badge--bad"}, ["revoked"]);
      var button = el("button", {type: "button", class: "button button--quiet", "data-token-id": token.id}, ["Revoke"]);
      button.addEventListener("click", function () {
        button.disabled = true;
        api("DELETE", base + "/" + encodeURIComponent(token.id)).then(function (result) {
          if (!result.ok) issued.textContent = "Could not revoke: " + failure(result);
          loadTokens();
        });
      });
      return button;
    }

    function loadTokens() {
      return api("GET", base).then(function (result) {
        if (!result.ok || !result.data) { message(tokensBody, 7, "Could not load tokens: " + failure(result)); return; }
        if (!result.data.items.length) { message(tokensBody, 7, "No call tokens."); return; }
        replaceRows(tokensBody, result.data.items.map(function (t) {
          return el("tr", {"data-token-id": t.id}, [
            el("td", {}, [el("code", {}, [t.id.slice(0, 8)])]), cell(t.note), cell(t.scope), cell(t.created_at),
            cell(t.expires_at), cell(t.last_used_at), el("td", {}, [revokeButton(t)])
          ]);
        }));
      });
    }

    function loadCalls() {
      var query = new URLSearchParams({workspace_id: id, limit: "20"}).toString();
      return api("GET", "/calls/receipts?" + query).then(function (result) {
        if (!result.ok || !result.data) { message(callsBody, 6, "Could not load calls: " + failure(result)); return; }
        if (!result.data.items.length) { message(callsBody, 6, "No calls yet."); return; }
        replaceRows(callsBody, result.data.items.map(function (r) {
          var outcome = r.allowed ? el("span", {class: "badge badge--ok"}, ["admitted"])
            : el("span", {}, [el("span", {class: "badge badge--bad"}, ["refused"]), " ", el("span", {class: "check__code"}, [r.code || ""])]);
          return el("tr", {"data-receipt": r.id}, [
            cell(r.at), el("td", {}, [el("code", {}, [r.model])]), el("td", {}, [outcome]), cell(r.payer), cell(r.provider),
            cell(r.usage ? r.usage.prompt_tokens + " + " + r.usage.completion_tokens : null)
          ]);
        }));
      });
    }

    document.getElementById("issue-token-button").addEventListener("click", function () {
      api("POST", base, {note: "issued in the console"}).then(function (result) {
        issued.hidden = false;
        if (!result.ok || !result.data) { issued.textContent = "Could not issue a token: " + failure(result); return; }
        issued.textContent = "";
        issued.appendChild(el("p", {}, ["New token, shown only now: copy it for the gateway."]));
        issued.appendChild(el("p", {}, [el("code", {id: "issued-token-value"}, [result.data.token])]));
        loadTokens();
      });
    });
    loadTokens();
    loadCalls();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
