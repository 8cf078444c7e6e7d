// An endpoint's actions (set the weights of its targets, start / promote / abort a canary, roll
// back the newest change), each confirmed in a dialog that shows what will change; and its
// pipeline drawn as steps: pre-steps → targets with their weights → post-steps.

import { actionButton, confirmAction } from "./actions.js";
import { api, quote } from "./api.js";
import { h, number } from "./dom.js";

const CANARY_ONLY = new Set(["canary_start", "canary_step", "canary_rollback"]); // as the server's rollback

function shares(targets) {
  const total = targets.reduce((sum, t) => sum + (Number(t.weight) || 0), 0);
  return (weight) => (total > 0 ? `${((100 * weight) / total).toFixed(1)} %` : "—");
}

function targetsText(targets) {
  const share = shares(targets);
  return targets.map((t) => `${t.target} ${number(t.weight)} (${share(t.weight)})`).join(", ");
}

/** The controls under the traffic split: only for a caller who may change the endpoint. */
export function splitActions(endpoint, history, may) {
  if (!may) return h("p", { class: "muted", id: "endpoint-rights" }, "Changing this endpoint needs the maintainer role in team ", endpoint.team, ".");
  const path = `/api/v1/endpoints/${quote(endpoint.name)}`;
  return h("div", { class: "actions", id: "endpoint-actions" },
    weightsForm(endpoint),
    endpoint.canary ? canaryControls(endpoint, path) : canaryForm(endpoint, path),
    h("p", {}, actionButton("Roll back the last change…", () => rollBack(endpoint, history, path), { id: "endpoint-rollback" })),
  );
}

/** Confirm, then give the endpoint's targets these `weights` ({target: weight}). */
export function setWeights(endpoint, weights) {
  const after = endpoint.targets.map((t) => ({ target: t.target, weight: weights[t.target] ?? t.weight }));
  const before = shares(endpoint.targets);
  const next = shares(after);
  return confirmAction({
    title: `Set the weights of ${endpoint.name}`,
    summary: "The stable traffic is split between the targets in proportion to their weights.",
    changes: endpoint.targets.map((t, i) => [t.target, `${number(t.weight)} (${before(t.weight)})`, `${number(after[i].weight)} (${next(after[i].weight)})`]),
    confirmLabel: "Set weights",
    run: (reason) => api(`/api/v1/endpoints/${quote(endpoint.name)}/weights`, { method: "PATCH", body: { weights, reason } }),
    done: (e) => `${endpoint.name} is at revision ${e.revision}: ${targetsText(e.targets)}.`,
  });
}

function weightsForm(endpoint) {
  const inputs = endpoint.targets.map((t, i) =>
    h("input", { type: "number", id: `weight-${i}`, min: 0, step: "any", required: true, value: t.weight, "data-target": t.target }));
  const submit = (event) => {
    event.preventDefault();
    setWeights(endpoint, Object.fromEntries(endpoint.targets.map((t, i) => [t.target, Number(inputs[i].value)])));
  };
  return h("form", { class: "filters", id: "weights-form", onsubmit: submit },
    endpoint.targets.map((t, i) => h("label", { for: `weight-${i}` }, `Weight of ${t.target}`, inputs[i])),
    h("button", { type: "submit" }, "Set weights…"));
}

function canaryForm(endpoint, path) {
  const target = h("input", { id: "canary-target", required: true, maxlength: 256, placeholder: "model:version or model@alias" });
  const steps = h("input", { id: "canary-steps", value: "5, 25, 50", placeholder: "increasing percentages" });
  const interval = h("input", { id: "canary-interval", type: "number", min: 0, step: "any", value: 60 });
  const submit = (event) => {
    event.preventDefault();
    const stepList = steps.value.split(/[\s,]+/).filter(Boolean).map(Number);
    const body = { target: target.value.trim(), steps: stepList, interval_s: Number(interval.value) };
    confirmAction({
      title: `Start a canary on ${endpoint.name}`,
      summary: `${body.target} gets ${stepList[0]} % of the traffic, raised step by step every ${body.interval_s} s while its errors and latency stay close to the stable targets'; rolled back automatically otherwise.`,
      changes: [["canary", "none", `${body.target}: ${stepList.join(" → ")} %`], ["stable targets", targetsText(endpoint.targets), `the rest of the traffic (${100 - stepList[0]} % at first)`]],
      confirmLabel: "Start canary",
      run: (reason) => api(`${path}/canary`, { method: "POST", body: { ...body, reason } }),
      done: (e) => `Canary ${e.canary.target} started at ${e.canary.weight} %.`,
    });
  };
  return h("form", { class: "filters", id: "canary-form", onsubmit: submit },
    h("label", { for: "canary-target" }, "Canary target", target),
    h("label", { for: "canary-steps" }, "Steps (%)", steps),
    h("label", { for: "canary-interval" }, "Seconds per step", interval),
    h("button", { type: "submit" }, "Start canary…"));
}

