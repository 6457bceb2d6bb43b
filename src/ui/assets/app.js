// alert-router's web UI: one page per hash route, talking only to the router's own API (the
// same endpoints amtool uses), polled every second while the tab is visible. No framework and
// no build step: the binary embeds this file as it is.
"use strict";

const POLL_MS = 1000;
const session = { auth: false, user: null, csrf: null };
let poller = null;

// ---- small helpers ---------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const headers = { "X-Requested-With": "alert-router-ui" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && session.csrf) headers["X-CSRF-Token"] = session.csrf;
  const r = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let data = text;
  try { data = text ? JSON.parse(text) : null; } catch (_) { /* plain text answer */ }
  if (r.status === 401 && path !== "-/login") { showLogin(); throw new ApiError(401, "log in first"); }
  if (!r.ok) throw new ApiError(r.status, typeof data === "string" ? data.trim() : JSON.stringify(data));
  return data;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of params) q.append(k, v);
  const s = q.toString();
  return s ? "?" + s : "";
}

function ago(iso) {
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
  if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
  return Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h";
}

function since(iso) {
  return h("time", { class: "since", datetime: iso, "data-since": iso, title: new Date(iso).toLocaleString() }, ago(iso));
}

function fault(message) {
  const el = document.getElementById("fault");
  el.textContent = message || "";
  el.hidden = !message;
}

/// Matchers typed in Alertmanager's syntax, `{a="b", c=~"d"}` or `a="b" c=~"d"`: split on commas
/// and spaces outside quotes; the server parses each one with the real matcher logic.
function splitMatchers(text) {
  const out = []; let cur = ""; let quoted = false;
  const s = text.trim().replace(/^\{/, "").replace(/\}$/, "");
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "\\" && quoted) { cur += c + (s[i + 1] || ""); i++; continue; }
    if (c === '"') quoted = !quoted;
    if (!quoted && (c === "," || c === " ")) { if (cur.trim()) out.push(cur.trim()); cur = ""; continue; }
    cur += c;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

function matcherText(m) {
  const op = (m.isEqual === false ? "!" : "") + (m.isRegex ? "~" : "=");
  const opText = op === "=" ? "=" : op === "~" ? "=~" : op === "!=" ? "!=" : "!~";
  return m.name + opText + JSON.stringify(m.value);
}

function labelChips(labels, skip) {
  return h("span", { class: "chips" },
    Object.entries(labels || {}).filter(([k]) => !(skip || []).includes(k)).sort()
      .map(([k, v]) => h("span", { class: "chip" }, k + "=" + v)));
}

function priorityBadge(p) {
  return p ? h("span", { class: "badge " + p, title: "priority " + p }, p) : null;
}

function stopPolling() { if (poller) clearInterval(poller); poller = null; }

function poll(fn) {
  stopPolling();
  const tick = () => { if (!document.hidden) fn().catch((e) => fault(e.message)); };
  tick();
  poller = setInterval(tick, POLL_MS);
}

// ---- login -------------------------------------------------------------------------------

function showLogin() {
  stopPolling();
  const main = document.getElementById("main");
  const error = h("p", { class: "error", id: "login-error", role: "alert" });
  const user = h("input", { id: "login-user", name: "username", autocomplete: "username", required: true });
  const password = h("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const form = h("form", { class: "card login", "aria-labelledby": "login-title", onsubmit: async (e) => {
    e.preventDefault();
    error.textContent = "";
    try {
      const s = await api("POST", "-/login", { username: user.value, password: password.value });
      Object.assign(session, { auth: true, user: s.user, csrf: s.csrf });
      showSession();
      route();
    } catch (err) { error.textContent = err.message; }
  } },
  h("h1", { id: "login-title" }, "Log in"),
  h("label", { for: "login-user" }, "User"), user,
  h("label", { for: "login-password" }, "Password"), password,
  error,
  h("p", {}, h("button", { class: "primary", type: "submit", id: "login-submit" }, "Log in")));
  main.replaceChildren(form);
  user.focus();
}

function showSession() {
  document.getElementById("who").textContent = session.user ? "Signed in as " + session.user : "";
  document.getElementById("logout").hidden = !session.auth;
}

