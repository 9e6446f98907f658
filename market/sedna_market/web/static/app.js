// The market page.  Every value from the server is put into the page as text (textContent,
// never innerHTML): names, descriptions and reasons are written by uploaders.
"use strict";

const TOKEN_KEY = "sedna-market-token";
const FIELDS = ["Data", "Task", "Library", "Scenario"];
const state = { learnwares: [], vocabulary: {}, searches: 0 };

// -- small helpers ------------------------------------------------------------------------------
function $(id) { return document.getElementById(id); }

/** An element with attributes and children; strings become text nodes (so they are never HTML). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

function authHeaders() {
  const t = token();
  return t ? { Authorization: "Bearer " + t } : {};
}

/** The server's reason for a failed answer: {"detail": text | [validation errors]}. */
async function reason(response) {
  let detail = response.statusText;
  try {
    const body = await response.json();
    if (typeof body.detail === "string") detail = body.detail;
    else if (Array.isArray(body.detail)) detail = body.detail.map(e => (e.loc || []).join(".") + ": " + e.msg).join("; ");
  } catch (_) { /* not JSON: keep the status text */ }
  return "HTTP " + response.status + ": " + detail;
}

/** fetch that throws an Error carrying the server's reason on a non-2xx answer. */
async function api(path, options) {
  const response = await fetch(path, options);
  if (!response.ok) throw new Error(await reason(response));
  return response;
}

function say(id, text, kind) {
  const node = $(id);
  node.textContent = text;
  node.className = "message" + (kind ? " " + kind : "");
}

function values(spec, key) {
  const field = (spec || {})[key];
  if (!field) return [];
  return Array.isArray(field.Values) ? field.Values : (field.Values ? [String(field.Values)] : []);
}

function text(spec, key) {
  const v = ((spec || {})[key] || {}).Values;
  return typeof v === "string" ? v : "";
}

function tags(list) {
  const span = el("span");
  for (const v of list) span.append(el("span", { class: "tag", text: v }));
  return span;
}

function downloadLink(lw) {
  if (!lw.downloadable) return el("span", { class: "muted", text: "none" });
  return el("a", { href: "/api/v1/learnwares/" + encodeURIComponent(lw.id) + "/download",
                   download: lw.id + ".zip", class: "download", text: "zip" });
}

// -- token --------------------------------------------------------------------------------------
function showToken() {
  $("token-state").textContent = token() ? "token set for this tab" : "no token (read only)";
}

// -- browse -------------------------------------------------------------------------------------
function matches(lw, filters) {
  const spec = lw.semantic_spec;
  if (filters.text) {
    const hay = [lw.name, text(spec, "Description"), lw.id, lw.uploader].join("\n").toLowerCase();
    if (!hay.includes(filters.text)) return false;
  }
  for (const key of FIELDS) {
    if (filters[key] && !values(spec, key).includes(filters[key])) return false;
  }
  return !filters.status || lw.status_name === filters.status;
}

function renderList() {
  const filters = { text: $("f-text").value.trim().toLowerCase(), status: $("f-status").value };
  for (const key of FIELDS) filters[key] = $("f-" + key.toLowerCase()).value;
  const shown = state.learnwares.filter(lw => matches(lw, filters));
  const body = $("lw-table").tBodies[0];
  body.replaceChildren(...shown.map(lw => el("tr", { "data-id": lw.id },
    el("td", {}, el("a", { href: "#lw/" + encodeURIComponent(lw.id), class: "lw-link", text: lw.name || lw.id })),
    el("td", {}, tags(values(lw.semantic_spec, "Data"))),
    el("td", {}, tags(values(lw.semantic_spec, "Task"))),
    el("td", {}, tags(values(lw.semantic_spec, "Library"))),
    el("td", {}, tags(values(lw.semantic_spec, "Scenario"))),
    el("td", { class: "status-" + lw.status_name, text: lw.status_name + (lw.check_state === "pending" ? " (checking)" : "") }),
    el("td", { text: lw.uploader || "" }),
    el("td", { text: (lw.created_at || "").replace("T", " ").slice(0, 19) }),
    el("td", {}, downloadLink(lw)))));
  $("browse-count").textContent = shown.length + " of " + state.learnwares.length + " learnwares";
}

async function loadList() {
  try {
    state.learnwares = await (await api("/api/v1/learnwares")).json();
    state.learnwares.sort((a, b) => (b.created_at || "").localeCompare(a.created_at || ""));
    renderList();
  } catch (err) {
    $("browse-count").textContent = "could not list the learnwares: " + err.message;
  }
}

// -- detail -------------------------------------------------------------------------------------
function kvRows(table, rows) {
  table.tBodies[0].replaceChildren(...rows.map(([k, v]) =>
    el("tr", { "data-key": k }, el("th", { text: k }), el("td", {}, typeof v === "string" ? el("span", { text: v }) : v))));
}

function ioText(io) {
  if (!io) return "";
  const desc = Object.entries(io.Description || {}).map(([i, d]) => i + ": " + d).join(", ");
  return "dimension " + io.Dimension + (desc ? " (" + desc + ")" : "");
}

