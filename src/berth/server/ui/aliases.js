// A model's aliases with their actions: promote a version to an alias (create or move it) and roll
// an alias back to the version it pointed at before its newest move (from the alias history).

import { actionButton, confirmAction, permissions } from "./actions.js";
import { api, quote } from "./api.js";
import { h, note, table } from "./dom.js";

/** The version `alias` pointed at before its newest move (null: it never moved, or was removed). */
export function previousVersion(history, alias) {
  const moves = history.filter((e) => e.alias === alias);
  const newest = moves[moves.length - 1];
  return newest && newest.from_version !== null && newest.from_version !== undefined ? newest.from_version : null;
}

function setAlias(model, alias, version, reason) {
  return api(`/api/v1/models/${quote(model)}/aliases/${quote(alias)}`, { method: "PUT", body: { version, reason } });
}

/** The section's content: the aliases (with **Roll back** each) and the promotion form, both only
 * for a caller who may move aliases (`alias`: a maintainer of the model's team). */
export async function aliasSection(model, versions, history) {
  const rights = await permissions(model.name);
  const may = rights.has("alias");
  const aliases = Object.entries(model.aliases || {});
  const rows = aliases.map(([alias, version]) => {
    const before = previousVersion(history, alias);
    const cells = [alias, `version ${version}`, before === null ? "—" : `version ${before}`];
    if (may) {
      cells.push(before === null || before === version
        ? h("span", { class: "muted" }, "nothing to roll back to")
        : actionButton(`Roll back ${alias}`, () => rollBackAlias(model.name, alias, version, before)));
    }
    return cells;
  });
  return [
    aliases.length
      ? table(null, ["Alias", "Points at", "Before its last move", ...(may ? [""] : [])], rows, { id: "aliases" })
      : note("No aliases."),
    may ? promoteForm(model, versions) : h("p", { class: "muted", id: "alias-rights" }, "Moving an alias needs the maintainer role in team ", model.team, "."),
  ];
}

/** Confirm, then point `model`@`alias` (now at version `current`, undefined: new) at `version`. */
export function promoteAlias(model, alias, version, current) {
  return confirmAction({
    title: `Promote version ${version} to ${alias}`,
    summary: current === undefined
      ? `Create the alias ${model}@${alias}, pointing at version ${version}.`
      : `Move ${model}@${alias}: endpoints and callers that use the alias follow it.`,
    changes: [[`alias ${alias}`, current === undefined ? "does not exist" : `version ${current}`, `version ${version}`]],
    confirmLabel: "Promote",
    run: (reason) => setAlias(model, alias, version, reason),
    done: `${model}@${alias} now points at version ${version}.`,
  });
}

/** Confirm, then point `model`@`alias` back at `before`, the version it pointed at before its last move. */
export function rollBackAlias(model, alias, current, before) {
  return confirmAction({
    title: `Roll back ${alias}`,
    summary: `Point ${model}@${alias} back at the version it pointed at before its last move. Endpoints and callers that use the alias follow it.`,
    changes: [[`alias ${alias}`, `version ${current}`, `version ${before}`]],
    confirmLabel: "Roll back",
    run: (reason) => setAlias(model, alias, before, reason || `rollback of ${alias} from version ${current}`),
    done: `${model}@${alias} rolled back to version ${before}.`,
  });
}

function promoteForm(model, versions) {
  const numbers = [...versions].map((v) => v.version).sort((a, b) => b - a);
  const versionSelect = h("select", { id: "promote-version" }, numbers.map((n) => h("option", { value: n }, `version ${n}`)));
  const known = Object.keys(model.aliases || {});
  const aliasInput = h("input", { id: "promote-alias", list: "promote-aliases", required: true, maxlength: 128, value: known.includes("production") ? "production" : known[0] || "" });
  const choices = h("datalist", { id: "promote-aliases" }, known.map((a) => h("option", { value: a })));
  const submit = (event) => {
    event.preventDefault();
    const alias = aliasInput.value.trim();
    const version = Number(versionSelect.value);
    if (!alias || !version) return;
    promoteAlias(model.name, alias, version, (model.aliases || {})[alias]);
  };
  return h("form", { class: "filters", id: "promote-form", onsubmit: submit },
    h("label", { for: "promote-version" }, "Version to promote", versionSelect),
    h("label", { for: "promote-alias" }, "To alias", aliasInput), choices,
    h("button", { type: "submit" }, "Promote…"));
}
