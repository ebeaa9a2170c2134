// mmshop demo shop: plain JavaScript over the /v1 API, no build step.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = {
  config: null,
  mode: "text",      // "text" | "image"
  query: "",
  photo: null,       // the File of the last photo search
  filters: [],       // ["field=value", ...]
  results: [],
  userId: null,
};
const SUGGESTIONS = ["black running shoes", "blue denim jeans", "white casual shirt",
  "leather handbag", "analog watch", "summer dress"];
const K = 24;

function userId() {
  let id = localStorage.getItem("mmshop-user");
  if (!id) {
    id = "shopper-" + Math.random().toString(36).slice(2, 10);
    localStorage.setItem("mmshop-user", id);
  }
  return id;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined) node.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

let toastTimer = null;
function toast(message, isError = false) {
  const t = $("#toast");
  t.textContent = message;
  t.classList.toggle("error", isError);
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, isError ? 6000 : 2500);
}

async function api(path, options = {}) {
  const res = await fetch(path, options);
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (!res.ok) {
    const msg = body && body.message ? body.message : `request failed (${res.status})`;
    const err = new Error(msg);
    err.code = body && body.code;
    err.body = body;
    throw err;
  }
  return body;
}

function filterParams(params) {
  for (const f of state.filters) params.append("filter", f);
  return params;
}

// ------------------------------------------------------------------ results
function card(item, context) {
  const f = item.fields || {};
  const facets = (state.config && state.config.facets) || [];
  const meta = facets.map((name) => f[name]).filter(Boolean).join(" · ");
  return el("a", {
    class: "card", href: `#/product/${encodeURIComponent(item.id)}`, "data-id": item.id,
    onclick: () => sendEvent("click", item.id, context ? { ...context, rank: item.rank } : {}, true),
  },
  el("div", { class: "pic" },
    item.image_url ? el("img", { src: item.image_url, alt: item.title, loading: "lazy" }) : "no photo"),
  el("div", { class: "body" },
    el("p", { class: "title" }, item.title || item.id),
    meta ? el("div", { class: "meta" }, meta) : null));
}

function renderFacets(facets) {
  const box = $("#facets");
  box.replaceChildren();
  const names = Object.keys(facets || {});
  if (!names.length) { box.append(el("p", { class: "empty" }, "No filters")); return; }
  for (const name of names) {
    const group = el("div", { class: "group", "data-facet": name },
      el("h3", {}, name.replace(/([a-z])([A-Z])/g, "$1 $2")));
    const values = Object.entries(facets[name]);
    if (!values.length) group.append(el("p", { class: "empty" }, "—"));
    for (const [value, count] of values.slice(0, 12)) {
      const key = `${name}=${value}`;
      const box = el("input", { type: "checkbox", value: key });
      box.checked = state.filters.includes(key);
      box.addEventListener("change", () => toggleFilter(key));
      group.append(el("label", {}, el("span", {}, box, " ", value), el("span", { class: "count" }, count)));
    }
    box.append(group);
  }
}

function renderActiveFilters() {
  const box = $("#active-filters");
  box.replaceChildren(...state.filters.map((f) =>
    el("button", { class: "chip filter", type: "button", title: "Remove filter",
      onclick: () => toggleFilter(f) }, f.replace("=", ": "), " ×")));
}

function toggleFilter(key) {
  const i = state.filters.indexOf(key);
  if (i >= 0) state.filters.splice(i, 1); else state.filters.push(key);
  rerun();
}

function renderResults(data, label) {
  state.results = data.results;
  const grid = $("#grid");
  const context = { query: data.query, mode: data.mode };
  grid.replaceChildren(...data.results.map((item) => card(item, context)));
  const summary = $("#summary");
  summary.replaceChildren();
  if (label instanceof Node) summary.append(label);
  summary.append(data.results.length
    ? `${data.results.length} products ${data.query ? `for “${data.query}”` : "like your photo"} · ${data.took_ms} ms`
    : "No products match. Try fewer filters or other words.");
  renderFacets(data.facets);
  renderActiveFilters();
}

