// Monitoring: accuracy, drift, latency, traffic, staleness and served features' quality of one
// endpoint over a time window.

import { api, quote } from "./api.js";
import { barChart, columnChart, lineChart } from "./charts.js";
import { append, badge, duration, facts, fill, h, link, note, number, percent, section, table, when } from "./dom.js";

const WINDOWS = [[3600, "last hour", 300], [86400, "last day", 3600], [7 * 86400, "last week", 6 * 3600], [30 * 86400, "last 30 days", 86400]];
// the drift verdicts of the API (dataset, prediction and per feature)
const VERDICTS = {
  ok: ["no drift", "good"],
  drifted: ["drift", "bad"],
  insufficient_data: ["not enough data yet", "warn"],
  no_data: ["no traffic in this window", ""],
  no_profile: ["no reference profile pushed with this version", "warn"],
};

/** The Monitoring entry in the navigation: the endpoints the caller may read, each a link. */
export async function monitorIndexPage(view) {
  append(view, h("h1", {}, "Monitoring"));
  const endpoints = await api("/api/v1/endpoints");
  if (!endpoints.length) {
    append(view, note("No endpoints to monitor yet: create one with `berth endpoint create`."));
    return;
  }
  append(view, table(`${endpoints.length} endpoint${endpoints.length === 1 ? "" : "s"}: pick one to see its accuracy, drift, latency and traffic`,
    ["Endpoint", "Team", "Targets"],
    endpoints.map((e) => [link(`#/monitor/${quote(e.name)}`, e.name), e.team, e.targets.map((t) => t.target).join(", ")]),
    { id: "monitor-endpoints" }));
}

export async function monitorPage(view, name) {
  const windowSelect = h("select", { id: "monitor-window" }, WINDOWS.map(([s, text], i) => h("option", { value: i, selected: i === 1 }, text)));
  const body = h("div", { id: "monitor" });
  let latest = 0; // the newest load: an older answer arriving later is dropped
  const load = () => {
    const [span, , bucket] = WINDOWS[Number(windowSelect.value)];
    const end = new Date();
    const start = new Date(end.getTime() - span * 1000);
    const mine = ++latest;
    return render(body, name, { start: start.toISOString(), end: end.toISOString(), bucket_s: bucket }, () => mine === latest);
  };
  windowSelect.addEventListener("change", load);
  append(view, 
    h("p", {}, link(`#/endpoints/${quote(name)}`, `← ${name}`)),
    h("h1", {}, `Monitoring: ${name}`),
    h("form", { class: "filters", onsubmit: (e) => (e.preventDefault(), load()) },
      h("label", { for: "monitor-window" }, "Window", windowSelect), h("button", { type: "submit" }, "Refresh")),
    body,
  );
  await load();
}

async function render(body, name, params, current) {
  let data;
  try {
    data = await api(`/api/v1/monitor/${quote(name)}`, { params });
  } catch (error) {
    if (!current()) return;
    fill(body, note(error.describe ? error.describe() : String(error), "error"));
    return;
  }
  if (!current()) return;
  const edges = data.buckets || [];
  const bucketS = (data.window && data.window.bucket_s) || 0;
  // a time axis over the whole window: each value at the middle of its bucket, columns span theirs
  const time = {
    mids: edges.map((e) => new Date(new Date(e).getTime() + (bucketS * 1000) / 2).toISOString()),
    edges,
    domain: edges.length ? [edges[0], new Date(new Date(edges[edges.length - 1]).getTime() + bucketS * 1000).toISOString()] : null,
    bucketMs: bucketS * 1000,
  };
  const buckets = edges;
  fill(body, 
    h("p", { class: "muted" }, "Window ", when(data.window && data.window.start), " – ", when(data.window && data.window.end), `, buckets of ${duration(data.window && data.window.bucket_s)}.`),
    alerts(data.alerts || []),
    h("div", { class: "grid2" },
      section("Accuracy", accuracy(data.accuracy, buckets, time)),
      wide(section("Drift", drift(data.drift))),
      section("Latency", latency(data.latency, buckets, time)),
      section("Traffic per variant", traffic(data.traffic, buckets, time)),
      section("Failed requests", failures(data.errors, buckets, time)),
    ),
    section("Staleness", staleness(data.staleness)),
    servedFeatures(data.features || []),
  );
}

