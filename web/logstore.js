// A step's log as the viewer sees it: lines by seq, fetched by range in
// chunks (GET .../logs?since=S&limit=N) as the user scrolls, cached with a
// bound on memory, and extended live through Server-Sent Events.
//
// No gap, no duplicate: every line has a slot keyed by its seq, so a line that
// arrives twice (range fetch and SSE, or an SSE resume) fills the same slot;
// the SSE stream starts right after the last line known when the view opened,
// and anything before it is fetched by range; lines missing from the cache are
// fetched again on demand.

import { apiFetch, withToken } from './auth.js';

export class LogStore {
  // opts: {chunkSize, maxChunks, fetchLimit}
  constructor(logsUrl, opts = {}) {
    this.url = logsUrl;
    this.chunkSize = opts.chunkSize || 1000;
    this.maxChunks = opts.maxChunks || 400;
    this.total = 0; // highest seq known to exist
    this.final = false; // the step has finished and total is exact
    this.endInfo = null; // the SSE end event's data
    this.chunks = new Map(); // index -> {lines: [], have: n, used: tick}
    this.loading = new Map(); // index -> Promise
    this.tick = 0;
    this.listeners = new Set();
    this.lineListeners = new Set();
    this.source = null;
    this.liveError = null;
    this.closed = false;
    this.fetches = 0; // range requests made (for tests and the bench)
    // what the live stream delivered: first/last seq, lines, and lines that
    // were already held (a duplicate delivery; 0 when the resume is exact)
    this.live = { first: 0, last: 0, lines: 0, dups: 0, startedAfter: null };
    // the dropped middle of an over-size log (docs/api.md, "Size limits"):
    // seqs gap.from..gap.to no longer exist; the marker line before them
    // (seq gap.from - 1) says what was dropped. The run only grows.
    this.gap = null;
    this.gapListeners = new Set();
  }

  onGap(fn) {
    this.gapListeners.add(fn);
    return () => this.gapListeners.delete(fn);
  }

  // Records that seqs from..to are gone (from is fixed, to only grows).
  setGap(from, to) {
    if (!(from >= 1) || !(to >= from)) return;
    if (this.gap && this.gap.from === from && this.gap.to >= to) return;
    this.gap = { from, to: this.gap && this.gap.from === from ? Math.max(to, this.gap.to) : to };
    for (const fn of this.gapListeners) fn(this.gap);
  }

  inGap(seq) {
    return this.gap !== null && seq >= this.gap.from && seq <= this.gap.to;
  }

  // How many seqs of from..to are in the gap.
  gapOverlap(from, to) {
    if (!this.gap) return 0;
    const a = Math.max(from, this.gap.from);
    const b = Math.min(to, this.gap.to);
    return b >= a ? b - a + 1 : 0;
  }