async function searchText(q) {
  state.mode = "text"; state.query = q; state.photo = null;
  $("#caption").hidden = true;
  $("#q").value = q;
  const mode = (state.config && state.config.search_mode) || "vector";
  const params = filterParams(new URLSearchParams({ q, k: K, mode }));
  try {
    renderResults(await api(`/v1/search?${params}`));
  } catch (e) { toast(e.message, true); }
}

async function searchPhoto(file) {
  state.mode = "image"; state.photo = file; state.query = "";
  $("#q").value = "";
  const form = new FormData();
  form.append("image", file);
  form.append("k", K);
  for (const f of state.filters) form.append("filter", f);
  try {
    const data = await api("/v1/search/image", { method: "POST", body: form });
    const thumb = el("img", { src: URL.createObjectURL(file), alt: "your photo" });
    renderResults(data, thumb);
  } catch (e) { toast(e.message, true); }
  suggestTitle(file);
}

// "Suggested title: ..." from the title generator, when the server has one loaded
async function suggestTitle(file) {
  const box = $("#caption");
  box.hidden = true;
  if (!state.config || !state.config.caption) return;
  const form = new FormData();
  form.append("image", file);
  try {
    const data = await api("/v1/caption", { method: "POST", body: form });
    if (state.photo !== file) return;  // another search started meanwhile
    box.replaceChildren(el("strong", {}, "Suggested title: "), data.title);
    box.hidden = false;
  } catch (e) { /* the search results still stand; no title to suggest */ }
}

function rerun() {
  if (state.mode === "image" && state.photo) searchPhoto(state.photo);
  else searchText(state.query || SUGGESTIONS[0]);
}

// ------------------------------------------------------------------ recommended for you
let recsRequest = 0;
async function loadRecs() {
  const box = $("#recs");
  const ticket = ++recsRequest;
  let data;
  try {
    data = await api(`/v1/users/${encodeURIComponent(state.userId)}/recommendations?k=8`);
  } catch (e) { box.hidden = true; return; }
  if (ticket !== recsRequest) return;  // a newer refresh is on its way
  const cards = data.items.map((rec, i) => {
    const item = { ...rec.product, rank: i + 1 };
    const c = card(item, { mode: "recommend", reason: rec.reason });
    c.querySelector(".body").append(el("div", { class: "tag reason" }, rec.reason));
    return c;
  });
  $("#recs-strip").replaceChildren(...cards);
  box.hidden = cards.length === 0;
}

// ------------------------------------------------------------------ product page
function bars(predicted) {
  const box = el("div", { class: "predicted" }, el("h2", {}, "Predicted attributes"));
  for (const [label, classes] of Object.entries(predicted)) {
    box.append(el("div", { class: "meta" }, el("strong", {}, label)));
    for (const c of classes) {
      const pct = Math.round(c.probability * 100);
      box.append(el("div", { class: "bar" }, el("span", {}, c.value),
        el("div", { class: "track" }, el("div", { class: "fill", style: `width:${pct}%` })),
        el("span", {}, `${pct}%`)));
    }
  }
  return box;
}

function feedbackBox(productId) {
  const buttons = [
    ["thumbs_up", "♥ Like"], ["thumbs_down", "✕ Not for me"],
    ["add_to_cart", "Add to cart"], ["purchase", "Buy now"],
  ];
  const row = el("div", { class: "row" });
  for (const [type, text] of buttons) {
    const b = el("button", { class: type === "add_to_cart" ? "btn primary" : "btn", type: "button",
      "data-event": type }, text);
    b.addEventListener("click", async () => {
      if (await sendEvent(type, productId)) {
        b.classList.add("active");
        toast(type === "add_to_cart" ? "Added to cart" : "Thanks — feedback saved");
      }
    });
    row.append(b);
  }
  const reason = el("select", { "aria-label": "Return reason", id: "return-reason" },
    ...[["too_small", "Too small"], ["too_large", "Too large"], ["fit_ok", "Fit was fine"],
      ["not_as_pictured", "Not as pictured"], ["quality", "Quality"], ["other", "Other"]]
      .map(([v, t]) => el("option", { value: v }, t)));
  const ret = el("button", { class: "btn", type: "button", "data-event": "return" }, "↩ Return");
  ret.addEventListener("click", async () => {
    if (await sendEvent("return", productId, {}, false, reason.value)) {
      ret.classList.add("active");
      toast("Return recorded");
    }
  });
  const box = el("div", { class: "feedback" }, el("h2", {}, "Your feedback"), row,
    el("div", { class: "row", style: "margin-top:8px" }, reason, ret));
  if (!state.config || !state.config.api_key) {
    box.append(el("p", { class: "notice" },
      "Feedback is switched off on this page (the server does not share its API key)."));
  }
  return box;
}

