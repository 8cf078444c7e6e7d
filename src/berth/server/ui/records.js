// Analyst: recent predictions with filters, newest first; a wrong category is corrected in one click.

import { api, quote } from "./api.js";
import { append, fill, h, note, when } from "./dom.js";

const PAGE = 50;
const CATEGORY_OUTPUTS = ["category", "label", "predicted", "prediction", "predict", "class", "output_label"];

/** The output that holds the predicted category: a known name, else the first text output, else the first. */
export function categoryOutput(outputs) {
  const names = Object.keys(outputs || {});
  return CATEGORY_OUTPUTS.find((n) => names.includes(n)) || names.find((n) => outputs[n].datatype === "BYTES") || names[0] || null;
}

function first(tensor) {
  return tensor && Array.isArray(tensor.data) && tensor.data.length ? tensor.data[0] : null;
}

function text(tensors) {
  return Object.entries(tensors || {}).map(([name, t]) => {
    const data = Array.isArray(t.data) ? t.data : [t.data];
    const shown = data.slice(0, 8).map((v) => (typeof v === "number" ? Number(v.toPrecision(4)) : String(v))).join(", ");
    return `${name}: ${shown}${data.length > 8 ? ` … (${data.length})` : ""}`;
  }).join("\n");
}

export async function recordsPage(view) {
  append(view, h("h1", {}, "Recent predictions"));
  const fields = {
    endpoint: h("input", { id: "f-endpoint", name: "endpoint", size: 14 }),
    model: h("input", { id: "f-model", name: "model", size: 14 }),
    version: h("input", { id: "f-version", name: "version", size: 4, inputmode: "numeric" }),
    variant: h("input", { id: "f-variant", name: "variant", size: 14 }),
    start: h("input", { id: "f-start", name: "start", type: "datetime-local" }),
    end: h("input", { id: "f-end", name: "end", type: "datetime-local" }),
    has_feedback: h("select", { id: "f-feedback", name: "has_feedback" },
      h("option", { value: "" }, "any"), h("option", { value: "true" }, "with feedback"), h("option", { value: "false" }, "without feedback")),
  };
  const labels = { endpoint: "Endpoint", model: "Model", version: "Version", variant: "Variant", start: "From", end: "To", has_feedback: "Feedback" };
  const status = h("div", { id: "records-status" });
  const rows = h("tbody");
  const list = h("table", { id: "records", hidden: true },
    h("thead", {}, h("tr", {}, ["When", "Endpoint", "Model", "Variant", "Inputs", "Predicted", "Feedback", "Correct it"].map((c) => h("th", { scope: "col" }, c)))),
    rows);
  const more = h("button", { type: "button", class: "secondary", id: "load-more", hidden: true }, "Load more");
  const seen = new Set();
  const versionClasses = new Map();
  let classes = [];
  let cursor = null;
  let query = {};
  let latest = 0; // the newest load: an older answer arriving later is dropped

  const params = () => {
    const found = {};
    for (const [key, input] of Object.entries(fields)) {
      const value = input.value.trim();
      if (!value) continue;
      found[key] = key === "start" || key === "end" ? new Date(value).toISOString() : value;
    }
    return found;
  };

  const load = async (append) => {
    const mine = ++latest;
    if (!append) {
      query = params();
      cursor = null;
      fill(rows, );
      seen.clear();
    }
    let page;
    try {
      page = await api("/api/v1/records", { params: { ...query, limit: PAGE, cursor } });
    } catch (error) {
      if (mine !== latest) return;
      list.hidden = true;
      more.hidden = true;
      fill(status, note(error.describe ? error.describe() : String(error), "error"));
      return;
    }
    if (mine !== latest) return;
    const records = page.records || [];
    for (const r of records) {
      const out = r.outputs && r.outputs[categoryOutput(r.outputs)];
      if (first(out) !== null) seen.add(String(first(out)));
      if (r.feedback && r.feedback.label) seen.add(r.feedback.label);
    }
    const offered = await classList(query, records, seen, versionClasses);
    if (mine !== latest) return;
    classes = offered;
    for (const r of records) rows.append(recordRow(r, () => classes));
    cursor = page.next_cursor || null;
    more.hidden = !cursor;
    list.hidden = rows.children.length === 0;
    fill(status, rows.children.length ? h("p", { class: "muted" }, `${rows.children.length} prediction${rows.children.length === 1 ? "" : "s"} shown, newest first.`) : note("No predictions match these filters."));
  };

  more.addEventListener("click", () => load(true));
  append(view, 
    h("form", { class: "filters", id: "record-filters", onsubmit: (e) => (e.preventDefault(), load(false)) },
      Object.entries(fields).map(([key, input]) => h("label", { for: input.id }, labels[key], input)),
      h("button", { type: "submit" }, "Show")),
    status, list, more,
  );
  await load(false);
}

