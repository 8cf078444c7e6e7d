// A model's consumers and deprecations (docs/consumers.md): the notice every viewer sees, the
// Consumers table its team's readers see, and the form its maintainers announce a deprecation with.

import { confirmAction } from "./actions.js";
import { ApiError, api, quote } from "./api.js";
import { append, badge, fill, h, note, number, section, table, when } from "./dom.js";

/** The deprecation notice (for anyone who may find the model) and, for its team, the consumers
 * and the announce form; `aliases`: alias -> version, `versions`: the version numbers. */
export async function consumersPanel(view, name, { versions = [], aliases = {} } = {}) {
  const notice = h("div", { id: "deprecation-notice" });
  const consumers = h("div", { id: "consumers" });
  view.prepend(notice);
  append(view, section("Consumers", consumers));
  const refresh = async () => {
    const [deprecations, callers] = await Promise.all([readOr(`/api/v1/models/${quote(name)}/deprecations`, []), readOr(`/api/v1/models/${quote(name)}/consumers`, null)]);
    fill(notice, deprecations.map((d) => banner(name, d, callers !== null ? () => withdraw(name, d, refresh) : null)));
    fill(consumers, callers === null
      ? note("Only the model's team sees who calls it.")
      : [consumerTable(callers), announceForm(name, versions, aliases, refresh)]);
  };
  await refresh();
}

/** The deprecation notice alone, for whoever may find the model or endpoint (its catalog entry:
 * the deprecations route needs only discover); empty when nothing is deprecated. */
export async function deprecationNotice(name, { endpoint = false } = {}) {
  const base = `/api/v1/${endpoint ? "endpoints" : "models"}/${quote(name)}`;
  const deprecations = await readOr(`${base}/deprecations`, []);
  return h("div", { id: "deprecation-notice" }, deprecations.map((d) => banner(name, d, null)));
}

async function readOr(path, fallback) {
  try {
    return await api(path);
  } catch (error) {
    if (error instanceof ApiError && (error.denied || error.missing)) return fallback;
    throw error;
  }
}

function what(name, d) {
  if (d.scope === "version") return `Version ${d.subject} of ${name}`;
  if (d.scope === "alias") return `Alias ${d.subject} of ${name}`;
  return `Endpoint ${name}`;
}

function banner(name, d, onWithdraw) {
  const sunset = new Date(d.sunset_at);
  return h("div", { class: "note warning deprecation", role: "alert" },
    h("strong", {}, `${what(name, d)} is deprecated`),
    `, sunset on ${Number.isNaN(sunset.getTime()) ? d.sunset_at : sunset.toISOString().slice(0, 10)}`,
    d.message ? `: ${d.message}` : ".",
    d.link && /^https?:\/\//.test(d.link) ? [" ", h("a", { href: d.link, rel: "noopener noreferrer" }, "More")] : null,
    onWithdraw ? [" ", h("button", { type: "button", class: "secondary", onclick: onWithdraw }, "Withdraw")] : null);
}

function consumerTable(callers) {
  if (!callers.length) return note("Nobody has called it yet.");
  return table(`${callers.length} consumer${callers.length === 1 ? "" : "s"}`,
    ["Team", "Principal", "Calls", "Last 30 days", "Errors", "Last call", "Versions", "Since deprecation"],
    callers.map((c) => [
      c.team || "—",
      c.principal,
      number(c.calls),
      number(c.calls_30d),
      number(c.errors),
      when(c.last_at),
      c.versions.map((v) => badge(`${v.model}:${v.version}${v.deprecated ? " deprecated" : ""}`, v.deprecated ? "warn" : "")),
      c.deprecated_calls ? h("strong", {}, number(c.deprecated_calls)) : "—",
    ]), { id: "consumers-table" });
}

function announceForm(name, versions, aliases, refresh) {
  const scope = h("select", { id: "deprecate-scope", name: "scope" },
    versions.map((n) => h("option", { value: `version:${n}` }, `version ${n}`)),
    Object.keys(aliases).sort().map((a) => h("option", { value: `alias:${a}` }, `alias ${a}`)));
  const sunset = h("input", { id: "deprecate-sunset", type: "date", required: true });
  const message = h("input", { id: "deprecate-message", type: "text", maxlength: 2000, placeholder: "what to use instead" });
  const link = h("input", { id: "deprecate-link", type: "url", maxlength: 1000, placeholder: "https://…" });
  const status = h("div", { role: "status" });
  const submit = async (event) => {
    event.preventDefault();
    const [kind, subject] = scope.value.split(/:(.*)/s);
    if (!sunset.value) return fill(status, note("Choose the sunset date.", "error"));
    await confirmAction({
      title: `Announce the deprecation of ${kind} ${subject} of ${name}?`,
      summary: `It goes away on ${sunset.value}. Its callers' answers will carry Deprecation and Sunset headers.`,
      changes: [[`${kind} ${subject}`, "served", `deprecated, sunset ${sunset.value}`]],
      confirmLabel: "Announce",
      reason: false,
      run: () => api(`/api/v1/models/${quote(name)}/deprecations`, {
        method: "POST",
        body: { scope: kind, subject, sunset: sunset.value, message: message.value, link: link.value || null },
      }),
      done: () => `Announced: ${kind} ${subject} is deprecated.`,
      after: refresh,
    });
  };
  return h("form", { id: "deprecate-form", class: "filters", onsubmit: submit },
    h("h3", {}, "Announce a deprecation"),
    h("label", { for: "deprecate-scope" }, "What", scope),
    h("label", { for: "deprecate-sunset" }, "Sunset", sunset),
    h("label", { for: "deprecate-message" }, "Message", message),
    h("label", { for: "deprecate-link" }, "Link", link),
    h("button", { type: "submit" }, "Announce deprecation"),
    status);
}

async function withdraw(name, d, refresh) {
  await confirmAction({
    title: `Withdraw the deprecation of ${what(name, d).toLowerCase()}?`,
    changes: [[what(name, d), `deprecated, sunset ${d.sunset_at ? d.sunset_at.slice(0, 10) : "—"}`, "served, no headers"]],
    confirmLabel: "Withdraw",
    reason: false,
    run: () => api(`/api/v1/models/${quote(name)}/deprecations/${quote(d.scope)}/${quote(d.subject)}`, { method: "DELETE" }),
    done: () => "Withdrawn.",
    after: refresh,
  });
}
