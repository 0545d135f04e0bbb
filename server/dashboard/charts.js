// Arbiter's charts: SVG time-series on a shared interval axis, drawn from
// plain arrays. No dependency; every chart has a title, units on its
// y axis and a legend that names each series (colour is never the only
// cue: dashed lines and labels tell series apart too).
"use strict";

const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const MARGIN = { left: 58, right: 14, top: 10, bottom: 24 };

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [key, value] of Object.entries(attrs || {})) {
      node.setAttribute(key, value);
    }
    if (parent) parent.appendChild(node);
    return node;
  }

  // Round tick values covering [lo, hi].
  function ticks(lo, hi, count) {
    const span = hi - lo || 1;
    const raw = span / count;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
      out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    }
    return out;
  }

  function format(value) {
    const abs = Math.abs(value);
    if (abs >= 10000) return (value / 1000).toFixed(abs >= 100000 ? 0 : 1) + "k";
    if (abs >= 100 || value === Math.round(value)) return value.toFixed(0);
    return value.toFixed(abs >= 10 ? 1 : 2);
  }

  // The stacked lower and upper values of each series.
  function stackSeries(series, n) {
    const base = {};
    return series.map((s) => {
      if (!s.stack) return { lower: null, upper: s.values };
      const below = base[s.stack] || new Array(n).fill(0);
      const upper = below.map((b, i) => b + (s.values[i] || 0));
      base[s.stack] = upper;
      return { lower: below, upper };
    });
  }

  // A step path through values (constant over each interval).
  function stepPath(values, x, y) {
    let d = "";
    let open = false;
    values.forEach((v, i) => {
      if (v === null || v === undefined || Number.isNaN(v)) {
        open = false;
        return;
      }
      d += (open ? "V" : "M" + x(i) + " ") + y(v) + "H" + x(i + 1);
      open = true;
    });
    return d;
  }

  // The area between lower and upper step lines, one closed shape per run
  // of intervals where both have a value.
  function bandPath(lower, upper, x, y) {
    const known = (i) => i < upper.length && upper[i] !== null && lower[i] !== null && upper[i] !== undefined && lower[i] !== undefined;
    let d = "";
    for (let i = 0; i < upper.length; i++) {
      if (!known(i)) continue;
      let end = i;
      while (known(end + 1)) end++;
      let top = "";
      let bottom = "";
      for (let k = i; k <= end; k++) top += (k === i ? "M" : "L") + x(k) + " " + y(upper[k]) + "L" + x(k + 1) + " " + y(upper[k]);
      for (let k = end; k >= i; k--) bottom += "L" + x(k + 1) + " " + y(lower[k]) + "L" + x(k) + " " + y(lower[k]);
      d += top + bottom + "Z";
      i = end;
    }
    return d;
  }

  // Draws a chart into `container` over `axis` ({starts, stepMs, zone,
  // nowMs, width}); returns a handle whose setCursor(i) marks interval i.
  function draw(container, spec, axis, onHover) {
    container.textContent = "";
    container.className = "chart";
    const n = axis.starts.length;
    const heading = document.createElement("h3");
    heading.textContent = spec.title + " (" + spec.unit + ")";
    container.appendChild(heading);
    // The group's width, measured once (reading each chart's would lay the
    // page out again for every chart).
    const width = Math.max(320, axis.width || container.clientWidth || 800);
    const height = spec.height || 150;
    const inner = { w: width - MARGIN.left - MARGIN.right, h: height - MARGIN.top - MARGIN.bottom };
    const stacked = stackSeries(spec.series, n);
    let lo = spec.min !== undefined ? spec.min : Infinity;
    let hi = spec.max !== undefined ? spec.max : -Infinity;
    const seen = (v) => {
      if (v === null || v === undefined || Number.isNaN(v)) return;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    };
    stacked.forEach((s) => {
      s.upper.forEach(seen);
      if (s.lower) s.lower.forEach(seen);
    });
    spec.series.forEach((s) => (s.band ? s.band.forEach((b) => b && b.forEach(seen)) : null));
    (spec.refs || []).forEach((r) => seen(r.value));
    if (!Number.isFinite(lo)) { lo = 0; hi = 1; }
    if (lo > 0) lo = 0;
    if (hi <= lo) hi = lo + 1;
    const pad = (hi - lo) * 0.05;
    hi += pad;
    if (lo < 0) lo -= pad;
    const x = (i) => (MARGIN.left + (i / n) * inner.w).toFixed(1);
    const y = (v) => (MARGIN.top + (1 - (v - lo) / (hi - lo)) * inner.h).toFixed(1);
    const svg = el("svg", {
      width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": spec.title + ", " + spec.unit + ", " + n + " intervals",
    }, container);
    svg.dataset.intervals = String(n);
    for (const t of ticks(lo, hi, 4)) {
      el("line", { class: "grid", x1: MARGIN.left, x2: width - MARGIN.right, y1: y(t), y2: y(t) }, svg);
      el("text", { x: MARGIN.left - 6, y: Number(y(t)) + 4, "text-anchor": "end" }, svg).textContent = format(t);
    }
    el("text", {
      x: 12, y: MARGIN.top + inner.h / 2, "text-anchor": "middle",
      transform: `rotate(-90 12 ${MARGIN.top + inner.h / 2})`,
    }, svg).textContent = spec.unit;
    // Time ticks at local hours divisible by 6, 12 or 24, or at every
    // 2nd, 7th, 14th… local midnight: the finest that keeps 48 px between
    // ticks; the day at midnight.
    const spanHours = (n * axis.stepMs) / 3600e3;
    const every = [6, 12, 24, 48, 168, 336, 672, 1344, 2688].find((hours) => (inner.w * hours) / spanHours >= 48) || 8760;
    const hourOf = new Intl.DateTimeFormat("en-GB", { timeZone: axis.zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    const dayOf = new Intl.DateTimeFormat("en-GB", { timeZone: axis.zone, weekday: "short", day: "numeric" });
    const dateOf = new Intl.DateTimeFormat("en-GB", { timeZone: axis.zone, day: "numeric", month: "short" });
    const tick = (i, text) => {
      el("line", { class: "grid", x1: x(i), x2: x(i), y1: MARGIN.top, y2: MARGIN.top + inner.h }, svg);
      el("text", { x: x(i), y: height - 8, "text-anchor": "middle" }, svg).textContent = text;
    };
    if (every <= 24) {
      axis.starts.forEach((start, i) => {
        const hm = hourOf.format(new Date(start));
        const [h, m] = hm.split(":").map(Number);
        if (m !== 0 || h % every !== 0) return;
        tick(i, h === 0 ? dayOf.format(new Date(start)) : hm);
      });
    } else {
      // Local midnights found by jumping most of a day at a time (a long
      // axis has tens of thousands of intervals).
      const perHour = Math.max(1, Math.round(3600e3 / axis.stepMs));
      let days = 0;
      for (let i = 0; i < n; ) {
        if (hourOf.format(new Date(axis.starts[i])) === "00:00") {
          if (days % (every / 24) === 0) tick(i, dateOf.format(new Date(axis.starts[i])));
          days += 1;
          i += Math.max(1, 22 * perHour);
        } else i += 1;
      }
    }
    spec.series.forEach((s, k) => {
      if (!s.band) return;
      const [lower, upper] = s.band;
      el("path", { d: bandPath(lower, upper, x, y), fill: s.color, "fill-opacity": 0.18, stroke: "none" }, svg);
    });
    spec.series.forEach((s, k) => {
      const { lower, upper } = stacked[k];
      if (lower) {
        el("path", { d: bandPath(lower, upper, x, y), fill: s.color, "fill-opacity": 0.75, stroke: s.color, "stroke-width": 0.5 }, svg)
          .dataset.series = s.name;
      } else {
        el("path", {
          d: stepPath(upper, x, y), fill: "none", stroke: s.color, "stroke-width": s.width || 2,
          "stroke-dasharray": s.dash ? "6 4" : "none",
        }, svg).dataset.series = s.name;
      }
    });
    (spec.refs || []).forEach((r) => {
      el("line", {
        x1: MARGIN.left, x2: width - MARGIN.right, y1: y(r.value), y2: y(r.value),
        stroke: r.color, "stroke-width": 1.5, "stroke-dasharray": "3 3",
      }, svg);
      el("text", { x: width - MARGIN.right, y: Number(y(r.value)) - 3, "text-anchor": "end" }, svg).textContent =
        r.name + " " + format(r.value);
    });
    (spec.marks || []).forEach((mark) => {
      const i = (mark.at - axis.starts[0]) / axis.stepMs;
      if (i < 0 || i > n) return;
      const at = x(i);
      el("line", { x1: at, x2: at, y1: MARGIN.top, y2: MARGIN.top + inner.h, stroke: mark.color, "stroke-width": 1.5, "stroke-dasharray": "1 3" }, svg);
      el("text", { x: Number(at) - 3, y: MARGIN.top + 10, "text-anchor": "end" }, svg).textContent = mark.label;
    });
    if (axis.nowMs) {
      const i = (axis.nowMs - axis.starts[0]) / axis.stepMs;
      if (i >= 0 && i <= n) {
        el("line", { class: "now", x1: x(i), x2: x(i), y1: MARGIN.top, y2: MARGIN.top + inner.h }, svg);
      }
    }
    const cursor = el("line", { class: "cursor", x1: 0, x2: 0, y1: MARGIN.top, y2: MARGIN.top + inner.h, visibility: "hidden" }, svg);
    const overlay = el("rect", { x: MARGIN.left, y: MARGIN.top, width: inner.w, height: inner.h, fill: "transparent" }, svg);
    overlay.addEventListener("pointermove", (event) => {
      const box = svg.getBoundingClientRect();
      const px = ((event.clientX - box.left) / box.width) * width;
      const i = Math.floor(((px - MARGIN.left) / inner.w) * n);
      if (i >= 0 && i < n) onHover(i);
    });
    const legend = document.createElement("div");
    legend.className = "legend";
    const entries = spec.series.map((s) => ({ name: s.name, color: s.color, dash: s.dash }))
      .concat((spec.refs || []).map((r) => ({ name: r.name, color: r.color, dash: true })));
    for (const entry of entries) {
      const item = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = entry.color;
      swatch.style.color = entry.color;
      if (entry.dash) swatch.className = "dash";
      item.append(swatch, entry.name);
      legend.appendChild(item);
    }
    container.appendChild(legend);
    return {
      setCursor(i) {
        const at = (Number(x(i)) + Number(x(i + 1))) / 2;
        cursor.setAttribute("x1", at);
        cursor.setAttribute("x2", at);
        cursor.setAttribute("visibility", "visible");
      },
    };
  }

  return { draw, format };
})();