// ---- alerts ------------------------------------------------------------------------------

function alertsPage(main, params) {
  const filter = h("input", { type: "search", id: "alert-filter", "aria-label": "Filter alerts with matchers",
    placeholder: '{alertname="HighErrorRate", priority=~"P0|P1"}', list: "label-suggestions",
    value: params.get("filter") || "" });
  const toggles = {};
  for (const [name, on] of [["active", true], ["silenced", false], ["inhibited", false]]) {
    toggles[name] = h("input", { type: "checkbox", id: "show-" + name, checked: on });
  }
  const suggestions = h("datalist", { id: "label-suggestions" });
  const error = h("p", { class: "error", id: "filter-error", role: "alert" });
  const list = h("div", { id: "alert-groups", "aria-live": "polite" });
  main.replaceChildren(h("h1", {}, "Alerts"),
    h("div", { class: "bar" }, filter,
      Object.entries(toggles).map(([n, box]) => h("label", { for: box.id }, box, n))),
    suggestions, error, list);

  async function refresh() {
    const q = [["active", toggles.active.checked], ["silenced", toggles.silenced.checked],
      ["inhibited", toggles.inhibited.checked]];
    for (const m of splitMatchers(filter.value)) q.push(["filter", m]);
    let groups;
    try { groups = await api("GET", "api/v2/alerts/groups" + query(q)); error.textContent = ""; }
    catch (e) { error.textContent = e.message; return; }
    const seen = new Map();
    // The most urgent group first: by the highest priority (P0 before P1) among its alerts.
    const rank = (g) => g.alerts.map((a) => a.labels.priority || "P9").sort()[0];
    const urgentFirst = groups.filter((g) => g.alerts.length).sort((a, b) => rank(a).localeCompare(rank(b)));
    const cards = urgentFirst.map((g) => {
      for (const a of g.alerts) for (const [k, v] of Object.entries(a.labels)) {
        if (!seen.has(k)) seen.set(k, new Set());
        seen.get(k).add(v);
      }
      const groupMatchers = Object.entries(g.labels).map(([k, v]) => k + "=" + JSON.stringify(v));
      return h("section", { class: "card group", "data-receiver": g.receiver.name, "aria-label": "group " + groupMatchers.join(", ") },
        h("header", {},
          h("h2", {}, g.receiver.name, " ", labelChips(g.labels)),
          h("a", { class: "button", href: "#/silences/new" + query(groupMatchers.map((m) => ["matcher", m])) }, "Silence group")),
        g.alerts.map((a) => {
          const p = a.labels.priority;
          const matchers = Object.entries(a.labels).map(([k, v]) => k + "=" + JSON.stringify(v));
          const runbook = a.annotations && (a.annotations.runbook_url || a.annotations.runbook);
          return h("div", { class: "alert", "data-fingerprint": a.fingerprint },
            priorityBadge(p),
            h("span", { class: "name" }, a.labels.alertname || "(no alertname)"),
            h("span", { class: "state " + a.status.state }, a.status.state),
            since(a.startsAt),
            labelChips(a.labels, ["alertname", "priority"]),
            a.annotations && a.annotations.summary ? h("span", { class: "muted" }, a.annotations.summary) : null,
            runbook ? h("a", { href: runbook, rel: "noopener", target: "_blank" }, "Runbook") : null,
            a.generatorURL ? h("a", { href: a.generatorURL, rel: "noopener", target: "_blank" }, "Source") : null,
            h("a", { class: "button", href: "#/silences/new" + query(matchers.map((m) => ["matcher", m])) }, "Silence"));
        }));
    });
    list.replaceChildren(...(cards.length ? cards : [h("p", { class: "muted" }, "No alerts match.")]));
    const options = [];
    for (const [k, vs] of seen) { options.push(k + "="); for (const v of vs) options.push(k + "=" + JSON.stringify(v)); }
    suggestions.replaceChildren(...options.slice(0, 500).map((o) => h("option", { value: o })));
  }
  filter.addEventListener("input", () => refresh());
  for (const box of Object.values(toggles)) box.addEventListener("change", () => refresh());
  poll(refresh);
}

// ---- silences ----------------------------------------------------------------------------