// ------------------------------------------------------------------ fit advisor
const BODY = [["height", "Height (cm)", 50, 250], ["weight", "Weight (kg)", 20, 350],
  ["age", "Age", 10, 120]];
const FIELD_OF = { height_cm: "height", weight_kg: "weight", age: "age" };

// sizes make sense for clothes: settings.fit_panel_when names the fields that say so
function wantsFitPanel(product) {
  if (!state.config || !state.config.size_advice) return false;
  const when = state.config.fit_panel_when || {};
  return Object.entries(when).every(([field, values]) =>
    product.fields[field] === undefined || values.includes(String(product.fields[field])));
}

function fitPanel(productId) {
  const saved = JSON.parse(localStorage.getItem("mmshop-body") || "{}");
  const inputs = {};
  const form = el("form", { class: "fit-form", id: "fit-form", novalidate: "" });
  for (const [name, label] of BODY) {
    inputs[name] = el("input", { type: "number", name, id: `fit-${name}`, inputmode: "decimal",
      step: "any", value: saved[name] ?? "" });
    form.append(el("label", { for: `fit-${name}` }, label, inputs[name]));
  }
  form.append(el("button", { class: "btn primary", type: "submit" }, "Find my size"));
  const out = el("div", { class: "fit-result", id: "fit-result", "aria-live": "polite" });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const measurements = {};
    for (const [name] of BODY) {
      inputs[name].removeAttribute("aria-invalid");
      const v = inputs[name].value.trim();
      if (v !== "") measurements[name] = Number(v);
    }
    localStorage.setItem("mmshop-body", JSON.stringify(measurements));
    out.replaceChildren(el("p", { class: "meta" }, "Working out your size…"));
    try {
      const advice = await api("/v1/fit/size-advice", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ item_id: productId, user_id: state.userId, measurements }),
      });
      out.replaceChildren(...sizeAdvice(advice));
    } catch (e) {
      const field = FIELD_OF[(e.body && e.body.field) || ""];
      if (field) inputs[field].setAttribute("aria-invalid", "true");
      out.replaceChildren(el("p", { class: "fit-error", role: "alert" }, e.message));
    }
  });
  return el("div", { class: "fit", id: "fit-advisor" },
    el("h2", {}, "Fit advisor"),
    el("p", { class: "meta" }, "Enter what you know; every field is optional."), form, out);
}

function sizeAdvice(advice) {
  const pct = Math.round(advice.fit_probability * 100);
  const head = el("p", { class: "fit-size" }, "Recommended size: ",
    el("strong", { id: "fit-size" }, advice.size), " ",
    el("span", { class: "fit-confidence", id: "fit-confidence" }, `${pct}% confidence`));
  const chart = el("div", { class: "fit-chart", role: "img",
    "aria-label": "probability of each size" });
  for (const o of advice.options) {
    const p = Math.round(o.probability * 100);
    chart.append(el("div", { class: o.size === advice.size ? "bar best" : "bar" },
      el("span", {}, o.size),
      el("div", { class: "track" }, el("div", { class: "fill", style: `width:${p}%` })),
      el("span", {}, `${p}%`)));
  }
  return [head, chart, el("p", { class: "meta fit-note" }, advice.note)];
}