async function showDetail(id) {
  say("d-message", "");
  $("d-delete-confirm").hidden = true;
  let lw;
  try {
    lw = await (await api("/api/v1/learnwares/" + encodeURIComponent(id))).json();
  } catch (err) {
    $("d-name").textContent = "Learnware not found";
    $("d-id").textContent = id;
    say("d-message", err.message, "error");
    return;
  }
  const spec = lw.semantic_spec;
  $("d-name").textContent = lw.name || lw.id;
  $("d-id").textContent = "id " + lw.id;
  kvRows($("d-semantic"), [
    ["Name", text(spec, "Name")], ["Description", text(spec, "Description")],
    ...FIELDS.map(k => [k, tags(values(spec, k))]), ["License", tags(values(spec, "License"))],
    ["Input", ioText(spec.Input)], ["Output", ioText(spec.Output)],
    ["Status", el("span", { class: "status-" + lw.status_name, text: lw.status_name })],
    ["Check", lw.check_state + (lw.reason ? ": " + lw.reason : "")],
    ["Uploader", lw.uploader || ""], ["Created", lw.created_at || ""],
  ]);
  const link = $("d-download");
  link.hidden = !lw.downloadable;
  link.setAttribute("href", "/api/v1/learnwares/" + encodeURIComponent(lw.id) + "/download");
  link.setAttribute("download", lw.id + ".zip");
  $("d-delete").dataset.id = lw.id;
  try {
    const stat = await (await api("/api/v1/learnwares/" + encodeURIComponent(id) + "/stat_spec")).json();
    const w = stat.weights;
    kvRows($("d-stat"), [
      ["Type", stat.type], ["Dimension", String(stat.dimension)], ["Feature shape", "(" + stat.feature_shape.join(", ") + ")"],
      ["Reduced points", String(stat.reduced_points)], ["Samples summarised", String(stat.num_points)],
      ["Gamma", String(stat.gamma)],
      ["Weights", w.length ? "min " + Math.min(...w).toFixed(4) + ", max " + Math.max(...w).toFixed(4) +
        ", sum " + w.reduce((a, b) => a + b, 0).toFixed(4) : "none"],
    ]);
    const top = Math.max(...w.map(Math.abs), 1e-12);
    $("d-weights").replaceChildren(...w.slice(0, 200).map(b => {
      const bar = el("span", { title: b.toFixed(5) });
      bar.style.height = Math.max(2, Math.round(100 * Math.abs(b) / top)) + "%";  // CSSOM: allowed by the CSP
      return bar;
    }));
  } catch (err) {
    kvRows($("d-stat"), [["Error", err.message]]);
    $("d-weights").replaceChildren();
  }
}

async function deleteCurrent() {
  const id = $("d-delete").dataset.id;
  try {
    await api("/api/v1/learnwares/" + encodeURIComponent(id), { method: "DELETE", headers: authHeaders() });
    say("d-message", "deleted " + id, "ok");
    $("d-delete-confirm").hidden = true;
    await loadList();
  } catch (err) {
    say("d-message", "delete refused: " + err.message, "error");
    $("d-delete-confirm").hidden = true;
  }
}

// -- search -------------------------------------------------------------------------------------
function searchSemantic() {
  const spec = {};
  for (const key of FIELDS) {
    const v = $("s-" + key.toLowerCase()).value;
    if (v) spec[key] = { Type: state.vocabulary[key] ? state.vocabulary[key].type : "Class", Values: [v] };
  }
  const name = $("s-name").value.trim();
  if (name) spec.Name = { Type: "String", Values: name };
  return Object.keys(spec).length ? spec : null;
}

function fmt(x, digits) { return x === null || x === undefined ? "" : Number(x).toFixed(digits); }

function renderResults(res) {
  const names = Object.fromEntries(state.learnwares.map(lw => [lw.id, lw.name]));
  $("s-results").tBodies[0].replaceChildren(...res.single.map((r, i) => {
    const bar = el("span", { class: "score" });
    bar.style.width = Math.round(80 * Math.max(0, Math.min(1, r.score))) + "px";
    return el("tr", { "data-id": r.id },
      el("td", { text: String(i + 1) }),
      el("td", {}, el("a", { href: "#lw/" + encodeURIComponent(r.id), class: "lw-link", text: r.name || names[r.id] || r.id })),
      el("td", { class: "score-cell" }, bar, el("span", { class: "score-value", text: fmt(r.score, 3) })),
      el("td", { text: fmt(r.distance, 5) }),
      el("td", { class: "muted", text: r.id }));
  }));
  const mix = $("s-mixture");
  mix.replaceChildren();
  if (res.mixture) {
    const parts = res.mixture.ids.map((id, i) => (names[id] || id) + " x " + fmt(res.mixture.weights[i], 3));
    mix.append(el("p", { text: "Mixture (score " + fmt(res.mixture.score, 3) + "): " + parts.join(" + ") }));
  }
}