function silencesPage(main, params) {
  let state = params.get("state") || "active";
  const tabs = h("div", { class: "tabs", role: "tablist" });
  const list = h("div", { id: "silence-list", "aria-live": "polite" });
  main.replaceChildren(h("div", { class: "bar" }, h("h1", {}, "Silences"),
    h("a", { class: "button primary", href: "#/silences/new", id: "new-silence" }, "New silence")), tabs, list);
  function drawTabs() {
    tabs.replaceChildren(...["active", "pending", "expired"].map((s) => h("button", {
      role: "tab", type: "button", "aria-selected": String(s === state), onclick: () => { state = s; drawTabs(); refresh(); },
    }, s)));
  }
  async function refresh() {
    const silences = (await api("GET", "api/v2/silences")).filter((s) => s.status.state === state);
    list.replaceChildren(...(silences.length ? silences.map((s) => h("section", { class: "card silence", "data-id": s.id },
      h("header", {}, h("span", { class: "chips" }, s.matchers.map((m) => h("span", { class: "chip" }, matcherText(m)))),
        h("span", { class: "state " + s.status.state }, s.status.state)),
      h("p", {}, s.comment, " ", h("span", { class: "muted" }, "by " + s.createdBy)),
      h("p", { class: "muted" }, "from " + new Date(s.startsAt).toLocaleString() + " until " + new Date(s.endsAt).toLocaleString()),
      h("div", { class: "bar" },
        s.status.state !== "expired" ? h("a", { class: "button", href: "#/silences/edit" + query([["id", s.id]]) }, "Edit") : null,
        h("a", { class: "button", href: "#/silences/new" + query([["from", s.id]]) }, "Duplicate"),
        s.status.state !== "expired" ? h("button", { type: "button", class: "danger", onclick: async () => {
          try { await api("DELETE", "api/v2/silence/" + encodeURIComponent(s.id)); refresh(); } catch (e) { fault(e.message); }
        } }, "Expire") : null)))
      : [h("p", { class: "muted" }, "No " + state + " silences.")]));
  }
  drawTabs();
  poll(refresh);
}

const OPS = [["=", false, true], ["!=", false, false], ["=~", true, true], ["!~", true, false]];

function parseMatcherText(text) {
  const m = /^\s*([^!=~\s]+|"(?:[^"\\]|\\.)*")\s*(=~|!~|!=|=)\s*(.*)$/.exec(text);
  if (!m) return null;
  let value = m[3].trim();
  if (value.startsWith('"')) { try { value = JSON.parse(value); } catch (_) { value = value.slice(1, -1); } }
  const name = m[1].startsWith('"') ? JSON.parse(m[1]) : m[1];
  const op = OPS.find((o) => o[0] === m[2]);
  return { name, value, isRegex: op[1], isEqual: op[2] };
}

