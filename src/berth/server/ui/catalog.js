// Catalog: search every team's models and endpoints (GET /api/v1/catalog), a catalog entry
// (card, signature, versions, the caller's access), a model's versions and aliases, one version's metadata.

import { aliasSection } from "./aliases.js";
import { ApiError, api, quote } from "./api.js";
import { barChart } from "./charts.js";
import { consumersPanel, deprecationNotice } from "./consumers.js";
import { learningCurve } from "./learning_curve.js";
import { append, badge, facts, fill, h, link, markdown, note, number, pre, section, table, tags, when } from "./dom.js";

export async function catalogPage(view) {
  append(view, h("h1", {}, "Catalog"));
  const search = h("input", { type: "search", id: "model-search", placeholder: "name, description, card, tag, metric" });
  const choice = (id, label, options) =>
    h("label", { for: id }, label, h("select", { id }, options.map(([value, text]) => h("option", { value }, text))));
  const filters = {
    team: h("input", { id: "catalog-team", size: 10 }),
    flavor: h("input", { id: "catalog-flavor", size: 8 }),
  };
  const task = choice("catalog-task", "Task", [["", "any"], ["classification", "classification"], ["regression", "regression"], ["text", "text"]]);
  const visibility = choice("catalog-visibility", "Visibility", [["", "any"], ["private", "private"], ["discoverable", "discoverable"]]);
  const sort = choice("catalog-sort", "Sort", [["name", "name"], ["recent", "recent"], ["usage", "usage (30 days)"]]);
  const summary = h("p", { class: "muted", id: "catalog-total" });
  const modelsBox = h("div");
  const endpointsBox = h("div");
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "More");
  let cursor = null;
  let entries = [];
  const params = () => ({
    q: search.value.trim(),
    team: filters.team.value.trim(),
    flavor: filters.flavor.value.trim(),
    task: task.querySelector("select").value,
    visibility: visibility.querySelector("select").value,
    sort: sort.querySelector("select").value,
    limit: 100,
  });
  const render = (page) => {
    const models = entries.filter((e) => e.kind === "model");
    const endpoints = entries.filter((e) => e.kind === "endpoint");
    const facets = Object.entries(page.facets.team || {}).map(([team, n]) => `${team} ${n}`).join(", ");
    fill(summary, `${page.total} found${facets ? ` · by team: ${facets}` : ""}`);
    fill(modelsBox,
      models.length
        ? table(
            `${models.length} model${models.length === 1 ? "" : "s"}`,
            ["Model", "Team", "Description", "Visibility", "Task", "Card", "Contact", "Calls (30 d)", "Tags", "Latest", "Aliases"],
            models.map((m) => [
              link(`#/models/${quote(m.name)}`, m.name),
              m.team,
              m.description || "—",
              visibilityBadge(m.visibility),
              m.task || "—",
              cardScore(m.card),
              m.contact || "—",
              number(m.calls_30d),
              tags(m.tags),
              m.latest_version ?? "—",
              aliasList(m.name, m.aliases),
            ]),
            { id: "models" },
          )
        : note("No models found: push one with `berth push` or the SDK, or ask another team to make theirs discoverable."),
    );
    fill(endpointsBox,
      endpoints.length
        ? table(`${endpoints.length} endpoint${endpoints.length === 1 ? "" : "s"}`, ["Endpoint", "Team", "Description", "Visibility", "Targets", "Calls (30 d)"],
            endpoints.map((e) => [
              link(`#/catalog/${quote(e.name)}`, e.name),
              e.team,
              e.description || "—",
              visibilityBadge(e.visibility),
              e.targets.map((t) => `${t.target} (${t.weight})`).join(", ") || "—",
              number(e.calls_30d),
            ]), { id: "catalog-endpoints" })
        : "",
    );
    more.hidden = !page.next_cursor;
  };
  const load = async (next = false) => {
    const page = await api("/api/v1/catalog", { params: { ...params(), cursor: next ? cursor : "" } });
    entries = next ? entries.concat(page.entries) : page.entries;
    cursor = page.next_cursor;
    render(page);
  };
  more.addEventListener("click", () => load(true));
  append(view,
    h("form", { class: "filters", role: "search", onsubmit: (e) => (e.preventDefault(), load()) },
      h("label", { for: "model-search" }, "Search", search),
      h("label", { for: "catalog-team" }, "Team", filters.team),
      h("label", { for: "catalog-flavor" }, "Flavor", filters.flavor),
      task, visibility, sort,
      h("button", { type: "submit" }, "Search")),
    summary, modelsBox, endpointsBox, more,
  );
  await load();
}

