// The one way pages talk to ehall: JSON in and out, the CSRF token, the one error
// shape, 401 handling and progress for slow calls.
//
//   import { api, ApiError } from '../api.js';
//   const items = await api.get('/items', { query: { size: 8 } });   // → parsed JSON
//   await api.post('/auth/login', { login, password, ... });           // X-CSRF-Token added
//   await api.post('/tax/declarations/7/pay', body, { headers: { 'Idempotency-Key': k } });
//   try { … } catch (e) { if (e instanceof ApiError) fields = e.fields; }
//
// Paths are relative to /api/v1.  Every POST/PUT/PATCH/DELETE carries X-CSRF-Token:
// the token comes from GET /api/v1/session (fetched once, on demand) and any reply that
// carries `csrf` replaces it.  A failure throws ApiError {status, code, message,
// details, fields: {field: message}, retryAfter, requestId}; a network failure has code
// "network".  A 401 `unauthenticated` on a page that needs a session sends the browser
// to the log-in page (pass {noRedirect: true} to handle it yourself).  `progress.busy`
// counts calls in flight ({keepalive: true} lets a call outlive the page) and `progress.slow` turns true when one has taken over 400 ms:
// the shell shows a progress bar from it.
import { reactive } from 'vue';

const BASE = '/api/v1';

export class ApiError extends Error {
  constructor(status, body, headers) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || (status === 0 ? 'network' : 'http_' + status);
    this.details = Array.isArray(e.details) ? e.details : [];
    this.fields = {};
    for (const d of this.details) if (d.field && !(d.field in this.fields)) this.fields[d.field] = d.message;
    this.retryAfter = headers?.get('Retry-After') ?? null;
    this.requestId = headers?.get('X-Request-Id') ?? null;
  }
}

export const progress = reactive({ busy: 0, slow: false });
let slowTimer = null;
function begin() {
  progress.busy++;
  if (!slowTimer) slowTimer = setTimeout(() => (progress.slow = progress.busy > 0), 400);
}
function end() {
  progress.busy = Math.max(0, progress.busy - 1);
  if (progress.busy === 0) {
    clearTimeout(slowTimer);
    slowTimer = null;
    progress.slow = false;
  }
}

let csrf = null;
let onUnauthenticated = null;
/** Called with the ApiError when a call answers 401 unauthenticated (set by the router). */
export function setUnauthenticatedHandler(fn) {
  onUnauthenticated = fn;
}
export function setCsrf(token) {
  if (token) csrf = token;
}

async function ensureCsrf() {
  if (!csrf) await request('GET', '/session');
  return csrf;
}

function url(path, query) {
  let u = BASE + path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
    const s = q.toString();
    if (s) u += (u.includes('?') ? '&' : '?') + s;
  }
  return u;
}

export async function request(method, path, opts = {}) {
  const headers = { ...opts.headers, Accept: 'application/json' };
  const changing = method !== 'GET' && method !== 'HEAD';
  let body;
  if (changing) {
    headers['X-CSRF-Token'] = await ensureCsrf();
    // opts.raw: a File or Blob sent as it is (a raw-body route), else JSON
    headers['Content-Type'] = opts.raw ? opts.raw.type || 'application/octet-stream' : 'application/json';
    body = opts.raw ?? JSON.stringify(opts.body ?? {});
  }
  begin();
  let res;
  try {
    res = await fetch(url(path, opts.query), { method, headers, body, credentials: 'same-origin', keepalive: !!opts.keepalive });
  } catch {
    end();
    throw new ApiError(0, { error: { code: 'network', message: 'network error' } });
  }
  let data = null;
  try {
    const text = await res.text();
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  } finally {
    end();
  }
  if (data && typeof data.csrf === 'string') csrf = data.csrf;
  if (!res.ok) {
    const err = new ApiError(res.status, data, res.headers);
    // A changing call refused for its token: fetch a fresh one and try once more.
    if (err.code === 'csrf' && !opts.retried) {
      csrf = null;
      return request(method, path, { ...opts, retried: true });
    }
    if (res.status === 401 && err.code === 'unauthenticated' && !opts.noRedirect && onUnauthenticated)
      onUnauthenticated(err);
    throw err;
  }
  return data;
}

export const api = {
  get: (path, opts) => request('GET', path, opts),
  post: (path, body, opts) => request('POST', path, { ...opts, body }),
  put: (path, body, opts) => request('PUT', path, { ...opts, body }),
  patch: (path, body, opts) => request('PATCH', path, { ...opts, body }),
  del: (path, body, opts) => request('DELETE', path, { ...opts, body }),
};
