// The REST client (docs/protocol.md §2). Every refusal becomes an ApiError carrying the server's
// stable `code`, so screens branch on codes and show catalogue strings, never server prose.

export class ApiError extends Error {
  /** @param {string} code @param {string} message @param {object} [details] @param {number} [status] */
  constructor(code, message, details = {}, status = 0) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.details = details;
    this.status = status;
  }
}

/** A network failure (offline, server unreachable) is its own code, so the UI can say "offline". */
export const OFFLINE = "offline";

export class Api {
  /** @param {string} base origin of the server ("" = this page's origin) */
  constructor(base = "") {
    this.base = base;
    /** @type {string|null} */
    this.token = null;
  }

  /** @param {string} method @param {string} path @param {any} [body] */
  async call(method, path, body) {
    const headers = { Accept: "application/json" };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    let payload;
    if (body instanceof Blob || body instanceof Uint8Array) {
      headers["Content-Type"] = "application/octet-stream";
      payload = body;
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(this.base + path, { method, headers, body: payload, credentials: "omit", cache: "no-store" });
    } catch (err) {
      throw new ApiError(OFFLINE, String(err?.message || err));
    }
    return readResponse(resp);
  }

  get(path) {
    return this.call("GET", path);
  }
  post(path, body = {}) {
    return this.call("POST", path, body);
  }
  put(path, body) {
    return this.call("PUT", path, body);
  }
  patch(path, body) {
    return this.call("PATCH", path, body);
  }
  delete(path) {
    return this.call("DELETE", path);
  }
}

/** @param {Response} resp */
async function readResponse(resp) {
  const type = resp.headers.get("Content-Type") || "";
  if (!type.startsWith("application/json")) {
    if (resp.ok) return new Uint8Array(await resp.arrayBuffer());
    throw new ApiError("internal", `HTTP ${resp.status}`, {}, resp.status);
  }
  const data = await resp.json();
  if (!resp.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(err.code || "internal", err.message || `HTTP ${resp.status}`, err.details || {}, resp.status);
  }
  return data;
}
