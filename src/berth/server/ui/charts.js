// Hand-written SVG charts: a multi-series line chart, lines over a numeric x axis, horizontal bars,
// and grouped or stacked columns.
// Over time, marks are placed by their timestamps (not their index) and ticks are labelled in time.
// Each chart is an <svg role="img"> with an accessible label, a <title> per mark, and a legend.

const NS = "http://www.w3.org/2000/svg";
export const PALETTE = ["#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d"];
const FONT = 11;

function el(tag, attrs = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  for (const child of children) if (child) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function tip(text) {
  return el("title", {}, text);
}

function frame(width, height, label) {
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": label, class: "chart" });
  svg.append(tip(label));
  return svg;
}

/** About five round ticks covering [lo, hi]. */
export function ticks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) || raw;
  const found = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) found.push(Number(v.toPrecision(12)));
  return found;
}

function extent(values, { zero = false } = {}) {
  const finite = values.filter((v) => typeof v === "number" && Number.isFinite(v));
  if (!finite.length) return null;
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (zero) lo = Math.min(0, lo), hi = Math.max(0, hi);
  if (lo === hi) hi = lo + (Math.abs(lo) || 1);
  const t = ticks(lo, hi);
  return [Math.min(lo, t[0]), Math.max(hi, t[t.length - 1])];
}

