// Catalog: models, a model's versions and aliases, one version's metadata.

import { api, quote } from "./api.js";
import { barChart } from "./charts.js";
import { append, facts, fill, h, link, markdown, note, number, section, table, tags, when } from "./dom.js";

export async function catalogPage(view) {
  append(view, h("h1", {}, "Models"));
  const search = h("input", { type: "search", id: "model-search", placeholder: "name or description" });
  const results = h("div");
  const load = async () => {
    const models = await api("/api/v1/models", { params: { text: search.value.trim(), limit: 1000 } });
    fill(results, 
      models.length
        ? table(
            `${models.length} model${models.length === 1 ? "" : "s"}`,
            ["Model", "Team", "Description", "Tags", "Latest", "Aliases"],
            models.map((m) => [
              link(`#/models/${quote(m.name)}`, m.name),
              m.team,
              m.description || "—",
              tags(m.tags),
              m.latest_version ?? "—",
              aliasList(m.name, m.aliases),
            ]),
            { id: "models" },
          )
        : note("No models yet: push one with `berth push` or the SDK."),
    );
  };
  append(view, 
    h("form", { class: "filters", role: "search", onsubmit: (e) => (e.preventDefault(), load()) },
      h("label", { for: "model-search" }, "Search", search), h("button", { type: "submit" }, "Search")),
    results,
  );
  await load();
}

function aliasList(model, aliases) {
  const entries = Object.entries(aliases || {});
  if (!entries.length) return "—";
  return entries.map(([alias, version]) => h("span", { class: "badge" }, link(`#/models/${quote(model)}/versions/${version}`, `${alias} → ${version}`)));
}

export async function modelPage(view, name) {
  const [model, versions, history] = await Promise.all([
    api(`/api/v1/models/${quote(name)}`),
    api(`/api/v1/models/${quote(name)}/versions`),
    api(`/api/v1/models/${quote(name)}/history`),
  ]);
  append(view, 
    h("p", {}, link("#/catalog", "← Models")),
    h("h1", {}, model.name),
    facts([
      ["Team", model.team],
      ["Description", model.description || "—"],
      ["Tags", tags(model.tags)],
      ["Created", when(model.created_at)],
      ["Aliases", aliasList(model.name, model.aliases)],
    ]),
    section(
      "Versions",
      table(null, ["Version", "Flavor", "Pushed", "By", "Aliases", "Metrics"],
        [...versions].reverse().map((v) => [
          link(`#/models/${quote(name)}/versions/${v.version}`, String(v.version)),
          v.flavor,
          when(v.created_at),
          v.pushed_by || "—",
          v.aliases.length ? v.aliases.map((a) => h("span", { class: "badge" }, a)) : "—",
          Object.entries(v.metrics).map(([k, val]) => `${k} ${number(val)}`).join(", ") || "—",
        ]), { id: "versions" }),
    ),
    section("Alias history", history.length ? aliasHistory(history) : note("No alias was ever set.")),
  );
}

function aliasHistory(events) {
  return table(null, ["When", "Alias", "From", "To", "Who", "Why"],
    [...events].reverse().map((e) => [when(e.at), e.alias, e.from_version ?? "—", e.to_version ?? "removed", e.actor || "—", e.reason || "—"]),
    { id: "alias-history" });
}

export async function versionPage(view, name, ref) {
  const v = await api(`/api/v1/models/${quote(name)}/versions/${quote(ref)}`);
  append(view, 
    h("p", {}, link(`#/models/${quote(name)}`, `← ${name}`)),
    h("h1", {}, `${v.model} `, h("span", { class: "muted" }, `version ${v.version}`)),
    facts([
      ["Flavor", v.flavor],
      ["Aliases", v.aliases.length ? v.aliases.map((a) => h("span", { class: "badge" }, a)) : "—"],
      ["Pushed", when(v.created_at)],
      ["Pushed by", v.pushed_by || "—"],
      ["Source", v.source || "—"],
      ["Training data", v.training_data || "—"],
      ["Artifact", `${v.artifact.filename || "artifact"} · ${number(v.artifact.size)} bytes · sha256 ${v.artifact.sha256.slice(0, 12)}…`],
      ["Trusted (pickle)", v.trusted ? "yes" : "no"],
      ["Tags", tags(v.tags)],
    ]),
    section("Signature", signature(v.signature)),
    section("Metrics", metricBlock("Metrics", v.metrics, "metrics-chart", "No metrics were pushed with this version.")),
    section("Feature importance", metricBlock("Feature importance", v.feature_importance, "importance-chart", "No feature importance was pushed.", true)),
    section("Parameters", Object.keys(v.params).length
      ? table(null, ["Parameter", "Value"], Object.entries(v.params).map(([k, val]) => [k, typeof val === "string" ? val : JSON.stringify(val)]))
      : note("No parameters were pushed.")),
    section("Docs", v.docs ? markdown(v.docs) : note("No docs (model card) were pushed.")),
  );
}

function signature(sig) {
  const rows = [];
  for (const [kind, specs] of [["input", sig.inputs || []], ["output", sig.outputs || []]]) {
    for (const s of specs) rows.push([kind, s.name, s.datatype, JSON.stringify(s.shape)]);
  }
  return rows.length ? table(null, ["", "Name", "Type", "Shape"], rows, { id: "signature" }) : note("No signature.");
}

function metricBlock(label, values, id, empty, sort = false) {
  let entries = Object.entries(values || {});
  if (!entries.length) return note(empty);
  if (sort) entries = entries.sort((a, b) => Math.abs(b[1]) - Math.abs(a[1])).slice(0, 30);
  const chart = barChart({ label, items: entries.map(([k, val]) => ({ label: k, value: val })) });
  chart.id = id;
  return h("div", { class: "grid2" }, chart, table(null, ["Name", "Value"], entries.map(([k, val]) => [k, number(val, 4)])));
}
