// Endpoints: the list, and one endpoint's spec, serving split (with its actions: weights, canary,
// rollback), pipeline as steps, per-variant figures and history.

import { permissions } from "./actions.js";
import { api, quote } from "./api.js";
import { barChart, columnChart } from "./charts.js";
import { append, badge, facts, fill, h, link, note, number, percent, section, table, when } from "./dom.js";
import { pipelineSteps, splitActions } from "./endpoint_actions.js";

export async function endpointsPage(view) {
  append(view, h("h1", {}, "Endpoints"));
  const endpoints = await api("/api/v1/endpoints");
  if (!endpoints.length) {
    append(view, note("No endpoints yet: create one with `berth endpoint create`."));
    return;
  }
  append(view, 
    table(`${endpoints.length} endpoint${endpoints.length === 1 ? "" : "s"}`,
      ["Endpoint", "Team", "Targets", "Canary", "Shadows", "Revision", "Updated"],
      endpoints.map((e) => [
        link(`#/endpoints/${quote(e.name)}`, e.name),
        e.team,
        e.targets.map((t) => `${t.target} (${number(t.weight)})`).join(", "),
        e.canary ? `${e.canary.target} at ${e.canary.weight} %` : "—",
        (e.shadows || []).map((s) => s.target).join(", ") || "—",
        e.revision,
        when(e.updated_at),
      ]), { id: "endpoints" }),
  );
}

export async function endpointPage(view, name) {
  const [endpoint, history, rights] = await Promise.all([
    api(`/api/v1/endpoints/${quote(name)}`),
    api(`/api/v1/endpoints/${quote(name)}/history`),
    permissions(name),
  ]);
  const figures = h("div", { id: "stats" });
  const windowSelect = h("select", { id: "stats-window" },
    [[60, "last minute"], [300, "last 5 minutes"], [900, "last 15 minutes"]].map(([s, text]) => h("option", { value: s }, text)));
  const refresh = () => loadStats(figures, name, Number(windowSelect.value));
  windowSelect.addEventListener("change", refresh);
  append(view, 
    h("p", {}, link("#/endpoints", "← Endpoints"), " · ", link(`#/monitor/${quote(name)}`, "Monitoring")),
    h("h1", {}, endpoint.name),
    facts([
      ["Team", endpoint.team],
      ["Description", endpoint.description || "—"],
      ["Revision", [String(endpoint.revision), " · ", when(endpoint.updated_at), endpoint.updated_by ? ` · ${endpoint.updated_by}` : ""]],
      ["Sticky key", endpoint.sticky ? Object.entries(endpoint.sticky).map(([k, v]) => `${k} ${v}`).join(", ") : "none (random split)"],
    ]),
    section("Traffic split", split(endpoint), splitActions(endpoint, history, rights.has("endpoint"))),
    section("Pipeline", pipelineSteps(endpoint)),
    section("Per-variant figures",
      h("form", { class: "filters", onsubmit: (e) => (e.preventDefault(), refresh()) },
        h("label", { for: "stats-window" }, "Window", windowSelect), h("button", { type: "submit" }, "Refresh")),
      figures),
    section("Change history", changes(history)),
  );
  await refresh();
}

function split(endpoint) {
  const serving = endpoint.serving;
  const parts = [];
  const rows = endpoint.targets.map((t) => [t.target, "stable", number(t.weight), share(serving, t.target)]);
  if (endpoint.canary) {
    const c = endpoint.canary;
    rows.push([c.target, "canary", `${c.weight} % (step ${c.step + 1} of ${c.steps.length}: ${c.steps.join(", ")} %)`, share(serving, c.target)]);
  }
  for (const s of endpoint.shadows || []) rows.push([s.target, "shadow", `copy of ${percent(s.fraction)}`, "—"]);
  parts.push(table(null, ["Target", "Role", "Weight", "Served as"], rows, { id: "targets" }));
  if (endpoint.canary) {
    const c = endpoint.canary;
    parts.push(h("p", { class: "muted" }, `Canary: steps every ${c.interval_s} s after ${c.min_requests} requests; rolled back above +${percent(c.max_error_rate_increase)} errors or ${c.max_latency_ratio}× p95.`));
  }
  if (serving && serving.problem) parts.push(note(`This server cannot serve it: ${serving.problem}`, "error"));
  return parts;
}

function share(serving, target) {
  const found = serving && serving.variants.find((v) => v.target === target || `${v.model}:${v.version}` === target);
  return found ? `${found.model}:${found.version} · ${percent(found.share ?? found.copied_share)}` : "—";
}

async function loadStats(box, name, windowS) {
  let stats;
  try {
    stats = await api(`/api/v1/endpoints/${quote(name)}/stats`, { params: { window_s: windowS } });
  } catch (error) {
    fill(box, note(error.describe ? error.describe() : String(error), "error"));
    return;
  }
  const variants = Object.entries(stats.variants);
  if (!variants.length) {
    fill(box, note("No requests yet on this server."));
    return;
  }
  const row = (v, part) => {
    const f = part === "recent" ? v.recent : v.total;
    return [f.requests, f.errors, percent(f.error_rate), number(f.latency_ms.p50), number(f.latency_ms.p95), number(f.latency_ms.p99)];
  };
  const names = variants.map(([variant]) => variant);
  const requests = barChart({ label: "Requests per variant (since start)", items: variants.map(([variant, v]) => ({ label: variant, value: v.total.requests })) });
  requests.id = "requests-chart";
  const latency = columnChart({
    label: "Latency percentiles per variant, ms (since start)",
    categories: names,
    series: ["p50", "p95", "p99"].map((p) => ({ name: p, values: variants.map(([, v]) => v.total.latency_ms[p]) })),
  });
  latency.id = "latency-chart";
  fill(box, 
    table(`${stats.scope}; window ${stats.window_s} s`,
      ["Variant", "Requests", "Errors", "Error rate", "p50 ms", "p95 ms", "p99 ms", "Recent requests", "Recent errors", "Recent error rate", "Recent p50", "Recent p95", "Recent p99"],
      variants.map(([variant, v]) => [variant, ...row(v, "total"), ...row(v, "recent")]), { id: "stats-table" }),
    h("div", { class: "grid2" }, requests, latency),
    ...variants.filter(([, v]) => v.shadow).map(([variant, v]) =>
      h("p", { class: "muted" }, `Shadow ${variant}: agreement ${percent(v.shadow.agreement)} over ${v.shadow.compared} answers; ${v.shadow.dropped} copies dropped, ${v.shadow.paused} skipped while paused.`)),
  );
}

function changes(history) {
  if (!history.length) return note("No changes recorded.");
  return table(null, ["Revision", "When", "Change", "Who", "Why", "Targets after"],
    [...history].reverse().map((e) => [
      e.revision,
      when(e.at),
      badge(e.kind, e.kind.includes("rollback") ? "warn" : ""),
      e.actor || "—",
      e.reason || "—",
      e.after ? e.after.targets.map((t) => `${t.target}=${number(t.weight)}`).join(", ") + (e.after.canary ? ` + canary ${e.after.canary.target} ${e.after.canary.weight} %` : "") : "deleted",
    ]), { id: "history" });
}
