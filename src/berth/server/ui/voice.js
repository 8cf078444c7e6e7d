// The Voice: a customer or employee writes about their experience and sees where it was routed.

import { api } from "./api.js";
import { append, facts, fill, h, note, number, percent } from "./dom.js";

export const VOICE_ENDPOINT = "feedback-router";
const LABELS = { category: "Category", team: "Team", confidence: "Confidence" };

export async function voicePage(view) {
  const box = h("textarea", { id: "voice-text", name: "text", required: true, maxlength: 5000 });
  const send = h("button", { type: "submit" }, "Send");
  const answer = h("div", { id: "voice-answer", "aria-live": "polite" });
  const submit = async (event) => {
    event.preventDefault();
    const text = box.value.trim();
    if (!text) {
      fill(answer, note("Write a few words first.", "error"));
      return;
    }
    send.disabled = true;
    fill(answer, note("Sending…"));
    try {
      const result = await api(`/v2/models/${VOICE_ENDPOINT}/infer`, {
        method: "POST",
        body: { inputs: [{ name: "text", datatype: "BYTES", shape: [1], data: [text] }] },
      });
      fill(answer, routed(result));
    } catch (error) {
      fill(answer, note(error.missing
        ? `The ${VOICE_ENDPOINT} endpoint is not available: ${error.describe()}`
        : error.describe ? error.describe() : String(error), "error"));
    } finally {
      send.disabled = false;
    }
  };
  append(view, 
    h("h1", {}, "The Voice"),
    h("p", { class: "muted" }, "Your message goes to the team that can act on it."),
    h("form", { id: "voice-form", onsubmit: submit },
      h("label", { for: "voice-text" }, "Tell us about your experience"), box, h("p", {}, send)),
    answer,
  );
}

function routed(result) {
  const outputs = result.outputs || [];
  const pairs = outputs.map((o) => [LABELS[o.name] || o.name, value(o)]);
  const dl = facts(pairs);
  dl.classList.add("outputs");
  dl.id = "voice-outputs";
  return h("section", { "aria-label": "Where your message went" },
    h("h2", {}, "Routed"), dl,
    h("p", { class: "muted" }, `Answered by ${result.model_name} version ${result.model_version}`, result.id ? ` · reference ${result.id}` : ""));
}

function value(output) {
  const data = Array.isArray(output.data) ? output.data : [output.data];
  if (output.name === "confidence" && typeof data[0] === "number") return percent(data[0]);
  return data.map((v) => (typeof v === "number" ? number(v, 4) : String(v))).join(", ");
}
