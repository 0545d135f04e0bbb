// Arbiter's dashboard, the pages beside the fleet and the plan: a site's
// jobs and plan history, the market's prices (with a trader's upload), and
// backtests (an analyst starts them). Built on app.js's helpers and
// charts.js; every value comes from the service's API.
"use strict";

// ---------------------------------------------------------------- shared

// The tabs of a site's pages.
function siteTabs(siteId, current) {
  const base = "#/sites/" + encodeURIComponent(siteId);
  const tabs = [["plan", base, "Plan"], ["jobs", base + "/jobs", "Jobs"], ["history", base + "/history", "History"]];
  return h("nav", { class: "tabs", "aria-label": siteId + " pages" }, tabs.map(([key, href, label]) =>
    h("a", { href, "aria-current": key === current ? "page" : "false" }, label)));
}

// A table from a header row and body rows (cells are text or nodes; a
// header whose name ends in "(text)" is left-aligned).
function dataTable(id, caption, head, rows) {
  return h("div", { class: "table-wrap" }, h("table", { id },
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, head.map((name, k) => h("th", { scope: "col", class: k === 0 ? "text" : "" }, name)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((cell, k) => h("td", { class: k === 0 ? "text" : "" }, cell)))))));
}

function utcDay(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}

function isoSeconds(ms) {
  return new Date(ms).toISOString().slice(0, 19) + "Z";
}

// Values on a grid of `stepMs` from `first` to `last` (inclusive) from a
// map of instant → value; null where there is none.
function onGrid(first, last, stepMs, values) {
  const starts = [];
  for (let t = first; t <= last; t += stepMs) starts.push(t);
  return { starts, values: starts.map((t) => (values.has(t) ? values.get(t) : null)) };
}

function pageShell(title, ...children) {
  const page = $("page");
  page.textContent = "";
  page.append(h("h1", {}, title), ...children);
  return page;
}

// ---------------------------------------------------------------- jobs

async function jobsPage(siteId) {
  const page = pageShell(siteId + " jobs", siteTabs(siteId, "jobs"), h("p", { class: "muted" }, "Loading…"));
  const id = encodeURIComponent(siteId);
  let site, list, latest;
  try {
    [site, list, latest] = await Promise.all([
      api("/v1/sites/" + id),
      api("/v1/sites/" + id + "/jobs"),
      api("/v1/sites/" + id + "/plans/latest").catch((error) => (error.status === 404 ? null : Promise.reject(error))),
    ]);
  } catch (error) {
    page.lastChild.replaceWith(h("p", { class: "error", role: "alert" }, error.status === 403 ? "This key may not read " + siteId + "." : "Cannot read the jobs: " + error.message));
    return;
  }
  const zone = site.config.zone;
  const plan = latest && latest.plan;
  const planned = new Map(plan ? plan.jobs.map((j) => [j.id, j]) : []);
  const filter = h("select", { id: "jobs-status", "aria-label": "Show jobs by status" },
    ["open", "all", "done", "expired", "cancelled"].map((s) => h("option", { value: s }, s === "all" ? "every status" : s)));
  const box = h("div", {});
  const draw = () => {
    const jobs = list.jobs.filter((j) => filter.value === "all" || j.status === filter.value)
      .sort((a, b) => Date.parse(a.spec.deadline) - Date.parse(b.spec.deadline));
    const rows = jobs.map((job) => {
      const spec = job.spec;
      const power = spec.kind === "block" ? number(spec.power_kw) + " kW block" : number(spec.min_kw || 0) + "–" + number(spec.max_kw) + " kW";
      const share = spec.energy_kwh > 0 ? Math.min(1, job.delivered_kwh / spec.energy_kwh) : 1;
      const inPlan = planned.get(job.id);
      return [
        job.id,
        job.status,
        power,
        h("span", {}, number(job.delivered_kwh, 1) + " / " + number(spec.energy_kwh, 1) + " kWh ",
          h("meter", { min: 0, max: 1, value: share.toFixed(3), "aria-label": job.id + " delivered share" })),
        inPlan ? number(inPlan.delivered_kwh, 1) + " kWh" : "–",
        inPlan ? number(inPlan.shortfall_kwh, 1) + " kWh" : "–",
        localTime(Date.parse(spec.deadline), zone, true),
        spec.value_per_mwh ? number(spec.value_per_mwh, 2) + " " + site.config.currency + "/MWh" : "–",
        plan ? sparkline(plan.intervals.map((i) => (i.jobs && i.jobs[job.id]) || 0), spec.kind === "block" ? spec.power_kw : spec.max_kw, job.id) : "–",
      ];
    });
    box.replaceChildren(jobs.length
      ? dataTable("jobs-table", "The site's jobs", ["Job", "Status", "Power", "Delivered / needed", "Planned energy", "Planned shortfall", "Deadline (" + zone + ")", "Value", "Planned power"], rows)
      : h("p", { class: "muted", id: "jobs-table" }, "No " + (filter.value === "all" ? "" : filter.value + " ") + "jobs."));
  };
  filter.addEventListener("change", draw);
  page.lastChild.replaceWith(
    h("p", { class: "muted" }, list.jobs.length + " jobs; the latest plan (" + (latest ? "v" + latest.version : "none") + ") schedules " + planned.size + " of them. " +
      "Delivered energy is what the controller reported; planned energy and power are the latest plan's over its horizon."),
    h("div", { class: "controls" }, h("label", { for: "jobs-status" }, "Status "), filter),
    box,
  );
  draw();
  markReady("jobs");
}