function hasValues(series) {
  return Object.values(series || {}).some((values) => (values || []).some((v) => typeof v === "number" && Number.isFinite(v)));
}

function chartOr(id, chart, empty) {
  if (!chart) return note(empty);
  chart.id = id;
  return chart;
}

function accuracy(acc, buckets, time) {
  if (!acc) return note("No accuracy figures.");
  const metric = acc.metric || "accuracy";
  const series = Object.entries(acc.series || {}).map(([variant, values]) => ({ name: variant, values }));
  const overall = Object.entries(acc.overall || {});
  return [
    chartOr("accuracy-chart",
      buckets.length && hasValues(acc.series) ? lineChart({ label: `${metric} over time per variant`, x: time.mids, xDomain: time.domain, series }) : null,
      `No ${metric} in this window: it needs feedback (ground truth) for the predictions.`),
    overall.length
      ? table(`${metric} over the window`, ["Variant", "Predictions with feedback", metric], overall.map(([variant, o]) => [variant, number(o.n), number(o.value, 4)]), { id: "accuracy-table" })
      : null,
  ];
}

function drift(d) {
  if (!d) return note("No drift figures.");
  const [text, kind] = VERDICTS[d.status] || [d.status, ""];
  const features = d.features || [];
  // A distance (large samples) is drifted above its threshold; a test (KS, chi-square: small
  // samples) when its p-value is below alpha, plotted as -log10 p against -log10 alpha so that,
  // in both charts, a longer bar is more drift and a bar past its tick is drifted.
  const scored = features.filter((f) => typeof f.statistic === "number" && typeof f.threshold === "number");
  const distances = scored.filter((f) => f.p_value === null || f.p_value === undefined);
  const tests = scored.filter((f) => typeof f.p_value === "number");
  const log = (p) => -Math.log10(Math.max(p, 1e-300));
  return [
    h("p", {}, "Verdict: ", badge(text, kind), d.drifted_share !== null && d.drifted_share !== undefined ? ` · ${percent(d.drifted_share)} of the features drifted` : ""),
    d.version && features.length ? h("p", { class: "muted" }, `Inputs of ${d.version} (the version that answered most)`, d.records ? `, ${number(d.records)} records,` : "", " against its reference profile.") : null,
    d.prediction && d.prediction.status !== "no_data" ? h("p", {}, "Predictions: ", verdict(d.prediction.status)) : null,
    features.length
      ? [
          distances.length ? chartOr("drift-chart", barChart({
            label: "Drift distance per feature (tick: threshold)",
            items: distances.map((f) => ({ label: f.feature, value: f.statistic, marker: f.threshold, highlight: f.drifted === true })),
          })) : null,
          tests.length ? chartOr("drift-test-chart", barChart({
            label: "Drift test per feature: −log10 p-value (tick: −log10 alpha)",
            markerName: "−log10 alpha",
            items: tests.map((f) => ({ label: f.feature, value: log(f.p_value), marker: log(f.threshold), highlight: f.drifted === true })),
          })) : null,
          scrolling(table(null, ["Feature", "Kind", "Test", "Statistic", "p-value", "Threshold", "Verdict", "Reference n", "Current n"],
            features.map((f) => [f.feature, f.kind, f.test, number(f.statistic, 4), number(f.p_value, 4),
              typeof f.p_value === "number" ? `p < ${number(f.threshold, 4)}` : number(f.threshold, 4),
              verdict(f.status || (f.drifted ? "drifted" : "ok")), number(f.n_reference), number(f.n_current)]), { id: "drift-table" })),
        ]
      : note("No per-feature drift in this window."),
  ];
}

/** A section across the whole grid row (the drift table has nine columns). */
function wide(el) {
  el.classList.add("wide");
  return el;
}

/** A wide table scrolls sideways inside its own box instead of widening the page. */
function scrolling(tableEl, label = "Drift per feature (scrolls sideways)") {
  return h("div", { class: "table-scroll", tabindex: 0, role: "region", "aria-label": label }, tableEl);
}

function verdict(status) {
  const [text, kind] = VERDICTS[status] || [status, ""];
  return badge(text, kind);
}

function latency(lat, buckets, time) {
  const series = ["p50", "p95", "p99"].map((p) => ({ name: p, values: ((lat && lat.series && lat.series[p]) || []).map((v) => (v === null ? null : v * 1000)) }));
  return chartOr("latency-chart",
    buckets.length && hasValues(lat && lat.series) ? lineChart({ label: "Latency percentiles over time, ms", x: time.mids, xDomain: time.domain, series }) : null,
    "No latency figures in this window.");
}