async function silenceForm(main, params) {
  stopPolling();
  let editing = null;
  let matchers = params.getAll("matcher").map(parseMatcherText).filter(Boolean);
  const source = params.get("id") || params.get("from");
  if (source) {
    const s = await api("GET", "api/v2/silence/" + encodeURIComponent(source));
    matchers = s.matchers.map((m) => ({ ...m, isEqual: m.isEqual !== false }));
    if (params.get("id")) editing = s;
    params.set("comment", s.comment);
  }
  if (!matchers.length) matchers = [{ name: "", value: "", isRegex: false, isEqual: true }];
  const rows = h("div", { id: "matchers" });
  const errors = { matchers: h("p", { class: "error", id: "matchers-error" }), endsAt: h("p", { class: "error", id: "endsAt-error" }),
    createdBy: h("p", { class: "error", id: "createdBy-error" }), comment: h("p", { class: "error", id: "comment-error" }),
    form: h("p", { class: "error", id: "form-error", role: "alert" }) };
  const now = new Date();
  const startsAt = h("input", { id: "startsAt", type: "datetime-local", value: localInput(editing ? new Date(editing.startsAt) : now) });
  const endsAt = h("input", { id: "endsAt", type: "datetime-local", value: localInput(editing ? new Date(editing.endsAt) : new Date(now.getTime() + 2 * 3600e3)) });
  const createdBy = h("input", { id: "createdBy", value: session.user || localStorage.getItem("ar-name") || "", autocomplete: "name" });
  const comment = h("textarea", { id: "comment", rows: 2 }, params.get("comment") || "");
  const preview = h("div", { id: "silence-preview", "aria-live": "polite" });
  const presets = [["1h", 1], ["2h", 2], ["4h", 4], ["1d", 24], ["1w", 168]].map(([label, hours]) =>
    h("button", { type: "button", onclick: () => { endsAt.value = localInput(new Date(new Date(startsAt.value).getTime() + hours * 3600e3)); } }, label));

  function drawRows() {
    rows.replaceChildren(...matchers.map((m, i) => {
      const name = h("input", { "aria-label": "Label name " + (i + 1), class: "matcher-name", value: m.name, list: "label-names",
        oninput: (e) => { m.name = e.target.value; schedulePreview(); } });
      const op = h("select", { "aria-label": "Operator " + (i + 1), class: "matcher-op", onchange: (e) => {
        const o = OPS[e.target.selectedIndex]; m.isRegex = o[1]; m.isEqual = o[2]; schedulePreview(); } },
        OPS.map((o) => h("option", { selected: o[1] === m.isRegex && o[2] === m.isEqual }, o[0])));
      const value = h("input", { "aria-label": "Label value " + (i + 1), class: "matcher-value", value: m.value,
        oninput: (e) => { m.value = e.target.value; schedulePreview(); } });
      return h("div", { class: "matcher" }, name, op, value,
        h("button", { type: "button", "aria-label": "Remove matcher " + (i + 1), onclick: () => { matchers.splice(i, 1); drawRows(); schedulePreview(); } }, "✕"));
    }));
  }
  let timer = null;
  function schedulePreview() { clearTimeout(timer); timer = setTimeout(runPreview, 250); }
  async function runPreview() {
    const usable = matchers.filter((m) => m.name);
    if (!usable.length) { preview.replaceChildren(h("p", { class: "muted" }, "Add a matcher to see the alerts it would mute.")); return; }
    const q = [["silenced", true], ["inhibited", true], ["active", true], ...usable.map((m) => ["filter", matcherText(m)])];
    try {
      const alerts = await api("GET", "api/v2/alerts" + query(q));
      errors.matchers.textContent = "";
      preview.replaceChildren(h("p", { id: "preview-count" }, alerts.length + " alert" + (alerts.length === 1 ? "" : "s") + " would be muted"),
        h("ul", { id: "preview-list" }, alerts.map((a) => h("li", { "data-fingerprint": a.fingerprint },
          a.labels.alertname || "", " ", labelChips(a.labels, ["alertname"])))));
    } catch (e) { errors.matchers.textContent = e.message; preview.replaceChildren(); }
  }
  const form = h("form", { class: "card", id: "silence-form", onsubmit: async (e) => {
    e.preventDefault();
    for (const el of Object.values(errors)) el.textContent = "";
    if (!session.user) localStorage.setItem("ar-name", createdBy.value);
    const body = { matchers: matchers.filter((m) => m.name || m.value), startsAt: new Date(startsAt.value).toISOString(),
      endsAt: new Date(endsAt.value).toISOString(), createdBy: createdBy.value, comment: comment.value };
    if (editing) body.id = editing.id;
    try {
      await api("POST", "api/v2/silences", body);
      location.hash = "#/silences";
    } catch (err) {
      const text = err.message;
      const field = /matcher|label|regex/i.test(text) ? "matchers" : /end|start|time/i.test(text) ? "endsAt"
        : /createdBy|creator/i.test(text) ? "createdBy" : /comment/i.test(text) ? "comment" : "form";
      errors[field].textContent = text;
      if (field !== "form") errors.form.textContent = "Not saved: " + text;
    }
  } },
  h("h1", {}, editing ? "Edit silence" : "New silence"),
  h("div", { class: "grid" },
    h("div", {},
      h("label", {}, "Matchers"), rows, errors.matchers,
      h("button", { type: "button", id: "add-matcher", onclick: () => { matchers.push({ name: "", value: "", isRegex: false, isEqual: true }); drawRows(); } }, "Add matcher"),
      h("label", { for: "startsAt" }, "Starts"), startsAt,
      h("label", { for: "endsAt" }, "Ends"), endsAt, h("div", { class: "bar" }, presets), errors.endsAt,
      h("label", { for: "createdBy" }, "Created by"), createdBy, errors.createdBy,
      h("label", { for: "comment" }, "Comment"), comment, errors.comment,
      errors.form,
      h("p", { class: "bar" }, h("button", { class: "primary", type: "submit", id: "save-silence" }, editing ? "Update" : "Create"),
        h("a", { class: "button", href: "#/silences" }, "Cancel"))),
    h("div", {}, h("h2", {}, "Would mute"), preview)),
  h("datalist", { id: "label-names" }));
  main.replaceChildren(form);
  drawRows();
  runPreview();
  // Label names to complete from: those of the alerts there are now.
  api("GET", "api/v2/alerts").then((alerts) => {
    const names = new Set(alerts.flatMap((a) => Object.keys(a.labels)));
    form.querySelector("#label-names").replaceChildren(...[...names].sort().map((n) => h("option", { value: n })));
  }).catch(() => { /* completion is a convenience */ });
}