// A job's planned power over the plan's horizon, 0 to `max` kW.
function sparkline(values, max, label) {
  const NS = "http://www.w3.org/2000/svg";
  const width = 160;
  const height = 22;
  const top = max || Math.max(1, ...values);
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("role", "img");
  const running = values.filter((v) => v > 0).length;
  svg.setAttribute("aria-label", label + ": runs in " + running + " of " + values.length + " intervals");
  let d = "";
  values.forEach((v, i) => {
    const x0 = (i / values.length) * width;
    const x1 = ((i + 1) / values.length) * width;
    const y = height - 1 - (Math.min(v, top) / top) * (height - 2);
    d += (i ? "L" : "M") + x0.toFixed(1) + " " + y.toFixed(1) + "L" + x1.toFixed(1) + " " + y.toFixed(1);
  });
  const path = document.createElementNS(NS, "path");
  path.setAttribute("d", d);
  path.setAttribute("fill", "none");
  path.setAttribute("stroke", COLORS.import);
  path.setAttribute("stroke-width", "1.5");
  svg.appendChild(path);
  return svg;
}

// ---------------------------------------------------------------- history

async function historyPage(siteId) {
  const page = pageShell(siteId + " history", siteTabs(siteId, "history"));
  const id = encodeURIComponent(siteId);
  const now = Date.now();
  const from = h("input", { type: "datetime-local", id: "history-from", value: new Date(now - 86400e3).toISOString().slice(0, 16) });
  const to = h("input", { type: "datetime-local", id: "history-to", value: new Date(now + 3600e3).toISOString().slice(0, 16) });
  const form = h("form", { class: "controls", id: "history-range" },
    h("label", { for: "history-from" }, "Published from (UTC)"), from,
    h("label", { for: "history-to" }, "to"), to,
    h("button", { type: "submit" }, "Show"));
  const listBox = h("div", { id: "history-list" });
  const diffBox = h("section", { id: "history-diff", "aria-labelledby": "diff-title" });
  page.append(form, listBox, diffBox);
  let site;
  try {
    site = await api("/v1/sites/" + id);
  } catch (error) {
    listBox.append(h("p", { class: "error", role: "alert" }, error.status === 403 ? "This key may not read " + siteId + "." : "Cannot read " + siteId + ": " + error.message));
    return;
  }
  const zone = site.config.zone;
  const load = async () => {
    const range = "from=" + new Date(from.value + "Z").toISOString() + "&to=" + new Date(to.value + "Z").toISOString();
    let plans;
    try {
      plans = (await api("/v1/sites/" + id + "/plans?" + range)).plans;
    } catch (error) {
      listBox.replaceChildren(h("p", { class: "error", role: "alert" }, "Cannot read the plans: " + error.message));
      return;
    }
    plans.sort((a, b) => b.version - a.version);
    if (plans.length < 1) {
      listBox.replaceChildren(h("p", { class: "muted" }, "No plan was published in this range."));
      diffBox.textContent = "";
      markReady("history");
      return;
    }
    const pick = (name, version) => h("input", { type: "radio", name, value: String(version), "aria-label": (name === "a" ? "Compare from v" : "Compare to v") + version });
    const rows = plans.map((p) => [
      "v" + p.version, localTime(Date.parse(p.start), zone, true), new Date(p.created_at).toISOString().slice(0, 19).replace("T", " "),
      p.status, number(p.solve_seconds * 1000) + " ms", pick("a", p.version), pick("b", p.version),
    ]);
    const table = dataTable("history-table", "Plans published in the range", ["Version", "Starts (" + zone + ")", "Published (UTC)", "Status", "Solve", "From", "To"], rows);
    const compare = h("button", { type: "button", id: "history-compare" }, "Compare");
    listBox.replaceChildren(h("p", { class: "muted" }, plans.length + " plans. Pick two and compare what changed in the schedule and in what it was built on."), table, compare);
    const check = (name, version) => {
      const input = table.querySelector(`input[name=${name}][value="${version}"]`);
      if (input) input.checked = true;
    };
    // The latest against the one before it.
    check("b", plans[0].version);
    check("a", (plans[1] || plans[0]).version);
    const run = () => {
      const a = table.querySelector("input[name=a]:checked");
      const b = table.querySelector("input[name=b]:checked");
      if (a && b) showDiff(diffBox, siteId, site.config, Number(a.value), Number(b.value));
    };
    compare.addEventListener("click", run);
    run();
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  await load();
}

// What changed from plan version `a` to `b`: the schedule over the
// intervals both cover, the objective and costs, and the basis.
async function showDiff(box, siteId, config, a, b) {
  box.replaceChildren(h("h2", { id: "diff-title" }, "v" + a + " against v" + b), h("p", { class: "muted" }, "Loading…"));
  const id = encodeURIComponent(siteId);
  let docA, docB;
  try {
    [docA, docB] = await Promise.all([api("/v1/sites/" + id + "/plans/" + a), api("/v1/sites/" + id + "/plans/" + b)]);
  } catch (error) {
    box.lastChild.replaceWith(h("p", { class: "error", role: "alert" }, "Cannot read the plans: " + error.message));
    return;
  }
  box.lastChild.remove();
  const zone = config.zone;
  const stepMs = config.interval_minutes * 60e3;
  const byStart = (doc) => new Map(doc.plan.intervals.map((i) => [Date.parse(i.start), i]));
  const [ia, ib] = [byStart(docA), byStart(docB)];
  const first = Math.min(...ia.keys(), ...ib.keys());
  const last = Math.max(...ia.keys(), ...ib.keys());
  const starts = onGrid(first, last, stepMs, new Map()).starts;
  const field = (map, name) => starts.map((t) => (map.has(t) ? map.get(t)[name] : null));
  const net = (map) => starts.map((t) => (map.has(t) ? map.get(t).import_kw - map.get(t).export_kw : null));
  // The schedule's changes, over the intervals both plans have.
  const shared = starts.filter((t) => ia.has(t) && ib.has(t));
  const moved = shared.filter((t) => ["import_kw", "export_kw", "charge_kw", "discharge_kw", "compute_it_kw"].some((k) => Math.abs(ia.get(t)[k] - ib.get(t)[k]) > 0.5));
  const energy = (map, k) => shared.reduce((sum, t) => sum + map.get(t)[k], 0) * stepMs / 3600e3;
  box.append(h("p", { id: "diff-summary" },
    `${shared.length} intervals in both; the schedule changed in ${moved.length} of them (by more than 0.5 kW). ` +
    `Over those intervals v${b} imports ${number(energy(ib, "import_kw") - energy(ia, "import_kw"), 1)} kWh more than v${a} ` +
    `and charges the battery ${number(energy(ib, "charge_kw") - energy(ia, "charge_kw"), 1)} kWh more. ` +
    `Objective ${number(docA.plan.objective, 2)} → ${number(docB.plan.objective, 2)} ${config.currency} (over each plan's own horizon).`));
  const axis = { starts, stepMs, zone, nowMs: Date.parse(docB.start) };
  const specs = [
    { title: "Grid net import", unit: "kW", series: [
      { name: "v" + a, color: COLORS.import, values: net(ia) },
      { name: "v" + b, color: COLORS.limit, dash: true, values: net(ib) },
    ] },
    { title: "Battery energy", unit: "kWh", series: [
      { name: "v" + a, color: COLORS.soc, values: field(ia, "soc_kwh") },
      { name: "v" + b, color: COLORS.limit, dash: true, values: field(ib, "soc_kwh") },
    ] },
    { title: "Price", unit: config.currency + "/MWh", series: [
      { name: "v" + a, color: COLORS.price, values: field(ia, "price_per_mwh") },
      { name: "v" + b, color: COLORS.exportPrice, dash: true, values: field(ib, "price_per_mwh") },
    ] },
  ];
  const value = (map, t, k, digits, unit) => (map.has(t) ? number(map.get(t)[k], digits) + " " + unit : "–");
  chartGroup(box, {
    id: "diff", label: "Two plans compared", specs, axis, cursor: starts.indexOf(shared[0] === undefined ? first : shared[0]),
    rows: (i) => {
      const t = starts[i];
      const rows = [["Local time", localTime(t, zone, true)]];
      for (const [k, name, digits, unit] of [["price_per_mwh", "Price", 2, config.currency + "/MWh"], ["import_kw", "Import", 1, "kW"], ["export_kw", "Export", 1, "kW"],
        ["charge_kw", "Charge", 1, "kW"], ["discharge_kw", "Discharge", 1, "kW"], ["soc_kwh", "Stored", 0, "kWh"], ["compute_it_kw", "Compute", 1, "kW"]]) {
        rows.push([name + " v" + a, value(ia, t, k, digits, unit)], [name + " v" + b, value(ib, t, k, digits, unit)]);
      }
      return rows;
    },
  });
  // The basis: what each plan was built on, where it differs.
  const changes = basisChanges(docA.basis, docB.basis);
  box.append(h("h3", {}, "What the plans were built on"));
  box.append(changes.length
    ? dataTable("diff-basis", "What changed in the basis", ["Basis", "v" + a, "v" + b], changes)
    : h("p", { id: "diff-basis" }, "The same basis."));
  const costs = Object.keys(docB.plan.costs).map((k) => [k, number(docA.plan.costs[k], 2), number(docB.plan.costs[k], 2), number(docB.plan.costs[k] - docA.plan.costs[k], 2)]);
  box.append(h("h3", {}, "Costs over each plan's horizon (" + config.currency + ")"), dataTable("diff-costs", "Costs of the two plans", ["Term", "v" + a, "v" + b, "Change"], costs));
  const warnings = (doc) => (doc.warnings.length ? doc.warnings.join("; ") : "none");
  if (warnings(docA) !== warnings(docB)) box.append(h("p", {}, "Warnings: v" + a + ": " + warnings(docA) + "; v" + b + ": " + warnings(docB)));
  markReady("history");
}

// Each basis field (and each day's price revision, each job's energy
// still needed) whose value differs, as [name, in a, in b].
function basisChanges(a, b) {
  const flat = (basis) => {
    const out = new Map();
    for (const [key, value] of Object.entries(basis || {})) {
      if (value && typeof value === "object" && !Array.isArray(value)) {
        for (const [inner, v] of Object.entries(value)) out.set(key + " " + inner, v);
        if (Object.keys(value).length === 0) out.set(key, "none");
      } else out.set(key, value);
    }
    return out;
  };
  const [fa, fb] = [flat(a), flat(b)];
  const names = [...new Set([...fa.keys(), ...fb.keys()])].sort();
  const show = (v) => (v === undefined ? "–" : v === null ? "none" : typeof v === "number" ? number(v, 3).replace(/\.?0+$/, "") : String(v));
  return names.filter((n) => JSON.stringify(fa.get(n)) !== JSON.stringify(fb.get(n)) && n !== "previous_version")
    .map((n) => [n.replace(/_/g, " "), show(fa.get(n)), show(fb.get(n))]);
}

// ---------------------------------------------------------------- prices

async function pricesPage() {
  const page = pageShell("Prices");
  let sites, clock;
  try {
    [sites, clock] = await Promise.all([api("/v1/sites"), api("/v1/clock")]);
  } catch (error) {
    page.append(h("p", { class: "error", role: "alert" }, error.status === 403 ? "This key may not read prices." : "Cannot read the sites: " + error.message));
    return;
  }
  const markets = new Map();
  for (const s of sites.sites) markets.set(s.config.market.id, s.config);
  if (!markets.size) {
    page.append(h("p", { class: "muted" }, "No site names a market yet."));
    markReady("prices");
    return;
  }
  const today = Date.parse(clock.now);
  const market = h("select", { id: "prices-market" }, [...markets.keys()].map((m) => h("option", { value: m }, m)));
  const from = h("input", { type: "date", id: "prices-from", value: utcDay(today - 3 * 86400e3) });
  const to = h("input", { type: "date", id: "prices-to", value: utcDay(today + 86400e3) });
  const form = h("form", { class: "controls", id: "prices-range" },
    h("label", { for: "prices-market" }, "Market"), market,
    h("label", { for: "prices-from" }, "Days from"), from, h("label", { for: "prices-to" }, "to"), to,
    h("button", { type: "submit" }, "Show"));
  const chartBox = h("div", { id: "prices-chart" });
  const daysBox = h("div", { id: "prices-days" });
  const revisionsBox = h("section", { id: "prices-revisions" });
  page.append(form, chartBox, daysBox, revisionsBox);
  if (state.me.may.includes("upload_prices")) page.append(uploadForm(market, markets));
  const load = async () => {
    const m = market.value;
    const config = markets.get(m);
    let days;
    try {
      days = (await api(`/v1/markets/${encodeURIComponent(m)}/prices?from=${from.value}&to=${to.value}`)).days;
    } catch (error) {
      daysBox.replaceChildren(h("p", { class: "error", role: "alert" }, "Cannot read the prices: " + error.message));
      return;
    }
    chartBox.textContent = "";
    revisionsBox.textContent = "";
    if (!days.length) {
      daysBox.replaceChildren(h("p", { class: "muted" }, "No prices of " + m + " are stored for these days."));
      markReady("prices");
      return;
    }
    const values = new Map();
    let stepMs = Infinity;
    for (const day of days) {
      const step = day.interval_minutes * 60e3;
      stepMs = Math.min(stepMs, step);
      day.prices_per_mwh.forEach((p, i) => values.set(Date.parse(day.start) + i * step, p));
    }
    const keys = [...values.keys()];
    const grid = onGrid(Math.min(...keys), Math.max(...keys), stepMs, values);
    const zone = config.market.zone || config.zone;
    chartGroup(chartBox, {
      id: "prices", label: "Day-ahead prices", axis: { starts: grid.starts, stepMs, zone, nowMs: today },
      specs: [{ title: m + " day-ahead", unit: days[0].currency + "/MWh", series: [{ name: "latest revision", color: COLORS.price, values: grid.values }] }],
      rows: (i) => [["Local time", localTime(grid.starts[i], zone, true)], ["UTC", new Date(grid.starts[i]).toISOString().slice(0, 16).replace("T", " ")],
        ["Price", grid.values[i] === null ? "–" : number(grid.values[i], 2) + " " + days[0].currency + "/MWh"]],
    });
    const rows = days.map((day) => {
      const p = day.prices_per_mwh;
      return [
        h("button", { type: "button", class: "link", onclick: () => showRevisions(revisionsBox, m, day.day, zone) }, day.day),
        String(day.revision), number(Math.min(...p), 2), number(p.reduce((x, y) => x + y, 0) / p.length, 2), number(Math.max(...p), 2),
        String(p.length), new Date(day.uploaded_at).toISOString().slice(0, 16).replace("T", " "), day.uploaded_by,
      ];
    });
    daysBox.replaceChildren(dataTable("prices-table", "Each market day's latest revision",
      ["Day", "Revision", "Min", "Mean", "Max", "Intervals", "Uploaded (UTC)", "By"], rows));
    markReady("prices");
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  await load();
}

// Every revision of one market day, drawn over each other.
async function showRevisions(box, market, day, zone) {
  box.replaceChildren(h("h2", {}, market + " " + day + ": revisions"));
  let revisions;
  try {
    revisions = (await api(`/v1/markets/${encodeURIComponent(market)}/prices/${day}`)).revisions;
  } catch (error) {
    box.append(h("p", { class: "error", role: "alert" }, "Cannot read the revisions: " + error.message));
    return;
  }
  const latest = revisions[revisions.length - 1];
  const stepMs = latest.interval_minutes * 60e3;
  const starts = latest.prices_per_mwh.map((_, i) => Date.parse(latest.start) + i * stepMs);
  const colors = [COLORS.import, COLORS.price, COLORS.soc, COLORS.peak, COLORS.limit, COLORS.exportPrice];
  const series = revisions.map((r, k) => ({
    name: "revision " + r.revision + " (" + r.uploaded_by + ")", color: colors[k % colors.length], dash: k < revisions.length - 1,
    values: starts.map((t) => {
      const i = Math.round((t - Date.parse(r.start)) / (r.interval_minutes * 60e3));
      return r.interval_minutes === latest.interval_minutes && i >= 0 && i < r.prices_per_mwh.length ? r.prices_per_mwh[i] : null;
    }),
  }));
  chartGroup(box, {
    id: "revisions", label: "The day's revisions", axis: { starts, stepMs, zone, nowMs: null },
    specs: [{ title: day, unit: latest.currency + "/MWh", series }],
    rows: (i) => [["Local time", localTime(starts[i], zone, true)]].concat(series.map((s) => [s.name, s.values[i] === null ? "–" : number(s.values[i], 2)])),
  });
  box.dataset.revisions = String(revisions.length);
}

// A trader's upload of one market day as CSV (timestamp_utc,price_per_mwh).
function uploadForm(marketSelect, markets) {
  const day = h("input", { type: "date", id: "upload-day", required: true });
  const file = h("input", { type: "file", id: "upload-file", accept: ".csv,text/csv", required: true });
  const result = h("p", { id: "upload-result", role: "status" });
  const form = h("form", { id: "upload", class: "upload" },
    h("h2", {}, "Upload a day's prices"),
    h("p", { class: "muted" }, "A CSV with the header timestamp_utc,price_per_mwh and one row per interval from the market's local midnight. The same prices again change nothing; different ones become the day's next revision."),
    h("div", { class: "controls" }, h("label", { for: "upload-day" }, "Market day"), day, h("label", { for: "upload-file" }, "CSV file"), file,
      h("button", { type: "submit" }, "Upload to the selected market")),
    result);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const m = marketSelect.value;
    const config = markets.get(m);
    result.className = "";
    result.textContent = "Uploading…";
    try {
      const text = await file.files[0].text();
      const query = "zone=" + encodeURIComponent(config.market.zone || config.zone) + "&currency=" + encodeURIComponent(config.currency);
      const stored = await api(`/v1/markets/${encodeURIComponent(m)}/prices/${day.value}?${query}`, {
        method: "PUT", headers: { "Content-Type": "text/csv" }, body: text,
      });
      result.textContent = stored.changed
        ? `Stored ${m} ${day.value} as revision ${stored.revision} (${stored.prices_per_mwh.length} intervals).`
        : `The same prices as revision ${stored.revision}: nothing changed.`;
      announce(result.textContent);
    } catch (error) {
      result.className = "error";
      result.textContent = "Refused: " + error.message;
    }
  });
  return form;
}

