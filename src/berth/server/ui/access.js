// Access requests: ask another team for its model or endpoint; a team's admins approve (perhaps
// until a date) or deny; the requester sees the outcome. Every action is confirmed in a dialog
// before it runs, and the lists are read again after it (no page reload). The server decides who
// may do what: the inbox lists only the requests to teams the token administers.

import { api } from "./api.js";
import { append, badge, fill, h, note, section, when } from "./dom.js";

const KINDS = { pending: "warn", approved: "good", denied: "bad", withdrawn: "" };
const EXPIRIES = [
  ["", "never"],
  [String(7 * 86400), "in 7 days"],
  [String(30 * 86400), "in 30 days"],
  [String(90 * 86400), "in 90 days"],
  [String(365 * 86400), "in a year"],
];

export async function accessPage(view) {
  const status = h("div", { id: "access-status", role: "status", "aria-live": "polite" });
  const inbox = h("div", { id: "access-inbox" });
  const mine = h("div", { id: "access-mine" });
  const target = new URLSearchParams(location.hash.split("?")[1] || "").get("target") || "";
  const reload = async () => {
    await Promise.all([
      load(inbox, "inbox", (r) => inboxTable(r, act)),
      load(mine, "mine", (r) => mineTable(r, act)),
    ]);
  };
  const act = async (label, run) => {
    fill(status);
    try {
      const done = await run();
      fill(status, note(`${label}: request ${done.id} is ${done.status}.`, "ok"));
    } catch (error) {
      fill(status, note(error.describe ? error.describe() : String(error), "error"));
    }
    await reload();
  };
  append(
    view,
    h("h1", {}, "Access requests"),
    status,
    section("To your teams", h("p", { class: "muted" }, "Requests for the models and endpoints of the teams you administer."), inbox),
    section("Yours", mine),
    section("Ask for access", askForm(target, act)),
  );
  await reload();
}

async function load(into, scope, render) {
  try {
    const rows = await api("/api/v1/access-requests", { params: { scope } });
    fill(into, rows.length ? render(rows) : note(scope === "inbox" ? "No requests to your teams." : "You have asked for nothing yet."));
  } catch (error) {
    fill(into, note(error.describe ? error.describe() : String(error), "error"));
  }
}

function what(r) {
  return [h("strong", {}, r.resource_name), h("div", { class: "muted" }, `${r.resource_kind} of team ${r.owner_team}`)];
}

function outcome(r) {
  return [
    badge(r.status, KINDS[r.status] || ""),
    r.decision_reason ? h("div", { class: "muted" }, r.decision_reason) : null,
    r.grant_expires_at ? h("div", { class: "muted" }, "until ", when(r.grant_expires_at)) : null,
    r.decided_by ? h("div", { class: "muted" }, `by ${r.decided_by}`) : null,
  ];
}

function inboxTable(rows, act) {
  return h("table", { id: "access-inbox-table" },
    h("thead", {}, h("tr", {}, ["Request", "For", "Asked by", "Why", "Asked", "Status", "Decide"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((r) => h("tr", { "data-request-id": r.id },
      h("td", {}, String(r.id)),
      h("td", {}, what(r), h("div", { class: "muted" }, `for team ${r.team}`)),
      h("td", {}, r.requester),
      h("td", {}, r.reason),
      h("td", {}, when(r.created_at)),
      h("td", {}, outcome(r)),
      h("td", {}, r.status === "pending" ? decideControls(r, act) : "—")))));
}

function decideControls(r, act) {
  const expiry = h("select", { "aria-label": `Grant of request ${r.id} expires` }, EXPIRIES.map(([value, label]) => h("option", { value }, label)));
  const reason = h("input", { type: "text", maxlength: 2000, placeholder: "reason (required to deny)", "aria-label": `Reason for request ${r.id}` });
  const approve = h("button", {
    type: "button",
    onclick: () => {
      const seconds = expiry.value ? Number(expiry.value) : null;
      const until = seconds ? ` until ${new Date(Date.now() + seconds * 1000).toLocaleDateString()}` : " for good";
      confirmThen(`Approve request ${r.id}? Team ${r.team} may call ${r.resource_name}${until}.`, "Approve", () =>
        act("Approved", () => api(`/api/v1/access-requests/${r.id}/approve`, {
          method: "POST",
          body: { reason: reason.value.trim(), expires_in_s: seconds },
        })));
    },
  }, "Approve");
  const deny = h("button", {
    type: "button",
    class: "secondary",
    onclick: () => {
      const why = reason.value.trim();
      if (!why) {
        reason.setCustomValidity("Say why the request is denied.");
        reason.reportValidity();
        return;
      }
      reason.setCustomValidity("");
      confirmThen(`Deny request ${r.id} of team ${r.team} for ${r.resource_name}? ${r.requester} will read: “${why}”`, "Deny", () =>
        act("Denied", () => api(`/api/v1/access-requests/${r.id}/deny`, { method: "POST", body: { reason: why } })));
    },
  }, "Deny");
  reason.addEventListener("input", () => reason.setCustomValidity(""));
  return h("div", { class: "correct" }, expiry, reason, approve, deny);
}

function mineTable(rows, act) {
  return h("table", { id: "access-mine-table" },
    h("thead", {}, h("tr", {}, ["Request", "For", "Team", "Why", "Asked", "Outcome", ""].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((r) => h("tr", { "data-request-id": r.id },
      h("td", {}, String(r.id)),
      h("td", {}, what(r)),
      h("td", {}, r.team),
      h("td", {}, r.reason),
      h("td", {}, when(r.created_at)),
      h("td", {}, outcome(r)),
      h("td", {}, r.status === "pending"
        ? h("button", {
          type: "button",
          class: "secondary",
          onclick: () => confirmThen(`Withdraw request ${r.id} for ${r.resource_name}?`, "Withdraw", () =>
            act("Withdrawn", () => api(`/api/v1/access-requests/${r.id}/withdraw`, { method: "POST" }))),
        }, "Withdraw")
        : null)))));
}

function askForm(target, act) {
  const name = h("input", { name: "target", required: true, maxlength: 128, value: target });
  const team = h("input", { name: "team", required: true, maxlength: 128 });
  const reason = h("input", { name: "reason", required: true, maxlength: 2000 });
  const form = h("form", {
    class: "filters",
    id: "access-ask",
    onsubmit: (event) => {
      event.preventDefault();
      const body = { target: name.value.trim(), team: team.value.trim(), reason: reason.value.trim() };
      confirmThen(`Ask for predict access to ${body.target} for team ${body.team}?`, "Ask", () =>
        act("Asked", async () => {
          const made = await api("/api/v1/access-requests", { method: "POST", body });
          reason.value = "";
          return made;
        }));
    },
  },
  h("label", {}, "Model or endpoint", name),
  h("label", {}, "For your team", team),
  h("label", {}, "Why", reason),
  h("button", { type: "submit" }, "Ask"));
  return form;
}

/** A modal dialog asking to confirm `question`; `run` only when confirmed. */
function confirmThen(question, verb, run) {
  const dialog = h("dialog", { class: "confirm", "aria-label": `${verb}?` });
  const close = () => {
    dialog.close();
    dialog.remove();
  };
  append(dialog,
    h("p", {}, question),
    h("div", { class: "correct" },
      h("button", { type: "button", onclick: () => { close(); run(); } }, verb),
      h("button", { type: "button", class: "secondary", onclick: close }, "Cancel")));
  dialog.addEventListener("cancel", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}
