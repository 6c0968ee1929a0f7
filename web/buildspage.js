// The builds list: newest first, status, duration, live updates.
//
// Live: each unfinished build in the list is followed through its build
// events stream (GET /api/v1/builds/{id}/events), so starts and finishes show
// at once. The API has no stream of *new* builds yet (see the report: GET
// /api/v1/events is requested); until it does, the list re-reads its first
// page every newBuildsCheckMs to pick up builds created meanwhile.

import { h, clear, statusBadge, formatDateTime, elapsed } from './dom.js';
import { formatDuration } from './groups.js';
import { errorText } from './logstore.js';

const FINAL = new Set(['success', 'failure', 'canceled']);
// Browsers allow six HTTP/1.1 connections per host; keep some for fetches.
const MAX_FOLLOWED = 4;

export class BuildsPage {
  constructor(root, opts = {}) {
    this.root = root;
    this.limit = opts.limit || 50;
    this.newBuildsCheckMs = opts.newBuildsCheckMs || 10000;
    this.builds = new Map(); // id -> build
    this.rows = new Map(); // id -> tr
    this.sources = new Map(); // id -> EventSource
    this.timers = [];
  }

  async start() {
    document.title = 'Builds · logstream';
    this.status = h('p', { class: 'page-status', role: 'status' });
    this.tbody = h('tbody');
    this.table = h(
      'table',
      { class: 'builds' },
      h('caption', { class: 'sr-only' }, 'Builds, newest first'),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Build'), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col' }, 'Started'), h('th', { scope: 'col' }, 'Duration'))),
      this.tbody,
    );
    this.root.append(h('h1', null, 'Builds'), this.status, this.table);
    await this.load();
    this.timers.push(setInterval(() => this.tick(), 1000));
    this.timers.push(setInterval(() => this.load(), this.newBuildsCheckMs));
  }

  async load() {
    let resp;
    try {
      resp = await fetch(`/api/v1/builds?limit=${this.limit}`);
    } catch (e) {
      this.status.textContent = `Cannot reach the server: ${e.message}`;
      return;
    }
    if (!resp.ok) {
      this.status.textContent = await errorText(resp);
      return;
    }
    const body = await resp.json();
    const list = body.builds || [];
    this.status.textContent = list.length ? '' : 'No builds yet. Run one with: logstream run PIPELINE.yml --server URL';
    for (const b of list) this.upsert(b, false);
    this.reorder();
    this.followUnfinished();
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

  followUnfinished() {
    for (const [id, b] of this.builds) {
      if (FINAL.has(b.status) || this.sources.has(id) || this.sources.size >= MAX_FOLLOWED) continue;
      const es = new EventSource(`/api/v1/builds/${id}/events`);
      es.addEventListener('build', (ev) => this.upsert(JSON.parse(ev.data)));
      es.addEventListener('end', () => {
        es.close();
        this.sources.delete(id);
        this.followUnfinished();
      });
      this.sources.set(id, es);
    }
  }

  destroy() {
    for (const t of this.timers) clearInterval(t);
    for (const es of this.sources.values()) es.close();
    this.sources.clear();
  }
}