// ---------------------------------------------------------------- backtests

async function backtestsPage() {
  const page = pageShell("Backtests");
  let list;
  try {
    list = await api("/v1/backtests");
  } catch (error) {
    page.append(h("p", { class: "error", role: "alert" }, error.status === 403 ? "This key may not read backtests." : "Cannot read the backtests: " + error.message));
    return;
  }
  if (state.me.may.includes("run_backtests")) page.append(await backtestForm());
  const rows = list.map((b) => [
    h("a", { href: "#/backtests/" + encodeURIComponent(b.id) }, b.id),
    b.request.site, b.request.from + " – " + b.request.to, b.status,
    b.progress ? Math.round(b.progress.fraction * 100) + "%" : b.report && b.report.savings_captured !== null && b.report.savings_captured !== undefined ? (b.report.savings_captured * 100).toFixed(1) + "% of perfect" : "–",
    new Date(b.created_at).toISOString().slice(0, 16).replace("T", " "),
  ]);
  page.append(h("h2", {}, "Runs"), rows.length
    ? dataTable("backtests-table", "Every backtest, newest first", ["Backtest", "Site", "Days", "Status", "Progress or result", "Submitted (UTC)"], rows)
    : h("p", { class: "muted", id: "backtests-table" }, "No backtest yet."));
  markReady("backtests");
}