function traffic(t, buckets, time) {
  const series = Object.entries((t && t.series) || {}).map(([variant, values]) => ({ name: variant, values }));
  const total = series.reduce((sum, s) => sum + s.values.reduce((a, v) => a + (Number(v) || 0), 0), 0);
  return chartOr("traffic-chart",
    buckets.length && total > 0 ? columnChart({ label: "Records per variant over time", categories: time.edges, xDomain: time.domain, bucketMs: time.bucketMs, series, stacked: true }) : null,
    "No traffic in this window.");
}

function failures(e, buckets, time) {
  const series = Object.entries((e && e.series) || {}).map(([code, values]) => ({ name: code, values }));
  const total = series.reduce((sum, s) => sum + s.values.reduce((a, v) => a + (Number(v) || 0), 0), 0);
  return chartOr("errors-chart",
    buckets.length && total > 0 ? columnChart({ label: "Failed requests per error code over time", categories: time.edges, xDomain: time.domain, bucketMs: time.bucketMs, series, stacked: true }) : null,
    "No failed requests in this window.");
}

function staleness(s) {
  if (!s) return note("No staleness figures.");
  return facts([
    ["Serving version's age", s.version_age_s === null ? "unknown" : duration(s.version_age_s)],
    ["Age of its training data", s.data_age_s === null ? "unknown" : duration(s.data_age_s)],
  ]);
}

// what the freshness of a view's served entities says (the API's status)
const FRESHNESS = {
  ok: null,
  no_data: "no entity keys in this window's records",
  unavailable: "its store did not answer",
};

/** Per view a `features` step reads: freshness of the entities served, the outcomes of the look-ups
 * at serving time (from the records), null rate and drift per feature. */
function servedFeatures(views) {
  if (!views.length) return null;
  return wide(section("Served features", h("div", { id: "served-features" }, views.map((v) => {
    const f = v.freshness || {};
    const age = f.age_s || {};
    const why = FRESHNESS[f.status];
    const l = v.lookups || {};
    const read = l.age_at_read_s || {};
    const pairs = [
      ...(why ? [] : [
        ["Entities served (read back now)", number(f.entities)],
        ["Not in the store", percent(f.missing_share)],
        ["Older than the TTL", percent(f.stale_share)],
        ["Age of their values (p50 / p95 / max)", `${duration(age.p50)} / ${duration(age.p95)} / ${duration(age.max)}`],
        ["p95 age / TTL", number(f.age_p95_over_ttl)],
      ]),
      ...(l.rows ? [
        ["Rows looked up when served", number(l.rows)],
        ["Hit / miss / stale / unavailable when served",
          `${percent(l.hit_share)} / ${percent(l.miss_share)} / ${percent(l.stale_share)} / ${percent(l.unavailable_share)}`],
        ["Age of the values served, when read (p50 / p95 / max)", `${duration(read.p50)} / ${duration(read.p95)} / ${duration(read.max)}`],
      ] : []),
    ];
    return h("div", { class: "served-view", "data-view": v.view },
      h("h3", {}, `${v.view} `, h("span", { class: "muted" }, `by ${v.key} · ${v.source} · TTL ${v.ttl_s === null ? "none" : duration(v.ttl_s)}`)),
      why ? note(`Freshness unknown: ${why}.`) : null,
      pairs.length ? facts(pairs) : null,
      scrolling(table(`Served features of ${v.view}`, ["Feature", "Type", "Rows", "Null rate", "Drift", "Statistic"],
        (v.features || []).map((x) => [x.feature, x.dtype, number(x.rows),
          x.null_rate === null ? "not in the records" : percent(x.null_rate),
          x.drift ? verdict(x.drift.status) : "no profile", x.drift ? number(x.drift.statistic, 4) : null]),
        { class: "served-features-table" }), `Served features of ${v.view} (scrolls sideways)`));
  }))));
}

function alerts(list) {
  if (!list.length) return null;
  return section("Alerts", table(null, ["When", "Rule", "Event", "Message"],
    list.map((a) => [when(a.fired_at), a.rule, a.kind ? badge(a.kind, a.kind === "resolved" ? "good" : "bad") : "—", a.message]), { id: "alerts" }));
}