function localInput(d) {
  const pad = (n) => String(n).padStart(2, "0");
  return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes());
}

// ---- incidents ---------------------------------------------------------------------------

function incidentsPage(main, params) {
  const state = h("select", { id: "incident-state", "aria-label": "State" },
    ["", "triggered", "acknowledged", "resolved"].map((s) => h("option", { value: s, selected: s === (params.get("state") || "") }, s || "any state")));
  const priority = h("select", { id: "incident-priority", "aria-label": "Priority" },
    ["", "P0", "P1", "P2", "P3"].map((p) => h("option", { value: p }, p || "any priority")));
  const table = h("tbody", { id: "incident-rows" });
  main.replaceChildren(h("h1", {}, "Incidents"), h("div", { class: "bar" }, state, priority),
    h("table", {}, h("thead", {}, h("tr", {}, ["Priority", "Incident", "State", "Opened", "Time to acknowledge"].map((c) => h("th", {}, c)))), table));
  async function refresh() {
    const q = [];
    if (state.value) q.push(["state", state.value]);
    if (priority.value) q.push(["priority", priority.value]);
    const incidents = await api("GET", "api/v1/incidents" + query(q));
    incidents.sort((a, b) => (a.priority || "P9").localeCompare(b.priority || "P9") || b.openedAt.localeCompare(a.openedAt));
    table.replaceChildren(...incidents.map((i) => h("tr", { "data-id": i.id },
      h("td", {}, priorityBadge(i.priority)),
      h("td", {}, h("a", { href: "#/incidents/" + encodeURIComponent(i.id) }, i.receiver), " ", labelChips(i.groupLabels)),
      h("td", {}, h("span", { class: "state " + i.state }, i.state)),
      h("td", {}, since(i.openedAt)),
      h("td", {}, i.acknowledgedAt ? duration(i.openedAt, i.acknowledgedAt) : "—"))));
  }
  state.addEventListener("change", () => refresh());
  priority.addEventListener("change", () => refresh());
  poll(refresh);
}

function duration(from, to) {
  const s = Math.round((Date.parse(to) - Date.parse(from)) / 1000);
  return s < 60 ? s + "s" : Math.floor(s / 60) + "m " + (s % 60) + "s";
}

