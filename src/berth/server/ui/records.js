// Analyst: the predictions that need review first (the ones a correction teaches most: uncertain,
// spread over categories; computed by the server, GET /api/v1/records?order=needs_review), or the
// newest; a wrong category is corrected in one click, to any category the model or the endpoint's
// team table knows (searchable), or to a new one.

import { api, quote } from "./api.js";
import { append, fill, h, note, when } from "./dom.js";

const PAGE = 50;
const NEW_CATEGORY = "\u0000new"; // the "New category…" option's value: no real label is this
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
    order: h("select", { id: "f-order", name: "order" },
      h("option", { value: "needs_review" }, "needs review first"), h("option", { value: "newest" }, "newest first")),
  };
  const labels = { endpoint: "Endpoint", model: "Model", version: "Version", variant: "Variant", start: "From", end: "To", has_feedback: "Feedback", order: "Order" };
  const status = h("div", { id: "records-status" });
  const rows = h("tbody");
  const list = h("table", { id: "records", hidden: true },
    h("thead", {}, h("tr", {}, ["When", "Endpoint", "Model", "Variant", "Inputs", "Predicted", "Feedback", "Correct it"].map((c) => h("th", { scope: "col" }, c)))),
    rows);
  const more = h("button", { type: "button", class: "secondary", id: "load-more", hidden: true }, "Load more");
  const seen = new Set();
  const versionClasses = new Map();
  const endpointClasses = new Map();
  let classes = [];
  let cursor = null;
  let query = {};
  let latest = 0; // the newest load: an older answer arriving later is dropped

  const params = () => {
    const found = {};
    for (const [key, input] of Object.entries(fields)) {
      const value = input.value.trim();
      if (!value || (key === "order" && value === "newest")) continue; // newest first is the API's default
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
    const offered = await classList(query, records, seen, versionClasses, endpointClasses);
    if (mine !== latest) return;
    classes = offered;
    const learn = (label) => {
      if (!classes.includes(label)) classes = [...classes, label].sort((a, b) => a.localeCompare(b));
    };
    for (const r of records) rows.append(recordRow(r, () => classes, learn));
    cursor = page.next_cursor || null;
    more.hidden = !cursor;
    list.hidden = rows.children.length === 0;
    const order = query.order === "needs_review"
      ? "the ones a correction would teach most first (uncertain answers, spread over categories; only those without feedback)"
      : "newest first";
    fill(status, rows.children.length ? h("p", { class: "muted" }, `${rows.children.length} prediction${rows.children.length === 1 ? "" : "s"} shown, ${order}.`) : note("No predictions match these filters."));
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

/** The categories to offer: every class of the versions shown (the version API's `classes`), every
 * category the endpoints' team tables (`map` steps) name, and every label seen; sorted. */
async function classList(query, records, seen, versionClasses, endpointClasses) {
  const versions = new Set(records.map((r) => `${r.model}:${r.version}`));
  if (query.model && query.version) versions.add(`${query.model}:${query.version}`);
  const endpoints = new Set(records.map((r) => r.endpoint).filter(Boolean));
  if (query.endpoint) endpoints.add(query.endpoint);
  const lists = [];
  for (const key of versions) {
    if (!versionClasses.has(key)) {
      const [model, version] = [key.slice(0, key.lastIndexOf(":")), key.slice(key.lastIndexOf(":") + 1)];
      versionClasses.set(key, api(`/api/v1/models/${quote(model)}/versions/${quote(version)}`)
        .then((v) => (Array.isArray(v.classes) ? v.classes.map(String) : [])).catch(() => []));
    }
    lists.push(versionClasses.get(key));
  }
  for (const name of endpoints) {
    if (!endpointClasses.has(name)) {
      endpointClasses.set(name, api(`/api/v1/endpoints/${quote(name)}`).then(mapped).catch(() => []));
    }
    lists.push(endpointClasses.get(name));
  }
  const found = new Set(seen);
  for (const list of await Promise.all(lists)) for (const c of list) found.add(c);
  return [...found].sort((a, b) => a.localeCompare(b));
}

/** The categories an endpoint's `map` post-steps route (the team table's keys). */
function mapped(endpoint) {
  const steps = (endpoint.pipeline && endpoint.pipeline.post) || [];
  return steps.filter((s) => s.type === "map" && s.mapping).flatMap((s) => Object.keys(s.mapping));
}

/** How many rows a record answered (its first output's first dimension). */
function rowsOf(r) {
  const tensor = Object.values(r.outputs || {})[0];
  return tensor && Array.isArray(tensor.shape) && tensor.shape.length ? tensor.shape[0] : 1;
}

function recordRow(r, classes, learn) {
  const name = categoryOutput(r.outputs);
  const predicted = first(r.outputs && r.outputs[name]);
  const feedbackCell = h("td", { class: "feedback" }, feedbackText(r.feedback));
  const rows = rowsOf(r);
  const select = h("select", { "aria-label": `Correct category for ${r.prediction_id}` });
  const search = h("input", { type: "search", placeholder: "search categories", size: 14, "aria-label": `Search categories for ${r.prediction_id}` });
  const fresh = h("input", { type: "text", hidden: true, maxlength: 256, placeholder: "new category name", "aria-label": `New category for ${r.prediction_id}` });
  let shown = "";
  const options = () => {
    const current = select.value && select.value !== NEW_CATEGORY ? select.value : (r.feedback && r.feedback.label ? r.feedback.label : String(predicted));
    const wanted = search.value.trim().toLowerCase();
    const offered = [...new Set([...classes(), String(predicted)])].filter((c) => !wanted || c.toLowerCase().includes(wanted) || c === current);
    const key = offered.join("\n");
    if (key === shown) return;
    shown = key;
    fill(select, ...offered.map((c) => h("option", { value: c, selected: c === current }, c)),
      h("option", { value: NEW_CATEGORY, selected: select.value === NEW_CATEGORY }, "New category…"));
  };
  options();
  search.addEventListener("input", options);
  select.addEventListener("change", () => {
    fresh.hidden = select.value !== NEW_CATEGORY;
    if (!fresh.hidden) fresh.focus();
  });
  const button = h("button", { type: "button" }, "Correct");
  const confirm = h("button", { type: "button", class: "secondary", title: "The prediction was right: store it as the label" }, "✓ Right");
  const send = async (label) => {
    button.disabled = confirm.disabled = true;
    try {
      const answer = await api("/api/v1/feedback", { method: "POST", body: { feedback: [{ prediction_id: r.prediction_id, label }] } });
      const result = (answer.results || []).find((x) => x.prediction_id === r.prediction_id);
      if (result && result.status !== "stored") throw new Error(`not stored: ${result.status}`);
      const added = !classes().includes(label);
      r.feedback = { label, value: null, observed_at: new Date().toISOString() };
      learn(label);
      fill(feedbackCell, feedbackText(r.feedback), " ", h("span", { class: "badge good", role: "status" }, "stored"),
        added ? h("div", { class: "muted" }, "a new category: the next retrain learns it") : null);
    } catch (error) {
      fill(feedbackCell, h("span", { class: "badge bad", role: "alert" }, error.describe ? error.describe() : error.message));
    } finally {
      button.disabled = confirm.disabled = false;
    }
  };
  button.addEventListener("click", () => {
    if (select.value !== NEW_CATEGORY) return send(select.value);
    const label = fresh.value.trim();
    if (!label) {
      fill(feedbackCell, h("span", { class: "badge bad", role: "alert" }, "Name the new category first."));
      return undefined;
    }
    return send(label);
  });
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
    h("td", {}, predicted === null ? "—"
      : rows > 1 ? h("span", { class: "muted batched" }, `a batched prediction (${rows} rows): one category cannot correct every row, so retraining would not use it — correct the single-text predictions`)
      : h("div", { class: "correct" }, search, select, fresh, button, confirm)),
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