async function showProduct(id) {
  $("#results-view").hidden = true;
  $("#product-view").hidden = false;
  window.scrollTo(0, 0);
  const box = $("#product");
  box.replaceChildren(el("p", {}, "Loading…"));
  $("#similar").replaceChildren();
  let p;
  try {
    p = await api(`/v1/products/${encodeURIComponent(id)}`);
  } catch (e) {
    box.replaceChildren(el("p", { class: "notice" }, e.message));
    return;
  }
  const rows = Object.entries(p.fields).map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, v)));
  box.replaceChildren(
    el("div", { class: "photo" }, p.image_url ? el("img", { src: p.image_url, alt: p.title }) : "no photo"),
    el("div", {},
      el("h1", {}, p.title || p.id),
      el("div", { class: "meta" }, `Product ${p.id}`),
      el("table", {}, el("tbody", {}, rows)),
      p.predicted ? bars(p.predicted) : el("p", { class: "notice" }, "No tagger model loaded: run `make demo` to see predicted attributes."),
      wantsFitPanel(p) ? fitPanel(p.id) : null,
      feedbackBox(p.id)));
  sendEvent("view", p.id, {}, true);
  try {
    const sim = await api(`/v1/products/${encodeURIComponent(id)}/similar?k=12`);
    $("#similar").replaceChildren(...sim.results.map((item) => card(item, { mode: "similar", of: id })));
  } catch (e) { toast(e.message, true); }
}

async function sendEvent(type, productId, context = {}, quiet = false, reason = null) {
  if (!state.config || !state.config.api_key) {
    if (!quiet) toast("Feedback is switched off on this page", true);
    return false;
  }
  const body = { user_id: state.userId, product_id: productId, event_type: type, context };
  if (reason) body.reason = reason;
  try {
    await api("/v1/events", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-API-Key": state.config.api_key },
      body: JSON.stringify(body),
      keepalive: true,
    });
    if (!$("#results-view").hidden) loadRecs();
    return true;
  } catch (e) {
    if (!quiet) toast(e.message, true);
    return false;
  }
}

// ------------------------------------------------------------------ routing and wiring
function route() {
  const hash = location.hash || "#/";
  const m = hash.match(/^#\/product\/(.+)$/);
  if (m) { showProduct(decodeURIComponent(m[1])); return; }
  $("#product-view").hidden = true;
  $("#results-view").hidden = false;
  loadRecs();
  const s = hash.match(/^#\/search\?(.*)$/);
  if (s) {
    const params = new URLSearchParams(s[1]);
    state.filters = params.getAll("filter");
    searchText(params.get("q") || SUGGESTIONS[0]);
  } else if (!state.results.length) {
    searchText(SUGGESTIONS[0]);
  }
}

function goSearch(q) {
  const params = new URLSearchParams({ q });
  const target = `#/search?${params}`;
  if (location.hash === target) route(); else location.hash = target;
}

function pickPhoto(file) {
  if (!file) return;
  if (!/^image\//.test(file.type || "image/")) { toast("That file is not an image", true); return; }
  state.filters = [];
  if (location.hash && location.hash !== "#/") history.pushState(null, "", "#/");
  $("#product-view").hidden = true;
  $("#results-view").hidden = false;
  searchPhoto(file);
}

async function init() {
  state.userId = userId();
  try { state.config = await api("/v1/page-config"); } catch (e) { toast(e.message, true); }
  $("#suggestions").replaceChildren(...SUGGESTIONS.map((s) =>
    el("button", { class: "chip", type: "button", onclick: () => { state.filters = []; goSearch(s); } }, s)));
  $("#search-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = $("#q").value.trim();
    if (!q) { toast("Type what you are looking for", true); return; }
    state.filters = [];
    goSearch(q);
  });
  $("#photo").addEventListener("change", (ev) => { pickPhoto(ev.target.files[0]); ev.target.value = ""; });
  $("#back").addEventListener("click", (ev) => {
    if (state.results.length) { ev.preventDefault(); history.back(); }
  });
  const drop = $("#drop");
  let depth = 0;
  window.addEventListener("dragenter", (ev) => { ev.preventDefault(); depth++; drop.hidden = false; });
  window.addEventListener("dragleave", () => { if (--depth <= 0) { depth = 0; drop.hidden = true; } });
  window.addEventListener("dragover", (ev) => ev.preventDefault());
  window.addEventListener("drop", (ev) => {
    ev.preventDefault(); depth = 0; drop.hidden = true;
    pickPhoto(ev.dataTransfer.files[0]);
  });
  window.addEventListener("hashchange", route);
  route();
}

document.addEventListener("DOMContentLoaded", init);