function incidentPage(main, id) {
  const body = h("div", { id: "incident" });
  const comment = h("input", { id: "incident-comment", "aria-label": "Comment", placeholder: "comment (optional)" });
  const by = h("input", { id: "incident-by", "aria-label": "Your name", placeholder: "your name", value: session.user || localStorage.getItem("ar-name") || "", hidden: !!session.user });
  const error = h("p", { class: "error", id: "incident-error", role: "alert" });
  const actions = h("div", { class: "bar" });
  main.replaceChildren(h("p", {}, h("a", { href: "#/incidents" }, "← Incidents")), body, h("div", { class: "card" }, h("div", { class: "bar" }, by, comment), actions, error));
  async function act(action) {
    error.textContent = "";
    if (!session.user) localStorage.setItem("ar-name", by.value);
    try {
      await api("POST", "api/v1/incidents/" + encodeURIComponent(id) + "/" + action, { by: session.user || by.value, comment: comment.value || null });
      comment.value = "";
      await refresh();
    } catch (e) { error.textContent = e.message; }
  }
  async function refresh() {
    const i = await api("GET", "api/v1/incidents/" + encodeURIComponent(id));
    body.replaceChildren(h("h1", {}, priorityBadge(i.priority), " ", i.receiver, " ", h("span", { class: "state " + i.state, id: "incident-state-now" }, i.state)),
      h("p", {}, labelChips(i.groupLabels), " ", h("span", { class: "muted" }, "policy " + i.policy + " · opened "), since(i.openedAt),
        i.acknowledgedAt ? h("span", { class: "muted" }, " · acknowledged by " + i.acknowledgedBy + " after " + duration(i.openedAt, i.acknowledgedAt)) : null,
        i.nextEscalationAt ? h("span", { class: "muted" }, " · next step " + new Date(i.nextEscalationAt).toLocaleTimeString()) : null),
      h("table", { id: "timeline" }, h("thead", {}, h("tr", {}, ["When", "Event", "By", "Comment", "Receivers"].map((c) => h("th", {}, c)))),
        h("tbody", {}, i.timeline.map((t) => h("tr", {}, h("td", {}, new Date(t.at).toLocaleTimeString()), h("td", {}, t.event),
          h("td", {}, t.by || ""), h("td", {}, t.comment || ""), h("td", {}, (t.receivers || []).join(", ")))))));
    const buttons = [];
    if (i.state === "triggered") buttons.push(h("button", { class: "primary", type: "button", id: "acknowledge", onclick: () => act("ack") }, "Acknowledge"));
    if (i.state === "acknowledged") buttons.push(h("button", { type: "button", id: "unacknowledge", onclick: () => act("unack") }, "Unacknowledge"));
    if (i.state !== "resolved") buttons.push(h("button", { type: "button", id: "resolve", onclick: () => act("resolve") }, "Resolve"));
    actions.replaceChildren(...buttons);
  }
  poll(refresh);
}

// ---- routing -----------------------------------------------------------------------------

function routeNode(r) {
  const matchers = r.matchers.length ? r.matchers.join(", ") : "(root: every alert)";
  return h("li", {}, h("div", { class: "card route" },
    h("strong", {}, r.receiver), " ", h("span", { class: "chips" }, h("span", { class: "chip" }, matchers)),
    h("div", { class: "muted" }, "group by " + (r.group_by_all ? "…" : "[" + r.group_by.join(", ") + "]") +
      " · wait " + r.group_wait + " · interval " + r.group_interval + " · repeat " + r.repeat_interval +
      (r.continue ? " · continue" : "") + (r.escalation ? " · escalation " + r.escalation : ""))),
  r.routes.length ? h("ul", {}, r.routes.map(routeNode)) : null);
}

async function routingPage(main, params) {
  stopPolling();
  const labels = h("textarea", { id: "route-labels", rows: 3, "aria-label": "Labels, name=value, one per line or comma-separated",
    placeholder: "alertname=HighErrorRate\nservice=agentic-platform\nvalue=12%" }, params.get("labels") || "");
  const routesOut = h("pre", { id: "route-test-routes" });
  const rulesOut = h("pre", { id: "route-test-rules" });
  const error = h("p", { class: "error", id: "route-test-error", role: "alert" });
  const tree = h("div", { class: "tree", id: "route-tree" });
  const form = h("form", { class: "card", id: "route-test", onsubmit: async (e) => {
    e.preventDefault();
    error.textContent = "";
    const q = labels.value.split(/[\n,]/).map((l) => l.trim()).filter(Boolean).map((l) => ["label", l]);
    try {
      const r = await api("GET", "api/v1/routes/test" + query(q));
      routesOut.textContent = r.routes;
      rulesOut.textContent = r.rules;
    } catch (err) { error.textContent = err.message; routesOut.textContent = ""; rulesOut.textContent = ""; }
  } }, h("h2", {}, "Where would this alert go?"),
  h("label", { for: "route-labels" }, "Labels (and value=N, the observed value)"), labels,
  h("p", {}, h("button", { class: "primary", type: "submit", id: "route-test-submit" }, "Test")), error,
  h("div", { class: "grid" }, h("div", {}, h("h2", {}, "Routes"), routesOut), h("div", {}, h("h2", {}, "Runbook classification"), rulesOut)));
  main.replaceChildren(h("h1", {}, "Routing"), form, h("h2", {}, "Routing tree"), tree, h("h2", {}, "Escalation policies"), h("div", { id: "policies" }));
  const data = await api("GET", "api/v1/routes");
  tree.replaceChildren(h("ul", {}, routeNode(data.route)));
  document.getElementById("policies").replaceChildren(...(data.escalation_policies.length ? data.escalation_policies.map((p) => h("section", { class: "card" },
    h("h2", {}, p.name), h("ol", {}, p.steps.map((s) => h("li", {}, "after " + s.after + ": " + s.notify.join(", ")))),
    p.repeat ? h("p", { class: "muted" }, "repeats") : null)) : [h("p", { class: "muted" }, "No escalation policies.")]));
}