function canaryControls(endpoint, path) {
  const c = endpoint.canary;
  const promote = () => confirmAction({
    title: `Promote the canary of ${endpoint.name}`,
    summary: `${c.target} becomes the only target now; the stable targets stop serving.`,
    changes: [["targets", targetsText(endpoint.targets), `${c.target} 1 (100.0 %)`], ["canary", `${c.target} at ${c.weight} %`, "none"]],
    confirmLabel: "Promote canary",
    run: (reason) => api(`${path}/promote`, { method: "POST", body: { reason } }),
    done: (e) => `${endpoint.name} now serves ${targetsText(e.targets)}.`,
  });
  const abort = () => confirmAction({
    title: `Abort the canary of ${endpoint.name}`,
    summary: "All the traffic goes back to the stable targets.",
    changes: [["canary", `${c.target} at ${c.weight} %`, "none"], ["targets", targetsText(endpoint.targets), "unchanged (all the traffic)"]],
    confirmLabel: "Abort canary",
    run: (reason) => api(`${path}/canary`, { method: "DELETE", params: { reason } }),
    done: `The canary ${c.target} was removed.`,
  });
  return h("p", { id: "canary-actions" }, actionButton("Promote canary…", promote), " ", actionButton("Abort canary…", abort, { class: "action secondary" }));
}

/** What the server's rollback will do (see EndpointService.rollback): a running canary is removed,
 * else the spec before the newest change that moved stable traffic comes back. */
export function rollbackPlan(endpoint, history) {
  if (endpoint.canary) return [["canary", `${endpoint.canary.target} at ${endpoint.canary.weight} %`, "none"]];
  const events = history.filter((e) => !CANARY_ONLY.has(e.kind));
  const last = events[events.length - 1];
  if (!last || !last.before) return null;
  return [["targets", targetsText(endpoint.targets), targetsText(last.before.targets)], ["revision", String(endpoint.revision), String(endpoint.revision + 1)]];
}

function rollBack(endpoint, history, path) {
  const plan = rollbackPlan(endpoint, history);
  return confirmAction({
    title: `Roll back ${endpoint.name}`,
    summary: plan ? "Undo the newest change (a running canary first)." : "There is no earlier state: the server will refuse.",
    changes: plan || [],
    confirmLabel: "Roll back",
    run: (reason) => api(`${path}/rollback`, { method: "POST", body: { reason } }),
    done: (e) => `${endpoint.name} rolled back: revision ${e.revision}, ${targetsText(e.targets)}.`,
  });
}

// -- the pipeline as steps ---------------------------------------------------------------------

function setting(value) {
  if (value === null || value === undefined) return "—";
  if (Array.isArray(value)) return value.map((v) => (typeof v === "object" ? JSON.stringify(v) : String(v)));
  if (typeof value === "object") {
    const entries = Object.entries(value);
    const shown = entries.slice(0, 8).map(([k, v]) => `${k} → ${typeof v === "object" ? JSON.stringify(v) : v}`);
    if (entries.length > 8) shown.push(`… ${entries.length - 8} more`);
    return shown;
  }
  return String(value);
}

function stepCard(step, index) {
  const { type, ...settings } = step || {};
  return h("li", { class: "step", "data-kind": type || "?" },
    h("span", { class: "step-kind" }, `${index + 1}. ${type || "?"}`),
    h("dl", { class: "step-settings" }, Object.entries(settings).map(([key, value]) => {
      const shown = setting(value);
      return [h("dt", {}, key), h("dd", {}, Array.isArray(shown) ? h("ul", {}, shown.map((line) => h("li", {}, line))) : shown)];
    })),
  );
}

function stage(title, id, steps, empty) {
  return h("div", { class: "stage", id },
    h("h3", {}, title),
    steps.length ? h("ol", { class: "steps" }, steps) : h("p", { class: "muted" }, empty));
}

/** pre-steps → targets (with weights, canary, shadows) → post-steps. */
export function pipelineSteps(endpoint) {
  const pipeline = endpoint.pipeline || {};
  const share = shares(endpoint.targets);
  const targets = endpoint.targets.map((t) => h("li", { class: "step target" },
    h("span", { class: "step-kind" }, t.target), h("span", {}, `weight ${number(t.weight)} · ${share(t.weight)} of the stable traffic`)));
  if (endpoint.canary) targets.push(h("li", { class: "step target canary" }, h("span", { class: "step-kind" }, endpoint.canary.target), h("span", {}, `canary · ${endpoint.canary.weight} % of the traffic`)));
  for (const s of endpoint.shadows || []) targets.push(h("li", { class: "step target shadow" }, h("span", { class: "step-kind" }, s.target), h("span", {}, `shadow · a copy of ${(s.fraction * 100).toFixed(0)} % of the requests`)));
  const arrow = () => h("span", { class: "arrow", "aria-hidden": "true" }, "→");
  return h("div", { class: "pipeline", id: "pipeline" },
    stage("Before the model", "pipeline-pre", (pipeline.pre || []).map((s, i) => stepCard(s, i)), "No pre-steps: the request goes to the model as sent."),
    arrow(),
    stage("Targets", "pipeline-targets", targets, "No targets."),
    arrow(),
    stage("After the model", "pipeline-post", (pipeline.post || []).map((s, i) => stepCard(s, i)), "No post-steps: the model's outputs are the answer."),
  );
}
