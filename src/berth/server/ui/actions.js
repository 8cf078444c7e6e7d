// What every action of the app shares: the caller's rights on a thing, a confirmation dialog that
// shows what will change before anything is sent, the server's answer shown plainly (a refusal
// included), notices, and the page redrawn in place afterwards (no reload).
//
// Buttons are offered only to a caller the server would allow (GET /api/v1/permissions/{name});
// the server decides again on every action, and its refusal is shown in the dialog.

import { ApiError, api, quote } from "./api.js";
import { h } from "./dom.js";

/** The event a page listens to (app.js) to redraw itself after a change. */
export const REFRESH = "berth:refresh";

/** The actions (strings such as "alias", "endpoint", "manage") the caller may do on a model or
 * endpoint, as a Set; an empty Set when the server does not say (an error, an older server). */
export async function permissions(name) {
  try {
    const answer = await api(`/api/v1/permissions/${quote(name)}`);
    return new Set(answer.actions || []);
  } catch {
    return new Set();
  }
}

/** An error as one line: the server's status, code and message, and what a refusal means here. */
export function describeFailure(error) {
  if (error instanceof ApiError) {
    if (error.status === 403) return `403 ${error.code}: ${error.message} — this token may not do this.`;
    return error.describe();
  }
  return `Something went wrong: ${error && error.message ? error.message : String(error)}`;
}

/** Redraw the current page from the API (the app's router listens). */
export function refreshPage() {
  window.dispatchEvent(new CustomEvent(REFRESH));
}

function noticeArea() {
  let area = document.getElementById("notices");
  if (!area) {
    area = h("div", { id: "notices", class: "notices", role: "status", "aria-live": "polite" });
    document.body.append(area);
  }
  return area;
}

/** A notice at the top right (kind "ok" or "error"), kept until dismissed; at most 4 are shown. */
export function notify(text, kind = "ok") {
  const area = noticeArea();
  const item = h("p", { class: `notice ${kind}` }, h("span", {}, text),
    h("button", { type: "button", class: "dismiss", "aria-label": "Dismiss", onclick: () => item.remove() }, "×"));
  area.append(item);
  while (area.children.length > 4) area.firstChild.remove();
  return item;
}

/** A small button that opens an action's dialog. */
export function actionButton(label, onclick, attrs = {}) {
  return h("button", { type: "button", class: "action", onclick, ...attrs }, label);
}

/**
 * Ask before acting. Shows `title`, a `summary` sentence and a table of `changes` ([what, now,
 * after] rows), with a reason box (kept in the history and the audit trail); **Cancel** sends
 * nothing. **confirmLabel** calls `run(reason)`: while it runs the buttons are disabled; a failure
 * (the server's refusal included) is shown in the dialog, which stays open; a success closes it,
 * shows `done` (a string, or a function of the result) as a notice and calls `after(result)`
 * (default: redraw the page). Resolves to the result, or null when cancelled.
 */
export function confirmAction({ title, summary, changes = [], confirmLabel = "Confirm", reason = true, run, done, after = refreshPage }) {
  document.getElementById("confirm-dialog")?.remove();
  return new Promise((resolve) => {
    const problem = h("p", { class: "note error", role: "alert", hidden: true });
    const reasonBox = reason ? h("input", { type: "text", id: "confirm-reason", maxlength: 1024, placeholder: "optional: kept in the history and the audit trail" }) : null;
    const confirm = h("button", { type: "submit", class: "confirm" }, confirmLabel);
    const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
    const form = h("form", { method: "dialog" },
      h("h2", { id: "confirm-title" }, title),
      summary ? h("p", {}, summary) : null,
      changes.length
        ? h("table", { class: "changes" },
            h("thead", {}, h("tr", {}, ["Change", "Now", "After"].map((c) => h("th", { scope: "col" }, c)))),
            h("tbody", {}, changes.map(([what, now, next]) => h("tr", {}, h("td", {}, what), h("td", {}, now ?? "—"), h("td", { class: "after" }, next ?? "—")))))
        : null,
      reasonBox ? h("label", { for: "confirm-reason", class: "reason" }, "Reason", reasonBox) : null,
      problem,
      h("div", { class: "dialog-buttons" }, cancel, confirm),
    );
    const dialog = h("dialog", { id: "confirm-dialog", class: "confirm-dialog", "aria-labelledby": "confirm-title" }, form);
    let settled = false;
    const finish = (value) => {
      if (settled) return;
      settled = true;
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    cancel.addEventListener("click", () => finish(null));
    dialog.addEventListener("cancel", () => finish(null)); // Escape
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      confirm.disabled = cancel.disabled = true;
      problem.hidden = true;
      let result;
      try {
        result = await run(reasonBox ? reasonBox.value.trim() : "");
      } catch (error) {
        problem.textContent = describeFailure(error);
        problem.hidden = false;
        confirm.disabled = cancel.disabled = false;
        return;
      }
      finish(result);
      const text = typeof done === "function" ? done(result) : done;
      if (text) notify(text, "ok");
      if (after) after(result);
    });
    document.body.append(dialog);
    dialog.showModal();
    confirm.focus();
  });
}
