// Jobs: background work with its progress, refreshed every 2 s while any job runs; and a form to
// run a retrain job (administrators: the job API is theirs), confirmed before it is queued.

import { confirmAction } from "./actions.js";
import { api } from "./api.js";
import { append, badge, fill, h, note, when } from "./dom.js";

const ACTIVE = new Set(["queued", "running"]);
const KINDS = { succeeded: "good", failed: "bad", cancelled: "warn", running: "warn" };

export async function jobsPage(view) {
  const body = h("div", { id: "jobs" });
  const actions = h("div", { id: "job-actions" });
  append(view, h("h1", {}, "Jobs"), actions, body);
  let timer = null;
  let stopped = false;
  const load = async () => {
    if (timer) clearTimeout(timer);
    timer = null;
    let jobs;
    try {
      const answer = await api("/api/v1/jobs");
      jobs = Array.isArray(answer) ? answer : []; // a list, newest first
    } catch (error) {
      fill(body, note(error.describe ? error.describe() : String(error), "error"));
      return;
    }
    if (!actions.firstChild) fill(actions, retrainForm(load)); // the job API answered: an administrator
    fill(body, jobs.length ? jobTable(jobs) : note("No jobs yet."));
    if (!stopped && jobs.some((j) => ACTIVE.has(j.status))) timer = setTimeout(load, 2000);
  };
  await load();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}

function jobTable(jobs) {
  return h("table", { id: "jobs-table" },
    h("thead", {}, h("tr", {}, ["Job", "Kind", "Status", "Progress", "Created", "Started", "Finished"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, jobs.map((j) => {
      const progress = typeof j.progress === "number" ? Math.max(0, Math.min(1, j.progress)) : 0;
      return h("tr", { "data-job-id": j.id },
        h("td", {}, String(j.id)),
        h("td", {}, j.kind, j.reason ? h("div", { class: "muted" }, j.reason) : null),
        h("td", {}, badge(j.status, KINDS[j.status] || ""),
          j.max_attempts > 1 && j.attempts > 1 ? h("div", { class: "muted" }, `attempt ${j.attempts} of ${j.max_attempts}`) : null,
          j.error ? h("div", { class: "muted" }, j.error) : null),
        h("td", {},
          h("progress", { max: 1, value: progress, "aria-label": `Progress of job ${j.id}` }, `${Math.round(progress * 100)} %`),
          ` ${Math.round(progress * 100)} %`,
          j.progress_message ? h("div", { class: "muted" }, j.progress_message) : null),
        h("td", {}, when(j.created_at)),
        h("td", {}, when(j.started_at)),
        h("td", {}, when(j.finished_at)));
    })));
}

const RETRAIN_FIELDS = [
  ["model", "Model", "whose alias is at stake", true],
  ["trainer", "Trainer", "an installed berth.trainers entry point", true],
  ["endpoint", "Endpoint", "whose corrected records are read", true],
  ["alias", "Alias", "champion", false],
];

/** Run a retrain job: the parameters, confirmed, then queued; its progress follows in the table. */
function retrainForm(reload) {
  const inputs = Object.fromEntries(RETRAIN_FIELDS.map(([key, , hint, required]) =>
    [key, h("input", { id: `retrain-${key}`, name: key, maxlength: 128, required, placeholder: hint })]));
  const submit = (event) => {
    event.preventDefault();
    const params = {};
    for (const [key] of RETRAIN_FIELDS) if (inputs[key].value.trim()) params[key] = inputs[key].value.trim();
    const alias = params.alias || "champion";
    confirmAction({
      title: `Retrain ${params.model}`,
      summary: `A worker trains a challenger with trainer ${params.trainer} on its base data and the corrections of endpoint ${params.endpoint}, pushes it, and moves ${params.model}@${alias} to it only if it beats the champion on the hold-out.`,
      changes: [["jobs", "—", `a new retrain job (queued)`], [`alias ${alias}`, "as it is", "moved only if the challenger wins"]],
      confirmLabel: "Run retrain job",
      run: (reason) => api("/api/v1/jobs", { method: "POST", body: { kind: "retrain", params, reason } }),
      done: (job) => `Retrain job ${job.id} queued.`,
      after: () => reload(),
    });
  };
  return h("details", { class: "action-panel" },
    h("summary", {}, "Run a retrain job"),
    h("form", { class: "filters", id: "retrain-form", onsubmit: submit },
      RETRAIN_FIELDS.map(([key, label]) => h("label", { for: `retrain-${key}` }, label, inputs[key])),
      h("button", { type: "submit" }, "Retrain…")));
}
