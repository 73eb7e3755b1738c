// The console's only way to Ordem: the public JSON API with the user's
// bearer token. Errors come back as ApiError with the API's code, message
// and field messages, in the console's language (Accept-Language).
import { getLang } from './i18n.js';

const TOKEN_KEY = 'ordem.session';

export class ApiError extends Error {
  constructor(status, code, message, fields) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields || null;
  }
}

let session = null;
try { session = JSON.parse(localStorage.getItem(TOKEN_KEY) || 'null'); } catch { session = null; }

export function getSession() { return session; }
export function setSession(s) {
  session = s;
  try {
    if (s) localStorage.setItem(TOKEN_KEY, JSON.stringify(s));
    else localStorage.removeItem(TOKEN_KEY);
  } catch { /* storage off: the session lasts until reload */ }
}

// onUnauthenticated is called when the API says the token is no longer good.
let onUnauthenticated = () => {};
export function setUnauthenticatedHandler(fn) { onUnauthenticated = fn; }

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

function toError(status, body) {
  const e = body && body.error;
  if (e) return new ApiError(status, e.code, e.message, e.fields);
  return new ApiError(status, 'http_' + status, 'HTTP ' + status);
}

// api calls method path with an optional JSON body. opts.idempotent adds
// an Idempotency-Key (POSTs that create or move money); opts.ifMatch an
// If-Match with the version of the order the user saw.
export async function api(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json', 'Accept-Language': getLang() };
  if (session) headers.Authorization = 'Bearer ' + session.token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (opts.idempotent) headers['Idempotency-Key'] = opts.key || newKey();
  if (opts.ifMatch) headers['If-Match'] = '"' + opts.ifMatch + '"';
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, 'network', null);
  }
  if (res.status === 204) return null;
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  if (!res.ok) {
    const err = toError(res.status, data);
    if (res.status === 401 && session && path !== '/v1/auth/login') onUnauthenticated(err);
    throw err;
  }
  return data;
}

// fetchBlob GETs path with the bearer token and returns the body as a
// Blob (evidence files, for previews through object URLs).
export async function fetchBlob(path) {
  const headers = { 'Accept-Language': getLang() };
  if (session) headers.Authorization = 'Bearer ' + session.token;
  let res;
  try {
    res = await fetch(path, { headers, cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'network', null);
  }
  if (!res.ok) {
    let data = null;
    try { data = await res.json(); } catch { data = null; }
    const err = toError(res.status, data);
    if (res.status === 401 && session) onUnauthenticated(err);
    throw err;
  }
  return res.blob();
}

// upload posts a multipart form with XMLHttpRequest, whose upload events
// report progress (fetch has none): onProgress(loaded, total).
export function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    if (session) xhr.setRequestHeader('Authorization', 'Bearer ' + session.token);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('Accept-Language', getLang());
    xhr.upload.addEventListener('progress', (e) => { if (e.lengthComputable) onProgress(e.loaded, e.total); });
    xhr.addEventListener('load', () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { data = null; }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(toError(xhr.status, data));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'network', null)));
    xhr.send(form);
  });
}
