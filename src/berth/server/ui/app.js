// The web app's shell: hash routing to one page at a time, and the token box.

import { REFRESH } from "./actions.js";
import { accessPage } from "./access.js";
import { ApiError, setToken, token } from "./api.js";
import { clear, h, note } from "./dom.js";
import { catalogEntryPage, catalogPage, modelPage, versionPage } from "./catalog.js";
import { endpointPage, endpointsPage } from "./endpoints.js";
import { inboxPage } from "./inbox.js";
import { jobsPage } from "./jobs.js";
import { monitorIndexPage, monitorPage } from "./monitor.js";
import { recordsPage } from "./records.js";
import { voicePage } from "./voice.js";

const ROUTES = [
  [/^#?\/?$/, "catalog", catalogPage],
  [/^#\/catalog$/, "catalog", catalogPage],
  [/^#\/catalog\/([^/]+)$/, "catalog", catalogEntryPage],
  [/^#\/models\/([^/]+)$/, "catalog", modelPage],
  [/^#\/models\/([^/]+)\/versions\/([^/]+)$/, "catalog", versionPage],
  [/^#\/endpoints$/, "endpoints", endpointsPage],
  [/^#\/endpoints\/([^/]+)$/, "endpoints", endpointPage],
  [/^#\/monitor$/, "monitor", monitorIndexPage],
  [/^#\/monitor\/([^/]+)$/, "monitor", monitorPage],
  [/^#\/records$/, "records", recordsPage],
  [/^#\/voice$/, "voice", voicePage],
  [/^#\/jobs$/, "jobs", jobsPage],
  [/^#\/inbox$/, "inbox", inboxPage],
  [/^#\/inbox\/([^/]+)$/, "inbox", inboxPage],
  [/^#\/access$/, "access", accessPage],
];

let leave = null;
let visit = 0;

async function show() {
  const main = document.getElementById("main");
  if (leave) leave();
  leave = null;
  const current = ++visit;
  const hash = location.hash.split("?")[0];
  const found = ROUTES.find(([pattern]) => pattern.test(hash));
  for (const a of document.querySelectorAll("nav a")) {
    if (found && a.dataset.page === found[1]) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  clear(main);
  if (!found) {
    main.append(h("h1", {}, "Not found"), note(`No page at ${hash}.`, "error"));
    return;
  }
  const [pattern, , page] = found;
  const view = h("div", { class: "page" });
  main.append(view);
  try {
    const params = pattern.exec(hash).slice(1).map(decodeURIComponent);
    const cleanup = await page(view, ...params);
    if (current === visit) leave = typeof cleanup === "function" ? cleanup : null;
    else if (typeof cleanup === "function") cleanup();
  } catch (error) {
    if (current !== visit) return;
    view.append(note(error instanceof ApiError ? error.describe() : `Something went wrong: ${error.message}`, "error"));
  }
}

function tokenBox() {
  const form = document.getElementById("token-form");
  const input = document.getElementById("token-input");
  input.value = token();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setToken(input.value.trim());
    show();
  });
  document.getElementById("token-clear").addEventListener("click", () => {
    input.value = "";
    setToken("");
    show();
  });
}

tokenBox();
window.addEventListener("hashchange", show);
window.addEventListener(REFRESH, show); // after an action: the page redrawn from the API, no reload
show();