function short(value) {
  if (typeof value !== "number") return String(value);
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${(value / 1e6).toPrecision(3)}M`;
  if (abs >= 1e3) return `${(value / 1e3).toPrecision(3)}k`;
  return Number(value.toPrecision(3)).toString();
}

function legend(names) {
  const list = document.createElement("ul");
  list.className = "legend";
  names.forEach((name, i) => {
    const item = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.backgroundColor = PALETTE[i % PALETTE.length];
    item.append(swatch, document.createTextNode(name));
    list.append(item);
  });
  return list;
}

function figure(svg, names, caption) {
  const fig = document.createElement("figure");
  fig.className = "chart-figure";
  fig.append(svg);
  if (names && names.length) fig.append(legend(names));
  if (caption) {
    const cap = document.createElement("figcaption");
    cap.textContent = caption;
    fig.append(cap);
  }
  return fig;
}

function yAxis(svg, scale, [lo, hi], left, right, format) {
  for (const value of ticks(lo, hi)) {
    const y = scale(value);
    svg.append(el("line", { x1: left, x2: right, y1: y, y2: y, class: "grid" }));
    svg.append(el("text", { x: left - 6, y: y + FONT / 3, "text-anchor": "end", class: "tick" }, format(value)));
  }
}

// -- time ----------------------------------------------------------------------------------------

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const TIME_STEPS = [1, 2, 5, 10, 15, 30].map((n) => n * SECOND)
  .concat([1, 2, 5, 10, 15, 30].map((n) => n * MINUTE), [1, 2, 3, 6, 12].map((n) => n * HOUR), [1, 2, 7, 14, 30].map((n) => n * DAY));
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

/** Milliseconds since the epoch of a Date, an ISO 8601 string or a number (NaN otherwise). */
export function toTime(value) {
  if (value instanceof Date) return value.getTime();
  if (typeof value === "number") return value;
  if (typeof value === "string" && ISO.test(value)) return new Date(value).getTime();
  return NaN;
}

function isTimeAxis(values) {
  return values.length > 0 && values.every((v) => (v instanceof Date || (typeof v === "string" && ISO.test(v))) && Number.isFinite(toTime(v)));
}

/** Round ticks over [lo, hi] (ms): at most about six, on whole seconds, minutes, hours or days
 * (local time); each with its label. */
export function timeTicks(lo, hi, count = 6) {
  if (!(hi > lo)) return [{ at: lo, label: timeLabel(lo, MINUTE, 0) }];
  const step = TIME_STEPS.find((s) => (hi - lo) / s <= count) || Math.ceil((hi - lo) / count / DAY) * DAY;
  const offset = -new Date(lo).getTimezoneOffset() * MINUTE; // align on local hours and days
  const found = [];
  for (let t = Math.ceil((lo + offset) / step) * step - offset; t <= hi; t += step) found.push({ at: t, label: timeLabel(t, step, hi - lo) });
  return found;
}

function timeLabel(t, step, span) {
  const d = new Date(t);
  if (step >= DAY) return d.toLocaleDateString([], { month: "short", day: "numeric" });
  const clock = step < MINUTE ? { hour: "2-digit", minute: "2-digit", second: "2-digit" } : { hour: "2-digit", minute: "2-digit" };
  if (span > DAY) return d.toLocaleString([], { month: "short", day: "numeric", ...clock });
  return d.toLocaleTimeString([], clock);
}

function timeTip(t) {
  return new Date(t).toLocaleString();
}

/** The x scale of a chart: time (positions follow timestamps; the domain is `xDomain` when given,
 * else the data's, padded a minute each side around a single instant) or categories (evenly). */
function xScale(x, xDomain, left, innerW) {
  if (isTimeAxis(x)) {
    const times = x.map(toTime);
    let [lo, hi] = xDomain ? xDomain.map(toTime) : [Math.min(...times), Math.max(...times)];
    if (!(hi > lo)) [lo, hi] = [lo - MINUTE, hi + MINUTE];
    return { time: true, at: (i) => left + ((times[i] - lo) / (hi - lo)) * innerW, of: (t) => left + ((toTime(t) - lo) / (hi - lo)) * innerW, times, lo, hi };
  }
  return { time: false, at: (i) => left + (x.length === 1 ? innerW / 2 : (i * innerW) / (x.length - 1)) };
}

/** A series with fewer points than this is drawn as points only, and the chart says "few points". */
export const FEW_POINTS = 3;

/**
 * Lines over a shared x axis: `x` (ISO timestamps or Dates: a time axis, points placed by their
 * time within `xDomain` [start, end] when given; anything else: evenly spaced labels), `series`
 * [{name, values: [number|null]}]. A null leaves a gap; every point is a <circle class="point">
 * (with `data-t`, its time in ms, on a time axis). A series of one or two points gets no line, and
 * the caption says "few points".
 */
export function lineChart({ label, x, series, format = short, width = 640, height = 240, xFormat, xDomain }) {
  const m = { top: 12, right: 16, bottom: 28, left: 52 };
  const svg = frame(width, height, label);
  const range = extent(series.flatMap((s) => s.values));
  if (!range || !x.length) return figure(svg, [], "no data");
  const innerW = width - m.left - m.right;
  const innerH = height - m.top - m.bottom;
  const scale = xScale(x, xDomain, m.left, innerW);
  const xAt = scale.at;
  const tipX = (i) => (xFormat ? xFormat(x[i]) : scale.time ? timeTip(scale.times[i]) : String(x[i]));
  const yAt = (v) => m.top + innerH - ((v - range[0]) / (range[1] - range[0])) * innerH;
  yAxis(svg, yAt, range, m.left, width - m.right, format);
  svg.append(el("line", { x1: m.left, x2: width - m.right, y1: m.top + innerH, y2: m.top + innerH, class: "axis" }));
  if (scale.time) {
    for (const tick of timeTicks(scale.lo, scale.hi)) {
      svg.append(el("line", { x1: scale.of(tick.at), x2: scale.of(tick.at), y1: m.top + innerH, y2: m.top + innerH + 4, class: "axis" }));
      svg.append(el("text", { x: scale.of(tick.at), y: height - 8, "text-anchor": "middle", class: "tick x-tick" }, tick.label));
    }
  } else {
    const every = Math.max(1, Math.ceil(x.length / 6));
    x.forEach((value, i) => {
      if (i % every === 0 || i === x.length - 1) {
        svg.append(el("text", { x: xAt(i), y: height - 8, "text-anchor": "middle", class: "tick" }, xFormat ? xFormat(value) : String(value)));
      }
    });
  }
  const few = [];
  series.forEach((s, k) => {
    const color = PALETTE[k % PALETTE.length];
    const group = el("g", { class: "series", "data-series": s.name });
    const finite = s.values.filter((v) => typeof v === "number" && Number.isFinite(v)).length;
    if (finite > 0 && finite < FEW_POINTS) few.push(`${s.name}: ${finite}`);
    let path = "";
    let pen = false;
    s.values.forEach((v, i) => {
      if (typeof v !== "number" || !Number.isFinite(v)) {
        pen = false;
        return;
      }
      path += `${pen ? "L" : "M"}${xAt(i).toFixed(1)},${yAt(v).toFixed(1)}`;
      pen = true;
    });
    if (path && finite >= FEW_POINTS) group.append(el("path", { d: path, fill: "none", stroke: color, "stroke-width": 2, class: "line" }));
    s.values.forEach((v, i) => {
      if (typeof v !== "number" || !Number.isFinite(v)) return;
      const r = finite < FEW_POINTS ? 4.5 : 3;
      group.append(el("circle", { cx: xAt(i), cy: yAt(v), r, fill: color, class: "point", "data-t": scale.time ? scale.times[i] : undefined }, tip(`${s.name} ${tipX(i)}: ${format(v)}`)));
    });
    svg.append(group);
  });
  const caption = few.length ? `few points (${few.join(", ")}): shown as points, too few for a trend` : null;
  return figure(svg, series.map((s) => s.name), caption);
}

/**
 * Lines over a numeric x axis (e.g. accuracy against corrections): `series` [{name, points: [{x, y,
 * label?}]}], each series' points joined in the order given; both axes have round ticks, named by
 * `xLabel` and `yLabel`. Every point is a <circle class="point"> (with `data-x`, `data-y`) whose
 * title says its label, x and y; a series of one point is a point. The first series is drawn on top.
 */
export function xyChart({ label, series, xLabel = "", yLabel = "", format = short, xFormat = short, width = 640, height = 260 }) {
  const m = { top: 12, right: 16, bottom: 40, left: 52 };
  const svg = frame(width, height, label);
  const points = series.flatMap((s) => s.points);
  const xRange = extent(points.map((p) => p.x), { zero: true });
  const yRange = extent(points.map((p) => p.y));
  if (!xRange || !yRange) return figure(svg, [], "no data");
  const innerW = width - m.left - m.right;
  const innerH = height - m.top - m.bottom;
  const xAt = (v) => m.left + ((v - xRange[0]) / (xRange[1] - xRange[0])) * innerW;
  const yAt = (v) => m.top + innerH - ((v - yRange[0]) / (yRange[1] - yRange[0])) * innerH;
  yAxis(svg, yAt, yRange, m.left, width - m.right, format);
  svg.append(el("line", { x1: m.left, x2: width - m.right, y1: m.top + innerH, y2: m.top + innerH, class: "axis" }));
  for (const value of ticks(xRange[0], xRange[1])) {
    svg.append(el("line", { x1: xAt(value), x2: xAt(value), y1: m.top + innerH, y2: m.top + innerH + 4, class: "axis" }));
    svg.append(el("text", { x: xAt(value), y: m.top + innerH + 16, "text-anchor": "middle", class: "tick x-tick" }, xFormat(value)));
  }
  if (xLabel) svg.append(el("text", { x: m.left + innerW / 2, y: height - 4, "text-anchor": "middle", class: "label" }, xLabel));
  if (yLabel) svg.append(el("text", { x: 12, y: m.top + innerH / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${m.top + innerH / 2})`, class: "label" }, yLabel));
  // the first series is drawn last, on top of those that share its points
  [...series.entries()].reverse().forEach(([k, s]) => {
    const color = PALETTE[k % PALETTE.length];
    const group = el("g", { class: "series", "data-series": s.name });
    const shown = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
    if (shown.length > 1) {
      const d = shown.map((p, i) => `${i ? "L" : "M"}${xAt(p.x).toFixed(1)},${yAt(p.y).toFixed(1)}`).join("");
      group.append(el("path", { d, fill: "none", stroke: color, "stroke-width": 2, class: "line" }));
    }
    for (const p of shown) {
      const name = p.label ? `${s.name} ${p.label}` : s.name;
      group.append(el("circle", { cx: xAt(p.x), cy: yAt(p.y), r: 4, fill: color, class: "point", "data-x": p.x, "data-y": p.y }, tip(`${name}: ${xLabel || "x"} ${xFormat(p.x)}, ${yLabel || "y"} ${format(p.y)}`)));
    }
    svg.append(group);
  });
  return figure(svg, series.map((s) => s.name));
}

