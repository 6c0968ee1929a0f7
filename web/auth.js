// The read token the UI sends with every API request (docs/api.md,
// "Authentication").
//
// Where it comes from: the page's URL (`#token=lst_…`, what `logstream demo`
// prints, or `?access_token=lst_…`), else what the user pasted into the
// "needs a token" box, else what this browser kept from an earlier visit.
// It is kept in sessionStorage (this tab) and localStorage (later visits),
// and removed from the visible URL at once so it does not stay in the
// address bar, the history or a copied link.
//
// How it is sent: `Authorization: Bearer` on fetch; `?access_token=` where a
// header cannot be set (EventSource, the raw-log download link).

const KEY = 'logstream.token';
let token = null;
const listeners = new Set();

function load() {
  for (const store of [sessionStorage, localStorage]) {
    try {
      const t = store.getItem(KEY);
      if (t) return t;
    } catch (e) {
      /* storage disabled: the token lives for this page only */
    }
  }
  return null;
}

export function setToken(t) {
  token = t ? t.trim() : null;
  for (const store of [sessionStorage, localStorage]) {
    try {
      if (token) store.setItem(KEY, token);
      else store.removeItem(KEY);
    } catch (e) {
      /* as above */
    }
  }
}

export function getToken() {
  return token;
}

// Takes a token from the URL (and removes it from the address bar), else
// loads the kept one. Call once, before anything talks to the API.
export function initToken() {
  const url = new URL(location.href);
  let found = null;
  if (url.searchParams.has('access_token')) {
    found = url.searchParams.get('access_token');
    url.searchParams.delete('access_token');
  }
  const m = /^#(?:(.*)&)?token=([^&]*)(?:&(.*))?$/.exec(url.hash);
  if (m) {
    found = decodeURIComponent(m[2]);
    const rest = [m[1], m[3]].filter(Boolean).join('&');
    url.hash = rest ? `#${rest}` : '';
  }
  if (found) {
    setToken(found);
    history.replaceState(history.state, '', `${url.pathname}${url.search}${url.hash}`);
  } else {
    token = load();
  }
}

// fetch() with the token as a bearer header. A 401/403 answer is reported to
// onRefused listeners (the page shows the token box) and returned as it is.
export async function apiFetch(url, opts = {}) {
  const headers = new Headers(opts.headers || {});
  if (token && !headers.has('Authorization')) headers.set('Authorization', `Bearer ${token}`);
  const resp = await fetch(url, { ...opts, headers });
  if (resp.status === 401 || resp.status === 403) {
    let body = null;
    try {
      body = await resp.clone().json();
    } catch (e) {
      body = null;
    }
    for (const fn of listeners) fn({ status: resp.status, code: body && body.code, message: body && body.error, url });
  }
  return resp;
}

// url with ?access_token= added (EventSource, download links).
export function withToken(url) {
  if (!token) return url;
  return `${url}${url.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(token)}`;
}

export function onRefused(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
