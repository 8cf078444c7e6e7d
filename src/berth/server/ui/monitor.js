// Monitoring: accuracy, drift, latency, traffic and staleness of one endpoint over a time window.

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
  const buckets = data.buckets || [];
  const label = bucketLabel(data.window && data.window.bucket_s);
  fill(body, 
    h("p", { class: "muted" }, "Window ", when(data.window && data.window.start), " – ", when(data.window && data.window.end), `, buckets of ${duration(data.window && data.window.bucket_s)}.`),
    alerts(data.alerts || []),
    h("div", { class: "grid2" },
      section("Accuracy", accuracy(data.accuracy, buckets, label)),
      section("Drift", drift(data.drift)),
      section("Latency", latency(data.latency, buckets, label)),
      section("Traffic per variant", traffic(data.traffic, buckets, label)),
      section("Failed requests", failures(data.errors, buckets, label)),
    ),
    section("Staleness", staleness(data.staleness)),
  );
}

function bucketLabel(bucketS) {
  return (iso) => {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    return bucketS >= 86400 ? d.toLocaleDateString() : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  };
}

function hasValues(series) {
  return Object.values(series || {}).some((values) => (values || []).some((v) => typeof v === "number" && Number.isFinite(v)));
}

function chartOr(id, chart, empty) {
  if (!chart) return note(empty);
  chart.id = id;
  return chart;
}

function accuracy(acc, buckets, label) {
  if (!acc) return note("No accuracy figures.");
  const metric = acc.metric || "accuracy";
  const series = Object.entries(acc.series || {}).map(([variant, values]) => ({ name: variant, values }));
  const overall = Object.entries(acc.overall || {});
  return [
    chartOr("accuracy-chart",
      buckets.length && hasValues(acc.series) ? lineChart({ label: `${metric} over time per variant`, x: buckets, series, xFormat: label }) : null,
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
          table(null, ["Feature", "Kind", "Test", "Statistic", "p-value", "Threshold", "Verdict", "Reference n", "Current n"],
            features.map((f) => [f.feature, f.kind, f.test, number(f.statistic, 4), number(f.p_value, 4),
              typeof f.p_value === "number" ? `p < ${number(f.threshold, 4)}` : number(f.threshold, 4),
              verdict(f.status || (f.drifted ? "drifted" : "ok")), number(f.n_reference), number(f.n_current)]), { id: "drift-table" }),
        ]
      : note("No per-feature drift in this window."),
  ];
}

function verdict(status) {
  const [text, kind] = VERDICTS[status] || [status, ""];
  return badge(text, kind);
}

function latency(lat, buckets, label) {
  const series = ["p50", "p95", "p99"].map((p) => ({ name: p, values: ((lat && lat.series && lat.series[p]) || []).map((v) => (v === null ? null : v * 1000)) }));
  return chartOr("latency-chart",
    buckets.length && hasValues(lat && lat.series) ? lineChart({ label: "Latency percentiles over time, ms", x: buckets, series, xFormat: label }) : null,
    "No latency figures in this window.");
}

function traffic(t, buckets, label) {
  const series = Object.entries((t && t.series) || {}).map(([variant, values]) => ({ name: variant, values }));
  const total = series.reduce((sum, s) => sum + s.values.reduce((a, v) => a + (Number(v) || 0), 0), 0);
  return chartOr("traffic-chart",
    buckets.length && total > 0 ? columnChart({ label: "Records per variant over time", categories: buckets, series, stacked: true, xFormat: label }) : null,
    "No traffic in this window.");
}

function failures(e, buckets, label) {
  const series = Object.entries((e && e.series) || {}).map(([code, values]) => ({ name: code, values }));
  const total = series.reduce((sum, s) => sum + s.values.reduce((a, v) => a + (Number(v) || 0), 0), 0);
  return chartOr("errors-chart",
    buckets.length && total > 0 ? columnChart({ label: "Failed requests per error code over time", categories: buckets, series, stacked: true, xFormat: label }) : null,
    "No failed requests in this window.");
}

function staleness(s) {
  if (!s) return note("No staleness figures.");
  return facts([
    ["Serving version's age", s.version_age_s === null ? "unknown" : duration(s.version_age_s)],
    ["Age of its training data", s.data_age_s === null ? "unknown" : duration(s.data_age_s)],
  ]);
}

function alerts(list) {
  if (!list.length) return null;
  return section("Alerts", table(null, ["When", "Rule", "Event", "Message"],
    list.map((a) => [when(a.fired_at), a.rule, a.kind ? badge(a.kind, a.kind === "resolved" ? "good" : "bad") : "—", a.message]), { id: "alerts" }));
}
