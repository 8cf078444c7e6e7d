// Jobs: background work with its progress, refreshed every 2 s while any job runs.

import { api } from "./api.js";
import { append, badge, fill, h, note, when } from "./dom.js";

const ACTIVE = new Set(["queued", "running"]);
const KINDS = { succeeded: "good", failed: "bad", cancelled: "warn", running: "warn" };

export async function jobsPage(view) {
  const body = h("div", { id: "jobs" });
  append(view, h("h1", {}, "Jobs"), body);
  let timer = null;
  let stopped = false;
  const load = async () => {
    timer = null;
    let jobs;
    try {
      const answer = await api("/api/v1/jobs");
      jobs = Array.isArray(answer) ? answer : []; // a list, newest first
    } catch (error) {
      fill(body, note(error.describe ? error.describe() : String(error), "error"));
      return;
    }
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