// An analyst's form: a site, a period and the strategies.
async function backtestForm() {
  const sites = await api("/v1/sites");
  const site = h("select", { id: "bt-site" }, sites.sites.map((s) => h("option", { value: s.id }, s.id)));
  const from = h("input", { type: "date", id: "bt-from", required: true });
  const to = h("input", { type: "date", id: "bt-to", required: true });
  const strategies = ["mpc", "naive", "threshold", "tou", "perfect"].map((name) => h("label", {}, h("input", { type: "checkbox", name: "strategy", value: name, checked: true }), " " + name));
  const scale = h("input", { type: "number", id: "bt-scale", min: "0", step: "0.1", value: "1" });
  const seed = h("input", { type: "number", id: "bt-seed", min: "0", step: "1", placeholder: "the site's stored jobs" });
  const result = h("p", { id: "bt-result", class: "error", role: "alert" });
  const form = h("form", { id: "backtest-form", class: "upload" },
    h("h2", {}, "Run a backtest"),
    h("div", { class: "controls" }, h("label", { for: "bt-site" }, "Site"), site, h("label", { for: "bt-from" }, "First day"), from,
      h("label", { for: "bt-to" }, "Day after the last"), to),
    h("fieldset", { class: "controls" }, h("legend", {}, "Strategies"), strategies),
    h("div", { class: "controls" }, h("label", { for: "bt-scale" }, "Charging scale"), scale, h("label", { for: "bt-seed" }, "Synthetic job seed"), seed,
      h("button", { type: "submit" }, "Run")),
    result);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    result.textContent = "";
    const body = {
      site: site.value, from: from.value, to: to.value,
      strategies: [...form.querySelectorAll("input[name=strategy]:checked")].map((i) => i.value),
      charging_scale: Number(scale.value),
    };
    if (seed.value !== "") body.synthetic_jobs_seed = Number(seed.value);
    try {
      const started = await api("/v1/backtests", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      location.hash = "#/backtests/" + encodeURIComponent(started.id);
    } catch (error) {
      result.textContent = "Refused: " + error.message;
    }
  });
  return form;
}