/**
 * Horizontal bars: `items` [{label, value, marker?, highlight?}]; a marker (e.g. a threshold) is a
 * vertical tick across its bar; highlighted bars are drawn in the alert colour. Each bar is a
 * <rect class="bar">.
 */
export function barChart({ label, items, format = short, width = 640, markerName = "threshold" }) {
  const rowH = 24;
  const m = { top: 8, right: 64, bottom: 24, left: Math.min(220, 16 + 7 * Math.max(4, ...items.map((i) => String(i.label).length))) };
  const height = m.top + m.bottom + rowH * Math.max(1, items.length);
  const svg = frame(width, height, label);
  const range = extent(items.flatMap((i) => [i.value, i.marker ?? null]), { zero: true });
  if (!range || !items.length) return figure(svg, [], "no data");
  const innerW = width - m.left - m.right;
  const xAt = (v) => m.left + ((v - range[0]) / (range[1] - range[0])) * innerW;
  for (const value of ticks(range[0], range[1])) {
    svg.append(el("line", { x1: xAt(value), x2: xAt(value), y1: m.top, y2: height - m.bottom, class: "grid" }));
    svg.append(el("text", { x: xAt(value), y: height - 8, "text-anchor": "middle", class: "tick" }, format(value)));
  }
  items.forEach((item, i) => {
    const y = m.top + i * rowH;
    const value = typeof item.value === "number" && Number.isFinite(item.value) ? item.value : 0;
    const x0 = xAt(Math.max(range[0], Math.min(0, value)));
    const x1 = xAt(Math.max(0, value));
    svg.append(el("text", { x: m.left - 6, y: y + rowH / 2 + FONT / 3, "text-anchor": "end", class: "label" }, item.label));
    svg.append(
      el(
        "rect",
        { x: Math.min(x0, x1), y: y + 4, width: Math.max(1, Math.abs(x1 - x0)), height: rowH - 8, fill: item.highlight ? "#dc2626" : PALETTE[0], class: item.highlight ? "bar highlight" : "bar", "data-label": item.label },
        tip(`${item.label}: ${format(item.value)}${item.marker !== undefined && item.marker !== null ? ` (${markerName} ${format(item.marker)})` : ""}`),
      ),
    );
    svg.append(el("text", { x: Math.max(x0, x1) + 4, y: y + rowH / 2 + FONT / 3, class: "value" }, format(item.value)));
    if (typeof item.marker === "number") {
      svg.append(el("line", { x1: xAt(item.marker), x2: xAt(item.marker), y1: y + 1, y2: y + rowH - 1, class: "marker" }, tip(`${markerName} ${format(item.marker)}`)));
    }
  });
  return figure(svg, []);
}

