// The console's one way to the API: the same endpoints and the same bearer token as curl.
// The token lives in this module's memory only (no cookie, no storage): a reload signs in again,
// the page's place is kept in the URL. It is refreshed while the page is used and revoked on
// sign-out.

const TOKEN_PATH = '/omlusers/api/oauth2/v1/token';
const REVOKE_PATH = '/omlusers/api/oauth2/v1/token/revoke';
// Refresh when less than this share of the token's lifetime is left and the page was used since.
const REFRESH_WHEN_LEFT = 0.25;
// Looked at every 15 s, or ten times per lifetime when tokens are short-lived.
const CHECK_EVERY_MS = 15000;

const session = { token: null, user: null, roles: [], expiresAt: 0, lifetimeMs: 0, usedAt: 0, timer: null };
const listeners = { signedOut: [] };

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || [];
  }
}

export function onSignedOut(callback) {
  listeners.signedOut.push(callback);
}

export function signedIn() {
  return session.token !== null && Date.now() < session.expiresAt;
}

export function user() {
  return { name: session.user, roles: session.roles, admin: session.roles.includes('admin') };
}

export function token() {
  return session.token;
}

export function noteUse() {
  session.usedAt = Date.now();
}

function claimsOf(accessToken) {
  // Read for display only (who is signed in, whether to show the Users page); the service decides.
  try {
    const part = accessToken.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')));
  } catch {
    return {};
  }
}

function keep(answer) {
  const claims = claimsOf(answer.accessToken);
  session.token = answer.accessToken;
  session.user = claims.sub || '';
  session.roles = Array.isArray(claims.roles) ? claims.roles : [];
  session.lifetimeMs = answer.expiresIn * 1000;
  session.expiresAt = Date.now() + session.lifetimeMs;
  session.usedAt = Date.now();
  if (session.timer !== null) clearInterval(session.timer);
  session.timer = setInterval(check, Math.max(1000, Math.min(CHECK_EVERY_MS, session.lifetimeMs / 10)));
}

function forget(reason) {
  session.token = null;
  session.user = null;
  session.roles = [];
  session.expiresAt = 0;
  if (session.timer !== null) clearInterval(session.timer);
  session.timer = null;
  for (const callback of listeners.signedOut) callback(reason);
}

async function check() {
  if (!session.token) return;
  const left = session.expiresAt - Date.now();
  if (left <= 0) {
    forget('Your session expired; sign in again.');
    return;
  }
  const usedSinceIssue = session.usedAt > session.expiresAt - session.lifetimeMs;
  if (left < session.lifetimeMs * REFRESH_WHEN_LEFT && usedSinceIssue) {
    try {
      await refresh();
    } catch (error) {
      // past the 8 hours a login may be refreshed, or revoked elsewhere: the token runs out as issued
      if (error instanceof ApiError && error.status === 401) forget(error.message);
    }
  }
}

async function parse(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function failure(status, body) {
  if (body && typeof body === 'object' && body.code) return new ApiError(status, body.code, body.message, body.details);
  return new ApiError(status, `HTTP_${status}`, typeof body === 'string' && body ? body : `The service answered ${status}.`);
}

export async function signIn(username, password) {
  const response = await fetch(TOKEN_PATH, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ grant_type: 'password', username, password }),
    credentials: 'omit',
    cache: 'no-store',
  });
  const body = await parse(response);
  if (!response.ok) throw failure(response.status, body);
  keep(body);
}

export async function refresh() {
  const response = await fetch(TOKEN_PATH, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${session.token}` },
    body: JSON.stringify({ grant_type: 'refresh_token', refresh_token: session.token }),
    credentials: 'omit',
    cache: 'no-store',
  });
  const body = await parse(response);
  if (!response.ok) throw failure(response.status, body);
  keep(body);
}

export async function signOut() {
  const current = session.token;
  if (current) {
    try {
      await fetch(REVOKE_PATH, {
        method: 'POST',
        headers: { Authorization: `Bearer ${current}` },
        credentials: 'omit',
        cache: 'no-store',
      });
    } finally {
      forget('You signed out.');
    }
  }
}

// One API call. JSON in (``json``) or any body (``body``); JSON, text or a Response (``raw``) out.
export async function call(method, path, { json, body, headers, raw } = {}) {
  if (!signedIn()) {
    forget('Sign in to continue.');
    throw new ApiError(401, 'UNAUTHORIZED', 'Sign in to continue.');
  }
  const sent = { Authorization: `Bearer ${session.token}`, Accept: 'application/json', ...(headers || {}) };
  let payload = body;
  if (json !== undefined) {
    sent['Content-Type'] = 'application/json';
    payload = JSON.stringify(json);
  }
  noteUse();
  const response = await fetch(path, { method, headers: sent, body: payload, credentials: 'omit', cache: 'no-store' });
  if (!response.ok) {
    const error = failure(response.status, await parse(response));
    if (response.status === 401) forget(error.message);
    throw error;
  }
  if (raw) return response;
  return response.status === 204 ? null : parse(response);
}

// A multipart upload with progress (fetch reports none for request bodies): ``onProgress(sent, total)``.
export function upload(path, form, onProgress) {
  noteUse();
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.setRequestHeader('Authorization', `Bearer ${session.token}`);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    });
    xhr.addEventListener('load', () => {
      let body = null;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        body = xhr.responseText;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else {
        const error = failure(xhr.status, body);
        if (xhr.status === 401) forget(error.message);
        reject(error);
      }
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'NETWORK_ERROR', 'The upload did not reach the service.')));
    xhr.send(form);
  });
}

// ``$`` in job ids and the like must travel percent-encoded in a path segment.
export function seg(value) {
  return encodeURIComponent(value);
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

// A list answer's "next" link says whether there is another page.
export function hasNext(answer) {
  return Array.isArray(answer.links) && answer.links.some((l) => l.rel === 'next');
}
