// The builds list: newest first, status, duration, live updates.
//
// Live, without polling: the page follows GET /api/v1/events (SSE: `build`
// with the build object on every create and status change, for the whole
// server). It reads the list once the stream says `ready` (so nothing that
// happens between the read and the subscription is lost), and again after a
// `reset` (the server could not replay what a reconnecting stream missed).
// Builds known from events win over the list read: they are at least as new.

import { h, clear, statusBadge, formatDateTime, elapsed } from './dom.js';
import { formatDuration } from './groups.js';
import { errorText } from './logstore.js';
import { apiFetch, withToken } from './auth.js';

export class BuildsPage {
  constructor(root, opts = {}) {
    this.root = root;
    this.limit = opts.limit || 50;
    this.builds = new Map(); // id -> build
    this.rows = new Map(); // id -> tr
    this.fromEvents = new Set(); // ids updated by events since the last list read began
    this.source = null;
    this.listed = false; // the list was read for the current stream
    this.retryMs = 1000;
    this.timers = [];
    this.destroyed = false;
  }

  async start() {
    document.title = 'Builds · logstream';
    this.status = h('p', { class: 'page-status', role: 'status' });
    this.live = h('span', { class: 'live-state', 'aria-live': 'polite' });
    this.tbody = h('tbody');
    this.table = h(
      'table',
      { class: 'builds' },
      h('caption', { class: 'sr-only' }, 'Builds, newest first'),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Build'), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col' }, 'Started'), h('th', { scope: 'col' }, 'Duration'))),
      this.tbody,
    );
    this.root.append(h('h1', null, 'Builds ', this.live), this.status, this.table);
    this.connect();
    this.timers.push(setInterval(() => this.tick(), 1000));
  }

  connect() {
    if (this.destroyed) return;
    const es = new EventSource(withToken('/api/v1/events'));
    this.source = es;
    this.listed = false;
    es.addEventListener('ready', () => {
      this.retryMs = 1000;
      this.setLive('live');
      if (!this.listed) this.load();
    });
    es.addEventListener('reset', () => {
      this.listed = false; // the list is read again at the `ready` that follows
    });
    es.addEventListener('build', (ev) => {
      const b = JSON.parse(ev.data);
      this.fromEvents.add(b.id);
      this.upsert(b);
      if (this.status.textContent && this.builds.size) this.status.textContent = '';
    });
    es.onerror = () => {
      if (es.readyState !== EventSource.CLOSED) {
        this.setLive('reconnecting…'); // EventSource resumes with Last-Event-ID
        return;
      }
      // refused (401/403) or not an event stream: the list read says why
      // (a 401/403 brings up the token box); try the stream again later
      es.close();
      this.source = null;
      this.setLive('');
      if (!this.listed) this.load();
      this.timers.push(setTimeout(() => this.connect(), this.retryMs));
      this.retryMs = Math.min(this.retryMs * 2, 30000);
    };
  }

  setLive(text) {
    this.live.textContent = text ? `· ${text}` : '';
    this.live.dataset.state = text;
  }

  async load() {
    this.listed = true;
    this.fromEvents.clear();
    let resp;
    try {
      resp = await apiFetch(`/api/v1/builds?limit=${this.limit}`);
    } catch (e) {
      this.listed = false;
      this.status.textContent = `Cannot reach the server: ${e.message}`;
      return;
    }
    if (!resp.ok) {
      this.listed = false;
      this.status.textContent = await errorText(resp);
      return;
    }
    const body = await resp.json();
    const list = body.builds || [];
    for (const b of list) if (!this.fromEvents.has(b.id)) this.upsert(b, false);
    this.status.textContent = this.builds.size ? '' : 'No builds yet. Run one with: logstream run PIPELINE.yml --server URL';
    this.reorder();
  }

  upsert(b, reorder = true) {
    const old = this.builds.get(b.id);
    this.builds.set(b.id, { ...old, ...b });
    const row = this.renderRow(this.builds.get(b.id));
    const prev = this.rows.get(b.id);
    if (prev) prev.replaceWith(row);
    this.rows.set(b.id, row);
    if (reorder) this.reorder();
  }

  reorder() {
    const ids = [...this.builds.keys()].sort((a, b) => b - a).slice(0, this.limit);
    clear(this.tbody);
    for (const id of ids) this.tbody.appendChild(this.rows.get(id));
  }

  renderRow(b) {
    const dur = elapsed(b.started_ms, b.finished_ms);
    return h(
      'tr',
      { class: `build-row st-row-${b.status}`, dataset: { build: String(b.id) } },
      h('td', null, h('a', { href: `/builds/${b.id}`, 'data-nav': true }, `${b.name} #${b.number}`)),
      h('td', null, statusBadge(b.status)),
      h('td', null, formatDateTime(b.started_ms || b.created_ms)),
      h('td', { class: 'dur', dataset: { start: b.started_ms || '', end: b.finished_ms || '' } }, dur === null ? '' : formatDuration(dur)),
    );
  }

  tick() {
    for (const td of this.tbody.querySelectorAll('td.dur')) {
      if (td.dataset.start && !td.dataset.end) td.textContent = formatDuration(elapsed(+td.dataset.start, 0));
    }
  }

  destroy() {
    this.destroyed = true;
    for (const t of this.timers) {
      clearInterval(t);
      clearTimeout(t);
    }
    if (this.source) this.source.close();
    this.source = null;
  }
}