async function backtestPage(id) {
  const page = pageShell("Backtest " + id, h("p", { class: "muted", id: "bt-status" }, "Loading…"));
  const status = $("bt-status");
  const bar = h("progress", { id: "bt-progress", max: "1", value: "0", "aria-label": "Progress" });
  let shown = false;
  const poll = async () => {
    let run;
    try {
      run = await api("/v1/backtests/" + encodeURIComponent(id));
    } catch (error) {
      status.className = "error";
      status.textContent = error.status === 404 ? "No backtest " + id + "." : "Cannot read the backtest: " + error.message;
      return;
    }
    const r = run.request;
    if (run.status === "queued" || run.status === "running") {
      const p = run.progress;
      status.textContent = `${r.site}, ${r.from} – ${r.to}: ${run.status}` + (p ? `, ${p.strategy} at ${Math.round(p.fraction * 100)}% (${p.intervals_done} of ${p.intervals_total} intervals, ${Math.round(p.elapsed_seconds || 0)} s so far` + (p.eta_seconds !== null && p.eta_seconds !== undefined ? `, about ${Math.round(p.eta_seconds)} s to go)` : ")") : "");
      bar.value = p ? p.fraction : 0;
      if (!bar.isConnected) status.after(bar);
      $("page").dataset.ready = "backtest-" + run.status;
      // Until the reader leaves the page (stopLive clears it).
      state.fleetTimer = setTimeout(poll, 1000);
      return;
    }
    bar.remove();
    status.textContent = `${r.site}, ${r.from} – ${r.to}: ${run.status}` + (run.error ? " — " + run.error : "");
    if (run.report && !shown) {
      shown = true;
      await backtestResults(page, run);
    }
    markReady("backtest-" + run.status);
  };
  await poll();
}

