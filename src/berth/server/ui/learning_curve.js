// The learning curve on a model page: test accuracy against the number of corrections each version
// was trained on, one line per alias through the versions it pointed to (a retrained model's
// `champion`: the promoted versions; its `challenger`: every round). Drawn from what the page reads
// already: the versions' metrics (`accuracy`, `corrections`, which the retrain job records) and the
// alias history.

import { xyChart } from "./charts.js";
import { h, number, table } from "./dom.js";

export const CORRECTIONS = "corrections";
export const ACCURACY = "accuracy";

function measured(version) {
  const m = (version && version.metrics) || {};
  return Number.isFinite(m[CORRECTIONS]) && Number.isFinite(m[ACCURACY]);
}

/** Per alias (in the order they were first set), the versions it ever pointed to that carry both
 * metrics, by number of corrections: [{name, versions}]; aliases with none are left out. */
export function learningCurves(versions, history) {
  const byNumber = new Map(versions.map((v) => [v.version, v]));
  const pointed = new Map();
  const add = (alias, number) => {
    const version = byNumber.get(number);
    if (!measured(version)) return;
    if (!pointed.has(alias)) pointed.set(alias, new Map());
    pointed.get(alias).set(number, version);
  };
  for (const event of history) if (event.to_version !== null && event.to_version !== undefined) add(event.alias, event.to_version);
  for (const version of versions) for (const alias of version.aliases || []) add(alias, version.version);
  return [...pointed].map(([name, found]) => ({
    name,
    versions: [...found.values()].sort((a, b) => a.metrics[CORRECTIONS] - b.metrics[CORRECTIONS] || a.version - b.version),
  }));
}

/** The section's content, or null when no version carries both metrics with an alias. */
export function learningCurve(versions, history) {
  const curves = learningCurves(versions, history);
  if (!curves.length) return null;
  const chart = xyChart({
    label: "Test accuracy against the number of corrections trained on, per alias",
    xLabel: "corrections",
    yLabel: "accuracy",
    series: curves.map((c) => ({
      name: c.name,
      points: c.versions.map((v) => ({ x: v.metrics[CORRECTIONS], y: v.metrics[ACCURACY], label: `v${v.version}` })),
    })),
  });
  chart.id = "learning-curve";
  const rows = curves.flatMap((c) => c.versions.map((v) => [c.name, `v${v.version}`, number(v.metrics[CORRECTIONS]), number(v.metrics[ACCURACY], 4)]));
  return h("div", { class: "grid2" }, chart, table(null, ["Alias", "Version", "Corrections", "Accuracy"], rows, { id: "learning-curve-points" }));
}