async function runSearch(event) {
  event.preventDefault();
  say("s-message", "searching...");
  $("s-summary").textContent = "";
  const semantic = searchSemantic();
  const max = Number($("s-max").value) || 5;
  const usable = $("s-usable").checked;
  const csv = $("s-csv").files[0];
  try {
    let res;
    if (csv) {
      const form = new FormData();
      form.append("file", csv);
      form.append("max_search_num", String(max));
      form.append("usable_only", String(usable));
      if (semantic) form.append("semantic_spec", JSON.stringify(semantic));
      res = await (await api("/api/v1/search/csv", { method: "POST", body: form })).json();
      $("s-summary").textContent = "Your data: " + res.rows + " rows x " + res.dimension + " features -> RKME with " +
        res.reduced_points + " reduced points (computed by the market)";
    } else {
      const body = { semantic_spec: semantic, max_search_num: max, usable_only: usable };
      res = await (await api("/api/v1/search", { method: "POST", headers: { "Content-Type": "application/json" },
                                                  body: JSON.stringify(body) })).json();
    }
    renderResults(res);
    say("s-message", res.single.length ? res.single.length + (res.single.length === 1 ? " result" : " results") + ", best first" :
      "no match: no learnware passes the filter" + (csv ? " or has " + res.dimension + " features" : ""), "ok");
  } catch (err) {
    renderResults({ single: [], mixture: null });
    say("s-message", "search failed: " + err.message, "error");
  }
  $("s-results").dataset.searches = String(++state.searches);  // answered searches (tests wait on it)
}

// -- upload -------------------------------------------------------------------------------------
async function upload(event) {
  event.preventDefault();
  const file = $("u-file").files[0];
  if (!file) { say("u-message", "choose a zip first", "error"); return; }
  const form = new FormData();
  form.append("file", file);
  const semantic = $("u-semantic").value.trim();
  if (semantic) form.append("semantic_spec", semantic);
  say("u-message", "uploading...");
  try {
    const wait = $("u-wait").checked ? "true" : "false";
    const res = await (await api("/api/v1/learnwares?wait=" + wait, { method: "POST", body: form, headers: authHeaders() })).json();
    const msg = el("span", {}, "uploaded: ",
      el("a", { href: "#lw/" + encodeURIComponent(res.id), class: "lw-link", text: res.id }),
      " " + res.status_name + " (" + res.check_state + (res.reason ? ": " + res.reason : "") + ")");
    $("u-message").replaceChildren(msg);
    $("u-message").className = "message ok";
    await loadList();
  } catch (err) {
    say("u-message", "upload refused: " + err.message, "error");
  }
}

// -- navigation ---------------------------------------------------------------------------------
function route() {
  const hash = decodeURIComponent(location.hash.slice(1) || "browse");
  const view = hash.startsWith("lw/") ? "detail" : (["browse", "search", "upload"].includes(hash) ? hash : "browse");
  for (const id of ["browse", "detail", "search", "upload"]) $(id).hidden = id !== view;
  for (const id of ["browse", "search", "upload"]) $("nav-" + id).classList.toggle("active", id === view);
  if (view === "detail") showDetail(hash.slice(3));
  if (view === "browse") renderList();
}

async function loadVocabulary() {
  try {
    state.vocabulary = await (await api("/api/v1/semantic/vocabulary")).json();
  } catch (_) { return; }
  for (const select of document.querySelectorAll("select[data-field]")) {
    const field = state.vocabulary[select.dataset.field];
    for (const v of (field ? field.values : [])) select.append(el("option", { value: v, text: v }));
  }
}

async function loadHealth() {
  try {
    const health = await (await api("/healthz")).json();
    $("market-state").textContent = health.models + " models stored; " +
      (health.auth === "insecure" ? "INSECURE market: writes need no token" : "writes need a bearer token");
  } catch (err) {
    $("market-state").textContent = "market unreachable: " + err.message;
  }
}

async function main() {
  $("token-form").addEventListener("submit", e => {
    e.preventDefault();
    const t = $("token").value.trim();
    if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
    $("token").value = "";
    showToken();
  });
  $("token-forget").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); showToken(); });
  for (const id of ["f-text", "f-data", "f-task", "f-library", "f-scenario", "f-status"]) {
    $(id).addEventListener("input", renderList);
    $(id).addEventListener("change", renderList);  // a select may send only "change"
  }
  $("f-clear").addEventListener("click", () => {
    for (const id of ["f-text", "f-data", "f-task", "f-library", "f-scenario", "f-status"]) $(id).value = "";
    renderList();
  });
  $("f-reload").addEventListener("click", loadList);
  $("d-delete").addEventListener("click", () => { $("d-delete-confirm").hidden = false; });
  $("d-delete-confirm").addEventListener("click", deleteCurrent);
  $("s-form").addEventListener("submit", runSearch);
  $("s-csv-clear").addEventListener("click", () => { $("s-csv").value = ""; });  // back to tags only
  $("u-form").addEventListener("submit", upload);
  window.addEventListener("hashchange", route);
  showToken();
  await Promise.all([loadVocabulary(), loadList(), loadHealth()]);
  route();
  document.body.dataset.ready = "1";  // tests wait for this
}

main();
