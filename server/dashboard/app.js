// Arbiter's dashboard: the fleet and each site's plan, from the service's
// own API (/v1) with the key the user signs in with. The key lives in this
// tab's session storage only; it is sent as a bearer header, never in a
// URL or a cookie.
"use strict";

const KEY = "arbiter.key";
const state = { me: null, stream: null, fleetTimer: null, routeStarted: 0 };

// An error nobody caught is shown, not lost.
window.addEventListener("error", (event) => showFailure(event.message));
window.addEventListener("unhandledrejection", (event) => showFailure(String(event.reason && event.reason.message || event.reason)));

function showFailure(message) {
  const box = document.getElementById("failure");
  if (!box) return;
  box.hidden = false;
  box.textContent = "Something went wrong on this page: " + message;
}

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || "HTTP " + status);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + sessionStorage.getItem(KEY) }, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) {
    signOut("The key was refused: sign in again.");
    throw new ApiError(401, null);
  }
  const text = await response.text();
  const body = text && (response.headers.get("content-type") || "").includes("json") ? JSON.parse(text) : text;
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

// Follows a server-sent event stream with the bearer key (EventSource
// cannot send one); calls onData with each event's data until stopped.
function follow(path, onData) {
  const controller = new AbortController();
  (async () => {
    while (!controller.signal.aborted) {
      try {
        const response = await fetch(path, {
          headers: { Authorization: "Bearer " + sessionStorage.getItem(KEY), Accept: "text/event-stream" },
          signal: controller.signal,
        });
        if (!response.ok || !response.body) throw new Error("HTTP " + response.status);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const event = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
            if (data) onData(data);
          }
        }
      } catch (error) {
        if (controller.signal.aborted) return;
      }
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  })();
  return () => controller.abort();
}

// ---------------------------------------------------------------- helpers

const $ = (id) => document.getElementById(id);

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function number(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 90) return seconds + " s";
  if (seconds < 5400) return Math.round(seconds / 60) + " min";
  if (seconds < 172800) return (seconds / 3600).toFixed(1) + " h";
  return Math.round(seconds / 86400) + " d";
}

