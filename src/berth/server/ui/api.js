// The public REST API, called from the browser (with the session's bearer token when one is set).

const TOKEN_KEY = "berth.token";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }

  /** The route or resource is not there (a server without that API answers 404). */
  get missing() {
    return this.status === 404;
  }

  get denied() {
    return this.status === 401 || this.status === 403;
  }

  describe() {
    if (this.status === 401) return `401 ${this.code}: ${this.message} — enter a token in the box at the top.`;
    if (this.status === 403) return `403 ${this.code}: ${this.message} — this token may not see it.`;
    return this.status ? `${this.status} ${this.code}: ${this.message}` : this.message;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** `path` (with query `params`, empty values left out) → its JSON body; ApiError otherwise. */
export async function api(path, { method = "GET", body, params } = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") query.set(key, String(value));
  }
  const headers = { accept: "application/json" };
  if (token()) headers.authorization = `Bearer ${token()}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    const url = query.toString() ? `${path}?${query}` : path;
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw new ApiError(0, "unreachable", `the server cannot be reached (${error.message})`);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = data && data.error;
    const code = (error && error.code) || (data && data.code) || "error";
    const message = (error && error.message) || (typeof error === "string" ? error : "") || response.statusText;
    throw new ApiError(response.status, code, message);
  }
  return data;
}

export function quote(name) {
  return encodeURIComponent(name);
}