  onChange(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  // fn(lines) for every batch of lines that arrives (range or live).
  onLines(fn) {
    this.lineListeners.add(fn);
    return () => this.lineListeners.delete(fn);
  }

  emit() {
    for (const fn of this.listeners) fn(this);
  }

  // Learns how many lines exist now (?tail=1). Resolves to total.
  async init() {
    const resp = await apiFetch(`${this.url}?tail=1`);
    if (!resp.ok) throw new Error(await errorText(resp));
    const lines = parseNdjson(await resp.text());
    if (lines.length) this.insert(lines);
    this.total = Math.max(this.total, lines.length ? lines[lines.length - 1].seq : 0);
    this.emit();
    return this.total;
  }

  get(seq) {
    const c = this.chunks.get(Math.floor((seq - 1) / this.chunkSize));
    return c ? c.lines[(seq - 1) % this.chunkSize] : undefined;
  }

  has(seq) {
    return this.get(seq) !== undefined;
  }

  chunk(index) {
    let c = this.chunks.get(index);
    if (!c) {
      c = { lines: new Array(this.chunkSize), have: 0, used: 0 };
      this.chunks.set(index, c);
    }
    c.used = ++this.tick;
    return c;
  }

  // Puts lines into their slots; returns how many were new. A marker line
  // of a dropped middle tells where the gap is (and a newer marker, with
  // larger counts, replaces the one held).
  insert(lines) {
    let added = 0;
    for (let j = 0; j < lines.length; j++) {
      const l = lines[j];
      if (!(l.seq >= 1)) continue;
      const c = this.chunk(Math.floor((l.seq - 1) / this.chunkSize));
      const i = (l.seq - 1) % this.chunkSize;
      const drop = dropMarkerOf(l);
      if (c.lines[i] === undefined) {
        c.lines[i] = l;
        c.have++;
        added++;
      } else if (drop && dropMarkerOf(c.lines[i]) && dropMarkerOf(c.lines[i]).lines < drop.lines) {
        c.lines[i] = l;
        added++;
      }
      if (drop) {
        const next = lines[j + 1];
        this.setGap(l.seq + 1, next && next.seq > l.seq + 1 ? next.seq - 1 : l.seq + drop.lines - 1);
      }
      if (l.seq > this.total) this.total = l.seq;
    }
    if (added) for (const fn of this.lineListeners) fn(lines);
    return added;
  }

  // Fetches whatever is missing among seqs from..to (clamped to total).
  // Resolves when they are in the cache (or failed: then they stay missing).
  ensure(from, to) {
    const last = Math.min(to, this.total);
    const waits = [];
    for (let k = Math.floor((Math.max(1, from) - 1) / this.chunkSize); k * this.chunkSize < last; k++) {
      const c = this.chunks.get(k);
      if (c) c.used = ++this.tick;
      const kEnd = Math.min((k + 1) * this.chunkSize, last);
      const want = kEnd - k * this.chunkSize - this.gapOverlap(k * this.chunkSize + 1, kEnd);
      if (want <= 0 || (c && c.have >= want)) continue;
      waits.push(this.loadChunk(k, kEnd));
    }
    this.evict(from, to);
    return Promise.all(waits);
  }

  loadChunk(k, kEnd) {
    const pending = this.loading.get(k);
    if (pending) return pending;
    const c = this.chunks.get(k);
    let first = k * this.chunkSize + 1;
    while (first <= kEnd && ((c && c.lines[(first - 1) % this.chunkSize] !== undefined) || this.inGap(first))) first++;
    const limit = (k + 1) * this.chunkSize - first + 1;
    this.fetches++;
    const p = apiFetch(`${this.url}?since=${first - 1}&limit=${limit}`)
      .then((r) => (r.ok ? r.text() : Promise.reject(new Error(`HTTP ${r.status}`))))
      .then((text) => {
        const lines = parseNdjson(text);
        // a page that starts inside the dropped run resumes after it: the
        // gap reaches at least that far now
        if (lines.length && lines[0].seq > first && this.gap && first >= this.gap.from) this.setGap(this.gap.from, lines[0].seq - 1);
        if (this.insert(lines)) this.emit();
      })
      .catch((e) => {
        this.lastError = e;
      })
      .finally(() => this.loading.delete(k));
    this.loading.set(k, p);
    return p;
  }

  // Drops least recently used chunks beyond maxChunks, never those that hold
  // the seqs in [keepFrom, keepTo].
  evict(keepFrom, keepTo) {
    if (this.chunks.size <= this.maxChunks) return;
    const lo = Math.floor((keepFrom - 1) / this.chunkSize);
    const hi = Math.floor((keepTo - 1) / this.chunkSize);
    const victims = [...this.chunks.entries()]
      .filter(([k]) => (k < lo || k > hi) && !this.loading.has(k))
      .sort((a, b) => a[1].used - b[1].used);
    for (const [k] of victims.slice(0, this.chunks.size - this.maxChunks)) this.chunks.delete(k);
  }

  // Follows the log live from the line after `after` (default: total).
  startLive(after = this.total) {
    if (this.source || this.final || this.closed) return;
    const es = new EventSource(withToken(`${this.url}?since=${after}`));
    this.source = es;
    this.live.startedAfter = after;
    es.addEventListener('lines', (ev) => {
      this.liveError = null;
      const lines = parseNdjson(ev.data);
      const before = this.live.lines;
      for (const l of lines) {
        if (!this.live.first) this.live.first = l.seq;
        if (l.seq <= Math.max(this.live.last, after)) this.live.dups++;
        this.live.last = Math.max(this.live.last, l.seq);
        this.live.lines++;
      }
      if (this.insert(lines) || this.live.lines !== before) this.emit();
    });
    es.addEventListener('end', (ev) => {
      try {
        this.endInfo = JSON.parse(ev.data);
        if (Number.isFinite(this.endInfo.lines)) this.total = Math.max(this.total, this.endInfo.lines);
      } catch (e) {
        this.endInfo = {};
      }
      this.final = true;
      this.stopLive();
      this.emit();
    });
    // EventSource reconnects by itself, sending Last-Event-ID: the server
    // resumes after the last line we got. A 4xx closes it for good.
    es.onerror = () => {
      this.liveError = es.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting';
      if (es.readyState === EventSource.CLOSED) this.source = null;
      this.emit();
    };
  }

  stopLive() {
    if (this.source) this.source.close();
    this.source = null;
  }

  markFinal() {
    this.final = true;
  }

  close() {
    this.closed = true;
    this.stopLive();
    this.listeners.clear();
    this.lineListeners.clear();
  }
}

// The marker line the server puts in place of a dropped middle
// (src/server/limits.c, ls_limits_marker_text), e.g. "… 9560 lines (956000
// bytes) dropped: the step's log exceeded --max-step-bytes (262144 bytes);
// the first lines and the most recent lines are kept …". Returns
// {lines, bytes, reason, flag, limit} or null.
const DROP_MARKER_RE = /^\u2026 (\d+) lines \((\d+) bytes\) dropped: the (step's log|build's logs) exceeded --(max-step-bytes|max-build-bytes) \((\d+) bytes\); the first lines and the most recent lines are kept \u2026$/;

export function dropMarkerOf(line) {
  if (!line || line.stream !== 'o' || line.text.charCodeAt(0) !== 0x2026) return null;
  if (line._drop === undefined) {
    const m = DROP_MARKER_RE.exec(line.text);
    line._drop = m ? { lines: Number(m[1]), bytes: Number(m[2]), reason: m[3], flag: m[4], limit: Number(m[5]) } : null;
  }
  return line._drop;
}

export function parseNdjson(text) {
  const out = [];
  let start = 0;
  while (start < text.length) {
    let nl = text.indexOf('\n', start);
    if (nl < 0) nl = text.length;
    if (nl > start) out.push(JSON.parse(text.slice(start, nl)));
    start = nl + 1;
  }
  return out;
}

export async function errorText(resp) {
  try {
    const j = await resp.json();
    return j.error || `HTTP ${resp.status}`;
  } catch (e) {
    return `HTTP ${resp.status}`;
  }
}