// ---- status ------------------------------------------------------------------------------

async function statusPage(main) {
  stopPolling();
  const [status, ready] = await Promise.all([api("GET", "api/v2/status"),
    fetch("-/ready", { headers: { "X-Requested-With": "alert-router-ui" } }).then(async (r) => ({ ok: r.ok, text: await r.text() }))]);
  const peers = (status.cluster && status.cluster.peers) || [];
  main.replaceChildren(h("h1", {}, "Status"),
    h("section", { class: "card" }, h("table", {}, h("tbody", {},
      h("tr", {}, h("th", {}, "Version"), h("td", {}, status.versionInfo.version + " (" + status.versionInfo.revision + ")")),
      h("tr", {}, h("th", {}, "Up since"), h("td", {}, new Date(status.uptime).toLocaleString(), " (", since(status.uptime), ")")),
      h("tr", {}, h("th", {}, "Storage"), h("td", { id: "storage-health", class: ready.ok ? "state resolved" : "state active" }, ready.text.trim())),
      h("tr", {}, h("th", {}, "Cluster"), h("td", {}, (status.cluster && status.cluster.status) || "disabled",
        peers.length ? " · " + peers.map((p) => p.name + " " + p.address).join(", ") : ""))))),
    h("h2", {}, "Configuration (secrets masked)"), h("pre", { id: "config" }, status.config.original));
}

// ---- shell -------------------------------------------------------------------------------

async function route() {
  fault("");
  const [path, search] = (location.hash.replace(/^#\/?/, "") || "alerts").split("?");
  const params = new URLSearchParams(search || "");
  const parts = path.split("/");
  const page = parts[0];
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.page === page) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  const main = document.getElementById("main");
  try {
    if (page === "silences" && (parts[1] === "new" || parts[1] === "edit")) await silenceForm(main, params);
    else if (page === "silences") silencesPage(main, params);
    else if (page === "incidents" && parts[1]) incidentPage(main, decodeURIComponent(parts[1]));
    else if (page === "incidents") incidentsPage(main, params);
    else if (page === "routing") await routingPage(main, params);
    else if (page === "status") await statusPage(main);
    else alertsPage(main, params);
  } catch (e) { if (e.status !== 401) fault(e.message); }
}

async function start() {
  document.getElementById("theme").addEventListener("click", () => {
    const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    localStorage.setItem("ar-theme", next);
  });
  document.getElementById("logout").addEventListener("click", async () => {
    try { await api("POST", "-/logout"); } catch (_) { /* the session is gone either way */ }
    Object.assign(session, { user: null, csrf: null });
    showSession();
    showLogin();
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "/" && !/INPUT|TEXTAREA|SELECT/.test(document.activeElement.tagName)) {
      const f = document.getElementById("alert-filter");
      if (f) { e.preventDefault(); f.focus(); }
    }
  });
  setInterval(() => {
    for (const el of document.querySelectorAll("[data-since]")) el.textContent = ago(el.dataset.since);
  }, 1000);
  window.addEventListener("hashchange", route);
  try {
    const s = await api("GET", "-/session");
    Object.assign(session, { auth: s.authentication, user: s.user || null, csrf: s.csrf || null });
  } catch (e) { if (e.status === 401) return; }
  showSession();
  route();
}

start();