function localTime(ms, zone, withDay) {
  return new Intl.DateTimeFormat("en-GB", Object.assign({ timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" },
    withDay ? { weekday: "short", day: "numeric", month: "short" } : {})).format(new Date(ms));
}

// A feasible plan's gap, as a suffix ("" for the others).
function gap(plan) {
  if (plan.status !== "feasible") return "";
  return plan.mip_gap === null ? " (gap unknown)" : " (gap " + (plan.mip_gap * 100).toFixed(2) + "%)";
}

// For tests and measurements: the page drawn is `name`, so many ms after
// its route began (renderMs) and after the document's navigation (readyAt).
function markReady(name) {
  const page = $("page");
  page.dataset.renderMs = (performance.now() - state.routeStarted).toFixed(0);
  page.dataset.readyAt = performance.now().toFixed(0);
  page.dataset.ready = name;
}

function announce(text) {
  $("live").textContent = text;
}

function stopLive() {
  if (state.stream) state.stream();
  state.stream = null;
  if (state.fleetTimer) clearInterval(state.fleetTimer);
  state.fleetTimer = null;
}

// ---------------------------------------------------------------- sign-in

async function signIn(key) {
  sessionStorage.setItem(KEY, key);
  try {
    state.me = await api("/v1/whoami");
  } catch (error) {
    sessionStorage.removeItem(KEY);
    throw error;
  }
}

function signOut(message) {
  stopLive();
  sessionStorage.removeItem(KEY);
  state.me = null;
  $("who").hidden = true;
  $("nav").hidden = true;
  $("page").textContent = "";
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message || "";
  $("key").focus();
}

function showSignedIn() {
  const me = state.me;
  $("sign-in").hidden = true;
  $("who").hidden = false;
  $("nav").hidden = false;
  $("who-text").textContent = me.role + (me.sites.length ? " of " + me.sites.join(", ") : "") + " · " + me.key_id;
}

// ---------------------------------------------------------------- fleet

const FLEET_COLUMNS = [
  { key: "site_id", label: "Site", text: true, value: (s) => s.site_id },
  { key: "status", label: "Plan", text: true, value: (s) => (s.plan ? s.plan.status : "") },
  { key: "age", label: "Age", value: (s) => (s.plan ? s.plan.age_seconds : Infinity) },
  { key: "battery", label: "Battery now (kWh)", value: (s) => s.battery_kwh },
  { key: "month_peak", label: "Month peak (kW)", value: (s) => s.month_peak_kw, wide: true },
  { key: "planned_peak", label: "Plan peak (kW)", value: (s) => s.planned_peak_kw, wide: true },
  { key: "cost", label: "Cost rest of day", value: (s) => s.cost_rest_of_day },
  { key: "attention", label: "Needs a look", text: true, value: (s) => s.attention.length },
];

const fleetView = { sort: "attention", descending: true, filter: "", attentionOnly: false, data: null };

async function fleetPage() {
  const page = $("page");
  page.textContent = "";
  const summary = h("p", { class: "muted", id: "fleet-summary" }, "Loading…");
  const filter = h("input", { type: "search", id: "fleet-filter", value: fleetView.filter, "aria-label": "Filter sites by id, status or what needs a look", placeholder: "Filter" });
  const only = h("input", { type: "checkbox", id: "fleet-attention", checked: fleetView.attentionOnly });
  filter.addEventListener("input", () => { fleetView.filter = filter.value; renderFleet(); });
  only.addEventListener("change", () => { fleetView.attentionOnly = only.checked; renderFleet(); });
  page.append(
    h("h1", {}, "Fleet"),
    summary,
    h("div", { class: "controls" }, filter, h("label", {}, only, " Only sites that need a look")),
    h("div", { class: "table-wrap" }, h("table", { id: "fleet-table" }, h("caption", { class: "visually-hidden" }, "Every site with its latest plan"))),
  );
  const load = async () => {
    try {
      fleetView.data = await api("/v1/fleet");
      renderFleet();
    } catch (error) {
      summary.textContent = "The fleet cannot be read: " + error.message;
    }
  };
  await load();
  state.fleetTimer = setInterval(load, 15000);
}

function renderFleet() {
  const data = fleetView.data;
  if (!data) return;
  const table = $("fleet-table");
  if (!table) return;
  const column = FLEET_COLUMNS.find((c) => c.key === fleetView.sort) || FLEET_COLUMNS[0];
  const needle = fleetView.filter.trim().toLowerCase();
  const rows = data.sites.filter((s) => {
    if (fleetView.attentionOnly && s.attention.length === 0) return false;
    if (!needle) return true;
    return [s.site_id, s.plan ? s.plan.status : "no plan", s.attention.join(" ")].join(" ").toLowerCase().includes(needle);
  });
  rows.sort((a, b) => {
    const va = column.value(a);
    const vb = column.value(b);
    const order = va === vb ? a.site_id.localeCompare(b.site_id)
      : va === null || va === undefined ? 1 : vb === null || vb === undefined ? -1
      : typeof va === "string" ? va.localeCompare(vb) : va - vb;
    return fleetView.descending ? -order : order;
  });
  const needing = data.sites.filter((s) => s.attention.length).length;
  $("fleet-summary").textContent = `${data.sites.length} sites, ${needing} need a look; showing ${rows.length}. As of ${new Date(data.now).toISOString().slice(0, 16).replace("T", " ")} UTC.`;
  const head = h("tr", {}, FLEET_COLUMNS.map((c) => h("th", {
    scope: "col", class: [c.text ? "text" : "", c.wide ? "wide" : ""].join(" "),
    "aria-sort": c.key === fleetView.sort ? (fleetView.descending ? "descending" : "ascending") : "none",
  }, h("button", { type: "button", onclick: () => {
    fleetView.descending = fleetView.sort === c.key ? !fleetView.descending : false;
    fleetView.sort = c.key;
    renderFleet();
  } }, c.label, c.key === fleetView.sort ? (fleetView.descending ? " ▼" : " ▲") : ""))));
  const body = document.createDocumentFragment();
  // Long fleets are drawn in full: a 1,000-row table is a few milliseconds.
  for (const s of rows) {
    const plan = s.plan;
    const status = plan ? plan.status + gap(plan) : "no plan";
    body.appendChild(h("tr", { class: s.attention.length ? "attention" : "", "data-site": s.site_id },
      h("td", {}, h("a", { href: "#/sites/" + encodeURIComponent(s.site_id) }, s.site_id)),
      h("td", { class: "text" + (plan && plan.status === "fallback" ? " status-fallback" : "") }, status, plan ? " v" + plan.version : ""),
      h("td", {}, plan ? age(plan.age_seconds) : "–"),
      h("td", {}, number(s.battery_kwh), s.battery_max_kwh && s.battery_kwh !== null ? h("span", { class: "muted" }, " (" + Math.round((100 * (s.battery_kwh || 0)) / s.battery_max_kwh) + "%)") : ""),
      h("td", { class: "wide" }, number(s.month_peak_kw)),
      h("td", { class: "wide" }, number(s.planned_peak_kw)),
      h("td", {}, s.cost_rest_of_day === null ? "–" : number(s.cost_rest_of_day, 2) + " " + s.currency),
      h("td", { class: "text" }, s.attention.length ? s.attention.map((a) => h("span", { class: "badge" }, a)) : h("span", { class: "badge ok" }, "ok")),
    ));
  }
  table.replaceChildren(table.querySelector("caption"), h("thead", {}, head), h("tbody", {}, body));
  markReady("fleet");
}

// ---------------------------------------------------------------- site

const COLORS = {
  import: "#0072b2", export: "#009e73", price: "#e69f00", exportPrice: "#56b4e9", limit: "#d55e00",
  peak: "#cc79a7", charge: "#0072b2", discharge: "#d55e00", soc: "#009e73", bound: "#000000",
  ev: "#cc79a7", metered: "#000000", value: "#000000", jobs: ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442"],
};

async function sitePage(siteId) {
  const page = $("page");
  page.textContent = "";
  page.append(h("p", { class: "muted" }, "Loading " + siteId + "…"));
  let site;
  let document_;
  let extra;
  try {
    // Everything at once: the metered load and what ran are read over the
    // day before the service's clock (their defaults), the plan's past.
    [site, document_, extra] = await Promise.all([
      api("/v1/sites/" + encodeURIComponent(siteId)),
      api("/v1/sites/" + encodeURIComponent(siteId) + "/plans/latest"),
      siteExtras(siteId),
    ]);
  } catch (error) {
    page.textContent = "";
    page.append(h("h1", {}, siteId), h("p", { class: "error", role: "alert" },
      error.status === 403 ? "This key may not read " + siteId + "." : error.status === 404 ? siteId + ": " + error.message : "Cannot read " + siteId + ": " + error.message));
    return;
  }
  renderSite(site, document_, extra);
  state.stream = follow("/v1/sites/" + encodeURIComponent(siteId) + "/plans/stream", async (data) => {
    const published = JSON.parse(data);
    if (!published || published.version === undefined || published.version <= document_.version) return;
    try {
      document_ = published.plan ? published : await api("/v1/sites/" + encodeURIComponent(siteId) + "/plans/latest");
      renderSite(site, document_, await siteExtras(siteId));
      announce("Plan version " + document_.version + " published");
    } catch (error) {
      announce("A new plan could not be read: " + error.message);
    }
  });
}

// The metered load and what ran over the day before the service's clock,
// and the site's jobs (with deadlines).
async function siteExtras(siteId) {
  const base = "/v1/sites/" + encodeURIComponent(siteId);
  const [charging, jobs, outturn] = await Promise.all([
    api(base + "/charging").catch(() => null),
    api(base + "/jobs").catch(() => null),
    api(base + "/outturn").catch(() => null),
  ]);
  return { charging, jobs: jobs ? jobs.jobs : [], outturn };
}

function renderSite(site, doc, extra) {
  const config = site.config;
  const zone = config.zone;
  const plan = doc.plan;
  const intervals = plan.intervals;
  const stepMs = (config.interval_minutes || 15) * 60e3;
  // The past day of metered load before the plan, then the plan.
  const planStarts = intervals.map((i) => Date.parse(i.start));
  const metered = new Map();
  // Readings before the plan (a demo stores its whole week as metered).
  if (extra.charging) {
    for (const r of extra.charging.readings || []) {
      const at = Date.parse(r.timestamp_utc);
      if (at < planStarts[0]) metered.set(at, r.kw);
    }
  }
  const pastCount = metered.size ? Math.min(96, Math.ceil((planStarts[0] - Math.min(...metered.keys())) / stepMs)) : 0;
  const starts = [];
  for (let k = pastCount; k > 0; k--) starts.push(planStarts[0] - k * stepMs);
  starts.push(...planStarts);
  const pad = (values) => new Array(pastCount).fill(null).concat(values);
  const field = (name) => pad(intervals.map((i) => i[name]));
  const tariff = config.tariff || {};
  const adderIn = tariff.import_adder_per_mwh || 0;
  const adderOut = tariff.export_adder_per_mwh || 0;
  const battery = config.battery;
  const jobIds = plan.jobs.map((j) => j.id);
  const jobSpecs = new Map((extra.jobs || []).map((j) => [j.id, j.spec]));
  const axis = { starts, stepMs, zone, nowMs: planStarts[0] };
  const specs = [
    { title: "Prices", unit: config.currency + "/MWh", series: [
      { name: "import (price + " + adderIn + ")", color: COLORS.price, values: field("price_per_mwh").map((p) => (p === null ? null : p + adderIn)) },
      { name: "export (price − " + adderOut + ")", color: COLORS.exportPrice, dash: true, values: field("price_per_mwh").map((p) => (p === null ? null : p - adderOut)) },
    ] },
  ];
  const explain = plan.explain;
  if (explain) {
    specs.push({ title: "Why: energy value at the connection", unit: config.currency + "/MWh", series: [
      { name: "one more MWh of demand costs", color: COLORS.value, values: pad(explain.intervals.map((w) => w.energy_value_per_mwh)) },
      { name: "import price", color: COLORS.price, dash: true, values: field("price_per_mwh").map((p) => (p === null ? null : p + adderIn)) },
    ] });
  }
  specs.push(
    { title: "Grid", unit: "kW", series: [
      { name: "import", color: COLORS.import, values: field("import_kw") },
      { name: "export (negative)", color: COLORS.export, dash: true, values: field("export_kw").map((v) => (v === null ? null : -v)) },
    ], refs: [
      { name: "import limit", value: config.grid.import_limit_kw, color: COLORS.limit },
      { name: "month peak", value: doc.basis.month_peak_kw, color: COLORS.peak },
    ] },
  );
  if (battery) {
    specs.push({ title: "Battery power", unit: "kW", series: [
      { name: "charge", color: COLORS.charge, values: field("charge_kw") },
      { name: "discharge (negative)", color: COLORS.discharge, dash: true, values: field("discharge_kw").map((v) => (v === null ? null : -v)) },
    ] });
    specs.push({ title: "Battery energy", unit: "kWh", series: [
      { name: "stored energy (end of interval)", color: COLORS.soc, values: field("soc_kwh") },
    ], refs: [
      { name: "max", value: battery.soc_max_kwh, color: COLORS.bound },
      { name: "min", value: battery.soc_min_kwh, color: COLORS.bound },
      // The energy the plan keeps back for charging spikes (basis.peak_reserve_kwh).
      doc.basis.peak_reserve_kwh ? { name: "peak reserve", value: battery.soc_min_kwh + doc.basis.peak_reserve_kwh, color: COLORS.peak } : null,
    ].filter(Boolean) });
  }
  const band = doc.ev_forecast;
  specs.push({ title: "EV charging", unit: "kW", series: [
    band ? { name: "forecast P50 (band to P90)", color: COLORS.exportPrice, dash: true, width: 1.5,
      values: pad(band.p50_kw), band: [pad(band.p50_kw), pad(band.p90_kw)] } : null,
    { name: "planned (forecast served)", color: COLORS.ev, values: field("ev_served_kw") },
    { name: "metered", color: COLORS.metered, dash: true, values: starts.map((t) => (metered.has(t) ? metered.get(t) : null)) },
  ].filter(Boolean) });
  if (jobIds.length) {
    specs.push({ title: "Compute, per job", unit: "kW (IT)", series: jobIds.map((id, k) => ({
      name: id, color: COLORS.jobs[k % COLORS.jobs.length], stack: "jobs",
      values: pad(intervals.map((i) => (i.jobs && i.jobs[id]) || 0)).map((v) => v || 0),
    })), marks: jobIds.filter((id) => jobSpecs.has(id) && jobSpecs.get(id).deadline).map((id, k) => ({
      at: Date.parse(jobSpecs.get(id).deadline), label: id + " deadline", color: COLORS.jobs[jobIds.indexOf(id) % COLORS.jobs.length],
    })) });
  }

  const page = $("page");
  page.textContent = "";
  const created = Date.parse(doc.created_at);
  page.append(
    h("h1", {}, doc.site_id, " ", h("span", { class: "muted" }, "plan v" + doc.version)),
    siteTabs(doc.site_id, "plan"),
    h("div", { class: "summary", id: "plan-summary" },
      h("div", {}, "Status", h("b", { class: plan.status === "fallback" ? "status-fallback" : "" }, plan.status + gap(plan))),
      h("div", {}, "Published", h("b", { title: doc.created_at }, localTime(created, zone, true))),
      h("div", {}, "Objective", h("b", {}, number(plan.objective, 2) + " " + config.currency)),
      h("div", {}, "Time zone", h("b", {}, zone)),
      h("div", {}, "Solve", h("b", {}, number(plan.solve_seconds * 1000, 0) + " ms")),
    ),
  );
  if (doc.warnings.length) {
    page.append(h("ul", { class: "error", "aria-label": "Warnings" }, doc.warnings.map((w) => h("li", {}, w))));
  }
  chartGroup(page, {
    id: "plan", label: "Charts of the plan", specs, axis, cursor: pastCount,
    rows: (i) => intervalRows(i, starts, pastCount, plan, band, metered, config, jobIds),
  });
  page.append(whyPanel(plan, starts.slice(pastCount), stepMs, zone, config.currency));
  outturnPanel(page, extra.outturn, stepMs, zone, config.currency);
  page.append(h("h2", {}, "Costs over the horizon"), costTable(plan.costs, config.currency));
  // For tests and measurements: what is drawn, and how long it took.
  page.dataset.intervals = String(intervals.length);
  page.dataset.past = String(pastCount);
  markReady(String(doc.version));
}

// The hovered interval's values, each with its unit.
function intervalRows(i, starts, pastCount, plan, band, metered, config, jobIds) {
  const intervals = plan.intervals;
  const start = starts[i];
  const zone = config.zone;
  const rows = [["Local time", localTime(start, zone, true)], ["UTC", new Date(start).toISOString().slice(0, 16).replace("T", " ")]];
  if (metered.has(start)) rows.push(["EV metered", number(metered.get(start), 1) + " kW"]);
  const interval = intervals[i - pastCount];
  if (interval) {
    const tariff = config.tariff || {};
    rows.push(
      ["Price", number(interval.price_per_mwh, 2) + " " + config.currency + "/MWh"],
      ["Import price", number(interval.price_per_mwh + (tariff.import_adder_per_mwh || 0), 2) + " " + config.currency + "/MWh"],
      ["Grid import", number(interval.import_kw, 1) + " kW"],
      ["Grid export", number(interval.export_kw, 1) + " kW"],
      ["Battery charge", number(interval.charge_kw, 1) + " kW"],
      ["Battery discharge", number(interval.discharge_kw, 1) + " kW"],
      ["Stored energy", number(interval.soc_kwh, 0) + " kWh"],
      ["EV served", number(interval.ev_served_kw, 1) + " kW"],
      ...(band ? [["EV forecast P50", number(band.p50_kw[i - pastCount], 1) + " kW"], ["EV forecast P90", number(band.p90_kw[i - pastCount], 1) + " kW"]] : []),
      ["EV unserved", number(interval.unserved_kw, 1) + " kW"],
      ["Compute (IT)", number(interval.compute_it_kw, 1) + " kW"],
    );
    for (const id of jobIds) rows.push(["  " + id, number((interval.jobs && interval.jobs[id]) || 0, 1) + " kW"]);
    const why = plan.explain && plan.explain.intervals[i - pastCount];
    if (why) {
      rows.push(["Energy worth", number(why.energy_value_per_mwh, 2) + " " + config.currency + "/MWh"]);
      rows.push(["Binding", why.binding.length ? why.binding.map((b) => bindingText(b, config.currency)).join("; ") : "nothing"]);
    }
  } else {
    rows.push(["Plan", "before this plan"]);
  }
  return rows;
}

// Charts on one time axis beside a panel that names the values of the
// interval under the pointer (or moved to with the arrow, Page and
// Home/End keys): `${id}-charts`, `${id}-details`, `${id}-table`.
function chartGroup(parent, { id, label, specs, axis, rows, cursor }) {
  const hint = () => [h("h2", {}, "Interval"), h("p", { class: "muted" }, "Hover a chart or focus it and use the arrow keys.")];
  const charts = h("div", { class: "charts", id: id + "-charts", tabindex: "0", "aria-label": label + "; the left and right arrow keys move between intervals" });
  const details = h("aside", { class: "details", id: id + "-details", "aria-live": "polite" }, hint());
  parent.append(h("div", { class: "layout" }, charts, details));
  const n = axis.starts.length;
  const handles = [];
  let at = cursor === undefined ? n - 1 : cursor;
  const measured = Object.assign({ width: charts.clientWidth }, axis);
  const show = (i) => {
    at = Math.max(0, Math.min(n - 1, i));
    handles.forEach((handle) => handle.setCursor(at));
    details.replaceChildren(h("h2", {}, "Interval"), h("table", { id: id + "-table" },
      h("tbody", {}, rows(at).map(([k, v]) => h("tr", {}, h("th", { scope: "row", class: "text" }, k), h("td", {}, v))))));
  };
  for (const spec of specs) {
    const holder = h("div", {});
    charts.appendChild(holder);
    handles.push(Charts.draw(holder, spec, measured, show));
  }
  charts.addEventListener("keydown", (event) => {
    const moves = { ArrowLeft: -1, ArrowRight: 1, PageUp: -4, PageDown: 4 };
    if (event.key in moves) show(at + moves[event.key]);
    else if (event.key === "Home") show(0);
    else if (event.key === "End") show(n - 1);
    else return;
    event.preventDefault();
  });
}

const LIMITS = {
  import_limit: "import limit", export_limit: "export limit", month_peak: "month's peak",
  battery_full: "battery full", battery_empty: "battery empty", battery_charge_power: "battery charge power",
  battery_discharge_power: "battery discharge power", compute_capacity: "compute capacity", job_max_power: "job at its most power",
};

// "import limit", "train-7 at its most power".
function limitName(binding) {
  return binding.constraint === "job_max_power" ? binding.job + " at its most power" : LIMITS[binding.constraint] || binding.constraint;
}

// "import limit (worth 22.00 USD/MWh)".
function bindingText(binding, currency) {
  const name = limitName(binding);
  const worth = binding.value_per_kw !== undefined
    ? number(binding.value_per_kw, 2) + " " + currency + "/kW"
    : number(binding.value_per_mwh, 2) + " " + currency + "/MWh";
  return name + " (worth " + worth + ")";
}

// Why the plan is what it is: where energy is cheapest and dearest, each
// binding limit with the runs of intervals it binds in, and the jobs.
function whyPanel(plan, starts, stepMs, zone, currency) {
  const box = h("section", { id: "why", "aria-labelledby": "why-title" }, h("h2", { id: "why-title" }, "Why"));
  const explain = plan.explain;
  if (!explain) {
    box.append(h("p", { class: "muted" }, plan.status === "fallback" ? "A fallback plan has no explanation." : "This plan carries no explanation (the service's explain_plans is off)."));
    return box;
  }
  const values = explain.intervals.map((w) => w.energy_value_per_mwh);
  const low = values.indexOf(Math.min(...values));
  const high = values.indexOf(Math.max(...values));
  const at = (i) => localTime(starts[i], zone, true);
  box.append(h("p", { id: "why-value" }, values[high] - values[low] < 0.005
    ? "Energy at the connection is worth " + number(values[high], 2) + " " + currency + "/MWh in every interval: one more MWh of demand at any hour would be met with energy that costs that much."
    : "Energy at the connection is worth " + number(values[high], 2) + " " + currency + "/MWh at " + at(high) +
      " against " + number(values[low], 2) + " at " + at(low) + ": the plan stores and shifts energy and compute between them as far as the limits below allow."));
  // Runs of consecutive intervals per limit (and job).
  const runs = new Map();
  explain.intervals.forEach((why, i) => {
    for (const binding of why.binding) {
      const key = binding.constraint + (binding.job ? ":" + binding.job : "");
      const list = runs.get(key) || [];
      const last = list[list.length - 1];
      const worth = binding.value_per_kw !== undefined ? binding.value_per_kw : binding.value_per_mwh;
      if (last && last.to === i - 1) { last.to = i; last.most = Math.max(last.most, worth); } else list.push({ from: i, to: i, most: worth, binding });
      runs.set(key, list);
    }
  });
  const items = [];
  for (const list of runs.values()) {
    for (const run of list) {
      const until = localTime(starts[run.to] + stepMs, zone, false);
      const unit = run.binding.value_per_kw !== undefined ? currency + "/kW" : currency + "/MWh";
      items.push({ first: run.from, text: limitName(run.binding) + " binds " + at(run.from) + "–" + until + " (worth up to " + number(run.most, 2) + " " + unit + ")", constraint: run.binding.constraint });
    }
  }
  items.sort((a, b) => a.first - b.first);
  box.append(items.length
    ? h("ul", { id: "why-binding", "aria-label": "Binding limits" }, items.map((item) => h("li", { "data-constraint": item.constraint }, item.text)))
    : h("p", { id: "why-binding" }, "No limit binds: the prices alone decide."));
  if (explain.jobs.length) {
    const says = { energy_need: "gets all it needs; one more MWh of need would earn", deadline: "falls short by its deadline; its energy is worth", cost: "falls short because running more costs more than its energy is worth," };
    box.append(h("ul", { id: "why-jobs", "aria-label": "Jobs" }, explain.jobs.map((job) =>
      h("li", { "data-binding": job.binding }, job.id + " " + (says[job.binding] || job.binding) + " " + number(job.value_per_mwh, 2) + " " + currency + "/MWh"))));
  }
  return box;
}

// The hours behind now: what the plans in force planned against what the
// controller reported, with the deviation and what it cost; appended to
// `parent`.
function outturnPanel(parent, outturn, stepMs, zone, currency) {
  const box = h("section", { id: "outturn", "aria-labelledby": "outturn-title" }, h("h2", { id: "outturn-title" }, "Plan against what ran"));
  parent.append(box);
  const all = outturn ? outturn.intervals : [];
  const first = all.findIndex((i) => i.version !== null);
  const rows = first < 0 ? [] : all.slice(first);
  if (!rows.length) {
    box.append(h("p", { class: "muted", id: "outturn-summary" }, outturn ? "No interval under a plan has ended in the day before now." : "What ran cannot be read."));
    return;
  }
  const t = outturn.totals;
  const versions = new Set(rows.map((r) => r.version).filter((v) => v !== null));
  box.append(h("p", { id: "outturn-summary" },
    `${rows.length} intervals under ${versions.size} plan versions; ${t.metered_intervals} metered. ` +
    `The meter read ${number(t.deviation_kwh, 1)} kWh ${t.deviation_kwh >= 0 ? "more" : "less"} than planned ` +
    `(mean |deviation| ${number(t.mean_abs_deviation_kw, 1)} kW), which cost ${number(t.deviation_cost, 2)} ${currency} ` +
    `(${number(t.metered_cost, 2)} metered against ${number(t.planned_cost, 2)} planned).`));
  const starts = rows.map((r) => Date.parse(r.start));
  const axis = { starts, stepMs, zone, nowMs: null };
  const pick = (key) => rows.map((r) => r[key]);
  let sum = 0;
  const cumulative = rows.map((r) => (r.deviation_cost === null ? null : (sum += r.deviation_cost)));
  const specs = [
    { title: "Grid, planned against metered", unit: "kW", series: [
      { name: "planned net import", color: COLORS.import, values: pick("planned_kw") },
      { name: "metered net import", color: COLORS.metered, dash: true, values: pick("metered_kw") },
      { name: "planned battery (charge +)", color: COLORS.discharge, width: 1, values: pick("planned_battery_kw") },
      { name: "planned compute (IT)", color: COLORS.price, width: 1, values: pick("planned_compute_kw") },
    ] },
    { title: "Battery energy, planned against reported", unit: "kWh", series: [
      { name: "planned", color: COLORS.soc, values: pick("planned_soc_kwh") },
      { name: "reported", color: COLORS.metered, dash: true, values: pick("reported_soc_kwh") },
    ] },
    { title: "What the deviation cost, summed", unit: currency, series: [
      { name: "metered less planned energy cost", color: COLORS.limit, values: cumulative },
    ] },
  ];
  const kw = (v) => (v === null ? "–" : number(v, 1) + " kW");
  chartGroup(box, {
    id: "outturn", label: "Plan against what ran", specs, axis,
    rows: (i) => {
      const r = rows[i];
      return [
        ["Local time", localTime(starts[i], zone, true)],
        ["Plan", r.version === null ? "none" : "v" + r.version],
        ["Price", r.price_per_mwh === null ? "–" : number(r.price_per_mwh, 2) + " " + currency + "/MWh"],
        ["Planned net import", kw(r.planned_kw)],
        ["Metered net import", kw(r.metered_kw)],
        ["Deviation", kw(r.deviation_kw)],
        ["Deviation cost", r.deviation_cost === null ? "–" : number(r.deviation_cost, 2) + " " + currency],
        ["Planned battery", kw(r.planned_battery_kw)],
        ["Planned compute", kw(r.planned_compute_kw)],
        ["Planned stored", r.planned_soc_kwh === null ? "–" : number(r.planned_soc_kwh, 0) + " kWh"],
        ["Reported stored", r.reported_soc_kwh === null ? "–" : number(r.reported_soc_kwh, 0) + " kWh"],
      ];
    },
  });
  box.dataset.intervals = String(rows.length);
}

function costTable(costs, currency) {
  const names = {
    import: "Energy imported", export_revenue: "Export revenue (−)", degradation: "Battery degradation",
    unserved_penalty: "Unserved EV penalty", demand_charge: "Demand charge", compute_value: "Compute value (−)",
    shortfall_penalty: "Job shortfall penalty", start_costs: "Job starts", soc_target_penalty: "Energy target penalty",
    stability_penalty: "Stability penalty", terminal_value: "Stored energy value at the end (−)",
  };
  return h("div", { class: "table-wrap" }, h("table", { id: "costs", class: "costs" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col", class: "text" }, "Term"), h("th", { scope: "col" }, currency))),
    h("tbody", {}, Object.entries(costs).map(([key, value]) => h("tr", {}, h("th", { scope: "row", class: "text" }, names[key] || key), h("td", {}, number(value, 2)))))));
}

// ---------------------------------------------------------------- routing

// One page at a time: a route asked for while another is drawing waits
// for it, so two pages never draw into one.
let routing = Promise.resolve();
function route() {
  routing = routing.then(drawRoute, drawRoute);
  return routing;
}

async function drawRoute() {
  state.routeStarted = performance.now();
  stopLive();
  if (!sessionStorage.getItem(KEY)) return signOut();
  if (!state.me) {
    try {
      state.me = await api("/v1/whoami");
    } catch (error) {
      return signOut(error.status === 401 ? "The key was refused: sign in again." : "The service cannot be reached.");
    }
  }
  showSignedIn();
  const hash = location.hash || "#/fleet";
  for (const link of document.querySelectorAll("#nav a")) {
    // Controllers read their own sites only: no market or backtest pages.
    link.hidden = link.dataset.needs === "read_all" && state.me.role === "controller";
    link.setAttribute("aria-current", hash.startsWith(link.getAttribute("href")) ? "page" : "false");
  }
  const site = hash.match(/^#\/sites\/([^/]+)(?:\/(jobs|history))?$/);
  if (site) {
    const id = decodeURIComponent(site[1]);
    return site[2] === "jobs" ? jobsPage(id) : site[2] === "history" ? historyPage(id) : sitePage(id);
  }
  const backtest = hash.match(/^#\/backtests\/([^/]+)$/);
  if (backtest) return backtestPage(decodeURIComponent(backtest[1]));
  if (hash === "#/backtests") return backtestsPage();
  if (hash === "#/prices") return pricesPage();
  return fleetPage();
}

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("sign-in-error").textContent = "";
    try {
      await signIn($("key").value.trim());
      $("key").value = "";
      await route();
    } catch (error) {
      $("sign-in-error").textContent = error.status === 401 ? "That key was refused." : "Cannot sign in: " + error.message;
    }
  });
  $("sign-out").addEventListener("click", () => signOut());
  window.addEventListener("hashchange", route);
  let resize;
  window.addEventListener("resize", () => {
    clearTimeout(resize);
    resize = setTimeout(() => { if (/^#\/(sites|prices|backtests\/)/.test(location.hash)) route(); }, 250);
  });
  route();
});