/** The classes to offer: the version's declared classes when the API exposes them, else the labels seen. */
async function classList(query, records, seen, versionClasses) {
  const r = records[0];
  const model = query.model || (r && r.model);
  const version = query.version || (r && r.version);
  if (model && version) {
    const key = `${model}:${version}`;
    if (!versionClasses.has(key)) {
      versionClasses.set(key, api(`/api/v1/models/${quote(model)}/versions/${quote(String(version))}`)
        .then((v) => declared(v)).catch(() => []));
    }
    const found = await versionClasses.get(key);
    if (found.length) return found;
  }
  return [...seen].sort();
}

function declared(version) {
  for (const holder of [version.runtime_config, version.params, version.metadata]) {
    const classes = holder && holder.classes;
    if (Array.isArray(classes) && classes.length) return classes.map(String);
  }
  return [];
}

function recordRow(r, classes) {
  const name = categoryOutput(r.outputs);
  const predicted = first(r.outputs && r.outputs[name]);
  const feedbackCell = h("td", { class: "feedback" }, feedbackText(r.feedback));
  const select = h("select", { "aria-label": `Correct category for ${r.prediction_id}` });
  const options = () => {
    const current = select.value || (r.feedback && r.feedback.label ? r.feedback.label : String(predicted));
    const offered = [...new Set([...classes(), String(predicted)])];
    if (offered.length === select.options.length) return;
    fill(select, ...offered.map((c) => h("option", { value: c, selected: c === current }, c)));
  };
  options();
  const button = h("button", { type: "button" }, "Correct");
  const confirm = h("button", { type: "button", class: "secondary", title: "The prediction was right: store it as the label" }, "✓ Right");
  const send = async (label) => {
    button.disabled = confirm.disabled = true;
    try {
      const answer = await api("/api/v1/feedback", { method: "POST", body: { feedback: [{ prediction_id: r.prediction_id, label }] } });
      const result = (answer.results || []).find((x) => x.prediction_id === r.prediction_id);
      if (result && result.status !== "stored") throw new Error(`not stored: ${result.status}`);
      r.feedback = { label, value: null, observed_at: new Date().toISOString() };
      fill(feedbackCell, feedbackText(r.feedback), " ", h("span", { class: "badge good", role: "status" }, "stored"));
    } catch (error) {
      fill(feedbackCell, h("span", { class: "badge bad", role: "alert" }, error.describe ? error.describe() : error.message));
    } finally {
      button.disabled = confirm.disabled = false;
    }
  };
  button.addEventListener("click", () => send(select.value));
  confirm.addEventListener("click", () => send(String(predicted)));
  select.addEventListener("focus", options);
  return h("tr", { "data-prediction-id": r.prediction_id },
    h("td", {}, when(r.recorded_at)),
    h("td", {}, r.endpoint || "—"),
    h("td", {}, `${r.model}:${r.version}`),
    h("td", {}, r.variant || "—"),
    h("td", {}, h("pre", { class: "inputs-text" }, text(r.inputs))),
    h("td", { class: "predicted" }, predicted === null ? text(r.outputs) : [String(predicted), others(r.outputs, name)]),
    feedbackCell,
    h("td", {}, predicted === null ? "—" : h("div", { class: "correct" }, select, button, confirm)),
  );
}

function others(outputs, shown) {
  const rest = Object.fromEntries(Object.entries(outputs || {}).filter(([n]) => n !== shown));
  return Object.keys(rest).length ? h("div", { class: "muted" }, text(rest)) : null;
}

function feedbackText(feedback) {
  if (!feedback) return "—";
  const value = feedback.label ?? (feedback.value !== null && feedback.value !== undefined ? String(feedback.value) : "—");
  return [value, " ", h("span", { class: "muted" }, "(", when(feedback.observed_at), ")")];
}
