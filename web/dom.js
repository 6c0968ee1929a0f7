// Tiny DOM helpers. Text always goes in as text nodes (never as markup), so
// nothing from a log or a build name can inject HTML.

// h('a', {href: '/x', class: 'y', onclick: fn}, 'text', childNode, ...)
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
}

const STATUS_LABEL = {
  pending: 'pending',
  running: 'running',
  success: 'passed',
  failure: 'failed',
  canceled: 'canceled',
};

// A status badge: colour comes from the class, the word says it too (colour
// is never the only signal).
export function statusBadge(status) {
  return h('span', { class: `badge st-${status}` }, STATUS_LABEL[status] || status);
}

export function formatClock(ms) {
  const d = new Date(ms);
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

export function formatDateTime(ms) {
  if (!ms) return '';
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

// "+1:02.345" (or "+1:02:03.456" past an hour) since a start time.
export function formatOffset(ms) {
  const neg = ms < 0;
  let v = Math.abs(Math.round(ms));
  const milli = v % 1000;
  v = Math.floor(v / 1000);
  const s = v % 60;
  const m = Math.floor(v / 60) % 60;
  const hr = Math.floor(v / 3600);
  const p = (n, w = 2) => String(n).padStart(w, '0');
  const body = hr ? `${hr}:${p(m)}:${p(s)}` : `${m}:${p(s)}`;
  return `${neg ? '-' : '+'}${body}.${p(milli, 3)}`;
}

// Duration between two times, or from start to now while running.
export function elapsed(startMs, endMs) {
  if (!startMs) return null;
  return (endMs || Date.now()) - startMs;
}