/**
 * Vertical columns per category: `categories` (x labels), `series` [{name, values}], grouped side
 * by side or `stacked`. Each column is a <rect class="bar">.
 */
export function columnChart({ label, categories, series, stacked = false, format = short, width = 640, height = 240, xFormat, xDomain, bucketMs }) {
  const m = { top: 12, right: 16, bottom: 28, left: 52 };
  const svg = frame(width, height, label);
  const totals = categories.map((_, i) => series.reduce((sum, s) => sum + (Number(s.values[i]) || 0), 0));
  const range = extent(stacked ? totals : series.flatMap((s) => s.values), { zero: true });
  if (!range || !categories.length || !series.length) return figure(svg, [], "no data");
  const innerW = width - m.left - m.right;
  const innerH = height - m.top - m.bottom;
  const yAt = (v) => m.top + innerH - ((v - range[0]) / (range[1] - range[0])) * innerH;
  yAxis(svg, yAt, range, m.left, width - m.right, format);
  // on a time axis (timestamps with their `bucketMs`), a column spans its bucket's time
  const timed = isTimeAxis(categories) && bucketMs > 0;
  const scale = timed ? xScale([...categories, new Date(Math.max(...categories.map(toTime)) + bucketMs)], xDomain, m.left, innerW) : null;
  const slot = timed ? scale.of(toTime(categories[0]) + bucketMs) - scale.of(categories[0]) : innerW / categories.length;
  const gap = Math.min(8, slot * 0.2);
  const every = Math.max(1, Math.ceil(categories.length / 8));
  const label_ = (category) => (xFormat ? xFormat(category) : timed ? timeTip(toTime(category)) : String(category));
  if (timed) {
    for (const tick of timeTicks(scale.lo, scale.hi)) {
      svg.append(el("text", { x: scale.of(tick.at), y: height - 8, "text-anchor": "middle", class: "tick x-tick" }, tick.label));
    }
  }
  categories.forEach((category, i) => {
    const x = (timed ? scale.of(category) : m.left + i * slot) + gap / 2;
    const w = slot - gap;
    let base = 0;
    series.forEach((s, k) => {
      const v = s.values[i];
      if (typeof v !== "number" || !Number.isFinite(v)) return;
      const color = PALETTE[k % PALETTE.length];
      const bx = stacked ? x : x + (k * w) / series.length;
      const bw = stacked ? w : w / series.length;
      const top = yAt(stacked ? base + v : v);
      const bottom = yAt(stacked ? base : 0);
      svg.append(el("rect", { x: bx, y: Math.min(top, bottom), width: Math.max(1, bw - 1), height: Math.abs(bottom - top), fill: color, class: "bar", "data-series": s.name, "data-t": timed ? toTime(category) : undefined }, tip(`${s.name} ${label_(category)}: ${format(v)}`)));
      base += v;
    });
    if (!timed && i % every === 0) svg.append(el("text", { x: x + w / 2, y: height - 8, "text-anchor": "middle", class: "tick" }, label_(category)));
  });
  svg.append(el("line", { x1: m.left, x2: width - m.right, y1: yAt(0), y2: yAt(0), class: "axis" }));
  return figure(svg, series.map((s) => s.name));
}