// The KPI table, then a week of the ledger and the cumulative savings.
async function backtestResults(page, run) {
  const report = run.report;
  const names = Object.keys(report.strategies);
  const k = (name) => report.strategies[name];
  const money = (v) => number(v, 2);
  const lines = [
    ["Net cost (" + report.currency + ")", (s) => money(s.net_cost)],
    ["Energy", (s) => money(s.energy_cost)],
    ["Demand charges", (s) => money(Object.values(s.demand_charges).reduce((a, b) => a + b, 0))],
    ["Degradation", (s) => money(s.degradation_cost)],
    ["Compute value (−)", (s) => money(s.compute_value)],
    ["Deadline penalties", (s) => money(s.deadline_penalties)],
    ["Compute energy (kWh)", (s) => number(s.compute_kwh, 0)],
    ["GPU-hours (at 0.7 kW)", (s) => number(s.gpu_hours, 0)],
    ["Compute throttled for charging (kWh)", (s) => number(s.compute_throttled_kwh, 1)],
    ["Jobs on time", (s) => s.jobs_on_time + " of " + s.jobs_due],
    ["Unserved charging (kWh)", (s) => number(s.unserved_kwh, 1)],
    ["Import (kWh)", (s) => number(s.import_kwh, 0)],
    ["Export (kWh)", (s) => number(s.export_kwh, 0)],
    ["Battery cycles", (s) => number(s.battery_cycles, 1)],
  ];
  page.append(h("h2", {}, "Results"));
  if (report.savings_captured !== null && report.savings_captured !== undefined) {
    page.append(h("p", { id: "bt-captured" }, "mpc captures " + (report.savings_captured * 100).toFixed(1) + "% of perfect foresight's savings over naive." +
      (report.missed_by_mpc_only && report.missed_by_mpc_only.length ? " Deadlines mpc missed that perfect met: " + report.missed_by_mpc_only.join(", ") + "." : "")));
  }
  const against = report.mpc_against_best_rule;
  if (against) {
    page.append(h("p", { id: "bt-against" }, "mpc " + (against.saving >= 0 ? "saves " : "loses ") + number(Math.abs(against.saving), 2) + " " + report.currency +
      " (" + (100 * Math.abs(against.share)).toFixed(1) + "%) against the best rule that ran, " + against.rule + "."));
  }
  page.append(dataTable("bt-kpis", "Each strategy's KPIs", ["KPI"].concat(names), lines.map(([label, f]) => [label].concat(names.map((n) => f(k(n)))))));
  let csv;
  try {
    csv = await api("/v1/backtests/" + encodeURIComponent(run.id) + "/ledger");
  } catch (error) {
    page.append(h("p", { class: "error", role: "alert" }, "Cannot read the ledger: " + error.message));
    return;
  }
  const site = await api("/v1/sites/" + encodeURIComponent(run.request.site)).catch(() => null);
  const ledger = parseLedger(csv);
  const zone = site ? site.config.zone : "UTC";
  const stepMs = ledger.stepMs;
  const starts = ledger.starts;
  const week = Math.min(starts.length, Math.round((7 * 86400e3) / stepMs));
  const colors = { mpc: COLORS.import, naive: COLORS.limit, threshold: COLORS.peak, tou: COLORS.price, perfect: COLORS.soc };
  const per = (column, count) => names.map((n) => ({ name: n, color: colors[n] || COLORS.bound, dash: n !== "mpc", width: n === "mpc" ? 2 : 1.25, values: ledger.column(n, column).slice(0, count) }));
  const firstDay = localTime(starts[0], zone, true);
  page.append(h("h2", {}, "The first week (from " + firstDay + ")"));
  chartGroup(page, {
    id: "bt-week", label: "The first week of the backtest", axis: { starts: starts.slice(0, week), stepMs, zone, nowMs: null },
    specs: [
      { title: "Price", unit: report.currency + "/MWh", series: [{ name: "day-ahead", color: COLORS.price, values: ledger.column(names[0], "price_per_mwh").slice(0, week) }] },
      { title: "Battery energy", unit: "kWh", series: per("soc_kwh", week) },
      { title: "Grid import", unit: "kW", series: per("import_kw", week) },
    ],
    rows: (i) => [["Local time", localTime(starts[i], zone, true)], ["Price", number(ledger.column(names[0], "price_per_mwh")[i], 2) + " " + report.currency + "/MWh"]]
      .concat(names.map((n) => [n + " stored", number(ledger.column(n, "soc_kwh")[i], 0) + " kWh"]))
      .concat(names.map((n) => [n + " import", number(ledger.column(n, "import_kw")[i], 1) + " kW"])),
  });
  // Savings over naive as they accrue: energy cost and the billing
  // month's demand charge so far (its peak so far times the rate).
  if (names.includes("naive") && site) {
    const rate = (site.config.tariff && site.config.tariff.demand_charge_per_kw_month) || 0;
    const monthOf = new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit" });
    const months = starts.map((t) => monthOf.format(new Date(t)));
    const spent = (n) => {
      const cost = ledger.column(n, "cost");
      const imports = ledger.column(n, "import_kw");
      let energy = 0;
      let closed = 0;
      let peak = 0;
      return cost.map((c, i) => {
        if (i > 0 && months[i] !== months[i - 1]) {
          closed += peak * rate;
          peak = 0;
        }
        energy += c;
        peak = Math.max(peak, imports[i]);
        return energy + closed + peak * rate;
      });
    };
    const naive = spent("naive");
    const savings = names.filter((n) => n !== "naive").map((n) => {
      const own = spent(n);
      return { name: n, color: colors[n] || COLORS.bound, dash: n !== "mpc", values: own.map((v, i) => naive[i] - v) };
    });
    // At most about 2,000 points (a year of quarter hours is 35,040): the
    // running sums at every k-th interval.
    const k = Math.max(1, Math.ceil(starts.length / 2000));
    const every = (values) => values.filter((_, i) => i % k === 0);
    const shown = savings.map((s) => Object.assign({}, s, { values: every(s.values) }));
    const at = every(starts);
    page.append(h("h2", {}, "Savings over naive, as they accrue"));
    chartGroup(page, {
      id: "bt-savings", label: "Cumulative savings over naive", axis: { starts: at, stepMs: stepMs * k, zone, nowMs: null },
      specs: [{ title: "Savings over naive (energy and the month's demand charge so far)", unit: report.currency, series: shown }],
      rows: (i) => [["Local time", localTime(at[i], zone, true)]].concat(shown.map((s) => [s.name, number(s.values[i], 2) + " " + report.currency])),
    });
  }
}

// The ledger CSV: per strategy, each column as numbers on the interval grid.
function parseLedger(csv) {
  const lines = csv.trim().split("\n");
  const head = lines[0].split(",");
  const at = (name) => head.indexOf(name);
  const [ti, si] = [at("timestamp_utc"), at("strategy")];
  const rows = new Map();
  const times = new Set();
  for (let k = 1; k < lines.length; k++) {
    const cells = lines[k].split(",");
    const strategy = cells[si];
    if (!rows.has(strategy)) rows.set(strategy, []);
    rows.get(strategy).push(cells);
    times.add(Date.parse(cells[ti]));
  }
  const starts = [...times].sort((a, b) => a - b);
  const stepMs = starts.length > 1 ? starts[1] - starts[0] : 900e3;
  const cache = new Map();
  return {
    starts, stepMs,
    column(strategy, name) {
      const key = strategy + "/" + name;
      if (!cache.has(key)) {
        const i = at(name);
        cache.set(key, (rows.get(strategy) || []).map((cells) => Number(cells[i])));
      }
      return cache.get(key);
    },
  };
}