function visibilityBadge(visibility) {
  return visibility === "discoverable" ? badge("discoverable", "good") : badge("private");
}

function cardScore(card) {
  if (!card) return "—";
  const kind = card.filled === card.total ? "good" : card.filled ? "warn" : "bad";
  return h("span", { title: card.missing.length ? `missing: ${card.missing.join(", ")}` : "complete" }, badge(`${card.filled}/${card.total}`, kind));
}

/** A catalog entry: what a consumer reads before asking for access (no artifacts, no data). */
export async function catalogEntryPage(view, name) {
  const e = await api(`/api/v1/catalog/${quote(name)}`);
  const notice = await deprecationNotice(e.name, { endpoint: e.kind === "endpoint" });
  append(view,
    notice,
    h("p", {}, link("#/catalog", "← Catalog")),
    h("h1", {}, `${e.name} `, visibilityBadge(e.visibility)),
    facts([
      ["Kind", e.kind],
      ["Team", e.team],
      ["Contact", e.contact || "—"],
      ["Description", e.description || "—"],
      ["Calls (30 days)", number(e.calls_30d)],
      ["Your access", `${e.access.may_read ? "may read" : "may not read"} · ${e.access.may_predict ? "may call" : "may not call (a grant is needed)"}`],
      ...(e.access.may_read && e.kind === "model" ? [["Model page", link(`#/models/${quote(e.name)}`, "versions, metadata, history")]] : []),
    ]),
    // another team's entry the caller may not call: ask its admins (the Access page's form, prefilled)
    e.access.may_predict || e.access.may_read
      ? null
      : h("p", { id: "entry-request-access" },
          h("a", { href: `#/access?target=${quote(e.name)}`, class: "button" }, "Request access"),
          ` — ask team ${e.team}'s admins to let one of your teams call ${e.name}.`),
  );
  if (e.kind === "endpoint") {
    append(view, section("Targets", table(null, ["Target", "Weight"], e.targets.map((t) => [t.target, number(t.weight)]), { id: "entry-targets" })));
    return;
  }
  const card = e.card;
  append(view,
    section("Model card",
      h("p", {}, cardScore(card), card.missing.length ? ` missing: ${card.missing.map((k) => card.headings[k]).join(", ")}` : " complete"),
      ...Object.entries(card.sections).map(([key, text]) => h("div", { class: "card-section" }, h("h3", {}, card.headings[key] || key), markdown(text)))),
    section("Metrics", metricBlock("Metrics", e.metrics, "entry-metrics", "No metrics were pushed with the newest version.")),
    section("Signature", e.signature ? signature(e.signature) : note("No versions yet.")),
    section("Example request", e.example_request ? pre(e.example_request) : note("No example.")),
    section("Versions", table(null, ["Version", "Flavor", "Pushed", "Aliases", "Metrics", "Card"],
      [...e.versions].reverse().map((v) => [
        String(v.version), v.flavor, when(v.created_at),
        v.aliases.length ? v.aliases.map((a) => badge(a)) : "—",
        Object.entries(v.metrics).map(([k, val]) => `${k} ${number(val)}`).join(", ") || "—",
        cardScore(v.card),
      ]), { id: "entry-versions" })),
  );
}

function aliasList(model, aliases) {
  const entries = Object.entries(aliases || {});
  if (!entries.length) return "—";
  return entries.map(([alias, version]) => h("span", { class: "badge" }, link(`#/models/${quote(model)}/versions/${version}`, `${alias} → ${version}`)));
}

export async function modelPage(view, name) {
  // a discoverable model of another team may not be read: its catalog entry is what it shows
  const readable = await api(`/api/v1/models/${quote(name)}`).then(() => true, (error) => {
    if (error instanceof ApiError && error.status === 403) return false;
    throw error;
  });
  if (!readable) return catalogEntryPage(view, name);
  const [model, versions, history] = await Promise.all([
    api(`/api/v1/models/${quote(name)}`),
    api(`/api/v1/models/${quote(name)}/versions`),
    api(`/api/v1/models/${quote(name)}/history`),
  ]);
  const curve = learningCurve(versions, history);
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
    curve ? section("Learning curve", curve) : null,
    section("Aliases", await aliasSection(model, versions, history)),
    section("Alias history", history.length ? aliasHistory(history) : note("No alias was ever set.")),
  );
  await consumersPanel(view, name, { versions: versions.map((v) => v.version), aliases: model.aliases });
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
