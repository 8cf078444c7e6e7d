// Inbox: the messages an endpoint delivered to a team; acknowledge them, or reroute one (a correction).

import { api, quote } from "./api.js";
import { append, badge, fill, h, note, when } from "./dom.js";

const PAGE = 100;
const REFRESH_MS = 3000;

function textOf(message) {
  const inputs = message.inputs || {};
  const found = Object.values(inputs).find((v) => typeof v === "string");
  return found === undefined ? JSON.stringify(inputs) : found;
}

function confidenceOf(message) {
  const value = (message.answer || {}).confidence;
  return typeof value === "number" ? value.toFixed(2) : "";
}

function deliveryOf(message) {
  const kind = message.status === "dead" ? "bad" : message.status === "delivered" ? "good" : "";
  const shown = message.status === "delivered" && message.delivered_to ? `delivered (${message.delivered_to})` : message.status;
  return h("span", {}, badge(shown, kind), message.last_error && message.status !== "delivered" ? h("small", { class: "error-text" }, ` ${message.last_error}`) : null);
}

export async function inboxPage(view, chosen) {
  append(view, h("h1", {}, "Inbox"));
  const teams = await api("/api/v1/teams");
  const names = teams.map((t) => t.name);
  const picker = h("select", { id: "inbox-team", name: "team" }, names.map((n) => h("option", { value: n }, n)));
  const status = h("div", { id: "inbox-status" });
  const rows = h("tbody");
  const list = h("table", { id: "inbox-messages", hidden: true },
    h("thead", {}, h("tr", {}, ["When", "Text", "Category", "Confidence", "Delivery", "", ""].map((c) => h("th", { scope: "col" }, c)))),
    rows);
  const dialog = h("dialog", { id: "reroute-dialog" });
  append(view, h("form", { class: "filters", onsubmit: (e) => e.preventDefault() }, h("label", { for: "inbox-team" }, "Team"), picker), status, list, dialog);
  if (!names.length) {
    fill(status, note("No teams yet."));
    return undefined;
  }
  picker.value = names.includes(chosen) ? chosen : names[0];
  let latest = 0;

  async function load() {
    const team = picker.value;
    const mine = ++latest;
    let page;
    try {
      page = await api(`/api/v1/teams/${quote(team)}/inbox`, { params: { limit: PAGE } });
    } catch (error) {
      if (mine === latest) fill(status, note(error.describe ? error.describe() : error.message, "error"));
      return;
    }
    if (mine !== latest) return;
    const c = page.counts || {};
    fill(status, page.messages.length ? `${c.open || 0} open, ${c.pending || 0} pending delivery, ${c.dead || 0} dead-lettered` : note(`No messages for ${team} yet.`));
    list.hidden = !page.messages.length;
    fill(rows, page.messages.map((m) => row(team, m)));
  }

  function row(team, m) {
    const done = m.acknowledged_at !== null;
    const moved = m.rerouted_to !== null;
    const ack = h("button", { type: "button", class: "secondary", "data-action": "ack", disabled: done || moved,
      onclick: async () => {
        ack.disabled = true;
        try {
          await api(`/api/v1/teams/${quote(team)}/inbox/${m.id}/ack`, { method: "POST" });
        } catch (error) {
          ack.disabled = false;
          fill(status, note(error.describe ? error.describe() : error.message, "error"));
          return;
        }
        await load();
      } }, done ? `Acknowledged by ${m.acknowledged_by}` : "Acknowledge");
    const reroute = moved
      ? h("span", { class: "rerouted" }, `Rerouted to ${m.rerouted_to}`)
      : h("button", { type: "button", class: "secondary", "data-action": "reroute", onclick: () => ask(team, m) }, "Reroute to…");
    return h("tr", { "data-id": String(m.id), "data-key": m.key },
      h("td", {}, when(m.created_at)),
      h("td", { class: "text" }, textOf(m), m.rerouted_from ? h("small", {}, ` (from ${m.rerouted_from})`) : null),
      h("td", { class: "category" }, String(m.label ?? "")),
      h("td", {}, confidenceOf(m)),
      h("td", { class: "delivery" }, deliveryOf(m)),
      h("td", {}, ack),
      h("td", {}, reroute));
  }

  function ask(team, m) {
    const others = names.filter((n) => n !== team);
    const to = h("select", { id: "reroute-to", name: "to" }, others.map((n) => h("option", { value: n }, n)));
    const correctsTeam = m.learns === m.routed_by; // the model predicts the team itself: the team is the label
    const label = h("input", { id: "reroute-label", name: "label", placeholder: `not ${m.label ?? ""}`, required: !correctsTeam, size: 24 });
    const error = h("p", { class: "error-text", id: "reroute-error" });
    const cancel = h("button", { type: "button", class: "secondary", onclick: () => dialog.close() }, "Cancel");
    const form = h("form", { method: "dialog", onsubmit: async (event) => {
      event.preventDefault();
      const body = { to: to.value };
      if (label.value.trim()) body.label = label.value.trim();
      try {
        await api(`/api/v1/teams/${quote(team)}/inbox/${m.id}/reroute`, { method: "POST", body });
      } catch (failure) {
        fill(error, failure.describe ? failure.describe() : failure.message);
        return;
      }
      dialog.close();
      await load();
    } },
    h("h2", {}, "Reroute this message?"),
    h("p", {}, `“${textOf(m)}” goes to the chosen team's inbox, and the right ${m.learns} is sent as feedback: the next retrain learns from it.`),
    h("p", {}, h("label", { for: "reroute-to" }, "Team "), to),
    h("p", {}, h("label", { for: "reroute-label" }, `Right ${m.learns} `), label),
    error,
    h("p", {}, h("button", { type: "submit", id: "reroute-confirm" }, "Reroute"), " ", cancel));
    fill(dialog, form);
    dialog.showModal();
  }

  picker.addEventListener("change", () => {
    history.replaceState(null, "", `#/inbox/${quote(picker.value)}`);
    load();
  });
  await load();
  const timer = setInterval(() => { if (!dialog.open) load(); }, REFRESH_MS);
  return () => clearInterval(timer);
}
